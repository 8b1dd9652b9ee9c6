"""The dashboard keeps answering while the pipeline rebuilds and re-publishes the marts.

One real daily run (`finops run`, a separate process, as cron starts it) writes the warehouse
and publishes a new serving copy by atomic rename, while this process queries the dashboard
without pause: every page through AppTest with the query cache cleared (so each run reads
the file), and a thread hammering the data layer. Nothing may fail, nothing may say "being
refreshed", and once the run is over the pages show the new day.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import marts_sql as sql
import pytest
import streamlit as st
from finops_testing import FIXED_RUN_DATE
from streamlit.testing.v1 import AppTest

from dashboard.data import connection
from dashboard.data.serving import summary

REPO = Path(__file__).resolve().parents[2]
APP = str(REPO / "dashboard" / "streamlit_app.py")
PAGES = [
    "app_pages/overview.py",
    "app_pages/services.py",
    "app_pages/accounts.py",
    "app_pages/anomalies.py",
    "app_pages/forecast.py",
    "app_pages/freshness.py",
]
NEXT_RUN = FIXED_RUN_DATE + timedelta(days=1)
RUN_TIMEOUT_S = 600
PAUSE_S = 0.5


@pytest.fixture
def second_home(
    built_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A copy of the session's built FINOPS_HOME (never the shared one), settings on it."""
    home = tmp_path / "home"
    shutil.copytree(built_home, home, ignore=shutil.ignore_patterns("*.lock"))
    for name in [n for n in os.environ if n.startswith("FINOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINOPS_HOME", str(home))
    monkeypatch.setenv("FINOPS_SOURCES", "simulated")
    yield home


def test_dashboard_keeps_answering_while_the_pipeline_republishes(second_home: Path) -> None:
    serving = second_home / "data" / "finops_serving.duckdb"
    before = serving.stat().st_ino
    old_last = sql.facts(serving).last

    # GIVEN the dashboard open on the published marts
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception

    # AND a reader hammering the data layer (no cache) from another thread
    stop = threading.Event()
    reads: list[object] = []
    errors: list[BaseException] = []

    def read_forever() -> None:
        while not stop.is_set():
            try:
                source = connection.current_source()
                reads.append(
                    connection.query_rows(
                        source, "select max(charge_date), count(*) from marts.fct_daily_costs", {}
                    )[0]
                )
            except BaseException as exc:  # anything at all is a failure here
                errors.append(exc)
            time.sleep(PAUSE_S / 20)

    reader = threading.Thread(target=read_forever, daemon=True)
    reader.start()

    # WHEN the next day's pipeline runs (a separate process writing the warehouse, then
    # publishing a new serving copy) while every page is rendered again and again
    log = second_home / "run.log"
    # The next day's run reloads the last 35 days (like a real source's restatement window),
    # replacing what the first run landed there, and rebuilds the marts incrementally.
    env = {**os.environ, "DO_NOT_TRACK": "1", "FINOPS_HISTORY_DAYS": "35"}
    with log.open("wb") as out:
        run = subprocess.Popen(
            [sys.executable, "-m", "finops.cli", "run", "--date", NEXT_RUN.isoformat()],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    renders, seen_days = 0, set()
    started = time.monotonic()
    try:
        while run.poll() is None:
            assert time.monotonic() - started < RUN_TIMEOUT_S, "pipeline run took too long"
            for page in PAGES:
                st.cache_data.clear()  # every render reads the serving file again
                at.switch_page(page).run()
                renders += 1
                # THEN no render fails or reports the data as busy
                assert not at.exception, (page, [e.value for e in at.exception])
                assert not at.warning, (page, [w.value for w in at.warning])
                assert not at.error, (page, [e.value for e in at.error])
                assert not [i for i in at.info if "No cost data" in i.value], page
                seen_days.add(summary(connection.current_source()).last_date)
            time.sleep(PAUSE_S)  # leave the pipeline some of the machine's two cores
    finally:
        stop.set()
        reader.join(timeout=30)
        if run.poll() is None:
            run.kill()
        run.wait(timeout=60)

    assert run.returncode == 0, log.read_text()[-4000:]
    assert not errors, errors[:3]
    assert renders >= len(PAGES), renders
    assert len(reads) > renders
    assert old_last in seen_days

    # AND the serving copy was replaced, and the next render shows the new day's marts
    assert serving.stat().st_ino != before
    new = sql.facts(serving)
    assert new.last == NEXT_RUN - timedelta(days=1) > old_last
    st.cache_data.clear()
    at.switch_page("app_pages/overview.py").run()
    assert f"as of **{new.last:%Y-%m-%d}**" in at.caption[0].value
    shown = at.metric[0].value
    assert shown == f"{new.currency} {sql.total(serving, new.default).quantize(sql.CENT):,}"
    # AND the freshness page reports what the second run restated, as the mart says
    at.switch_page("app_pages/freshness.py").run()
    [(restated,)] = sql.query(
        serving, "select sum(restated_billed_cost_change) from marts.fct_load_freshness"
    )
    [card] = [m for m in at.metric if m.label == "Restated by the last loads"]
    sign = "-" if restated < 0 else "+"
    assert card.value == f"{sign}{new.currency} {abs(Decimal(restated)).quantize(sql.CENT):,}"
