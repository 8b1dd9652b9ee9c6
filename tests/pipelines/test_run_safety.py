"""Runs that hold under overlap and kills: one run at a time per warehouse, SIGTERM stopping
the run's children and recording it, the dashboard stopping whole. Real `finops` processes
on the simulated source (30 days of history to keep the builds short)."""

from __future__ import annotations

import fcntl
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from finops_testing import finops_env, processes_of

from pipelines import state

FINOPS = str(Path(sys.executable).with_name("finops"))
D1, D2 = date(2026, 7, 1), date(2026, 7, 2)
HISTORY = {"FINOPS_HISTORY_DAYS": "30"}


def environ(home: Path, **extra: str) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "AWS_"))}
    return {**clean, **finops_env(home, **HISTORY, **extra)}


def start(home: Path, *args: str, **extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [FINOPS, *args],
        env=environ(home, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def start_until_dbt_builds(home: Path) -> subprocess.Popen:
    """`finops run --date D1`, returned once its dbt build has been running for 2 s (the
    pipeline's log says it handed dbt the build; dbt itself started during the load)."""
    run = start(home, "run", "--date", D1.isoformat())
    deadline = time.monotonic() + 300
    log = home / "logs" / "pipeline.log"
    while not (log.exists() and "running dbt build" in log.read_text()):
        assert run.poll() is None and time.monotonic() < deadline, run.communicate()
        time.sleep(0.2)
    time.sleep(2)
    return run


def rerun_equals_a_clean_run(home: Path, clean_home: Path) -> None:
    """`finops run --date D1` again succeeds, and its export equals the one of an
    undisturbed run of D1 (in `clean_home`) to the cent."""
    rerun = subprocess.run(
        [FINOPS, "run", "--date", D1.isoformat()],
        env=environ(home),
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    mine, clean = export_facts(home, D1), export_facts(clean_home, D1)
    assert (mine["last_day"], mine["total"], mine["by"]) == (
        clean["last_day"],
        clean["total"],
        clean["by"],
    )


def export_facts(home: Path, day: date) -> dict:
    """What the date's export holds: the last charge day and the totals per provider and
    currency, read from its Parquet file."""
    folder = home / "data" / "exports" / "processed" / day.isoformat()
    con = duckdb.connect()
    try:
        parquet = folder / "fct_daily_costs.parquet"
        last, total = con.execute(
            f"select max(charge_date), round(sum(billed_cost_reporting), 2) from '{parquet}'"
        ).fetchone()
        by = con.execute(
            f"select provider_name, billing_currency, round(sum(billed_cost), 2) from '{parquet}' "
            "group by all order by all"
        ).fetchall()
    finally:
        con.close()
    manifest = json.loads((folder / "_manifest.json").read_text())
    return {"last_day": last, "total": total, "by": by, "build_id": manifest["build_id"]}


def history_of(home: Path) -> list[dict]:
    return json.loads((home / "logs" / "execution_history.json").read_text())


@pytest.fixture(scope="module")
def overlapping(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple]]:
    """Three runs started together on one warehouse: D1, D2 and D1 again (cron twice)."""
    home = tmp_path_factory.mktemp("overlap_home")
    first = start(home, "run", "--date", D1.isoformat())
    time.sleep(1.0)
    others = {
        "d2": start(home, "run", "--date", D2.isoformat()),
        "d1_again": start(home, "run", "--date", D1.isoformat()),
    }
    results = {"d1": first, **others}
    outputs = {}
    for name, proc in results.items():
        out, err = proc.communicate(timeout=900)
        outputs[name] = (proc.returncode, out, err)
    return home, outputs


def test_overlapping_runs_take_turns_and_each_publishes_its_own_build(overlapping) -> None:
    home, outputs = overlapping
    # THEN every run succeeded, and the later ones said they waited for the warehouse
    assert {name: code for name, (code, _, _) in outputs.items()} == {
        "d1": 0,
        "d2": 0,
        "d1_again": 0,
    }, outputs
    assert all("waiting for finops run" in outputs[n][1] for n in ("d2", "d1_again"))
    # THEN the date started twice ran once: one history entry per date, one load per window
    runs = [h for h in history_of(home) if h["status"] == "succeeded"]
    assert sorted(h["run_date"] for h in runs) == [D1.isoformat(), D2.isoformat()]
    assert "Already complete" in outputs["d1_again"][1]
    con = duckdb.connect(str(home / "data" / "finops.duckdb"), read_only=True)
    try:
        attempts = con.execute(
            "select window_end, count(*) from raw.load_ledger group by all order by all"
        ).fetchall()
    finally:
        con.close()
    assert [(end, n) for end, n in attempts] == [(D1, 5), (D2, 5)]  # AWS + 4 Azure scopes each
    # THEN each date's export and history describe that date's own build: data through the
    # day before the date, the report's total equal to the export's, the manifest its build
    for run in runs:
        day = date.fromisoformat(run["run_date"])
        facts = export_facts(home, day)
        assert facts["last_day"] == day - timedelta(days=1)
        assert Decimal(run["total_reporting"]) == facts["total"]
        assert facts["build_id"] == run["build_id"]


def test_sigterm_mid_build_stops_dbt_records_the_kill_and_the_rerun_is_clean(
    tmp_path: Path, overlapping
) -> None:
    # GIVEN a run of D1 that reached its dbt build
    home = tmp_path / "home"
    run = start_until_dbt_builds(home)

    # WHEN it is sent SIGTERM (systemd stop, timeout, kill)
    run.send_signal(signal.SIGTERM)
    out, err = run.communicate(timeout=120)

    # THEN it exits 143 saying so, and nothing of it is left running (no dbt, no manager)
    assert run.returncode == 143, out + err
    assert "stopped by SIGTERM" in err and "DbtBuild" in err
    time.sleep(0.5)
    assert processes_of(home) == []
    # THEN the execution history records the kill and what was running
    last = history_of(home)[-1]
    assert last["status"] == "killed" and "DbtBuild" in last["task"]
    # THEN no lock is left behind: both warehouse locks are free
    for suffix in (".run.lock", ".writer.lock"):
        with open(str(home / "data" / "finops.duckdb") + suffix, "a+") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises if held

    # WHEN the date runs again, THEN it completes, equal to an undisturbed run to the cent
    rerun_equals_a_clean_run(home, overlapping[0])


def test_sigkill_mid_build_leaves_no_process_and_no_lock_behind(tmp_path: Path, overlapping):
    # GIVEN a run of D1 that reached its dbt build
    home = tmp_path / "home"
    run = start_until_dbt_builds(home)

    # WHEN finops itself is SIGKILLed (no chance to unwind; only its pid, not its group)
    run.kill()
    run.communicate(timeout=60)

    # THEN its dbt child dies with it (PR_SET_PDEATHSIG) and no manager process is left
    deadline = time.monotonic() + 30
    while processes_of(home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert processes_of(home) == []

    # WHEN the date runs again (the dead run's locks do not stop it), THEN it completes,
    # equal to an undisturbed run of D1 to the cent
    rerun_equals_a_clean_run(home, overlapping[0])


def test_a_run_kept_waiting_too_long_exits_4_naming_the_holder(tmp_path: Path) -> None:
    # GIVEN another run holding the warehouse
    warehouse = tmp_path / "data" / "finops.duckdb"
    with state.run_lock(warehouse, "finops backfill 2026-07-01", wait_s=0):
        # WHEN a run will not wait
        proc = subprocess.run(
            [FINOPS, "run", "--date", D1.isoformat()],
            env=environ(tmp_path, FINOPS_RUN_WAIT_SECONDS="0"),
            capture_output=True,
            text=True,
            timeout=120,
        )
    # THEN it exits 4, naming who holds it and the setting, and loaded nothing
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "finops backfill 2026-07-01 (pid" in proc.stderr
    assert "FINOPS_RUN_WAIT_SECONDS" in proc.stderr
    assert not warehouse.exists()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_stopping_the_dashboard_by_pid_stops_its_server(tmp_path: Path) -> None:
    # GIVEN `finops dashboard` serving
    port = free_port()
    dashboard = start(tmp_path, "dashboard", "--address", "127.0.0.1", "--port", str(port))
    health = f"http://127.0.0.1:{port}/_stcore/health"
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(health, timeout=2) as answer:
                assert answer.status == 200
                break
        except OSError:
            assert dashboard.poll() is None and time.monotonic() < deadline
            time.sleep(0.3)

    # WHEN `finops` is sent SIGTERM
    dashboard.send_signal(signal.SIGTERM)
    dashboard.communicate(timeout=60)

    # THEN the Streamlit server went with it: nothing answers, nothing of it runs
    assert dashboard.returncode == 0
    with pytest.raises(OSError):
        urllib.request.urlopen(health, timeout=2)
    assert processes_of(tmp_path) == []


def test_rows_landed_before_the_fx_rates_are_purged_and_the_next_run_is_clean(
    tmp_path: Path,
) -> None:
    # GIVEN a warehouse holding simulated rows of October 2022, before the FX rates begin
    # (what an old backfill left: every build would fail on fct_daily_costs.fx_rate)
    from loaders import simulated

    warehouse = tmp_path / "data" / "finops.duckdb"
    simulated.load(warehouse, date(2022, 10, 1), date(2022, 11, 1), as_of=date(2022, 12, 1))

    def raw_2022() -> int:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return con.execute(
                "select (select count(*) from raw.aws_cost_explorer "
                "where time_period_start < date '2023-01-01') + "
                "(select count(*) from raw.azure_cost_management "
                "where usage_date < 20230101)"
            ).fetchone()[0]
        finally:
            con.close()

    assert raw_2022() > 0

    # WHEN the user purges that range through `finops purge`
    purge = subprocess.run(
        [FINOPS, "purge", "--source", "simulated", "--start", "2022-10-01", "--end", "2022-10-31"],
        env=environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )

    # THEN the rows are gone, and the ledger says what was removed
    assert purge.returncode == 0, purge.stdout + purge.stderr
    assert "raw.aws_cost_explorer" in purge.stdout and "ledgered" in purge.stdout
    assert raw_2022() == 0
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        purges = con.execute(
            "select raw_table, replaced_row_count from raw.load_ledger where scope = '*' "
            "order by raw_table"
        ).fetchall()
    finally:
        con.close()
    assert [t for t, _ in purges] == [
        "raw.aws_commitment_utilization",
        "raw.aws_cost_explorer",
        "raw.azure_commitment_costs",
        "raw.azure_commitments",
        "raw.azure_cost_management",
    ]
    assert all(n > 0 for _, n in purges)

    # WHEN the daily run follows
    run = subprocess.run(
        [FINOPS, "run", "--date", D1.isoformat()],
        env=environ(tmp_path),
        capture_output=True,
        text=True,
        timeout=900,
    )

    # THEN it builds (the FX test passes) and the marts hold nothing of 2022
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert export_facts(tmp_path, D1)["last_day"] == D1 - timedelta(days=1)
    con = duckdb.connect(str(tmp_path / "data" / "finops_serving.duckdb"), read_only=True)
    try:
        first = con.execute("select min(charge_date) from marts.fct_daily_costs").fetchone()[0]
    finally:
        con.close()
    assert first == D1 - timedelta(days=30)
