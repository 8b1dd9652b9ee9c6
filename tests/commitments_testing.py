"""A FOCUS export of our own with commitments on both clouds (issue #17), shared by the
rate-optimization tests (marts, KPIs, report, webhook, dashboard): a spend-based AWS savings
plan partly unused, an Azure reservation fully used in EUR with a negotiated discount,
on-demand usage of a service a commitment could cover and of one it could not, and both
purchases. Every figure the tests expect is worked out by hand from these rows
(tests/dbt/test_commitments.py).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

from aws_ce_emulator import Charge, Commitment, CommitmentUse, Estate
from azure_emulator import AzureCostEmulator, AzureSubscription, EmulatedBenefit
from focus_testing import write_rows

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
# The day the shared pipeline run (conftest `commitments_home`) runs for.
COMMITMENTS_RUN_DATE = date(2026, 1, 12)
PLAN = "arn:aws:savingsplans::111111111111:savingsplan/sp-1"
# Lower case, as Azure's FOCUS exports and the Query API's BenefitId (staged lower-cased) write it.
RESERVATION = "/providers/microsoft.capacity/reservationorders/ro-1/reservations/ri-1"


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


def write_export(folder: Path) -> Path:
    """The export as one monthly FOCUS CSV file in `folder` (what FINOPS_FOCUS_PATH names)."""
    return write_rows(folder / "focus-2026-01.csv", HEADER, ROWS)


# ------------------------------------------------------------------ the same through Cost Explorer

PAYER = "111111111111"
LINKED = "222222222222"


def cost_explorer_estate(start: date, end: date) -> Estate:
    """The export's AWS half as Cost Explorer answers it for `[start, end)`: record types
    instead of FOCUS columns (covered usage at its on-demand price with the plan's amortized
    cost, the negation of that on-demand price, the plan's fee with its unused part as
    amortized cost, on-demand usage), and the plan's day from the commitment operations."""
    day = date(2026, 1, 10)
    ec2, fee = "Amazon Elastic Compute Cloud - Compute", "Savings Plans for AWS Compute usage"
    charges = [
        Charge(day, LINKED, ec2, "us-east-1", "SavingsPlanCoveredUsage", "100", "60"),
        Charge(day, LINKED, "AWS Lambda", "us-east-1", "SavingsPlanCoveredUsage", "15", "10"),
        Charge(day, LINKED, ec2, "us-east-1", "SavingsPlanNegation", "-100", "0"),
        Charge(day, LINKED, "AWS Lambda", "us-east-1", "SavingsPlanNegation", "-15", "0"),
        Charge(day, LINKED, fee, "global", "SavingsPlanRecurringFee", "100", "30"),
        Charge(day, LINKED, ec2, "us-east-1", "Usage", "40", "40"),
        Charge(day, LINKED, "Amazon Simple Storage Service", "us-east-1", "Usage", "20", "20"),
    ]
    plan = Commitment("SavingsPlan", PLAN, LINKED, start=date(2025, 2, 10), end=date(2026, 2, 10))
    uses = [CommitmentUse(plan, day, used="70", unused="30", on_demand="115")]
    return Estate(start, end, charges, {LINKED: "Workloads"}, commitment_uses=uses)


# ------------------------------------------------------------------ the same through the Query API

SUBSCRIPTION = "SUB-1"
BILLING_ACCOUNT = "ba-1"
RESERVATION_END = date(2026, 3, 1)


def query_api_subscription() -> AzureSubscription:
    """The export's Azure half as a subscription of the Query API emulator, in EUR, with its
    reservation (whose list entry ends on RESERVATION_END)."""
    reservation = EmulatedBenefit(
        RESERVATION,
        "VM reservation",
        "Reservation",
        ("Virtual Machines",),
        start=date(2025, 3, 1),
        expiry=RESERVATION_END,
        billing_plan="Upfront",
    )
    return AzureSubscription(
        SUBSCRIPTION,
        "Production",
        currency="EUR",
        services=("Virtual Machines",),
        locations=("westeurope",),
        charge_types=("Usage", "Purchase"),
        benefits=(reservation,),
    )


def answer_the_export(emulator: AzureCostEmulator) -> None:
    """Replace the emulator's generated rows with the export's Azure day, as the Query API
    has it: the reservation's purchase (ActualCost), the VM usage it covered at its amortized
    50 and the VM usage on demand (AmortizedCost and ActualCost, 50: nothing to amortize) -
    and as the Cost Details reports price it: the covered usage at a list price of 80 and a
    negotiated 72, the on-demand usage at 50 and 45, the purchase at none."""
    base = {
        "usage_date": 20260110,
        "subscription_id": SUBSCRIPTION,
        "subscription_name": "Production",
        "service_name": "Virtual Machines",
        "resource_location": "westeurope",
        "currency": "EUR",
    }
    on_demand = {"pricing_model": "OnDemand", "benefit_id": "", "benefit_name": ""}
    covered = {
        "pricing_model": "Reservation",
        "benefit_id": RESERVATION,
        "benefit_name": "VM reservation",
    }
    covered_prices = {"list_cost": Decimal("80"), "contracted_cost": Decimal("72")}
    on_demand_prices = {"list_cost": Decimal("50"), "contracted_cost": Decimal("45")}
    emulator.rows = [
        {**base, "query_type": "ActualCost", "charge_type": "Purchase",
         "cost": Decimal("300"), **covered},
        {**base, "query_type": "AmortizedCost", "charge_type": "Usage",
         "cost": Decimal("50"), **covered, **covered_prices},
        {**base, "query_type": "AmortizedCost", "charge_type": "Usage",
         "cost": Decimal("50"), **on_demand, **on_demand_prices},
        {**base, "query_type": "ActualCost", "charge_type": "Usage",
         "cost": Decimal("50"), **on_demand, **on_demand_prices},
    ]  # fmt: skip
