"""Every query the dashboard runs, one cached function per question asked of the marts.

The dashboard reads only the serving copy of the marts (`Settings.serving_path`), which the
pipeline publishes by an atomic rename after each build. Each query opens a short-lived
read-only DuckDB connection and closes it before returning, so the dashboard never holds a
handle that would block the pipeline. Values are always bound parameters, and the SQL text
is constant: the cost basis and the optional filters are expressions over those parameters.

Cached functions take a `Source` (the file and its modification time) as their first
argument: a newly published serving copy has a new mtime, so it is read at once instead of
after the TTL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
import pandas as pd
import streamlit as st

from finops.settings import load_settings

CostBasis = Literal["billed", "effective"]

CACHE_TTL = timedelta(minutes=10)
CACHE_ENTRIES = 64
LOCK_RETRIES = 5
LOCK_BACKOFF_SECONDS = 0.2

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
    """The sidebar's selection: a closed date range and optional allow-lists (empty = all)."""

    start: date
    end: date
    providers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> CostFilter:
        """The same filters over the period of the same length just before this one."""
        return replace(
            self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1)
        )

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "providers": list(self.providers),
            "accounts": list(self.accounts),
            "categories": list(self.categories),
        }


@dataclass(frozen=True)
class Summary:
    """What the whole serving copy holds, for bounds, labels and the empty check."""

    row_count: int
    first_date: date | None
    last_date: date | None
    reporting_currency: str
    as_of_date: date | None


# Shared predicate over fct_daily_costs: the period and the three optional allow-lists.
_DAILY_FILTER = """
    charge_date between $start and $end
    and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider_name))
    and (len($accounts::varchar[]) = 0 or list_contains($accounts::varchar[], sub_account_id))
    and (len($categories::varchar[]) = 0 or list_contains($categories::varchar[], service_category))
"""

# The chosen cost basis, always in the reporting currency (never billing currencies summed).
_COST = """
    case when $basis = 'effective' then effective_cost_reporting else billed_cost_reporting end
"""


def current_source() -> Source:
    """The serving copy named by the settings; `MartsUnavailable` when it does not exist."""
    path = load_settings().serving_path
    try:
        version = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise MartsUnavailable(str(path)) from None
    return Source(str(path), version)


def open_marts() -> tuple[Source, Summary]:
    """The serving copy and its summary; `MartsUnavailable` when there is nothing to show."""
    source = current_source()
    marts = summary(source)
    if marts.row_count == 0:
        raise MartsUnavailable(source.path)
    return source, marts


