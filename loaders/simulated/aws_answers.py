"""Cost Explorer's answers rendered from the cost model: GetDimensionValues (accounts,
record types) and GetCostAndUsage pages linked by NextPageToken, shaped exactly as the real
API answers the AWS loader's queries (loaders/aws_cost_explorer/mapping.py)."""

from __future__ import annotations

import hashlib
from datetime import date, timedelta
from typing import Any

from loaders.aws_cost_explorer import mapping as aws_mapping
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


def _aws_pages(
    model: CostModel,
    account: catalog.Account,
    record_type: str,
    days: list[date],
    start: date,
    page_days: int,
) -> list[dict[str, Any]]:
    definitions = [{"Type": "DIMENSION", "Key": key} for key in aws_mapping.QUERY_GROUP_BY]
    results = []
    for day in days:
        groups = []
        for service, region, unblended, amortized, quantity, unit in sorted(
            _aws_groups(model, account, record_type, day)
        ):
            factor = model.restated(1.0, day)
            groups.append(
                {
                    "Keys": [service, region],
                    "Metrics": {
                        "AmortizedCost": {"Amount": _ce_amount(amortized * factor), "Unit": "USD"},
                        "UnblendedCost": {"Amount": _ce_amount(unblended * factor), "Unit": "USD"},
                        "UsageQuantity": {"Amount": _ce_amount(quantity * factor), "Unit": unit},
                    },
                }
            )
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
        page: dict[str, Any] = {
            "GroupDefinitions": definitions,
            "ResultsByTime": chunk,
            "DimensionValueAttributes": [],
        }
        if number + 1 < len(chunks):
            token = hashlib.blake2b(
                f"{model.seed}|{account.id}|{record_type}|{start}|{number + 1}".encode(),
                digest_size=24,
            ).hexdigest()
            page["NextPageToken"] = token
        pages.append(page)
    return pages


def aws_answers(
    model: CostModel, start: date, end: date, days: list[date], page_days: int
) -> tuple[
    list[tuple[dict[str, Any], dict[str, Any]]], list[tuple[dict[str, Any], list[dict[str, Any]]]]
]:
    period = {"Start": start.isoformat(), "End": end.isoformat()}
    dimension_queries: list[tuple[dict[str, Any], dict[str, Any]]] = []
    accounts_response = {
        "DimensionValues": [
            {"Value": a.id, "Attributes": {"description": a.name}} for a in catalog.AWS_ACCOUNTS
        ],
        "ReturnSize": len(catalog.AWS_ACCOUNTS),
        "TotalSize": len(catalog.AWS_ACCOUNTS),
    }
    dimension_queries.append(
        (
            {"TimePeriod": period, "Dimension": "LINKED_ACCOUNT", "Context": "COST_AND_USAGE"},
            accounts_response,
        )
    )
    queries: list[tuple[dict[str, Any], list[dict[str, Any]]]] = []
    for account in catalog.AWS_ACCOUNTS:
        found = []
        for record_type in _aws_record_types(account):
            pages = _aws_pages(model, account, record_type, days, start, page_days)
            if any(r["Groups"] for page in pages for r in page["ResultsByTime"]):
                found.append((record_type, pages))
        dimension_queries.append(
            (
                {
                    "TimePeriod": period,
                    "Dimension": "RECORD_TYPE",
                    "Context": "COST_AND_USAGE",
                    "Filter": {
                        "Dimensions": {
                            "Key": "LINKED_ACCOUNT",
                            "Values": [account.id],
                            "MatchOptions": ["EQUALS"],
                        }
                    },
                },
                {
                    "DimensionValues": [{"Value": rt, "Attributes": {}} for rt, _ in found],
                    "ReturnSize": len(found),
                    "TotalSize": len(found),
                },
            )
        )
        for record_type, pages in found:
            request = {
                "TimePeriod": period,
                "Granularity": "DAILY",
                "Filter": aws_mapping.query_filter(account.id, record_type),
                "Metrics": list(aws_mapping.QUERY_METRICS),
                "GroupBy": [{"Type": "DIMENSION", "Key": k} for k in aws_mapping.QUERY_GROUP_BY],
            }
            queries.append((request, pages))
    return dimension_queries, queries
