"""The dashboard served by `streamlit run` and used in a real headless Chromium.

Needs Debian's chromium at /usr/bin/chromium (never `playwright install`; `make test` installs
it): without it the test fails, it is never skipped.
Run only these with `pytest -m browser`. One server for the module, one browser session that
goes through every page the way a user would (sidebar links, so the session and its filters
carry over), and a full-page screenshot of each page in test-output/dashboard_<page>.png.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import marts_sql as sql
import pytest
from marts_sql import CENT, Selection
from streamlit_server import CHROMIUM, CHROMIUM_ARGS, REPO, streamlit_server

SCREENSHOTS = REPO / "test-output"
TIMEOUT_S = 60
VIEWPORT = {"width": 1500, "height": 1400}

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def dashboard_url(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`streamlit run` on a free loopback port, with the settings pointing at `warehouse`."""
    settings = {
        "FINOPS_HOME": str(warehouse.parent),
        "FINOPS_DUCKDB_PATH": str(
            warehouse.with_name(warehouse.name.removesuffix("_serving.duckdb") + ".duckdb")
        ),
        "FINOPS_MONTHLY_BUDGET": "1000000",
    }
    with streamlit_server(settings, tmp_path_factory.mktemp("streamlit") / "streamlit.log") as url:
        yield url


def money_text(amount: Decimal, currency: str) -> str:
    return f"{currency} {amount.quantize(CENT):,}"