@contextmanager
def _read_only(path: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection, retried briefly while the file is locked or being replaced."""
    for attempt in range(LOCK_RETRIES):
        try:
            con = duckdb.connect(path, read_only=True)
            break
        except duckdb.IOException as exc:
            if not Path(path).exists():
                raise MartsUnavailable(path) from exc
            if attempt == LOCK_RETRIES - 1:
                raise WarehouseBusy(str(exc)) from exc
            time.sleep(LOCK_BACKOFF_SECONDS * (attempt + 1))
    try:
        yield con
    finally:
        con.close()


def _frame(source: Source, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    try:
        with _read_only(source.path) as con:
            return con.execute(sql, params).df()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc


def _row(source: Source, sql: str, params: dict[str, Any]) -> tuple[Any, ...]:
    try:
        with _read_only(source.path) as con:
            return con.execute(sql, params).fetchone()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def summary(source: Source) -> Summary:
    """Row count, date span and reporting currency of fct_daily_costs, as-of from the KPIs."""
    row = _row(
        source,
        """
        select
            (select count(*) from marts.fct_daily_costs),
            (select min(charge_date) from marts.fct_daily_costs),
            (select max(charge_date) from marts.fct_daily_costs),
            (select string_agg(distinct reporting_currency, ', ') from marts.fct_daily_costs),
            (select max(as_of_date) from marts.fct_cost_kpis where provider_scope = 'All')
        """,
        {},
    )
    count, first, last, currency, as_of = row
    return Summary(
        row_count=count,
        first_date=first,
        last_date=last,
        reporting_currency=currency or load_settings().reporting_currency,
        as_of_date=as_of or last,
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def filter_options(source: Source) -> pd.DataFrame:
    """Distinct provider x account x category combinations, to build dependent selectors."""
    return _frame(
        source,
        """
        select distinct provider_name, sub_account_id, sub_account_name, service_category
        from marts.fct_daily_costs
        order by provider_name, sub_account_name, sub_account_id, service_category
        """,
        {},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def period_total(source: Source, filters: CostFilter, basis: CostBasis) -> Decimal:
    """Exact total cost (reporting currency) over the filters; 0 when nothing matches."""
    (total,) = _row(
        source,
        f"select coalesce(sum({_COST}), 0) from marts.fct_daily_costs where {_DAILY_FILTER}",
        {**filters.params(), "basis": basis},
    )
    return Decimal(str(total)) if not isinstance(total, Decimal) else total


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def daily_by_provider(source: Source, filters: CostFilter, basis: CostBasis) -> pd.DataFrame:
    """charge_date, provider_name, cost: one row per day with data and provider."""
    return _frame(
        source,
        f"""
        select charge_date, provider_name, sum({_COST}) as cost
        from marts.fct_daily_costs
        where {_DAILY_FILTER}
        group by charge_date, provider_name
        order by charge_date, provider_name
        """,
        {**filters.params(), "basis": basis},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def top_services(
    source: Source, filters: CostFilter, basis: CostBasis, limit: int = 10
) -> pd.DataFrame:
    """service_name, provider_name, service_category, cost: the `limit` costliest services."""
    return _frame(
        source,
        f"""
        select service_name, provider_name, service_category, sum({_COST}) as cost
        from marts.fct_daily_costs
        where {_DAILY_FILTER}
        group by service_name, provider_name, service_category
        order by cost desc, service_name, provider_name
        limit $limit
        """,
        {**filters.params(), "basis": basis, "limit": limit},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def cost_by_category(source: Source, filters: CostFilter, basis: CostBasis) -> pd.DataFrame:
    """service_category, provider_name, cost."""
    return _frame(
        source,
        f"""
        select service_category, provider_name, sum({_COST}) as cost
        from marts.fct_daily_costs
        where {_DAILY_FILTER}
        group by service_category, provider_name
        order by cost desc, service_category, provider_name
        """,
        {**filters.params(), "basis": basis},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def cost_by_account(source: Source, filters: CostFilter, basis: CostBasis) -> pd.DataFrame:
    """provider_name, sub_account_id, sub_account_name, billing_currencies, cost."""
    return _frame(
        source,
        f"""
        select
            provider_name,
            sub_account_id,
            any_value(sub_account_name) as sub_account_name,
            string_agg(distinct billing_currency, ', ' order by billing_currency) as billing_currencies,
            sum({_COST}) as cost
        from marts.fct_daily_costs
        where {_DAILY_FILTER}
        group by provider_name, sub_account_id
        order by cost desc, provider_name, sub_account_id
        """,
        {**filters.params(), "basis": basis},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def anomalies(source: Source, filters: CostFilter) -> pd.DataFrame:
    """Flagged days of fct_cost_anomalies in the filters, largest |cost_impact| first.

    The anomaly mart has no category column: a service matches the category filter when
    fct_daily_costs files it under one of the chosen categories (a semi-join, no fan-out).
    """
    return _frame(
        source,
        """
        select
            a.charge_date,
            a.provider_name,
            a.sub_account_id,
            a.sub_account_name,
            a.service_name,
            a.reporting_currency,
            a.actual_cost,
            a.expected_cost,
            a.z_score,
            a.cost_impact,
            a.direction
        from marts.fct_cost_anomalies as a
        where a.charge_date between $start and $end
            and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], a.provider_name))
            and (len($accounts::varchar[]) = 0 or list_contains($accounts::varchar[], a.sub_account_id))
            and (
                len($categories::varchar[]) = 0
                or exists (
                    select 1
                    from marts.fct_daily_costs as d
                    where d.provider_name = a.provider_name
                        and d.service_name = a.service_name
                        and list_contains($categories::varchar[], d.service_category)
                )
            )
        order by abs(a.cost_impact) desc, a.charge_date, a.anomaly_id
        """,
        filters.params(),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def daily_rows(source: Source, filters: CostFilter) -> pd.DataFrame:
    """The fct_daily_costs rows in the filters, as stored (for the CSV export)."""
    return _frame(
        source,
        f"""
        select *
        from marts.fct_daily_costs
        where {_DAILY_FILTER}
        order by charge_date, provider_name, sub_account_id, service_name, daily_cost_id
        """,
        filters.params(),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=8, show_spinner=False)
def daily_rows_csv(source: Source, filters: CostFilter) -> bytes:
    """`daily_rows` as CSV, kept so a rerun does not re-encode a large export."""
    return to_csv(daily_rows(source, filters))


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes for a download button (ISO dates, no index)."""
    return frame.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8")
