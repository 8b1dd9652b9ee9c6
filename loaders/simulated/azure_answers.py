"""The Cost Management Query API's answers rendered from the cost model: pages linked by
nextLink, one query per subscription, query type (ActualCost / AmortizedCost) and charge
type, shaped as the real API answers the Azure loader (loaders/azure_cost_management)."""

from __future__ import annotations

import hashlib
from calendar import monthrange
from datetime import date
from typing import Any

from loaders.azure_cost_management import mapping as azure_mapping
from loaders.simulated import catalog
from loaders.simulated.cost_model import CostModel, uniform

AZURE_PAGE_ROWS = azure_mapping.PAGE_ROWS  # rows per Query API page
AZURE_API_VERSION = "2023-11-01"


def _yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _azure_rows(
    model: CostModel, account: catalog.Account, query_type: str, charge_type: str, day: date
) -> list[tuple[str, str, float]]:
    """(ServiceName, ResourceLocation, cost) of one day of one query."""
    rows: list[tuple[str, str, float]] = []

    def usage(service: str, region: str) -> float:
        return model.usage("Azure", account, service, region, day)

    reserved = account.id == catalog.AZURE_RESERVATION[0]
    if charge_type == "Usage":
        for service, regions in catalog.AZURE_USAGE[account.id]:
            for region in regions:
                cost = usage(service, region)
                if (account.id, service, region) == catalog.AZURE_RESERVATION:
                    _daily, used, covered = model.azure_reservation(day)
                    cost = max(cost - covered, 0.05 * cost)
                    if query_type == "AmortizedCost":
                        cost += used
                rows.append((service, region, cost))
    elif charge_type == "Purchase" and reserved and query_type == "ActualCost" and day.day == 1:
        daily = model.azure_reservation(day)[0]
        monthly = daily * monthrange(day.year, day.month)[1]
        rows.append((catalog.AZURE_RESERVATION[1], catalog.AZURE_PURCHASE_LOCATION, monthly))
    elif charge_type == "UnusedReservation" and reserved and query_type == "AmortizedCost":
        daily, used, _ = model.azure_reservation(day)
        rows.append((catalog.AZURE_RESERVATION[1], catalog.AZURE_RESERVATION[2], daily - used))
    elif charge_type == "Adjustment" and account.id == catalog.AZURE_CREDIT_SERIES[0]:
        if day.day in (5, 20):
            _, service, region = catalog.AZURE_CREDIT_SERIES
            share = 0.5 + 0.4 * uniform(model.seed, "credit", "Azure", day)
            rows.append((service, region, -share * usage(service, region)))
    elif charge_type == "Refund" and account.id == catalog.AZURE_REFUND_SERIES[0]:
        _, service, region = catalog.AZURE_REFUND_SERIES
        if uniform(model.seed, "refund", "Azure", day) < 1 / 45:
            days_refunded = 1.0 + 2.0 * uniform(model.seed, "refund-size", "Azure", day)
            rows.append((service, region, -days_refunded * usage(service, region)))
    return sorted(rows)


def _azure_pages(
    model: CostModel,
    account: catalog.Account,
    query_type: str,
    charge_type: str,
    days: list[date],
    start: date,
    page_rows: int,
) -> list[dict[str, Any]]:
    scope = f"/subscriptions/{account.id}"
    columns = [
        {"name": "Cost", "type": "Number"},
        {"name": "UsageDate", "type": "Number"},
        {"name": "ServiceName", "type": "String"},
        {"name": "ResourceLocation", "type": "String"},
        {"name": "Currency", "type": "String"},
    ]
    rows = [
        [model.restated(cost, day), _yyyymmdd(day), service, location, account.currency]
        for day in days
        for service, location, cost in _azure_rows(model, account, query_type, charge_type, day)
    ]
    chunks = [rows[i : i + page_rows] for i in range(0, len(rows), page_rows)] or [[]]
    tag = f"{model.seed}|{account.id}|{query_type}|{charge_type}|{start}"
    query_id = hashlib.blake2b(tag.encode(), digest_size=16).hexdigest()
    name = f"{query_id[:8]}-{query_id[8:12]}-{query_id[12:16]}-{query_id[16:20]}-{query_id[20:32]}"
    pages = []
    for number, chunk in enumerate(chunks):
        link = None
        if number + 1 < len(chunks):
            token = hashlib.blake2b(f"{tag}|{number + 1}".encode(), digest_size=24).hexdigest()
            link = (
                f"https://management.azure.com{scope}/providers/Microsoft.CostManagement/query"
                f"?api-version={AZURE_API_VERSION}&$skiptoken={token}"
            )
        pages.append(
            {
                "id": f"{scope}/providers/Microsoft.CostManagement/query/{name}",
                "name": name,
                "type": "Microsoft.CostManagement/query",
                "location": None,
                "sku": None,
                "eTag": None,
                "properties": {"nextLink": link, "columns": columns, "rows": chunk},
            }
        )
    return pages


def azure_answers(
    model: CostModel, days: list[date], start: date, page_rows: int
) -> list[tuple[str, str, dict[str, str], list[dict[str, Any]]]]:
    queries = []
    for account in catalog.AZURE_SUBSCRIPTIONS:
        for query_type in azure_mapping.QUERY_TYPES:
            for charge_type in azure_mapping.CHARGE_TYPES:
                fixed = {
                    "SubscriptionId": account.id,
                    "SubscriptionName": account.name,
                    "ChargeType": charge_type,
                }
                pages = _azure_pages(
                    model, account, query_type, charge_type, days, start, page_rows
                )
                queries.append((f"/subscriptions/{account.id}", query_type, fixed, pages))
    return queries
