"""Cost Management Query API answers -> raw.azure_cost_management rows, on real payload shapes."""

from __future__ import annotations

import copy
import csv
import io
import json
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from loaders import warehouse
from loaders.azure_cost_management import mapping
from loaders.azure_cost_management.source import (
    AZURE_COMMITMENT_COSTS,
    AZURE_COMMITMENTS,
    AZURE_COST_MANAGEMENT,
    AZURE_COST_MANAGEMENT_TAGS,
)

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


# ---------------------------------------------------------------------- commitments

VM_RESERVATION = (
    "/providers/Microsoft.Capacity/reservationOrders/5e0c4d1a-2b3f-4a6e-9d8c-7f1a2b3c4d5e"
    "/reservations/8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"
)
SAVINGS_PLAN = (
    "/providers/Microsoft.BillingBenefits/savingsPlanOrders/2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
    "/savingsPlans/3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a"
)


def listed(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"list.{name}.json").read_text())


def test_a_pricing_answer_maps_each_service_and_pricing_model() -> None:
    # GIVEN the pricing query's answer for one subscription and day
    body = answer("amortized_cost.usage_by_pricing_model")

    # WHEN it is read and mapped
    models = mapping.pricing_models(body)
    rows = mapping.commitment_rows(
        body,
        query_type="AmortizedCost",
        breakdown="PricingModel",
        fixed={"SubscriptionId": SUBSCRIPTION, "ChargeType": "Usage"},
    )

    # THEN the committed models are told apart, and every row keeps service, model and cost
    assert models == {"OnDemand", "Reservation", "SavingsPlan", "Spot"}
    assert sorted(m for m in models if mapping.is_committed(m)) == ["Reservation", "SavingsPlan"]
    assert mapping.is_committed("Savings Plan") and not mapping.is_committed(None)
    assert [(r["service_name"], r["pricing_model"], r["cost"]) for r in rows] == [
        ("Virtual Machines", "OnDemand", Decimal("412.5")),
        ("Virtual Machines", "Reservation", Decimal("310.25")),
        ("Virtual Machines", "SavingsPlan", Decimal("55.125")),
        ("Virtual Machines", "Spot", Decimal("20")),
        ("Storage", "OnDemand", Decimal("96.4")),
    ]
    assert {(r["breakdown"], r["charge_type"], r["benefit_id"]) for r in rows} == {
        ("PricingModel", "Usage", None)
    }
    assert list(rows[0]) == [name for name, _, _ in AZURE_COMMITMENT_COSTS.columns]


def test_a_benefit_answer_maps_benefit_ids_and_a_purchase_of_no_benefit_stays() -> None:
    # GIVEN a benefit query's answer with a reservation's and a savings plan's rows
    body = answer("benefits.by_benefit_id")

    # WHEN it is mapped as the UnusedReservation query of a subscription
    fixed = {"SubscriptionId": SUBSCRIPTION, "SubscriptionName": "p", "ChargeType": "X"}
    rows = mapping.commitment_rows(
        body,
        query_type="AmortizedCost",
        breakdown="BenefitId",
        fixed={**fixed, "ChargeType": "UnusedReservation"},
    )

    # THEN each row carries its benefit's id as the API spelt it
    assert [(r["benefit_id"], r["cost"]) for r in rows] == [
        (VM_RESERVATION, Decimal("17.75")),
        (SAVINGS_PLAN, Decimal("3.5")),
    ]
    assert {(r["charge_type"], r["pricing_model"], r["subscription_name"]) for r in rows} == {
        ("UnusedReservation", None, "p")
    }

    # WHEN a Purchase answer has a row of no benefit (a Marketplace purchase)
    body["properties"]["rows"][1][3] = ""
    purchases = mapping.commitment_rows(
        body,
        query_type="ActualCost",
        breakdown="BenefitId",
        fixed={**fixed, "ChargeType": "Purchase"},
    )

    # THEN it stays, with no benefit id
    assert [r["benefit_id"] for r in purchases] == [VM_RESERVATION, None]


