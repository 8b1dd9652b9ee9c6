"""The days a daily `dbt build` rebuilds, so it tests those days and not the history.

The dbt project's incremental models (the tables with a `_loaded_through` watermark and a
`charge_date`: int_cloud_costs_unioned, int_daily_costs_converted, int_daily_costs_by_scope,
int_daily_cost_series_scored, fct_daily_costs) each rebuild every day from the earliest
`window_start` of the succeeded loads that finished after their watermark; dbt decides that
(dbt_project/macros/delete_days_to_rebuild.sql). `rebuilt_window_start` reads the same state
before the build to name the first of those days, which DbtBuild hands to dbt as the var
`window_start` (dbt_project/macros/rebuilt_window.sql scopes the data tests with it).

    None           the first build (no incremental table yet), or a table without its
                   watermark: every test reads all history
    'YYYY-MM-DD'   the earliest first day over the incremental tables
    '9999-12-31'   no load finished since any table was built: nothing is rebuilt
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb

NOTHING_REBUILT = "9999-12-31"

_INCREMENTAL_TABLES_SQL = """
select table_schema, table_name
from information_schema.columns
where table_catalog = current_database() and column_name = '_loaded_through'
intersect
select table_schema, table_name
from information_schema.columns
where table_catalog = current_database() and column_name = 'charge_date'
order by all
"""


def rebuilt_window_start(con: duckdb.DuckDBPyConnection) -> str | None:
    """The first charge date the next `dbt build` rebuilds in any incremental table."""
    tables = con.execute(_INCREMENTAL_TABLES_SQL).fetchall()
    ledger = con.execute(
        "select count(*) from information_schema.tables "
        "where table_catalog = current_database() and table_schema = 'raw' "
        "and table_name = 'load_ledger'"
    ).fetchone()[0]
    if not tables or not ledger:
        return None
    starts: list[date] = []
    for schema, table in tables:
        relation = f'"{schema}"."{table}"'
        [(first_day,)] = con.execute(
            "select min(window_start) from raw.load_ledger "
            "where status = 'succeeded' and finished_at > ("
            f"    select coalesce(max(_loaded_through), timestamp '0001-01-01') from {relation})"
        ).fetchall()
        if first_day is None:
            continue
        # A gap-filled model (the anomaly series) also rebuilds the days between its last
        # day kept and the first day a load changed.
        [(last_kept,)] = con.execute(
            f"select max(charge_date) from {relation} where charge_date < ?", [first_day]
        ).fetchall()
        starts.append(min(first_day, last_kept + timedelta(days=1)) if last_kept else first_day)
    return min(starts).isoformat() if starts else NOTHING_REBUILT
