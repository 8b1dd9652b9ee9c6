"""A local emulator of the Azure Cost Management Query API that the real SDK talks to.

    emulator = AzureCostEmulator([AzureSubscription("1111...", "contoso-prod")],
                                 start=date(2026, 5, 1), end=date(2026, 7, 1))
    with emulator:                          # serves http://127.0.0.1:<port>
        loader.load(..., endpoint=emulator.url, credential=StaticTokenCredential(...))
    emulator.truth(scope, start, end)       # the raw rows a complete load must land

What it serves (importable as `azure_emulator` from tests; a pytest-httpserver server):

* `POST {scope}/providers/Microsoft.CostManagement/query` for `/subscriptions/{id}`,
  `/providers/Microsoft.Billing/billingAccounts/{id}` and
  `/providers/Microsoft.Management/managementGroups/{id}` scopes. The request body is parsed
  and answered from a deterministic ground truth (`rows`): `type`, Custom `timePeriod`,
  optional `granularity` Daily (then a `UsageDate` column), at most two `grouping`
  dimensions, an `aggregation` of Cost, a `filter` of `dimensions` In-expressions combined
  with `and`. Rows are sorted and paged `page_rows` at a time; `properties.nextLink` carries
  a `$skiptoken` bound to the request body, so a client must POST the same body to follow it.
  Like ARM, nextLinks name `next_link_base` (default https://management.azure.com), not the
  emulator: a client must send them to its configured endpoint.
  Daily queries longer than 31 days, more than two groupings or unknown scopes are refused
  (HTTP 400 / 404) as the service does.
* `GET /subscriptions?api-version=...` (pages of `subscriptions_page_rows`, with nextLink);
  subscriptions created with `listed=False` are not in it (a billing-account reader).
* Commitments (issue #17). The ground truth's rows also carry a `pricing_model` (OnDemand,
  Reservation, SavingsPlan, Spot), a `benefit_id` and a `benefit_name` ('' when none), which
  queries may group by (PricingModel, BenefitId, BenefitName) and filter on. A subscription's
  `benefits` (`EmulatedBenefit`: a reservation or savings plan, the services it covers and the
  share of their amortized usage) split each AmortizedCost Usage row into the covered part
  (that benefit's pricing model and id) and the rest (OnDemand; Spot for the share
  `SPOT_SHARE` of `spot_services`). ActualCost Usage, Refund and Tax rows are OnDemand
  without a benefit. UnusedReservation / UnusedSavingsPlan rows belong to the subscription's
  first own (`owner=True`) reservation / savings plan, Purchase rows to its first own benefit
  (none: a purchase of no benefit, e.g. Marketplace). A subscription with an Unused* charge
  type and no benefits gets a default one (`default_benefits`). `benefit_truth` and
  `pricing_truth` give what the commitment queries must land.
* `GET /providers/Microsoft.Capacity/reservations` and
  `GET /providers/Microsoft.BillingBenefits/savingsPlans` (api-version 2022-11-01): every
  benefit of the estate, `benefits_page_rows` a page with nextLink (`$skiptoken`), shaped as
  the public REST reference's examples (Reservation - List All, Savings Plan - List All);
  reservation ids in the list spell the provider `microsoft.capacity` as that example does,
  the cost rows `Microsoft.Capacity`. Fields served: id, name, type, sku.name, location
  (reservations) and properties displayName, term, billingPlan (reservations 'Upfront' /
  'Monthly'; savings plans 'P1M' when monthly, absent when paid upfront), appliedScopeType,
  userFriendlyAppliedScopeType, reservedResourceType, quantity, provisioningState,
  displayProvisioningState, purchaseDate(Time), benefitStartTime, effectiveDateTime,
  expiryDate(Time), renew, commitment {grain, currencyCode, amount} (savings plans).
* The Cost Details API (issue #17, the list and contracted prices the Query API does not
  aggregate): `POST {scope}/providers/Microsoft.CostManagement/generateCostDetailsReport`
  (`metric` ActualCost / AmortizedCost, `timePeriod` start / end of at most one month;
  management group scopes refused with 400 as the service does) answers 202 with a
  `Location` (named on `next_link_base`, like ARM) and `Retry-After` (`report_retry_after`);
  `GET .../costDetailsOperationResults/{id}` answers 202 `report_pending_polls` times, then
  200 Completed with a manifest whose `blobs[].blobLink` are SAS URLs back at the emulator
  (`/blobs/...?...&sig=<sas_signature>`, served without a bearer token - a wrong signature
  gets 403) holding the CSV (`report_blob_rows` rows a blob, a BOM first). The CSV is cut from
  the same ground truth as the Query API: each row of the metric as two meter lines (quantity
  4 + 6 of 10) at the row's unit prices: `list_cost` / `contracted_cost` when the row has
  them (`AzureSubscription.price_factors`, or set by hand), else 0. `cost_details_format`
  picks the EA (PascalCase) or MCA (camelCase, paygCostInBillingCurrency) header.
  `price_truth` gives what a complete load lands in raw.azure_price_details.
* Tags (issue #18). Every ground-truth row has `tags` (resource tag key -> value, {} when
  untagged). A subscription's `tags` (service -> {key: value}) tag the share `tagged_share`
  of each row of that service, the rest of the row stays untagged (the parts sum to the row).
  A query may group by one `{"type": "TagKey", "name": <key>}` (with at most one dimension:
  two groupings in all); the key is matched without case, as Azure tag keys are, and the
  answer gets the columns `TagKey` (the key as the row's tags spell it) and `TagValue`, both
  null on the rows without the tag. Answered from the same rows as every other query, so a
  key's totals per day x subscription x service equal the cost queries'. `tag_truth` gives
  what the tag queries of a complete load land.
* With `tenant_id` set, an identity authority for MSAL: `GET /{tenant}/v2.0/.well-known/
  openid-configuration` and `POST /{tenant}/oauth2/v2.0/token` (client credentials; the client
  secret must match `client_secret`); every ARM request must then carry the issued token.
  MSAL only talks https, so pass `ssl_context` (see `self_signed_certificate`).

* Query quotas (issue #20), off unless `quota=QueryQuota(...)` is given. Query API requests
  (`POST .../query`, first pages and nextLinks) are counted per `ClientType` request header
  (none: "Default") in sliding-window buckets QueriesPer10Sec / QueriesPerMin /
  QueriesPerHour of the configured sizes, each query costing `qpu_per_query` QPU. Every query
  answer carries `x-ms-ratelimit-microsoft.costmanagement-qpu-remaining`
  (`QueriesPerHour:599,QueriesPerMin:59,QueriesPer10Sec:11`, the shape answers show in the
  field) and `-qpu-consumed`; a query when a bucket cannot pay for it gets HTTP 429 with
  `x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after` (whole seconds until it can) and
  is not charged. `QueryQuota.remaining_header` answers a fixed value instead (a client's
  robustness against absent or malformed headers). The windows run on the emulator's `clock`
  (default `time.monotonic`): give it a `FakeClock` and the client its `sleep` and `clock`, and
  a test of pacing runs over real HTTP without waiting. `throttled` counts the 429s it gave.

Faults are programmed with `fail(status, headers=..., times=..., path_contains=...)`: the next
`times` matching requests (-1: all) get that answer instead. Every request is recorded in
`requests` (method, path, query, headers, JSON body, arrival time, status answered).

`ConnectProxy` is a minimal HTTPS (CONNECT) forward proxy that counts the tunnels it opened,
to show that `HTTPS_PROXY` is honoured.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import hashlib
import io
import json
import logging
import math
import re
import select
import socket
import socketserver
import ssl
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

QUERY_SUFFIX = "/providers/Microsoft.CostManagement/query"
COST_DETAILS_SUFFIX = "/providers/Microsoft.CostManagement/generateCostDetailsReport"
COST_DETAILS_RESULTS = "/providers/Microsoft.CostManagement/costDetailsOperationResults/"
BLOB_PREFIX = "/blobs/"
# The CSV blobs' quantity of every ground-truth row, split over two meter lines (4 + 6), so
# a price x quantity is exact and a row's prices come back only when the lines are summed.
REPORT_QUANTITY = Decimal(10)
REPORT_SPLIT = (Decimal(4), Decimal(6))
RESERVATIONS_PATH = "/providers/Microsoft.Capacity/reservations"
SAVINGS_PLANS_PATH = "/providers/Microsoft.BillingBenefits/savingsPlans"
QUERY_TYPES = ("ActualCost", "AmortizedCost")
CENT = Decimal("0.01")
MICRO = Decimal("0.000001")
SPOT_SHARE = Decimal("0.25")  # of a spot service's amortized usage left after benefits
# The raw key of raw.azure_cost_management: what `truth` sums the split rows over.
RAW_KEY = (
    "usage_date",
    "query_type",
    "subscription_id",
    "subscription_name",
    "service_name",
    "resource_location",
    "charge_type",
    "currency",
)

# Charge types the emulator can produce, and for which query types / days they have cost.
CHARGE_TYPE_RULES = {
    "Usage": (QUERY_TYPES, "daily"),
    "Purchase": (("ActualCost",), "first-of-month"),
    "UnusedReservation": (("AmortizedCost",), "daily-first-service"),
    "Refund": (QUERY_TYPES, "mid-month"),
    "Tax": (("ActualCost",), "first-of-month"),
    "UnusedSavingsPlan": (("AmortizedCost",), "daily-first-service"),
}


def reservation_id(order: str, reservation: str) -> str:
    """A reservation's ARM id as cost rows (BenefitId) spell it."""
    return f"/providers/Microsoft.Capacity/reservationOrders/{order}/reservations/{reservation}"