def commitment_answer(name: str, row: int, column: int, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(answer(name))
    body["properties"]["rows"][row][column] = value
    return body


@pytest.mark.parametrize(
    ("body", "breakdown", "charge_type", "message"),
    [
        pytest.param(
            commitment_answer("amortized_cost.usage_by_pricing_model", 2, 0, "12,5"),
            "PricingModel",
            "Usage",
            "row 2, column Cost: '12,5' is not a number",
            id="pricing: text cost",
        ),
        pytest.param(
            commitment_answer("amortized_cost.usage_by_pricing_model", 3, 1, 20260132),
            "PricingModel",
            "Usage",
            "row 3, column UsageDate: 20260132",
            id="pricing: no such day",
        ),
        pytest.param(
            commitment_answer("benefits.by_benefit_id", 1, 3, ""),
            "BenefitId",
            "UnusedReservation",
            "row 1, column BenefitId: '' on a UnusedReservation row",
            id="unused row without a benefit",
        ),
        pytest.param(
            commitment_answer("benefits.by_benefit_id", 0, 3, None),
            "BenefitId",
            "Usage",
            "row 0, column BenefitId: None on a Usage row",
            id="committed usage without a benefit",
        ),
        pytest.param(
            commitment_answer("benefits.by_benefit_id", 0, 2, None),
            "BenefitId",
            "Usage",
            "row 0, column ServiceName: value is null",
            id="null service",
        ),
        pytest.param(
            answer("benefits.by_benefit_id"),
            "PricingModel",
            "Usage",
            "PricingModel answer has no PricingModel column",
            id="benefit answer read as pricing",
        ),
    ],
)
def test_a_bad_commitment_value_names_its_row_column_and_value(
    body: dict[str, Any], breakdown: str, charge_type: str, message: str
) -> None:
    # GIVEN a pricing or benefit page with one damaged value
    # WHEN it is mapped, THEN the error names the row, the column and the value
    with pytest.raises(ValueError) as error:
        mapping.commitment_rows(
            body,
            query_type="AmortizedCost",
            breakdown=breakdown,
            fixed={"SubscriptionId": SUBSCRIPTION, "ChargeType": charge_type},
        )
    assert message in str(error.value)


def test_benefits_lists_map_terms_and_dates() -> None:
    # GIVEN the reservations and the savings plans lists as the REST API shapes them
    [reservation] = listed("reservations")["value"]
    [plan] = listed("savings_plans")["value"]

    # WHEN their items are mapped as of the window's last day
    as_of = date(2026, 6, 30)
    ri = mapping.benefit_row(reservation, kind="Reservation", as_of=as_of, index=0)
    sp = mapping.benefit_row(plan, kind="SavingsPlan", as_of=as_of, index=0)

    # THEN the terms are kept as listed, date-times as naive UTC (7 fraction digits cut to 6)
    assert list(ri) == [name for name, _, _ in AZURE_COMMITMENTS.columns]
    assert (ri["benefit_id"], ri["display_name"], ri["term"], ri["billing_plan"]) == (
        VM_RESERVATION.replace("Microsoft.Capacity", "microsoft.capacity"),
        "vm-d2s-eastus-3y",
        "P3Y",
        "Monthly",
    )
    assert ri["benefit_start_time"] == datetime(2024, 3, 1, 10, 15, 30, 123456)
    assert ri["expiry_time"] == datetime(2027, 3, 1, 10, 15, 30, 123456)
    assert (ri["sku_name"], ri["reserved_resource_type"], ri["commitment_amount"]) == (
        "Standard_D2s_v5",
        "VirtualMachines",
        None,
    )
    assert (sp["benefit_kind"], sp["term"], sp["billing_plan"], sp["applied_scope_type"]) == (
        "SavingsPlan",
        "P1Y",
        "P1M",
        "Single",
    )
    assert (sp["commitment_amount"], sp["commitment_currency"], sp["commitment_grain"]) == (
        Decimal("4.5"),
        "USD",
        "Hourly",
    )
    assert sp["benefit_start_time"] is None  # not in this answer: never guessed
    assert sp["effective_time"] == datetime(2026, 2, 1, 18, 5, 37, 103428)
    assert ri["as_of_date"] == sp["as_of_date"] == as_of


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        pytest.param(
            "expiryDateTime", "2027-13-01", "expiryDateTime: '2027-13-01' is not a date-time",
            id="bad expiry",
        ),
        pytest.param("benefitStartTime", 20240301, "benefitStartTime: 20240301", id="number"),
    ],
)  # fmt: skip
def test_a_bad_list_value_names_the_item_and_field(field: str, value: Any, message: str) -> None:
    # GIVEN a reservation whose date field is unusable
    [item] = copy.deepcopy(listed("reservations"))["value"]
    item["properties"][field] = value

    # WHEN it is mapped, THEN the error names the item, its id and the field
    with pytest.raises(ValueError) as error:
        mapping.benefit_row(item, kind="Reservation", as_of=date(2026, 6, 30), index=3)
    assert "Reservation list item 3 (/providers/microsoft.capacity/" in str(error.value)
    assert message in str(error.value)


