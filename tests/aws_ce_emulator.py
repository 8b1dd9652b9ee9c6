"""Cost Explorer over real HTTP for the tests: moto's server, answers in real shapes, a proxy.

* `MotoServer` runs `ThreadedMotoServer` on loopback; `queue()` posts GetCostAndUsage answers
  to `/moto-api/static/ce/cost-and-usage-results` and `reset()` to `/moto-api/reset`. Moto
  answers each *distinct* request body with the next queued result, so the queue must follow
  the loader's request order: the discovery page(s), then every pair's pages, pairs sorted,
  then (with `Estate.tag_keys`) every tag query's pages, keys in the given order, accounts
  sorted.
* `Estate` describes costs as `Charge`s and renders the pages Cost Explorer would send for
  the loader's query scheme (`answers()`), in that order, with NextPageToken links.
* `CostExplorerProxy` sits between boto3 and moto (`AWS_ENDPOINT_URL_COST_EXPLORER`): it logs
  every request that reaches it and can answer chosen ones with a real Cost Explorer error
  (`LimitExceededException` throttling, `InvalidNextTokenException`, ...), forwarding the rest.
  Moto implements none of the commitment operations: the proxy answers
  GetSavingsPlansUtilizationDetails, GetReservationUtilization, GetSavingsPlansCoverage and
  GetReservationCoverage itself from its `estate`
  (`Estate.answer_commitments`, in the shapes of the public API reference; the fields used
  are listed in loaders/aws_cost_explorer/commitments.py), over the request's TimePeriod.
* Query-answering mode (issue #20): `CostExplorerProxy(moto.url, estate)` (or
  `answer_queries=True` and `proxy.estate = ...`) answers GetCostAndUsage itself, ANY legal
  query - granularity, metrics, up to two GroupBy, Filter expressions, paging bound to the
  request body - evaluated from the estate's charges (`Estate.answer_query`, rules in
  tests/aws_ce_query.py), so it does not depend on the loader's query order. `groups_per_page`
  sets the page size (AWS publishes none), `throttle=TokenBucket(rate, burst)` answers
  `LimitExceededException` beyond it; `answered` / `throttled` count the answers. The estate
  changes between runs through `restate`, `add` (a late refund) and `append_day`;
  tests/aws_ce_organisation.py builds realistic organisations of up to hundreds of accounts.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from aws_ce_query import DEFAULT_GROUPS_PER_PAGE, CostAndUsageQuery, CostExplorerError
from moto.server import ThreadedMotoServer

MOTO_ACCOUNT = "123456789012"  # the account moto's STS reports for plain access keys


def _post_json(url: str, payload: dict[str, Any]) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


class MotoServer:
    """moto's HTTP server on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        _post_json(f"{self.url}/moto-api/reset", {})

    def queue(self, results: list[dict[str, Any]], account_id: str = MOTO_ACCOUNT) -> None:
        status = _post_json(
            f"{self.url}/moto-api/static/ce/cost-and-usage-results",
            {"results": results, "account_id": account_id},
        )
        assert status == 201


# ------------------------------------------------------------------ answers in real shapes


@dataclass(frozen=True)
class Charge:
    """One Cost Explorer group of one day: account x service x region x record type."""

    day: date
    account: str
    service: str
    region: str
    record_type: str
    unblended: str
    amortized: str | None = None  # defaults to the unblended amount
    quantity: str = "0"
    unit: str = "N/A"
    # The resource tags of the charge (activated cost allocation tags), keys case-sensitive
    # as in Cost Explorer; None or a key missing: untagged for that key.
    tags: dict[str, str] | None = None

    @property
    def effective(self) -> str:
        return self.amortized if self.amortized is not None else self.unblended


@dataclass(frozen=True)
class Commitment:
    """A savings plan or reservation, with the attributes Cost Explorer reports for it."""

    kind: str  # "SavingsPlan" | "Reservation"
    commitment_id: str  # the savings plan ARN / the reservation's lease id
    owner_account: str
    start: date
    end: date
    term: str = "1yr"  # PurchaseTerm of a savings plan
    payment_option: str = "No Upfront"
    plan_type: str = "ComputeSavingsPlans"  # SavingsPlansType of a savings plan
    region: str = ""
    instance: str = ""  # InstanceFamily / instanceType


