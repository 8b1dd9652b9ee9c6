"""Helpers shared by the tests (importable as `finops_testing`; conftest holds fixtures)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import luigi
import pytest

from finops import dbt_runner
from finops.settings import DBT_PROFILES_DIR, DBT_PROJECT_DIR, load_settings

# A run date far enough in the past that every simulated day is final (not estimated), so
# figures do not depend on the day the suite runs.
FIXED_RUN_DATE = date(2026, 7, 1)


def finops_env(home: Path, **overrides: str) -> dict[str, str]:
    """The environment of one isolated finops installation rooted at `home`."""
    env = {
        "FINOPS_HOME": str(home),
        "FINOPS_SOURCES": "simulated",
        "DO_NOT_TRACK": "1",
    }
    env.update(overrides)
    return env


def run_pipeline(run_date: date) -> luigi.execution_summary.LuigiRunResult:
    """Run DailyPipeline(run_date) in-process with the local scheduler, as cron would."""
    from pipelines import DailyPipeline

    return luigi.build(
        [DailyPipeline(date=run_date)],
        local_scheduler=True,
        workers=1,
        detailed_summary=True,
        log_level="WARNING",
    )


def copy_warehouse(source: Path, folder: Path) -> Path:
    """A copy of the warehouse file `source` (and its WAL, if any) as `folder`/finops.duckdb:
    the name the pipeline's warehouse has, so dbt on the copy shares the suite's parse."""
    folder.mkdir(parents=True, exist_ok=True)
    copy = folder / "finops.duckdb"
    for suffix in ("", ".wal"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
    return copy


# The output of the suite's one full `dbt parse` (tests/conftest.py, shared_dbt_parse),
# beside its target/ folder
PARSE_OUTPUT = "parse_output.log"


def dbt_env(db_path: Path, **settings: str) -> dict[str, str]:
    """dbt's environment for the warehouse `db_path` as the pipeline gives it (paths
    relative to the warehouse's folder, which dbt runs in), with FINOPS_* `settings` on top
    of the defaults: so a test's own dbt starts from the suite's shared parse
    (tests/conftest.py) like the pipeline's."""
    with pytest.MonkeyPatch.context() as mp:
        for name in [n for n in os.environ if n.startswith("FINOPS_")]:
            mp.delenv(name)
        for name, value in {"FINOPS_DUCKDB_PATH": str(db_path), **settings}.items():
            mp.setenv(name, value)
        dbt_settings = load_settings(db_path.parent / ".env")
    return dbt_runner.dbt_env(
        dbt_settings,
        db_path.parent,
        FINOPS_DBT_WINDOW_START=settings.get("FINOPS_DBT_WINDOW_START", ""),
        DO_NOT_TRACK="1",
    )


def dbt(db_path: Path, work_dir: Path, *args: str, **settings: str) -> subprocess.CompletedProcess:
    """`dbt ARGS` of the project on the warehouse `db_path` (artifacts in work_dir/target,
    log in work_dir/logs), with the pipeline's environment (`dbt_env`) and in the folder
    the pipeline runs dbt in; the caller checks the outcome (exit code 0, 1 when a node
    failed, 2 when dbt could not run, and dbt's output)."""
    command = [
        *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROFILES_DIR),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
    ]  # fmt: skip
    return dbt_in_this_process(command, dbt_env(db_path, **settings), db_path.parent)


def dbt_in_this_process(
    args: list[str], env: dict[str, str], cwd: Path
) -> subprocess.CompletedProcess:
    """dbt ARGS through dbt's programmatic entry point (`dbtRunner`, as finops/dbt_child.py
    runs the pipeline's commands), in this pytest process with exactly `env` as its
    environment and `cwd` as its folder for the call. A dbt child process would pay
    Python's start-up, dbt's imports and the partial parse's load again (about 3 of a small
    command's 4.5 CPU s); the suite's own dbt commands (fixture builds, `dbt test`, `dbt
    show`) are some 25, on 2 cores. The pipeline's dbt stays a child process: the tests of
    `finops run` and Luigi see it as users do."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager
    from dbt.cli.main import dbtRunner

    from finops.dbt_child import exit_code

    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    out, err = io.StringIO(), io.StringIO()
    os.environ.clear()
    os.environ.update(env)
    os.chdir(cwd)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            result = dbtRunner().invoke(list(args))
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        # dbt-duckdb keeps its DuckDB instance open for the process (`keep_open`, its
        # default): a dbt process frees the warehouse when it exits; here it is closed the
        # way dbt-duckdb closes it before it opens another database
        with DuckDBConnectionManager._LOCK:
            if DuckDBConnectionManager._ENV is not None:
                DuckDBConnectionManager._ENV.close()
                DuckDBConnectionManager._ENV = None
    if result.exception is not None:
        err.write(f"{type(result.exception).__name__}: {result.exception}\n")
    return subprocess.CompletedProcess(
        ["dbt", *args], exit_code(result), out.getvalue(), err.getvalue()
    )


def processes_of(home: Path) -> list[str]:
    """Every live process whose environment names this FINOPS_HOME (finops, its dbt child,
    Luigi's manager process, a Streamlit server)."""
    needle = f"FINOPS_HOME={home}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                found.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except OSError:
            continue
    return found
