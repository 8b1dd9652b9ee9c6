"""The pure chart builders and formatters, on small frames shaped like the query results."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pandas as pd
import pytest

from dashboard import allocation_charts, charts, commitment_charts, opportunity_charts


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


# ---------------------------------------------------------------- commitments page


COMMITMENT_DAYS = pd.DataFrame(
    {
        "charge_date": pd.to_datetime(["2026-01-10", "2026-01-11", "2026-01-10"]),
        "provider_name": ["AWS", "AWS", "Azure"],
        "commitment_discount_id": [
            "arn:aws:savingsplans::111111111111:savingsplan/sp-1",
            "arn:aws:savingsplans::111111111111:savingsplan/sp-1",
            "/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1",
        ],
        "commitment_discount_name": [None, None, "VM reservation"],
        "used_cost": [70.0, 0.0, 0.0],
        "unused_cost": [30.0, 0.0, 0.0],
        "utilization": [0.7, None, None],  # nothing to divide: a gap, not 0 %
    }
)


def test_commitments_are_named_or_shortened_ids_only_disambiguate() -> None:
    frame = pd.DataFrame(
        {
            "provider_name": ["AWS", "Azure", "AWS", "AWS"],
            "commitment_discount_id": [
                "arn:aws:savingsplans::111111111111:savingsplan/sp-1",
                "/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1",
                "arn:aws:ec2:us-east-1:111111111111:reserved-instances:ri-9",
                "arn:aws:ec2:us-east-1:222222222222:reserved-instances:ri-9",
            ],
            "commitment_discount_name": [None, "VM reservation", None, None],
        }
    )

    assert list(commitment_charts.commitment_label(frame)) == [
        "AWS · sp-1",
        "Azure · VM reservation",
        "AWS · ri-9 (arn:aws:ec2:us-east-1:111111111111:reserved-instances:ri-9)",
        "AWS · ri-9 (arn:aws:ec2:us-east-1:222222222222:reserved-instances:ri-9)",
    ]


def test_used_and_unused_stacks_the_unused_amount_with_utilization_on_the_right() -> None:
    day = COMMITMENT_DAYS.iloc[:2]
    fig = commitment_charts.used_and_unused(day, "USD", title="sp-1")

    used, unused, ratio = fig.data
    assert (used.name, list(used.y), used.marker.color) == ("Used", [70.0, 0.0], "#107C10")
    assert (unused.name, list(unused.y), unused.marker.color) == ("Unused", [30.0, 0.0], "#D13438")
    assert fig.layout.barmode == "relative"
    assert ratio.yaxis == "y2" and list(ratio.y) == [pytest.approx(70.0), None]
    assert fig.layout.yaxis.title.text == "Commitment (USD)"


def test_utilization_trend_draws_one_line_per_commitment_in_percent() -> None:
    fig = commitment_charts.utilization_trend(COMMITMENT_DAYS, "USD")

    assert [(t.name, list(t.y)) for t in fig.data] == [
        ("AWS · sp-1", [pytest.approx(70.0), None]),
        ("Azure · VM reservation", [None]),
    ]
    assert "unused USD %{customdata[1]:,.2f}" in fig.data[0].hovertemplate
    assert list(fig.layout.yaxis.range) == [0, 105]


COVERAGE = pd.DataFrame(
    {
        "service_category": ["Compute", "Compute", "Databases", "Compute"],
        "provider_name": ["AWS", "Azure", "AWS", "AWS"],
        "billing_currency": ["USD", "EUR", "USD", "EUR"],
        "committed_cost": [70.0, 50.0, 0.0, 5.0],
        "on_demand_cost": [40.0, 50.0, 300.0, 5.0],
        "eligible_cost": [110.0, 100.0, 300.0, 10.0],
        "coverage": [70 / 110, 0.5, 0.0, 0.5],
    }
)


def test_coverage_is_one_bar_per_cloud_and_billing_currency() -> None:
    fig = commitment_charts.coverage_bars(COVERAGE, "service_category", "Coverage")

    bars = {t.name: dict(zip(t.y, t.x, strict=True)) for t in fig.data}
    assert bars == {
        "AWS (EUR)": {"Compute": 50.0},
        "AWS (USD)": {"Compute": pytest.approx(63.636, abs=1e-3), "Databases": 0.0},
        "Azure (EUR)": {"Compute": 50.0},
    }
    # amounts in the hover are in the group's own currency, never another's
    hovers = {t.name: t.hovertemplate for t in fig.data}
    assert "committed USD" in hovers["AWS (USD)"] and "EUR" not in hovers["AWS (USD)"]
    assert "on demand EUR" in hovers["AWS (EUR)"]
    # the cloud's colour goes to its first currency; a second currency gets another colour
    colors = {t.name: t.marker.color for t in fig.data}
    assert colors["AWS (EUR)"] == "#FF9900" and colors["Azure (EUR)"] == "#0078D4"
    assert colors["AWS (USD)"] not in {"#FF9900", "#0078D4"}
    # the largest eligible usage on top
    assert list(reversed(fig.layout.yaxis.categoryarray)) == ["Databases", "Compute"]


SAVINGS = pd.DataFrame(
    {
        "billing_month": pd.to_datetime(["2025-12-01", "2026-01-01", "2026-01-01"]),
        "provider_name": ["AWS", "AWS", "Azure"],
        "billing_currency": ["USD", "USD", "EUR"],
        "list_cost": [100.0, 175.0, 130.0],
        "total_savings": [0.0, 45.0, 30.0],
        "negotiated_savings": [0.0, 0.0, 13.0],
        "commitment_savings": [0.0, 45.0, 22.0],
        "effective_savings_rate": [0.0, 45 / 175, 30 / 130],
        "negotiated_rate": [0.0, 0.0, 0.1],
        "commitment_rate": [0.0, 45 / 175, 22 / 130],
    }
)


def test_savings_rate_and_split_are_rates_per_cloud_and_currency() -> None:
    trend = commitment_charts.savings_rate_trend(SAVINGS)
    assert [(t.name, list(t.y)) for t in trend.data] == [
        ("AWS (USD)", [0.0, pytest.approx(25.714, abs=1e-3)]),
        ("Azure (EUR)", [pytest.approx(23.077, abs=1e-3)]),
    ]
    assert "saved EUR" in trend.data[1].hovertemplate
    assert trend.layout.yaxis.range[0] == 0 and trend.layout.yaxis.range[1] > 25.714

    split = commitment_charts.savings_split(SAVINGS)
    assert {t.name: list(t.y) for t in split.data} == {
        "AWS (USD) negotiated": [0.0, 0.0],
        "AWS (USD) commitment": [0.0, pytest.approx(25.714, abs=1e-3)],
        "Azure (EUR) negotiated": [pytest.approx(10.0)],
        "Azure (EUR) commitment": [pytest.approx(16.923, abs=1e-3)],
    }
    assert split.layout.barmode == "group"  # side by side: no sum of the two is implied


@pytest.mark.parametrize(
    ("days", "bucket"),
    [
        pytest.param(None, None, id="end unknown"),
        pytest.param(-3, "Expired", id="expired"),
        pytest.param(0, "Within 30 days", id="ends today"),
        pytest.param(30, "Within 30 days", id="30 days"),
        pytest.param(31, "Within 90 days", id="31 days"),
        pytest.param(365, "Within a year", id="a year"),
        pytest.param(1000, "Later", id="later"),
    ],
)
def test_expiry_bucket(days: int | None, bucket: str | None) -> None:
    assert commitment_charts.expiry_bucket(days) == bucket


def test_expiry_calendar_draws_known_end_dates_soonest_on_top() -> None:
    commitments = pd.DataFrame(
        {
            "provider_name": ["Azure", "AWS", "AWS"],
            "commitment_discount_id": ["ri-1", "sp-1", "sp-2"],
            "commitment_discount_name": ["VM reservation", None, None],
            "first_charge_date": pd.to_datetime(["2026-01-01"] * 3),
            "start_date": pd.to_datetime(["2024-06-30", None, "2025-01-01"]),
            "end_date": pd.to_datetime(["2027-06-30", "2026-02-20", None]),
            "days_to_expiry": pd.array([536, 41, None], dtype="Int64"),
        }
    )
    fig = commitment_charts.expiry_calendar(commitments, date(2026, 1, 10))

    assert [(t.name, list(t.y)) for t in fig.data] == [
        ("Within 90 days", ["AWS · sp-1"]),
        ("Later", ["Azure · VM reservation"]),
    ]
    # from the first charge when the start is unknown, to the end date
    assert pd.Timestamp(fig.data[0].base[0]) == pd.Timestamp("2026-01-01")
    assert fig.data[0].x[0] == pytest.approx(50 * 86_400_000)
    assert list(reversed(fig.layout.yaxis.categoryarray)) == [
        "AWS · sp-1",
        "Azure · VM reservation",
    ]


@pytest.mark.parametrize(
    ("build", "text"),
    [
        pytest.param(
            lambda f: commitment_charts.utilization_trend(f, "USD"),
            "No commitment use in this selection",
            id="utilization",
        ),
        pytest.param(
            lambda f: commitment_charts.used_and_unused(f, "USD", title="All"),
            "No commitment use in this selection",
            id="used and unused",
        ),
        pytest.param(
            lambda f: commitment_charts.coverage_bars(f, "service_category", "Coverage"),
            "No usage a commitment could cover in this selection",
            id="coverage",
        ),
        pytest.param(
            commitment_charts.savings_rate_trend,
            "No usage with a list price in this selection",
            id="ESR",
        ),
        pytest.param(
            commitment_charts.savings_split,
            "No usage with a list price in this selection",
            id="savings split",
        ),
    ],
)
def test_empty_commitment_charts_say_so(build, text: str) -> None:  # type: ignore[no-untyped-def]
    fig = build(pd.DataFrame())

    assert not fig.data
    assert fig.layout.annotations[0].text == text


def test_expiry_calendar_without_end_dates_says_so() -> None:
    commitments = pd.DataFrame(
        {"end_date": [pd.NaT], "provider_name": ["AWS"], "days_to_expiry": [None]}
    )
    fig = commitment_charts.expiry_calendar(commitments, date(2026, 1, 10))

    assert not fig.data
    assert fig.layout.annotations[0].text == "No end date known for these commitments"


# ---------------------------------------------------------------- allocation


def test_showback_bars_split_each_value_by_method_costliest_on_top() -> None:
    # GIVEN two values of a key, web reached by a tag and a shared rule
    by_method = pd.DataFrame(
        {
            "allocation_value": ["platform", "web", "web", "(unallocated)"],
            "allocation_method": ["account_map", "tag", "shared_rule", "unallocated"],
            "cost": [100.0, 40.0, 18.18, 5.0],
        }
    )

    fig = allocation_charts.showback_bars(by_method, "team", "USD")

    # THEN one trace per method, in the lookup order, and the frame's first value on top
    assert [(t.name, list(t.y), list(t.x)) for t in fig.data] == [
        ("Tag", ["web"], [40.0]),
        ("Account map", ["platform"], [100.0]),
        ("Shared rule", ["web"], [18.18]),
        ("Unallocated", ["(unallocated)"], [5.0]),
    ]
    assert fig.layout.barmode == "relative"
    assert list(fig.layout.yaxis.categoryarray) == ["(unallocated)", "web", "platform"]
    assert fig.layout.title.text == "Cost by team"


def test_monthly_showback_stacks_values_unallocated_in_grey() -> None:
    months = pd.DataFrame(
        {
            "billing_month": [date(2025, 12, 1), date(2026, 1, 1), date(2026, 1, 1)],
            "allocation_value": ["web", "web", "(unallocated)"],
            "cost": [65.0, 58.0, 50.0],
            "previous_cost": [None, 65.0, 0.0],
            "change": [None, -7.0, 50.0],
        }
    )

    fig = allocation_charts.monthly_showback(months, "team", "USD")

    # THEN one trace per value, largest total first, with its change in the hover data
    assert [t.name for t in fig.data] == ["web", "(unallocated)"]
    assert list(fig.data[0].y) == [65.0, 58.0]
    assert fig.data[0].customdata[1][0] == -7.0
    assert fig.data[1].marker.color == allocation_charts.UNALLOCATED_COLOR


def test_allocated_over_time_stacks_the_methods_per_day() -> None:
    daily = pd.DataFrame(
        {
            "charge_date": [date(2026, 1, 10)] * 3,
            "allocation_method": ["unallocated", "tag", "account_map"],
            "cost": [54.0, 40.0, 100.0],
        }
    )

    fig = allocation_charts.allocated_over_time(daily, "USD")

    assert [(t.name, list(t.y)) for t in fig.data] == [
        ("Tag", [40.0]),
        ("Account map", [100.0]),
        ("Unallocated", [54.0]),
    ]
    assert fig.data[-1].marker.color == allocation_charts.UNALLOCATED_COLOR


def test_untagged_bars_put_the_largest_on_top_coloured_by_cloud() -> None:
    items = pd.DataFrame(
        {
            "provider_name": ["Azure", "AWS"],
            "service_name": ["Virtual Machines", "Amazon Simple Storage Service"],
            "untagged_cost": [54.0, 20.0],
            "untagged_pct": [50.0, 100.0],
        }
    )

    fig = allocation_charts.untagged_bars(items, "service_name", "Untagged by service", "USD")

    assert {t.name: (list(t.y), t.marker.color) for t in fig.data} == {
        "AWS": (["Amazon Simple Storage Service"], charts.PROVIDER_COLORS["AWS"]),
        "Azure": (["Virtual Machines"], charts.PROVIDER_COLORS["Azure"]),
    }
    assert list(fig.layout.yaxis.categoryarray) == [
        "Amazon Simple Storage Service",
        "Virtual Machines",
    ]


@pytest.mark.parametrize(
    ("build", "text"),
    [
        pytest.param(
            lambda f: allocation_charts.showback_bars(f, "team", "USD"),
            "No cost in this selection",
            id="showback",
        ),
        pytest.param(
            lambda f: allocation_charts.monthly_showback(f, "team", "USD"),
            "No cost in this selection",
            id="per month",
        ),
        pytest.param(
            lambda f: allocation_charts.allocated_over_time(f, "USD"),
            "No cost in this selection",
            id="allocated",
        ),
        pytest.param(
            lambda f: allocation_charts.untagged_bars(f, "service_name", "Untagged", "USD"),
            "No untagged taggable cost in this selection",
            id="untagged",
        ),
    ],
)
def test_empty_allocation_charts_say_so(build, text: str) -> None:  # type: ignore[no-untyped-def]
    fig = build(pd.DataFrame())

    assert not fig.data
    assert fig.layout.annotations[0].text == text


def test_savings_bars_keep_the_frame_order_from_the_top_coloured_by_cloud() -> None:
    items = pd.DataFrame(
        {
            "provider_name": ["AWS", "Azure", "AWS"],
            "source": ["rule:idle_resource", "azure_advisor", "aws_cost_optimization_hub"],
            "savings": [150.0, 55.0, 40.0],
            "opportunities": [1, 2, 1],
        }
    )

    fig = opportunity_charts.savings_bars(items, "source", "By source", "USD")

    assert {t.name: (list(t.y), list(t.x), t.marker.color) for t in fig.data} == {
        "AWS": (
            ["rule:idle_resource", "aws_cost_optimization_hub"],
            [150.0, 40.0],
            charts.PROVIDER_COLORS["AWS"],
        ),
        "Azure": (["azure_advisor"], [55.0], charts.PROVIDER_COLORS["Azure"]),
    }
    # the largest (first) on top: plotly draws the category array from the bottom
    assert list(fig.layout.yaxis.categoryarray) == [
        "aws_cost_optimization_hub",
        "azure_advisor",
        "rule:idle_resource",
    ]


def test_realized_savings_stack_the_clouds_per_month() -> None:
    months = pd.DataFrame(
        {
            "month": [date(2026, 5, 1), date(2026, 6, 1), date(2026, 6, 1)],
            "provider_name": ["AWS", "AWS", "Azure"],
            "realized": [60.0, 9.0, 5.0],
            "estimated": [60.0, 12.0, 8.0],
            "opportunities": [1, 1, 1],
        }
    )

    fig = opportunity_charts.realized_over_time(months, "USD")

    assert fig.layout.barmode == "relative"
    assert [(t.name, list(t.x), list(t.y)) for t in fig.data] == [
        ("AWS", [date(2026, 5, 1), date(2026, 6, 1)], [60.0, 9.0]),
        ("Azure", [date(2026, 6, 1)], [5.0]),
    ]


@pytest.mark.parametrize(
    ("build", "text"),
    [
        pytest.param(
            lambda f: opportunity_charts.savings_bars(f, "category", "By category", "USD"),
            "No open opportunity in this selection",
            id="potential",
        ),
        pytest.param(
            lambda f: opportunity_charts.realized_over_time(f, "USD"),
            "No opportunity has gone with a measured saving yet",
            id="realized",
        ),
    ],
)
def test_empty_opportunity_charts_say_so(build, text: str) -> None:  # type: ignore[no-untyped-def]
    fig = build(pd.DataFrame())

    assert not fig.data
    assert fig.layout.annotations[0].text == text
