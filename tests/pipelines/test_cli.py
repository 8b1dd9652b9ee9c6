"""The `finops` console script as a user (or cron) runs it: a real process, real exit codes."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from finops_testing import FIXED_RUN_DATE, copy_warehouse, dbt, finops_env

FINOPS = str(Path(sys.executable).with_name("finops"))
REPO_ROOT = Path(__file__).resolve().parents[2]


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


# ------------------------------------------------------------------ finops sql is read-only


def file_digest(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize(
    "statement",
    [
        pytest.param("copy (select 'oops' as x) to '{warehouse}' (format csv)", id="copy to"),
        pytest.param("attach '{warehouse}' as w", id="attach"),
        pytest.param("install httpfs", id="install"),
        pytest.param("select * from read_csv('{warehouse}')", id="read a file"),
        pytest.param("set enable_external_access = true", id="unlock"),
        pytest.param("create table marts.x as select 1 as y", id="write"),
    ],
)
def test_sql_refuses_to_write_or_reach_any_file(built_home: Path, statement: str):
    # GIVEN the built warehouse and its published marts
    warehouse = built_home / "data" / "finops.duckdb"
    serving = built_home / "data" / "finops_serving.duckdb"
    before = (file_digest(warehouse), file_digest(serving))

    # WHEN a statement that would write or reach another file is sent through `finops sql`
    proc = run_cli(built_home, "sql", statement.format(warehouse=warehouse))

    # THEN it is refused with exit 2 and one clear message, and both files are unchanged
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and proc.stderr.strip()
    assert (file_digest(warehouse), file_digest(serving)) == before


def test_sql_empty_query_and_row_limits(built_home: Path):
    # an empty query is a usage error, not a crash
    empty = run_cli(built_home, "sql", "  ")
    assert empty.returncode == 2 and "query is empty" in empty.stderr, empty.stderr
    # a large result prints --max-rows rows and says there are more
    table = run_cli(built_home, "sql", "select * from range(550000)", "--max-rows", "5")
    assert table.returncode == 0, table.stderr
    lines = table.stdout.strip().splitlines()
    assert len(lines) == 1 + 5 + 1 and "first 5 rows shown" in lines[-1], table.stdout
    # csv streams every row unless limited
    every = run_cli(built_home, "sql", "select * from range(550000)", "--format", "csv")
    assert every.returncode == 0 and len(every.stdout.splitlines()) == 1 + 550000
    some = run_cli(
        built_home, "sql", "select * from range(10)", "--format", "csv", "--max-rows", "3"
    )
    assert some.stdout.splitlines() == ["range", "0", "1", "2"]


# ------------------------------------------------------------------ settings checked up front


@pytest.mark.parametrize(
    ("args", "env", "says"),
    [
        pytest.param(
            ("run", "--date", "2026-07-01"),
            {"FINOPS_REPORTING_CURRENCY": "XYZ"},
            "FINOPS_REPORTING_CURRENCY=XYZ",
            id="currency without rates",
        ),
        pytest.param(
            ("run", "--date", "2099-03-01"),
            {},
            "--date 2099-03-01 is in the future",
            id="future date",
        ),
        pytest.param(
            ("backfill", "--start", "2022-10-01", "--end", "2022-11-29"),
            {},
            "begin on 2023-01-01",
            id="backfill before the fx rates",
        ),
        pytest.param(
            ("run", "--date", "2023-03-01"),
            {},
            "FINOPS_HISTORY_DAYS",
            id="history before the fx rates",
        ),
    ],
)
def test_a_run_that_would_fail_is_refused_before_anything_is_loaded(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str], says: str
):
    # WHEN a run is started with a setting or date the build could not survive
    proc = run_cli(tmp_path, *args, **env)

    # THEN it exits 2 with one line naming it, and nothing was written
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert says in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()


def test_a_bad_allocation_rules_file_is_refused_naming_its_line_before_anything_is_loaded(
    tmp_path: Path,
):
    # GIVEN a rules file (relative: read from FINOPS_HOME) whose line 3 maps an account to a
    # number YAML does not read as text
    rules = tmp_path / "allocation.yml"
    rules.write_text('keys:\n  team:\n    account_map: {"111122223333": 4711}\n')

    # WHEN the daily run starts
    proc = run_cli(
        tmp_path,
        "run",
        "--date",
        "2026-07-01",
        FINOPS_ALLOCATION_TAGS="team",
        FINOPS_ALLOCATION_RULES="allocation.yml",
    )

    # THEN it exits 2 with one line naming the file and the line, and nothing was loaded
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.strip() == (
        f"finops: {rules}:3: the value of '111122223333' must be quoted (\"4711\"): YAML "
        "reads 4711 as a number, not as text"
    )
    assert not (tmp_path / "data").exists() and not (tmp_path / "logs").exists()


def test_a_home_that_is_a_file_is_refused_in_one_line(tmp_path: Path):
    home = tmp_path / "not-a-folder"
    home.write_text("I am a file")
    proc = run_cli(home, "run", "--date", "2026-07-01")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "FINOPS_HOME" in proc.stderr and "is a file, not a folder" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_a_damaged_warehouse_fails_in_one_line_saying_what_to_do(tmp_path: Path):
    # GIVEN a warehouse file that is not a DuckDB database any more (truncated, overwritten)
    warehouse = tmp_path / "data" / "finops.duckdb"
    warehouse.parent.mkdir(parents=True)
    warehouse.write_bytes(b"x\noops\n")

    # WHEN the daily run starts
    proc = run_cli(tmp_path, "run", "--date", "2026-07-01")

    # THEN it fails with one line naming the file and the way out; the traceback is in the log
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert str(warehouse) in proc.stderr and "damaged or not a DuckDB file" in proc.stderr
    assert "move it aside and rerun" in proc.stderr
    assert "Traceback" in (tmp_path / "logs" / "pipeline.log").read_text()
    assert warehouse.read_bytes() == b"x\noops\n"  # left as it was, for the user to inspect


def test_a_warehouse_held_by_another_process_fails_in_one_line(tmp_path: Path):
    # GIVEN another process (this test) holding the warehouse open for writing
    warehouse = tmp_path / "data" / "finops.duckdb"
    warehouse.parent.mkdir(parents=True)
    holder = duckdb.connect(str(warehouse))
    try:
        # WHEN the daily run starts
        proc = run_cli(tmp_path, "run", "--date", "2026-07-01")
    finally:
        holder.close()

    # THEN one line says which process holds it and what to do
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert f"is open for writing in another process (pid {os.getpid()})" in proc.stderr


def test_verify_tests_all_history_where_a_daily_build_tests_only_its_window(
    built_home: Path, tmp_path: Path
):
    # GIVEN a copy of a built warehouse
    home = tmp_path / "home"
    copy_warehouse(built_home / "data" / "finops.duckdb", home / "data")

    # WHEN `finops verify` runs on it THEN every test passes
    clean = run_cli(home, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "every test over all history" in clean.stdout and " pass" in clean.stdout

    # GIVEN a doubled row on the oldest day, which no daily build revisits
    warehouse = home / "data" / "finops.duckdb"
    con = duckdb.connect(str(warehouse))
    try:
        [(oldest,)] = con.execute("select min(charge_date) from marts.fct_daily_costs").fetchall()
        con.execute(
            "insert into marts.fct_daily_costs select * from marts.fct_daily_costs "
            "where charge_date = ? limit 1",
            [oldest],
        )
    finally:
        con.close()

    # WHEN the mart's column-values test (its key among them) runs scoped to a later window, as in a daily build (with the
    # environment and target folder of the verify above: dbt parses only what changed)
    window = (oldest + timedelta(days=1)).isoformat()
    target = home / "data" / "dbt" / "target"
    scoped = dbt(
        warehouse,
        target.parent,
        "test",
        "--select",
        "column_values_fct_daily_costs_",
        FINOPS_DBT_WINDOW_START=window,
    )
    # THEN it does not see the old day ...
    assert scoped.returncode == 0, scoped.stdout[-3000:]
    assert (
        f">= cast('{window}' as date)"
        in (next((target / "compiled").rglob("column_values_fct_daily_costs_.sql"))).read_text()
    )
    # ... and `finops verify` does, names the test and exits 1
    broken = run_cli(home, "verify")
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "column_values_fct_daily_costs_" in broken.stderr
