"""The pure chart builders and formatters, on small frames shaped like the query results."""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import pytest

from dashboard import charts


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param(Decimal("12345.678"), "USD 12,345.68", id="decimal, thousands"),
        pytest.param(Decimal("-1234.5"), "USD -1,234.50", id="credit"),
        pytest.param(0.1 + 0.2, "USD 0.30", id="float noise"),
        pytest.param(0, "USD 0.00", id="nothing"),
    ],
)
def test_format_money(value: Decimal | float, shown: str) -> None:
    assert charts.format_money(value, "USD") == shown


@pytest.mark.parametrize(
    ("current", "previous", "shown"),
    [
        pytest.param("110", "100", "+10.0%", id="up"),
        pytest.param("90", "100", "-10.0%", id="down"),
        pytest.param("-50", "-100", "+50.0%", id="smaller credit"),
        pytest.param("10", "0", None, id="nothing to compare to"),
    ],
)
def test_format_change(current: str, previous: str, shown: str | None) -> None:
    assert charts.format_change(Decimal(current), Decimal(previous)) == shown


@pytest.mark.parametrize(
    ("change", "shown"),
    [
        pytest.param(Decimal("1234.5"), "+USD 1,234.50", id="more"),
        pytest.param(Decimal("-0.004"), "-USD 0.00", id="a little less"),
    ],
)
def test_format_money_change_puts_the_sign_first(change: Decimal, shown: str) -> None:
    assert charts.format_money_change(change, "USD") == shown


DAILY = pd.DataFrame(
    {
        "charge_date": pd.to_datetime(["2026-01-01", "2026-01-01", "2026-01-02", "2026-01-02"]),
        "provider_name": ["AWS", "Azure", "AWS", "Azure"],
        "cost": [100.0, 80.0, 120.0, -5.0],
    }
)


def test_daily_evolution_stacks_one_trace_per_provider() -> None:
    fig = charts.daily_evolution(DAILY, "USD")

    by_provider = {trace.name: sum(trace.y) for trace in fig.data}
    assert by_provider == {"AWS": 220.0, "Azure": 75.0}
    assert fig.layout.barmode == "relative"  # a credit day is drawn below zero
    assert [(t.name, t.marker.color) for t in fig.data] == [
        ("AWS", "#FF9900"),
        ("Azure", "#0078D4"),
    ]
    assert fig.layout.yaxis.title.text == "Cost (USD)"


def test_provider_comparison_draws_a_line_per_provider() -> None:
    fig = charts.provider_comparison(DAILY, "EUR")

    assert [(t.name, list(t.y)) for t in fig.data] == [
        ("AWS", [100.0, 120.0]),
        ("Azure", [80.0, -5.0]),
    ]
    assert fig.layout.yaxis.title.text == "Cost (EUR)"


def test_top_services_puts_the_costliest_on_top() -> None:
    services = pd.DataFrame(
        {
            "service_name": ["Virtual Machines", "Amazon EC2", "Amazon S3"],
            "provider_name": ["Azure", "AWS", "AWS"],
            "service_category": ["Compute", "Compute", "Storage"],
            "cost": [300.0, 200.0, 50.0],
        }
    )
    fig = charts.top_services(services, "USD")

    assert fig.layout.title.text == "Top 3 services"
    top_to_bottom = list(reversed(fig.layout.yaxis.categoryarray))  # plotly lists bottom-up
    assert top_to_bottom == ["Virtual Machines", "Amazon EC2", "Amazon S3"]
    # the legend keeps the same provider order in every chart, whoever is costliest
    assert [t.name for t in fig.data] == ["AWS", "Azure"]


def test_accounts_are_named_and_ids_only_disambiguate() -> None:
    accounts = pd.DataFrame(
        {
            "provider_name": ["AWS", "Azure", "Azure"],
            "sub_account_id": ["111111111111", "sub-a", "sub-b"],
            "sub_account_name": ["prod", "shared", "shared"],
            "billing_currencies": ["USD", "EUR", "USD"],
            "cost": [10.0, 20.0, 30.0],
        }
    )
    assert list(charts.account_label(accounts)) == ["prod", "shared (sub-a)", "shared (sub-b)"]

    fig = charts.cost_by_account(accounts, "USD")
    assert sum(sum(t.x) for t in fig.data) == 60.0
    assert "%{customdata[0]}" in fig.data[0].hovertemplate


@pytest.mark.parametrize(
    "builder",
    [
        charts.daily_evolution,
        charts.provider_comparison,
        charts.top_services,
        charts.cost_by_category,
        charts.cost_by_account,
    ],
)
def test_empty_selection_says_so(builder) -> None:  # type: ignore[no-untyped-def]
    fig = builder(pd.DataFrame(), "USD")

    assert not fig.data
    assert fig.layout.annotations[0].text == "No cost in this selection"


def test_category_without_a_name_is_shown_as_other() -> None:
    categories = pd.DataFrame(
        {"service_category": ["Compute", None], "provider_name": ["AWS", "AWS"], "cost": [5.0, 1.0]}
    )
    fig = charts.cost_by_category(categories, "USD")

    assert list(reversed(fig.layout.yaxis.categoryarray)) == ["Compute", "Other"]
