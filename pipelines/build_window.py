"""The days a daily `dbt build` rebuilds, so it tests those days and not the history.

The dbt project's incremental models (the tables with a `_loaded_through` watermark and a
`charge_date`: the cost staging models, int_cloud_costs_unioned, int_daily_costs_converted,
int_daily_costs_by_scope, int_daily_cost_region_days, int_daily_cost_region_scored,
int_daily_cost_series_scored, fct_daily_costs) each rebuild every day from the earliest `window_start` of the succeeded
loads that finished after their watermark; dbt decides that
(dbt_project/macros/delete_days_to_rebuild.sql). `rebuilt_window_start` reads the same state
before the build to name the first of those days, which DbtBuild hands to dbt as the var
`window_start` (dbt_project/macros/rebuilt_window.sql scopes the data tests with it).

    None           the first build (no incremental table yet, or none holds a row), or a
                   table without its watermark: every test reads all history
    'YYYY-MM-DD'   the earliest first day over the incremental tables
    '9999-12-31'   no load finished since any table was built: nothing is rebuilt
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

NOTHING_REBUILT = "9999-12-31"

# The incremental tables, and whether each is gap-filled (has `is_gap_filled`).
_INCREMENTAL_TABLES_SQL = """
select
    table_schema,
    table_name,
    bool_or(column_name = 'is_gap_filled') as is_gap_filled
from information_schema.columns
where table_catalog = current_database()
group by table_schema, table_name
having bool_or(column_name = '_loaded_through') and bool_or(column_name = 'charge_date')
order by table_schema, table_name
"""


def has_ledger(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the warehouse has its load ledger (raw.load_ledger) yet."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = 'raw' "
            "and table_name = 'load_ledger'"
        ).fetchone()[0]
    )


def rebuilt_window_start(
    con: duckdb.DuckDBPyConnection, left_out: frozenset[str] | set[str] = frozenset()
) -> str | None:
    """The first charge date the next `dbt build` rebuilds in any incremental table;
    `left_out`: the tables ("schema.table") the build does not run (build_scope.py), whose
    watermarks stay where they are until their sources land again."""
    tables = [
        table
        for table in con.execute(_INCREMENTAL_TABLES_SQL).fetchall()
        if f"{table[0]}.{table[1]}".lower() not in left_out
    ]
    if not tables or not has_ledger(con):
        return None
    starts: list[date] = []
    built = False  # an incremental table holds rows, so its watermark says when it was built
    for schema, table, is_gap_filled in tables:
        relation = f'"{schema}"."{table}"'
        [(watermark,)] = con.execute(f"select max(_loaded_through) from {relation}").fetchall()
        if watermark is None:
            # Empty (a source that landed nothing, e.g. no FOCUS files): no watermark to
            # compare with. Its rows, once a load brings some, also reach the tables
            # downstream (int_cloud_costs_unioned), whose watermark does count that load.
            continue
        built = True
        [(first_day,)] = con.execute(
            "select min(window_start) from raw.load_ledger "
            "where status = 'succeeded' and finished_at > ?",
            [watermark],
        ).fetchall()
        if first_day is None:
            continue
        if not is_gap_filled:
            starts.append(first_day)
            continue
        # A gap-filled model (the anomaly series) also rebuilds the days between its last
        # day kept and the first day a load changed.
        [(last_kept,)] = con.execute(
            f"select max(charge_date) from {relation} where charge_date < ?", [first_day]
        ).fetchall()
        starts.append(min(first_day, last_kept + timedelta(days=1)) if last_kept else first_day)
    if not built:
        return None  # no incremental table holds a row: test all (there is little to test)
    return min(starts).isoformat() if starts else NOTHING_REBUILT
