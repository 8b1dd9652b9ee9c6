"""`finops sql`: a query of the published marts on a read-only DuckDB connection that
reaches no other file, printed as a table or streamed as CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from finops.exit_codes import EXIT_USAGE
from finops.settings import load_settings


def cmd_sql(args: argparse.Namespace) -> int:
    """Query the published marts on a read-only connection that cannot touch any other file
    (no COPY TO, ATTACH, INSTALL, read_csv of a path: DuckDB's external access is off and
    locked), streaming at most --max-rows rows (table: 100 by default; csv: all)."""
    import duckdb

    query = args.query.strip().rstrip(";").strip()
    if not query:
        print(
            'finops sql: the query is empty; e.g. finops sql "select * from marts.fct_cost_kpis"',
            file=sys.stderr,
        )
        return EXIT_USAGE
    limit = args.max_rows if args.max_rows is not None else (None if args.format == "csv" else 100)
    if limit is not None and limit < 1:
        print("finops sql: --max-rows must be at least 1", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings()
    path: Path = settings.serving_path
    if not path.exists():
        print(f"No marts at {path} yet: run `finops run` (or `make run`) first.", file=sys.stderr)
        return 1
    con = duckdb.connect(
        str(path),
        read_only=True,
        config={"enable_external_access": False, "lock_configuration": True},
    )
    try:
        try:
            cursor = con.execute(query)
        except duckdb.PermissionException as exc:
            print(
                f"finops sql is read-only and reaches no other file: {exc} (export with "
                "--format csv > file.csv, or use the Parquet exports)",
                file=sys.stderr,
            )
            return EXIT_USAGE
        except duckdb.Error as exc:
            print(f"SQL error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        if cursor.description is None:
            return 0
        columns = [d[0] for d in cursor.description]
        if args.format == "csv":
            return _stream_csv(cursor, columns, limit)
        rows = cursor.fetchmany(limit + 1)
    finally:
        con.close()
    import pandas as pd

    more = len(rows) > limit
    frame = pd.DataFrame(rows[:limit], columns=columns)
    with pd.option_context("display.max_rows", limit, "display.width", 200):
        print(frame.to_string(index=False, max_rows=limit))
    if more:
        print(f"(first {limit} rows shown; --max-rows N for more, --format csv for all)")
    return 0


def _stream_csv(cursor, columns: list[str], limit: int | None, batch: int = 10_000) -> int:
    """Write the result as CSV in batches (memory bounded by the batch, not the result)."""
    import csv

    writer = csv.writer(sys.stdout)
    writer.writerow(columns)
    written = 0
    while limit is None or written < limit:
        size = batch if limit is None else min(batch, limit - written)
        rows = cursor.fetchmany(size)
        if not rows:
            break
        writer.writerows(rows)
        written += len(rows)
    return 0
