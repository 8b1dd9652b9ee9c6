"""A seeded, deterministic estate whose costs come out exactly as the real APIs answer.

`generate()` builds, for a half-open window, the answers Cost Explorer and the Cost
Management Query API would give the real loaders' query schemes (see the two `mapping`
modules): GetDimensionValues answers, GetCostAndUsage pages linked by NextPageToken, Query
API pages linked by nextLink. The simulated source then goes through the same mappings and
the same `warehouse.replace_window` as the real ones, so everything downstream (dbt, the
dashboard, restatement) is exercised on real shapes.

How a daily amount is made
--------------------------
Every random number is a hash of (seed, what it is for, series, day) - no global RNG state,
so any day of any series can be computed alone and the same inputs always give the same
bytes. A Usage series' final amount on a day is

    level x log-normal(seed, series) x growth(1-3 %/month since 2024-01-01)
          x weekend factor (dev/staging much lower) x noise(~6 %) x anomaly factor

and the other record/charge types derive from it (tax and support on the 1st of the month
from the month's usage, Savings Plan and reservation splits, credits, refunds). Anomalies
sit on a calendar grid - one slot every 20 days per provider, anchored on 2024-01-01 - so a
day's value does not depend on the window it is loaded in, and every 180-day window holds
7-8 of them per provider.

Restatement: relative to `as_of`, a day of age 0-3 is not final yet - Cost Explorer flags it
`Estimated` and both providers report `final x (1 - 0.04 x (4 - age) / 4)`; from age 4 on the
amount is final. Days after `as_of` have no data yet. Loading a window again with a later
`as_of` therefore restates exactly the recent days.
"""

from __future__ import annotations

import hashlib
import math
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist
from typing import Any

from loaders.aws_cost_explorer import mapping as aws_mapping
from loaders.azure_cost_management import mapping as azure_mapping
from loaders.simulated import catalog

EPOCH = date(2024, 1, 1)
AWS_PAGE_DAYS = 40  # ResultsByTime days per GetCostAndUsage page
AZURE_PAGE_ROWS = azure_mapping.PAGE_ROWS  # rows per Query API page
RESTATEMENT_DAYS = 3  # days with as_of - day <= 3 are estimates
ESTIMATE_SHORTFALL = 0.04  # an age-0 estimate is 4 % below the final amount
ANOMALY_PERIOD_DAYS = 20
ANOMALY_OFFSET_DAYS = {"AWS": 7, "Azure": 17}
ANOMALY_MIN_HISTORY_DAYS = 30
AWS_TAX_RATE = 0.06
AWS_SP_DISCOUNT = 0.28  # Savings Plan rate vs on-demand
AZURE_RI_DISCOUNT = 0.40  # reservation rate vs pay-as-you-go
AZURE_API_VERSION = "2023-11-01"

_NORMAL = NormalDist()


# ---------------------------------------------------------------- public types


@dataclass(frozen=True)
class InjectedAnomaly:
    """Ground truth of one injected anomaly on a provider x sub account x service series."""

    provider_name: str  # 'AWS' or 'Azure'
    sub_account_id: str
    service_name: str
    first_date: date
    last_date: date  # inclusive
    kind: str  # 'spike' or 'drop'
    factor: float  # multiplies the series' usage cost on each day of the anomaly


@dataclass(frozen=True)
class SimulatedBatch:
    """What the real APIs would have answered the loaders' queries for one window.

    aws_dimension_queries: (GetDimensionValues request, response) - the accounts with their
        names, then the record types of each account.
    aws_queries: (GetCostAndUsage request, its response pages), one per (account, record type).
    azure_queries: (scope, query_type, fixed columns, response pages), one per
        (subscription, query type, charge type).
    """

    start: date
    end: date
    as_of: date
    seed: int
    aws_scope: str
    aws_dimension_queries: list[tuple[dict[str, Any], dict[str, Any]]]
    aws_queries: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    azure_queries: list[tuple[str, str, dict[str, str], list[dict[str, Any]]]]

    @property
    def aws_requests(self) -> int:
        """Billed Cost Explorer requests (USD 0.01 each) the real loader would have made."""
        return len(self.aws_dimension_queries) + sum(len(p) for _, p in self.aws_queries)

    @property
    def azure_scopes(self) -> list[str]:
        return list(dict.fromkeys(scope for scope, _, _, _ in self.azure_queries))

    def azure_requests(self, scope: str) -> int:
        """Query API requests (pages) the real loader would have made for `scope`."""
        return sum(len(pages) for s, _, _, pages in self.azure_queries if s == scope)


