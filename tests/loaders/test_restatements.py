"""The restatement ledger: a reload records exactly what it changed, per day and account.

.venv/bin/pytest tests/loaders/test_restatements.py -q
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from loaders import warehouse

START = date(2026, 3, 1)
END = date(2026, 3, 4)  # [March 1, March 4): three days
PAYER = "999900000001"
PROD, DEV = "111100000001", "111100000002"
AZURE_SCOPE = "/subscriptions/aaaaaaaa-0000-4000-8000-000000000001"
SUBSCRIPTION = "aaaaaaaa-0000-4000-8000-000000000001"


def aws_row(day: date, account: str, unblended: str, amortized: str | None = None) -> dict:
    return {
        "time_period_start": day,
        "time_period_end": day + timedelta(days=1),
        "estimated": False,
        "linked_account_id": account,
        "linked_account_name": None,
        "service": "AWS Lambda",
        "region": "us-east-1",
        "record_type": "Usage",
        "unblended_cost": Decimal(unblended),
        "unblended_cost_unit": "USD",
        "amortized_cost": Decimal(amortized if amortized is not None else unblended),
        "amortized_cost_unit": "USD",
        "usage_quantity": None,
        "usage_quantity_unit": None,
    }


def azure_row(day: date, query_type: str, cost: str) -> dict:
    return {
        "usage_date": int(day.strftime("%Y%m%d")),
        "query_type": query_type,
        "subscription_id": SUBSCRIPTION,
        "subscription_name": "eu-prod",
        "service_name": "Virtual Machines",
        "resource_location": "westeurope",
        "charge_type": "Usage",
        "cost": Decimal(cost),
        "currency": "EUR",
    }


def load_aws(db_path: Path, rows: list[dict], start: date = START, end: date = END):
    return warehouse.replace_window(
        db_path,
        raw_table="aws_cost_explorer",
        source="simulated",
        scope=PAYER,
        window_start=start,
        window_end=end,
        rows=rows,
    )


def restatements(db_path: Path, load_id: str) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(
            "select charge_date, sub_account_id, billing_currency, cost_type, previous_cost, "
            "new_cost from raw.load_restatements where load_id = ? order by all",
            [load_id],
        ).fetchall()
    finally:
        con.close()


def all_restatements(db_path: Path) -> int:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute("select count(*) from raw.load_restatements").fetchone()[0]
    finally:
        con.close()


D1, D2, D3 = START, START + timedelta(days=1), START + timedelta(days=2)

FIRST_LOAD = [
    aws_row(D1, PROD, "100.00", "90.00"),
    aws_row(D2, PROD, "100.00"),
    aws_row(D2, DEV, "7.50"),
    aws_row(D3, PROD, "100.00"),
]


def test_a_restated_reload_records_each_changed_day_exactly(tmp_path: Path) -> None:
    # GIVEN a first load of March 1-3
    db_path = tmp_path / "finops.duckdb"
    first = load_aws(db_path, FIRST_LOAD)

    # WHEN the same window is reloaded restated: March 1 up (billed only), March 2 down,
    # the dev account's March 2 gone, March 3 unchanged
    second = load_aws(
        db_path,
        [
            aws_row(D1, PROD, "112.25", "90.00"),
            aws_row(D2, PROD, "95.10"),
            aws_row(D3, PROD, "100.00"),
        ],
    )

    # THEN the first load recorded nothing (new data is not a restatement) and the reload
    # recorded the exact deltas, nothing for unchanged totals
    assert restatements(db_path, first.load_id) == []
    assert restatements(db_path, second.load_id) == [
        (D1, PROD, "USD", "billed", Decimal("100.00"), Decimal("112.25")),
        (D2, PROD, "USD", "billed", Decimal("100.00"), Decimal("95.10")),
        (D2, PROD, "USD", "effective", Decimal("100.00"), Decimal("95.10")),
        (D2, DEV, "USD", "billed", Decimal("7.50"), Decimal("0")),
        (D2, DEV, "USD", "effective", Decimal("7.50"), Decimal("0")),
    ]


def test_an_identical_reload_records_nothing(tmp_path: Path) -> None:
    db_path = tmp_path / "finops.duckdb"
    load_aws(db_path, FIRST_LOAD)

    load_aws(db_path, FIRST_LOAD)

    assert all_restatements(db_path) == 0


def test_only_days_an_earlier_load_covered_are_restatements(tmp_path: Path) -> None:
    # GIVEN March 1-3 loaded
    db_path = tmp_path / "finops.duckdb"
    load_aws(db_path, FIRST_LOAD)

    # WHEN a daily run reloads March 3-4: March 3 restated, March 4 seen for the first time
    D4 = END
    daily = load_aws(
        db_path,
        [aws_row(D3, PROD, "101.00"), aws_row(D4, PROD, "80.00")],
        start=D3,
        end=D4 + timedelta(days=1),
    )

    # THEN only March 3 is a restatement; March 4 is new data
    assert restatements(db_path, daily.load_id) == [
        (D3, PROD, "USD", "billed", Decimal("100.00"), Decimal("101.00")),
        (D3, PROD, "USD", "effective", Decimal("100.00"), Decimal("101.00")),
    ]


def test_a_failed_load_neither_counts_as_coverage_nor_records(tmp_path: Path) -> None:
    # GIVEN only a failed attempt at the window
    db_path = tmp_path / "finops.duckdb"
    warehouse.record_failed_load(
        db_path,
        raw_table="aws_cost_explorer",
        source="simulated",
        scope=PAYER,
        window_start=START,
        window_end=END,
        error="throttled",
    )

    # WHEN the window loads, THEN it is a first load: nothing recorded
    load_aws(db_path, FIRST_LOAD)
    assert all_restatements(db_path) == 0

    # AND a bad row rolls back the restatement rows with the rest of the load
    with pytest.raises(warehouse.LoadValidationError):
        load_aws(db_path, [aws_row(D1, PROD, "1.00"), {**aws_row(D2, PROD, "1"), "service": None}])
    assert all_restatements(db_path) == 0


def test_azure_splits_billed_and_effective_by_query_type(tmp_path: Path) -> None:
    # GIVEN an Azure subscription scope loaded with ActualCost and AmortizedCost rows
    db_path = tmp_path / "finops.duckdb"
    common = {
        "raw_table": "azure_cost_management",
        "source": "simulated",
        "scope": AZURE_SCOPE,
        "window_start": START,
        "window_end": END,
    }
    warehouse.replace_window(
        db_path,
        rows=[azure_row(D1, "ActualCost", "200.00"), azure_row(D1, "AmortizedCost", "180.00")],
        **common,
    )

    # WHEN the amortized figure is restated
    reload = warehouse.replace_window(
        db_path,
        rows=[azure_row(D1, "ActualCost", "200.00"), azure_row(D1, "AmortizedCost", "185.00")],
        **common,
    )

    # THEN only the effective cost of that day changed, dated from the YYYYMMDD integer
    assert restatements(db_path, reload.load_id) == [
        (D1, SUBSCRIPTION, "EUR", "effective", Decimal("180.00"), Decimal("185.00")),
    ]
