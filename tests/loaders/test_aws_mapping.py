"""Cost Explorer GetCostAndUsage pages -> raw.aws_cost_explorer rows, on real payload shapes."""

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
from loaders.aws_cost_explorer import changes, commitments, mapping
from loaders.aws_cost_explorer.source import AWS_COST_EXPLORER, AWS_COST_EXPLORER_TAGS

FIXTURES = Path(__file__).parent / "fixtures" / "aws_ce"
SERVICE_REGION = ["SERVICE", "REGION"]  # the fixtures: one (account, record type) query
USAGE_FILTER = {"LINKED_ACCOUNT": "123456789012", "RECORD_TYPE": "Usage"}
RAW_COLUMNS = [name for name, _, _ in AWS_COST_EXPLORER.columns]
TAG_COLUMNS = [name for name, _, _ in AWS_COST_EXPLORER_TAGS.columns]


def page(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"get_cost_and_usage.{name}.json").read_text())


def test_multi_page_answer_maps_every_group_with_exact_amounts() -> None:
    # GIVEN the two pages of one (account, Usage) query grouped by SERVICE and REGION
    pages = [page("usage.page_1"), page("usage.page_2")]

    # WHEN each page is mapped
    rows = [
        row
        for p in pages
        for row in mapping.to_rows(p, group_by=SERVICE_REGION, fixed=USAGE_FILTER)
    ]

    # THEN there is one row per group of every day, with the raw table's exact columns
    assert len(rows) == 3 + 2 + 2
    assert all(list(row) == RAW_COLUMNS for row in rows)
    # ... the amounts are the API's decimal strings, not floats, and add up to the cent
    assert all(isinstance(row["unblended_cost"], Decimal) for row in rows)
    assert sum(row["unblended_cost"] for row in rows) == Decimal("5368.7608186977")
    first = rows[0]
    assert first == {
        "time_period_start": date(2026, 1, 29),
        "time_period_end": date(2026, 1, 30),
        "estimated": False,
        "linked_account_id": "123456789012",
        "linked_account_name": None,
        "service": "Amazon Elastic Compute Cloud - Compute",
        "region": "us-east-1",
        "record_type": "Usage",
        "unblended_cost": Decimal("1523.4178923411"),
        "unblended_cost_unit": "USD",
        "amortized_cost": Decimal("1523.4178923411"),
        "amortized_cost_unit": "USD",
        "usage_quantity": Decimal("4381.2500000000"),
        "usage_quantity_unit": "N/A",
    }
    # ... "global" stays as the API wrote it (cleaning is dbt's job)
    assert ("Amazon Route 53", "global") in {(r["service"], r["region"]) for r in rows}


def test_estimated_flag_follows_its_day() -> None:
    # GIVEN page 2 whose only day is still an estimate
    rows = mapping.to_rows(page("usage.page_2"), group_by=SERVICE_REGION, fixed=USAGE_FILTER)

    # THEN every row of that day carries estimated = True, page 1's days do not
    assert {r["estimated"] for r in rows} == {True}
    rows_1 = mapping.to_rows(page("usage.page_1"), group_by=SERVICE_REGION, fixed=USAGE_FILTER)
    assert {r["estimated"] for r in rows_1} == {False}


def test_account_names_come_from_dimension_value_attributes_or_the_caller() -> None:
    # GIVEN a Tax query grouped by LINKED_ACCOUNT and REGION with DimensionValueAttributes
    tax = page("tax_by_account")
    fixed = {"SERVICE": "Tax", "RECORD_TYPE": "Tax"}

    # WHEN it is mapped without, then with, names from the caller
    rows = mapping.to_rows(tax, group_by=["LINKED_ACCOUNT", "REGION"], fixed=fixed)
    renamed = mapping.to_rows(
        tax,
        group_by=["LINKED_ACCOUNT", "REGION"],
        fixed=fixed,
        account_names={"210987654321": "staging (from Organizations)"},
    )

    # THEN names come from the attributes' description, an account without one gets None
    assert [(r["linked_account_id"], r["linked_account_name"]) for r in rows] == [
        ("123456789012", "acme-prod"),
        ("210987654321", "acme-staging"),
        ("999988887777", None),
    ]
    # ... the caller's names win over the page's
    assert renamed[1]["linked_account_name"] == "staging (from Organizations)"
    # ... NoRegion is kept, and a day without groups yields no row
    assert {r["region"] for r in rows} == {"NoRegion"}
    assert {r["time_period_start"] for r in rows} == {date(2026, 1, 1)}
    assert sum(r["unblended_cost"] for r in rows) == Decimal("3033.43")