def test_commitment_rows_land_with_the_costs_in_one_transaction(tmp_path: Path) -> None:
    # GIVEN a window of costs landed with its pricing rows
    db = tmp_path / "w.duckdb"
    scope = f"/subscriptions/{SUBSCRIPTION}"
    costs = mapping.to_rows(
        answer("actual_cost.usage.page_2"), query_type="ActualCost", fixed=FIXED_USAGE
    )
    pricing = mapping.commitment_rows(
        answer("amortized_cost.usage_by_pricing_model"),
        query_type="AmortizedCost",
        breakdown="PricingModel",
        fixed={"SubscriptionId": SUBSCRIPTION, "ChargeType": "Usage"},
    )

    def land(commitment_rows: list[dict[str, Any]]) -> warehouse.LoadResult:
        return warehouse.replace_window(
            db,
            raw_table="azure_cost_management",
            source="azure_cost_management",
            scope=scope,
            window_start=date(2026, 1, 31),
            window_end=date(2026, 2, 1),
            rows=costs,
            with_tables={"azure_commitment_costs": commitment_rows},
        )

    first = land(pricing)

    # WHEN a later load of the window brings a commitment row the writer refuses
    bad = [*pricing, {**pricing[0], "cost": None}]
    with pytest.raises(warehouse.LoadValidationError, match="azure_commitment_costs row 5"):
        land(bad)

    # THEN neither table changed: both are still the first load's, under its one ledger row
    with duckdb.connect(str(db), read_only=True) as con:
        ids = con.execute(
            "select distinct _load_id from raw.azure_cost_management union "
            "select distinct _load_id from raw.azure_commitment_costs"
        ).fetchall()
        ledger = con.execute("select load_id, raw_table, row_count from raw.load_ledger").fetchall()
        total = con.execute("select sum(cost) from raw.azure_commitment_costs").fetchone()[0]
    assert ids == [(first.load_id,)]
    assert ledger == [(first.load_id, "raw.azure_cost_management", len(costs))]
    assert total == Decimal("894.275")


# ---------------------------------------------------------------------- tags


def test_a_tag_query_groups_by_the_key_and_service_within_the_api_limit() -> None:
    # WHEN the tag query of one subscription, month and key is built
    body = mapping.tag_definition(
        "AmortizedCost", date(2026, 1, 1), date(2026, 2, 1), SUBSCRIPTION, "cost-center"
    )

    # THEN it groups by the tag and ServiceName only (the API takes two groupings), Daily,
    # over the month, with the subscription pinned by the filter
    assert body["type"] == "AmortizedCost"
    assert body["dataset"]["granularity"] == "Daily"
    assert body["dataset"]["grouping"] == [
        {"type": "TagKey", "name": "cost-center"},
        {"type": "Dimension", "name": "ServiceName"},
    ]
    assert body["dataset"]["filter"] == {
        "dimensions": {"name": "SubscriptionId", "operator": "In", "values": [SUBSCRIPTION]}
    }
    assert body["timePeriod"] == {
        "from": "2026-01-01T00:00:00+00:00",
        "to": "2026-01-31T23:59:59+00:00",
    }


