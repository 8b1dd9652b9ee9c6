"""fct_cost_restatements after `dbt build`: what each reload changed, and when, to the cent.

Three loads of the end of March 2026 at known times (the loader's clock is pinned): a first
load on March 31, a same-day restatement of March 31 before the month closed, and restated
reloads on April 5 (AWS) and April 6 (Azure, EUR) after it closed.

    .venv/bin/pytest tests/dbt/test_restatements_mart.py -q
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from test_dbt_build import EC2, LINKED, PAYER, SUBSCRIPTION, dbt_build, fetch, seed_rate

from loaders import warehouse
from loaders.warehouse import writes

WINDOW = (date(2026, 3, 29), date(2026, 4, 1))  # [March 29, April 1)
MAR29, MAR30, MAR31 = (WINDOW[0] + timedelta(days=n) for n in range(3))
DEV = "111100000002"
AZURE_SCOPE = f"/subscriptions/{SUBSCRIPTION}"


def aws_row(day: date, account: str, unblended: str, amortized: str) -> dict:
    return {
        "time_period_start": day,
        "time_period_end": day + timedelta(days=1),
        "estimated": False,
        "linked_account_id": account,
        "linked_account_name": None,
        "service": EC2,
        "region": "us-east-1",
        "record_type": "Usage",
        "unblended_cost": Decimal(unblended),
        "unblended_cost_unit": "USD",
        "amortized_cost": Decimal(amortized),
        "amortized_cost_unit": "USD",
        "usage_quantity": None,
        "usage_quantity_unit": None,
    }


def azure_rows(actual: str, amortized: str) -> list[dict]:
    common = {
        "usage_date": 20260330,
        "subscription_id": SUBSCRIPTION,
        "subscription_name": "eu-prod",
        "service_name": "Virtual Machines",
        "resource_location": "westeurope",
        "charge_type": "Usage",
        "currency": "EUR",
    }
    return [
        {**common, "query_type": "ActualCost", "cost": Decimal(actual)},
        {**common, "query_type": "AmortizedCost", "cost": Decimal(amortized)},
    ]


def load_at(
    monkeypatch: pytest.MonkeyPatch, when: datetime, db_path: Path, table: str, scope: str,
    rows: list[dict],
) -> str:  # fmt: skip
    """Replace the window with the loader's clock reading `when`; return the load id."""
    monkeypatch.setattr(writes, "utc_now", lambda: when)
    return warehouse.replace_window(
        db_path, raw_table=table, source="simulated", scope=scope,
        window_start=WINDOW[0], window_end=WINDOW[1], rows=rows,
    ).load_id  # fmt: skip


@pytest.fixture(scope="module")
def restated_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict, str]:
    work_dir = tmp_path_factory.mktemp("dbt_restatements")
    db_path = work_dir / "finops.duckdb"
    aws, azure = "aws_cost_explorer", "azure_cost_management"
    loads = {}
    with pytest.MonkeyPatch.context() as mp:
        # First loads (March 31): new data, not restatements.
        loads["aws_first"] = load_at(mp, datetime(2026, 3, 31, 10), db_path, aws, PAYER, [
            aws_row(MAR29, LINKED, "100.00", "100.00"),
            aws_row(MAR30, LINKED, "100.00", "100.00"),
            aws_row(MAR30, DEV, "7.50", "7.50"),
            aws_row(MAR31, LINKED, "100.00", "100.00"),
        ])  # fmt: skip
        loads["azure_first"] = load_at(
            mp, datetime(2026, 3, 31, 10), db_path, azure, AZURE_SCOPE, azure_rows("200", "180")
        )
        # Same evening, before the month closed: March 31 restated up by 4.
        loads["aws_in_month"] = load_at(mp, datetime(2026, 3, 31, 22), db_path, aws, PAYER, [
            aws_row(MAR29, LINKED, "100.00", "100.00"),
            aws_row(MAR30, LINKED, "100.00", "100.00"),
            aws_row(MAR30, DEV, "7.50", "7.50"),
            aws_row(MAR31, LINKED, "104.00", "104.00"),
        ])  # fmt: skip
        # After the close: March 29 billed up, March 30 down, the dev account's day gone.
        loads["aws_after_close"] = load_at(mp, datetime(2026, 4, 5, 6), db_path, aws, PAYER, [
            aws_row(MAR29, LINKED, "112.25", "100.00"),
            aws_row(MAR30, LINKED, "95.10", "95.10"),
            aws_row(MAR31, LINKED, "104.00", "104.00"),
        ])  # fmt: skip
        loads["azure_after_close"] = load_at(
            mp, datetime(2026, 4, 6, 6), db_path, azure, AZURE_SCOPE, azure_rows("210", "180")
        )
    return db_path, loads, dbt_build(db_path, work_dir)


