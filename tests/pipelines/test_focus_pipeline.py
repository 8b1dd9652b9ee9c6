"""FOCUS export files through the whole pipeline: `finops run` with FINOPS_SOURCES=focus.

Two dbt builds in this module on the FinOps Foundation's FOCUS sample: the sample CSV
imported by the loader and built with `dbt build`, and a real `finops run` (load, build,
export, report) on a Parquet copy written by DuckDB. The marts must reconcile with the
file's own totals and be the same from either format. The last test then reruns that date
as a user would: unchanged folder, a new month file, a changed file, `--force` (three more
builds).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from unittest.mock import ANY

import duckdb
import pytest
from finops_testing import copy_warehouse, finops_env
from focus_testing import (
    SAMPLE,
    altered_copy,
    amount,
    cents,
    copy_sample,
    dbt_build,
    file_totals,
    parquet_copy,
    read_rows,
    write_rows,
)

from finops.settings import load_settings, resolve_sources
from loaders import focus_files

FINOPS = str(Path(sys.executable).with_name("finops"))
RUN_DATE = date(2026, 7, 1)
# Every mart, compared between the two builds; columns that record when a build or load
# happened (not what it computed) are left out.
MARTS = {
    "fct_daily_costs": "* exclude (_loaded_through)",
    "fct_cost_kpis": "*",
    "fct_cost_anomalies": "*",
    "fct_cost_total_anomalies": "*",
    "fct_anomaly_root_causes": "*",
    "fct_anomaly_series": "*",
    "fct_cost_movers": "*",
    "fct_cost_forecast": "*",
    "fct_cost_forecast_backtest": "*",
    "fct_cost_restatements": "*",
    "fct_load_freshness": (
        "provider_name, source_name, scope, last_attempt_status, latest_charge_date, "
        "estimated_days, restated_days"
    ),
}


def fetch(db_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "AWS_"))}
    return subprocess.run(
        [FINOPS, *args],
        env={**clean, **finops_env(home, **env)},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module")
def csv_marts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample CSV imported as it is, then `dbt build` (build 1 of 2)."""
    work = tmp_path_factory.mktemp("focus_csv_build")
    db_path = work / "finops.duckdb"
    focus_files.load(db_path, str(copy_sample(work / "export")))
    dbt_build(db_path, work)
    return db_path


@pytest.fixture(scope="module")
def parquet_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, subprocess.CompletedProcess]]:
    """`finops run` with FINOPS_SOURCES=focus on a folder holding a Parquet copy of the
    sample, nested as exports nest their files (build 2 of 2)."""
    home = tmp_path_factory.mktemp("focus_home")
    export = home / "exports" / "FOCUS_1_0_AWS" / "data" / "BILLING_PERIOD=2024-09"
    parquet_copy(SAMPLE, export / "part-00000.parquet")
    proc = run_cli(
        home,
        "run",
        "--date",
        RUN_DATE.isoformat(),
        FINOPS_SOURCES="focus",
        FINOPS_FOCUS_PATH=str(home / "exports"),
    )
    yield home, proc


