"""The "Savings opportunities" page (issue #19) run headless with AppTest on the shared
simulated build's serving copy, its ledger replaced by planted opportunities: open and gone
ones of every kind of source, two clouds, USD and EUR, a duplicate, a gone one whose saving
could not be measured.

Every expected value is computed here with plain SQL over the same file, never with
`dashboard.data`, and the hand-worked figures are checked beside them.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from marts_sql import CENT, query
from streamlit.testing.v1 import AppTest
from test_app import APP, chart
from test_app import downloads as downloads  # the fixture, registered here for pytest

PAGE = "app_pages/opportunities.py"
MART = "marts.fct_optimization_opportunities"
EUR_RATE = Decimal("1.1")  # the planted EUR rows' rate into the reporting currency (USD)
COUNTED = "duplicate_of is null"


def planted(aws: str, azure: str) -> list[str]:
    """The ledger's rows replaced by these (AWS account `aws`, Azure subscription `azure`):
    open 150 + 40 USD (AWS), 20 + 30 EUR (Azure) and a 25 EUR duplicate of the 30; gone:
    60 realized of 60 in May, 9 of 12 in June, one not measured."""
    rows = [
        # id, source, provider, account, resource, category, estimate, currency, first, last,
        # status, realized, duplicate_of
        ("o1", "rule:idle_resource", "AWS", aws, "lb-1", "idle", "150", "USD", "2026-05-20",
         "2026-06-28", "open", None, None),
        ("o2", "aws_cost_optimization_hub", "AWS", aws, "i-1", "rightsizing", "40", "USD",
         "2026-06-01", "2026-06-30", "open", None, None),
        ("o3", "azure_advisor", "Azure", azure, "vm-1", "rightsizing", "20", "EUR",
         "2026-06-10", "2026-06-30", "open", None, None),
        ("o4", "azure_reservation", "Azure", azure, None, "commitment_purchase", "30", "EUR",
         "2026-06-10", "2026-06-30", "open", None, None),
        ("o5", "azure_advisor", "Azure", azure, None, "commitment_purchase", "25", "EUR",
         "2026-06-10", "2026-06-30", "open", None, "o4"),
        ("o6", "rule:gp2_volume", "AWS", aws, "vol-1", "storage_tier", "60", "USD",
         "2026-04-01", "2026-05-10", "gone", "60", None),
        ("o7", "aws_cost_optimization_hub", "AWS", aws, "i-2", "idle", "12", "USD",
         "2026-05-01", "2026-06-03", "gone", "9", None),
        ("o8", "rule:previous_generation", "AWS", aws, "i-3", "previous_generation", "10",
         "USD", "2026-04-01", "2026-06-20", "gone", None, None),
    ]  # fmt: skip

    def value(v: str | None) -> str:
        return "null" if v is None else f"'{v}'"

    statements = [f"delete from {MART}"]
    for oid, source, provider, account, resource, category, estimate, currency, first, last, status, realized, dup in rows:  # fmt: skip
        rate = EUR_RATE if currency == "EUR" else Decimal(1)
        statements.append(
            f"""insert into {MART} by name select
                '{oid}' as opportunity_id, '{source}' as source, '{provider}' as provider_name,
                '{account}' as sub_account_id, {value(resource)} as resource_id,
                'Some service' as service_name, 'region-1' as region_id,
                '{category}' as category, 'do {oid}' as action,
                {estimate} as estimated_monthly_savings, '{currency}' as billing_currency,
                date '{first}' as first_seen, date '{last}' as last_seen,
                '{status}' as status, {value(realized)} as realized_monthly_savings,
                {value(dup)} as duplicate_of, 'USD' as reporting_currency,
                {rate} as fx_rate,
                {estimate} * {rate} as estimated_monthly_savings_reporting,
                {value(realized)} * {rate} as realized_monthly_savings_reporting"""
        )
    return [*statements, *KPIS]


# fct_cost_kpis as the build would have made it from the planted ledger: each scope's open
# savings that count, and their share of the scope's effective cost of the last 30 days.
KPIS = (
    f"""update marts.fct_cost_kpis as k set open_potential_savings = coalesce((
        select sum(estimated_monthly_savings_reporting) from {MART} as o
        where o.status = 'open' and o.{COUNTED}
            and (k.provider_scope = 'All' or o.provider_name = k.provider_scope)), 0)""",
    """update marts.fct_cost_kpis as k set potential_savings_share = round(
        open_potential_savings / (select e.last_30d_cost from marts.fct_cost_kpis as e
            where e.provider_scope = k.provider_scope and e.cost_basis = 'effective'), 6)""",
)


# ---------------------------------------------------------------- helpers


def accounts(warehouse: Path) -> tuple[str, str]:
    """An AWS account and an Azure subscription the sidebar's account filter offers."""
    found = dict(
        query(
            warehouse,
            "select provider_name, min(sub_account_id) from marts.fct_daily_costs group by all",
        )
    )
    return found["AWS"], found["Azure"]


