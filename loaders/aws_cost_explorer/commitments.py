"""Cost Explorer commitment answers -> rows of `raw.aws_commitment_utilization` (pure, no I/O).

The cost rows (`mapping`) already hold the money of AWS commitments, by record type:
`SavingsPlanCoveredUsage` / `DiscountedUsage` carry the amortized cost of the usage a savings
plan / reservation covered (used), `SavingsPlanRecurringFee` / `RIFee` the amortized cost
it left unused. What they do not say is *which* commitment: that, with its terms, comes from

* `GetSavingsPlansUtilizationDetails` - one row per savings plan ARN, aggregated over the
  request's TimePeriod (the operation has no granularity), so one request per day
  (`savings_plans_request`), followed through `NextToken`;
* `GetReservationUtilization` with `GroupBy` SUBSCRIPTION_ID and `Granularity` DAILY - one
  group per reservation and day, the whole window in one query (`reservations_request`),
  followed through `NextPageToken`.

Each is sent only when the discovery query found the matching record types in the window
(`needed_operations`), and every page costs USD 0.01 like GetCostAndUsage's.

Coverage is computed from the record types (to the cent of the bill); Cost Explorer's own
coverage operations are landed beside it in `raw.aws_commitment_coverage` as a cross-check
(dbt test `assert_aws_commitment_coverage_agrees`) and for the figures the AWS console shows:

* `GetSavingsPlansCoverage` with `Granularity` DAILY over the window, no GroupBy (the API
  refuses a Granularity with a GroupBy), one query (`savings_plans_coverage_request`),
  followed through `NextToken`;
* `GetReservationCoverage` with `Granularity` DAILY, one query per service whose
  `DiscountedUsage` rows the load landed (`Filter` SERVICE: without it the operation
  answers for EC2 only; `reservations_coverage_request`), followed through `NextPageToken`.

Response fields read (the public API reference; what an answer lacks is null, never
guessed): savings plans - `SavingsPlanArn`; `Attributes` AccountId, SavingsPlansType,
Region, InstanceFamily, StartDateTime, EndDateTime, PurchaseTerm, PaymentOption;
`Utilization` TotalCommitment, UsedCommitment, UnusedCommitment; `Savings`
OnDemandCostEquivalent, NetSavings. Reservations - group `Value` (the subscription id);
`Attributes` accountId, leaseId, region, instanceType, startDateTime, endDateTime,
subscriptionType (the payment option), numberOfInstances; `Utilization` TotalAmortizedFee,
RICostForUnusedHours, OnDemandCostOfRIHoursUsed, NetRISavings. Savings plans coverage -
`SavingsPlansCoverages[]` TimePeriod.Start; `Coverage` SpendCoveredBySavingsPlans,
OnDemandCost, TotalCost, CoveragePercentage. Reservations coverage - `CoveragesByTime[]`
TimePeriod.Start; `Total.CoverageHours` ReservedHours, OnDemandHours, TotalRunningHours,
CoverageHoursPercentage; `Total.CoverageCost` OnDemandCost. The API returns amounts as
decimal strings without a unit: Cost Explorer's commitment figures are in USD.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from loaders.aws_cost_explorer.mapping import _parse_amount

SAVINGS_PLANS = "GetSavingsPlansUtilizationDetails"
RESERVATIONS = "GetReservationUtilization"
SAVINGS_PLANS_COVERAGE = "GetSavingsPlansCoverage"
RESERVATIONS_COVERAGE = "GetReservationCoverage"
# The record types whose presence in a window makes each operation worth its requests.
RECORD_TYPES = {
    SAVINGS_PLANS: ("SavingsPlanCoveredUsage", "SavingsPlanRecurringFee"),
    RESERVATIONS: ("DiscountedUsage", "RIFee"),
    SAVINGS_PLANS_COVERAGE: ("SavingsPlanCoveredUsage",),
    RESERVATIONS_COVERAGE: ("DiscountedUsage",),
}
CURRENCY = "USD"
SAVINGS_PLAN_TYPES = {
    "ComputeSavingsPlans": "Compute Savings Plan",
    "EC2InstanceSavingsPlans": "EC2 Instance Savings Plan",
    "SageMakerSavingsPlans": "SageMaker Savings Plan",
    "DatabaseSavingsPlans": "Database Savings Plan",
}


def needed_operations(record_types: Iterable[str]) -> list[str]:
    """The commitment operations a window needs, from the record types discovery found."""
    found = set(record_types)
    return [op for op, types in RECORD_TYPES.items() if found.intersection(types)]


def savings_plans_request(day: date) -> dict[str, Any]:
    """GetSavingsPlansUtilizationDetails for one day (the operation sums its TimePeriod)."""
    return {"TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}}


def reservations_request(start: date, end: date) -> dict[str, Any]:
    """GetReservationUtilization per reservation (SUBSCRIPTION_ID) and day over the window."""
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "GroupBy": [{"Type": "DIMENSION", "Key": "SUBSCRIPTION_ID"}],
    }


def savings_plans_coverage_request(start: date, end: date) -> dict[str, Any]:
    """GetSavingsPlansCoverage per day over the window (no GroupBy: the API refuses one with
    a Granularity)."""
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["SpendCoveredBySavingsPlans"],
    }


def reservations_coverage_request(start: date, end: date, service: str) -> dict[str, Any]:
    """GetReservationCoverage of one service per day over the window (without a SERVICE
    filter the operation answers for EC2 only)."""
    return {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Filter": {"Dimensions": {"Key": "SERVICE", "Values": [service]}},
    }


def reservation_services(cost_rows: Iterable[Mapping[str, Any]]) -> list[str]:
    """The services of the landed `DiscountedUsage` rows: one coverage query each."""
    return sorted({r["service"] for r in cost_rows if r["record_type"] == "DiscountedUsage"})


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _day(value: Any) -> date | None:
    text = _text(value)
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        return None


def _start_day(entry: Mapping[str, Any], where: str) -> date:
    """The day an answer's entry is of (its TimePeriod.Start); a ValueError naming `where`."""
    day = _day((entry.get("TimePeriod") or {}).get("Start"))
    if day is None:
        raise ValueError(f"{where}: no TimePeriod.Start")
    return day