def test_a_tag_answer_maps_values_in_any_key_case_and_the_untagged_rows() -> None:
    # GIVEN a tag answer for the key configured as 'team': TagKey spelt 'Team' and 'team',
    # rows of resources without the tag (TagKey null, or ''), a key-only tag (TagValue '')
    body = answer("actual_cost.by_tag_key")

    # WHEN it is mapped
    rows = mapping.tag_rows(
        body,
        query_type="ActualCost",
        allocation_key="team",
        fixed={"SubscriptionId": SUBSCRIPTION},
    )

    # THEN every row is kept with the configured key, the answered spelling and the value;
    # untagged rows have neither key nor value, the key-only tag has the value ''
    assert all(list(r) == [n for n, _, _ in AZURE_COST_MANAGEMENT_TAGS.columns] for r in rows)
    assert [
        (r["service_name"], r["allocation_key"], r["tag_key"], r["tag_value"], r["cost"])
        for r in rows
    ] == [
        ("Virtual Machines", "team", "Team", "web", Decimal("412.5")),
        ("Virtual Machines", "team", "team", "data", Decimal("120.25")),
        ("Virtual Machines", "team", None, None, Decimal("33.125")),
        ("Storage", "team", "team", "", Decimal("8.5")),
        ("Storage", "team", None, None, Decimal("2.75")),
    ]
    assert {
        (r["usage_date"], r["query_type"], r["subscription_id"], r["currency"]) for r in rows
    } == {(20260131, "ActualCost", SUBSCRIPTION, "USD")}
    # ... and nothing of the money is lost: the rows sum to the answer
    assert sum(r["cost"] for r in rows) == Decimal("577.125")


def tag_answer(row: int, column: int, value: Any) -> dict[str, Any]:
    body = copy.deepcopy(answer("actual_cost.by_tag_key"))
    body["properties"]["rows"][row][column] = value
    return body


def tag_answer_without(column: str) -> dict[str, Any]:
    body = copy.deepcopy(answer("actual_cost.by_tag_key"))
    properties = body["properties"]
    at = [c["name"] for c in properties["columns"]].index(column)
    del properties["columns"][at]
    for values in properties["rows"]:
        del values[at]
    return body


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(
            tag_answer(0, 2, "env"),
            "row 0, column TagKey: 'env' is not the key the query grouped by ('team')",
            id="another key",
        ),
        pytest.param(
            tag_answer(2, 3, "web"),
            "row 2, column TagValue: 'web' on a row without a TagKey",
            id="value without a key",
        ),
        pytest.param(
            tag_answer(1, 0, "12,5"),
            "row 1, column Cost: '12,5' is not a number",
            id="text cost",
        ),
        pytest.param(
            tag_answer(3, 4, None),
            "row 3, column ServiceName: value is null",
            id="null service",
        ),
        pytest.param(
            tag_answer(4, 1, 20260230),
            "row 4, column UsageDate: 20260230",
            id="no such day",
        ),
        pytest.param(
            tag_answer_without("TagValue"),
            "tag answer has no TagValue column",
            id="no TagValue column",
        ),
        pytest.param(
            answer("amortized_cost.usage_by_pricing_model"),
            "tag answer has no TagKey column",
            id="pricing answer read as tags",
        ),
    ],
)
def test_a_bad_tag_value_names_its_row_column_and_value(body: dict[str, Any], message: str) -> None:
    # GIVEN a tag answer page with one damaged value
    # WHEN it is mapped, THEN the error names the row, the column and the value
    with pytest.raises(ValueError) as error:
        mapping.tag_rows(
            body,
            query_type="ActualCost",
            allocation_key="team",
            fixed={"SubscriptionId": SUBSCRIPTION},
        )
    assert message in str(error.value)


# ---------------------------------------------------------------------- price details

# A Cost Details report's CSV as an MCA billing account writes it (camelCase; prices in the
# pricing currency, paygCostInBillingCurrency and the exchange rate to the billing currency),
# and the same charges as an EA enrollment writes them (PascalCase, BillingCurrencyCode, no
# paygCost column, PayGPrice empty on reservation-priced usage as Microsoft documents).
MCA_REPORT = """\ufeffdate,subscriptionId,meterCategory,chargeType,pricingModel,benefitId,billingCurrency,quantity,effectivePrice,unitPrice,payGPrice,costInBillingCurrency,paygCostInBillingCurrency,exchangeRatePricingToBilling,additionalInfo
01/10/2026,SUB-1,Virtual Machines,Usage,OnDemand,,EUR,4,0.5,0.45,0.5,2,2.2,1.1,"{""VCPUs"": 2, ""ImageType"": ""Canonical""}"
01/10/2026,SUB-1,Virtual Machines,Usage,OnDemand,,EUR,6,0.5,0.45,0.5,3,3.3,1.1,
01/10/2026,SUB-1,Virtual Machines,Usage,Reservation,/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1,EUR,10,0.5,0.72,0.8,5,,1.1,
01/11/2026,SUB-1,Storage,Usage,OnDemand,,EUR,100,0.01,0.009,0.01,1,1.1,1.1,
"""
EA_REPORT = """Date,SubscriptionId,MeterCategory,ChargeType,PricingModel,BenefitId,BillingCurrencyCode,Quantity,EffectivePrice,UnitPrice,PayGPrice,CostInBillingCurrency
01/10/2026,SUB-1,Virtual Machines,Usage,OnDemand,,EUR,4,0.5,0.45,0.5,2
01/10/2026,SUB-1,Virtual Machines,Usage,OnDemand,,EUR,6,0.5,0.45,0.5,3
01/10/2026,SUB-1,Virtual Machines,Usage,Reservation,/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1,EUR,10,0.5,0.72,,5
"""


