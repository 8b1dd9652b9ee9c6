"""The Cost Management Query API's answers rendered from the cost model: pages linked by
nextLink, one query per subscription, query type (ActualCost / AmortizedCost) and charge
type, shaped as the real API answers the Azure loader (loaders/azure_cost_management).

The commitment queries (`azure_commitment_answers`) answer from the same amounts: the pricing
query splits each service's amortized usage into OnDemand and, for the reserved VM series,
the reservation's used part; the benefit queries give prod's reservation its used part
(Usage), its UnusedReservation and its Purchase - the very amounts of the charge-type rows
above. `azure_reservations_list` is the reservations list's answer for that reservation.
"""

from __future__ import annotations

import hashlib
from calendar import monthrange
from collections import defaultdict
from datetime import date, timedelta
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
    rows = [
        [model.restated(cost, day), _yyyymmdd(day), service, location, account.currency]
        for day in days
        for service, location, cost in _azure_rows(model, account, query_type, charge_type, day)
    ]
    return _pages(
        model.seed,
        account,
        f"{query_type}|{charge_type}",
        "ResourceLocation",
        rows,
        start,
        page_rows,
    )


def _pages(
    seed: int,
    account: catalog.Account,
    query: str,
    second_grouping: str,
    rows: list[list[Any]],
    start: date,
    page_rows: int,
) -> list[dict[str, Any]]:
    """One query's answer pages (Cost, UsageDate, ServiceName, `second_grouping`, Currency)."""
    scope = f"/subscriptions/{account.id}"
    columns = [
        {"name": "Cost", "type": "Number"},
        {"name": "UsageDate", "type": "Number"},
        {"name": "ServiceName", "type": "String"},
        {"name": second_grouping, "type": "String"},
        {"name": "Currency", "type": "String"},
    ]
    chunks = [rows[i : i + page_rows] for i in range(0, len(rows), page_rows)] or [[]]
    tag = f"{seed}|{account.id}|{query}|{start}"
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


def _pricing_rows(
    model: CostModel, account: catalog.Account, day: date
) -> list[tuple[str, str, float]]:
    """(ServiceName, PricingModel, cost) of one day of the pricing query: each service's
    AmortizedCost Usage (`_azure_rows`) over its regions, the reserved series' used
    reservation apart as Reservation."""
    split: dict[tuple[str, str], float] = defaultdict(float)
    reserved_service = catalog.AZURE_RESERVATION[1] if account.id == catalog.AZURE_PROD.id else None
    used = model.azure_reservation(day)[1] if reserved_service else 0.0
    for service, region, cost in _azure_rows(model, account, "AmortizedCost", "Usage", day):
        if (account.id, service, region) == catalog.AZURE_RESERVATION:
            split[(service, "Reservation")] += used
            cost -= used
        split[(service, "OnDemand")] += cost
    return sorted((service, pricing, cost) for (service, pricing), cost in split.items())


def _benefit_rows(
    model: CostModel, account: catalog.Account, query_type: str, charge_type: str, day: date
) -> list[tuple[str, str, float]]:
    """(ServiceName, BenefitId, cost) of one day of a benefit query of prod: the reservation's
    used part (Usage), and its UnusedReservation and Purchase rows as `_azure_rows` has them."""
    if charge_type == "Usage":
        used = model.azure_reservation(day)[1]
        return [(catalog.AZURE_RESERVATION[1], catalog.AZURE_RESERVATION_ID, used)]
    return [
        (service, catalog.AZURE_RESERVATION_ID, cost)
        for service, _location, cost in _azure_rows(model, account, query_type, charge_type, day)
    ]


# The benefit queries the real loader makes for prod: its committed Usage (its pricing answer
# has Reservation rows), its UnusedReservation and its Purchase pairs.
AZURE_BENEFIT_QUERIES = (
    ("AmortizedCost", "Usage"),
    ("AmortizedCost", "UnusedReservation"),
    ("ActualCost", "Purchase"),
)


def azure_commitment_answers(
    model: CostModel, days: list[date], start: date, page_rows: int
) -> list[tuple[str, str, str, dict[str, str], list[dict[str, Any]]]]:
    """(scope, query_type, breakdown, fixed columns, pages) of the commitment queries: a
    pricing query per subscription, the benefit queries of the reservation's subscription."""
    queries = []
    for account in catalog.AZURE_SUBSCRIPTIONS:
        scope = f"/subscriptions/{account.id}"
        fixed = {"SubscriptionId": account.id, "SubscriptionName": account.name}
        rows = [
            [model.restated(cost, day), _yyyymmdd(day), service, pricing, account.currency]
            for day in days
            for service, pricing, cost in _pricing_rows(model, account, day)
        ]
        pages = _pages(model.seed, account, "pricing", "PricingModel", rows, start, page_rows)
        queries.append(
            (scope, "AmortizedCost", "PricingModel", {**fixed, "ChargeType": "Usage"}, pages)
        )
        if account.id != catalog.AZURE_RESERVATION[0]:
            continue
        for query_type, charge_type in AZURE_BENEFIT_QUERIES:
            rows = [
                [model.restated(cost, day), _yyyymmdd(day), service, benefit, account.currency]
                for day in days
                for service, benefit, cost in _benefit_rows(
                    model, account, query_type, charge_type, day
                )
            ]
            pages = _pages(
                model.seed, account, f"benefit|{query_type}|{charge_type}", "BenefitId", rows,
                start, page_rows,
            )  # fmt: skip
            queries.append(
                (scope, query_type, "BenefitId", {**fixed, "ChargeType": charge_type}, pages)
            )
    return queries


def azure_reservations_list(as_of: date) -> dict[str, Any]:
    """The reservations list's answer (GET /providers/Microsoft.Capacity/reservations) as
    of `as_of`: prod's VM reservation, ending AZURE_RESERVATION_ENDS_AFTER_DAYS later."""
    expiry = as_of + timedelta(days=catalog.AZURE_RESERVATION_ENDS_AFTER_DAYS)
    start = expiry - timedelta(days=365)
    order, reservation = catalog.AZURE_RESERVATION_ID.split("/")[4::2]
    return {
        "value": [
            {
                "id": catalog.AZURE_RESERVATION_ID,
                "name": f"{order}/{reservation}",
                "type": "Microsoft.Capacity/reservationOrders/reservations",
                "location": catalog.AZURE_RESERVATION[2],
                "sku": {"name": catalog.AZURE_RESERVATION_SKU},
                "properties": {
                    "appliedScopeType": "Single",
                    "billingPlan": catalog.AZURE_RESERVATION_BILLING_PLAN,
                    "displayName": catalog.AZURE_RESERVATION_NAME,
                    "displayProvisioningState": "Succeeded",
                    "provisioningState": "Succeeded",
                    "benefitStartTime": f"{start.isoformat()}T00:00:00Z",
                    "effectiveDateTime": f"{start.isoformat()}T00:00:00Z",
                    "purchaseDateTime": f"{start.isoformat()}T00:00:00Z",
                    "expiryDate": expiry.isoformat(),
                    "expiryDateTime": f"{expiry.isoformat()}T00:00:00Z",
                    "quantity": 4,
                    "renew": False,
                    "reservedResourceType": "VirtualMachines",
                    "term": catalog.AZURE_RESERVATION_TERM,
                    "userFriendlyAppliedScopeType": "Single",
                },
            }
        ],
        "nextLink": None,
    }
