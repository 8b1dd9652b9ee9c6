"""fct_daily_costs is incremental: a daily run rebuilds only the restatement window, and the
result equals a full refresh row for row.

    .venv/bin/pytest tests/dbt/test_incremental.py -q
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import duckdb
import pytest
from test_dbt_build import DBT, DBT_PROJECT_DIR, REPO_ROOT, fetch

from loaders import simulated, warehouse

HISTORY = (date(2026, 3, 1), date(2026, 5, 1))  # first load, seen on April 30
RELOAD = (date(2026, 4, 20), date(2026, 5, 5))  # daily run on May 5: restates + new days
EMPTIED_DAY = date(2026, 4, 25)  # every scope reloads this day with no rows

# Every contract column but the bookkeeping one, which says when a row was (re)built.
COLUMNS = (
    "daily_cost_id, charge_date, provider_name, billing_account_id, sub_account_id, "
    "sub_account_name, service_name, service_category, service_subcategory, region_id, "
    "charge_category, charge_class, billing_currency, billed_cost, effective_cost, "
    "reporting_currency, fx_rate, billed_cost_reporting, effective_cost_reporting, is_estimated"
)


def dbt(db_path: Path, work_dir: Path, *args: str) -> str:
    env = {
        **os.environ,
        "FINOPS_DUCKDB_PATH": str(db_path),
        "FINOPS_REPORTING_CURRENCY": "USD",
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [
        str(DBT), "build", *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(REPO_ROOT),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "WARN=0 ERROR=0" in done.stdout, done.stdout[-3000:]
    return done.stdout


def copy_warehouse(source: Path, target: Path) -> None:
    for suffix in ("", ".wal"):
        if Path(str(source) + suffix).exists():
            shutil.copyfile(str(source) + suffix, str(target) + suffix)


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


@pytest.fixture(scope="module")
def incremental_and_full(tmp_path_factory: pytest.TempPathFactory) -> dict:
    work_dir = tmp_path_factory.mktemp("dbt_incremental")
    db_path, full_path = work_dir / "finops.duckdb", work_dir / "full_refresh.duckdb"

    # GIVEN March-April built once
    simulated.load(db_path, *HISTORY, as_of=date(2026, 4, 30), seed=42)
    dbt(db_path, work_dir)
    [(first_watermark,)] = fetch(db_path, "select max(_loaded_through) from marts.fct_daily_costs")

    # WHEN a later daily run restates April 20 - May 4 (estimates become final, new days
    # arrive) and a reload empties April 25 entirely, then dbt builds incrementally ...
    simulated.load(db_path, *RELOAD, as_of=date(2026, 5, 4), seed=42)
    empty_day_in_every_scope(db_path, EMPTIED_DAY)
    copy_warehouse(db_path, full_path)
    dbt(db_path, work_dir)
    # ... and a copy of the same warehouse is rebuilt from scratch
    dbt(full_path, work_dir, "--full-refresh")
    return {"db": db_path, "full": full_path, "first_watermark": first_watermark}


def test_an_incremental_run_equals_a_full_refresh(incremental_and_full: dict) -> None:
    con = duckdb.connect(str(incremental_and_full["db"]), read_only=True)
    try:
        con.execute(f"attach '{incremental_and_full['full']}' as full_refresh (read_only)")
        only_incremental = con.execute(
            f"select {COLUMNS} from marts.fct_daily_costs "
            f"except all select {COLUMNS} from full_refresh.marts.fct_daily_costs"
        ).fetchall()
        only_full = con.execute(
            f"select {COLUMNS} from full_refresh.marts.fct_daily_costs "
            f"except all select {COLUMNS} from marts.fct_daily_costs"
        ).fetchall()
        [(rows,)] = con.execute("select count(*) from marts.fct_daily_costs").fetchall()
    finally:
        con.close()

    assert only_incremental == []
    assert only_full == []
    assert rows > 5_000


def test_the_emptied_day_disappears(incremental_and_full: dict) -> None:
    rows = fetch(
        incremental_and_full["db"],
        "select count(*) from marts.fct_daily_costs where charge_date = ?",
        [EMPTIED_DAY],
    )
    assert rows == [(0,)]


def test_only_the_restatement_window_was_rebuilt(incremental_and_full: dict) -> None:
    # Rows before the reload's window keep the watermark of the first build; every row from
    # the window on was rebuilt with the new one.
    watermarks = fetch(
        incremental_and_full["db"],
        "select charge_date >= ? as in_window, min(_loaded_through), max(_loaded_through), "
        "min(charge_date), max(charge_date) from marts.fct_daily_costs group by all order by 1",
        [RELOAD[0]],
    )
    [(last_load,)] = fetch(
        incremental_and_full["db"],
        "select max(finished_at) from raw.load_ledger where status = 'succeeded'",
    )

    first = incremental_and_full["first_watermark"]
    assert watermarks == [
        (False, first, first, HISTORY[0], date(2026, 4, 19)),
        (True, last_load, last_load, RELOAD[0], date(2026, 5, 4)),
    ]
    assert first < last_load