def summed(text: str, blob: str = "blob 1 of 1") -> dict[tuple, tuple]:
    prices = mapping.PriceDetails(window=(date(2026, 1, 1), date(2026, 2, 1)))
    prices.add_csv(csv.reader(io.StringIO(text, newline="")), blob=blob)
    return {
        tuple(r[k] for k in mapping.PRICE_KEY): (
            r["list_cost"],
            r["contracted_cost"],
            r["effective_cost"],
            r["detail_rows"],
        )
        for r in prices.rows()
    }


def test_mca_report_rows_sum_to_the_grain_in_the_billing_currency() -> None:
    # GIVEN an MCA report: two meter lines of on-demand VM usage, one reservation-priced line
    # with no paygCostInBillingCurrency, one storage line the next day

    # WHEN its rows are summed
    rows = summed(MCA_REPORT)

    # THEN the day's on-demand VM lines add up: list = Σ paygCostInBillingCurrency (2.2 +
    # 3.3), contracted = Σ unitPrice x quantity x rate (0.45 x 10 x 1.1), effective = Σ cost
    d = Decimal
    reservation = "/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1"
    assert rows == {
        (20260110, "SUB-1", "Virtual Machines", "Usage", "OnDemand", None, "EUR"): (
            d("5.5"),
            d("4.95"),
            d("5"),
            2,
        ),
        # no paygCost: payGPrice x quantity x rate = 0.8 x 10 x 1.1
        (20260110, "SUB-1", "Virtual Machines", "Usage", "Reservation", reservation, "EUR"): (
            d("8.8"),
            d("7.92"),
            d("5"),
            1,
        ),
        (20260111, "SUB-1", "Storage", "Usage", "OnDemand", None, "EUR"): (
            d("1.1"),
            d("0.99"),
            d("1"),
            1,
        ),
    }


def test_ea_report_reads_its_own_column_names_and_an_empty_price_is_none() -> None:
    # GIVEN the same VM charges in an EA report: PascalCase, BillingCurrencyCode, no
    # paygCostInBillingCurrency or exchange rate (billing currency prices), and PayGPrice
    # left empty on the reservation-priced line
    rows = summed(EA_REPORT)

    # THEN PayGPrice x Quantity is the list cost, UnitPrice x Quantity the contracted one,
    # and the reservation line has a list cost of 0 (which the marts count as missing)
    reservation = "/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1"
    d = Decimal
    assert rows == {
        (20260110, "SUB-1", "Virtual Machines", "Usage", "OnDemand", None, "EUR"): (
            d("5"),
            d("4.5"),
            d("5"),
            2,
        ),
        (20260110, "SUB-1", "Virtual Machines", "Usage", "Reservation", reservation, "EUR"): (
            d("0"),
            d("7.2"),
            d("5"),
            1,
        ),
    }


