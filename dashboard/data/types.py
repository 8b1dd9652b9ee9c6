"""The types the dashboard's queries take and return: the sidebar's filter, the serving
file as a cache key, what the serving copy holds, and the two ways a read can fail."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal, NamedTuple

CostBasis = Literal["billed", "effective"]
Charges = Literal["all", "usage"]

# The marts every page needs; the others are optional (a page says when one is missing).
REQUIRED_MARTS = ("fct_daily_costs", "fct_cost_kpis", "dim_sub_accounts", "dim_services")

RUN_PIPELINE_HINT = (
    "No cost data to show yet. Build the marts with `make run` (or `finops run`); the "
    "dashboard reads the serving copy they are published to:"
)


class MartsUnavailable(Exception):
    """The serving copy is missing, has no marts, or the marts have no rows."""


class WarehouseBusy(Exception):
    """The serving copy stayed locked (being replaced) through every retry."""


class Source(NamedTuple):
    """The serving file as a cache key: a republished file has a new `version`."""

    path: str
    version: int


@dataclass(frozen=True)
class CostFilter:
    """The sidebar's selection over fct_daily_costs.

    A closed date range, optional allow-lists (empty = all), which charges count (`all`:
    every charge category, so credits and refunds are netted in; `usage`: charge_category
    Usage only) and the one reporting currency amounts are read in (rows in any other
    currency are never added in).

    A tag filter (`tag_key` and at least one of its `tag_values`, `(unallocated)` among
    them) reads the same filters over fct_cost_allocation instead: the cost of those values
    of that one key (every key there holds the whole cost once). Marts without tags cannot
    apply it; the pages say so where they show them.
    """

    start: date
    end: date
    currency: str
    providers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    charges: Charges = "all"
    tag_key: str | None = None
    tag_values: tuple[str, ...] = ()

    @property
    def tagged(self) -> bool:
        """A tag filter is set: a key and at least one of its values."""
        return self.tag_key is not None and bool(self.tag_values)

    @property
    def tag_label(self) -> str:
        """`team: web, data` for the tag filter; empty without one."""
        return f"{self.tag_key}: {', '.join(self.tag_values)}" if self.tagged else ""

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous_start(self) -> date:
        """First day of the period of the same length just before this one."""
        return self.start - timedelta(days=self.days)

    def previous(self) -> CostFilter:
        """The same filters over the period of the same length just before this one."""
        return replace(self, start=self.previous_start, end=self.start - timedelta(days=1))

    def scopes(self, all_providers: tuple[str, ...]) -> tuple[str, ...]:
        """Provider scopes of the per-scope marts (`All`, `AWS`, `Azure`) this filter covers."""
        chosen = set(self.providers)
        if not chosen or chosen >= set(all_providers):
            return ("All", *all_providers)
        return tuple(sorted(chosen))

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "previous_start": self.previous_start,
            "currency": self.currency,
            "charges": self.charges,
            "providers": list(self.providers),
            "accounts": list(self.accounts),
            "categories": list(self.categories),
            "tag_key": self.tag_key,
            "tag_values": list(self.tag_values),
        }


@dataclass(frozen=True)
class Summary:
    """What the whole serving copy holds, for bounds, labels and the empty check."""

    row_count: int
    first_date: date | None
    last_date: date | None
    reporting_currency: str
    as_of_date: date | None
    currencies: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    tables: frozenset[str] = frozenset()
    published_at: datetime | None = None

    @property
    def mixed_currencies(self) -> bool:
        return len(self.currencies) > 1


class ProviderTotal(NamedTuple):
    """Exact cost of one provider in the period and in the previous period (same length)."""

    provider_name: str
    current: Decimal
    previous: Decimal
