"""The rate-optimization marts (issue #17) on a FOCUS export of our own, both clouds, with
every figure computed by hand below: a spend-based AWS savings plan partly unused, an Azure
reservation fully used in EUR with a negotiated discount, on-demand usage of a service a
commitment could cover and of one it could not, and both purchases. The export
(tests/commitments_testing.py) goes through one real `finops run` shared with the other
rate-optimization tests (conftest `commitments_home`): imported by the real loader, the whole
project built (`dbt build`: every model, data test - the utilization reconciliation among
them - and unit test), published and exported.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from commitments_testing import PLAN, RESERVATION
from focus_testing import fetch


@pytest.fixture(scope="session")
def commitments_built(commitments_home: Path) -> Path:
    """The warehouse of the shared run: the export imported by the real loader, the whole
    project built (`dbt build`) by `finops run`."""
    return commitments_home / "data" / "finops.duckdb"


def test_utilization_per_commitment_by_hand(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, commitment_discount_id, commitment_discount_type, "
        "commitment_discount_category, billing_currency, used_cost, unused_cost, utilization "
        "from marts.fct_commitment_utilization order by provider_name",
    )
    d = Decimal
    assert rows == [
        # 60 + 10 used, 30 unused: 70 %; the 100 fee is the purchase, not counted
        ("AWS", PLAN, "Compute Savings Plan", "Spend", "USD", d("70"), d("30"), 0.7),
        # fully used
        ("Azure", RESERVATION, "Reservation", "Usage", "EUR", d("50"), d("0"), 1.0),
    ]
    # in the reporting currency: USD as it is, EUR at the seed's January rate
    [(rate,)] = fetch(
        commitments_built,
        "select rate from seeds.fx_rates where from_currency = 'EUR' and to_currency = 'USD' "
        "and rate_date <= date '2026-01-10' order by rate_date desc limit 1",
    )
    reporting = fetch(
        commitments_built,
        "select used_cost_reporting from marts.fct_commitment_utilization order by provider_name",
    )
    assert reporting == [(d("70"),), ((d("50") * rate).quantize(d("1e-10")),)]


def test_coverage_per_account_and_category_by_hand(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, sub_account_id, service_category, billing_currency, "
        "committed_cost, on_demand_cost, coverage from marts.fct_commitment_coverage "
        "order by provider_name",
    )
    assert rows == [
        # covered 60 + 10; on demand EC2 40 (S3 cannot be covered, the unused plan is no
        # usage): 70 / 110
        ("AWS", "222222222222", "Compute", "USD", Decimal("70"), Decimal("40"), 0.636364),
        ("Azure", "sub-1", "Compute", "EUR", Decimal("50"), Decimal("50"), 0.5),
    ]


def test_effective_savings_rate_by_hand(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, billing_month, list_cost, contracted_cost, effective_cost, "
        "negotiated_savings, commitment_savings, total_savings, effective_savings_rate, "
        "list_cost_missing_share from marts.fct_effective_savings order by provider_name",
    )
    month, d = date(2026, 1, 1), Decimal
    # fmt: off
    assert rows == [
        # list 100 + 15 + 0 + 40 + 20; effective 60 + 10 + 30 + 40 + 20; savings only on the
        # covered rows: (100 - 60) + (15 - 10) = 45, all of it the commitment's; the unused 30
        # has no list price: 30 / 160 of the cost cannot show a saving
        ("AWS", month, d(175), d(175), d(160), d(0), d(45), d(45), 0.257143, 0.1875),
        # negotiated (80 - 72) + (50 - 45) = 13, commitment 72 - 50 = 22, total 30 of 130
        ("Azure", month, d(130), d(117), d(100), d(13), d(22), d(30), 0.230769, 0.0),
    ]
    # fmt: on


def test_one_row_per_commitment(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, commitment_discount_id, commitment_discount_name, "
        "billing_account_id, first_charge_date, last_charge_date, end_date, days_to_expiry "
        "from marts.dim_commitment_discounts order by provider_name",
    )
    day = date(2026, 1, 10)
    assert rows == [
        ("AWS", PLAN, None, "111111111111", day, day, None, None),
        ("Azure", RESERVATION, "VM reservation", "ba-1", day, day, None, None),
    ]