# An AmortizedCost report of two subscriptions as an EA enrollment writes it, read for the
# details of changed cells (FINOPS_AZURE_DETAILS_FROM_REPORTS): usage on demand and under a
# reservation, the reservation's unused hours, and a day and a subscription nobody asked for.
RI = "/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1"
DETAILS_REPORT = f"""Date,SubscriptionId,MeterCategory,ResourceLocation,ChargeType,PricingModel,BenefitId,BillingCurrencyCode,Quantity,CostInBillingCurrency
01/10/2026,sub-1,Virtual Machines,westeurope,Usage,OnDemand,,EUR,4,2.25
01/10/2026,sub-1,Virtual Machines,westeurope,Usage,OnDemand,,EUR,6,3.5
01/10/2026,sub-1,Virtual Machines,northeurope,Usage,Reservation,{RI},EUR,10,5
01/10/2026,sub-1,Virtual Machines,northeurope,UnusedReservation,Reservation,{RI},EUR,2,1.25
01/12/2026,sub-1,Storage,westeurope,Usage,OnDemand,,EUR,100,7
01/10/2026,SUB-2,Storage,westeurope,Usage,OnDemand,,EUR,100,9
"""


def details(text: str, asks: list[Any], query_type: str = "AmortizedCost") -> Any:
    sink = mapping.ReportDetails(query_type, asks)
    sink.add_csv(csv.reader(io.StringIO(text, newline="")), blob="blob 1 of 1")
    return sink


def test_a_report_gives_the_asked_cells_detail_pricing_and_benefit_rows() -> None:
    from loaders.azure_cost_management.changes import Ask

    # GIVEN the asks of SUB-1's Usage and UnusedReservation on 2026-01-10 and 11 (spelled as
    # the totals query spells the subscription), and one ActualCost ask
    asks = [
        Ask("AmortizedCost", "SUB-1", "Usage", date(2026, 1, 10), date(2026, 1, 12)),
        Ask("AmortizedCost", "SUB-1", "UnusedReservation", date(2026, 1, 10), date(2026, 1, 11)),
        Ask("ActualCost", "SUB-1", "Usage", date(2026, 1, 10), date(2026, 1, 12)),
    ]

    # WHEN the AmortizedCost report is read for them
    sink = details(DETAILS_REPORT, asks)

    # THEN the detail rows are its lines of those cells summed per service and location (the
    # 2026-01-12 line and SUB-2's are outside every ask), with the asks' spelling
    costs = {
        (r["usage_date"], r["subscription_id"], r["resource_location"], r["charge_type"]): (
            r["cost"],
            r["query_type"],
        )
        for r in sink.rows()
    }
    d = Decimal
    assert costs == {
        (20260110, "SUB-1", "westeurope", "Usage"): (d("5.75"), "AmortizedCost"),
        (20260110, "SUB-1", "northeurope", "Usage"): (d("5"), "AmortizedCost"),
        (20260110, "SUB-1", "northeurope", "UnusedReservation"): (d("1.25"), "AmortizedCost"),
    }
    # ... the pricing rows split the usage by pricing model, the benefit rows name the
    # reservation of the covered usage and of the unused hours
    rows = {
        (r["breakdown"], r["charge_type"], r["pricing_model"], r["benefit_id"]): r["cost"]
        for r in sink.commitment_rows()
    }
    assert rows == {
        ("PricingModel", "Usage", "OnDemand", None): d("5.75"),
        ("PricingModel", "Usage", "Reservation", None): d("5"),
        ("BenefitId", "Usage", None, RI): d("5"),
        ("BenefitId", "UnusedReservation", None, RI): d("1.25"),
    }
    # ... and the cells are what a totals query answers for them
    assert sink.cells() == {
        ("AmortizedCost", 20260110, "SUB-1", "Usage", "EUR"): d("10.75"),
        ("AmortizedCost", 20260110, "SUB-1", "UnusedReservation", "EUR"): d("1.25"),
    }
    # ... and an ask dropped (left to the Query API) takes its rows with it
    sink.without([asks[1]])
    assert {r["charge_type"] for r in sink.rows() + sink.commitment_rows()} == {"Usage"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            DETAILS_REPORT.replace("ResourceLocation,", "Location,"),
            "no column resourcelocation in the header",
            id="no location column",
        ),
        pytest.param(
            DETAILS_REPORT.replace("01/10/2026,sub-1,Virtual Machines,westeurope,Usage,OnDemand,,EUR,4",
                                   "2026-13-45,sub-1,Virtual Machines,westeurope,Usage,OnDemand,,EUR,4"),
            "row 1, field date: '2026-13-45' is not a date",
            id="bad date",
        ),
        pytest.param(
            DETAILS_REPORT.replace("EUR,2,1.25", "EUR,2,1,25"),
            "row 4: has 11 fields for 10 columns",
            id="unquoted comma",
        ),
        pytest.param(
            DETAILS_REPORT.replace("EUR,6,3.5", "EUR,6,three"),
            "row 2, field cost: 'three' is not a number",
            id="bad cost",
        ),
        pytest.param(
            DETAILS_REPORT.replace(f"UnusedReservation,Reservation,{RI}", "UnusedReservation,Reservation,"),
            "row 4, field benefit_id: empty on a UnusedReservation line",
            id="unused hours of no benefit",
        ),
    ],
)  # fmt: skip
def test_an_unusable_details_report_line_is_refused_naming_blob_row_and_field(
    text: str, message: str
) -> None:
    from loaders.azure_cost_management.changes import Ask

    asks = [
        Ask("AmortizedCost", "sub-1", "Usage", date(2026, 1, 10), date(2026, 1, 11)),
        Ask("AmortizedCost", "sub-1", "UnusedReservation", date(2026, 1, 10), date(2026, 1, 11)),
    ]
    with pytest.raises(ValueError, match="blob 1 of 1") as raised:
        details(text, asks)
    assert message in str(raised.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            EA_REPORT.replace("0.45,0.5,3", "0.45,abc,3"),
            r"blob 2 of 3, row 2, field payg_price: 'abc' is not a number",
            id="a price that is not a number",
        ),
        pytest.param(
            EA_REPORT.replace("01/10/2026,SUB-1,Virtual Machines,Usage,Reservation", "13/45/2026,"
                              "SUB-1,Virtual Machines,Usage,Reservation"),
            r"blob 2 of 3, row 3, field date: '13/45/2026' is not a date",
            id="a date that is no day",
        ),
        pytest.param(
            EA_REPORT.replace("01/10/2026,SUB-1,Virtual Machines,Usage,Reservation",
                              "03/01/2026,SUB-1,Virtual Machines,Usage,Reservation"),
            r"row 3, field date: '03/01/2026' is outside the report's period",
            id="a day outside the report's period",
        ),
        pytest.param(
            EA_REPORT.replace(",EUR,4,", ",,4,"),
            r"row 1, field currency: empty",
            id="no currency",
        ),
        pytest.param(
            EA_REPORT.replace("UnitPrice", "ListUnitPrice"),
            r"blob 2 of 3: no column unitprice in the header",
            id="a missing column",
        ),
        pytest.param(
            EA_REPORT.replace(",EUR,6,0.5,0.45,0.5,3", ",EUR,6,0.5,0.45"),
            r"row 2: has 10 fields for 12 columns",
            id="a short row",
        ),
    ],
)  # fmt: skip
def test_a_bad_report_row_is_refused_naming_blob_row_and_field(text: str, message: str) -> None:
    # GIVEN a report blob with one unusable row, WHEN it is summed, THEN a ValueError names
    # the blob, the row and the field
    prices = mapping.PriceDetails(window=(date(2026, 1, 1), date(2026, 2, 1)))
    with pytest.raises(ValueError, match=message):
        prices.add_csv(csv.reader(io.StringIO(text, newline="")), blob="blob 2 of 3")


