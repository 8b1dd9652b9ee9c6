"""finops.dbt_runner: several dbt commands in one dbt process (finops/dbt_child.py), as
DbtBuild runs its build and then the source-freshness check."""

from __future__ import annotations

from pathlib import Path

import pytest

from finops.dbt_runner import run_dbt
from finops.settings import load_settings
from loaders import warehouse


def test_commands_after_the_first_run_in_its_process_and_report_their_failure(
    finops_home: Path,
):
    settings = load_settings()
    # GIVEN a first command that succeeds, then one that fails, then one that succeeds
    summary = run_dbt(
        settings,
        ["ls", "--resource-type", "source"],
        then=[["run-operation", "no_such_macro"], ["ls", "--resource-type", "seed"]],
    )
    # THEN the run is not failed by the later command: each one's exit code is reported
    assert summary["then_returncodes"][0] != 0
    assert summary["then_returncodes"][1] == 0
    # AND the three ran in one dbt process, each with its exit line
    output = (settings.log_dir / "dbt_output.log").read_text()
    assert output.count("finops-dbt-exit ") == 3
    assert "finops-dbt-exit 0 ls --resource-type source" in output
    assert "no_such_macro" in output


def test_a_failing_first_command_raises_and_nothing_runs_after_it(finops_home: Path):
    settings = load_settings()
    with pytest.raises(RuntimeError, match=r"dbt run-operation no_such_macro failed"):
        run_dbt(settings, ["run-operation", "no_such_macro"], then=[["ls"]])
    output = (settings.log_dir / "dbt_output.log").read_text()
    assert "finops-dbt-exit 0 ls" not in output
    assert output.count("finops-dbt-exit ") == 1


def test_duckdb_memory_limit_and_spill_folder_reach_dbt_and_the_writer(
    finops_home: Path, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN a memory limit and a spill folder for DuckDB
    spill = finops_home / "spill"
    monkeypatch.setenv("FINOPS_DUCKDB_MEMORY_LIMIT", "1GB")
    monkeypatch.setenv("FINOPS_DUCKDB_TEMP_DIR", str(spill))
    settings = load_settings()
    query = (
        "select current_setting('memory_limit') as memory_limit, "
        "current_setting('temp_directory') as temp_directory"
    )
    # THEN dbt's DuckDB connection has them
    run_dbt(settings, ["show", "--inline", query, "--output", "json"])
    output = (settings.log_dir / "dbt_output.log").read_text()
    assert '"memory_limit": "953.6 MiB"' in output  # 1 GB
    assert f'"temp_directory": "{spill}"' in output
    # AND so has the loaders' writer connection
    con = warehouse.connect_writer(settings.duckdb_path)
    try:
        assert con.execute(query).fetchone() == ("953.6 MiB", str(spill))
    finally:
        con.close()


def test_a_memory_limit_without_a_unit_is_refused(
    finops_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("FINOPS_DUCKDB_MEMORY_LIMIT", "6")
    with pytest.raises(ValueError, match=r"FINOPS_DUCKDB_MEMORY_LIMIT .* got '6'"):
        load_settings()