def test_build_passes_without_warnings(restated_warehouse: tuple[Path, dict, str]) -> None:
    _, _, output = restated_warehouse
    assert "WARN=0 ERROR=0" in output, output[-3000:]


def test_the_mart_shows_each_loads_deltas_and_when(restated_warehouse) -> None:
    db_path, loads, _ = restated_warehouse

    rows = fetch(
        db_path,
        "select load_id, charge_date, provider_name, sub_account_id, billing_currency, "
        "cost_type, previous_cost, new_cost, cost_change, days_after_month_close "
        "from marts.fct_cost_restatements order by loaded_at, provider_name, charge_date, "
        "sub_account_id, cost_type",
    )

    in_month, after, azure = (
        loads["aws_in_month"],
        loads["aws_after_close"],
        loads["azure_after_close"],
    )
    D = Decimal
    assert rows == [
        (in_month, MAR31, "AWS", LINKED, "USD", "billed", D(100), D(104), D(4), -1),
        (in_month, MAR31, "AWS", LINKED, "USD", "effective", D(100), D(104), D(4), -1),
        (after, MAR29, "AWS", LINKED, "USD", "billed", D(100), D("112.25"), D("12.25"), 4),
        (after, MAR30, "AWS", LINKED, "USD", "billed", D(100), D("95.10"), D("-4.90"), 4),
        (after, MAR30, "AWS", LINKED, "USD", "effective", D(100), D("95.10"), D("-4.90"), 4),
        (after, MAR30, "AWS", DEV, "USD", "billed", D("7.50"), D(0), D("-7.50"), 4),
        (after, MAR30, "AWS", DEV, "USD", "effective", D("7.50"), D(0), D("-7.50"), 4),
        (azure, MAR30, "Azure", SUBSCRIPTION, "EUR", "billed", D(200), D(210), D(10), 5),
    ]  # fmt: skip


def test_how_much_march_changed_after_it_closed(restated_warehouse) -> None:
    # GIVEN the loads above; WHEN a user asks how much March's billed cost changed after
    # the month closed, in the reporting currency
    db_path, _, _ = restated_warehouse

    [(changed,)] = fetch(
        db_path,
        "select sum(cost_change_reporting) from marts.fct_cost_restatements "
        "where cost_type = 'billed' and date_trunc('month', charge_date) = date '2026-03-01' "
        "and days_after_month_close > 0",
    )

    # THEN it is AWS +12.25 - 4.90 - 7.50 USD plus Azure +10 EUR at March's rate; the
    # in-month +4 on March 31 does not count
    eur_usd = seed_rate(date(2026, 3, 1), "EUR", "USD")
    assert changed == Decimal("-0.15") + Decimal("10") * eur_usd


def test_restatements_use_the_daily_costs_fx_rate(restated_warehouse) -> None:
    db_path, _, _ = restated_warehouse

    mismatched = fetch(
        db_path,
        "select distinct r.charge_date, r.billing_currency, r.fx_rate, d.fx_rate "
        "from marts.fct_cost_restatements as r join marts.fct_daily_costs as d "
        "using (charge_date, billing_currency) where r.fx_rate != d.fx_rate",
    )

    assert mismatched == []
    assert fetch(db_path, "select count(distinct fx_rate) from marts.fct_cost_restatements") == [
        (2,)
    ]


def test_the_mart_reconciles_with_the_raw_totals(restated_warehouse) -> None:
    # The last recorded new_cost of each day/account/type equals what raw holds now.
    db_path, _, _ = restated_warehouse

    latest = fetch(
        db_path,
        "select sum(new_cost) from (select arg_max(new_cost, loaded_at) as new_cost "
        "from marts.fct_cost_restatements where provider_name = 'AWS' and cost_type = 'billed' "
        "group by charge_date, sub_account_id)",
    )
    raw = fetch(
        db_path,
        "select sum(unblended_cost) from raw.aws_cost_explorer",  # every day was restated
    )
    assert latest == raw == [(Decimal("104") + Decimal("112.25") + Decimal("95.10"),)]
