"""A scope's window as the warehouse holds it, and what a change-detecting load keeps of it.

`read_stored` reads, once and under the writer's lock, what earlier loads landed for the
scope in the window: its cost rows and the commitment, tag and price rows that came with
them. Its sums are the stored side of the totals comparison (`changes`). `keep` picks the
stored rows a load lands again beside what it fetched: everything outside what was asked
for again or vanished. It runs in an in-memory DuckDB over Arrow tables: no Python loop per
row, whatever the number of subscriptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from loaders.azure_cost_management.changes import Ask, Cell, DayTotals, TagAsk, usage_date
from loaders.azure_cost_management.source import (
    AZURE_COMMITMENT_COSTS,
    AZURE_COST_MANAGEMENT,
    AZURE_COST_MANAGEMENT_TAGS,
    AZURE_PRICE_DETAILS,
)
from loaders.stored_window import read_window
from loaders.warehouse.validation import conform_arrow

TABLES = (AZURE_COST_MANAGEMENT, AZURE_COMMITMENT_COSTS, AZURE_COST_MANAGEMENT_TAGS,
          AZURE_PRICE_DETAILS)  # fmt: skip


@dataclass(frozen=True)
class StoredScope:
    """The scope's rows of the window in the four daily raw tables of a Cost Management
    load."""

    costs: pa.Table
    commitments: pa.Table
    tags: pa.Table
    prices: pa.Table

    def _sums(self, table: str, columns: str, lo: int, hi: int) -> list[tuple]:
        """`columns` and sum(cost) of the `table` rows ('costs', 'tags') dated in [lo, hi)
        (YYYYMMDD), grouped by those columns."""
        with duckdb.connect() as mem:
            mem.register("stored", getattr(self, table))
            return mem.execute(
                f"select {columns}, sum(cost) from stored "
                "where usage_date >= $lo and usage_date < $hi group by all",
                {"lo": lo, "hi": hi},
            ).fetchall()

    def cells(self, lo: int, hi: int) -> dict[Cell, Decimal]:
        """(query type, usage date, subscription, charge type, currency) -> cost of the cost
        rows dated in [lo, hi)."""
        rows = self._sums(
            "costs", "query_type, usage_date, subscription_id, charge_type, currency", lo, hi
        )
        return {tuple(row[:5]): Decimal(row[5]) for row in rows}  # type: ignore[misc]

    def tag_totals(self, lo: int, hi: int) -> dict[str, DayTotals]:
        """Lower-cased allocation key -> (query type, subscription, usage date) -> currency
        -> cost of the tag rows dated in [lo, hi)."""
        rows = self._sums(
            "tags",
            "lower(allocation_key), query_type, subscription_id, usage_date, currency",
            lo,
            hi,
        )
        totals: dict[str, DayTotals] = {}
        for key, query_type, subscription_id, day, currency, cost in rows:
            per_day = totals.setdefault(key, {}).setdefault((query_type, subscription_id, day), {})
            per_day[currency] = Decimal(cost)
        return totals

    def price_days(self) -> set[int]:
        """The usage dates that have price rows."""
        column = self.prices.column("usage_date").to_pylist()
        return set(column)


def read_stored(db_path: Path, source: str, scope: str, start: date, end: date) -> StoredScope:
    """What earlier loads of `source` landed for `scope` in [start, end)."""
    return StoredScope(*read_window(db_path, source, scope, start, end, TABLES))


def _table(rows: Sequence[tuple], names: Sequence[str], types: Sequence[pa.DataType]) -> pa.Table:
    return pa.table(
        {
            name: pa.array([r[i] for r in rows], kind)
            for i, (name, kind) in enumerate(zip(names, types, strict=True))
        }
    )


def keep(
    stored: StoredScope,
    asks: Iterable[Ask],
    vanished: Iterable[Cell],
    tag_keys: Sequence[str],
    tag_asks: Iterable[TagAsk],
    tags_dropped: Iterable[tuple[str, str, str, int]],
    price_spans: Iterable[tuple[date, date]] | None,
    names: Mapping[str, str],
) -> dict[str, pa.Table]:
    """Raw table name -> the stored rows a change-detecting load lands again: the cost and
    commitment rows outside the asked (query type, subscription, charge type, days) and the
    vanished cells; the tag rows of the configured keys (in their configured spelling)
    outside the tag asks and the dropped days; the price rows outside the `price_spans`
    (None: no report was read this time - setting off, HTTP 403 - so no price row is kept).
    Subscription names are the listing's (`names`, by lower-cased id) where it has one."""
    cost_spans = [
        (a.query_type, a.subscription_id, a.charge_type, usage_date(a.start), usage_date(a.end))
        for a in asks
    ] + [(qt, sub, charge, day, day + 1) for qt, day, sub, charge, _ in vanished]
    # day + 1 is not a date after the month's last day, but it is still the smallest
    # YYYYMMDD above that day, which is all a half-open span of integers needs.
    tag_spans = [
        (a.tag_key.lower(), a.query_type, a.subscription_id, usage_date(a.start), usage_date(a.end))
        for a in tag_asks
    ] + [(key, qt, sub, day, day + 1) for key, qt, sub, day in tags_dropped]
    text, day = pa.string(), pa.int32()
    with duckdb.connect() as mem:
        mem.register("costs", stored.costs)
        mem.register("commitments", stored.commitments)
        mem.register("tags", stored.tags)
        mem.register("prices", stored.prices)
        mem.register(
            "cost_spans",
            _table(cost_spans, ("qt", "sub", "charge", "lo", "hi"), (text, text, text, day, day)),
        )
        mem.register(
            "tag_spans",
            _table(tag_spans, ("tag_key", "qt", "sub", "lo", "hi"), (text, text, text, day, day)),
        )
        mem.register(
            "keys",
            pa.table({"tag_key": pa.array(list(dict.fromkeys(tag_keys)), text)}),
        )
        mem.register(
            "listed",
            _table(
                [(k.lower(), v) for k, v in names.items() if v],
                ("sub", "name"),
                (text, text),
            ),
        )
        outside_asks = """not exists (
            select 1 from cost_spans s
            where s.qt = t.query_type and s.sub = t.subscription_id
                and s.charge = t.charge_type and t.usage_date >= s.lo and t.usage_date < s.hi
        )"""
        named = "t.* replace (coalesce(listed.name, t.subscription_name) as subscription_name) "
        join_names = "left join listed on listed.sub = lower(t.subscription_id)"
        kept = {
            AZURE_COST_MANAGEMENT.name: mem.sql(
                f"select {named} from costs t {join_names} where {outside_asks}"
            ).to_arrow_table(),
            AZURE_COMMITMENT_COSTS.name: mem.sql(
                f"select {named} from commitments t {join_names} where {outside_asks}"
            ).to_arrow_table(),
            AZURE_COST_MANAGEMENT_TAGS.name: mem.sql(
                """
                select t.* replace (keys.tag_key as allocation_key)
                from tags t join keys on lower(keys.tag_key) = lower(t.allocation_key)
                where not exists (
                    select 1 from tag_spans s
                    where s.tag_key = lower(t.allocation_key) and s.qt = t.query_type
                        and s.sub = t.subscription_id
                        and t.usage_date >= s.lo and t.usage_date < s.hi
                )
                """
            ).to_arrow_table(),
        }
        if price_spans is None:
            kept[AZURE_PRICE_DETAILS.name] = stored.prices.schema.empty_table()
        else:
            mem.register(
                "price_spans",
                _table(
                    [(usage_date(lo), usage_date(hi)) for lo, hi in price_spans],
                    ("lo", "hi"),
                    (day, day),
                ),
            )
            kept[AZURE_PRICE_DETAILS.name] = mem.sql(
                "select * from prices t where not exists (select 1 from price_spans s "
                "where t.usage_date >= s.lo and t.usage_date < s.hi)"
            ).to_arrow_table()
    tables = {table.name: table for table in TABLES}
    return {name: conform_arrow(tables[name], data) for name, data in kept.items()}