def savings_plan_id(order: str, plan: str) -> str:
    """A savings plan's ARM id as cost rows (BenefitId) spell it."""
    return f"/providers/Microsoft.BillingBenefits/savingsPlanOrders/{order}/savingsPlans/{plan}"


@dataclass(frozen=True)
class EmulatedBenefit:
    """A reservation or savings plan: what it covers, and its terms in the benefits lists."""

    benefit_id: str
    name: str
    kind: str  # 'Reservation' | 'SavingsPlan'
    services: tuple[str, ...]  # services whose amortized usage it covers
    share: Decimal = Decimal("0.6")  # of their amortized usage it covers
    owner: bool = True  # bought by this subscription (its Purchase / Unused* rows are here)
    term: str = "P1Y"
    billing_plan: str = "Monthly"  # 'Monthly' | 'Upfront'
    start: date = date(2025, 9, 1)
    expiry: date = date(2026, 9, 1)
    sku: str = "Standard_D2s_v5"
    hourly_commitment: Decimal = Decimal("4.5")  # savings plans


@dataclass(frozen=True)
class AzureSubscription:
    """One subscription of the emulated estate and what it spends on."""

    subscription_id: str
    name: str
    currency: str = "USD"
    services: tuple[str, ...] = ("Virtual Machines", "Storage", "Bandwidth")
    locations: tuple[str, ...] = ("eastus", "westeurope")
    charge_types: tuple[str, ...] = ("Usage",)
    listed: bool = True  # visible in GET /subscriptions
    scale: Decimal = Decimal("1")
    benefits: tuple[EmulatedBenefit, ...] = ()
    spot_services: tuple[str, ...] = ()
    # (list, contracted) as multiples of a Usage row's cost in the Cost Details reports;
    # None: no prices (PayGPrice and UnitPrice 0, the marts then count the list as missing)
    price_factors: tuple[Decimal, Decimal] | None = None
    # service -> the tags of its resources ({key: value}); the share `tagged_share` of each of
    # its rows carries them, the rest is untagged. A service not named: untagged.
    tags: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    tagged_share: Decimal = Decimal("0.7")

    @property
    def scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"

    @property
    def all_benefits(self) -> tuple[EmulatedBenefit, ...]:
        """Its benefits, or the default ones its Unused* charge types call for."""
        return self.benefits or default_benefits(self)

    def own(self, kind: str | None = None) -> EmulatedBenefit | None:
        """Its first own benefit (of `kind`), or None."""
        return next((b for b in self.all_benefits if b.owner and kind in (None, b.kind)), None)


def default_benefits(sub: AzureSubscription) -> tuple[EmulatedBenefit, ...]:
    """A reservation (UnusedReservation) and / or a savings plan (UnusedSavingsPlan) on the
    subscription's first service, ids derived from the subscription id."""
    stem = sub.subscription_id[:8]
    defaults = []
    if "UnusedReservation" in sub.charge_types:
        defaults.append(
            EmulatedBenefit(
                reservation_id(
                    f"{stem}-0000-4000-8000-00000000000a", f"{stem}-0000-4000-8000-0000000000a1"
                ),
                f"{sub.name}-reservation",
                "Reservation",
                sub.services[:1],
            )
        )
    if "UnusedSavingsPlan" in sub.charge_types:
        defaults.append(
            EmulatedBenefit(
                savings_plan_id(
                    f"{stem}-0000-4000-8000-00000000000b", f"{stem}-0000-4000-8000-0000000000b1"
                ),
                f"{sub.name}-savings-plan",
                "SavingsPlan",
                sub.services[:1],
                share=Decimal("0.3"),
            )
        )
    return tuple(defaults)


QPU_REMAINING_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-remaining"
QPU_CONSUMED_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-consumed"
QPU_RETRY_AFTER_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"


@dataclass(frozen=True)
class QueryQuota:
    """The Query API's QPU quotas per ClientType (the documented defaults are per tenant:
    12 per 10 s, 60 per minute, 600 per hour)."""

    per_10_sec: int = 12
    per_min: int = 60
    per_hour: int = 600
    qpu_per_query: int = 1
    # robustness tests: answer this qpu-remaining value verbatim on every 200, or no quota
    # header at all; the buckets still count and throttle either way
    remaining_header: str | None = None
    omit_headers: bool = False

    def buckets(self) -> tuple[tuple[str, float, int], ...]:
        """(name, window in seconds, size), in the order answers list them."""
        return (
            ("QueriesPerHour", 3600.0, self.per_hour),
            ("QueriesPerMin", 60.0, self.per_min),
            ("QueriesPer10Sec", 10.0, self.per_10_sec),
        )