# ---------------------------------------------------------------- deterministic randomness


def _unit(*parts: object) -> float:
    """A uniform number in (0, 1) that depends only on `parts`."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def _normal(*parts: object) -> float:
    return _NORMAL.inv_cdf(_unit(*parts))


def _days(start: date, end: date) -> Iterator[date]:
    for ordinal in range(start.toordinal(), end.toordinal()):
        yield date.fromordinal(ordinal)


def _yyyymmdd(day: date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _month_days(day: date) -> list[date]:
    first = day.replace(day=1)
    return [first + timedelta(days=i) for i in range(monthrange(day.year, day.month)[1])]


def _ce_amount(value: float) -> str:
    """Cost Explorer's decimal string with 10 places; never '-0.0000000000'."""
    text = f"{value:.10f}"
    return "0.0000000000" if text == "-0.0000000000" else text


# ---------------------------------------------------------------- the model


@dataclass
class _Model:
    seed: int
    as_of: date
    _usage_cache: dict[tuple[str, str, str, str, date], float] = field(default_factory=dict)
    _series_cache: dict[tuple[str, str, str, str], tuple[float, float]] = field(
        default_factory=dict
    )
    _slot_cache: dict[tuple[str, int], InjectedAnomaly] = field(default_factory=dict)

    # ----- series

    def usage_series(self, provider: str) -> list[tuple[catalog.Account, str, str, int]]:
        """(account, service, region, region index) of every Usage series of a provider."""
        accounts, usage = (
            (catalog.AWS_ACCOUNTS, catalog.AWS_USAGE)
            if provider == "AWS"
            else (catalog.AZURE_SUBSCRIPTIONS, catalog.AZURE_USAGE)
        )
        return [
            (account, service, region, position)
            for account in accounts
            for service, regions in usage[account.id]
            for position, region in enumerate(regions)
        ]

    def _level(self, provider: str, account: catalog.Account, service: str, position: int) -> float:
        levels = catalog.AWS_SERVICE_LEVELS if provider == "AWS" else catalog.AZURE_SERVICE_LEVELS
        share = 1.0 if position == 0 else catalog.SECONDARY_REGION_SHARE
        return levels[service] * account.scale * share

    def _series(
        self, provider: str, account: catalog.Account, service: str, region: str
    ) -> tuple[float, float]:
        """(level, monthly growth) of one series, drawn once from the seed."""
        key = (provider, account.id, service, region)
        params = self._series_cache.get(key)
        if params is None:
            usage = catalog.AWS_USAGE if provider == "AWS" else catalog.AZURE_USAGE
            position = dict(usage[account.id])[service].index(region)
            level = self._level(provider, account, service, position) * math.exp(
                0.5 * _normal(self.seed, "level", *key)
            )
            params = (level, 0.01 + 0.02 * _unit(self.seed, "growth", *key))
            self._series_cache[key] = params
        return params

    def usage(
        self, provider: str, account: catalog.Account, service: str, region: str, day: date
    ) -> float:
        """Final usage cost of one series on one day (anomalies included)."""
        key = (provider, account.id, service, region, day)
        cached = self._usage_cache.get(key)
        if cached is not None:
            return cached
        level, monthly_growth = self._series(provider, account, service, region)
        months = (day - EPOCH).days / 30.4375
        weekly = account.weekend_factor if day.weekday() >= 5 else 1.0
        noise = math.exp(0.06 * _normal(self.seed, "noise", *key) - 0.0018)
        value = level * (1.0 + monthly_growth) ** months * weekly * noise
        value *= self.anomaly_factor(provider, account.id, service, day)
        self._usage_cache[key] = value
        return value

    def restated(self, value: float, day: date) -> float:
        """The amount the API reports on `as_of` for a day whose final amount is `value`."""
        age = (self.as_of - day).days
        if 0 <= age <= RESTATEMENT_DAYS:
            return value * (1.0 - ESTIMATE_SHORTFALL * (RESTATEMENT_DAYS + 1 - age) / 4)
        return value

    def estimated(self, day: date) -> bool:
        return 0 <= (self.as_of - day).days <= RESTATEMENT_DAYS

    # ----- anomalies

    def anomaly_candidates(self, provider: str) -> list[tuple[str, str]]:
        """(account id, service) Usage series big enough for an anomaly to matter, excluding
        the ones whose cost is split by a commitment (Savings Plan / reservation)."""
        excluded = (
            catalog.AWS_SAVINGS_PLAN[:2] if provider == "AWS" else catalog.AZURE_RESERVATION[:2]
        )
        threshold = 60.0 if provider == "AWS" else 40.0
        candidates = []
        for account, service, _region, position in self.usage_series(provider):
            if (
                position == 0
                and (account.id, service) != excluded
                and self._level(provider, account, service, 0) >= threshold
            ):
                candidates.append((account.id, service))
        return candidates

    def anomaly_in_slot(self, provider: str, slot: int) -> InjectedAnomaly:
        key = (provider, slot)
        if key in self._slot_cache:
            return self._slot_cache[key]
        anchor = EPOCH + timedelta(days=ANOMALY_OFFSET_DAYS[provider] + slot * ANOMALY_PERIOD_DAYS)
        tag = (self.seed, "anomaly", provider, slot)
        first = anchor + timedelta(days=int(_unit(*tag, "jitter") * 6))
        while first.weekday() >= 5:  # start on a weekday: a weekend spike on dev hides
            first += timedelta(days=1)
        candidates = self.anomaly_candidates(provider)
        account_id, service = candidates[int(_unit(*tag, "series") * len(candidates))]
        if _unit(*tag, "kind") < 0.6:
            kind, length = "spike", 1 + int(_unit(*tag, "length") * 3)
            factor = round(3.0 + 3.0 * _unit(*tag, "factor"), 1)
        else:
            kind, length, factor = "drop", 2 + int(_unit(*tag, "length") * 3), 0.05
        anomaly = InjectedAnomaly(
            provider_name=provider,
            sub_account_id=account_id,
            service_name=service,
            first_date=first,
            last_date=first + timedelta(days=length - 1),
            kind=kind,
            factor=factor,
        )
        self._slot_cache[key] = anomaly
        return anomaly

    def slot_of(self, provider: str, day: date) -> int:
        return ((day - EPOCH).days - ANOMALY_OFFSET_DAYS[provider]) // ANOMALY_PERIOD_DAYS

    def anomaly_factor(self, provider: str, account_id: str, service: str, day: date) -> float:
        # Jitter (<= 5 + 2 weekend days) + length (<= 4) < period: a day can only be in its
        # own slot's anomaly.
        anomaly = self.anomaly_in_slot(provider, self.slot_of(provider, day))
        if (
            anomaly.first_date <= day <= anomaly.last_date
            and anomaly.sub_account_id == account_id
            and anomaly.service_name == service
        ):
            return anomaly.factor
        return 1.0

    # ----- AWS derived amounts

    def aws_account_month_usage(self, account: catalog.Account, day: date) -> float:
        services = catalog.AWS_USAGE[account.id]
        return sum(
            self.usage("AWS", account, service, region, d)
            for d in _month_days(day)
            for service, regions in services
            for region in regions
        )

    def aws_savings_plan(self, day: date) -> tuple[float, float, float]:
        """(daily commitment, used commitment, on-demand cost it covered) of prod's plan."""
        account_id, service, _region = catalog.AWS_SAVINGS_PLAN
        account = next(a for a in catalog.AWS_ACCOUNTS if a.id == account_id)
        commitment = 0.3 * self._level("AWS", account, service, 0)
        used = commitment * (0.9 + 0.1 * _unit(self.seed, "sp-utilization", day))
        return commitment, used, used / (1.0 - AWS_SP_DISCOUNT)

    def azure_reservation(self, day: date) -> tuple[float, float, float]:
        """(daily amortized reservation, used part, pay-as-you-go cost it covered)."""
        account_id, service, _region = catalog.AZURE_RESERVATION
        account = next(a for a in catalog.AZURE_SUBSCRIPTIONS if a.id == account_id)
        daily = 0.3 * self._level("Azure", account, service, 0)
        used = daily * (0.85 + 0.14 * _unit(self.seed, "ri-utilization", day))
        return daily, used, used / (1.0 - AZURE_RI_DISCOUNT)