@dataclass(frozen=True)
class CommitmentUse:
    """One commitment's day: its used and unused amortized commitment, and what the usage it
    covered would have cost on demand."""

    commitment: Commitment
    day: date
    used: str
    unused: str
    on_demand: str


COMMITMENT_OPERATIONS = (
    "GetSavingsPlansUtilizationDetails",
    "GetReservationUtilization",
    "GetSavingsPlansCoverage",
    "GetReservationCoverage",
)
# The services whose on-demand usage a savings plan could cover (GetSavingsPlansCoverage's
# OnDemandCost counts theirs only).
SAVINGS_PLAN_ELIGIBLE = (
    "Amazon Elastic Compute Cloud - Compute",
    "AWS Lambda",
    "Amazon Elastic Container Service",
    "Amazon SageMaker",
)
# The record types that hold each commitment kind's used and unused cost (and make the
# loader ask for it).
USED_RECORD_TYPE = {"SavingsPlan": "SavingsPlanCoveredUsage", "Reservation": "DiscountedUsage"}
UNUSED_RECORD_TYPE = {"SavingsPlan": "SavingsPlanRecurringFee", "Reservation": "RIFee"}


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def _chunks(items: list[Any], size: int) -> list[list[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _link(pages: list[dict[str, Any]], label: str) -> list[dict[str, Any]]:
    for number, page in enumerate(pages[:-1]):
        page["NextPageToken"] = f"{label}-page-{number + 2}"
    return pages


@dataclass
class Estate:
    """Costs of a window as Cost Explorer knows them, rendered for the loader's queries."""

    start: date
    end: date
    charges: list[Charge]
    names: dict[str, str] = field(default_factory=dict)
    estimated_from: date | None = None  # days on/after it carry Estimated: true
    days_per_page: int = 400  # daily ResultsByTime entries per page of a pair's query
    discovery_pages: int = 1
    # The commitments behind the SavingsPlan* / DiscountedUsage / RIFee charges; None: one
    # savings plan and one reservation of the payer, derived from those charges.
    commitment_uses: list[CommitmentUse] | None = None
    commitments_per_page: int = 100  # details per GetSavingsPlansUtilizationDetails page
    # Added to GetSavingsPlansCoverage's SpendCoveredBySavingsPlans of every day: an answer
    # that disagrees with the record types (0: it agrees, as Cost Explorer's does).
    coverage_drift: str = "0"
    # The allocation tag keys the loader is told (FINOPS_ALLOCATION_TAGS), in its order: one
    # DAILY query per key and account, grouped by TAG <key> and SERVICE (`tag_pages`).
    tag_keys: tuple[str, ...] = ()
    # Caches of the query-answering mode and of the commitment answers, rebuilt when the
    # charges change (through the methods below, or a new `charges` list).
    _version: int = field(default=0, init=False, repr=False, compare=False)
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    # -- changes between runs (Cost Explorer restates, late charges land, days are added) --

    def changed(self) -> None:
        """Say the charges changed (the methods below do): the caches are dropped."""
        self._version += 1

    def restate(
        self, factor: Decimal | str, *, on_or_after: date, before: date | None = None
    ) -> int:
        """Multiply the amounts (unblended and amortized) of the charges of the days from
        `on_or_after` (to `before`) by `factor`, at 10 decimals; the number of charges."""
        factor, count, quantum = Decimal(factor), 0, Decimal("1e-10")
        for n, c in enumerate(self.charges):
            if c.day >= on_or_after and (before is None or c.day < before):
                self.charges[n] = replace(
                    c,
                    unblended=format((Decimal(c.unblended) * factor).quantize(quantum), "f"),
                    amortized=None
                    if c.amortized is None
                    else format((Decimal(c.amortized) * factor).quantize(quantum), "f"),
                )
                count += 1
        self.changed()
        return count

    def add(self, *charges: Charge) -> None:
        """Charges that land late (a refund of an earlier day, a credit): the window is
        widened to hold them."""
        self.charges.extend(charges)
        for c in charges:
            self.start, self.end = min(self.start, c.day), max(self.end, c.day + timedelta(1))
        self.changed()

    def append_day(self, charges: Iterable[Charge]) -> None:
        """A new day's charges (Cost Explorer's data of yesterday): `end` moves past it."""
        self.add(*charges)

    def _cached(self, name: str, build: Callable[[], Any]) -> Any:
        key = (self._version, id(self.charges), len(self.charges))
        if self._cache.get("key") != key:
            self._cache.clear()
            self._cache["key"] = key
        if name not in self._cache:
            self._cache[name] = build()
        return self._cache[name]

    def _by_account(self) -> dict[str, list[Charge]]:
        def build() -> dict[str, list[Charge]]:
            index: dict[str, list[Charge]] = {}
            for c in self.charges:
                index.setdefault(c.account, []).append(c)
            return index

        return self._cached("by_account", build)

    def _by_day(self) -> dict[date, list[Charge]]:
        def build() -> dict[date, list[Charge]]:
            index: dict[date, list[Charge]] = {}
            for c in self.charges:
                index.setdefault(c.day, []).append(c)
            return index

        return self._cached("by_day", build)

    # -- GetCostAndUsage answered from the charges (the proxy's query-answering mode) -----

    def answer_query(
        self, body: dict[str, Any], groups_per_page: int = DEFAULT_GROUPS_PER_PAGE
    ) -> dict[str, Any]:
        """The page of any legal GetCostAndUsage request, evaluated from the charges
        (`aws_ce_query`); raises `CostExplorerError` (ValidationException,
        InvalidNextTokenException) like the service."""
        query = CostAndUsageQuery.parse(body)
        key = json.dumps({k: v for k, v in body.items() if k != "NextPageToken"}, sort_keys=True)

        def evaluate() -> list[dict[str, Any]]:
            if query.accounts is None:
                charges: Iterable[Charge] = self.charges
            else:
                index = self._by_account()
                charges = [c for a in sorted(query.accounts) for c in index.get(a, [])]
            return query.answer(charges, self.is_estimated)

        # the answers of the last few bodies, so that paging does not re-evaluate a query
        answers: dict[str, list[dict[str, Any]]] = self._cached("answers", dict)
        if key not in answers:
            if len(answers) >= 8:
                del answers[next(iter(answers))]
            answers[key] = evaluate()
        return query.page(answers[key], body, self.names, groups_per_page)

    @property
    def pairs(self) -> list[tuple[str, str]]:
        return sorted({(c.account, c.record_type) for c in self.charges})

    def is_estimated(self, day: date) -> bool:
        return self.estimated_from is not None and day >= self.estimated_from

    def discovery(self) -> list[dict[str, Any]]:
        """MONTHLY pages grouped by LINKED_ACCOUNT, RECORD_TYPE with the accounts' names."""
        months: list[tuple[date, date]] = []
        cursor = self.start
        while cursor < self.end:
            next_month = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
            months.append((cursor, min(next_month, self.end)))
            cursor = next_month
        results = []
        for lo, hi in months:
            totals: dict[tuple[str, str], list[Decimal]] = {}
            for c in self.charges:
                if lo <= c.day < hi:
                    total = totals.setdefault((c.account, c.record_type), [Decimal(0), Decimal(0)])
                    total[0] += Decimal(c.unblended)
                    total[1] += Decimal(c.effective)
            groups = [
                {
                    "Keys": [account, record_type],
                    "Metrics": {
                        "UnblendedCost": {"Amount": str(unblended), "Unit": "USD"},
                        "AmortizedCost": {"Amount": str(amortized), "Unit": "USD"},
                    },
                }
                for (account, record_type), (unblended, amortized) in sorted(totals.items())
            ]
            results.append(
                {
                    "TimePeriod": {"Start": lo.isoformat(), "End": hi.isoformat()},
                    "Total": {},
                    "Groups": groups,
                    "Estimated": any(self.is_estimated(d) for d in _days(lo, hi)),
                }
            )
        # Split the groups of the window over `discovery_pages` pages, like Cost Explorer does
        # when an answer is larger than a page.
        flat = [
            (index, group) for index, result in enumerate(results) for group in result["Groups"]
        ]
        size = max(1, -(-len(flat) // self.discovery_pages))
        pages = []
        for chunk in _chunks(flat, size)[: self.discovery_pages]:
            indices = {index for index, _ in chunk}
            pages.append(
                {
                    "GroupDefinitions": [
                        {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"},
                        {"Type": "DIMENSION", "Key": "RECORD_TYPE"},
                    ],
                    "ResultsByTime": [
                        {**result, "Groups": [g for i, g in chunk if i == index]}
                        for index, result in enumerate(results)
                        if index in indices or not flat
                    ],
                    "DimensionValueAttributes": [
                        {"Value": account, "Attributes": {"description": name}}
                        for account, name in sorted(self.names.items())
                        if any(account == g["Keys"][0] for _, g in chunk)
                    ],
                }
            )
        return _link(pages, "discovery")

    def _daily_pages(
        self,
        group_by: list[tuple[str, str]],
        groups_of: Callable[[date], list[dict[str, Any]]],
        label: str,
    ) -> list[dict[str, Any]]:
        """DAILY pages grouped by `group_by` ((Type, Key) pairs): every day of the window
        listed, empty or not, with the groups `groups_of(day)`, `days_per_page` days a page."""
        results = [
            {
                "TimePeriod": {
                    "Start": day.isoformat(),
                    "End": (day + timedelta(days=1)).isoformat(),
                },
                "Total": {},
                "Groups": groups_of(day),
                "Estimated": self.is_estimated(day),
            }
            for day in _days(self.start, self.end)
        ]
        pages = [
            {
                "GroupDefinitions": [{"Type": kind, "Key": key} for kind, key in group_by],
                "ResultsByTime": chunk,
                "DimensionValueAttributes": [],
            }
            for chunk in _chunks(results, self.days_per_page)
        ]
        return _link(pages, label)

    def pair_pages(self, account: str, record_type: str) -> list[dict[str, Any]]:
        """DAILY pages of one pair grouped by SERVICE, REGION; every day listed, empty or not."""

        def groups_of(day: date) -> list[dict[str, Any]]:
            return [
                {
                    "Keys": [c.service, c.region],
                    "Metrics": {
                        "AmortizedCost": {"Amount": c.effective, "Unit": "USD"},
                        "UnblendedCost": {"Amount": c.unblended, "Unit": "USD"},
                        "UsageQuantity": {"Amount": c.quantity, "Unit": c.unit},
                    },
                }
                for c in self.charges
                if (c.day, c.account, c.record_type) == (day, account, record_type)
            ]

        return self._daily_pages(
            [("DIMENSION", "SERVICE"), ("DIMENSION", "REGION")],
            groups_of,
            f"{account}-{record_type}",
        )

    @property
    def accounts(self) -> list[str]:
        """The linked accounts with costs (the discovered pairs'), sorted."""
        return sorted({account for account, _ in self.pairs})

    def tag_pages(self, key: str, account: str) -> list[dict[str, Any]]:
        """DAILY pages of one tag key in one account grouped by TAG <key> and SERVICE: group
        keys `<key>$<value>`, `<key>$` for the costs without the tag (an empty value looks
        the same); every day listed, empty or not. Keys match case-sensitively, as in Cost
        Explorer."""

        def groups_of(day: date) -> list[dict[str, Any]]:
            totals: dict[tuple[str, str], list[Decimal]] = {}
            for c in self.charges:
                if (c.day, c.account) == (day, account):
                    value = (c.tags or {}).get(key) or ""
                    total = totals.setdefault((value, c.service), [Decimal(0), Decimal(0)])
                    total[0] += Decimal(c.unblended)
                    total[1] += Decimal(c.effective)
            return [
                {
                    "Keys": [f"{key}${value}", service],
                    "Metrics": {
                        "AmortizedCost": {"Amount": format(amortized, "f"), "Unit": "USD"},
                        "UnblendedCost": {"Amount": format(unblended, "f"), "Unit": "USD"},
                    },
                }
                for (value, service), (unblended, amortized) in sorted(totals.items())
            ]

        return self._daily_pages(
            [("TAG", key), ("DIMENSION", "SERVICE")], groups_of, f"tag-{key}-{account}"
        )

    def answers(self) -> list[dict[str, Any]]:
        """Every page the loader will ask for, in the order it asks."""
        pages = self.discovery()
        for account, record_type in self.pairs:
            pages += self.pair_pages(account, record_type)
        for key in self.tag_keys:
            for account in self.accounts:
                pages += self.tag_pages(key, account)
        return pages

    def requests(self) -> int:
        """Cost Explorer requests (= pages) a complete load of this estate takes."""
        return len(self.answers()) + self.commitment_requests()

    # -- the commitment operations (moto has none: the proxy answers them from here) ------

    def kinds(self) -> list[str]:
        """The commitment kinds whose record types have charges: what the loader asks for."""
        types = {c.record_type for c in self.charges}
        return [
            kind
            for kind in ("SavingsPlan", "Reservation")
            if {USED_RECORD_TYPE[kind], UNUSED_RECORD_TYPE[kind]} & types
        ]

    def uses(self) -> list[CommitmentUse]:
        if self.commitment_uses is not None:
            return self.commitment_uses
        return self._cached("uses", self._derived_uses)

    def _derived_uses(self) -> list[CommitmentUse]:
        uses = []
        for kind in self.kinds():
            related = [
                c
                for c in self.charges
                if c.record_type in (USED_RECORD_TYPE[kind], UNUSED_RECORD_TYPE[kind])
            ]
            owner = min(c.account for c in related)
            label = "savingsplan/emulated-sp" if kind == "SavingsPlan" else "emulated-ri"
            commitment = Commitment(
                kind,
                f"arn:aws:savingsplans::{owner}:{label}" if kind == "SavingsPlan" else label,
                owner,
                start=self.start - timedelta(days=200),
                end=self.start + timedelta(days=165),
            )
            related_by_day: dict[date, list[Charge]] = {}
            for c in related:
                related_by_day.setdefault(c.day, []).append(c)
            for day in sorted(related_by_day):
                of_day = related_by_day[day]
                used = [c for c in of_day if c.record_type == USED_RECORD_TYPE[kind]]
                unused = [c for c in of_day if c.record_type == UNUSED_RECORD_TYPE[kind]]
                uses.append(
                    CommitmentUse(
                        commitment,
                        day,
                        used=str(sum((Decimal(c.effective) for c in used), Decimal(0))),
                        unused=str(sum((Decimal(c.effective) for c in unused), Decimal(0))),
                        on_demand=str(sum((Decimal(c.unblended) for c in used), Decimal(0))),
                    )
                )
        return uses

    def savings_plans_pages(self, day: date) -> list[dict[str, Any]]:
        """GetSavingsPlansUtilizationDetails of one day: a detail per plan, ARNs sorted."""
        uses = sorted(
            (u for u in self.uses() if u.commitment.kind == "SavingsPlan" and u.day == day),
            key=lambda u: u.commitment.commitment_id,
        )
        period = {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}
        pages = []
        for chunk in _chunks(uses, self.commitments_per_page):
            details = []
            for u in chunk:
                c, used, unused = u.commitment, Decimal(u.used), Decimal(u.unused)
                total = used + unused
                details.append(
                    {
                        "SavingsPlanArn": c.commitment_id,
                        "Attributes": {
                            "AccountId": c.owner_account,
                            "SavingsPlansType": c.plan_type,
                            "Region": c.region,
                            "InstanceFamily": c.instance,
                            "StartDateTime": f"{c.start.isoformat()}T00:00:00.000Z",
                            "EndDateTime": f"{c.end.isoformat()}T00:00:00.000Z",
                            "PurchaseTerm": c.term,
                            "PaymentOption": c.payment_option,
                        },
                        "Utilization": {
                            "TotalCommitment": str(total),
                            "UsedCommitment": str(used),
                            "UnusedCommitment": str(unused),
                            "UtilizationPercentage": str(
                                (100 * used / total).quantize(Decimal("0.01")) if total else 0
                            ),
                        },
                        "Savings": {
                            "NetSavings": str(Decimal(u.on_demand) - total),
                            "OnDemandCostEquivalent": u.on_demand,
                        },
                        "AmortizedCommitment": {
                            "AmortizedRecurringCommitment": str(total),
                            "AmortizedUpfrontCommitment": "0",
                            "TotalAmortizedCommitment": str(total),
                        },
                    }
                )
            pages.append({"SavingsPlansUtilizationDetails": details, "TimePeriod": period})
        for number, page in enumerate(pages[:-1]):
            page["NextToken"] = f"sp-{day}-page-{number + 2}"
        return pages

    def _window(self, window: tuple[date, date] | None) -> list[date]:
        return _days(*(window or (self.start, self.end)))

    def reservation_pages(self, window: tuple[date, date] | None = None) -> list[dict[str, Any]]:
        """GetReservationUtilization DAILY grouped by SUBSCRIPTION_ID over the window (the
        estate's, or the request's)."""
        results = []
        for day in self._window(window):
            groups = []
            for u in self.uses():
                c = u.commitment
                if c.kind != "Reservation" or u.day != day:
                    continue
                used, unused = Decimal(u.used), Decimal(u.unused)
                groups.append(
                    {
                        "Key": "SUBSCRIPTION_ID",
                        "Value": f"sub-{c.commitment_id}",
                        "Attributes": {
                            "accountId": c.owner_account,
                            "leaseId": c.commitment_id,
                            "region": c.region,
                            "instanceType": c.instance,
                            "startDateTime": f"{c.start.isoformat()}T00:00:00.000Z",
                            "endDateTime": f"{c.end.isoformat()}T00:00:00.000Z",
                            "subscriptionType": c.payment_option,
                        },
                        "Utilization": {
                            "TotalAmortizedFee": str(used + unused),
                            "RICostForUnusedHours": str(unused),
                            "OnDemandCostOfRIHoursUsed": u.on_demand,
                            "NetRISavings": str(Decimal(u.on_demand) - used - unused),
                        },
                    }
                )
            period = {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}
            results.append({"TimePeriod": period, "Groups": groups, "Total": {}})
        pages = [{"UtilizationsByTime": chunk} for chunk in _chunks(results, self.days_per_page)]
        return _link(pages, "reservations")

    def _sum(
        self, day: date, record_type: str, services: Iterable[str] | None, field: str
    ) -> Decimal:
        return sum(
            (
                Decimal(getattr(c, field))
                for c in self._by_day().get(day, [])
                if c.record_type == record_type and (services is None or c.service in services)
            ),
            Decimal(0),
        )

    def savings_plans_coverage_pages(
        self, window: tuple[date, date] | None = None
    ) -> list[dict[str, Any]]:
        """GetSavingsPlansCoverage DAILY, no GroupBy: per day, the on-demand cost of the usage
        savings plans covered (SavingsPlanCoveredUsage's unblended cost) and of the eligible
        usage they did not (Usage of SAVINGS_PLAN_ELIGIBLE services)."""
        entries = []
        for day in self._window(window):
            covered = self._sum(day, "SavingsPlanCoveredUsage", None, "unblended")
            covered += Decimal(self.coverage_drift)
            on_demand = self._sum(day, "Usage", SAVINGS_PLAN_ELIGIBLE, "unblended")
            total = covered + on_demand
            percentage = (100 * covered / total).quantize(Decimal("0.01")) if total else 0
            entries.append(
                {
                    "Attributes": {},
                    "Coverage": {
                        "SpendCoveredBySavingsPlans": str(covered),
                        "OnDemandCost": str(on_demand),
                        "TotalCost": str(total),
                        "CoveragePercentage": str(percentage),
                    },
                    "TimePeriod": {
                        "Start": day.isoformat(),
                        "End": (day + timedelta(days=1)).isoformat(),
                    },
                }
            )
        pages = [{"SavingsPlansCoverages": chunk} for chunk in _chunks(entries, self.days_per_page)]
        for number, page in enumerate(pages[:-1]):
            page["NextToken"] = f"sp-coverage-page-{number + 2}"
        return pages

    def reservation_services(self) -> list[str]:
        return sorted({c.service for c in self.charges if c.record_type == "DiscountedUsage"})

    def reservation_coverage_pages(
        self, service: str, window: tuple[date, date] | None = None
    ) -> list[dict[str, Any]]:
        """GetReservationCoverage DAILY of one service: per day, the hours reservations covered
        (DiscountedUsage's usage quantity) and the on-demand hours and cost (Usage's)."""
        results = []
        for day in self._window(window):
            reserved = self._sum(day, "DiscountedUsage", (service,), "quantity")
            on_demand = self._sum(day, "Usage", (service,), "quantity")
            running = reserved + on_demand
            percentage = (100 * reserved / running).quantize(Decimal("0.01")) if running else 0
            total = {
                "CoverageHours": {
                    "ReservedHours": str(reserved),
                    "OnDemandHours": str(on_demand),
                    "TotalRunningHours": str(running),
                    "CoverageHoursPercentage": str(percentage),
                },
                "CoverageCost": {
                    "OnDemandCost": str(self._sum(day, "Usage", (service,), "unblended"))
                },
            }
            period = {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()}
            results.append({"TimePeriod": period, "Groups": [], "Total": total})
        pages = [{"CoveragesByTime": chunk} for chunk in _chunks(results, self.days_per_page)]
        return _link(pages, f"ri-coverage-{service}")

    def commitment_requests(self) -> int:
        kinds = self.kinds()
        sp = sum(len(self.savings_plans_pages(d)) for d in _days(self.start, self.end))
        types = {c.record_type for c in self.charges}
        return (
            (sp if "SavingsPlan" in kinds else 0)
            + (len(self.reservation_pages()) if "Reservation" in kinds else 0)
            + (
                len(self.savings_plans_coverage_pages())
                if "SavingsPlanCoveredUsage" in types
                else 0
            )
            + sum(len(self.reservation_coverage_pages(s)) for s in self.reservation_services())
        )

    def answer_commitments(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        """The page a commitment operation's request asks for (its token names the page), over
        the request's TimePeriod."""
        period = body.get("TimePeriod") or {}
        window = (
            (date.fromisoformat(period["Start"]), date.fromisoformat(period["End"]))
            if "Start" in period and "End" in period
            else None
        )
        if operation == "GetSavingsPlansUtilizationDetails":
            day = date.fromisoformat(body["TimePeriod"]["Start"])
            pages, token = self.savings_plans_pages(day), body.get("NextToken")
        elif operation == "GetSavingsPlansCoverage":
            # the API refuses a Granularity with a GroupBy
            assert body.get("Granularity") == "DAILY" and not body.get("GroupBy"), body
            pages, token = self.savings_plans_coverage_pages(window), body.get("NextToken")
        elif operation == "GetReservationCoverage":
            assert body.get("Granularity") == "DAILY", body
            dimensions = body["Filter"]["Dimensions"]
            assert dimensions["Key"] == "SERVICE" and len(dimensions["Values"]) == 1, body
            pages = self.reservation_coverage_pages(dimensions["Values"][0], window)
            token = body.get("NextPageToken")
        else:
            assert body.get("Granularity") == "DAILY", body
            assert body.get("GroupBy") == [{"Type": "DIMENSION", "Key": "SUBSCRIPTION_ID"}], body
            pages, token = self.reservation_pages(window), body.get("NextPageToken")
        number = int(token.rsplit("-", 1)[1]) if token else 1
        return pages[number - 1]

    def totals(self) -> tuple[Decimal, Decimal]:
        """(billed, effective) of the whole window, exact."""
        return (
            sum((Decimal(c.unblended) for c in self.charges), Decimal(0)),
            sum((Decimal(c.effective) for c in self.charges), Decimal(0)),
        )


def charges_for(
    days: Iterable[date],
    account: str,
    record_type: str,
    amounts: dict[tuple[str, str], str],
    *,
    scale: Callable[[date], Decimal] = lambda _day: Decimal(1),
) -> list[Charge]:
    """A Charge per day and (service, region) with `amount x scale(day)` (10 decimals)."""
    out = []
    for day in days:
        for (service, region), amount in amounts.items():
            value = (Decimal(amount) * scale(day)).quantize(Decimal("1e-10"))
            out.append(Charge(day, account, service, region, record_type, str(value)))
    return out


# ------------------------------------------------------------------ the proxy


@dataclass(frozen=True)
class SeenRequest:
    operation: str  # e.g. GetCostAndUsage
    body: dict[str, Any]
    answered_by: str  # "moto" or the error type the proxy answered with


@dataclass
class Fault:
    """Answer requests that `match` with a Cost Explorer error, `times` times (None: always)."""

    match: Callable[[str, dict[str, Any]], bool]
    error_type: str
    message: str
    status: int = 400
    times: int | None = 1


class FaultLog:
    """The request log and the scripted errors of an emulated AWS endpoint."""

    def __init__(self) -> None:
        self.seen: list[SeenRequest] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()

    def fail(self, fault: Fault) -> None:
        with self._lock:
            self.faults.append(fault)

    def _take_fault(self, operation: str, body: dict[str, Any]) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times != 0 and fault.match(operation, body):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    def _record(self, seen: SeenRequest) -> None:
        with self._lock:
            self.seen.append(seen)

    def calls(self, operation: str = "GetCostAndUsage") -> list[SeenRequest]:
        with self._lock:
            return [s for s in self.seen if s.operation == operation]


class TokenBucket:
    """Cost Explorer's rate limit as a token bucket: `rate` requests a second, `burst` at once
    (AWS publishes no figure for GetCostAndUsage; both are the caller's choice)."""

    def __init__(self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic):
        self.rate, self.burst, self._clock = rate, burst, clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = self._clock()
            self._tokens = min(self.burst, self._tokens + (now - self._at) * self.rate)
            self._at = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False


THROTTLED = "LimitExceededException"


class CostExplorerProxy(FaultLog):
    """A loopback HTTP proxy in front of moto that logs and can fail Cost Explorer calls.

    With `answer_queries` (the default when an `estate` is given) it answers GetCostAndUsage
    itself from `estate` (`Estate.answer_query`: any legal query, `groups_per_page` groups a
    page) instead of forwarding it to moto's queue; with `throttle` (a `TokenBucket`) a Cost
    Explorer request beyond the bucket gets `LimitExceededException` (HTTP 400). `answered`
    counts the Cost Explorer requests answered 200 (what AWS bills), `throttled` the throttled
    ones; STS and the rest still go to moto.
    """

    def __init__(
        self,
        upstream: str,
        estate: Estate | None = None,
        *,
        answer_queries: bool | None = None,
        groups_per_page: int = DEFAULT_GROUPS_PER_PAGE,
        throttle: TokenBucket | None = None,
    ) -> None:
        super().__init__()
        self.upstream = urlsplit(upstream)
        # The estate whose commitment operations the proxy answers itself (moto has none),
        # and, with `answer_queries`, its GetCostAndUsage requests.
        self.estate: Estate | None = estate
        self.answer_queries = estate is not None if answer_queries is None else answer_queries
        self.groups_per_page = groups_per_page
        self.throttle = throttle
        self.answered = 0  # Cost Explorer requests answered 200 (billed)
        self.throttled = 0  # Cost Explorer requests answered LimitExceededException
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _send(self, status: int, payload: dict[str, Any], error: str = "") -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                if error:
                    self.send_header("x-amzn-ErrorType", f"{error}:")
                self.send_header("x-amzn-RequestId", f"emulated-{len(proxy.seen)}")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                target = self.headers.get("X-Amz-Target", "")
                operation = target.rsplit(".", 1)[-1]
                is_ce = target.startswith("AWSInsightsIndexService.")
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {}
                fault = proxy._take_fault(operation, body)
                if fault is not None:
                    proxy._record(SeenRequest(operation, body, fault.error_type))
                    self._send(
                        fault.status,
                        {"__type": fault.error_type, "message": fault.message},
                        fault.error_type,
                    )
                    return
                if is_ce and proxy.throttle is not None and not proxy.throttle.take():
                    with proxy._lock:
                        proxy.throttled += 1
                    proxy._record(SeenRequest(operation, body, THROTTLED))
                    error = CostExplorerError(THROTTLED, "Rate exceeded")
                    self._send(400, error.payload(), THROTTLED)
                    return
                estate = proxy.estate
                answer: dict[str, Any] | None = None
                try:
                    if operation in COMMITMENT_OPERATIONS and estate is not None:
                        answer = estate.answer_commitments(operation, body)
                    elif (
                        operation == "GetCostAndUsage"
                        and proxy.answer_queries
                        and estate is not None
                    ):
                        answer = estate.answer_query(body, proxy.groups_per_page)
                except CostExplorerError as error:
                    proxy._record(SeenRequest(operation, body, error.error_type))
                    self._send(error.status, error.payload(), error.error_type)
                    return
                if answer is not None:
                    with proxy._lock:
                        proxy.answered += 1
                    proxy._record(SeenRequest(operation, body, "emulator"))
                    self._send(200, answer)
                    return
                proxy._record(SeenRequest(operation, body, "moto"))
                conn = http.client.HTTPConnection(
                    proxy.upstream.hostname, proxy.upstream.port, timeout=30
                )
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    conn.request("POST", self.path, body=raw, headers=headers)
                    upstream = conn.getresponse()
                    data = upstream.read()
                    if is_ce and upstream.status == 200:
                        with proxy._lock:
                            proxy.answered += 1
                    self.send_response(upstream.status)
                    for key, value in upstream.getheaders():
                        if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                            self.send_header(key, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                finally:
                    conn.close()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def start(self) -> CostExplorerProxy:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def clear(self) -> None:
        """Forget the log, the faults, the counters and the estate (the mode stays)."""
        with self._lock:
            self.seen.clear()
            self.faults.clear()
            self.estate = None
            self.answered = self.throttled = 0

    def reset_counts(self) -> None:
        """Forget the log and the counters only (between the runs of one estate)."""
        with self._lock:
            self.seen.clear()
            self.answered = self.throttled = 0
