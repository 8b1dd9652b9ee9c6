"""The "Commitments and savings" page run headless with AppTest on the marts of a real
`finops run` over the commitments FOCUS export (conftest `commitments_home`,
tests/commitments_testing.py): an AWS savings plan 70 used / 30 unused USD, an Azure
reservation 50 used EUR; coverage AWS 70 / 110, Azure 50 / 100; ESR AWS 45 / 175, Azure
30 / 130 (worked out by hand in tests/dbt/test_commitments.py).

Every expected value is computed here with plain SQL over the same serving file, never with
`dashboard.data`, and the hand-computed figures are checked beside them. Staged variants
(no commitments, end dates known, a second day) are small copies of that file.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from commitments_testing import PLAN, RESERVATION
from marts_sql import CENT, query
from streamlit.testing.v1 import AppTest
from test_app import APP, chart
from test_app import downloads as downloads  # the fixture, registered here for pytest

PAGE = "app_pages/commitments.py"
DAY = date(2026, 1, 10)  # the export's one day of charges
TAG = f"{DAY:%Y%m%d}_{DAY:%Y%m%d}"


# ---------------------------------------------------------------- helpers


def open_page(**filters: Any) -> AppTest:
    """The app on the commitments page, after setting sidebar filters by key
    (`providers=[...]`, `categories=[...]`, `period=(start, end)`)."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(PAGE).run()
    for name, value in filters.items():
        widget = at.date_input if name == "period" else at.multiselect
        widget(key=f"filter_{name}").set_value(value)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value == "Commitments and savings"
    return at


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    """{label: (value, delta)} of every metric card on the page."""
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def table(at: AppTest, column: str) -> pd.DataFrame:
    """The one table with `column` (AppTest gives st.dataframe no key)."""
    [found] = [df.value for df in at.dataframe if column in df.value.columns]
    return found


def pct(numerator: Decimal, denominator: Decimal) -> str:
    return f"{float(numerator / denominator) * 100:.1f}%"


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {Decimal(amount).quantize(CENT):,}"


def sums(serving: Path, sql: str, params: list[Any] | None = None) -> dict[Any, tuple[Any, ...]]:
    """{first column: the other columns} of `sql` (a group-by over a mart)."""
    return {key: tuple(values) for key, *values in query(serving, sql, params)}


def read_csv(data: Callable[[], bytes]) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data()), dtype=str, keep_default_na=False)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def warehouse(commitments_home: Path) -> Path:
    """The serving copy the shared commitments run published (what the dashboard reads):
    the dashboard conftest's `dashboard_env` and `serving_copy` work on it here."""
    path = commitments_home / "data" / "finops_serving.duckdb"
    assert path.exists()
    return path


# ---------------------------------------------------------------- the figures


