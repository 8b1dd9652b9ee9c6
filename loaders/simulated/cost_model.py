"""The simulated estate's cost model: what each series costs on each day, before any API
shape. Every random number is a hash of (seed, purpose, series, day), so any day of any
series is computed alone and equal inputs give equal amounts (the generator module's
docstring says how an amount is made, where anomalies sit and how days are restated).
"""

from __future__ import annotations

import hashlib
import math
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import NormalDist

from loaders.simulated import catalog

EPOCH = date(2024, 1, 1)
RESTATEMENT_DAYS = 3  # days with as_of - day <= 3 are estimates
ESTIMATE_SHORTFALL = 0.04  # an age-0 estimate is 4 % below the final amount
ANOMALY_PERIOD_DAYS = 20
ANOMALY_OFFSET_DAYS = {"AWS": 7, "Azure": 17}
ANOMALY_MIN_HISTORY_DAYS = 30
AWS_TAX_RATE = 0.06
AWS_SP_DISCOUNT = 0.28  # Savings Plan rate vs on-demand
AZURE_RI_DISCOUNT = 0.40  # reservation rate vs pay-as-you-go

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


# ---------------------------------------------------------------- deterministic randomness


def uniform(*parts: object) -> float:
    """A uniform number in (0, 1) that depends only on `parts`."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def standard_normal(*parts: object) -> float:
    return _NORMAL.inv_cdf(uniform(*parts))


def days_between(start: date, end: date) -> Iterator[date]:
    for ordinal in range(start.toordinal(), end.toordinal()):
        yield date.fromordinal(ordinal)


def month_days(day: date) -> list[date]:
    first = day.replace(day=1)
    return [first + timedelta(days=i) for i in range(monthrange(day.year, day.month)[1])]


# ---------------------------------------------------------------- the model


@dataclass
class CostModel:
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
                0.5 * standard_normal(self.seed, "level", *key)
            )
            params = (level, 0.01 + 0.02 * uniform(self.seed, "growth", *key))
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
        noise = math.exp(0.06 * standard_normal(self.seed, "noise", *key) - 0.0018)
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
        first = anchor + timedelta(days=int(uniform(*tag, "jitter") * 6))
        while first.weekday() >= 5:  # start on a weekday: a weekend spike on dev hides
            first += timedelta(days=1)
        candidates = self.anomaly_candidates(provider)
        account_id, service = candidates[int(uniform(*tag, "series") * len(candidates))]
        if uniform(*tag, "kind") < 0.6:
            kind, length = "spike", 1 + int(uniform(*tag, "length") * 3)
            factor = round(3.0 + 3.0 * uniform(*tag, "factor"), 1)
        else:
            kind, length, factor = "drop", 2 + int(uniform(*tag, "length") * 3), 0.05
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
            for d in month_days(day)
            for service, regions in services
            for region in regions
        )

    def aws_savings_plan(self, day: date) -> tuple[float, float, float]:
        """(daily commitment, used commitment, on-demand cost it covered) of prod's plan."""
        account_id, service, _region = catalog.AWS_SAVINGS_PLAN
        account = next(a for a in catalog.AWS_ACCOUNTS if a.id == account_id)
        commitment = 0.3 * self._level("AWS", account, service, 0)
        used = commitment * (0.9 + 0.1 * uniform(self.seed, "sp-utilization", day))
        return commitment, used, used / (1.0 - AWS_SP_DISCOUNT)

    def azure_reservation(self, day: date) -> tuple[float, float, float]:
        """(daily amortized reservation, used part, pay-as-you-go cost it covered)."""
        account_id, service, _region = catalog.AZURE_RESERVATION
        account = next(a for a in catalog.AZURE_SUBSCRIPTIONS if a.id == account_id)
        daily = 0.3 * self._level("Azure", account, service, 0)
        used = daily * (0.85 + 0.14 * uniform(self.seed, "ri-utilization", day))
        return daily, used, used / (1.0 - AZURE_RI_DISCOUNT)


def support_fee(org_month_usage: float) -> float:
    """AWS Business support: 10 % of the first 10K, 7 % to 80K, 5 % to 250K, 3 % above."""
    fee, lower = 0.0, 0.0
    for upper, rate in ((10_000.0, 0.10), (80_000.0, 0.07), (250_000.0, 0.05), (math.inf, 0.03)):
        if org_month_usage > lower:
            fee += (min(org_month_usage, upper) - lower) * rate
        lower = upper
    return max(fee, 100.0)


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
    model = CostModel(seed=seed, as_of=end)
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
