"""The daily pipeline end to end: real DuckDB, real `dbt build`, Luigi's local scheduler."""

from __future__ import annotations

import csv
import json
import socket
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import luigi
import pytest
from finops_testing import FIXED_RUN_DATE, run_pipeline
from ops_scenario import Luigid

from pipelines import DailyPipeline, RangeDaily

RAW_TOTALS_SQL = """
select provider, currency, round(sum(billed), 2) as billed, round(sum(effective), 2) as effective
from (
    select 'AWS' as provider, unblended_cost_unit as currency,
           unblended_cost as billed, amortized_cost as effective
    from raw.aws_cost_explorer
    union all
    select 'Azure', currency,
           case when query_type = 'ActualCost' then cost else 0 end,
           case when query_type = 'AmortizedCost' then cost else 0 end
    from raw.azure_cost_management
)
group by all order by all
"""

MART_TOTALS_SQL = """
select provider_name, billing_currency, round(sum(billed_cost), 2), round(sum(effective_cost), 2)
from marts.fct_daily_costs group by all order by all
"""


def query(path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def snapshot(home: Path, warehouse: Path | None = None) -> dict:
    """Every figure a rerun must leave unchanged (of `warehouse`, by default the home's)."""
    warehouse = warehouse or home / "data" / "finops.duckdb"
    serving = warehouse.with_name(warehouse.stem + "_serving.duckdb")
    return {
        "raw_totals": query(warehouse, RAW_TOTALS_SQL),
        "raw_rows": query(
            warehouse,
            "select (select count(*) from raw.aws_cost_explorer), "
            "(select count(*) from raw.azure_cost_management)",
        ),
        "mart_totals": query(serving, MART_TOTALS_SQL),
        "mart_rows": query(serving, "select count(*) from marts.fct_daily_costs"),
        "kpis": query(serving, "select * from marts.fct_cost_kpis order by kpi_id"),
        "anomalies": query(
            serving, "select anomaly_id, z_score from marts.fct_cost_anomalies order by 1"
        ),
    }


def test_daily_pipeline_lands_builds_exports_and_reruns_without_double_counting(
    finops_home: Path, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN an empty FINOPS_HOME and the simulated source
    run_date = FIXED_RUN_DATE

    # WHEN the daily pipeline runs for the first time
    first = run_pipeline(run_date)

    # THEN every step completed and wrote its output under FINOPS_HOME
    assert first.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, first.summary_text
    data = finops_home / "data"
    export_day = data / "exports" / "processed" / run_date.isoformat()
    for table in (
        "fct_daily_costs",
        "fct_cost_kpis",
        "fct_cost_anomalies",
        "fct_cost_restatements",
    ):
        assert (export_day / f"{table}.parquet").stat().st_size > 0
        assert (export_day / f"{table}.csv").stat().st_size > 0
    manifest = json.loads((export_day / "_manifest.json").read_text())
    assert f"processed/{run_date}/fct_daily_costs.parquet" in manifest["files"]
    assert (data / "exports" / "kpis" / run_date.isoformat() / "kpis.json").exists()
    assert (data / "exports" / "reports" / run_date.isoformat() / "report.txt").exists()
    report = (finops_home / "logs" / f"report_{run_date:%Y%m%d}.txt").read_text()
    assert "Totals by provider and billing currency" in report
    assert "aws_cost_explorer.aws_cost_explorer pass" in report  # just loaded: fresh
    assert "focus_files" not in report  # the freshness check covers enabled sources only
    assert "pipeline" in (finops_home / "logs" / "pipeline.log").read_text().lower()
    history = json.loads((finops_home / "logs" / "execution_history.json").read_text())
    assert [h["status"] for h in history] == ["succeeded"]

    # THEN the warehouse holds 180 days ending the day before the run date
    warehouse = data / "finops.duckdb"
    first_day, last_day = query(
        warehouse,
        "select min(time_period_start), max(time_period_start) from raw.aws_cost_explorer",
    )[0]
    assert (first_day, last_day) == (run_date - timedelta(days=180), run_date - timedelta(days=1))

    # THEN the marts reconcile with raw to the cent, per provider and billing currency
    before = snapshot(finops_home)
    raw = [(p, c, b, e) for p, c, b, e in before["raw_totals"]]
    assert before["mart_totals"] == raw
    assert {c for _, c, _, _ in raw} == {"USD", "EUR"}  # one Azure subscription bills in EUR

    # THEN the raw extract keeps every landed row for audit (AWS rows once per cost type)
    extract = data / "raw" / f"multicloud_costs_{run_date:%Y%m%d}.csv"
    with extract.open() as handle:
        extract_rows = list(csv.DictReader(handle))
    aws_rows, azure_rows = before["raw_rows"][0]
    assert len(extract_rows) == 2 * aws_rows + azure_rows
    extract_billed = sum(
        Decimal(r["cost"])
        for r in extract_rows
        if r["provider"] == "Azure" and r["cost_type"] == "ActualCost" and r["currency"] == "EUR"
    )
    assert round(extract_billed, 2) == next(b for p, c, b, _ in raw if (p, c) == ("Azure", "EUR"))

    # WHEN the same date runs again (cron fired twice)
    report_mtime = (finops_home / "logs" / f"report_{run_date:%Y%m%d}.txt").stat().st_mtime_ns
    second = run_pipeline(run_date)

    # THEN nothing runs and nothing changes
    assert second.status == luigi.execution_summary.LuigiStatusCode.SUCCESS
    assert second.scheduling_succeeded
    assert snapshot(finops_home) == before
    assert (
        finops_home / "logs" / f"report_{run_date:%Y%m%d}.txt"
    ).stat().st_mtime_ns == report_mtime
    assert len(json.loads((finops_home / "logs" / "execution_history.json").read_text())) == 1

    # WHEN the run is forced (DailyPipeline --force, as `finops run --force`)
    manifest_before = json.loads((export_day / "_manifest.json").read_text())
    third = luigi.build(
        [DailyPipeline(date=run_date, force=True)],
        local_scheduler=True,
        workers=1,
        detailed_summary=True,
        log_level="WARNING",
    )

    # THEN everything was reloaded, rebuilt, re-exported and re-reported...
    assert third.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, third.summary_text
    manifest_after = json.loads((export_day / "_manifest.json").read_text())
    assert manifest_after["build_id"] != manifest_before["build_id"]
    assert len(json.loads((finops_home / "logs" / "execution_history.json").read_text())) == 2
    # ... and the loads replaced their windows: identical totals to the cent, no duplicate rows
    assert snapshot(finops_home) == before
    ledger = query(
        warehouse,
        "select row_count, replaced_row_count from raw.load_ledger "
        "where status = 'succeeded' order by started_at",
    )
    half = len(ledger) // 2
    assert half > 0 and len(ledger) == 2 * half
    assert [r[1] for r in ledger[:half]] == [0] * half  # first loads replaced nothing
    assert [r[1] for r in ledger[half:]] == [r[0] for r in ledger[:half]]  # reruns replaced all

    # WHEN FINOPS_DUCKDB_PATH names a new, empty warehouse (same FINOPS_HOME, whose
    # exports, reports and history say the date is done) and the date runs through luigid
    other = finops_home / "elsewhere" / "finops.duckdb"  # the name sharing the suite's dbt parse
    monkeypatch.setenv("FINOPS_DUCKDB_PATH", str(other))
    luigid = Luigid(finops_home / "luigid").start()
    try:
        fourth = luigi.build(
            [DailyPipeline(date=run_date)],
            scheduler_host="127.0.0.1",
            scheduler_port=luigid.port,
            workers=1,
            detailed_summary=True,
            log_level="WARNING",
        )
        done = luigid.api("task_list", status="DONE", upstream_status="")
    finally:
        luigid.stop()

    # THEN completion followed the new warehouse: every step ran for it (luigid saw each DONE)
    assert fourth.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, fourth.summary_text
    assert {t["name"] for t in done.values()} == {
        "LoadSource", "ArchiveRawExtract", "DbtBuild", "Export", "Prune", "Report",
        "DailyPipeline",
    }  # fmt: skip
    assert snapshot(finops_home, other) == before  # its own marts, equal to the cent
    manifest_other = json.loads((export_day / "_manifest.json").read_text())
    assert manifest_other["build_id"] not in (
        manifest_before["build_id"],
        manifest_after["build_id"],
    )
    # and the first warehouse is unchanged by it
    monkeypatch.delenv("FINOPS_DUCKDB_PATH")
    assert snapshot(finops_home) == before


def test_range_daily_backfill_overlapping_windows_count_each_day_once(finops_home: Path):
    # GIVEN two consecutive run dates whose 180-day windows overlap on 179 days
    start = FIXED_RUN_DATE - timedelta(days=1)

    # WHEN Luigi's RangeDaily backfills both dates
    result = luigi.build(
        [
            RangeDaily(
                of=DailyPipeline,
                start=start,
                stop=FIXED_RUN_DATE + timedelta(days=1),
                days_back=3650,
            )
        ],
        local_scheduler=True,
        workers=1,
        detailed_summary=True,
        log_level="WARNING",
    )

    # THEN both dates completed with their own reports
    assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    for day in (start, FIXED_RUN_DATE):
        assert (finops_home / "logs" / f"report_{day:%Y%m%d}.txt").exists()

    # THEN the warehouse holds the union of both windows, every raw key exactly once
    warehouse = finops_home / "data" / "finops.duckdb"
    days, dupes = query(
        warehouse,
        """
        select count(distinct time_period_start),
               count(*) - count(distinct (time_period_start, linked_account_id, service, region,
                                          record_type))
        from raw.aws_cost_explorer
        """,
    )[0]
    assert (days, dupes) == (181, 0)
    azure_dupes = query(
        warehouse,
        "select count(*) - count(distinct (usage_date, query_type, subscription_id, service_name, "
        "resource_location, charge_type, currency)) from raw.azure_cost_management",
    )[0][0]
    assert azure_dupes == 0
    # and the marts still reconcile with raw to the cent
    assert query(finops_home / "data" / "finops_serving.duckdb", MART_TOTALS_SQL) == [
        tuple(r) for r in query(warehouse, RAW_TOTALS_SQL)
    ]


def test_a_source_whose_api_is_unreachable_fails_clearly_and_is_recorded(
    finops_home: Path, monkeypatch
):
    # GIVEN the AWS source with credentials, but nothing listening where its API should be
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    secret = "unreachable-test-secret-access-key"
    monkeypatch.setenv("FINOPS_SOURCES", "aws")
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{closed_port}")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNREACHABLETEST1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", secret)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")  # one retry: keeps the test short
    monkeypatch.setenv("AWS_CONFIG_FILE", str(finops_home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(finops_home / "no-aws-credentials"))
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)

    # WHEN the daily pipeline runs
    result = run_pipeline(date(2026, 3, 2))

    # THEN it fails, lands and publishes nothing, and the history names the error
    assert result.status == luigi.execution_summary.LuigiStatusCode.FAILED
    history = json.loads((finops_home / "logs" / "execution_history.json").read_text())
    assert history[-1]["status"] == "failed"
    error = history[-1]["error"]
    assert error.startswith("CostExplorerLoadError: AWS Cost Explorer load")
    assert f'Could not connect to the endpoint URL: "http://127.0.0.1:{closed_port}/"' in error
    assert not (finops_home / "data" / "finops_serving.duckdb").exists()
    assert query(
        finops_home / "data" / "finops.duckdb",
        "select (select count(*) from raw.aws_cost_explorer), status, api_requests "
        "from raw.load_ledger",
    ) == [(0, "failed", 0)]
    # and no secret in the error, the history or the log
    assert "AKIAUNREACHABLETEST1" not in error and secret not in error
    for path in (finops_home / "logs").rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(errors="replace"), path
