"""The load window as the warehouse holds it, and the window a change-detecting load lands.

`read_stored` reads, once and under the writer's lock, what earlier loads landed for the
scope in the window: the cost rows and the commitment, coverage and tag rows that came with
them. `StoredWindow.cells` gives the totals pass (`changes`) the stored side of its
comparison. The `compose_*` functions build the tables the load replaces the window with:
the stored rows outside what was asked for again, with each day's Estimated flag and the
accounts' names as Cost Explorer answers them today, plus the rows just fetched. They run in
an in-memory DuckDB over Arrow tables, so a 300-account window costs no Python loop per row.

Replacing the whole window (not only the refetched cells) keeps the warehouse's one write
path: one transaction, one ledger row, the restatement ledger comparing per-day totals as
before - unchanged days compare equal and record nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa

from loaders.aws_cost_explorer.changes import Cell, Slice, Sums
from loaders.aws_cost_explorer.source import (
    AWS_COMMITMENT_COVERAGE,
    AWS_COMMITMENT_UTILIZATION,
    AWS_COST_EXPLORER,
    AWS_COST_EXPLORER_TAGS,
)
from loaders.catalogue import RawTable
from loaders.stored_window import read_window
from loaders.warehouse.validation import conform_arrow, rows_to_arrow

log = logging.getLogger("finops.aws_cost_explorer")

TABLES = (AWS_COST_EXPLORER, AWS_COMMITMENT_UTILIZATION, AWS_COMMITMENT_COVERAGE,
          AWS_COST_EXPLORER_TAGS)  # fmt: skip


def _empty(table: RawTable) -> pa.Table:
    return table.arrow_schema().empty_table()


@dataclass(frozen=True)
class StoredWindow:
    """The scope's rows of the window in the four raw tables of a Cost Explorer load."""

    costs: pa.Table
    utilization: pa.Table
    coverage: pa.Table
    tags: pa.Table

    @classmethod
    def empty(cls) -> StoredWindow:
        return cls(*(_empty(table) for table in TABLES))

    def cells(self) -> dict[Cell, Sums]:
        """(day, record type, region) -> (unblended, amortized, usage quantity) sums."""
        with duckdb.connect() as mem:
            mem.register("stored_costs", self.costs)
            rows = mem.execute(
                "select time_period_start, record_type, region, sum(unblended_cost), "
                "sum(amortized_cost), coalesce(sum(usage_quantity), 0) from stored_costs "
                "group by all"
            ).fetchall()
        return {
            (day, record_type, region): (Decimal(u), Decimal(a), Decimal(q))
            for day, record_type, region, u, a, q in rows
        }

    def days(self, table: str, where: str = "true") -> set[date]:
        """The days on which `table` ('utilization', 'coverage', 'tags') holds rows."""
        with duckdb.connect() as mem:
            mem.register("stored", getattr(self, table))
            rows = mem.execute(f"select distinct time_period_start from stored where {where}")
            return {day for (day,) in rows.fetchall()}


def read_stored(db_path: Path, source: str, scope: str, start: date, end: date) -> StoredWindow:
    """What earlier loads of `source` landed for `scope` in [start, end); empty tables for a
    new warehouse or a table not created yet."""
    return StoredWindow(*read_window(db_path, source, scope, start, end, TABLES))


def _slices_table(slices: Iterable[Slice]) -> pa.Table:
    pieces = list(slices)
    return pa.table(
        {
            "record_type": pa.array([s.record_type for s in pieces], pa.string()),
            "region": pa.array([s.region for s in pieces], pa.string()),
            "slice_start": pa.array([s.start for s in pieces], pa.date32()),
            "slice_end": pa.array([s.end for s in pieces], pa.date32()),
        }
    )


def _flags_table(estimated: Mapping[date, bool], names: Mapping[str, str]) -> tuple[pa.Table, ...]:
    return (
        pa.table(
            {
                "day": pa.array(list(estimated), pa.date32()),
                "is_estimated": pa.array(list(estimated.values()), pa.bool_()),
            }
        ),
        pa.table(
            {
                "account": pa.array(list(names), pa.string()),
                "account_name": pa.array(list(names.values()), pa.string()),
            }
        ),
    )


def compose_costs(
    stored: pa.Table,
    slices: Iterable[Slice],
    fetched: list[dict[str, object]],
    estimated: Mapping[date, bool],
    names: Mapping[str, str],
    vanished: Iterable[Cell] = (),
) -> pa.Table:
    """The window's cost rows: the stored ones outside the refetched slices and the
    `vanished` cells (no cost left there: nothing to ask for), with their day's Estimated
    flag and their account's name as answered now, and the fetched ones."""
    columns = [name for name, _, _ in AWS_COST_EXPLORER.columns]
    flags, accounts = _flags_table(estimated, names)
    with duckdb.connect() as mem:
        mem.register("stored", stored)
        gone = list(vanished)
        mem.register(
            "slices",
            _slices_table(
                [
                    *slices,
                    *(Slice(rt, region, day, day + timedelta(days=1)) for day, rt, region in gone),
                ]
            ),
        )
        mem.register("flags", flags)
        mem.register("accounts", accounts)
        kept = mem.sql(
            f"""
            select stored.* replace (
                coalesce(flags.is_estimated, stored.estimated) as estimated,
                coalesce(accounts.account_name, stored.linked_account_name) as linked_account_name
            )
            from stored
            left join flags on flags.day = stored.time_period_start
            left join accounts on accounts.account = stored.linked_account_id
            where not exists (
                select 1 from slices
                where slices.record_type = stored.record_type and slices.region = stored.region
                    and stored.time_period_start >= slices.slice_start
                    and stored.time_period_start < slices.slice_end
            )
            order by {", ".join(columns)}
            """
        ).to_arrow_table()
    for row in fetched:  # the names of this load win for the fetched rows too
        if row["linked_account_id"] in names:
            row["linked_account_name"] = names[str(row["linked_account_id"])]
    new = rows_to_arrow(AWS_COST_EXPLORER, fetched)
    return pa.concat_tables([conform_arrow(AWS_COST_EXPLORER, kept), new])