def test_credits_stay_negative_to_the_last_decimal() -> None:
    # GIVEN a Credit query's page
    rows = mapping.to_rows(
        page("credit"),
        group_by=SERVICE_REGION,
        fixed={"LINKED_ACCOUNT": "638271950443", "RECORD_TYPE": "Credit"},
    )

    # THEN the credit amounts are negative and exact, on both cost bases
    assert [r["unblended_cost"] for r in rows] == [Decimal("-187.44"), Decimal("-1.2E-9")]
    assert [r["amortized_cost"] for r in rows] == [r["unblended_cost"] for r in rows]
    assert {r["record_type"] for r in rows} == {"Credit"}


def test_usage_quantity_may_be_absent() -> None:
    # GIVEN a page whose request did not ask for UsageQuantity
    answer = page("credit")
    for group in answer["ResultsByTime"][0]["Groups"]:
        del group["Metrics"]["UsageQuantity"]

    # WHEN it is mapped
    rows = mapping.to_rows(
        answer,
        group_by=SERVICE_REGION,
        fixed={"LINKED_ACCOUNT": "638271950443", "RECORD_TYPE": "Credit"},
    )

    # THEN the quantity and its unit are None, the costs are still there
    assert [(r["usage_quantity"], r["usage_quantity_unit"]) for r in rows] == [(None, None)] * 2
    assert rows[0]["unblended_cost"] == Decimal("-187.44")


def damaged(change: str) -> dict[str, Any]:
    answer = copy.deepcopy(page("usage.page_1"))
    metrics = answer["ResultsByTime"][1]["Groups"][1]["Metrics"]
    if change == "missing metric":
        del metrics["AmortizedCost"]
    elif change == "missing amount":
        del metrics["UnblendedCost"]["Amount"]
    elif change == "garbage amount":
        metrics["UnblendedCost"]["Amount"] = "12,50"
    elif change == "not finite":
        metrics["UsageQuantity"]["Amount"] = "NaN"
    return answer


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param("missing metric", "metric AmortizedCost is missing", id="missing metric"),
        pytest.param("missing amount", "metric UnblendedCost: Amount is missing", id="no Amount"),
        pytest.param("garbage amount", "Amount '12,50' is not a decimal", id="unparseable Amount"),
        pytest.param("not finite", "metric UsageQuantity: Amount 'NaN'", id="NaN quantity"),
    ],
)
def test_a_bad_amount_names_the_day_the_group_and_the_metric(change: str, message: str) -> None:
    # GIVEN page 1 with one amount of its second day's second group damaged
    answer = damaged(change)

    # WHEN it is mapped, THEN the error says where the bad value is
    with pytest.raises(ValueError) as error:
        mapping.to_rows(answer, group_by=SERVICE_REGION, fixed=USAGE_FILTER)
    assert "ResultsByTime[1] group Keys=['EC2 - Other', 'us-east-1']" in str(error.value)
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("group_by", "fixed", "missing"),
    [
        pytest.param(
            ["SERVICE", "REGION"], {"RECORD_TYPE": "Usage"}, "LINKED_ACCOUNT", id="no account"
        ),
        pytest.param(
            ["SERVICE", "REGION"],
            {"LINKED_ACCOUNT": "123456789012"},
            "RECORD_TYPE",
            id="no record type",
        ),
        pytest.param(["SERVICE"], {}, "LINKED_ACCOUNT, REGION, RECORD_TYPE", id="three missing"),
    ],
)
def test_the_grain_dimensions_must_all_be_known(
    group_by: list[str], fixed: dict[str, str], missing: str
) -> None:
    # GIVEN a query scheme that leaves some grain dimension unknown
    # WHEN a page is mapped, THEN the error names what is missing
    with pytest.raises(ValueError, match=f"dimension\\(s\\) {missing} are neither"):
        mapping.to_rows(page("usage.page_2"), group_by=group_by, fixed=fixed)


def test_group_by_must_match_the_page_group_definitions() -> None:
    # GIVEN a page grouped by SERVICE, REGION but a caller who says REGION, SERVICE
    # WHEN it is mapped, THEN keys are not silently swapped
    with pytest.raises(ValueError, match="grouped by"):
        mapping.to_rows(page("usage.page_2"), group_by=["REGION", "SERVICE"], fixed=USAGE_FILTER)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        pytest.param(
            changes.slice_request(
                changes.Slice("Usage", "us-east-1", date(2026, 1, 1), date(2026, 1, 2))
            )["Filter"],
            {"RECORD_TYPE": "Usage", "REGION": "us-east-1"},
            id="slice filter",
        ),
        pytest.param(
            {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit"]}},
            {"RECORD_TYPE": "Credit"},
            id="single expression",
        ),
        pytest.param(
            {"Dimensions": {"Key": "RECORD_TYPE", "Values": ["Credit", "Refund"]}},
            {},
            id="several values pin nothing",
        ),
        pytest.param(None, {}, id="no filter"),
    ],
)
def test_fixed_dimensions_reads_the_request_filter(
    expression: dict[str, Any] | None, expected: dict[str, str]
) -> None:
    # GIVEN a request Filter, WHEN it is read, THEN only single EQUALS values are pinned
    assert mapping.fixed_dimensions(expression) == expected


