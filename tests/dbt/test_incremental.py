"""The daily build is incremental: each run rebuilds only the days a load changed since the
last build (and tests only those days), and N daily runs give tables equal to a full refresh
of the same warehouse, row for row.

    .venv/bin/pytest tests/dbt/test_incremental.py -q
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb
import pytest
from finops_testing import copy_warehouse
from finops_testing import dbt as run_dbt
from test_dbt_build import fetch

from loaders import simulated, warehouse
from pipelines.build_window import rebuilt_window_start

HISTORY = (date(2026, 3, 1), date(2026, 5, 1))  # first load, seen on April 30
# The daily runs after it, each (window, as_of, day every scope reloads empty):
DAILY_RUNS = (
    ((date(2026, 4, 20), date(2026, 5, 5)), date(2026, 5, 4), None),  # restated + new days
    ((date(2026, 4, 24), date(2026, 5, 6)), date(2026, 5, 5), date(2026, 4, 25)),  # + emptied day
    ((date(2026, 5, 6), date(2026, 5, 8)), date(2026, 5, 7), None),  # new days only
)
RELOAD = DAILY_RUNS[-1][0]
EMPTIED_DAY = date(2026, 4, 25)


def dbt(db_path: Path, work_dir: Path, *args: str, window_start: str | None = None) -> str:
    """`dbt build [args]` without the unit tests (tests/dbt/test_unit_tests.py runs them)."""
    done = run_dbt(
        db_path,
        work_dir,
        "build", "--exclude-resource-type", "unit_test", *args,
        FINOPS_DBT_WINDOW_START=window_start or "",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "WARN=0 ERROR=0" in done.stdout, done.stdout[-3000:]
    return done.stdout


def empty_day_in_every_scope(db_path: Path, day: date) -> None:
    """Reload `day` with no rows for every (table, scope) loaded so far: the day vanishes."""
    scopes = fetch(db_path, "select distinct raw_table, scope from raw.load_ledger order by all")
    for raw_table, scope in scopes:
        warehouse.replace_window(
            db_path,
            raw_table=raw_table.removeprefix("raw."),
            source=simulated.SOURCE,
            scope=scope,
            window_start=day,
            window_end=date.fromordinal(day.toordinal() + 1),
            rows=[],
        )


def daily_build(db_path: Path, work_dir: Path) -> str:
    """`dbt build` as the pipeline's DbtBuild runs it: tests scoped to the rebuilt days."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        window_start = rebuilt_window_start(con)
    finally:
        con.close()
    assert window_start is not None
    dbt(db_path, work_dir, window_start=window_start)
    return window_start


def tables_of(con: duckdb.DuckDBPyConnection, catalog: str | None = None) -> list[tuple[str, str]]:
    return con.execute(
        "select table_schema, table_name from information_schema.tables "
        "where table_catalog = coalesce(?, current_database()) "
        "and table_schema in ('staging', 'intermediate', 'marts') and table_type = 'BASE TABLE' "
        "order by all",
        [catalog],
    ).fetchall()


