"""Cost Management Query API answers -> raw.azure_cost_management rows, on real payload shapes."""

from __future__ import annotations

import copy
import json
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from loaders import warehouse
from loaders.azure_cost_management import mapping
from loaders.azure_cost_management.source import AZURE_COST_MANAGEMENT

FIXTURES = Path(__file__).parent / "fixtures" / "azure_query"
SUBSCRIPTION = "00000000-0000-0000-0000-000000000001"
FIXED_USAGE = {
    "SubscriptionId": SUBSCRIPTION,
    "SubscriptionName": "contoso-prod",
    "ChargeType": "Usage",
}
RAW_COLUMNS = [name for name, _, _ in AZURE_COST_MANAGEMENT.columns]


def answer(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"query.{name}.json").read_text())


def test_paged_answer_maps_every_row_by_column_name() -> None:
    # GIVEN the two pages of one ActualCost / Usage query, linked by nextLink
    pages = [answer("actual_cost.usage.page_1"), answer("actual_cost.usage.page_2")]
    assert mapping.next_link(pages[0]).endswith("$skiptoken=AQAAAA%3D%3D")
    assert mapping.next_link(pages[1]) is None

    # WHEN each page is mapped
    rows = [
        r for p in pages for r in mapping.to_rows(p, query_type="ActualCost", fixed=FIXED_USAGE)
    ]

    # THEN every row is there with the raw table's columns, the fixed ones filled in
    assert len(rows) == 5
    assert all(list(row) == RAW_COLUMNS for row in rows)
    assert rows[0] == {
        "usage_date": 20260130,
        "query_type": "ActualCost",
        "subscription_id": SUBSCRIPTION,
        "subscription_name": "contoso-prod",
        "service_name": "Virtual Machines",
        "resource_location": "eastus",
        "charge_type": "Usage",
        "cost": Decimal("812.3456789012"),
        "currency": "USD",
    }
    # ... float UsageDates (20260131.0) become integers, tiny costs keep their digits
    assert [r["usage_date"] for r in rows[3:]] == [20260131, 20260131]
    assert rows[1]["cost"] == Decimal("0.0001234568")
    # ... and the total is exact to the cent
    assert sum(r["cost"] for r in rows) == Decimal("1669.9358023580")


def test_columns_are_found_by_name_in_any_order() -> None:
    # GIVEN an AmortizedCost answer grouped by ChargeType and ServiceName, whose columns come
    # in another order, with PreTaxCost as its cost column and no ResourceLocation
    body = answer("amortized_cost.by_charge_type")

    # WHEN it is mapped with the location pinned by the caller
    rows = mapping.to_rows(
        body,
        query_type="AmortizedCost",
        fixed={"subscriptionid": SUBSCRIPTION, "ResourceLocation": "eastus", "ChargeType": "X"},
    )

    # THEN each value lands in its column, the answer's ChargeType wins over the fixed one
    assert [(r["charge_type"], r["service_name"], r["cost"]) for r in rows] == [
        ("Usage", "Virtual Machines", Decimal("901.2")),
        ("UnusedReservation", "Virtual Machines", Decimal("17.75")),
        ("Refund", "Azure Databricks", Decimal("-250")),
    ]
    assert {(r["resource_location"], r["subscription_id"]) for r in rows} == {
        ("eastus", SUBSCRIPTION)
    }
    # ... no SubscriptionName anywhere is allowed (the column is nullable)
    assert {r["subscription_name"] for r in rows} == {None}
    assert {r["query_type"] for r in rows} == {"AmortizedCost"}


def test_sdk_as_dict_shape_in_eur_prefers_the_billing_currency_cost() -> None:
    # GIVEN an older SDK's flattened QueryResult.as_dict() of an EUR subscription, with both
    # Cost (billing currency) and CostUSD columns
    body = answer("sdk_as_dict.eur")

    # WHEN it is mapped
    rows = mapping.to_rows(
        body,
        query_type="ActualCost",
        fixed={
            "SubscriptionId": "e4",
            "SubscriptionName": "contoso-prod-eu",
            "ChargeType": "Usage",
        },
    )

    # THEN the EUR amounts are kept in EUR (never mixed with the USD value)
    assert [(r["cost"], r["currency"]) for r in rows] == [
        (Decimal("100"), "EUR"),
        (Decimal("20.25"), "EUR"),
    ]
    assert mapping.next_link(body) is None


