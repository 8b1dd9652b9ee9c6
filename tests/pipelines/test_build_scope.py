"""Which nodes a daily build leaves out (pipelines/build_scope.py), planned on a real built
warehouse and its recorded manifest: the simulated source's first DailyPipeline run.

The end-to-end proof that what is left out holds what a full build would write is in
tests/pipelines/test_focus_pipeline.py (FOCUS-only daily builds, every table against a full
refresh) and tests/dbt/test_incremental.py covers the days; these tests pin the rules."""

from __future__ import annotations

import json
import os
import shutil
from datetime import date
from pathlib import Path

import pytest
from finops_testing import finops_env

from finops.settings import load_settings
from loaders import warehouse
from pipelines import build_scope
from pipelines.build_tasks import build, plan_build

AWS_STAGING = "finops.staging.aws_cost_explorer.stg_aws_cost_explorer__costs"
FOCUS_STAGING = "finops.staging.focus_files.stg_focus_files__costs"
DAILY_MART = "finops.marts.costs.fct_daily_costs"
FRESHNESS_MART = "finops.marts.operations.fct_load_freshness"
RESTATEMENTS_MART = "finops.marts.operations.fct_cost_restatements"
ALLOCATION_MART = "finops.marts.allocation.fct_cost_allocation"
FX_SEED = "finops.fx_rates"


