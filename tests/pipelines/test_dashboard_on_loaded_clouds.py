"""The dashboard on costs loaded from the (emulated) AWS and Azure APIs, not the simulated source.

`two_clouds` (tests/pipelines/conftest.py) ran the real pipeline against moto's Cost Explorer
and the Azure Cost Management emulator, through a partial run and its healing rerun. Every
page of the real Streamlit app (AppTest) is rendered over the serving copy it published, and
its headline figures are compared with plain SQL over that file.
"""

from __future__ import annotations

import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from ops_scenario import TwoClouds
from streamlit.testing.v1 import AppTest
from streamlit_server import CHROMIUM, CHROMIUM_ARGS, REPO, streamlit_server

APP = str(REPO / "dashboard" / "streamlit_app.py")
SCREENSHOTS = REPO / "test-output"
PAGES = (
    "app_pages/services.py",
    "app_pages/accounts.py",
    "app_pages/anomalies.py",
    "app_pages/forecast.py",
    "app_pages/freshness.py",
)
DEFAULT_DAYS = 30  # the dashboard's default period: the last 30 days of data


def money(text: str) -> tuple[str, Decimal]:
    code, amount = text.lstrip("+").split(" ", 1)
    return code, Decimal(amount.replace(",", ""))


def metric(at: AppTest, label: str) -> str:
    [found] = [m for m in at.metric if m.label == label]
    return found.value


def query(path: Path, sql: str, params: list | None = None) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def test_every_page_shows_the_loaded_clouds(
    two_clouds: TwoClouds, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the serving copy the AWS + Azure runs published (USD and EUR billing currencies)
    serving = two_clouds.serving
    for name in [n for n in os.environ if n.startswith("FINOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINOPS_HOME", str(two_clouds.home))
    monkeypatch.setenv("FINOPS_DUCKDB_PATH", str(two_clouds.warehouse))
    [(last, currency)] = query(
        serving,
        "select max(charge_date), any_value(reporting_currency) from marts.fct_daily_costs",
    )
    start = last - timedelta(days=DEFAULT_DAYS - 1)
    by_provider = dict(
        query(
            serving,
            "select provider_name, sum(billed_cost_reporting) from marts.fct_daily_costs "
            "where charge_date between ? and ? group by provider_name",
            [start, last],
        )
    )
    currencies = {
        c for (c,) in query(serving, "select billing_currency from marts.fct_daily_costs")
    }
    assert set(by_provider) == {"AWS", "Azure"} and {"USD", "EUR"} <= currencies

    # WHEN the overview opens with the default filters
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]

    # THEN its total is both clouds' billed cost of the last 30 days, in the reporting currency
    assert money(metric(at, "Total cost")) == (
        currency,
        sum(by_provider.values()).quantize(Decimal("0.01")),
    )
    # and no page fails on these costs; freshness lists every loaded scope as it stands
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception, (page, [e.value for e in at.exception])
        assert at.header[0].value
    [freshness] = [df.value for df in at.dataframe if "last_attempt_at" in df.value.columns]
    expected = query(
        serving,
        "select provider_name, scope, last_attempt_status from marts.fct_load_freshness "
        "order by all",
    )
    shown = sorted(
        zip(
            freshness["provider_name"],
            freshness["scope"],
            freshness["status"],
            strict=True,
        )
    )
    assert shown == [(p, s, "FAILED" if st == "failed" else st) for p, s, st in expected]
    assert {provider for provider, _, status in expected if status == "succeeded"} == {
        "AWS",
        "Azure",
    }


def test_the_loaded_clouds_in_a_real_browser(two_clouds: TwoClouds, tmp_path: Path) -> None:
    # GIVEN `streamlit run` on loopback over the serving copy the AWS + Azure runs published
    from playwright.sync_api import expect, sync_playwright

    [(last, currency)] = query(
        two_clouds.serving,
        "select max(charge_date), any_value(reporting_currency) from marts.fct_daily_costs",
    )
    [(total,)] = query(
        two_clouds.serving,
        "select sum(billed_cost_reporting) from marts.fct_daily_costs where charge_date >= ?",
        [last - timedelta(days=DEFAULT_DAYS - 1)],
    )
    settings = {
        "FINOPS_HOME": str(two_clouds.home),
        "FINOPS_DUCKDB_PATH": str(two_clouds.warehouse),
    }
    with streamlit_server(settings, tmp_path / "streamlit.log") as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1400})
            # WHEN a person opens the dashboard
            page.goto(url)
            # THEN the total a person reads is both clouds' billed cost, to the cent
            card = page.locator('[data-testid="stMetric"]').filter(has_text="Total cost")
            expect(card.locator('[data-testid="stMetricValue"]')).to_have_text(
                f"{currency} {Decimal(total).quantize(Decimal('0.01')):,}", timeout=60_000
            )
            page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden")
            assert page.locator('[data-testid="stException"]').count() == 0
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "dashboard_loaded_clouds.png"))
        finally:
            browser.close()
