"""The `finops` console script as a user (or cron) runs it: a real process, real exit codes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from finops_testing import FIXED_RUN_DATE, finops_env

FINOPS = str(Path(sys.executable).with_name("finops"))


def run_cli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}
    return subprocess.run(
        [FINOPS, *args],
        env={**clean, **finops_env(home, **env)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_sql_answers_from_the_marts(built_home: Path, built_warehouse: Path):
    # GIVEN a built warehouse
    con = duckdb.connect(str(built_warehouse), read_only=True)
    expected = con.execute(
        "select provider_name, round(sum(billed_cost_reporting), 2) from marts.fct_daily_costs "
        "group by 1 order by 1"
    ).fetchall()
    con.close()

    # WHEN a user queries the marts through `finops sql` as CSV
    proc = run_cli(
        built_home,
        "sql",
        "select provider_name, round(sum(billed_cost_reporting), 2) as cost "
        "from marts.fct_daily_costs group by 1 order by 1",
        "--format",
        "csv",
    )

    # THEN the figures are the marts' figures
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.reader(io.StringIO(proc.stdout)))
    assert rows[0] == ["provider_name", "cost"]
    assert [(r[0], Decimal(r[1])) for r in rows[1:]] == [(p, Decimal(c)) for p, c in expected]


def test_sql_errors_are_reported_not_raised(built_home: Path):
    proc = run_cli(built_home, "sql", "select * from marts.no_such_table")
    assert proc.returncode == 2
    assert "no_such_table" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_run_of_a_completed_date_is_a_quick_no_op_with_exit_0(built_home: Path):
    # GIVEN a date the pipeline already completed
    history = (built_home / "logs" / "execution_history.json").read_text()

    # WHEN cron runs it again
    proc = run_cli(built_home, "run", "--date", FIXED_RUN_DATE.isoformat())

    # THEN it exits 0 and appends nothing
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "complete" in proc.stdout.lower()
    assert (built_home / "logs" / "execution_history.json").read_text() == history


@pytest.mark.parametrize(
    ("variable", "value", "says"),
    [
        pytest.param("FINOPS_SOURCES", "simulated,gcp", "unknown source", id="unknown source"),
        pytest.param(
            "FINOPS_SOURCES", "simulated,aws", "would be added", id="demo mixed with real costs"
        ),
        pytest.param("FINOPS_HISTORY_DAYS", "half a year", "whole number", id="not a number"),
        pytest.param("FINOPS_REPORTING_CURRENCY", "dollars", "ISO 4217", id="not a currency"),
    ],
)
def test_bad_settings_exit_2_naming_the_variable(tmp_path: Path, variable, value, says):
    proc = run_cli(tmp_path, "run", **{variable: value})
    assert proc.returncode == 2
    assert variable in proc.stderr and says in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()  # nothing was started
