"""finops.dbt_runner: several dbt commands in one dbt process (finops/dbt_child.py), as
DbtBuild runs its build and then the source-freshness check."""

from __future__ import annotations

from pathlib import Path

import pytest

from finops.dbt_runner import run_dbt
from finops.settings import load_settings


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
