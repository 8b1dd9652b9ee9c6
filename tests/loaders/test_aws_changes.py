"""Cost Explorer change detection (loaders/aws_cost_explorer/changes.py): which cells a load
asks for again, and with which queries."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest

from loaders.aws_cost_explorer import changes, mapping

D = date(2026, 10, 1)


def day(n: int) -> date:
    return D + timedelta(days=n)


def totals_page(cells: dict[tuple[int, str, str], str], days: int, **extra: Any) -> dict:
    """A totals-pass page: every day listed, groups (RECORD_TYPE, REGION)."""
    return {
        "GroupDefinitions": [
            {"Type": "DIMENSION", "Key": "RECORD_TYPE"},
            {"Type": "DIMENSION", "Key": "REGION"},
        ],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day(n).isoformat(), "End": day(n + 1).isoformat()},
                "Total": {},
                "Estimated": n >= extra.get("estimated_from", days),
                "Groups": [
                    {
                        "Keys": [record_type, region],
                        "Metrics": {
                            "UnblendedCost": {"Amount": amount, "Unit": "USD"},
                            "AmortizedCost": {"Amount": amount, "Unit": "USD"},
                            "UsageQuantity": {"Amount": "1", "Unit": "N/A"},
                        },
                    }
                    for (m, record_type, region), amount in sorted(cells.items())
                    if m == n
                ],
            }
            for n in range(days)
        ],
    }


def test_totals_pass_sums_cells_and_reads_each_days_estimated_flag() -> None:
    page = totals_page(
        {(0, "Usage", "us-east-1"): "10.25", (1, "Tax", "NoRegion"): "-0.0000000001"},
        days=3,
        estimated_from=2,
    )
    cells, estimated = changes.totals_cells([page])
    assert cells == {
        (day(0), "Usage", "us-east-1"): (Decimal("10.25"), Decimal("10.25"), Decimal(1)),
        (day(1), "Tax", "NoRegion"): (Decimal("-1E-10"), Decimal("-1E-10"), Decimal(1)),
    }
    assert estimated == {day(0): False, day(1): False, day(2): True}


def test_a_totals_page_grouped_otherwise_or_with_a_bad_amount_is_refused() -> None:
    page = totals_page({(0, "Usage", "us-east-1"): "1"}, days=1)
    page["GroupDefinitions"][1]["Key"] = "SERVICE"
    with pytest.raises(ValueError, match="grouped by"):
        changes.totals_cells([page])
    page = totals_page({(0, "Usage", "us-east-1"): "x1"}, days=1)
    with pytest.raises(ValueError, match=r"ResultsByTime\[0\].*UnblendedCost"):
        changes.totals_cells([page])


def test_changed_cells_are_the_new_the_vanished_and_the_moved_ones() -> None:
    one = (Decimal("5"), Decimal("5"), Decimal("2"))
    stored = {
        (day(0), "Usage", "us-east-1"): one,  # unchanged
        (day(1), "Usage", "us-east-1"): one,  # restated
        (day(2), "Credit", "NoRegion"): one,  # vanished
        (day(3), "Usage", "eu-west-1"): one,  # within tolerance
    }
    remote = {
        (day(0), "Usage", "us-east-1"): one,
        (day(1), "Usage", "us-east-1"): (Decimal("5"), Decimal("5.01"), Decimal("2")),
        (day(3), "Usage", "eu-west-1"): (Decimal("5.0000000001"), Decimal("5"), Decimal("2")),
        (day(4), "Refund", "us-east-1"): (Decimal("-3"), Decimal("-3"), Decimal("0")),  # new
    }
    assert changes.changed_cells(remote, stored) == {
        (day(1), "Usage", "us-east-1"),
        (day(2), "Credit", "NoRegion"),
        (day(4), "Refund", "us-east-1"),
    }
    # a usage quantity that moved alone is a change too
    moved = {(day(0), "Usage", "us-east-1"): (Decimal("5"), Decimal("5"), Decimal("3"))}
    assert changes.changed_cells(moved, stored) >= {(day(0), "Usage", "us-east-1")}


def test_slices_cover_runs_of_changed_days_per_record_type_and_region() -> None:
    changed = {
        (day(30), "Usage", "us-east-1"),
        (day(29), "Usage", "us-east-1"),
        (day(10), "Usage", "us-east-1"),  # 19 days earlier: its own query
        (day(30), "Tax", "NoRegion"),
        (day(18), "Refund", "us-east-1"),
        (day(24), "Refund", "us-east-1"),  # 5 days apart: one query
    }
    assert changes.plan_slices(changed) == [
        changes.Slice("Refund", "us-east-1", day(18), day(25)),
        changes.Slice("Tax", "NoRegion", day(30), day(31)),
        changes.Slice("Usage", "us-east-1", day(10), day(11)),
        changes.Slice("Usage", "us-east-1", day(29), day(31)),
    ]
    assert changes.runs([]) == []
    assert changes.days_of(changed, ("Refund", "Tax")) == {day(18), day(24), day(30)}
    assert changes.days_of(changed) == {day(10), day(18), day(24), day(29), day(30)}


def test_a_slice_query_pins_record_type_and_region_and_maps_to_the_raw_grain() -> None:
    request = changes.slice_request(changes.Slice("Usage", "NoRegion", day(0), day(2)))
    assert request["Granularity"] == "DAILY"
    assert request["TimePeriod"] == {"Start": "2026-10-01", "End": "2026-10-03"}
    assert [g["Key"] for g in request["GroupBy"]] == ["LINKED_ACCOUNT", "SERVICE"]
    fixed = mapping.fixed_dimensions(request["Filter"])
    assert fixed == {"RECORD_TYPE": "Usage", "REGION": "NoRegion"}
    page = {
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": "2026-10-01", "End": "2026-10-02"},
                "Estimated": True,
                "Groups": [
                    {
                        "Keys": ["111122223333", "AWS Lambda"],
                        "Metrics": {
                            "UnblendedCost": {"Amount": "1.5", "Unit": "USD"},
                            "AmortizedCost": {"Amount": "1.25", "Unit": "USD"},
                        },
                    }
                ],
            }
        ],
        "DimensionValueAttributes": [
            {"Value": "111122223333", "Attributes": {"description": "prod"}}
        ],
    }
    (row,) = mapping.to_rows(page, group_by=list(changes.SLICE_GROUP_BY), fixed=fixed)
    assert (row["linked_account_id"], row["linked_account_name"], row["service"]) == (
        "111122223333",
        "prod",
        "AWS Lambda",
    )
    assert (row["record_type"], row["region"], row["estimated"]) == ("Usage", "NoRegion", True)
    assert (row["unblended_cost"], row["amortized_cost"]) == (Decimal("1.5"), Decimal("1.25"))
