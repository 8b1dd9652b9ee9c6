"""Removing a source's rows: a window (`finops purge`) or everything a demo source landed,
in one ledgered transaction through the writer's lock."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb

from loaders import registry
from loaders.catalogue import RawTable
from loaders.warehouse.locking import connect_writer, writer_lock
from loaders.warehouse.schema import ensure_raw_schema
from loaders.warehouse.writes import insert_ledger, new_load_id, utc_now


def _purge_ledgered(
    db_path: Path, source: str, window: Callable[[RawTable, duckdb.DuckDBPyConnection], Any]
) -> dict[str, int]:
    """Delete `source`'s rows of every raw table in one transaction, each table it changes
    ledgered (scope `*`, status `succeeded`, 0 rows, `replaced_row_count` = rows removed).
    `window(table, con)` gives the table's [start, end) as dates, or None for nothing."""
    removed: dict[str, int] = {}
    if not db_path.exists():
        return removed
    with writer_lock(db_path):
        con = connect_writer(db_path)
        try:
            ensure_raw_schema(con)
            con.execute("begin transaction")
            try:
                for table in registry.raw_tables().values():
                    span = window(table, con)
                    if span is None:
                        continue
                    start, end = span
                    count = con.execute(
                        f"delete from {table.qualified} where _source = ? "
                        f"and {table.date_column} >= ? and {table.date_column} < ?",
                        [source, table.window_bound(start), table.window_bound(end)],
                    ).fetchone()[0]
                    if not count:
                        continue
                    removed[table.qualified] = int(count)
                    now = utc_now()
                    insert_ledger(
                        con,
                        load_id=new_load_id(f"{source}-purge"),
                        source=source,
                        raw_table=table.qualified,
                        scope="*",
                        window_start=start,
                        window_end=end,
                        started_at=now,
                        finished_at=now,
                        status="succeeded",
                        row_count=0,
                        replaced_row_count=count,
                    )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        finally:
            con.close()
    return removed


def purge_window(db_path: Path, source: str, start: date, end: date) -> dict[str, int]:
    """Delete the rows `source` landed for `[start, end)` in every raw table (one ledgered
    transaction, see `_purge_ledgered`), so incremental marts rebuild those days and the
    runs whose loads it touched count as incomplete. Returns rows removed per raw table.

    The recovery path for bad data (`finops purge`): the same rules as a load - the one
    writer, its lock, all or nothing."""
    if end <= start:
        raise ValueError(f"empty purge window [{start}, {end})")
    return _purge_ledgered(db_path, source, lambda _table, _con: (start, end))


def purge_source(db_path: Path, source: str) -> int:
    """Delete every raw row a source landed (all tables, one transaction); returns the count.

    Used when real sources take over from the simulated one, so demo costs are never added
    to real ones. Each table it empties gets a ledger row (scope `*`, the window the removed
    rows spanned), so incremental marts rebuild those days like after any other load.
    """

    def span(table: RawTable, con: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
        first, last = con.execute(
            f"select min({table.date_column}), max({table.date_column}) "
            f"from {table.qualified} where _source = ?",
            [source],
        ).fetchone()
        if first is None:
            return None
        return table.bound_to_date(first), table.bound_to_date(last) + timedelta(days=1)

    return sum(_purge_ledgered(db_path, source, span).values())