@pytest.fixture
def home_copy(built_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the built home's warehouse and build record, with its settings."""
    home = tmp_path / "home"
    (home / "data" / "dbt").mkdir(parents=True)
    shutil.copyfile(built_home / "data" / "finops.duckdb", home / "data" / "finops.duckdb")
    shutil.copyfile(
        built_home / "data" / "dbt" / "build_scope.json", home / "data" / "dbt" / "build_scope.json"
    )
    for name in [n for n in os.environ if n.startswith("FINOPS_")]:
        monkeypatch.delenv(name)
    for name, value in finops_env(home).items():
        monkeypatch.setenv(name, value)
    return home


def recorded_nodes(home: Path) -> dict[str, dict]:
    state = json.loads((home / "data" / "dbt" / "build_scope.json").read_text())
    return {entry["selector"]: entry for entry in state["nodes"].values()}


def land_nothing(home: Path) -> None:
    """A succeeded FOCUS load through the one writer (an empty billing period)."""
    warehouse.replace_window(
        home / "data" / "finops.duckdb",
        raw_table="focus_costs",
        source="focus_files",
        scope="AWS/111122223333@2026-03-01",
        window_start=date(2026, 3, 1),
        window_end=date(2026, 4, 1),
        rows=[],
        provider_name="AWS",
        billing_account_id="111122223333",
        billing_period_start=date(2026, 3, 1),
    )


def test_the_record_names_each_nodes_raw_inputs(built_home: Path):
    nodes = recorded_nodes(built_home)
    assert nodes[AWS_STAGING]["raw"] == ["raw.aws_cost_explorer"]
    assert {"raw.aws_cost_explorer", "raw.azure_cost_management", "raw.focus_costs"} <= set(
        nodes[DAILY_MART]["raw"]
    )
    assert nodes[DAILY_MART]["relation"] == "marts.fct_daily_costs"
    # the ledgers are no cost input (every incremental model reads the load ledger for its
    # window): a mart of the ledgers alone is `ledger_only`, one that also reads costs is not
    assert nodes[RESTATEMENTS_MART]["raw"] == [] and nodes[RESTATEMENTS_MART]["ledger_only"]
    assert nodes[FRESHNESS_MART]["raw"] and not nodes[FRESHNESS_MART]["ledger_only"]
    assert "raw.load_ledger" not in nodes[DAILY_MART]["raw"]
    assert nodes[FX_SEED] == {
        "selector": FX_SEED,
        "raw": [],
        "ledger_only": False,
        "allocation": False,
    }
    assert nodes[ALLOCATION_MART]["allocation"] and not nodes[DAILY_MART]["allocation"]
    # every data test is there, with the inputs of the relations it reads
    tests = [e for s, e in nodes.items() if "reconcile" in s]
    assert tests and all(e["raw"] or e["ledger_only"] for e in tests)
    # ... the API usage's reconciliation reads the ledger alone: it runs on every build
    [usage] = [
        e for s, e in nodes.items() if s.endswith("assert_fct_api_usage_reconciles_to_ledger")
    ]
    assert usage["raw"] == [] and usage["ledger_only"]


def test_a_daily_build_leaves_out_what_the_new_loads_do_not_reach(home_copy: Path):
    settings = load_settings()
    # GIVEN a FOCUS load since the last build (and none of the other sources)
    land_nothing(home_copy)

    window_start, scope = plan_build(settings)

    # THEN the FOCUS models and everything downstream run, the ledgers' marts too
    assert window_start == "2026-03-01"
    left_out = set(scope.left_out)
    assert not {FOCUS_STAGING, DAILY_MART, FRESHNESS_MART, RESTATEMENTS_MART} & left_out
    # ... the Cost Explorer staging, the seeds and (no key configured) the allocation do not
    assert {AWS_STAGING, FX_SEED, ALLOCATION_MART} <= left_out
    assert "staging.stg_aws_cost_explorer__costs" in scope.left_out_relations
    assert scope.exclude_args()[0] == "--exclude"


def test_a_build_of_the_recorded_project_writes_no_manifest_and_keeps_the_node_map(
    home_copy: Path,
):
    settings = load_settings()
    state_file = home_copy / "data" / "dbt" / "build_scope.json"
    before = json.loads(state_file.read_text())
    target = home_copy / "data" / "dbt" / "target"
    # GIVEN a FOCUS load since the last build, of this very project
    land_nothing(home_copy)

    # WHEN the daily build runs
    summary = build(settings)

    # THEN dbt wrote no manifest (about 1 s of every run), but the build's results and its
    # freshness check's are there, as dbt writes them
    assert not (target / "manifest.json").exists()
    results = json.loads((target / "run_results.json").read_text())
    ran = {r["unique_id"] for r in results["results"]}
    assert "model.finops.fct_daily_costs" in ran
    assert "model.finops.stg_aws_cost_explorer__costs" not in ran  # left out
    assert summary["counts"].get("success", 0) > 0 and set(summary["counts"]) <= {
        "success",
        "pass",
        "no-op",
    }
    freshness = json.loads((target / "sources.json").read_text())
    assert {r["unique_id"] for r in freshness["results"]} >= {"source.finops.finops.load_ledger"}
    # ... and the record keeps the node map, at the new ledger mark
    after = json.loads(state_file.read_text())
    assert after["nodes"] == before["nodes"]
    assert after["fingerprint"] == before["fingerprint"]
    assert after["ledger_mark"] > before["ledger_mark"]


def test_nothing_is_left_out_when_the_settings_dbt_reads_change(
    home_copy: Path, monkeypatch: pytest.MonkeyPatch
):
    land_nothing(home_copy)
    # WHEN an allocation key is configured after the last build
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", "team")
    _, scope = plan_build(load_settings())
    # THEN every node runs, and the reason says why
    assert scope.left_out == [] and "changed" in scope.reason

    # WHEN the record was of a build with that key (the next day, same settings)
    state_file = home_copy / "data" / "dbt" / "build_scope.json"
    state = json.loads(state_file.read_text())
    state["fingerprint"] = build_scope.project_fingerprint(load_settings())
    state_file.write_text(json.dumps(state))
    _, scope = plan_build(load_settings())
    # THEN the allocation models run with the FOCUS load (they hold rows with a key)
    assert ALLOCATION_MART not in scope.left_out and AWS_STAGING in scope.left_out


def test_every_node_runs_without_a_record_or_after_the_ledger_went_back(home_copy: Path):
    state_file = home_copy / "data" / "dbt" / "build_scope.json"
    state = json.loads(state_file.read_text())
    # a restored older warehouse: its ledger ends before the recorded build
    state["ledger_mark"] = "2999-01-01T00:00:00"
    state_file.write_text(json.dumps(state))
    _, scope = plan_build(load_settings())
    assert scope.left_out == [] and "older" in scope.reason

    state_file.unlink()
    _, scope = plan_build(load_settings())
    assert scope.left_out == [] and "no record" in scope.reason