class FakeClock:
    """A monotonic clock that moves only when slept on: pass `clock` to the emulator and
    `clock` / `sleep` to the client, and the client's waits are the emulator's time."""

    def __init__(self, start: float = 10_000.0, *, real_time: bool = False) -> None:
        self.now = start
        self.slept: list[float] = []
        # real_time: time.monotonic() plus the seconds slept - the clock a client given only
        # a `sleep` hook keeps (loaders.azure_cost_management.client), for a full `load`
        self.real_time = real_time

    def clock(self) -> float:
        return time.monotonic() + sum(self.slept) if self.real_time else self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # names lower-cased
    body: Any
    at: float  # the emulator's clock (time.monotonic() unless given) on arrival
    status: int = 0

    @property
    def is_query(self) -> bool:
        return self.method == "POST" and self.path.endswith(QUERY_SUFFIX)

    @property
    def scope(self) -> str:
        return self.path[: -len(QUERY_SUFFIX)] if self.is_query else ""


@dataclass
class _Fault:
    status: int
    headers: dict[str, str]
    body: dict[str, Any]
    times: int
    path_contains: str
    method: str | None


def _unit(*parts: object) -> Decimal:
    """A deterministic number in [0, 1) with 6 decimals from the given parts."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return Decimal(int.from_bytes(digest, "big") % 1_000_000) / 1_000_000


def _days(start: date, end: date) -> Iterable[date]:
    day = start
    while day < end:
        yield day
        day += timedelta(days=1)


def _yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _parse_day(text: str) -> date:
    return dt.datetime.fromisoformat(str(text).replace("Z", "+00:00")).date()


class AzureCostEmulator:
    """See the module docstring."""

    def __init__(
        self,
        subscriptions: Sequence[AzureSubscription],
        *,
        start: date,
        end: date,
        billing_accounts: Mapping[str, Sequence[str]] | None = None,
        management_groups: Mapping[str, Sequence[str]] | None = None,
        page_rows: int = 5000,
        subscriptions_page_rows: int = 2,
        benefits_page_rows: int = 1,
        next_link_base: str = "https://management.azure.com",
        ssl_context: ssl.SSLContext | None = None,
        tenant_id: str | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        access_token: str = "emulated-access-token",
        seed: int = 7,
        cost_details_format: str = "MCA",
        report_retry_after: str = "0",
        report_pending_polls: int = 1,
        report_blob_rows: int = 10_000,
        sas_signature: str = "emulated-sas-signature-2b7e151628aed2a6",
        quota: QueryQuota | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.subscriptions = {s.subscription_id.lower(): s for s in subscriptions}
        self.billing_accounts = {k: list(v) for k, v in (billing_accounts or {}).items()}
        self.management_groups = {k: list(v) for k, v in (management_groups or {}).items()}
        self.page_rows = page_rows
        self.subscriptions_page_rows = subscriptions_page_rows
        self.benefits_page_rows = benefits_page_rows
        self.next_link_base = next_link_base.rstrip("/")
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.client_secret = client_secret
        self.access_token = access_token
        self.requests: list[RecordedRequest] = []
        self.token_requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._lock = threading.Lock()
        self.rows = self._generate(start, end, seed)
        # Cost Details reports (see `_create_report`): the CSV header style ('MCA' camelCase
        # with paygCostInBillingCurrency, 'EA' PascalCase), the Retry-After of a 202, the
        # polls answered 202 before the report completes, the CSV rows per blob, the SAS
        # signature every blobLink carries (a blob GET without it is refused, 403).
        self.cost_details_format = cost_details_format
        self.report_retry_after = report_retry_after
        self.report_pending_polls = report_pending_polls
        self.report_blob_rows = report_blob_rows
        self.sas_signature = sas_signature
        # Days (YYYYMMDD) whose lines a report leaves out, as a report cut from data not yet
        # refreshed would: its sums then differ from the Query API's for those days.
        self.report_stale_days: set[int] = set()
        self._reports: dict[str, dict[str, Any]] = {}
        # Query quotas (see the module docstring): per ClientType, the (time, QPU) of every
        # query charged; `throttled` counts the 429s answered for want of quota.
        self.quota = quota
        self.clock = clock
        self.throttled = 0
        self._charges: dict[str, list[tuple[float, int]]] = defaultdict(list)
        self._server = HTTPServer("127.0.0.1", 0, ssl_context=ssl_context, threaded=True)
        self._server.expect_request(re.compile(r"^/.*")).respond_with_handler(self._handle)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> AzureCostEmulator:
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self._server.start()
        return self

    def stop(self) -> None:
        if self._server.is_running():
            self._server.stop()

    def __enter__(self) -> AzureCostEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        scheme = "https" if self._server.ssl_context else "http"
        return f"{scheme}://127.0.0.1:{self._server.port}"

    # ------------------------------------------------------------------ ground truth

    def _generate(self, start: date, end: date, seed: int) -> list[dict[str, Any]]:
        rows = []
        for sub in self.subscriptions.values():
            for charge_type in sub.charge_types:
                query_types, cadence = CHARGE_TYPE_RULES[charge_type]
                for query_type in query_types:
                    for day in _days(start, end):
                        if cadence == "first-of-month" and day.day != 1:
                            continue
                        if cadence == "mid-month" and day.day != 15:
                            continue
                        pairs = [(s, loc) for s in sub.services for loc in sub.locations]
                        if cadence != "daily":
                            pairs = pairs[:1]
                        for service, location in pairs:
                            key = (seed, sub.subscription_id, charge_type, service, location, day)
                            base = Decimal(5) + 400 * _unit(*key)
                            if query_type == "AmortizedCost":
                                base += _unit(*key, "amortized")
                            if charge_type == "Refund":
                                base = -base / 4
                            cost = (base * sub.scale).quantize(MICRO)
                            row = {
                                "usage_date": _yyyymmdd(day),
                                "query_type": query_type,
                                "subscription_id": sub.subscription_id,
                                "subscription_name": sub.name,
                                "service_name": service,
                                "resource_location": location,
                                "charge_type": charge_type,
                                "cost": cost,
                                "currency": sub.currency,
                            }
                            rows.extend(
                                _with_prices(sub, tagged)
                                for part in _priced(sub, row)
                                for tagged in _tagged(sub, part)
                            )
        return rows

    def restate(self, factor: Decimal, *, on_or_after: date) -> None:
        """Multiply the costs of every day from `on_or_after` (the API revised its estimates)."""
        cutoff = _yyyymmdd(on_or_after)
        for row in self.rows:
            if row["usage_date"] >= cutoff:
                row["cost"] = (row["cost"] * factor).quantize(MICRO)

    def scope_subscriptions(self, scope: str) -> list[str] | None:
        """Lower-case subscription ids a scope spans; None for a scope that does not exist."""
        parts = [p for p in scope.split("/") if p]
        lowered = [p.lower() for p in parts]
        if len(parts) == 2 and lowered[0] == "subscriptions":
            return [parts[1].lower()] if parts[1].lower() in self.subscriptions else None
        if lowered[:3] == ["providers", "microsoft.billing", "billingaccounts"] and len(parts) == 4:
            ids = self.billing_accounts.get(parts[3])
        elif (
            lowered[:3] == ["providers", "microsoft.management", "managementgroups"]
            and len(parts) == 4
        ):
            ids = self.management_groups.get(parts[3])
        else:
            return None
        return None if ids is None else [i.lower() for i in ids]

    def _rows_of(self, scope: str, start: date, end: date) -> list[dict[str, Any]]:
        subs = set(self.scope_subscriptions(scope) or [])
        lo, hi = _yyyymmdd(start), _yyyymmdd(end)
        return [
            r
            for r in self.rows
            if r["subscription_id"].lower() in subs and lo <= r["usage_date"] < hi
        ]

    def truth(self, scope: str, start: date, end: date) -> list[dict[str, Any]]:
        """The raw rows of `scope` in [start, end) a complete load must land
        (raw.azure_cost_management: the ground truth summed over pricing model and benefit)."""
        sums: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        for row in self._rows_of(scope, start, end):
            sums[tuple(row[k] for k in RAW_KEY)] += row["cost"]
        return [
            {**dict(zip(RAW_KEY, key, strict=True)), "cost": cost} for key, cost in sums.items()
        ]

    def pricing_truth(
        self, scope: str, start: date, end: date
    ) -> dict[tuple[int, str, str, str, str], Decimal]:
        """(usage_date, subscription_id, service, pricing model, currency) -> AmortizedCost
        Usage cost: what the pricing queries of a complete load land."""
        sums: dict[tuple[int, str, str, str, str], Decimal] = defaultdict(Decimal)
        for r in self._rows_of(scope, start, end):
            if r["query_type"] == "AmortizedCost" and r["charge_type"] == "Usage":
                key = (
                    r["usage_date"],
                    r["subscription_id"],
                    r["service_name"],
                    r["pricing_model"],
                    r["currency"],
                )
                sums[key] += r["cost"]
        return dict(sums)

    def benefit_truth(
        self, scope: str, start: date, end: date
    ) -> dict[tuple[int, str, str, str, str, str, str], Decimal]:
        """(usage_date, query type, subscription_id, service, charge type, benefit id,
        currency) -> cost of the rows of a benefit ('' for a Purchase of none): what the
        benefit queries of a complete load land (committed AmortizedCost Usage, Unused*,
        ActualCost Purchase)."""
        sums: dict[tuple[int, str, str, str, str, str, str], Decimal] = defaultdict(Decimal)
        for r in self._rows_of(scope, start, end):
            wanted = (r["query_type"], r["charge_type"]) in (
                ("AmortizedCost", "UnusedReservation"),
                ("AmortizedCost", "UnusedSavingsPlan"),
                ("ActualCost", "Purchase"),
            ) or (
                (r["query_type"], r["charge_type"]) == ("AmortizedCost", "Usage")
                and r["benefit_id"]
            )
            if wanted:
                key = (
                    r["usage_date"], r["query_type"], r["subscription_id"], r["service_name"],
                    r["charge_type"], r["benefit_id"], r["currency"],
                )  # fmt: skip
                sums[key] += r["cost"]
        return dict(sums)

    def tag_truth(
        self, scope: str, start: date, end: date, key: str
    ) -> dict[tuple[int, str, str, str, str | None, str], Decimal]:
        """(usage_date, query type, subscription_id, service, tag value - None when untagged,
        currency) -> cost: what the tag queries of `key` (any case) of a complete load land."""
        sums: dict[tuple[int, str, str, str, str | None, str], Decimal] = defaultdict(Decimal)
        for r in self._rows_of(scope, start, end):
            _, value = _tag_of(r, key)
            row_key = (
                r["usage_date"], r["query_type"], r["subscription_id"], r["service_name"],
                value, r["currency"],
            )  # fmt: skip
            sums[row_key] += r["cost"]
        return dict(sums)

    def listed_benefits(self, kind: str | None = None) -> list[EmulatedBenefit]:
        """Every benefit of the estate (of `kind`), once, by id: what the lists answer."""
        found: dict[str, EmulatedBenefit] = {}
        for sub in self.subscriptions.values():
            for benefit in sub.all_benefits:
                if kind in (None, benefit.kind):
                    found.setdefault(benefit.benefit_id.lower(), benefit)
        return [found[k] for k in sorted(found)]

    def list_requests(self) -> int:
        """The GET requests that read both benefits lists to the end (one per page)."""
        pages = 0
        for kind in ("Reservation", "SavingsPlan"):
            count = len(self.listed_benefits(kind))
            pages += max(1, -(-count // self.benefits_page_rows))
        return pages

    @staticmethod
    def totals(rows: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], Decimal]:
        """(query_type, currency) -> total cost rounded to the cent."""
        sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for row in rows:
            sums[(row["query_type"], row["currency"])] += row["cost"]
        return {key: value.quantize(CENT) for key, value in sorted(sums.items())}

    # ------------------------------------------------------------------ faults and records

    def fail(
        self,
        status: int,
        *,
        headers: Mapping[str, str] | None = None,
        times: int = 1,
        path_contains: str = QUERY_SUFFIX,
        method: str | None = None,
        message: str = "emulated failure",
    ) -> None:
        """Answer the next `times` matching requests (-1: every one) with `status`."""
        code = "429" if status == 429 else str(status)
        with self._lock:
            self._faults.append(
                _Fault(
                    status=status,
                    headers=dict(headers or {}),
                    body={"error": {"code": code, "message": message}},
                    times=times,
                    path_contains=path_contains,
                    method=method,
                )
            )

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    @property
    def query_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.is_query]

    def report_requests(self, kind: str) -> list[RecordedRequest]:
        """The Cost Details requests of one kind: 'create' (POST generateCostDetailsReport),
        'poll' (GET costDetailsOperationResults) or 'blob' (GET of a report blob)."""
        test = {
            "create": lambda r: r.method == "POST" and r.path.endswith(COST_DETAILS_SUFFIX),
            "poll": lambda r: r.method == "GET" and COST_DETAILS_RESULTS in r.path,
            "blob": lambda r: r.method == "GET" and r.path.startswith(BLOB_PREFIX),
        }[kind]
        return [r for r in self.requests if test(r)]

    def price_truth(
        self, scope: str, start: date, end: date
    ) -> dict[tuple[int, str, str, str, str | None, str | None, str], tuple[Decimal, ...]]:
        """(usage_date, subscription_id, service, charge type, pricing model, benefit id,
        currency) -> (list, contracted, effective) of the AmortizedCost rows: what the Cost
        Details reports of a complete load land (raw.azure_price_details)."""
        sums: dict[tuple[Any, ...], list[Decimal]] = {}
        for r in self._rows_of(scope, start, end):
            if r["query_type"] != "AmortizedCost":
                continue
            key = (
                r["usage_date"], r["subscription_id"], r["service_name"], r["charge_type"],
                r["pricing_model"] or None, r["benefit_id"] or None, r["currency"],
            )  # fmt: skip
            total = sums.setdefault(key, [Decimal(0)] * 3)
            total[0] += r.get("list_cost", Decimal(0))
            total[1] += r.get("contracted_cost", Decimal(0))
            total[2] += r["cost"]
        return {key: tuple(value) for key, value in sums.items()}

    # ------------------------------------------------------------------ HTTP

    def _handle(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            body = request.form.to_dict() if request.form else None
        record = RecordedRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.args.items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=body,
            at=self.clock(),
        )
        response = self._route(request, record)
        record.status = response.status_code
        with self._lock:
            if self.tenant_id and request.path.startswith(f"/{self.tenant_id}/"):
                self.token_requests.append(record)
            else:
                self.requests.append(record)
        return response

    def _route(self, request: Request, record: RecordedRequest) -> Response:
        if self.tenant_id and request.path.startswith(f"/{self.tenant_id}/"):
            return self._identity(request)
        fault = self._take_fault(request)
        if fault is not None:
            return _json_response(fault.body, fault.status, fault.headers)
        if request.method == "GET" and request.path.startswith(BLOB_PREFIX):
            return self._blob(request)  # a SAS URL: the signature, not a bearer token
        if self.tenant_id and request.headers.get("Authorization") != f"Bearer {self.access_token}":
            return _error(401, "InvalidAuthenticationToken", "the access token is invalid")
        if request.method == "GET" and request.path.rstrip("/") == "/subscriptions":
            return self._list_subscriptions(request)
        if request.method == "POST" and request.path.endswith(COST_DETAILS_SUFFIX):
            return self._create_report(request, record)
        if request.method == "GET" and COST_DETAILS_RESULTS in request.path:
            return self._poll_report(request)
        if request.method == "POST" and request.path.endswith(QUERY_SUFFIX):
            if self.quota is None:
                return self._query(request, record)
            return self._metered_query(request, record, self.quota)
        if request.method == "GET" and request.path.rstrip("/") == RESERVATIONS_PATH:
            return self._list_benefits(request, "Reservation")
        if request.method == "GET" and request.path.rstrip("/") == SAVINGS_PLANS_PATH:
            return self._list_benefits(request, "SavingsPlan")
        return _error(404, "NotFound", f"no route for {request.method} {request.path}")

    def _list_benefits(self, request: Request, kind: str) -> Response:
        if request.args.get("api-version") != "2022-11-01":
            return _error(
                400, "InvalidApiVersion", f"api-version {request.args.get('api-version')}"
            )
        listed = self.listed_benefits(kind)
        offset = int(request.args.get("$skiptoken", "0") or 0)
        page = listed[offset : offset + self.benefits_page_rows]
        owners = {
            b.benefit_id.lower(): sub
            for sub in self.subscriptions.values()
            for b in sub.all_benefits
            if b.owner
        }
        body: dict[str, Any] = {
            "value": [_benefit_item(b, owners.get(b.benefit_id.lower())) for b in page]
        }
        if offset + self.benefits_page_rows < len(listed):
            body["nextLink"] = (
                f"{self.next_link_base}{request.path}?api-version=2022-11-01"
                f"&$skiptoken={offset + self.benefits_page_rows}"
            )
        return _json_response(body)

    # ------------------------------------------------------------------ Cost Details API

    def _create_report(self, request: Request, record: RecordedRequest) -> Response:
        """POST generateCostDetailsReport: 202 with Location (named on `next_link_base`, like
        ARM's) and Retry-After; the report's CSV is cut from the ground truth now."""
        scope = record.path[: -len(COST_DETAILS_SUFFIX)]
        if "/microsoft.management/managementgroups/" in scope.lower() + "/":
            return _error(400, "BadRequest", "management group scopes are not supported")
        subs = self.scope_subscriptions(scope)
        if subs is None:
            return _error(404, "NotFound", f"scope {scope} not found")
        body = record.body or {}
        metric = body.get("metric", "ActualCost")
        if metric not in QUERY_TYPES:
            return _error(400, "BadRequest", f"metric {metric!r} is not supported")
        if set(body) - {"metric", "timePeriod"}:
            return _error(400, "BadRequest", "the emulator answers metric and timePeriod only")
        try:
            first = date.fromisoformat(body["timePeriod"]["start"])
            last = date.fromisoformat(body["timePeriod"]["end"])
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, "BadRequest", f"invalid timePeriod: {exc}")
        if last < first or (last - first).days + 1 > 31:
            return _error(400, "BadRequest", "timePeriod must be one month or less")
        operation = hashlib.sha256(
            f"{scope}|{json.dumps(body, sort_keys=True)}|{len(self._reports)}".encode()
        ).hexdigest()[:32]
        lines = self._report_lines(subs, metric, first, last)
        with self._lock:
            self._reports[operation] = {
                "scope": scope.strip("/"),
                "body": body,
                "polls_left": self.report_pending_polls,
                "blobs": [
                    lines[i : i + self.report_blob_rows]
                    for i in range(0, max(len(lines), 1), self.report_blob_rows)
                ],
            }
        return self._report_pending(scope, operation)

    def _report_pending(self, scope: str, operation: str) -> Response:
        location = (
            f"{self.next_link_base}{scope}{COST_DETAILS_RESULTS}{operation}?api-version=2025-03-01"
        )
        return Response(
            status=202, headers={"Location": location, "Retry-After": self.report_retry_after}
        )

    def _poll_report(self, request: Request) -> Response:
        scope, _, operation = request.path.partition(COST_DETAILS_RESULTS)
        with self._lock:
            report = self._reports.get(operation)
            if report is not None and report["polls_left"] > 0:
                report["polls_left"] -= 1
                pending = True
            else:
                pending = False
        if report is None:
            return _error(404, "NotFound", f"no operation {operation}")
        if pending:
            return self._report_pending(scope, operation)
        header = self._report_header()
        blobs = []
        for number, lines in enumerate(report["blobs"]):
            text = _csv_text([header, *lines])
            blobs.append(
                {
                    "blobLink": f"{self.url}{BLOB_PREFIX}{operation}/{number}.csv?sv=2020-08-04"
                    f"&se=2099-01-01T00%3A00%3A00Z&sr=b&sp=r&sig={self.sas_signature}",
                    "byteCount": len(text.encode()),
                }
            )
        return _json_response(
            {
                "id": f"{report['scope']}{COST_DETAILS_RESULTS}{operation}",
                "name": operation,
                "status": "Completed",
                "manifest": {
                    "manifestVersion": "2025-03-01",
                    "dataFormat": "Csv",
                    "blobCount": len(blobs),
                    "byteCount": sum(b["byteCount"] for b in blobs),
                    "compressData": False,
                    "requestContext": {
                        "requestScope": report["scope"],
                        "requestBody": report["body"],
                    },
                    "blobs": blobs,
                },
                "validTill": "2099-01-01T00:00:00.0000000Z",
            }
        )

    def _blob(self, request: Request) -> Response:
        if request.args.get("sig") != self.sas_signature:
            return _error(403, "AuthenticationFailed", "Signature did not match")
        operation, _, name = request.path[len(BLOB_PREFIX) :].partition("/")
        report = self._reports.get(operation)
        number = int(name.split(".")[0]) if name.split(".")[0].isdigit() else -1
        if report is None or not 0 <= number < len(report["blobs"]):
            return _error(404, "BlobNotFound", "The specified blob does not exist.")
        text = _csv_text([self._report_header(), *report["blobs"][number]])
        return Response(
            "\ufeff" + text,
            status=200,
            mimetype="text/csv",
            headers={"x-ms-blob-type": "BlockBlob"},
        )

    def _report_header(self) -> list[str]:
        if self.cost_details_format == "EA":
            return [
                "BillingAccountId", "BillingCurrencyCode", "Date", "SubscriptionId",
                "SubscriptionName", "MeterCategory", "ResourceLocation", "ChargeType",
                "PricingModel", "BenefitId", "BenefitName", "Quantity", "EffectivePrice",
                "UnitPrice", "PayGPrice", "CostInBillingCurrency", "AdditionalInfo",
            ]  # fmt: skip
        return [
            "billingAccountId", "billingCurrency", "date", "subscriptionId", "subscriptionName",
            "meterCategory", "resourceLocation", "chargeType", "pricingModel", "benefitId",
            "benefitName", "quantity", "effectivePrice", "unitPrice", "payGPrice",
            "costInBillingCurrency", "paygCostInBillingCurrency", "exchangeRatePricingToBilling",
            "additionalInfo",
        ]  # fmt: skip

    def _report_lines(
        self, subs: Sequence[str], metric: str, first: date, last: date
    ) -> list[list[str]]:
        """The report's CSV lines: each ground-truth row of `metric` in [first, last] as two
        meter lines (REPORT_SPLIT of REPORT_QUANTITY) at its unit prices."""
        lo, hi = _yyyymmdd(first), _yyyymmdd(last)
        wanted = set(subs)
        lines = []
        for row in self.rows:
            if row["query_type"] != metric or row["subscription_id"].lower() not in wanted:
                continue
            if not lo <= row["usage_date"] <= hi or row["usage_date"] in self.report_stale_days:
                continue
            day = str(row["usage_date"])
            prices = {
                name: row.get(name, Decimal(0)) / REPORT_QUANTITY
                for name in ("list_cost", "contracted_cost", "cost")
            }
            for quantity in REPORT_SPLIT:
                values = {
                    "date": f"{day[4:6]}/{day[6:]}/{day[:4]}",
                    "quantity": quantity,
                    "effective": prices["cost"],
                    "unit": prices["contracted_cost"],
                    "payg": prices["list_cost"],
                    "cost": prices["cost"] * quantity,
                    "payg_cost": prices["list_cost"] * quantity,
                }
                common = [
                    "ba-emulated", row["currency"], values["date"], row["subscription_id"],
                    row["subscription_name"], row["service_name"], row["resource_location"],
                    row["charge_type"], row["pricing_model"], row["benefit_id"],
                    row["benefit_name"], str(quantity), str(values["effective"]),
                    str(values["unit"]), str(values["payg"]), str(values["cost"]),
                ]  # fmt: skip
                info = json.dumps({"ImageType": "Canonical", "VCPUs": 2})  # commas, quoted
                if self.cost_details_format == "EA":
                    lines.append([*common, info])
                else:
                    lines.append([*common, str(values["payg_cost"]), "1", info])
        return lines

    def _take_fault(self, request: Request) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.times == 0 or fault.path_contains not in request.path:
                    continue
                if fault.method and fault.method != request.method:
                    continue
                if fault.times > 0:
                    fault.times -= 1
                return fault
        return None

    def _identity(self, request: Request) -> Response:
        issuer = f"{self.url}/{self.tenant_id}"
        if request.path.endswith("/.well-known/openid-configuration"):
            return _json_response(
                {
                    "issuer": f"{issuer}/v2.0",
                    "authorization_endpoint": f"{issuer}/oauth2/v2.0/authorize",
                    "token_endpoint": f"{issuer}/oauth2/v2.0/token",
                    "device_authorization_endpoint": f"{issuer}/oauth2/v2.0/devicecode",
                    "token_endpoint_auth_methods_supported": ["client_secret_post"],
                    "response_types_supported": ["code", "id_token"],
                    "subject_types_supported": ["pairwise"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "tenant_region_scope": "NA",
                }
            )
        if request.method == "POST" and request.path.endswith("/oauth2/v2.0/token"):
            form = request.form
            if form.get("grant_type") != "client_credentials":
                return _oauth_error("unsupported_grant_type")
            if form.get("client_id") != self.client_id or form.get("client_secret") != (
                self.client_secret
            ):
                return _oauth_error("invalid_client", "AADSTS7000215: Invalid client secret.")
            if form.get("scope") != f"{self.url}/.default":
                return _oauth_error("invalid_scope", f"unexpected scope {form.get('scope')}")
            return _json_response(
                {
                    "token_type": "Bearer",
                    "expires_in": 3599,
                    "ext_expires_in": 3599,
                    "access_token": self.access_token,
                }
            )
        return _error(404, "NotFound", request.path)

    def _list_subscriptions(self, request: Request) -> Response:
        listed = [s for s in self.subscriptions.values() if s.listed]
        offset = int(request.args.get("$skiptoken", "0") or 0)
        page = listed[offset : offset + self.subscriptions_page_rows]
        body: dict[str, Any] = {
            "value": [
                {
                    "id": s.scope,
                    "subscriptionId": s.subscription_id,
                    "tenantId": self.tenant_id or "00000000-0000-0000-0000-00000000aaaa",
                    "displayName": s.name,
                    "state": "Enabled",
                    "authorizationSource": "RoleBased",
                }
                for s in page
            ]
        }
        if offset + self.subscriptions_page_rows < len(listed):
            body["nextLink"] = (
                f"{self.next_link_base}/subscriptions?api-version="
                f"{request.args.get('api-version', '')}&$skiptoken="
                f"{offset + self.subscriptions_page_rows}"
            )
        return _json_response(body)

    def _query(self, request: Request, record: RecordedRequest) -> Response:
        scope = record.scope
        subs = self.scope_subscriptions(scope)
        if subs is None:
            return _error(404, "NotFound", f"scope {scope} not found")
        body = record.body
        try:
            answer = self._answer(body, subs)
        except (KeyError, TypeError, ValueError) as exc:
            return _error(400, "BadRequest", f"Invalid query definition: {exc}")
        fingerprint = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        offset = 0
        if "$skiptoken" in request.args:
            token = json.loads(base64.urlsafe_b64decode(request.args["$skiptoken"]))
            if token["body"] != fingerprint:
                return _error(400, "BadRequest", "skiptoken does not belong to this query body")
            offset = token["offset"]
        columns, rows = answer
        page = rows[offset : offset + self.page_rows]
        next_link = None
        if offset + self.page_rows < len(rows):
            token = base64.urlsafe_b64encode(
                json.dumps({"offset": offset + self.page_rows, "body": fingerprint}).encode()
            ).decode()
            next_link = (
                f"{self.next_link_base}{request.path}?api-version="
                f"{request.args.get('api-version', '')}&$skiptoken={token}"
            )
        query_id = hashlib.sha256(f"{scope}|{fingerprint}".encode()).hexdigest()[:32]
        name = (
            f"{query_id[:8]}-{query_id[8:12]}-{query_id[12:16]}-{query_id[16:20]}-{query_id[20:]}"
        )
        return _json_response(
            {
                "id": f"{scope}{QUERY_SUFFIX}/{name}",
                "name": name,
                "type": "Microsoft.CostManagement/query",
                "location": None,
                "sku": None,
                "eTag": None,
                "properties": {
                    "nextLink": next_link,
                    "columns": columns,
                    "rows": [[float(v) if isinstance(v, Decimal) else v for v in r] for r in page],
                },
            }
        )

    def quota_remaining(self, client_type: str = "finops-dashboard") -> dict[str, int]:
        """QPU left now in each bucket of `client_type` (the quota model must be on)."""
        assert self.quota is not None, "the quota model is off"
        with self._lock:
            return self._remaining(client_type, self.quota, self.clock())

    def _remaining(self, client_type: str, quota: QueryQuota, now: float) -> dict[str, int]:
        charges = self._charges[client_type]
        return {
            name: size - sum(qpu for at, qpu in charges if at > now - window)
            for name, window, size in quota.buckets()
        }

    def _metered_query(
        self, request: Request, record: RecordedRequest, quota: QueryQuota
    ) -> Response:
        """`_query` within the ClientType's QPU buckets: charged and answered with the
        remaining quota, or 429 with the seconds until every bucket can pay."""
        client_type = request.headers.get("ClientType") or "Default"
        cost = quota.qpu_per_query
        with self._lock:
            now = self.clock()
            remaining = self._remaining(client_type, quota, now)
            charges = self._charges[client_type]
            charges[:] = [(at, qpu) for at, qpu in charges if at > now - 3600.0]
            short = [
                (name, window, size)
                for name, window, size in quota.buckets()
                if remaining[name] < cost
            ]
            if short:
                self.throttled += 1
                wait = 0.0
                for name, window, _size in short:
                    # the oldest charges in the window age out until `cost` QPU are free
                    missing = cost - remaining[name]
                    for at, qpu in sorted(c for c in charges if c[0] > now - window):
                        missing -= qpu
                        if missing <= 0:
                            wait = max(wait, at + window - now)
                            break
                headers = {
                    QPU_RETRY_AFTER_HEADER: str(max(math.ceil(wait), 1)),
                    QPU_REMAINING_HEADER: _quota_text(remaining),
                }
                return _json_response(
                    {"error": {"code": "429", "message": "Too many requests. Please retry."}},
                    429,
                    headers,
                )
            charges.append((now, cost))
            remaining = {name: left - cost for name, left in remaining.items()}
        response = self._query(request, record)
        if quota.omit_headers:
            return response
        value = quota.remaining_header
        response.headers[QPU_REMAINING_HEADER] = _quota_text(remaining) if value is None else value
        response.headers[QPU_CONSUMED_HEADER] = str(cost)
        return response

    def _answer(
        self, body: Mapping[str, Any], subs: Sequence[str]
    ) -> tuple[list[dict[str, str]], list[list[Any]]]:
        query_type = body["type"]
        if query_type not in QUERY_TYPES:
            raise ValueError(f"type {query_type!r} is not supported by the emulator")
        if body.get("timeframe") != "Custom":
            raise ValueError("the emulator answers Custom timeframes only")
        first = _parse_day(body["timePeriod"]["from"])
        last = _parse_day(body["timePeriod"]["to"])
        if last < first:
            raise ValueError("timePeriod.to is before timePeriod.from")
        dataset = body["dataset"]
        daily = dataset.get("granularity") == "Daily"
        if dataset.get("granularity") not in (None, "Daily"):
            raise ValueError(f"granularity {dataset['granularity']!r} is not supported")
        if daily and (last - first).days + 1 > 31:
            raise ValueError("Daily granularity supports a time period of at most 31 days")
        aggregation = dataset["aggregation"]
        if [a.get("name") for a in aggregation.values()] != ["Cost"]:
            raise ValueError("the emulator aggregates Cost only")
        groupings = dataset.get("grouping") or []
        if len(groupings) > 2:
            raise ValueError("at most 2 grouping dimensions are allowed")
        tag_keys = [g["name"] for g in groupings if g.get("type") == "TagKey"]
        if len(tag_keys) > 1:
            raise ValueError("the emulator groups by one TagKey at most")
        for g in groupings:
            if g.get("type") not in ("Dimension", "TagKey"):
                raise ValueError(f"grouping type {g.get('type')!r} is not supported")
        grouping = [g["name"] for g in groupings if g.get("type") != "TagKey"]
        columns_of = {
            "subscriptionid": "subscription_id",
            "subscriptionname": "subscription_name",
            "servicename": "service_name",
            "resourcelocation": "resource_location",
            "chargetype": "charge_type",
            "pricingmodel": "pricing_model",
            "benefitid": "benefit_id",
            "benefitname": "benefit_name",
        }
        for name in grouping:
            if name.lower() not in columns_of:
                raise ValueError(f"grouping by {name} is not supported by the emulator")
        predicate = _filter(dataset.get("filter"), columns_of)
        lo, hi = _yyyymmdd(first), _yyyymmdd(last)
        sums: dict[tuple[Any, ...], Decimal] = defaultdict(Decimal)
        subs_set = set(subs)
        for row in self.rows:
            if row["query_type"] != query_type or row["subscription_id"].lower() not in subs_set:
                continue
            if not lo <= row["usage_date"] <= hi or not predicate(row):
                continue
            key = (
                *((row["usage_date"],) if daily else ()),
                *(_tag_of(row, tag_keys[0]) if tag_keys else ()),
                *(row[columns_of[name.lower()]] for name in grouping),
                row["currency"],
            )
            sums[key] += row["cost"]
        columns = [{"name": "Cost", "type": "Number"}]
        if daily:
            columns.append({"name": "UsageDate", "type": "Number"})
        if tag_keys:
            columns += [
                {"name": "TagKey", "type": "String"},
                {"name": "TagValue", "type": "String"},
            ]
        columns += [{"name": name, "type": "String"} for name in grouping]
        columns.append({"name": "Currency", "type": "String"})
        rows = [
            [cost, *key]
            for key, cost in sorted(
                sums.items(), key=lambda kv: tuple("" if v is None else v for v in kv[0])
            )
        ]
        return columns, rows


def _priced(sub: AzureSubscription, row: dict[str, Any]) -> list[dict[str, Any]]:
    """A generated row with its pricing model and benefit; an AmortizedCost Usage row split
    into the parts its subscription's benefits (and spot) cover. The parts sum to the row."""
    plain = {"pricing_model": "OnDemand", "benefit_id": "", "benefit_name": ""}
    charge_type = row["charge_type"]
    if charge_type in ("UnusedReservation", "UnusedSavingsPlan", "Purchase"):
        kind = {"UnusedReservation": "Reservation", "UnusedSavingsPlan": "SavingsPlan"}.get(
            charge_type
        )
        benefit = sub.own(kind)
        if benefit is None and kind is not None:
            raise ValueError(f"{sub.name}: {charge_type} needs an own {kind}")
        if benefit is not None:
            plain = {
                "pricing_model": benefit.kind,
                "benefit_id": benefit.benefit_id,
                "benefit_name": benefit.name,
            }
        return [{**row, **plain}]
    if charge_type != "Usage" or row["query_type"] != "AmortizedCost":
        return [{**row, **plain}]
    parts = []
    rest = row["cost"]
    for benefit in sub.all_benefits:
        if row["service_name"] in benefit.services:
            covered = (row["cost"] * benefit.share).quantize(MICRO)
            rest -= covered
            parts.append(
                {
                    **row,
                    "cost": covered,
                    "pricing_model": benefit.kind,
                    "benefit_id": benefit.benefit_id,
                    "benefit_name": benefit.name,
                }
            )
    if row["service_name"] in sub.spot_services:
        spot = (rest * SPOT_SHARE).quantize(MICRO)
        rest -= spot
        parts.append(
            {**row, "cost": spot, "pricing_model": "Spot", "benefit_id": "", "benefit_name": ""}
        )
    parts.append({**row, **plain, "cost": rest})
    return parts


def _tagged(sub: AzureSubscription, row: dict[str, Any]) -> list[dict[str, Any]]:
    """A ground-truth row with its tags: split into the tagged share (`tagged_share`) with
    its service's tags and the untagged rest when the service has tags; the parts sum to the
    row."""
    tags = dict(sub.tags.get(row["service_name"], {}))
    if not tags:
        return [{**row, "tags": {}}]
    tagged = (row["cost"] * sub.tagged_share).quantize(MICRO)
    return [
        {**row, "cost": tagged, "tags": tags},
        {**row, "cost": row["cost"] - tagged, "tags": {}},
    ]


def _tag_of(row: Mapping[str, Any], key: str) -> tuple[str | None, str | None]:
    """(the key as the row's tags spell it, its value), matched without case; (None, None)
    when the row does not have the tag."""
    for name, value in row["tags"].items():
        if name.lower() == key.lower():
            return name, value
    return None, None


def _with_prices(sub: AzureSubscription, row: dict[str, Any]) -> dict[str, Any]:
    """A ground-truth row with its list and contracted cost (`price_factors` of a Usage row;
    rows that set their own keep them)."""
    if sub.price_factors is None or row["charge_type"] != "Usage":
        return row
    list_factor, contracted_factor = sub.price_factors
    return {
        **row,
        "list_cost": (row["cost"] * list_factor).quantize(MICRO),
        "contracted_cost": (row["cost"] * contracted_factor).quantize(MICRO),
    }


def _csv_text(lines: Sequence[Sequence[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows(lines)
    return out.getvalue()


def _moment(day: date) -> str:
    """A date-time as the benefits lists write them (7 fraction digits, Z)."""
    return f"{day.isoformat()}T10:15:30.1234567Z"


def _benefit_item(benefit: EmulatedBenefit, owner: AzureSubscription | None) -> dict[str, Any]:
    """One item of the reservations / savings plans list (the REST reference's shape)."""
    parts = benefit.benefit_id.split("/")  # /providers/<ns>/<orders>/<order>/<kind>/<leaf>
    order, leaf = parts[4], parts[-1]
    common = {
        "displayName": benefit.name,
        "displayProvisioningState": "Succeeded",
        "provisioningState": "Succeeded",
        "term": benefit.term,
        "appliedScopeType": "Shared",
        "userFriendlyAppliedScopeType": "Shared",
        "purchaseDateTime": _moment(benefit.start),
        "benefitStartTime": _moment(benefit.start),
        "effectiveDateTime": _moment(benefit.start),
        "expiryDateTime": _moment(benefit.expiry),
        "renew": False,
    }
    if benefit.kind == "Reservation":
        return {
            # the list spells the provider in lower case (the reference's example does)
            "id": benefit.benefit_id.replace("Microsoft.Capacity", "microsoft.capacity"),
            "name": f"{order}/{leaf}",
            "type": "Microsoft.Capacity/reservationOrders/reservations",
            "location": "eastus",
            "sku": {"name": benefit.sku},
            "etag": 3,
            "properties": {
                **common,
                "billingPlan": benefit.billing_plan,
                "expiryDate": benefit.expiry.isoformat(),
                "purchaseDate": benefit.start.isoformat(),
                "quantity": 2,
                "reservedResourceType": "VirtualMachines",
                "userFriendlyRenewState": "Off",
            },
        }
    properties: dict[str, Any] = {
        **common,
        "billingScopeId": owner.scope if owner else None,
        "commitment": {
            "grain": "Hourly",
            "currencyCode": owner.currency if owner else "USD",
            "amount": float(benefit.hourly_commitment),
        },
    }
    if benefit.billing_plan == "Monthly":
        properties["billingPlan"] = "P1M"
    return {
        "id": benefit.benefit_id,
        "name": f"{order}/{leaf}",
        "type": "Microsoft.BillingBenefits/savingsPlanOrders/savingsPlans",
        "sku": {"name": "Compute_Savings_Plan"},
        "properties": properties,
    }


def _filter(expression: Mapping[str, Any] | None, columns_of: Mapping[str, str]) -> Any:
    """A row predicate for a QueryFilter of `dimensions` In-expressions, `and`, `or`."""
    if not expression:
        return lambda row: True
    if "and" in expression:
        parts = [_filter(e, columns_of) for e in expression["and"]]
        if len(parts) < 2:
            raise ValueError("'and' needs at least two expressions")
        return lambda row: all(p(row) for p in parts)
    if "or" in expression:
        parts = [_filter(e, columns_of) for e in expression["or"]]
        return lambda row: any(p(row) for p in parts)
    dimension = expression.get("dimensions")
    if not dimension:
        raise ValueError(f"unsupported filter {expression}")
    if dimension.get("operator") != "In":
        raise ValueError(f"unsupported operator {dimension.get('operator')}")
    column = columns_of[dimension["name"].lower()]
    values = {str(v).lower() for v in dimension["values"]}
    return lambda row: str(row[column]).lower() in values


def _quota_text(remaining: Mapping[str, int]) -> str:
    return ",".join(f"{name}:{max(left, 0)}" for name, left in remaining.items())


def _json_response(
    body: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body), status=status, headers=dict(headers or {}), mimetype="application/json"
    )


def _error(status: int, code: str, message: str) -> Response:
    return _json_response({"error": {"code": code, "message": message}}, status)


def _oauth_error(code: str, description: str = "") -> Response:
    return _json_response({"error": code, "error_description": description}, 401)


# ---------------------------------------------------------------------- TLS and proxy


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A CA-capable self-signed certificate for 127.0.0.1/localhost: (cert.pem, key.pem).

    Point REQUESTS_CA_BUNDLE at cert.pem to make clients trust the emulator.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "finops azure emulator")])
    now = dt.datetime.now(dt.UTC)
    from ipaddress import ip_address

    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = directory / "emulator-cert.pem", directory / "emulator-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def server_ssl_context(cert_path: Path, key_path: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_path, key_path)
    return context


class ConnectProxy:
    """A minimal HTTPS forward proxy (HTTP CONNECT tunnels) on loopback; counts tunnels."""

    def __init__(self) -> None:
        self.tunnels: list[str] = []
        proxy = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                head = b""
                while b"\r\n\r\n" not in head:
                    chunk = self.request.recv(4096)
                    if not chunk:
                        return
                    head += chunk
                line = head.split(b"\r\n", 1)[0].decode()
                method, target, _ = line.split(" ", 2)
                if method != "CONNECT":
                    self.request.sendall(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                    return
                host, port = target.rsplit(":", 1)
                proxy.tunnels.append(target)
                upstream = socket.create_connection((host, int(port)))
                self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
                sockets = [self.request, upstream]
                try:
                    while True:
                        readable, _, _ = select.select(sockets, [], [], 10)
                        if not readable:
                            return
                        for sock in readable:
                            data = sock.recv(65536)
                            if not data:
                                return
                            (upstream if sock is self.request else self.request).sendall(data)
                finally:
                    upstream.close()

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> ConnectProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class StaticTokenCredential:
    """A TokenCredential that hands out one fixed token (tests only)."""

    token: str
    scopes_asked: list[tuple[str, ...]] = field(default_factory=list)

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes_asked.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)