@pytest.fixture(scope="module")
def incremental_and_full(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work_dir = tmp_path_factory.mktemp("dbt_incremental")
    db_path = work_dir / "finops.duckdb"

    # GIVEN March-April built once
    simulated.load(db_path, *HISTORY, as_of=date(2026, 4, 30), seed=42)
    dbt(db_path, work_dir)
    [(first_watermark,)] = fetch(db_path, "select max(_loaded_through) from marts.fct_daily_costs")

    # WHEN daily runs restate recent days (estimates become final), add new days and empty
    # one day entirely, each followed by a daily build ...
    window_starts = []
    for window, as_of, emptied_day in DAILY_RUNS:
        simulated.load(db_path, *window, as_of=as_of, seed=42)
        if emptied_day:
            empty_day_in_every_scope(db_path, emptied_day)
        window_starts.append(daily_build(db_path, work_dir))
    # ... and a copy of the same warehouse is rebuilt from scratch
    full_path = copy_warehouse(db_path, work_dir / "full_refresh")
    dbt(full_path, work_dir, "--full-refresh")
    return {
        "db": db_path,
        "full": full_path,
        "first_watermark": first_watermark,
        "window_starts": window_starts,
    }


def test_daily_runs_equal_a_full_refresh_in_every_table(incremental_and_full: dict) -> None:
    # Every table the build makes (incremental or not), every column but the watermark,
    # which says when a row was (re)built.
    con = duckdb.connect(str(incremental_and_full["db"]), read_only=True)
    differences, row_counts = {}, {}
    try:
        con.execute(f"attach '{incremental_and_full['full']}' as full_refresh (read_only)")
        tables = tables_of(con)
        assert tables == tables_of(con, "full_refresh")
        for schema, table in tables:
            columns = ", ".join(
                f'"{name}"'
                for (name,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? "
                    "and table_name = ? and table_catalog = current_database() "
                    "and column_name != '_loaded_through' order by ordinal_position",
                    [schema, table],
                ).fetchall()
            )
            mine, full = f"{schema}.{table}", f"full_refresh.{schema}.{table}"
            [(only_daily,)] = con.execute(
                f"select count(*) from (select {columns} from {mine} "
                f"except all select {columns} from {full})"
            ).fetchall()
            [(only_full,)] = con.execute(
                f"select count(*) from (select {columns} from {full} "
                f"except all select {columns} from {mine})"
            ).fetchall()
            [(row_counts[mine],)] = con.execute(f"select count(*) from {mine}").fetchall()
            if only_daily or only_full:
                differences[mine] = (only_daily, only_full)
    finally:
        con.close()

    assert differences == {}
    incremental = [
        "staging.stg_aws_cost_explorer__costs",
        "staging.stg_azure_cost_management__costs",
        "intermediate.int_azure_costs_pivoted",
        "intermediate.int_cloud_costs_unioned",
        "intermediate.int_daily_costs_converted",
        "intermediate.int_daily_costs_by_scope",
        "intermediate.int_daily_cost_region_days",
        "intermediate.int_daily_cost_region_scored",
        "intermediate.int_daily_cost_series_scored",
        "marts.fct_daily_costs",
    ]
    assert all(row_counts[name] > 300 for name in incremental), row_counts
    assert row_counts["marts.fct_daily_costs"] > 5_000
    assert row_counts["marts.fct_cost_anomalies"] > 0


def test_each_daily_build_tests_from_the_first_day_a_load_changed(
    incremental_and_full: dict,
) -> None:
    assert incremental_and_full["window_starts"] == [
        window[0].isoformat() for window, _, _ in DAILY_RUNS
    ]


def test_the_emptied_day_disappears(incremental_and_full: dict) -> None:
    rows = fetch(
        incremental_and_full["db"],
        "select count(*) from marts.fct_daily_costs where charge_date = ?",
        [EMPTIED_DAY],
    )
    assert rows == [(0,)]


def test_only_the_last_window_was_rebuilt(incremental_and_full: dict) -> None:
    # Rows before the last run's window keep the watermark of an earlier build; every row
    # from the window on, in every incremental table, was rebuilt with the newest one.
    [(last_load,)] = fetch(
        incremental_and_full["db"],
        "select max(finished_at) from raw.load_ledger where status = 'succeeded'",
    )
    for table in (
        "staging.stg_aws_cost_explorer__costs",
        "staging.stg_azure_cost_management__costs",
        "intermediate.int_azure_costs_pivoted",
        "intermediate.int_cloud_costs_unioned",
        "intermediate.int_daily_costs_converted",
        "intermediate.int_daily_cost_region_days",
        "intermediate.int_daily_cost_region_scored",
        "intermediate.int_daily_cost_series_scored",
        "marts.fct_daily_costs",
    ):
        watermarks = fetch(
            incremental_and_full["db"],
            f"select charge_date >= ? as in_window, min(_loaded_through), "
            f"max(_loaded_through), min(charge_date), max(charge_date) from {table} "
            "group by all order by 1",
            [RELOAD[0]],
        )
        (_, _, before_max, first_day, _), (_, after_min, after_max, window_day, last_day) = (
            watermarks
        )
        assert before_max < last_load, table
        assert after_min == after_max == last_load, table
        assert (first_day, window_day, last_day) == (HISTORY[0], RELOAD[0], date(2026, 5, 7))

    first = incremental_and_full["first_watermark"]
    [(oldest,)] = fetch(
        incremental_and_full["db"], "select min(_loaded_through) from marts.fct_daily_costs"
    )
    assert oldest == first  # March was never rebuilt