def _amount(values: Mapping[str, Any], name: str, where: str) -> Decimal:
    return _parse_amount(values.get(name), f"{where}: {name}")


def _optional_amount(values: Mapping[str, Any], name: str, where: str) -> Decimal | None:
    return None if values.get(name) in (None, "") else _amount(values, name, where)


def _term(value: Any) -> str | None:
    text = _text(value)
    return {"1yr": "1 Year", "3yr": "3 Years"}.get(text.lower(), text) if text else None


def savings_plans_rows(page: Mapping[str, Any], day: date) -> list[dict[str, Any]]:
    """Rows of one GetSavingsPlansUtilizationDetails page requested for `day`.

    Raises ValueError naming the detail's index and ARN when an amount is missing or bad.
    """
    rows = []
    for index, detail in enumerate(page.get("SavingsPlansUtilizationDetails") or []):
        arn = _text(detail.get("SavingsPlanArn"))
        where = f"{SAVINGS_PLANS} {day} SavingsPlansUtilizationDetails[{index}]"
        if arn is None:
            raise ValueError(f"{where}: SavingsPlanArn is missing")
        where = f"{where} ({arn})"
        attributes = detail.get("Attributes") or {}
        utilization = detail.get("Utilization") or {}
        savings = detail.get("Savings") or {}
        plan_type = _text(attributes.get("SavingsPlansType"))
        rows.append(
            {
                "time_period_start": day,
                "commitment_kind": "SavingsPlan",
                "commitment_id": arn,
                "owner_account_id": _text(attributes.get("AccountId")),
                "commitment_type": SAVINGS_PLAN_TYPES.get(plan_type or "", plan_type),
                "region": _text(attributes.get("Region")),
                "instance_family": _text(attributes.get("InstanceFamily")),
                "start_date": _day(attributes.get("StartDateTime")),
                "end_date": _day(attributes.get("EndDateTime")),
                "term": _term(attributes.get("PurchaseTerm")),
                "payment_option": _text(attributes.get("PaymentOption")),
                "used_amount": _amount(utilization, "UsedCommitment", where),
                "unused_amount": _amount(utilization, "UnusedCommitment", where),
                "on_demand_cost_equivalent": _optional_amount(
                    savings, "OnDemandCostEquivalent", where
                ),
                "net_savings": _optional_amount(savings, "NetSavings", where),
                "currency": CURRENCY,
            }
        )
    return rows