def open_page(**filters: Any) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(PAGE).run()
    for name, value in filters.items():
        at.multiselect(key=f"filter_{name}").set_value(value)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value == "Savings opportunities"
    return at


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def money(amount: Decimal, currency: str) -> str:
    return f"{currency} {Decimal(amount).quantize(CENT):,}"


def share_of_spend(serving: Path, savings: Decimal, scope: str) -> str:
    """`savings` as a share of the scope's effective cost of the last 30 days, as the page
    writes a share under 1 % (two decimals)."""
    [(spend,)] = query(
        serving,
        "select last_30d_cost from marts.fct_cost_kpis "
        "where provider_scope = ? and cost_basis = 'effective'",
        [scope],
    )
    percent = savings / spend * 100
    assert 0 < percent < 1
    return f"{percent:.2f}%"


def listed(at: AppTest) -> pd.DataFrame:
    [found] = [df.value for df in at.dataframe if "opportunity_id" in df.value.columns]
    return found


def bars(at: AppTest, key: str) -> dict[str, float]:
    """{bar label: value} of a horizontal bar chart, over its traces."""
    totals: dict[str, float] = {}
    for trace in chart(at, key).data:
        for label, value in zip(trace.y, trace.x, strict=True):
            totals[label] = totals.get(label, 0.0) + value
    return totals


@pytest.fixture
def ledger(serving_copy: Callable[..., Path], warehouse: Path) -> tuple[Path, str, str]:
    [(currency,)] = query(
        warehouse, "select distinct reporting_currency from marts.fct_daily_costs"
    )
    assert currency == "USD"
    aws, azure = accounts(warehouse)
    return serving_copy(*planted(aws, azure)), aws, azure


# ---------------------------------------------------------------- the figures


def test_potential_savings_count_each_saving_once_per_currency_and_as_a_share(
    ledger: tuple[Path, str, str],
) -> None:
    serving, aws, azure = ledger
    # GIVEN what counts, by plain SQL: open rows without duplicate_of
    [(potential, count)] = query(
        serving,
        f"select sum(estimated_monthly_savings_reporting), count(*) from {MART} "
        f"where status = 'open' and {COUNTED}",
    )
    per_currency = dict(
        (f"{p} in {c}", s)
        for p, c, s in query(
            serving,
            f"select provider_name, billing_currency, sum(estimated_monthly_savings) from {MART} "
            f"where status = 'open' and {COUNTED} group by all",
        )
    )

    # WHEN the page is opened
    at = open_page()
    shown = metrics(at)

    # THEN the potential savings are 150 + 40 USD + (20 + 30) EUR x 1.1 = 245 USD: the 25 EUR
    # duplicate of the 30 counts nowhere
    assert shown["Potential savings a month"] == money(potential, "USD") == "USD 245.00"
    assert shown["Open opportunities"] == str(count) == "4"
    # ... per cloud in its billing currency, never added across currencies
    assert shown["AWS in USD"] == money(per_currency["AWS in USD"], "USD") == "USD 190.00"
    assert shown["Azure in EUR"] == money(per_currency["Azure in EUR"], "EUR") == "EUR 50.00"
    # ... and the share of spend is that over the last 30 days' effective cost (scope All)
    assert shown["Share of spend"] == share_of_spend(serving, potential, "All")

    # AND the breakdowns: by category, account and source, in the reporting currency
    assert bars(at, "chart_opportunities_category") == pytest.approx(
        {"idle": 150.0, "rightsizing": 62.0, "commitment_purchase": 33.0}
    )
    # ... accounts by their display name
    names = dict(
        query(
            serving,
            "select sub_account_id, sub_account_name from marts.dim_sub_accounts "
            "where sub_account_id in (?, ?)",
            [aws, azure],
        )
    )
    assert names[aws] != names[azure]
    assert bars(at, "chart_opportunities_account") == pytest.approx(
        {names[aws]: 190.0, names[azure]: 55.0}
    )
    by_source = dict(
        query(
            serving,
            f"select source, sum(estimated_monthly_savings_reporting) from {MART} "
            f"where status = 'open' and {COUNTED} group by all",
        )
    )
    assert bars(at, "chart_opportunities_source") == pytest.approx(
        {source: float(total) for source, total in by_source.items()}
    )

    # AND the realized savings by the month the opportunities went: May 60, June 9 (the
    # unmeasured one is left out)
    realized = chart(at, "chart_opportunities_realized")
    months = {
        str(month)[:7]: value
        for trace in realized.data
        for month, value in zip(trace.x, trace.y, strict=True)
    }
    assert months == pytest.approx({"2026-05": 60.0, "2026-06": 9.0})