def test_cost_details_request_body_and_completed_manifest() -> None:
    # GIVEN a month of a window, WHEN its request body is built, THEN it asks for amortized
    # cost with the window's last day as the inclusive end
    assert mapping.cost_details_definition(date(2026, 1, 1), date(2026, 2, 1)) == {
        "metric": "AmortizedCost",
        "timePeriod": {"start": "2026-01-01", "end": "2026-01-31"},
    }
    # ... and a completed operation's manifest gives its blob links (the reference's shape)
    done = {
        "status": "Completed",
        "manifest": {
            "compressData": False,
            "blobs": [{"blobLink": "https://ccmreportstorage.blob.core.windows.net/a?sig=x"}],
        },
    }
    assert mapping.report_blobs(done) == (
        ["https://ccmreportstorage.blob.core.windows.net/a?sig=x"],
        False,
    )
    # ... while a failed one is refused with its error
    failed = {"status": "Failed", "error": {"code": "500", "message": "report failed"}}
    with pytest.raises(ValueError, match="report status Failed: 500 report failed"):
        mapping.report_blobs(failed)


def window_answer(rows: list[list[Any]], columns: tuple[str, ...] = ()) -> dict[str, Any]:
    names = columns or ("Cost", "SubscriptionId", "ChargeType", "Currency")
    return {"properties": {"columns": [{"name": n} for n in names], "rows": rows}}


