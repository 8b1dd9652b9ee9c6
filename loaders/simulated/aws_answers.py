"""Cost Explorer's answers rendered from the cost model: the totals pass and the (record type,
region) slices' GetCostAndUsage pages linked by NextPageToken, shaped exactly as the real API
answers the AWS loader's queries (loaders/aws_cost_explorer/changes.py)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from loaders.aws_cost_explorer import changes as aws_changes
from loaders.simulated import catalog
from loaders.simulated.cost_model import (
    AWS_TAX_RATE,
    CostModel,
    support_fee,
    uniform,
)

AWS_PAGE_DAYS = 40  # ResultsByTime days per GetCostAndUsage page


def _ce_amount(value: float) -> str:
    """Cost Explorer's decimal string with 10 places; never '-0.0000000000'."""
    text = f"{value:.10f}"
    return "0.0000000000" if text == "-0.0000000000" else text


# One group: (service, region, unblended, amortized, usage quantity, quantity unit).
_Group = tuple[str, str, float, float, float, str]


def _aws_groups(
    model: CostModel, account: catalog.Account, record_type: str, day: date
) -> list[_Group]:
    groups: list[_Group] = []
    sp_account, sp_service, sp_region = catalog.AWS_SAVINGS_PLAN

    def usage(service: str, region: str) -> float:
        return model.usage("AWS", account, service, region, day)

    if record_type == "Usage":
        for service, regions in catalog.AWS_USAGE[account.id]:
            for region in regions:
                cost = usage(service, region)
                if (account.id, service, region) == catalog.AWS_SAVINGS_PLAN:
                    cost = max(cost - model.aws_savings_plan(day)[2], 0.05 * cost)
                price = 0.02 + 0.5 * uniform(model.seed, "price", account.id, service, region)
                groups.append((service, region, cost, cost, cost / price, "N/A"))
    elif account.id == sp_account and record_type.startswith("SavingsPlan"):
        commitment, used, covered = model.aws_savings_plan(day)
        if record_type == "SavingsPlanCoveredUsage":
            hours = covered / 0.17
            groups.append((sp_service, sp_region, covered, used, hours, "Hrs"))
        elif record_type == "SavingsPlanNegation":
            groups.append((sp_service, sp_region, -covered, 0.0, 0.0, "N/A"))
        elif record_type == "SavingsPlanRecurringFee":
            unused = commitment - used
            groups.append(
                (catalog.AWS_SAVINGS_PLAN_SERVICE, "global", commitment, unused, 24.0, "Hrs")
            )
    elif record_type == "Tax" and day.day == 1:
        tax = AWS_TAX_RATE * model.aws_account_month_usage(account, day)
        groups.append((catalog.AWS_TAX_SERVICE, "NoRegion", tax, tax, 0.0, "N/A"))
    elif record_type == "Support" and account.id == catalog.AWS_SUPPORT_ACCOUNT and day.day == 1:
        org = sum(model.aws_account_month_usage(a, day) for a in catalog.AWS_ACCOUNTS)
        fee = support_fee(org)
        groups.append((catalog.AWS_SUPPORT_SERVICE, "NoRegion", fee, fee, 0.0, "N/A"))
    elif record_type == "Credit" and day.day in (1, 8, 15, 22):
        for credit_account, service, region in catalog.AWS_CREDIT_SERIES:
            if credit_account == account.id:
                share = 0.5 + 0.4 * uniform(model.seed, "credit", service, day)
                credit = -share * usage(service, region)
                groups.append((service, region, credit, credit, 0.0, "N/A"))
    elif record_type == "Refund" and account.id == catalog.AWS_REFUND_SERIES[0]:
        _, service, region = catalog.AWS_REFUND_SERIES
        if uniform(model.seed, "refund", "AWS", day) < 1 / 45:
            days_refunded = 1.0 + 2.0 * uniform(model.seed, "refund-size", "AWS", day)
            refund = -days_refunded * usage(service, region)
            groups.append((service, region, refund, refund, 0.0, "N/A"))
    return groups


def _aws_record_types(account: catalog.Account) -> tuple[str, ...]:
    types = ["Usage", "Tax"]
    if account.id == catalog.AWS_SAVINGS_PLAN[0]:
        types += ["SavingsPlanCoveredUsage", "SavingsPlanNegation", "SavingsPlanRecurringFee"]
    if account.id == catalog.AWS_SUPPORT_ACCOUNT:
        types.append("Support")
    if any(account.id == a for a, _, _ in catalog.AWS_CREDIT_SERIES):
        types.append("Credit")
    if account.id == catalog.AWS_REFUND_SERIES[0]:
        types.append("Refund")
    return tuple(types)


def _metrics(unblended: Decimal | float, amortized: Decimal | float, quantity, unit: str):
    return {
        "AmortizedCost": {"Amount": _ce_amount(amortized), "Unit": "USD"},
        "UnblendedCost": {"Amount": _ce_amount(unblended), "Unit": "USD"},
        "UsageQuantity": {"Amount": _ce_amount(quantity), "Unit": unit},
    }