def test_cost_usd_alone_is_labelled_usd() -> None:
    # GIVEN an answer that only has CostUSD (the billing-currency Cost column is absent)
    body = answer("sdk_as_dict.eur")
    body["columns"] = [c for c in body["columns"] if c["name"] != "Cost"]
    body["rows"] = [row[1:] for row in body["rows"]]

    # WHEN it is mapped
    rows = mapping.to_rows(
        body, query_type="ActualCost", fixed={"SubscriptionId": "e4", "ChargeType": "Usage"}
    )

    # THEN the amounts are the USD ones and say so
    assert [(r["cost"], r["currency"]) for r in rows] == [
        (Decimal("108.53"), "USD"),
        (Decimal("21.98"), "USD"),
    ]


def damaged(row: int, column: int, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(answer("actual_cost.usage.page_1"))
    body["properties"]["rows"][row][column] = value
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            damaged(1, 0, "n/a"), "row 1, column Cost: 'n/a' is not a number", id="text cost"
        ),
        pytest.param(damaged(2, 0, None), "row 2, column Cost: None", id="null cost"),
        pytest.param(damaged(0, 0, float("inf")), "row 0, column Cost", id="infinite cost"),
        pytest.param(damaged(2, 1, 2026013), "row 2, column UsageDate", id="7-digit date"),
        pytest.param(damaged(1, 1, 20260230), "row 1, column UsageDate", id="no such day"),
        pytest.param(damaged(0, 1, 20260130.5), "row 0, column UsageDate", id="fractional date"),
        pytest.param(
            damaged(1, 2, None), "row 1, column ServiceName: value is null", id="null service"
        ),
        pytest.param(damaged(2, 4, ""), "row 2, column Currency", id="empty currency"),
    ],
)
def test_a_bad_value_names_its_row_and_column(body: dict[str, Any], message: str) -> None:
    # GIVEN a page with one damaged value
    # WHEN it is mapped, THEN the error says which row and column
    with pytest.raises(ValueError) as error:
        mapping.to_rows(body, query_type="ActualCost", fixed=FIXED_USAGE)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(20260131, 20260131, id="int"),
        pytest.param(20260131.0, 20260131, id="float"),
        pytest.param("20260131", 20260131, id="digits"),
        pytest.param("2026-01-31T00:00:00", 20260131, id="ISO datetime"),
        pytest.param("2026-01-31T00:00:00Z", 20260131, id="ISO datetime UTC"),
    ],
)
def test_usage_date_shapes(value: Any, expected: int) -> None:
    # GIVEN a UsageDate as some API versions / granularities write it
    # WHEN it is parsed, THEN it is the integer YYYYMMDD
    assert mapping.parse_usage_date(value) == expected


def test_query_type_is_validated() -> None:
    # GIVEN a query type the scheme does not know, WHEN mapping, THEN it is refused
    with pytest.raises(ValueError, match="query_type must be one of"):
        mapping.to_rows(answer("actual_cost.usage.page_2"), query_type="Usage", fixed=FIXED_USAGE)


def test_missing_subscription_is_reported() -> None:
    # GIVEN a subscription-scope answer but no SubscriptionId from the caller
    # WHEN it is mapped, THEN the error names the column
    with pytest.raises(ValueError, match="column SubscriptionId is neither"):
        mapping.to_rows(
            answer("actual_cost.usage.page_2"),
            query_type="ActualCost",
            fixed={"ChargeType": "Usage"},
        )


def test_mapped_rows_land_in_the_warehouse_unchanged(tmp_path: Path) -> None:
    # GIVEN both pages of the ActualCost query, mapped
    rows = [
        r
        for name in ("actual_cost.usage.page_1", "actual_cost.usage.page_2")
        for r in mapping.to_rows(answer(name), query_type="ActualCost", fixed=FIXED_USAGE)
    ]

    # WHEN they replace their window
    db = tmp_path / "w.duckdb"
    warehouse.replace_window(
        db,
        raw_table="azure_cost_management",
        source="azure_cost_management",
        scope=f"/subscriptions/{SUBSCRIPTION}",
        window_start=date(2026, 1, 30),
        window_end=date(2026, 2, 1),
        rows=rows,
    )

    # THEN the per-day totals in the warehouse are the API's, to the cent
    with duckdb.connect(str(db), read_only=True) as con:
        totals = con.execute(
            "select usage_date, sum(cost) from raw.azure_cost_management group by 1 order by 1"
        ).fetchall()
    assert totals == [(20260130, Decimal("857.4458023580")), (20260131, Decimal("812.4900000000"))]