def test_window_totals_sum_per_subscription_charge_type_and_currency() -> None:
    # GIVEN a window totals query over two months, WHEN it is built, THEN it has no
    # granularity (a Daily one covers at most 31 days) and the discovery grouping
    body = mapping.window_totals_definition("AmortizedCost", date(2026, 5, 1), date(2026, 7, 1))
    assert "granularity" not in body["dataset"]
    assert body["timePeriod"]["from"][:10] == "2026-05-01"
    assert body["timePeriod"]["to"][:10] == "2026-06-30"
    assert [g["name"] for g in body["dataset"]["grouping"]] == list(mapping.DISCOVERY_GROUPING)
    # ... and its answer gives a total per group, a group answered twice summed
    rows = [
        [Decimal("1.5"), SUBSCRIPTION, "Usage", "USD"],
        [Decimal("2.25"), SUBSCRIPTION, "Usage", "USD"],
        [Decimal("-3"), SUBSCRIPTION, "Refund", "EUR"],
    ]
    assert mapping.window_totals(window_answer(rows), query_type="ActualCost") == {
        ("ActualCost", SUBSCRIPTION, "Usage", "USD"): Decimal("3.75"),
        ("ActualCost", SUBSCRIPTION, "Refund", "EUR"): Decimal("-3"),
    }


@pytest.mark.parametrize(
    ("rows", "columns", "message"),
    [
        ([["x", SUBSCRIPTION, "Usage", "USD"]], (), "row 0, column Cost"),
        ([[Decimal(1), SUBSCRIPTION, "Usage", ""]], (), "row 0, column Currency"),
        ([[Decimal(1), "", "Usage", "USD"]], (), "row 0: empty SubscriptionId"),
        ([], ("Cost", "SubscriptionId", "Currency"), "no ChargeType column"),
        ([[Decimal(1), SUBSCRIPTION, "Usage"]], (), "row 0: has 3 values for 4 columns"),
    ],
)
def test_an_unusable_window_totals_answer_is_refused_naming_row_and_column(
    rows: list[list[Any]], columns: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        mapping.window_totals(window_answer(rows, columns), query_type="ActualCost")


def test_the_window_check_compares_window_totals_with_stored_and_recent_days() -> None:
    from loaders.azure_cost_management import changes

    # GIVEN stored days up to 2026-06-28 and a window [2026-05-01, 2026-06-30)
    stored_days = {20260501, 20260627, 20260628}
    # WHEN the recent days are picked, THEN they are the last RECENT_DAYS stored days and
    # every day after them, never before the window
    recent = changes.recent_start(stored_days, date(2026, 5, 1), date(2026, 6, 30))
    assert recent == date(2026, 6, 29 - changes.RECENT_DAYS)
    assert changes.recent_start(stored_days, date(2026, 6, 27), date(2026, 6, 30)) == date(
        2026, 6, 27
    )
    assert changes.recent_start(set(), date(2026, 5, 1), date(2026, 6, 30)) == date(2026, 5, 1)
    # ... and the window totals hold when they equal the older stored days plus the recent
    # ones, ids compared case-insensitively
    old = {("ActualCost", 20260501, "ABC", "Usage", "USD"): Decimal("10")}
    new = {("ActualCost", 20260629, "abc", "usage", "USD"): Decimal("5")}
    remote = {("ActualCost", "abc", "Usage", "USD"): Decimal("15")}
    assert changes.window_changed(remote, old, new) == set()
    # ... not when an older day moved, a group is new, or one vanished
    moved = {("ActualCost", "abc", "Usage", "USD"): Decimal("15.01")}
    assert changes.window_changed(moved, old, new) == {("ActualCost", "abc", "usage", "USD")}
    extra = {**remote, ("ActualCost", "abc", "Refund", "USD"): Decimal("-1")}
    assert changes.window_changed(extra, old, new) == {("ActualCost", "abc", "refund", "USD")}
    assert changes.window_changed({}, old, new) == {("ActualCost", "abc", "usage", "USD")}
