"""The dashboard served by `streamlit run` and read in a real headless Chromium.

Needs Debian's chromium at /usr/bin/chromium (never `playwright install`); skipped without it.
Run only these with `pytest -m browser`. Leaves a screenshot in test-output/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOT = REPO / "test-output" / "dashboard_overview.png"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_S = 60

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"streamlit exited with {server.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return
        except OSError:
            pass
        time.sleep(0.25)
    pytest.fail(f"streamlit did not answer /_stcore/health in {TIMEOUT_S}s:\n{log.read_text()}")


@pytest.fixture
def dashboard_url(warehouse: Path, tmp_path: Path) -> Iterator[str]:
    """`streamlit run` on a free loopback port, with the settings pointing at `warehouse`."""
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}
    env |= {
        "FINOPS_HOME": str(warehouse.parent),
        "FINOPS_DUCKDB_PATH": str(
            warehouse.with_name(warehouse.name.removesuffix("_serving.duckdb") + ".duckdb")
        ),
    }
    log = tmp_path / "streamlit.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "streamlit",
                "run",
                "dashboard/streamlit_app.py",
                "--server.headless",
                "true",
                "--server.port",
                str(port),
                "--server.address",
                "127.0.0.1",
                "--browser.gatherUsageStats",
                "false",
                "--server.fileWatcherType",
                "none",
            ],
            cwd=REPO,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def test_overview_in_a_real_browser(dashboard_url: str, warehouse: Path) -> None:
    from playwright.sync_api import sync_playwright

    # GIVEN the expected total of the default period (last 30 days of data), by our own SQL
    with duckdb.connect(str(warehouse), read_only=True) as con:
        first, last, currency = con.execute(
            """select min(charge_date), max(charge_date), any_value(reporting_currency)
               from marts.fct_daily_costs"""
        ).fetchone()
        start = max(first, last - timedelta(days=29))
        (total,) = con.execute(
            """select sum(billed_cost_reporting) from marts.fct_daily_costs
               where charge_date between ? and ?""",
            [start, last],
        ).fetchone()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 2600})
            page.set_default_timeout(TIMEOUT_S * 1000)

            # WHEN the page has loaded and finished running
            page.goto(dashboard_url)
            page.wait_for_selector('[data-testid="stMetricValue"]')
            page.wait_for_selector(".js-plotly-plot")
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden")
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 5")

            # THEN the total KPI shows the SQL total, to the cent, with the currency
            card = page.locator('[data-testid="stMetric"]').filter(has_text="Total cost")
            shown = card.locator('[data-testid="stMetricValue"]').inner_text().strip()
            code, amount = shown.split(" ", 1)
            assert code == currency
            assert Decimal(amount.replace(",", "")) == Decimal(total).quantize(Decimal("0.01"))
            # AND no error or exception box is on the page
            assert page.locator('[data-testid="stException"]').count() == 0
            assert page.locator('[data-testid="stAlertContentError"]').count() == 0

            SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOT), full_page=True)
        finally:
            browser.close()