def test_mapped_rows_land_in_the_warehouse_unchanged(tmp_path: Path) -> None:
    # GIVEN the rows of both usage pages
    rows = [
        row
        for name in ("usage.page_1", "usage.page_2")
        for row in mapping.to_rows(page(name), group_by=SERVICE_REGION, fixed=USAGE_FILTER)
    ]

    # WHEN they replace their window in a real warehouse
    db = tmp_path / "w.duckdb"
    result = warehouse.replace_window(
        db,
        raw_table="aws_cost_explorer",
        source="aws_cost_explorer",
        scope="111122223333",
        window_start=date(2026, 1, 29),
        window_end=date(2026, 2, 1),
        rows=rows,
        api_requests=2,
        api_cost_usd=Decimal("0.02"),
    )

    # THEN the warehouse holds the same total to the last decimal

    with duckdb.connect(str(db), read_only=True) as con:
        total, estimated_rows = con.execute(
            "select sum(unblended_cost), count(*) filter (where estimated) "
            "from raw.aws_cost_explorer"
        ).fetchone()
    assert result.row_count == 7
    assert total == Decimal("5368.7608186977")
    assert estimated_rows == 2


# ------------------------------------------------------------------ coverage answers


def _coverages() -> dict[str, Any]:
    return {
        "SavingsPlansCoverages": [
            {
                "Attributes": {},
                "Coverage": {
                    "SpendCoveredBySavingsPlans": "115.0000000001",
                    "OnDemandCost": "40",
                    "TotalCost": "155.0000000001",
                    "CoveragePercentage": "74.19",
                },
                "TimePeriod": {"Start": "2026-01-10", "End": "2026-01-11"},
            }
        ]
    }


def test_coverage_answers_map_to_a_row_per_day_with_exact_amounts() -> None:
    [row] = commitments.savings_plans_coverage_rows(_coverages())
    assert (row["time_period_start"], row["commitment_kind"], row["service"]) == (
        date(2026, 1, 10), "SavingsPlan", None,
    )  # fmt: skip
    assert row["covered_cost"] == Decimal("115.0000000001")
    assert (row["on_demand_cost"], row["coverage_percentage"]) == (Decimal(40), Decimal("74.19"))
    page = {
        "CoveragesByTime": [
            {
                "TimePeriod": {"Start": "2026-01-10", "End": "2026-01-11"},
                "Groups": [],
                "Total": {
                    "CoverageHours": {"ReservedHours": "18", "OnDemandHours": "6"},
                    "CoverageCost": {"OnDemandCost": "3.5"},
                },
            }
        ]
    }
    [row] = commitments.reservations_coverage_rows(page, "Amazon Relational Database Service")
    assert (row["service"], row["reserved_hours"], row["on_demand_hours"]) == (
        "Amazon Relational Database Service", Decimal(18), Decimal(6),
    )  # fmt: skip
    # what the answer lacks stays null, never guessed
    assert (row["total_running_hours"], row["covered_cost"]) == (None, None)
    assert row["on_demand_cost"] == Decimal("3.5")


def test_a_bad_coverage_answer_names_the_operation_day_and_field() -> None:
    page = _coverages()
    del page["SavingsPlansCoverages"][0]["Coverage"]["SpendCoveredBySavingsPlans"]
    with pytest.raises(ValueError, match=r"GetSavingsPlansCoverage .*\(2026-01-10\).*Spend"):
        commitments.savings_plans_coverage_rows(page)
    page = {"CoveragesByTime": [{"TimePeriod": {"Start": "2026-01-10"}, "Total": {}}]}
    with pytest.raises(ValueError, match=r"GetReservationCoverage EC2 .*\(2026-01-10\).*Reserved"):
        commitments.reservations_coverage_rows(page, "EC2")


# ------------------------------------------------------------------ tag query answers

TAG_ACCOUNT = "210987654321"