def test_every_figure_matches_the_marts(dashboard_env: Path) -> None:
    # GIVEN the marts of the export (one day of charges: the default period is that day)
    used = sums(
        dashboard_env,
        """select provider_name, sum(used_cost_reporting), sum(unused_cost_reporting)
           from marts.fct_commitment_utilization group by all""",
    )
    covered = sums(
        dashboard_env,
        """select provider_name, billing_currency, sum(committed_cost), sum(on_demand_cost)
           from marts.fct_commitment_coverage group by all""",
    )
    saved = sums(
        dashboard_env,
        """select provider_name, billing_currency, sum(total_savings), sum(list_cost)
           from marts.fct_effective_savings group by all""",
    )
    used_all = sum(u for u, _ in used.values())
    unused_all = sum(n for _, n in used.values())

    # WHEN the page is opened
    at = open_page()
    shown = metrics(at)

    # THEN utilization is Σused / (Σused + Σunused) in the reporting currency: 70 / (70 + 30)
    # for the savings plan, 100 % for the reservation, and both together from the sums
    assert shown["AWS utilization"] == ("70.0%", "USD 30.00 unused")
    assert shown["AWS utilization"][0] == pct(used["AWS"][0], sum(used["AWS"]))
    assert shown["Azure utilization"] == ("100.0%", "USD 0.00 unused")
    assert shown["Utilization"][0] == pct(used_all, used_all + unused_all)
    assert shown["Unused commitment"][0] == money(unused_all, "USD") == "USD 30.00"
    assert shown["Used commitment"][0] == money(used_all, "USD")
    assert shown["Commitments"][0] == "2"
    # AND coverage per cloud in its billing currency: AWS 70 / 110, Azure 50 / 100 (EUR)
    assert shown["AWS coverage"] == ("63.6%", "USD 70.00 of USD 110.00 covered")
    assert shown["Azure coverage"] == ("50.0%", "EUR 50.00 of EUR 100.00 covered")
    for provider, (currency, committed, on_demand) in covered.items():
        assert shown[f"{provider} coverage"][0] == pct(committed, committed + on_demand)
        assert currency in shown[f"{provider} coverage"][1]
    # AND the Effective Savings Rate: AWS 45 / 175, Azure 30 / 130 (EUR)
    assert shown["AWS ESR"] == ("25.7%", "USD 45.00 saved")
    assert shown["Azure ESR"] == ("23.1%", "EUR 30.00 saved")
    for provider, (currency, total, list_cost) in saved.items():
        assert shown[f"{provider} ESR"] == (
            pct(total, list_cost),
            f"{money(total, currency)} saved",
        )

    # AND the per-commitment table and the used / unused chart show the unused 30
    commitments = table(at, "unused_cost").set_index("commitment_discount_id")
    assert commitments.loc[PLAN, ["used_cost", "unused_cost"]].tolist() == [70.0, 30.0]
    assert commitments.loc[PLAN, "utilization"] == pytest.approx(0.7)
    assert commitments.loc[RESERVATION, "unused_cost"] == 0.0
    assert commitments.loc[RESERVATION, "billing_currencies"] == "EUR"
    bars = {trace.name: sum(trace.y) for trace in chart(at, "chart_commitment_use").data}
    assert bars["Unused"] == pytest.approx(float(unused_all)) == 30.0
    assert bars["Used"] == pytest.approx(float(used_all))
    # AND coverage by category and by account, ESR per month, are the marts' sums
    by_account = table(at, "sub_account_name").set_index("provider_name")
    assert by_account.loc["AWS", ["committed_cost", "on_demand_cost"]].tolist() == [70.0, 40.0]
    assert by_account.loc["Azure", "sub_account_name"] == "Production"
    categories = chart(at, "chart_coverage_categories")
    assert {t.name: list(t.x) for t in categories.data} == {
        "AWS (USD)": [pytest.approx(70 / 110 * 100, abs=1e-3)],
        "Azure (EUR)": [50.0],
    }
    esr = chart(at, "chart_savings_rate")
    assert {t.name: list(t.y) for t in esr.data} == {
        "AWS (USD)": [pytest.approx(45 / 175 * 100, abs=1e-3)],
        "Azure (EUR)": [pytest.approx(30 / 130 * 100, abs=1e-3)],
    }
    split = {t.name: list(t.y) for t in chart(at, "chart_savings_split").data}
    assert split["Azure (EUR) negotiated"] == [pytest.approx(13 / 130 * 100, abs=1e-3)]
    assert split["Azure (EUR) commitment"] == [pytest.approx(22 / 130 * 100, abs=1e-3)]


def test_the_cloud_filter_changes_what_is_shown(dashboard_env: Path) -> None:
    [(azure_used,)] = query(
        dashboard_env,
        """select sum(used_cost_reporting) from marts.fct_commitment_utilization
           where provider_name = 'Azure'""",
    )

    # WHEN only AWS is selected
    at = open_page(providers=["AWS"])
    shown = metrics(at)

    # THEN every figure is the savings plan's alone
    assert shown["Utilization"][0] == "70.0%"
    assert shown["Unused commitment"][0] == "USD 30.00"
    assert shown["Used commitment"][0] == "USD 70.00"
    assert shown["Commitments"][0] == "1"
    assert {label for label in shown if label.startswith("Azure")} == set()
    assert set(table(at, "unused_cost")["commitment_discount_id"]) == {PLAN}
    assert set(table(at, "expires")["provider_name"]) == {"AWS"}

    # WHEN only Azure is selected, THEN the reservation alone: fully used, nothing unused
    at.multiselect(key="filter_providers").set_value(["Azure"]).run()
    shown = metrics(at)
    assert shown["Utilization"][0] == "100.0%"
    assert shown["Unused commitment"][0] == "USD 0.00"
    assert shown["Used commitment"][0] == money(azure_used, "USD")
    assert shown["Azure coverage"][0] == "50.0%"
    assert shown["Azure ESR"][0] == "23.1%"
    assert {label for label in shown if label.startswith("AWS")} == set()


def test_the_category_filter_applies_to_coverage_only(dashboard_env: Path) -> None:
    # WHEN a category with no usage a commitment could cover is chosen (S3 is Storage)
    at = open_page(categories=["Storage"])

    # THEN coverage says there is none, utilization and savings are unchanged, and the page
    # says why
    assert "No usage a commitment could cover in this selection." in [i.value for i in at.info]
    shown = metrics(at)
    assert "AWS coverage" not in shown
    assert shown["AWS utilization"][0] == "70.0%"
    assert shown["AWS ESR"][0] == "25.7%"
    assert any("category filter applies to coverage only" in c.value for c in at.caption)