def _slice_pages(
    model: CostModel,
    key: tuple[str, str],
    by_day: dict[date, list[tuple[str, str, float, float, float, str]]],
    days: list[date],
    start: date,
    page_days: int,
) -> list[dict[str, Any]]:
    """The DAILY pages of one (record type, region) slice, grouped by LINKED_ACCOUNT and
    SERVICE, every day listed, `page_days` days a page, with the accounts' names."""
    definitions = [{"Type": "DIMENSION", "Key": k} for k in aws_changes.SLICE_GROUP_BY]
    names = {a.id: a.name for a in catalog.AWS_ACCOUNTS}
    results = []
    for day in days:
        factor = model.restated(1.0, day)
        groups = [
            {
                "Keys": [account, service],
                "Metrics": _metrics(
                    unblended * factor, amortized * factor, quantity * factor, unit
                ),
            }
            for account, service, unblended, amortized, quantity, unit in sorted(
                by_day.get(day, [])
            )
        ]
        results.append(
            {
                "TimePeriod": {
                    "Start": day.isoformat(),
                    "End": (day + timedelta(days=1)).isoformat(),
                },
                "Total": {},
                "Groups": groups,
                "Estimated": model.estimated(day),
            }
        )
    chunks = [results[i : i + page_days] for i in range(0, len(results), page_days)] or [[]]
    pages = []
    for number, chunk in enumerate(chunks):
        accounts = sorted({g["Keys"][0] for r in chunk for g in r["Groups"]})
        page: dict[str, Any] = {
            "GroupDefinitions": definitions,
            "ResultsByTime": chunk,
            "DimensionValueAttributes": [
                {"Value": a, "Attributes": {"description": names[a]}} for a in accounts
            ],
        }
        if number + 1 < len(chunks):
            token = hashlib.blake2b(
                f"{model.seed}|{key[0]}|{key[1]}|{start}|{number + 1}".encode(), digest_size=24
            ).hexdigest()
            page["NextPageToken"] = token
        pages.append(page)
    return pages


def _month_periods(start: date, end: date) -> list[tuple[date, date]]:
    periods, cursor = [], start
    while cursor < end:
        next_month = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        periods.append((cursor, min(next_month, end)))
        cursor = next_month
    return periods


def aws_answers(
    model: CostModel, start: date, end: date, days: list[date], page_days: int
) -> tuple[list[dict[str, Any]], list[tuple[dict[str, Any], list[dict[str, Any]]]]]:
    """What Cost Explorer answers the AWS loader's first load of [start, end) (the simulated
    source re-lands its whole history window on every run, which is what a first load is):
    the MONTHLY totals pass grouped by RECORD_TYPE and REGION (one page), and one DAILY query
    per (record type, region) slice over the window, grouped by LINKED_ACCOUNT and SERVICE
    (loaders/aws_cost_explorer/changes.py)."""
    by_slice: dict[tuple[str, str], dict[date, list[tuple[str, str, float, float, float, str]]]]
    by_slice = {}
    for account in catalog.AWS_ACCOUNTS:
        for record_type in _aws_record_types(account):
            for day in days:
                for service, region, unblended, amortized, quantity, unit in _aws_groups(
                    model, account, record_type, day
                ):
                    by_slice.setdefault((record_type, region), {}).setdefault(day, []).append(
                        (account.id, service, unblended, amortized, quantity, unit)
                    )
    queries: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    monthly: dict[tuple[date, str, str], list[Decimal]] = {}
    for key in sorted(by_slice):
        pages = _slice_pages(model, key, by_slice[key], days, start, page_days)
        request = aws_changes.slice_request(aws_changes.Slice(key[0], key[1], start, end))
        queries.append((request, pages))
        for page in pages:
            for result in page["ResultsByTime"]:
                day = date.fromisoformat(result["TimePeriod"]["Start"])
                month = max(start, day.replace(day=1))
                for group in result["Groups"]:
                    total = monthly.setdefault((month, *key), [Decimal(0)] * 3)
                    for n, metric in enumerate(("UnblendedCost", "AmortizedCost", "UsageQuantity")):
                        total[n] += Decimal(group["Metrics"][metric]["Amount"])
    totals = {
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": k} for k in aws_changes.TOTALS_GROUP_BY],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": lo.isoformat(), "End": hi.isoformat()},
                "Total": {},
                "Groups": [
                    {
                        "Keys": [record_type, region],
                        "Metrics": {
                            "UnblendedCost": {"Amount": format(u, "f"), "Unit": "USD"},
                            "AmortizedCost": {"Amount": format(a, "f"), "Unit": "USD"},
                            "UsageQuantity": {"Amount": format(q, "f"), "Unit": "N/A"},
                        },
                    }
                    for (month, record_type, region), (u, a, q) in sorted(monthly.items())
                    if month == lo
                ],
                "Estimated": any(model.estimated(d) for d in days if lo <= d < hi),
            }
            for lo, hi in _month_periods(start, end)
        ],
        "DimensionValueAttributes": [],
    }
    return [totals], queries