def test_the_list_follows_status_and_duplicates_and_its_csv_is_what_is_listed(
    ledger: tuple[Path, str, str], downloads: dict[str, Callable[[], bytes]]
) -> None:
    serving, _, _ = ledger
    # WHEN the page is opened: the open ones that count, largest first
    at = open_page()
    assert listed(at)["opportunity_id"].tolist() == ["o1", "o2", "o4", "o3"]
    # AND the CSV holds the same rows with every column, exact decimals: the mart's values
    [(as_of,)] = query(serving, "select max(as_of_date) from marts.fct_cost_kpis")
    exported = pd.read_csv(
        io.BytesIO(downloads[f"savings_opportunities_{as_of:%Y%m%d}.csv"]()),
        dtype=str,
        keep_default_na=False,
    )
    shown = listed(at)
    assert exported.columns.tolist() == shown.columns.tolist()
    assert exported["opportunity_id"].tolist() == shown["opportunity_id"].tolist()
    columns = ", ".join(shown.columns)
    expected = {
        row[-1]: row
        for row in query(
            serving,
            f"select {columns}, opportunity_id from {MART} "
            "left join marts.dim_sub_accounts using (provider_name, sub_account_id) "
            f"where status = 'open' and {COUNTED}",
        )
    }
    for csv_row in exported.itertuples(index=False):
        for text, value in zip(csv_row, expected[csv_row.opportunity_id], strict=False):
            if value is None:
                assert text == ""
            elif isinstance(value, Decimal):
                assert Decimal(text) == value
            else:
                assert text == str(value)
    assert exported["estimated_monthly_savings_reporting"].map(Decimal).tolist() == [
        Decimal(150), Decimal(40), Decimal(33), Decimal(22)
    ]  # fmt: skip

    # WHEN duplicates are shown: the 25 EUR duplicate names the one it duplicates
    at.toggle(key="opportunities_duplicates").set_value(True).run()
    shown = listed(at)
    assert shown["opportunity_id"].tolist() == ["o1", "o2", "o4", "o5", "o3"]
    assert shown.set_index("opportunity_id").loc["o5", "duplicate_of"] == "o4"

    # WHEN every status is listed: the gone ones follow the open ones
    at.toggle(key="opportunities_duplicates").set_value(False)
    at.segmented_control(key="opportunities_status").set_value("all").run()
    assert listed(at)["opportunity_id"].tolist() == ["o1", "o2", "o4", "o3", "o6", "o7", "o8"]
    at.segmented_control(key="opportunities_status").set_value("gone").run()
    gone = listed(at).set_index("opportunity_id")
    assert gone.index.tolist() == ["o6", "o7", "o8"]
    assert pd.isna(gone.loc["o8", "realized_monthly_savings"])


def test_the_cloud_and_account_filters_apply(ledger: tuple[Path, str, str]) -> None:
    serving, aws, _ = ledger
    # WHEN only Azure is chosen THEN only its open savings count: (20 + 30) x 1.1 = 55 USD
    at = open_page(providers=["Azure"])
    assert metrics(at)["Potential savings a month"] == "USD 55.00"
    # ... and the share is the Azure scope's
    assert metrics(at)["Share of spend"] == share_of_spend(serving, Decimal(55), "Azure")
    assert "AWS in USD" not in metrics(at)
    assert set(listed(at)["provider_name"]) == {"Azure"}
    # WHEN only the AWS account is chosen THEN 150 + 40
    at = open_page(accounts=[aws])
    [(expected,)] = query(
        serving,
        f"select sum(estimated_monthly_savings_reporting) from {MART} "
        f"where status = 'open' and {COUNTED} and sub_account_id = ?",
        [aws],
    )
    assert metrics(at)["Potential savings a month"] == money(expected, "USD") == "USD 190.00"


def test_an_empty_ledger_says_where_opportunities_come_from(
    serving_copy: Callable[..., Path],
) -> None:
    # GIVEN a ledger without rows THEN the page says which sources bring opportunities
    serving_copy(f"delete from {MART}")
    at = open_page()
    assert "No savings opportunity found" in at.info[0].value
    assert not at.metric


def test_a_serving_copy_published_before_the_ledger_says_so(
    serving_copy: Callable[..., Path],
) -> None:
    # GIVEN a serving copy published before the ledger existed THEN it says to run the pipeline
    serving_copy(f"drop table {MART}")
    at = open_page()
    assert "no savings opportunities yet" in at.info[0].value
    assert not at.metric