def test_every_page_in_a_real_browser(dashboard_url: str, warehouse: Path) -> None:
    from playwright.sync_api import Page, expect, sync_playwright

    facts = sql.facts(warehouse)
    currency = facts.currency
    default = facts.default
    effective = Selection(default.start, default.end, basis="effective")
    aws_effective = Selection(default.start, default.end, providers=("AWS",), basis="effective")

    def metric(page: Page, label: str):  # type: ignore[no-untyped-def]
        card = page.locator('[data-testid="stMetric"]').filter(
            has=page.locator(
                '[data-testid="stMetricLabel"]', has_text=re.compile(f"^{re.escape(label)}$")
            )
        )
        return card.locator('[data-testid="stMetricValue"]')

    def settle(page: Page, charts: int = 0) -> None:
        """Wait for the run to finish and the charts to be drawn."""
        page.wait_for_selector('[data-testid="stStatusWidget"]', state="hidden")
        if charts:
            page.wait_for_function(
                f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}"
            )
        page.wait_for_timeout(800)  # let the data grids paint their canvases
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator('[data-testid="stAlertContentError"]').count() == 0

    def shoot(page: Page, name: str) -> None:
        """The whole page: Streamlit scrolls inside its main area, not the document, so the
        viewport is made as tall as the content for the shot."""
        height = page.evaluate(
            """() => {
                const main = document.querySelector('[data-testid="stMain"]');
                main.scrollTo(0, 0);
                return main.scrollHeight;
            }"""
        )
        page.set_viewport_size({"width": VIEWPORT["width"], "height": max(height, 900) + 40})
        page.wait_for_timeout(800)  # charts and grids re-layout to the new size
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"dashboard_{name}.png"), full_page=True)
        page.set_viewport_size(VIEWPORT)

    def navigate(page: Page, title: str) -> None:
        page.locator('[data-testid="stSidebarNav"]').get_by_text(title, exact=True).click()
        expect(page.locator("h2").filter(has_text=title).first).to_be_visible()

    def download(page: Page, label: str) -> list[dict[str, str]]:
        with page.expect_download() as info:
            page.get_by_role("button", name=label).click()
        return list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text())))

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
            page = context.new_page()
            page.set_default_timeout(TIMEOUT_S * 1000)
            expect.set_options(timeout=TIMEOUT_S * 1000)
            sidebar = page.locator('[data-testid="stSidebar"]')

            # ---------- Overview: the total of the default period, to the cent
            page.goto(dashboard_url)
            expect(metric(page, "Total cost")).to_have_text(
                money_text(sql.total(warehouse, default), currency)
            )
            settle(page, charts=2)
            shoot(page, "overview")

            # WHEN the cost basis is switched to effective, THEN the numbers follow the marts
            sidebar.get_by_text("Effective (amortized)", exact=True).click()
            expect(metric(page, "Total cost")).to_have_text(
                money_text(sql.total(warehouse, effective), currency)
            )
            # AND WHEN only AWS is selected, THEN the total and the cloud cards follow
            sidebar.locator('[data-testid="stMultiSelect"]').first.click()
            page.get_by_role("option", name="AWS", exact=True).click()
            page.keyboard.press("Escape")
            aws_total = sql.total(warehouse, aws_effective)
            expect(metric(page, "Total cost")).to_have_text(money_text(aws_total, currency))
            expect(metric(page, "AWS")).to_have_text(money_text(aws_total, currency))
            expect(metric(page, "Azure")).to_have_count(0)
            settle(page, charts=2)

            # AND the daily CSV is exactly the marts' rows under these filters
            rows = download(page, "Daily costs (CSV)")
            clause, params = sql.where(aws_effective)
            [(count, billed, effective_sum)] = sql.query(
                warehouse,
                f"""select count(*), sum(billed_cost_reporting), sum(effective_cost_reporting)
                    from marts.fct_daily_costs where {clause}""",
                params,
            )
            assert len(rows) == count > 0
            assert {r["provider_name"] for r in rows} == {"AWS"}
            assert sum(Decimal(r["billed_cost_reporting"]) for r in rows) == billed
            assert sum(Decimal(r["effective_cost_reporting"]) for r in rows) == effective_sum

            # ---------- Services: the filters carried over, the top-10 CSV is the marts'
            navigate(page, "Services and categories")
            settle(page, charts=3)
            assert sidebar.get_by_role("radio", name="Effective (amortized)").is_checked()
            top = download(page, "Top 10 services (CSV)")
            ten = sql.query(
                warehouse,
                f"""select service_name, sum(effective_cost_reporting) as cost
                    from marts.fct_daily_costs where {clause}
                    group by service_name order by cost desc limit 10""",
                params,
            )
            assert [r["service_name"] for r in top] == [s for s, _ in ten]
            assert [Decimal(r["cost"]) for r in top] == [
                pytest.approx(c, abs=Decimal("0.000001")) for _, c in ten
            ]
            shoot(page, "services")

            # ---------- Accounts: the CSV adds up to the same total
            navigate(page, "Accounts")
            settle(page, charts=2)
            accounts = download(page, "Accounts (CSV)")
            assert sum(Decimal(r["current_cost"]) for r in accounts) == pytest.approx(
                aws_total, abs=Decimal("0.0001")
            )
            assert {r["provider_name"] for r in accounts} == {"AWS"}
            shoot(page, "accounts")

            # ---------- Anomalies: AWS's flagged days, with the series chart
            navigate(page, "Anomalies")
            expected = sql.anomalies(warehouse, aws_effective)
            expect(metric(page, "Flagged days (account x service)")).to_have_text(
                str(len(expected))
            )
            settle(page, charts=1)
            shoot(page, "anomalies")

            # ---------- Forecast: AWS's month to date and the budget from the settings
            navigate(page, "Forecast and budget burn")
            [(mtd,)] = sql.query(
                warehouse,
                "select mtd_cost from marts.fct_cost_forecast where provider_scope = 'AWS'",
            )
            expect(metric(page, "Month to date")).to_have_text(money_text(mtd, currency))
            expect(metric(page, "Budget")).to_have_text(money_text(Decimal(1_000_000), currency))
            settle(page, charts=1)
            shoot(page, "forecast")

            # ---------- Freshness: the latest day AWS landed, no failure banner
            navigate(page, "Data freshness")
            [(through,)] = sql.query(
                warehouse,
                "select max(latest_charge_date) from marts.fct_load_freshness where provider_name = 'AWS'",
            )
            expect(metric(page, "AWS data through")).to_have_text(f"{through:%Y-%m-%d}")
            settle(page)
            shoot(page, "freshness")

            # ---------- Commitments and savings: AWS's utilization, or why there is none
            navigate(page, "Commitments and savings")
            [(commitment_rows,)] = sql.query(
                warehouse,
                """select (select count(*) from marts.fct_commitment_utilization)
                        + (select count(*) from marts.fct_commitment_coverage)
                        + (select count(*) from marts.fct_effective_savings)
                        + (select count(*) from marts.dim_commitment_discounts)""",
            )
            if commitment_rows:
                [(used, unused)] = sql.query(
                    warehouse,
                    """select sum(used_cost_reporting), sum(unused_cost_reporting)
                       from marts.fct_commitment_utilization
                       where provider_name = 'AWS' and charge_date between ? and ?""",
                    [default.start, default.end],
                )
                shown = f"{float(used / (used + unused)) * 100:.1f}%" if used or unused else "n/a"
                expect(metric(page, "Utilization")).to_have_text(shown)
                settle(page)
                [(aws_commitments,)] = sql.query(
                    warehouse,
                    "select count(*) from marts.dim_commitment_discounts where provider_name = 'AWS'",
                )
                assert len(download(page, "Commitments (CSV)")) == aws_commitments
            else:  # e.g. the simulated source: no FOCUS file, so no commitment rows
                expect(
                    page.get_by_text("No commitment discounts in the loaded data", exact=False)
                ).to_be_visible()
                settle(page)
            shoot(page, "commitments")

            # ---------- back to the Overview: still AWS, still effective
            navigate(page, "Overview")
            expect(metric(page, "Total cost")).to_have_text(money_text(aws_total, currency))
        finally:
            browser.close()
