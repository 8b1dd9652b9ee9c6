"""`finops backfill`: one load of the whole range per source, then the daily runs on top."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import duckdb
import luigi
from finops_testing import FIXED_RUN_DATE, finops_env, run_pipeline

FINOPS = str(Path(sys.executable).with_name("finops"))


def query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_backfill_loads_the_range_once_and_daily_runs_overlap_without_duplicates(
    finops_home: Path,
):
    # GIVEN a range of 180 days that ends 60 days before the daily run date
    start = FIXED_RUN_DATE - timedelta(days=240)
    end = FIXED_RUN_DATE - timedelta(days=61)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}

    # WHEN the user backfills it from the command line
    proc = subprocess.run(
        [FINOPS, "backfill", "--start", start.isoformat(), "--end", end.isoformat()],
        env={**clean, **finops_env(finops_home)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )

    # THEN each source scope was loaded once, over exactly [start, end + 1)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    warehouse = finops_home / "data" / "finops.duckdb"
    windows = query(
        warehouse,
        "select distinct window_start, window_end from raw.load_ledger where status = 'succeeded'",
    )
    assert windows == [(start, end + timedelta(days=1))]
    assert query(
        warehouse,
        "select min(time_period_start), max(time_period_start) from raw.aws_cost_explorer",
    ) == [(start, end)]
    report = (
        finops_home / "logs" / f"report_{end + timedelta(days=1):%Y%m%d}_since_{start:%Y%m%d}.txt"
    )
    assert f"(backfill since {start})" in report.read_text()
    history = json.loads((finops_home / "logs" / "execution_history.json").read_text())
    assert [(h["status"], h["backfill_since"]) for h in history] == [("succeeded", str(start))]

    # WHEN the daily run of a later date lands its own 180-day window over part of the range
    result = run_pipeline(FIXED_RUN_DATE)

    # THEN every day from the backfill start to the day before the run is there exactly once
    assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    days, duplicates = query(
        warehouse,
        """
        select count(distinct time_period_start),
               count(*) - count(distinct (time_period_start, linked_account_id, service, region,
                                          record_type))
        from raw.aws_cost_explorer
        """,
    )[0]
    assert (days, duplicates) == (240, 0)
    # and the published marts hold every one of those days, reconciled with raw to the cent
    serving = finops_home / "data" / "finops_serving.duckdb"
    assert query(serving, "select count(distinct charge_date) from marts.fct_daily_costs") == [
        (240,)
    ]
    raw_aws = query(warehouse, "select round(sum(unblended_cost), 2) from raw.aws_cost_explorer")
    mart_aws = query(
        serving,
        "select round(sum(billed_cost), 2) from marts.fct_daily_costs where provider_name = 'AWS'",
    )
    assert raw_aws == mart_aws