def test_finops_run_on_focus_files_succeeds_and_marts_reconcile_with_the_file(
    parquet_run: tuple[Path, subprocess.CompletedProcess],
):
    # GIVEN `finops run` with FINOPS_SOURCES=focus on the sample (as Parquet)
    home, proc = parquet_run

    # THEN the run succeeded: loaded, built (every dbt test, the reconciliation to raw
    # included), exported and reported
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    serving = home / "data" / "finops_serving.duckdb"
    history = json.loads((home / "logs" / "execution_history.json").read_text())
    assert history[-1]["status"] == "succeeded"
    report = (home / "logs" / f"report_{RUN_DATE:%Y%m%d}.txt").read_text()
    # the report names each provider of the files as loaded, with the rows each landed
    providers = {p["provider"]: p for p in history[-1]["providers"]}
    assert set(providers) == {"AWS", "Azure", "Oracle"}, providers
    assert all(p["status"] == "loaded" and p["rows_loaded"] > 0 for p in providers.values())
    assert "  ?" not in report and "not loaded" not in report
    # and the raw audit extract holds the landed FOCUS rows (both cost measures)
    [extract] = (home / "data" / "raw").glob("multicloud_costs_*.csv")
    extract_rows = extract.read_text().splitlines()[1:]
    assert extract_rows and all(",BilledCost," in r or ",EffectiveCost," in r for r in extract_rows)

    # THEN the daily mart holds the file's own totals per provider and currency, to the cent
    marts = fetch(
        serving,
        "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs group by all",
    )
    assert cents({(p, c): (b, e) for p, c, b, e in marts}) == cents(file_totals(SAMPLE))

    # THEN the KPIs have a row per provider, and 'All' is the sum of every provider
    kpis = dict(
        fetch(
            serving,
            "select kpi_id, total_cost from marts.fct_cost_kpis where cost_basis = 'billed'",
        )
    )
    assert set(kpis) == {"all_billed", "aws_billed", "azure_billed", "oracle_billed"}
    assert kpis["all_billed"] == kpis["aws_billed"] + kpis["azure_billed"] + kpis["oracle_billed"]
    assert kpis["oracle_billed"].quantize(Decimal("0.01")) == Decimal("0.54")

    # THEN the freshness mart shows each imported billing period under its provider
    freshness = fetch(
        serving,
        "select provider_name, source_name, latest_charge_date from marts.fct_load_freshness "
        "order by scope",
    )
    assert freshness == [
        ("AWS", "focus_files", date(2024, 9, 30)),
        ("Azure", "focus_files", date(2024, 9, 19)),
        ("Oracle", "focus_files", date(2024, 9, 22)),
        ("Oracle", "focus_files", date(2024, 9, 30)),
    ]

    # THEN the file's categories were used: EC2 (in Compute and Storage in the file) is in
    # Compute, where most of its cost is; the sample's 'Usage-based' rows are Usage-Based
    warehouse = home / "data" / "finops.duckdb"
    categorized = "intermediate.int_cloud_costs_categorized"
    assert fetch(
        warehouse,
        f"select distinct service_category from {categorized} "
        "where service_name = 'Amazon Elastic Compute Cloud'",
    ) == [("Compute",)]
    assert fetch(
        warehouse,
        f"select distinct charge_frequency from {categorized} where charge_category = 'Adjustment'",
    ) == [("Usage-Based",)]


def test_parquet_copy_gives_the_same_marts_as_the_csv(
    csv_marts: Path, parquet_run: tuple[Path, subprocess.CompletedProcess]
):
    # GIVEN the marts built from the CSV, and those of `finops run` on the Parquet copy
    home, proc = parquet_run
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    parquet_marts = home / "data" / "finops.duckdb"

    # THEN every mart holds the same rows (averages and z-scores to 6 decimals: DuckDB's
    # parallel float sums may differ in the last digits between two builds of the same data)
    def rounded(rows: list[tuple]) -> list[tuple]:
        return [
            tuple(round(v, 6) if isinstance(v, (float, Decimal)) else v for v in row)
            for row in rows
        ]

    for table, columns in MARTS.items():
        sql = f"select {columns} from marts.{table} order by all"
        csv_rows, parquet_rows = fetch(csv_marts, sql), fetch(parquet_marts, sql)
        assert rounded(csv_rows) == rounded(parquet_rows), table
    assert fetch(csv_marts, "select count(*) from marts.fct_daily_costs")[0][0] == 721


def test_csv_marts_reconcile_with_the_file_per_provider_and_currency(csv_marts: Path):
    # GIVEN the sample CSV imported unchanged and built
    totals = fetch(
        csv_marts,
        "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs group by all",
    )
    # THEN per provider and currency the marts hold the file's totals, to the cent
    assert cents({(p, c): (b, e) for p, c, b, e in totals}) == cents(file_totals(SAMPLE))
    # ... and every FOCUS value in the marts is the FOCUS spelling
    assert fetch(
        csv_marts,
        "select distinct charge_category, charge_class from marts.fct_daily_costs order by all",
    ) == [("Adjustment", None), ("Credit", None), ("Usage", None)]


