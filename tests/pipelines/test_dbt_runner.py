"""finops.dbt_runner: several dbt commands in one dbt process (finops/dbt_child.py), as
DbtBuild runs its build and then the source-freshness check."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from finops_testing import processes_of

from finops.dbt_runner import WAIT, run_dbt, start_run_dbt_ahead
from finops.settings import load_settings
from loaders import warehouse

WINDOW_QUERY = "select '{{ window_start() }}' as window_start"


def waiting_children(home: Path) -> list[str]:
    """The dbt children of this FINOPS_HOME that wait for their commands."""
    return [p for p in processes_of(home) if WAIT in p]


def parsed_runs(settings) -> int:
    """How many dbt invocations dbt's file log holds (a parse or a command each)."""
    log = settings.log_dir / "dbt" / "dbt.log"
    return log.read_text().count("Running with dbt=") if log.exists() else 0


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


def test_dbt_started_ahead_parses_without_the_warehouse_and_runs_with_the_window_given_later(
    finops_home: Path, caplog: pytest.LogCaptureFixture
):
    settings = load_settings()
    # GIVEN dbt started ahead of a build (as a load does), and done parsing
    start_run_dbt_ahead(settings)
    deadline = time.monotonic() + 120
    while (
        parsed_runs(settings) < 1
        or "Performance info" not in (settings.log_dir / "dbt" / "dbt.log").read_text()
    ):
        assert time.monotonic() < deadline, "dbt started ahead never parsed the project"
        time.sleep(0.1)
    assert len(waiting_children(finops_home)) == 1
    # THEN the warehouse is the loader's to write meanwhile: the waiting dbt holds no lock
    con = warehouse.connect_writer(settings.duckdb_path, retry_s=0)
    try:
        con.execute("create table main.landed_meanwhile as select 1 as one")
    finally:
        con.close()

    # WHEN the build comes with its window (read by the project at run time only)
    with caplog.at_level(logging.INFO, logger="finops.pipeline"):
        run_dbt(
            settings,
            ["show", "--inline", WINDOW_QUERY, "--output", "json"],
            window_start="2026-11-01",
        )
    # THEN the child started ahead ran it, with that window, and no other dbt started
    assert "started and parsed during the loads" in caplog.text
    output = (settings.log_dir / "dbt_output.log").read_text()
    assert '"window_start": "2026-11-01"' in output
    assert parsed_runs(settings) == 2  # its parse, then the command: no second start-up
    assert waiting_children(finops_home) == []


def test_dbt_started_ahead_for_other_settings_is_stopped_and_not_used(
    finops_home: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    # GIVEN dbt started ahead, then a setting dbt reads changed before the build
    start_run_dbt_ahead(load_settings())
    assert len(waiting_children(finops_home)) == 1
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", "team")
    settings = load_settings()
    # WHEN the build runs
    with caplog.at_level(logging.INFO, logger="finops.pipeline"):
        run_dbt(settings, ["show", "--inline", WINDOW_QUERY, "--output", "json"])
    # THEN it ran in a dbt of its own (the one started ahead parsed with other settings),
    # without a window, and the one started ahead is gone
    assert "started and parsed during the loads" not in caplog.text
    assert '"window_start": "None"' in (settings.log_dir / "dbt_output.log").read_text()
    assert waiting_children(finops_home) == []