def reservations_rows(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one GetReservationUtilization page grouped by SUBSCRIPTION_ID, daily.

    used = TotalAmortizedFee - RICostForUnusedHours (the amortized fee of the hours used),
    unused = RICostForUnusedHours. Raises ValueError naming the day and subscription id.
    """
    rows = []
    for index, period in enumerate(page.get("UtilizationsByTime") or []):
        start = _start_day(period, f"{RESERVATIONS} UtilizationsByTime[{index}]")
        for group in period.get("Groups") or []:
            subscription = _text(group.get("Value"))
            where = f"{RESERVATIONS} {start} reservation {subscription}"
            if subscription is None:
                raise ValueError(f"{RESERVATIONS} {start}: a group has no Value")
            attributes = group.get("Attributes") or {}
            utilization = group.get("Utilization") or {}
            total = _amount(utilization, "TotalAmortizedFee", where)
            unused = _amount(utilization, "RICostForUnusedHours", where)
            rows.append(
                {
                    "time_period_start": start,
                    "commitment_kind": "Reservation",
                    "commitment_id": _text(attributes.get("leaseId")) or subscription,
                    "owner_account_id": _text(attributes.get("accountId")),
                    "commitment_type": "Reserved Instance",
                    "region": _text(attributes.get("region")),
                    "instance_family": _text(attributes.get("instanceType")),
                    "start_date": _day(attributes.get("startDateTime")),
                    "end_date": _day(attributes.get("endDateTime")),
                    "term": None,
                    "payment_option": _text(attributes.get("subscriptionType")),
                    "used_amount": total - unused,
                    "unused_amount": unused,
                    "on_demand_cost_equivalent": _optional_amount(
                        utilization, "OnDemandCostOfRIHoursUsed", where
                    ),
                    "net_savings": _optional_amount(utilization, "NetRISavings", where),
                    "currency": CURRENCY,
                }
            )
    return rows


def _coverage_row(day: date, kind: str, service: str | None) -> dict[str, Any]:
    return {
        "time_period_start": day,
        "commitment_kind": kind,
        "service": service,
        "covered_cost": None,
        "on_demand_cost": None,
        "total_cost": None,
        "reserved_hours": None,
        "on_demand_hours": None,
        "total_running_hours": None,
        "coverage_percentage": None,
        "currency": CURRENCY,
    }


def savings_plans_coverage_rows(page: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Rows of one GetSavingsPlansCoverage page (DAILY, no GroupBy): one per day, all
    services. Raises ValueError naming the entry's index and day when an amount is bad."""
    rows = []
    for index, entry in enumerate(page.get("SavingsPlansCoverages") or []):
        where = f"{SAVINGS_PLANS_COVERAGE} SavingsPlansCoverages[{index}]"
        day = _start_day(entry, where)
        where = f"{where} ({day})"
        coverage = entry.get("Coverage") or {}
        row = _coverage_row(day, "SavingsPlan", None)
        row.update(
            covered_cost=_amount(coverage, "SpendCoveredBySavingsPlans", where),
            on_demand_cost=_optional_amount(coverage, "OnDemandCost", where),
            total_cost=_optional_amount(coverage, "TotalCost", where),
            coverage_percentage=_optional_amount(coverage, "CoveragePercentage", where),
        )
        rows.append(row)
    return rows


def reservations_coverage_rows(page: Mapping[str, Any], service: str) -> list[dict[str, Any]]:
    """Rows of one GetReservationCoverage page (DAILY, one service): the day's `Total`.
    Raises ValueError naming the service and day when an amount is bad."""
    rows = []
    for index, period in enumerate(page.get("CoveragesByTime") or []):
        where = f"{RESERVATIONS_COVERAGE} {service} CoveragesByTime[{index}]"
        day = _start_day(period, where)
        where = f"{where} ({day})"
        total = period.get("Total") or {}
        hours = total.get("CoverageHours") or {}
        cost = total.get("CoverageCost") or {}
        row = _coverage_row(day, "Reservation", service)
        row.update(
            reserved_hours=_amount(hours, "ReservedHours", where),
            on_demand_hours=_optional_amount(hours, "OnDemandHours", where),
            total_running_hours=_optional_amount(hours, "TotalRunningHours", where),
            coverage_percentage=_optional_amount(hours, "CoverageHoursPercentage", where),
            on_demand_cost=_optional_amount(cost, "OnDemandCost", where),
        )
        rows.append(row)
    return rows
