"""The rate-optimization marts (issue #17) on a FOCUS export of our own, both clouds, with
every figure computed by hand below: a spend-based AWS savings plan partly unused, an Azure
reservation fully used in EUR with a negotiated discount, on-demand usage of a service a
commitment could cover and of one it could not, and both purchases. The file is imported by
the real loader and the whole project is built (`dbt build`: every model, data test - the
utilization reconciliation among them - and unit test).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from focus_testing import dbt_build, fetch, write_rows

from loaders import focus_files

HEADER = [
    "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory",
    "ChargeClass", "ChargeFrequency", "ProviderName", "PublisherName", "InvoiceIssuerName",
    "SubAccountId", "SubAccountName", "ServiceName", "ServiceCategory", "ServiceSubcategory",
    "RegionId", "PricingCategory", "CommitmentDiscountId", "CommitmentDiscountName",
    "CommitmentDiscountType", "CommitmentDiscountCategory", "CommitmentDiscountStatus",
    "BilledCost", "EffectiveCost", "ListCost", "ContractedCost",
]  # fmt: skip
DAY = "2026-01-10T00:00:00Z"
NEXT_DAY = "2026-01-11T00:00:00Z"
PERIOD = ("2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z")
PLAN = "arn:aws:savingsplans::111111111111:savingsplan/sp-1"
RESERVATION = "/providers/Microsoft.Capacity/reservationOrders/ro-1/reservations/ri-1"


def aws(service, category, subcategory, charge, frequency, pricing, commitment, status,
        billed, effective, list_cost, contracted):  # fmt: skip
    plan = [PLAN, "", "Compute Savings Plan", "Spend", status] if commitment else [""] * 5
    return [
        "111111111111", "Payer", "USD", *PERIOD, DAY, NEXT_DAY, charge, "", frequency, "AWS",
        "AWS", "AWS", "222222222222", "Workloads", service, category, subcategory,
        "us-east-1", pricing, *plan, billed, effective, list_cost, contracted,
    ]  # fmt: skip


def azure(charge, frequency, pricing, commitment, status, billed, effective, list_cost,
          contracted):  # fmt: skip
    reservation = (
        [RESERVATION, "VM reservation", "Reservation", "Usage", status] if commitment else [""] * 5
    )
    return [
        "ba-1", "Contoso", "EUR", *PERIOD, DAY, NEXT_DAY, charge, "", frequency, "Microsoft",
        "Microsoft", "Microsoft", "/subscriptions/SUB-1", "Production", "Virtual Machines",
        "Compute", "Virtual Machines", "westeurope", pricing, *reservation, billed, effective,
        list_cost, contracted,
    ]  # fmt: skip


# fmt: off
ROWS = [
    # AWS: the savings plan's monthly fee (cash side, left out of utilization and savings)
    aws("Savings Plans for AWS Compute usage", "Compute", "Virtual Machines", "Purchase",
        "Recurring", "Committed", True, "", "100", "0", "0", "0"),
    # ... EC2 and Lambda usage it covered (amortized: effective cost, no billed cost)
    aws("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "Usage",
        "Usage-Based", "Committed", True, "Used", "0", "60", "100", "100"),
    aws("AWS Lambda", "Compute", "Serverless Compute", "Usage", "Usage-Based", "Committed",
        True, "Used", "0", "10", "15", "15"),
    # ... and what it left unused that day (no list price: nothing was consumed)
    aws("Savings Plans for AWS Compute usage", "Compute", "Virtual Machines", "Usage",
        "Usage-Based", "Committed", True, "Unused", "0", "30", "0", "0"),
    # AWS on demand: EC2 (a commitment could cover it), S3 (none can)
    aws("Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", "Usage",
        "Usage-Based", "Standard", False, "", "40", "40", "40", "40"),
    aws("Amazon Simple Storage Service", "Storage", "Object Storage", "Usage", "Usage-Based",
        "Standard", False, "", "20", "20", "20", "20"),
    # Azure, in EUR: the reservation's purchase, the VM usage it covered (negotiated price
    # 72 against a list price of 80) and VM usage on demand (negotiated 45 against 50)
    azure("Purchase", "One-Time", "Committed", True, "", "300", "0", "0", "0"),
    azure("Usage", "Usage-Based", "Committed", True, "Used", "0", "50", "80", "72"),
    azure("Usage", "Usage-Based", "Standard", False, "", "50", "50", "50", "45"),
]
# fmt: on


@pytest.fixture(scope="module")
def commitments_built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("commitments")
    export = write_rows(work / "export" / "focus-2026-01.csv", HEADER, ROWS)
    db_path = work / "finops.duckdb"
    focus_files.load(db_path, str(export))
    dbt_build(db_path, work)
    return db_path


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