def compose_days(
    table: RawTable, stored: pa.Table, fetched: list[dict[str, object]], keep: str
) -> pa.Table:
    """`table`'s window rows: the stored ones matching `keep` (SQL: the kinds and days not
    asked for again) and the fetched ones."""
    with duckdb.connect() as mem:
        mem.register("stored", stored)
        kept = mem.sql(f"select * from stored where {keep}").to_arrow_table()
    return pa.concat_tables([conform_arrow(table, kept), rows_to_arrow(table, fetched)])


def tag_gaps(
    costs: pa.Table, stored_tags: pa.Table, tag_keys: Iterable[str], tolerance: Decimal
) -> dict[str, dict[str, set[date]]]:
    """Per configured tag key, the (account -> days) whose stored tag rows do not add up to
    the account's costs of the day (a tag key's groups of an account add up to the account's
    costs, `mapping.tag_request`): new days, restated days, a key configured since."""
    keys = list(tag_keys)
    gaps: dict[str, dict[str, set[date]]] = {key: {} for key in keys}
    if not keys:
        return gaps
    with duckdb.connect() as mem:
        mem.register("costs", costs)
        mem.register("tags", stored_tags)
        mem.register("keys", pa.table({"tag_key": pa.array(keys, pa.string())}))
        rows = mem.execute(
            """
            with cost_days as (
                select time_period_start as day, linked_account_id as account,
                    sum(unblended_cost) as unblended, sum(amortized_cost) as amortized
                from costs group by all
            ),
            tag_days as (
                select keys.tag_key, time_period_start as day, linked_account_id as account,
                    sum(unblended_cost) as unblended, sum(amortized_cost) as amortized
                from tags join keys on lower(tags.tag_key) = lower(keys.tag_key)
                group by all
            ),
            expected as (select keys.tag_key, cost_days.* from keys cross join cost_days)
            select coalesce(e.tag_key, t.tag_key), coalesce(e.account, t.account),
                coalesce(e.day, t.day)
            from expected e
            full join tag_days t using (tag_key, day, account)
            where e.account is null or t.account is null
                or abs(e.unblended - t.unblended) > $tolerance
                or abs(e.amortized - t.amortized) > $tolerance
            """,
            {"tolerance": tolerance},
        ).fetchall()
    for key, account, day in rows:
        gaps[key].setdefault(account, set()).add(day)
    return gaps


def compose_tags(
    stored: pa.Table,
    tag_keys: Iterable[str],
    refetched: Mapping[str, Mapping[str, Iterable[tuple[date, date]]]],
    fetched: list[dict[str, object]],
    estimated: Mapping[date, bool],
) -> pa.Table:
    """The window's tag rows: the stored rows of the configured keys outside the refetched
    (key, account, days), with their day's Estimated flag as answered now, and the fetched
    ones. A key no longer configured loses its rows."""
    spans = [
        (key, account, start, end)
        for key, accounts in refetched.items()
        for account, ranges in accounts.items()
        for start, end in ranges
    ]
    with duckdb.connect() as mem:
        mem.register("stored", stored)
        mem.register("keys", pa.table({"tag_key": pa.array(list(tag_keys), pa.string())}))
        mem.register(
            "spans",
            pa.table(
                {
                    "tag_key": pa.array([s[0] for s in spans], pa.string()),
                    "account": pa.array([s[1] for s in spans], pa.string()),
                    "span_start": pa.array([s[2] for s in spans], pa.date32()),
                    "span_end": pa.array([s[3] for s in spans], pa.date32()),
                }
            ),
        )
        mem.register("flags", _flags_table(estimated, {})[0])
        kept = mem.sql(
            """
            select stored.* replace (coalesce(flags.is_estimated, stored.estimated) as estimated)
            from stored
            left join flags on flags.day = stored.time_period_start
            where lower(stored.tag_key) in (select lower(tag_key) from keys)
                and not exists (
                    select 1 from spans
                    where lower(spans.tag_key) = lower(stored.tag_key)
                        and spans.account = stored.linked_account_id
                        and stored.time_period_start >= spans.span_start
                        and stored.time_period_start < spans.span_end
                )
            """
        ).to_arrow_table()
    return pa.concat_tables(
        [
            conform_arrow(AWS_COST_EXPLORER_TAGS, kept),
            rows_to_arrow(AWS_COST_EXPLORER_TAGS, fetched),
        ]
    )
