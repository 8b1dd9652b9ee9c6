"""An emulator of the Azure Advisor and Consumption recommendation lists (issue #19), on the
Cost Management emulator's server (`azure_emulator.AzureCostEmulator`: same loopback server,
subscriptions list, identity, request recording and programmed faults).

    emulator = AzureRecommendationsEmulator([AzureSubscription("1111...", "contoso-prod")],
                                            billing_accounts={"1234": ["1111..."]})
    with emulator:
        loader.load(..., config=AzureRecommendationsConfig(arm_endpoint=emulator.url, ...))
    emulator.advisor_truth(subscription_id)       # the Cost items a complete load lands

What it adds (shapes from the public REST reference: Advisor "Recommendations - List"
2023-01-01, Consumption "Reservation Recommendations - List" 2023-05-01):

* `GET /subscriptions/{id}/providers/Microsoft.Advisor/recommendations?api-version=2023-01-01
  [&$filter=Category eq 'Cost']`: the subscription's recommendations (`advisor_items`: five
  Cost items - right-size, shutdown, unattached disk, reserved instance, blob tier - and one
  HighAvailability item that only an unfiltered list shows), `advisor_page_rows` a page, the
  nextLink (`$skiptoken`, on `next_link_base` like ARM) repeating api-version and $filter.
  extendedProperties values are strings, as Advisor answers them.
* `GET {scope}/providers/Microsoft.Consumption/reservationRecommendations?api-version=
  2023-05-01&$filter=properties/lookBackPeriod eq 'Last{N}Days'`: a subscription scope
  answers `kind` 'legacy' items (numbers), a billing account scope 'modern' items (amounts as
  {currency, value}), `reservation_page_rows` a page; netSavings are over the look-back
  period (the daily saving x N days), so a loader must normalise them to a month.
* A subscription in `empty` answers both lists empty (`{"value": []}`). `deny(suffix)`
  answers 403 AuthorizationFailed and `unregister(suffix)` 404 SubscriptionNotRegistered on
  the matching path; `fail(429, headers=..., path_contains=...)` throttles as the base does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import quote, unquote, urlencode

from azure_emulator import (
    AzureCostEmulator,
    AzureSubscription,
    RecordedRequest,
    _error,
    _Fault,
    _json_response,
    _unit,
)
from werkzeug import Request, Response

ADVISOR_SUFFIX = "/providers/Microsoft.Advisor/recommendations"
RESERVATION_SUFFIX = "/providers/Microsoft.Consumption/reservationRecommendations"
ADVISOR_API_VERSION = "2023-01-01"
CONSUMPTION_API_VERSION = "2023-05-01"
COST_FILTER = "Category eq 'Cost'"
CENT = Decimal("0.01")

# (key, recommendationTypeId, impactedField, problem, solution, extended properties)
ADVISOR_TEMPLATES: tuple[tuple[str, str, str, str, str, dict[str, str]], ...] = (
    (
        "rightsize",
        "e10b1381-5f0a-47ff-8c7b-37bd13d7c974",
        "Microsoft.Compute/virtualMachines",
        "Right-size or shutdown underutilized virtual machines",
        "Right-size or shutdown underutilized virtual machines",
        {
            "currentSku": "Standard_D4s_v3",
            "targetSku": "Standard_D2s_v3",
            "recommendationType": "SkuChange",
            "region": "EastUS",
        },
    ),
    (
        "shutdown",
        "e10b1381-5f0a-47ff-8c7b-37bd13d7c974",
        "Microsoft.Compute/virtualMachines",
        "Right-size or shutdown underutilized virtual machines",
        "Right-size or shutdown underutilized virtual machines",
        {
            "currentSku": "Standard_E8s_v3",
            "targetSku": "Shutdown",
            "recommendationType": "Shutdown",
            "region": "WestEurope",
        },
    ),
    (
        "disk",
        "48eda464-1485-4dcf-a674-d0905df5054a",
        "Microsoft.Compute/disks",
        "You have disks that have not been attached to a VM for more than 30 days",
        "Delete unattached disks",
        {"diskSku": "Premium_LRS", "region": "eastus"},
    ),
    (
        "reservation",
        "84b1a508-fc21-49da-979e-96894f1665df",
        "Microsoft.Subscriptions/subscriptions",
        "Buy virtual machine reserved instances to save money over pay-as-you-go costs",
        "Buy virtual machine reserved instances to save money over pay-as-you-go costs",
        {
            "displaySKU": "Standard_D2s_v3",
            "targetSku": "Standard_D2s_v3",
            "term": "P1Y",
            "region": "eastus",
            "scope": "Single",
            "lookbackPeriod": "30",
            "qty": "2",
        },
    ),
    (
        "blobtier",
        "6ec7a4e7-1e36-4c4c-8b3a-9e2f1f0a6f51",
        "Microsoft.Storage/storageAccounts",
        "Blobs are stored in the hot tier but are rarely read",
        "Use the cool access tier for rarely accessed blobs",
        {"currentTier": "Hot", "targetTier": "Cool", "region": "westeurope"},
    ),
)

# (sku, normalized size, term, location) of the reservation recommendations of a scope
RESERVATION_TEMPLATES = (
    ("Standard_D2s_v3", "Standard_D2s_v3", "P1Y", "eastus"),
    ("Standard_E4s_v3", "Standard_E2s_v3", "P3Y", "westeurope"),
    ("Standard_B2s", "Standard_B2s", "P1Y", "eastus"),
)


class AzureRecommendationsEmulator(AzureCostEmulator):
    """See the module docstring."""

    def __init__(
        self,
        subscriptions: Sequence[AzureSubscription],
        *,
        empty: Iterable[str] = (),
        advisor_page_rows: int = 2,
        reservation_page_rows: int = 2,
        currency: str = "USD",
        **kwargs: Any,
    ) -> None:
        # The cost ground truth is not what this emulator is for: one day of it.
        kwargs.setdefault("start", date(2026, 1, 1))
        kwargs.setdefault("end", date(2026, 1, 2))
        super().__init__(subscriptions, **kwargs)
        self.empty = {s.lower() for s in empty}
        self.advisor_page_rows = advisor_page_rows
        self.reservation_page_rows = reservation_page_rows
        self.currency = currency

    # ------------------------------------------------------------------ ground truth

    def advisor_items(self, subscription_id: str) -> list[dict[str, Any]]:
        """Every Advisor recommendation of the subscription (Cost and not), as answered."""
        sub = subscription_id.lower()
        if sub in self.empty or sub not in self.subscriptions:
            return []
        upper = subscription_id.upper()  # ARM echoes ids in mixed case; cost data lower-case
        items = []
        for key, type_id, field, problem, solution, extra in ADVISOR_TEMPLATES:
            monthly = (Decimal(20) + 500 * _unit(sub, key)).quantize(CENT)
            resource = (
                f"/subscriptions/{upper}/resourceGroups/RG-Apps/providers/{field}/{key}-01"
                if field != "Microsoft.Subscriptions/subscriptions"
                else f"/subscriptions/{upper}"
            )
            items.append(
                self._advisor_item(
                    sub,
                    key,
                    type_id,
                    "Cost",
                    field,
                    resource,
                    problem,
                    solution,
                    {
                        **extra,
                        "savingsAmount": str(monthly),
                        "annualSavingsAmount": str(monthly * 12),
                        "savingsCurrency": self.currency,
                    },
                )
            )
        items.append(
            self._advisor_item(
                sub,
                "availability",
                "a1b2c3d4-0000-4000-8000-000000000001",
                "HighAvailability",
                "Microsoft.Compute/virtualMachines",
                f"/subscriptions/{upper}/resourceGroups/RG-Apps/providers/"
                "Microsoft.Compute/virtualMachines/single-01",
                "Enable availability sets",
                "Use availability sets",
                {},
            )
        )
        return items

    def _advisor_item(
        self,
        sub: str,
        key: str,
        type_id: str,
        category: str,
        field: str,
        resource: str,
        problem: str,
        solution: str,
        extended: Mapping[str, str],
    ) -> dict[str, Any]:
        name = f"{_unit(sub, key, 'name'):.6f}".replace("0.", "")
        return {
            "id": f"{resource}/providers/Microsoft.Advisor/recommendations/{key}-{name}",
            "name": f"{key}-{name}",
            "type": "Microsoft.Advisor/recommendations",
            "properties": {
                "category": category,
                "impact": "Medium",
                "impactedField": field,
                "impactedValue": resource.rsplit("/", 1)[-1],
                "lastUpdated": "2026-01-30T04:12:45.7386425Z",
                "recommendationTypeId": type_id,
                "risk": "None",
                "shortDescription": {"problem": problem, "solution": solution},
                "extendedProperties": dict(extended),
                "resourceMetadata": {"resourceId": resource, "source": resource},
            },
        }

    def advisor_truth(self, subscription_id: str) -> list[dict[str, Any]]:
        """The Cost items of the subscription: what a complete load lands."""
        return [
            item
            for item in self.advisor_items(subscription_id)
            if item["properties"]["category"] == "Cost"
        ]

    def reservation_items(self, scope: str, lookback_days: int) -> list[dict[str, Any]]:
        """The scope's reservation recommendations for a look-back of `lookback_days`."""
        parts = scope.strip("/").split("/")
        billing = scope.lower().startswith("/providers/microsoft.billing/billingaccounts/")
        if billing:
            if parts[-1] not in self.billing_accounts:
                return []
        elif len(parts) != 2 or parts[1].lower() not in self.subscriptions:
            return []
        if not billing and parts[1].lower() in self.empty:
            return []
        items = []
        for sku, size, term, location in RESERVATION_TEMPLATES:
            daily_cost = (Decimal(3) + 20 * _unit(scope, sku)).quantize(CENT)
            daily_ri = (daily_cost * Decimal("0.6")).quantize(CENT)
            no_ri = daily_cost * lookback_days
            with_ri = daily_ri * lookback_days
            quantity = 1 + int(_unit(scope, sku, "qty") * 4)
            meter = f"{_unit(scope, sku, 'meter'):.6f}".replace("0.", "")
            props: dict[str, Any] = {
                "lookBackPeriod": f"Last{lookback_days}Days",
                "instanceFlexibilityRatio": 1,
                "instanceFlexibilityGroup": f"{size.split('_')[1][0]} Series",
                "normalizedSize": size,
                "recommendedQuantityNormalized": quantity,
                "meterId": f"00000000-0000-4000-8000-000000{meter}",
                "term": term,
                "recommendedQuantity": quantity,
                "firstUsageDate": "2025-11-02T00:00:00-08:00",
                "resourceType": "virtualmachines",
            }
            name = f"{sku}-{term}-{location}".lower()
            if billing:
                money = {"currency": self.currency}
                props.update(
                    scope="Shared",
                    location=location,
                    skuName=sku,
                    costWithNoReservedInstances={**money, "value": float(no_ri)},
                    totalCostWithReservedInstances={**money, "value": float(with_ri)},
                    netSavings={**money, "value": float(no_ri - with_ri)},
                )
                items.append(
                    {
                        "id": f"{scope}{RESERVATION_SUFFIX}/{name}",
                        "name": name,
                        "type": "Microsoft.Consumption/reservationRecommendations",
                        "kind": "modern",
                        "properties": props,
                    }
                )
            else:
                props.update(
                    scope="Single",
                    subscriptionId=parts[1],
                    costWithNoReservedInstances=float(no_ri),
                    totalCostWithReservedInstances=float(with_ri),
                    netSavings=float(no_ri - with_ri),
                )
                items.append(
                    {
                        "id": f"{scope}{RESERVATION_SUFFIX}/{name}",
                        "name": name,
                        "type": "Microsoft.Consumption/reservationRecommendations",
                        "location": location,
                        "sku": sku,
                        "kind": "legacy",
                        "properties": props,
                    }
                )
        return items

    # ------------------------------------------------------------------ faults

    def deny(self, path_contains: str, *, times: int = -1) -> None:
        """403 AuthorizationFailed on the matching requests (the credential lacks the role)."""
        self._program(403, "AuthorizationFailed", path_contains, times)

    def unregister(self, path_contains: str, *, times: int = -1) -> None:
        """404 SubscriptionNotRegistered (the resource provider is not registered)."""
        self._program(404, "SubscriptionNotRegistered", path_contains, times)

    def _program(self, status: int, code: str, path_contains: str, times: int) -> None:
        message = (
            "The client does not have authorization to perform action over the scope"
            if status == 403
            else "The subscription is not registered to use the resource provider"
        )
        with self._lock:
            self._faults.append(
                _Fault(
                    status=status,
                    headers={},
                    body={"error": {"code": code, "message": message}},
                    times=times,
                    path_contains=path_contains,
                    method="GET",
                )
            )

    # ------------------------------------------------------------------ HTTP

    def _route(self, request: Request, record: RecordedRequest) -> Response:
        path = request.path.rstrip("/")
        if request.method != "GET" or not path.endswith((ADVISOR_SUFFIX, RESERVATION_SUFFIX)):
            return super()._route(request, record)
        fault = self._take_fault(request)
        if fault is not None:
            return _json_response(fault.body, fault.status, fault.headers)
        if self.tenant_id and request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, "InvalidAuthenticationToken", "the access token is invalid")
        if path.endswith(ADVISOR_SUFFIX):
            return self._advisor(request, path[: -len(ADVISOR_SUFFIX)])
        return self._reservations(request, path[: -len(RESERVATION_SUFFIX)])

    def _page(self, request: Request, items: list[dict[str, Any]], size: int) -> Response:
        offset = int(request.args.get("$skiptoken", "0") or 0)
        body: dict[str, Any] = {"value": items[offset : offset + size]}
        if offset + size < len(items):
            query = urlencode(
                {k: v for k, v in request.args.items() if k != "$skiptoken"}, quote_via=quote
            )
            body["nextLink"] = (
                f"{self.next_link_base}{request.path}?{query}&$skiptoken={offset + size}"
            )
        return _json_response(body)

    def _advisor(self, request: Request, scope: str) -> Response:
        if request.args.get("api-version") != ADVISOR_API_VERSION:
            return _error(
                400, "InvalidApiVersion", f"api-version {request.args.get('api-version')}"
            )
        parts = scope.strip("/").split("/")
        if len(parts) != 2 or parts[1].lower() not in self.subscriptions:
            return _error(404, "SubscriptionNotFound", f"{scope} not found")
        flt = unquote(request.args.get("$filter", ""))
        if flt and flt != COST_FILTER:
            return _error(400, "BadRequest", f"the emulator filters on {COST_FILTER!r} only")
        items = self.advisor_truth(parts[1]) if flt else self.advisor_items(parts[1])
        return self._page(request, items, self.advisor_page_rows)

    def _reservations(self, request: Request, scope: str) -> Response:
        if request.args.get("api-version") != CONSUMPTION_API_VERSION:
            return _error(
                400, "InvalidApiVersion", f"api-version {request.args.get('api-version')}"
            )
        flt = unquote(request.args.get("$filter", ""))
        days = 7
        if flt:
            prefix = "properties/lookBackPeriod eq 'Last"
            if not (flt.startswith(prefix) and flt.endswith("Days'")):
                return _error(400, "BadRequest", f"unsupported $filter {flt!r}")
            days = int(flt[len(prefix) : -len("Days'")])
            if days not in (7, 30, 60):
                return _error(400, "BadRequest", f"unsupported lookBackPeriod in {flt!r}")
        if self.scope_subscriptions(scope) is None:
            return _error(404, "NotFound", f"scope {scope} not found")
        items = self.reservation_items(scope, days)
        return self._page(request, items, self.reservation_page_rows)