def test_csv_exports_are_the_marts_rows(
    dashboard_env: Path, downloads: dict[str, Callable[[], bytes]]
) -> None:
    # WHEN the page is opened on AWS
    open_page(providers=["AWS"])

    # THEN each export is the mart's rows in the filters, every column, exact decimals
    utilization = read_csv(downloads[f"commitment_utilization_{TAG}.csv"])
    [(count, unused)] = query(
        dashboard_env,
        """select count(*), sum(unused_cost_reporting) from marts.fct_commitment_utilization
           where provider_name = 'AWS'""",
    )
    assert len(utilization) == count == 1
    assert sum(Decimal(v) for v in utilization["unused_cost_reporting"]) == unused == 30
    assert set(utilization["provider_name"]) == {"AWS"}

    coverage = read_csv(downloads[f"commitment_coverage_{TAG}.csv"])
    assert coverage[["committed_cost", "on_demand_cost"]].map(Decimal).sum().tolist() == [70, 40]

    savings = read_csv(downloads[f"commitment_savings_{TAG}.csv"])
    assert savings[["billing_month", "total_savings", "list_cost"]].values.tolist() == [
        ["2026-01-01", "45.0000000000", "175.0000000000"]
    ]
    commitments = read_csv(downloads[f"commitment_commitments_{TAG}.csv"])
    assert commitments["commitment_discount_id"].tolist() == [PLAN]
    assert commitments["end_date"].tolist() == [""]  # unknown until a commitment API

    summary = read_csv(downloads[f"commitment_summary_{TAG}.csv"])
    assert summary[
        ["commitment_discount_id", "unused_cost", "reporting_currency"]
    ].values.tolist() == [[PLAN, "30.0", "USD"]]


# ---------------------------------------------------------------- ratios over several days


def test_ratios_are_recomputed_from_the_sums_never_averaged(
    serving_copy: Callable[..., Path],
) -> None:
    # GIVEN a second day (2025-12-31, another month) on which the AWS savings plan was not used
    # at all (50 unused), AWS had 100 of eligible usage on demand and 100 of list cost without
    # savings
    copy = serving_copy(
        """insert into marts.fct_daily_costs
           select * replace (md5(daily_cost_id || 'dec') as daily_cost_id,
                             date '2025-12-31' as charge_date)
           from marts.fct_daily_costs""",
        """insert into marts.fct_commitment_utilization
           select * replace (md5(commitment_utilization_id || 'dec') as commitment_utilization_id,
               date '2025-12-31' as charge_date, 0 as used_cost, 50 as unused_cost,
               0.0 as utilization, 0 as used_cost_reporting, 50 as unused_cost_reporting)
           from marts.fct_commitment_utilization where provider_name = 'AWS'""",
        """insert into marts.fct_commitment_coverage
           select * replace (md5(commitment_coverage_id || 'dec') as commitment_coverage_id,
               date '2025-12-31' as charge_date, 0 as committed_cost, 100 as on_demand_cost,
               0.0 as coverage)
           from marts.fct_commitment_coverage where provider_name = 'AWS'""",
        """insert into marts.fct_effective_savings
           select * replace (md5(effective_savings_id || 'dec') as effective_savings_id,
               date '2025-12-01' as billing_month, 100 as list_cost, 100 as contracted_cost,
               100 as effective_cost, 0 as negotiated_savings, 0 as commitment_savings,
               0 as total_savings, 0.0 as effective_savings_rate)
           from marts.fct_effective_savings where provider_name = 'AWS'""",
    )

    # WHEN both days are shown for AWS
    at = open_page(providers=["AWS"], period=(date(2025, 12, 31), DAY))
    shown = metrics(at)

    # THEN each ratio is the ratio of the sums (the mean of the two days' ratios would be
    # 35.0 %, 31.8 % and 12.9 %)
    assert shown["Utilization"][0] == pct(Decimal(70), Decimal(70 + 30 + 50)) == "46.7%"
    assert shown["AWS coverage"][0] == pct(Decimal(70), Decimal(70 + 40 + 100)) == "33.3%"
    assert shown["AWS ESR"][0] == pct(Decimal(45), Decimal(175 + 100)) == "16.4%"
    [(used, unused)] = query(
        copy,
        """select sum(used_cost_reporting), sum(unused_cost_reporting)
           from marts.fct_commitment_utilization where provider_name = 'AWS'""",
    )
    assert shown["Utilization"][0] == pct(used, used + unused)
    # AND the daily chart has one point per day, each day's own utilization
    [line] = chart(at, "chart_commitment_utilization").data
    assert list(line.y) == [0.0, pytest.approx(70.0)]


