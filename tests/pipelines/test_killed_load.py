"""A `finops run` killed with SIGKILL in the middle of a load, then rerun: no partial or
duplicated data, no stale lock.

Deterministic, without sleeps: the test takes part in the warehouse's writer lock (the file
lock every writing finops process takes, e.g. a backfill beside the cron run). It waits until
the run holds the lock (it is writing), queues for the lock behind it, and so gets it the
moment that write committed - before the run's next write of the same load can start. Holding
the lock, it reads the ledger (some of the load's scopes landed, not all) and kills the run.
The reference is `built_home`: a clean run of the same date and settings.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import duckdb
from finops_testing import FIXED_RUN_DATE, finops_env
from ops_scenario import FINOPS, REPO, clean_environ, query, run_cli

RAW_SQL = """
select 'aws' as t, _source, _scope, count(*) as rows, sum(unblended_cost) as billed,
       count(distinct (time_period_start, linked_account_id, service, region, record_type)) as keys
from raw.aws_cost_explorer group by all
union all
select 'azure', _source, _scope, count(*), sum(cost),
       count(distinct (usage_date, query_type, subscription_id, service_name, resource_location,
                       charge_type, currency))
from raw.azure_cost_management group by all
order by all
"""
MART_SQL = """
select provider_name, billing_currency, count(*), round(sum(billed_cost), 2),
       round(sum(effective_cost), 2), round(sum(billed_cost_reporting), 2)
from marts.fct_daily_costs group by all order by all
"""
KPI_SQL = "select * exclude (kpi_id) from marts.fct_cost_kpis order by provider_scope, cost_basis"
TIMEOUT_S = 180


def lock_is_held_by_another(handle) -> bool:
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    return False


def landed_scopes(warehouse: Path) -> int:
    """Succeeded loads in the ledger (the test holds the writer lock: nobody writes)."""
    if not warehouse.exists():
        return 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(
            "select count(*) from raw.load_ledger where status = 'succeeded'"
        ).fetchone()[0]
    finally:
        con.close()


def test_a_run_killed_mid_load_leaves_no_partial_or_duplicated_data(
    built_home: Path, tmp_path: Path
) -> None:
    # GIVEN a fresh FINOPS_HOME and a run of the same date as the clean reference run
    home = tmp_path
    env = {**clean_environ(), **finops_env(home)}
    warehouse = home / "data" / "finops.duckdb"
    lock_path = Path(f"{warehouse}.writer.lock")
    lock_path.parent.mkdir(parents=True)
    scopes_per_load = len(query(built_home / "data" / "finops.duckdb", RAW_SQL))  # 1 AWS + 4 Azure

    # WHEN `finops run` starts and is killed with SIGKILL between two writes of its load
    with open(home / "killed_run.log", "w") as out, open(lock_path, "a+") as lock:
        proc = subprocess.Popen(
            [FINOPS, "run", "--date", FIXED_RUN_DATE.isoformat()],
            env=env,
            cwd=REPO,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + TIMEOUT_S
        landed = 0
        try:
            while landed == 0:
                while not lock_is_held_by_another(lock):  # wait until the run is writing
                    assert proc.poll() is None, (home / "killed_run.log").read_text()
                    assert time.monotonic() < deadline, "the run never took the writer lock"
                    time.sleep(0.001)
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)  # queued: ours once that write ends
                landed = landed_scopes(warehouse)
                if landed == 0:
                    fcntl.flock(lock.fileno(), fcntl.LOCK_UN)
            os.killpg(proc.pid, signal.SIGKILL)  # while we hold the lock: between two writes
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    # THEN it died mid-load: some of the load's scopes landed, not all, and it left no target
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= landed < scopes_per_load, landed
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        records = con.execute(
            "select count(*) from information_schema.tables where table_schema = 'pipeline'"
        ).fetchone()[0]
    finally:
        con.close()
    assert records == 0  # no step of the date recorded: the rerun must load again
    assert not (home / "data" / "finops_serving.duckdb").exists()
    # and no lock outlives it: the writer lock is free, the warehouse opens
    with open(lock_path, "a+") as lock:
        assert not lock_is_held_by_another(lock)
    assert landed_scopes(warehouse) == landed

    # WHEN cron runs the date again
    rerun = run_cli(home, env, "run", "--date", FIXED_RUN_DATE.isoformat(), timeout=600)

    # THEN it completes, reloading the load the kill interrupted
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "ok  LoadSource" in rerun.stdout

    # THEN raw holds every row once - row counts, keys and amounts equal the clean run's to the
    # cent: the scopes the killed run landed were replaced, not added to
    clean = built_home / "data"
    assert query(warehouse, RAW_SQL) == query(clean / "finops.duckdb", RAW_SQL)
    replaced = query(
        warehouse,
        "select scope, row_count, replaced_row_count from raw.load_ledger "
        "where status = 'succeeded' order by started_at",
    )
    first, rerun_loads = replaced[:landed], replaced[landed:]
    assert len(rerun_loads) == scopes_per_load
    for scope, rows, _ in first:
        [(_, rerun_rows, rerun_replaced)] = [r for r in rerun_loads if r[0] == scope]
        assert rerun_replaced == rows == rerun_rows  # the killed run's rows, replaced 1:1

    # THEN the published marts equal the clean run's to the cent
    serving = home / "data" / "finops_serving.duckdb"
    assert query(serving, MART_SQL) == query(clean / "finops_serving.duckdb", MART_SQL)
    assert query(serving, KPI_SQL) == query(clean / "finops_serving.duckdb", KPI_SQL)
