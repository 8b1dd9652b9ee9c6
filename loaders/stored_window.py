"""What a change-detecting load needs from the warehouse and from the calendar (issue #20).

The Cost Explorer and Cost Management loaders both start a daily load with a cheap totals
pass, compare it with what the warehouse holds for the scope and window, and ask again only
for what moved. This module holds what both use:

* `read_window`: a scope's rows of the window in some raw tables, read once, under the
  writer's lock, as Arrow tables (an empty table for a table not created yet);
* `raw_tables_present`: the tables of the `raw` schema;
* `runs`: changed days as [start, end) runs, close runs merged (one query instead of two).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from loaders import warehouse
from loaders.catalogue import RawTable
from loaders.warehouse.validation import conform_arrow

# Changed days of one slice closer than this are asked for in one query.
MERGE_GAP_DAYS = 7


def raw_tables_present(con: duckdb.DuckDBPyConnection) -> set[str]:
    """The tables of the `raw` schema (read with fetchall: DuckDB 2.0 keeps a result that
    `fetchone` left unfinished open, which blocks the connection's next relation)."""
    return {
        name
        for (name,) in con.execute(
            "select table_name from information_schema.tables "
            "where table_catalog = current_database() and table_schema = 'raw'"
        ).fetchall()
    }


def read_window(
    db_path: Path,
    source: str,
    scope: str,
    start: date,
    end: date,
    tables: Sequence[RawTable],
) -> list[pa.Table]:
    """What earlier loads of `source` landed for `scope` in [start, end) in each of
    `tables` (in that order, with the raw table's columns); empty tables for a new warehouse
    or a table not created yet."""
    empty = [table.arrow_schema().empty_table() for table in tables]
    if not Path(db_path).exists():
        return empty
    found: list[pa.Table] = []
    with warehouse.writer_lock(Path(db_path), timeout_s=60):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            present = raw_tables_present(con)
            for table, nothing in zip(tables, empty, strict=True):
                if table.name not in present:
                    found.append(nothing)
                    continue
                columns = ", ".join(name for name, _, _ in table.columns)
                data = con.sql(
                    f"select {columns} from {table.qualified} where _source = $source "
                    f"and _scope = $scope and {table.date_column} >= $lo "
                    f"and {table.date_column} < $hi",
                    params={
                        "source": source,
                        "scope": scope,
                        "lo": table.window_bound(start),
                        "hi": table.window_bound(end),
                    },
                ).to_arrow_table()
                found.append(conform_arrow(table, data))
        finally:
            con.close()
    return found


def runs(days: Iterable[date], merge_gap: int = MERGE_GAP_DAYS) -> list[tuple[date, date]]:
    """Sorted days as [start, end) runs; runs whose gap is at most `merge_gap` days merged."""
    spans: list[tuple[date, date]] = []
    for day in sorted(set(days)):
        if spans and (day - spans[-1][1]).days <= merge_gap:
            spans[-1] = (spans[-1][0], day + timedelta(days=1))
        else:
            spans.append((day, day + timedelta(days=1)))
    return spans