def _support_fee(org_month_usage: float) -> float:
    """AWS Business support: 10 % of the first 10K, 7 % to 80K, 5 % to 250K, 3 % above."""
    fee, lower = 0.0, 0.0
    for upper, rate in ((10_000.0, 0.10), (80_000.0, 0.07), (250_000.0, 0.05), (math.inf, 0.03)):
        if org_month_usage > lower:
            fee += (min(org_month_usage, upper) - lower) * rate
        lower = upper
    return max(fee, 100.0)


# ---------------------------------------------------------------- AWS answers


# One group: (service, region, unblended, amortized, usage quantity, quantity unit).
_Group = tuple[str, str, float, float, float, str]


def _aws_groups(
    model: _Model, account: catalog.Account, record_type: str, day: date
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
                price = 0.02 + 0.5 * _unit(model.seed, "price", account.id, service, region)
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
        fee = _support_fee(org)
        groups.append((catalog.AWS_SUPPORT_SERVICE, "NoRegion", fee, fee, 0.0, "N/A"))
    elif record_type == "Credit" and day.day in (1, 8, 15, 22):
        for credit_account, service, region in catalog.AWS_CREDIT_SERIES:
            if credit_account == account.id:
                share = 0.5 + 0.4 * _unit(model.seed, "credit", service, day)
                credit = -share * usage(service, region)
                groups.append((service, region, credit, credit, 0.0, "N/A"))
    elif record_type == "Refund" and account.id == catalog.AWS_REFUND_SERIES[0]:
        _, service, region = catalog.AWS_REFUND_SERIES
        if _unit(model.seed, "refund", "AWS", day) < 1 / 45:
            days_refunded = 1.0 + 2.0 * _unit(model.seed, "refund-size", "AWS", day)
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
    model: _Model,
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


def _generate_aws(
    model: _Model, start: date, end: date, days: list[date], page_days: int
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


# ---------------------------------------------------------------- Azure answers


def _azure_rows(
    model: _Model, account: catalog.Account, query_type: str, charge_type: str, day: date
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
            share = 0.5 + 0.4 * _unit(model.seed, "credit", "Azure", day)
            rows.append((service, region, -share * usage(service, region)))
    elif charge_type == "Refund" and account.id == catalog.AZURE_REFUND_SERIES[0]:
        _, service, region = catalog.AZURE_REFUND_SERIES
        if _unit(model.seed, "refund", "Azure", day) < 1 / 45:
            days_refunded = 1.0 + 2.0 * _unit(model.seed, "refund-size", "Azure", day)
            rows.append((service, region, -days_refunded * usage(service, region)))
    return sorted(rows)


def _azure_pages(
    model: _Model,
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


def _generate_azure(
    model: _Model, days: list[date], start: date, page_rows: int
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


# ---------------------------------------------------------------- entry points


def generate(
    start: date,
    end: date,
    *,
    as_of: date,
    seed: int = 42,
    aws_page_days: int = AWS_PAGE_DAYS,
    azure_page_rows: int = AZURE_PAGE_ROWS,
) -> SimulatedBatch:
    """The API answers for the half-open window [start, end) as they would read on `as_of`.

    Days after `as_of` have no data yet. The same arguments always give equal batches.
    """
    if end <= start:
        raise ValueError(f"empty window [{start}, {end})")
    if aws_page_days < 1 or azure_page_rows < 1:
        raise ValueError("page sizes must be positive")
    model = _Model(seed=seed, as_of=as_of)
    days = list(_days(start, min(end, as_of + timedelta(days=1))))
    dimension_queries, aws_queries = _generate_aws(model, start, end, days, aws_page_days)
    return SimulatedBatch(
        start=start,
        end=end,
        as_of=as_of,
        seed=seed,
        aws_scope=catalog.AWS_PAYER_ACCOUNT_ID,
        aws_dimension_queries=dimension_queries,
        aws_queries=aws_queries,
        azure_queries=_generate_azure(model, days, start, azure_page_rows),
    )


def injected_anomalies(
    start: date,
    end: date,
    *,
    seed: int = 42,
    min_history_days: int = ANOMALY_MIN_HISTORY_DAYS,
) -> list[InjectedAnomaly]:
    """The anomalies a detector should find in [start, end), sorted by first day.

    Anomalies live on a calendar grid (see the module docstring), so some also fall in the
    first `min_history_days` of a window; those are left out here because a detector has no
    history to judge them by (pass 0 to list them too). An anomaly running past the window's
    end is listed with `last_date` cut to the window's last day.
    """
    model = _Model(seed=seed, as_of=end)
    earliest = start + timedelta(days=min_history_days)
    found = []
    for provider in ("AWS", "Azure"):
        for slot in range(model.slot_of(provider, earliest) - 1, model.slot_of(provider, end) + 1):
            anomaly = model.anomaly_in_slot(provider, slot)
            if not (earliest <= anomaly.first_date < end):
                continue
            last = min(anomaly.last_date, end - timedelta(days=1))
            found.append(
                InjectedAnomaly(
                    anomaly.provider_name,
                    anomaly.sub_account_id,
                    anomaly.service_name,
                    anomaly.first_date,
                    last,
                    anomaly.kind,
                    anomaly.factor,
                )
            )
    return sorted(found, key=lambda a: (a.first_date, a.provider_name))