def test_a_tag_page_maps_to_a_row_per_day_value_and_service_with_untagged_as_empty() -> None:
    # GIVEN a tag query's page for key `team` (grouped by TAG team, SERVICE) over two days
    answer = page("tag_team")

    # WHEN it is mapped
    rows = mapping.tag_rows(answer, tag_key="team", linked_account_id=TAG_ACCOUNT)

    # THEN one row per group, with the raw table's exact columns and the account pinned by
    # the request's filter
    assert all(list(row) == TAG_COLUMNS for row in rows)
    assert {row["linked_account_id"] for row in rows} == {TAG_ACCOUNT}
    # ... `team$` is the cost without the tag: value '' (a value, not a missing field)
    assert [(r["time_period_start"], r["tag_key"], r["tag_value"], r["service"]) for r in rows] == [
        (date(2026, 1, 30), "team", "", "Amazon Simple Storage Service"),
        (date(2026, 1, 30), "team", "", "Tax"),
        (date(2026, 1, 30), "team", "data platform", "Amazon Elastic Compute Cloud - Compute"),
        (date(2026, 1, 30), "team", "web", "Amazon Elastic Compute Cloud - Compute"),
        (date(2026, 1, 31), "team", "web", "Amazon Elastic Compute Cloud - Compute"),
    ]
    # ... amounts exact (a credit stays negative), unblended and amortized apart
    assert sum(r["unblended_cost"] for r in rows) == Decimal("1554.4961408490")
    assert sum(r["amortized_cost"] for r in rows) == Decimal("1516.2695408490")
    assert {(r["unblended_cost_unit"], r["amortized_cost_unit"]) for r in rows} == {("USD", "USD")}
    # ... and the Estimated flag of its day
    assert [r["estimated"] for r in rows] == [False] * 4 + [True]


def test_a_tag_key_answered_in_another_case_is_kept_as_answered() -> None:
    # GIVEN an answer whose group keys spell the requested key `team` as `Team`
    answer = json.loads(json.dumps(page("tag_team")).replace("team$", "Team$"))
    answer["GroupDefinitions"][0]["Key"] = "Team"

    # WHEN it is mapped THEN the rows keep Cost Explorer's spelling (dbt maps it back)
    rows = mapping.tag_rows(answer, tag_key="team", linked_account_id=TAG_ACCOUNT)
    assert {r["tag_key"] for r in rows} == {"Team"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param(
            lambda g: g["Metrics"].pop("AmortizedCost"),
            "metric AmortizedCost is missing",
            id="missing metric",
        ),
        pytest.param(
            lambda g: g["Metrics"]["UnblendedCost"].update(Amount="1.402,00"),
            "metric UnblendedCost: Amount '1.402,00' is not a decimal",
            id="unparseable Amount",
        ),
        pytest.param(
            lambda g: g["Keys"].__setitem__(0, "env$prod"),
            "tag group key 'env$prod' is not of the requested tag key 'team'",
            id="another key's group",
        ),
        pytest.param(
            lambda g: g["Keys"].__setitem__(0, "web"),
            "tag group key 'web' has no '$'",
            id="no separator",
        ),
    ],
)
def test_a_bad_tag_group_names_the_key_account_day_group_and_metric(change, message) -> None:
    # GIVEN the tag page with its second day's group damaged
    answer = page("tag_team")
    change(answer["ResultsByTime"][1]["Groups"][0])

    # WHEN it is mapped, THEN the error says where the bad value is
    with pytest.raises(ValueError) as error:
        mapping.tag_rows(answer, tag_key="team", linked_account_id=TAG_ACCOUNT)
    text = str(error.value)
    assert f"tag 'team' account {TAG_ACCOUNT} ResultsByTime[1] (2026-01-31) group Keys=" in text
    assert message in text


def test_a_tag_page_grouped_otherwise_is_refused() -> None:
    # GIVEN a page of the pair queries (SERVICE, REGION) taken for a tag query's answer
    # WHEN it is mapped as one, THEN keys are not read as tags
    with pytest.raises(ValueError, match=r"tag page is grouped by \[\('DIMENSION', 'SERVICE'\)"):
        mapping.tag_rows(page("usage.page_2"), tag_key="team", linked_account_id=TAG_ACCOUNT)


def test_the_tag_request_groups_by_the_configured_key_and_service_in_one_account() -> None:
    request = mapping.tag_request(date(2026, 1, 1), date(2026, 2, 1), TAG_ACCOUNT, "Cost-Center")
    assert request == {
        "TimePeriod": {"Start": "2026-01-01", "End": "2026-02-01"},
        "Granularity": "DAILY",
        "Filter": {
            "Dimensions": {
                "Key": "LINKED_ACCOUNT",
                "Values": [TAG_ACCOUNT],
                "MatchOptions": ["EQUALS"],
            }
        },
        "Metrics": ["UnblendedCost", "AmortizedCost"],
        "GroupBy": [
            {"Type": "TAG", "Key": "Cost-Center"},
            {"Type": "DIMENSION", "Key": "SERVICE"},
        ],
    }