# ---------------------------------------------------------------- empty states and expiry


def test_no_commitments_loaded_says_so(serving_copy: Callable[..., Path]) -> None:
    # GIVEN marts without any commitment, coverage or savings row (e.g. the simulated source)
    serving_copy(
        "delete from marts.fct_commitment_utilization",
        "delete from marts.fct_commitment_coverage",
        "delete from marts.fct_effective_savings",
        "delete from marts.dim_commitment_discounts",
    )

    # WHEN the page is opened, THEN it says so instead of showing zeros
    at = open_page()
    [info] = at.info
    assert info.value.startswith("No commitment discounts in the loaded data")
    assert not at.metric


def test_coverage_and_savings_without_any_commitment(serving_copy: Callable[..., Path]) -> None:
    # GIVEN usage a commitment could cover and list prices, but no commitment at all
    serving_copy(
        "delete from marts.fct_commitment_utilization",
        "delete from marts.dim_commitment_discounts",
        "update marts.fct_commitment_coverage set committed_cost = 0, coverage = 0",
    )

    # WHEN the page is opened
    at = open_page()

    # THEN utilization and expiry say there is no commitment; coverage shows 0 %
    assert [i.value for i in at.info] == [
        "No commitment discounts in the loaded data.",
        "No commitment discounts in the loaded data.",
    ]
    shown = metrics(at)
    assert shown["Utilization"][0] == "n/a"
    assert shown["AWS coverage"][0] == "0.0%"
    assert shown["AWS ESR"][0] == "25.7%"


def test_expiry_calendar_waits_for_end_dates(dashboard_env: Path) -> None:
    # GIVEN commitments whose end dates no source gives yet (dim_commitment_discounts.end_date)
    [(known,)] = query(dashboard_env, "select count(end_date) from marts.dim_commitment_discounts")
    assert known == 0

    # WHEN the page is opened, THEN the calendar says the dates are unknown, lists them anyway
    at = open_page()
    assert any(i.value.startswith("No end dates known yet") for i in at.info)
    assert metrics(at)["Expiring within 90 days"][0] == "unknown"
    assert not [c for c in at.get("plotly_chart") if c.proto.id.endswith("chart_commitment_expiry")]
    listed = table(at, "expires")
    assert set(listed["commitment_discount_id"]) == {PLAN, RESERVATION}
    assert set(listed["expires"]) == {"unknown"}


def test_expiry_calendar_with_end_dates(serving_copy: Callable[..., Path]) -> None:
    # GIVEN end dates from a commitment source: the plan ends in 41 days, the reservation in 536
    serving_copy(
        """update marts.dim_commitment_discounts set
               start_date = case provider_name when 'AWS' then date '2025-02-20'
                                                 else date '2024-06-30' end,
               end_date = case provider_name when 'AWS' then date '2026-02-20'
                                               else date '2027-06-30' end""",
        "update marts.dim_commitment_discounts set days_to_expiry = end_date - date '2026-01-10'",
    )

    # WHEN the page is opened
    at = open_page()

    # THEN one commitment expires within 90 days, drawn first, in its bucket
    assert metrics(at)["Expiring within 90 days"][0] == "1"
    figure = chart(at, "chart_commitment_expiry")
    assert [(t.name, list(t.y)) for t in figure.data] == [
        ("Within 90 days", ["AWS · sp-1"]),
        ("Later", ["Azure · VM reservation"]),
    ]
    listed = table(at, "expires")
    assert listed[["commitment_discount_id", "days_to_expiry", "expires"]].values.tolist() == [
        [PLAN, 41, "Within 90 days"],
        [RESERVATION, 536, "Later"],
    ]
    assert (
        table(at, "unused_cost").set_index("commitment_discount_id").loc[PLAN, "days_to_expiry"]
        == 41
    )


def test_an_older_serving_copy_without_the_commitment_marts(
    serving_copy: Callable[..., Path],
) -> None:
    # GIVEN marts published before the commitment marts existed
    serving_copy(
        "drop table marts.fct_commitment_utilization",
        "drop table marts.fct_commitment_coverage",
        "drop table marts.fct_effective_savings",
        "drop table marts.dim_commitment_discounts",
    )

    # WHEN the page is opened, THEN it says they are missing, and fails nowhere
    at = open_page()
    assert [i.value for i in at.info] == [
        "This serving copy has no commitment marts yet: run the pipeline."
    ]
    assert not at.error