# ------------------------------------------------------------------ source selection


def test_auto_picks_focus_when_a_path_is_set(monkeypatch: pytest.MonkeyPatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("FINOPS_FOCUS_PATH", raising=False)
    assert resolve_sources("auto") == ("simulated",)

    monkeypatch.setenv("FINOPS_FOCUS_PATH", "s3://billing-exports/focus")
    assert resolve_sources("auto") == ("focus",)
    # AWS keys (perhaps only there to read the bucket) do not add Cost Explorer by themselves
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFINOPSFOCUSAUTO1")
    assert resolve_sources("auto") == ("focus",)
    # the API sources come along only when named
    assert resolve_sources("aws,focus") == ("aws", "focus")
    with pytest.raises(ValueError, match="mixes simulated with real sources"):
        resolve_sources("simulated,focus")


def test_focus_without_a_path_is_a_settings_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FINOPS_HOME", str(tmp_path))
    monkeypatch.setenv("FINOPS_SOURCES", "focus")
    monkeypatch.delenv("FINOPS_FOCUS_PATH", raising=False)
    with pytest.raises(ValueError, match="FINOPS_FOCUS_PATH is not set"):
        load_settings(tmp_path / "no.env")

    # ... which `finops run` reports as bad settings (exit 2), before touching anything
    proc = run_cli(tmp_path, "run", "--date", RUN_DATE.isoformat(), FINOPS_SOURCES="focus")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "FINOPS_FOCUS_PATH" in proc.stdout + proc.stderr
    assert not (tmp_path / "data").exists()


# ------------------------------------------------------------------ reruns of the same date


def azure_october(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
    """The sample's Microsoft rows as the next month's export: charges 30 days later,
    billing period October 2024."""
    col = {name: i for i, name in enumerate(header)}
    october = []
    for row in rows:
        if row[col["ProviderName"]] != "Microsoft":
            continue
        row = list(row)
        for name in ("ChargePeriodStart", "ChargePeriodEnd"):
            moved = datetime.fromisoformat(row[col[name]]) + timedelta(days=30)
            row[col[name]] = moved.strftime("%Y-%m-%d %H:%M:%S")
        row[col["BillingPeriodStart"]] = "2024-10-01 00:00:00"
        row[col["BillingPeriodEnd"]] = "2024-11-01 00:00:00"
        october.append(row)
    return header, october


def plus_totals(*parts: dict) -> dict:
    """(provider, currency) -> (billed, effective), summed over several files' totals."""
    out: dict = {}
    for totals in parts:
        for key, (billed, effective) in totals.items():
            b, e = out.get(key, (Decimal(0), Decimal(0)))
            out[key] = (b + billed, e + effective)
    return out


def mart_totals(home: Path) -> dict:
    rows = fetch(
        home / "data" / "finops_serving.duckdb",
        "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs group by all",
    )
    return cents({(p, c): (b, e) for p, c, b, e in rows})


def step_line(output: str, step: str) -> str:
    """The end-of-run line of one step (`load focus`, `dbt build`, `export` ...)."""
    return next(line for line in output.splitlines() if line.strip().startswith(step + " "))


def left_out_nodes(home: Path) -> set[str]:
    """The nodes the last dbt build of `home` was told to leave out (its --exclude)."""
    header = [
        line
        for line in (home / "logs" / "dbt_output.log").read_text().splitlines()
        if line.startswith("===== ") and " dbt build " in line
    ][-1]
    words = header.split("; then ")[0].split()
    if "--exclude" not in words:
        return set()
    return set(words[words.index("--exclude") + 1 :])


def built_tables(db_path: Path) -> list[str]:
    return [
        f"{schema}.{name}"
        for schema, name in fetch(
            db_path,
            "select table_schema, table_name from information_schema.tables "
            "where table_schema in ('staging', 'intermediate', 'marts') "
            "and table_type = 'BASE TABLE' order by all",
        )
    ]


def differences_from_a_full_refresh(db_path: Path, work_dir: Path, tables: list[str]) -> dict:
    """Rows of `tables` (every column but the build watermark) that a copy of the warehouse
    rebuilt with `dbt build --full-refresh` does not have, and the other way round."""
    full = copy_warehouse(db_path, work_dir / "full_refresh")
    dbt_build(full, work_dir, "--full-refresh")
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        con.execute(f"attach '{full}' as full_refresh (read_only)")
        out = {}
        for table in tables:
            schema, name = table.split(".")
            columns = ", ".join(
                f'"{column}"'
                for (column,) in con.execute(
                    "select column_name from information_schema.columns where table_schema = ? "
                    "and table_name = ? and table_catalog = current_database() "
                    "and column_name != '_loaded_through' order by ordinal_position",
                    [schema, name],
                ).fetchall()
            )
            mine, theirs = (
                f"select {columns} from {table}",
                f"select {columns} from full_refresh.{table}",
            )
            [(only_daily,)] = con.execute(
                f"select count(*) from ({mine} except all {theirs})"
            ).fetchall()
            [(only_full,)] = con.execute(
                f"select count(*) from ({theirs} except all {mine})"
            ).fetchall()
            [(rows,)] = con.execute(f"select count(*) from {table}").fetchall()
            out[table] = (rows > 0, only_daily, only_full)
        return out
    finally:
        con.close()


def test_a_rerun_imports_new_and_changed_files_and_force_reimports_every_file(
    parquet_run: tuple[Path, subprocess.CompletedProcess], tmp_path: Path
):
    # GIVEN the date run on the sample (Parquet), in the folder FINOPS_FOCUS_PATH names
    home, first = parquet_run
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    exports = home / "exports"
    settings = {"FINOPS_SOURCES": "focus", "FINOPS_FOCUS_PATH": str(exports)}
    manifest = home / "data" / "exports" / "processed" / RUN_DATE.isoformat() / "_manifest.json"

    def run(*extra: str, **env: str) -> subprocess.CompletedProcess:
        done = run_cli(home, "run", "--date", RUN_DATE.isoformat(), *extra, **settings, **env)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        return done

    # WHEN the same command runs again with the folder unchanged
    again = run()
    # THEN nothing runs, and every step says it was already complete
    assert "Already complete" in again.stdout
    for step in ("load focus", "dbt build", "export", "report"):
        assert "already complete" in step_line(again.stdout, step), again.stdout
    build_1 = json.loads(manifest.read_text())["build_id"]

    # WHEN a new month file (an Azure export of October) lands in the same folder and the
    # same command runs again
    october = exports / "FOCUS_1_0_AZURE" / "BILLING_PERIOD=2024-10" / "part-00000.csv"
    altered_copy(october, azure_october)
    second = run()

    # THEN only the new file was read, its billing period landed, the day rebuilt, exported
    # and reported again, and the marts hold both files to the cent
    load_line = step_line(second.stdout, "load focus")
    assert "loaded" in load_line and "1 billing period(s) landed" in load_line, load_line
    assert "(1 of 2 file(s) read)" in load_line, load_line
    assert step_line(second.stdout, "dbt build").split()[2] == "built", second.stdout
    # ... by a build that left out what no FOCUS load reaches: the Cost Explorer and Cost
    # Management models and tests, the seeds, the allocation models (no key configured)
    left_out = left_out_nodes(home)
    assert "nodes no load reached left out" in step_line(second.stdout, "dbt build")
    assert {
        "finops.staging.aws_cost_explorer.stg_aws_cost_explorer__costs",
        "finops.intermediate.costs.int_azure_costs_pivoted",
        "finops.fx_rates",
        "finops.marts.allocation.fct_cost_allocation",
    } <= left_out, sorted(left_out)
    assert not {
        n for n in left_out if "focus_files" in n or "focus_costs" in n or "fct_daily_costs" in n
    }
    build_2 = json.loads(manifest.read_text())["build_id"]
    assert build_2 != build_1
    assert mart_totals(home) == cents(plus_totals(file_totals(SAMPLE), file_totals(october)))
    assert ("Azure", "focus_files", date(2024, 10, 19)) in fetch(
        home / "data" / "finops_serving.duckdb",
        "select provider_name, source_name, latest_charge_date from marts.fct_load_freshness",
    )

    # WHEN that export is restated (one charge changes) and the date runs again
    header, rows = read_rows(october)
    col = {name: i for i, name in enumerate(header)}
    for name in ("BilledCost", "EffectiveCost"):
        rows[0][col[name]] = str(amount(rows[0][col[name]]) + Decimal("125.50"))
    write_rows(october, header, rows)
    third = run()

    # THEN that period alone was re-landed and the marts follow the changed file
    load_line = step_line(third.stdout, "load focus")
    assert "1 billing period(s) landed" in load_line and "(1 of 2 file(s) read)" in load_line
    restated = cents(plus_totals(file_totals(SAMPLE), file_totals(october)))
    assert mart_totals(home) == restated
    assert json.loads(manifest.read_text())["build_id"] != build_2
    warehouse = home / "data" / "finops.duckdb"
    raw_rows = fetch(warehouse, "select count(*) from raw.focus_costs")[0][0]
    # AND the incremental daily builds (a new period, then a restated one) left the FOCUS
    # tables and the marts equal to a full refresh of the same warehouse, row for row
    tables = [
        "staging.stg_focus_files__costs",
        "intermediate.int_focus_costs_aggregated",
        "intermediate.int_cloud_costs_unioned",
        "marts.fct_daily_costs",
    ]
    # ... and so did every other table, the ones those builds left out included
    others = [t for t in built_tables(warehouse) if t not in tables]
    assert differences_from_a_full_refresh(warehouse, tmp_path, tables + others) == {
        **{table: (True, 0, 0) for table in tables},
        **{table: (ANY, 0, 0) for table in others},
    }

    # WHEN the date is forced
    fourth = run("--force")

    # THEN every file was read and every billing period re-landed, replacing itself: the
    # marts equal the files to the cent, no row doubled
    load_line = step_line(fourth.stdout, "load focus")
    assert "5 billing period(s) landed, 0 unchanged (2 of 2 file(s) read)" in load_line, load_line
    assert mart_totals(home) == restated
    assert fetch(warehouse, "select count(*) from raw.focus_costs")[0][0] == raw_rows
    forced = fetch(
        warehouse,
        "select row_count, replaced_row_count from raw.load_ledger "
        "qualify row_number() over (partition by scope order by started_at desc) = 1",
    )
    assert len(forced) == 5 and all(new == replaced for new, replaced in forced), forced

    # WHEN the October export is restated again and the date runs with an allocation key
    # configured (a setting dbt reads)
    rows[0][col["BilledCost"]] = str(amount(rows[0][col["BilledCost"]]) + Decimal("1"))
    write_rows(october, header, rows)
    tagged = run(FINOPS_ALLOCATION_TAGS="environment")
    # THEN that build ran every node (not the ones the load reaches only): the allocation
    # marts hold the FOCUS rows' tags, and reconcile to the daily costs
    assert "left out" not in step_line(tagged.stdout, "dbt build"), tagged.stdout
    assert not left_out_nodes(home)
    assert fetch(
        warehouse,
        "select count(*) from marts.fct_cost_allocation where allocation_key = 'environment'",
    )[0][0]
    dbt_log = (home / "logs" / "dbt_output.log").read_text()
    assert "PASS assert_fct_cost_allocation_reconciles" in dbt_log.rsplit("===== ", 1)[-1]
