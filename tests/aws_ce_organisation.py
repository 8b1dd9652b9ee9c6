"""A realistic AWS organisation for the Cost Explorer emulator, from a few to 300+ accounts.

    estate = organisation_estate(16, date(2026, 9, 1), date(2026, 11, 1), seed=20)
    estate.append_day(organisation_day(estate, date(2026, 11, 1)))   # the next day's data

Each linked account (12-digit id, a name like `acme-payments-prod`) runs 5-25 services in
1-4 regions (global services in `global`), with Usage every day (sizes spread over four
orders of magnitude, lower at weekends, a little daily noise), and:

* Tax: monthly on the 1st in most accounts, daily in the others (8 % of the day's usage);
* Credit (daily, -5 % of the largest service) in about a third of the accounts, Refund (on
  the 15th) in about one in six;
* savings plans in a few accounts (SavingsPlanCoveredUsage / SavingsPlanNegation /
  SavingsPlanRecurringFee on EC2) and reservations in a few (DiscountedUsage / RIFee on RDS
  or EC2) - so the loader's commitment operations run (the proxy answers them from the
  estate, one savings plan and one reservation derived from those charges);
* Support on the 1st in the payer account and in about one in five others.

Amounts depend only on (seed, account, series, day), never on the window, so a day appended
later is the day a longer window would have held, and the estate is the same on every run.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

from aws_ce_emulator import Charge, Estate

SERVICES = (
    ("Amazon Elastic Compute Cloud - Compute", "Hrs"),
    ("EC2 - Other", "GB-Mo"),
    ("Amazon Simple Storage Service", "GB-Mo"),
    ("Amazon Relational Database Service", "Hrs"),
    ("Amazon DynamoDB", "ReadCapacityUnit-Hrs"),
    ("AWS Lambda", "Lambda-GB-Second"),
    ("Amazon Elastic Container Service", "vCPU-Hours"),
    ("Amazon Elastic Kubernetes Service", "Hrs"),
    ("Amazon CloudWatch", "Metrics"),
    ("Amazon Virtual Private Cloud", "Hrs"),
    ("Elastic Load Balancing", "LCU-Hrs"),
    ("Amazon ElastiCache", "NodeUsage"),
    ("Amazon OpenSearch Service", "Hrs"),
    ("Amazon Redshift", "Node-Hour"),
    ("Amazon Simple Queue Service", "Requests"),
    ("Amazon Simple Notification Service", "Requests"),
    ("Amazon Kinesis", "ShardHour"),
    ("AWS Glue", "DPU-Hour"),
    ("Amazon Athena", "Terabytes"),
    ("Amazon SageMaker", "Hrs"),
    ("AWS Key Management Service", "Requests"),
    ("AWS Secrets Manager", "Secrets"),
    ("Amazon Elastic File System", "GB-Mo"),
    ("AWS Backup", "GB-Mo"),
    ("Amazon API Gateway", "Requests"),
    ("AWS Step Functions", "StateTransitions"),
    ("Amazon Elastic Container Registry", "GB-Mo"),
    ("AWS Config", "ConfigurationItemRecorded"),
    ("AWS CloudTrail", "Events"),
    ("Amazon GuardDuty", "GB"),
)
GLOBAL_SERVICES = (
    ("Amazon Route 53", "HostedZone"),
    ("Amazon CloudFront", "GB"),
    ("AWS WAF", "Requests"),
)
REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
)
TEAMS = (
    "payments", "search", "data", "platform", "web", "mobile", "ml", "identity", "billing",
    "logistics", "catalog", "ads", "security", "analytics", "media", "support",
)  # fmt: skip
ENVIRONMENTS = ("prod", "staging", "dev", "sandbox")
EC2 = SERVICES[0][0]
RDS = SERVICES[3][0]
SUPPORT = "AWS Support (Business)"
QUANTUM = Decimal("1e-10")


@dataclass(frozen=True)
class Series:
    service: str
    region: str
    unit: str
    level: Decimal  # USD a weekday


@dataclass(frozen=True)
class Account:
    account_id: str
    name: str
    series: tuple[Series, ...]
    tax: str  # "monthly" | "daily"
    credit: bool
    refund: bool
    savings_plan: bool
    reservation: bool
    support: bool


def _noise(*parts: object) -> Decimal:
    """A deterministic number in [0, 1) from the parts."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return Decimal(int.from_bytes(digest, "big") % 10**9) / 10**9


def organisation(accounts: int, seed: int = 20) -> list[Account]:
    """The accounts of an organisation (the first is the payer), deterministic per seed."""
    rng = random.Random(seed)
    ids = sorted(rng.sample(range(10**11, 10**12), accounts))
    out = []
    for n, number in enumerate(ids):
        regions = rng.sample(REGIONS, rng.randint(1, 4))
        series = []
        for service, unit in rng.sample(SERVICES, rng.randint(5, min(25, len(SERVICES)))):
            for region in rng.sample(regions, rng.randint(1, min(2, len(regions)))):
                level = Decimal(str(round(10 ** rng.uniform(-1.5, 2.5), 4)))
                series.append(Series(service, region, unit, level))
        if rng.random() < 0.4:
            service, unit = rng.choice(GLOBAL_SERVICES)
            series.append(
                Series(service, "global", unit, Decimal(str(round(rng.uniform(1, 40), 4))))
            )
        if not any(s.service == EC2 for s in series):  # every account runs some compute
            series.append(Series(EC2, regions[0], "Hrs", Decimal("12.5")))
        payer = n == 0
        out.append(
            Account(
                account_id=f"{number:012d}",
                name="acme-payer"
                if payer
                else f"acme-{TEAMS[n % len(TEAMS)]}-{ENVIRONMENTS[(n // len(TEAMS)) % 4]}-{n}",
                series=tuple(series),
                tax="daily" if rng.random() < 0.3 else "monthly",
                credit=rng.random() < 0.33,
                refund=rng.random() < 0.17,
                savings_plan=n % 9 == 1,  # a few accounts: 2 of 16, 34 of 300
                reservation=n % 11 == 2,
                support=payer or rng.random() < 0.2,
            )
        )
    return out


def _amount(value: Decimal) -> str:
    return format(value.quantize(QUANTUM), "f")


def account_day(account: Account, day: date, seed: int) -> list[Charge]:
    """The charges of one account on one day."""
    charges: list[Charge] = []
    weekend = Decimal("0.7") if day.weekday() >= 5 else Decimal(1)
    usage_total = Decimal(0)
    largest: tuple[Decimal, Series] | None = None
    covered_ec2: Series | None = None
    for s in account.series:
        cost = (
            s.level
            * weekend
            * (
                Decimal("0.85")
                + Decimal("0.3") * _noise(seed, account.account_id, s.service, s.region, day)
            )
        )
        quantity = (cost * 7).quantize(Decimal("0.0001"))
        charges.append(
            Charge(
                day,
                account.account_id,
                s.service,
                s.region,
                "Usage",
                _amount(cost),
                quantity=format(quantity, "f"),
                unit=s.unit,
            )
        )
        usage_total += cost
        if largest is None or cost > largest[0]:
            largest = (cost, s)
        if s.service == EC2 and covered_ec2 is None:
            covered_ec2 = s
    assert largest is not None and covered_ec2 is not None
    if account.tax == "daily" or day.day == 1:
        base = usage_total if account.tax == "daily" else usage_total * 30
        charges.append(
            Charge(
                day, account.account_id, "Tax", "NoRegion", "Tax", _amount(base * Decimal("0.08"))
            )
        )
    if account.credit:
        cost, s = largest
        charges.append(
            Charge(
                day,
                account.account_id,
                s.service,
                s.region,
                "Credit",
                _amount(-cost * Decimal("0.05")),
            )
        )
    if account.refund and day.day == 15:
        cost, s = largest
        charges.append(
            Charge(
                day,
                account.account_id,
                s.service,
                s.region,
                "Refund",
                _amount(-cost * Decimal("1.5")),
            )
        )
    if account.savings_plan:
        on_demand = (
            covered_ec2.level
            * Decimal("0.8")
            * (Decimal("0.9") + Decimal("0.2") * _noise(seed, account.account_id, "sp", day))
        )
        used = on_demand * Decimal("0.72")
        fee = covered_ec2.level * Decimal("0.6")
        region = covered_ec2.region
        charges += [
            Charge(
                day,
                account.account_id,
                EC2,
                region,
                "SavingsPlanCoveredUsage",
                _amount(on_demand),
                _amount(used),
                quantity="24",
                unit="Hrs",
            ),
            Charge(
                day,
                account.account_id,
                EC2,
                region,
                "SavingsPlanNegation",
                _amount(-on_demand),
                "0",
            ),
            Charge(
                day,
                account.account_id,
                EC2,
                region,
                "SavingsPlanRecurringFee",
                _amount(fee),
                _amount(max(fee - used, Decimal(0))),
            ),
        ]
    if account.reservation:
        rds = next((s for s in account.series if s.service == RDS), covered_ec2)
        on_demand = rds.level * Decimal("0.5")
        used = on_demand * Decimal("0.6")
        fee = used * Decimal("1.1")
        charges += [
            Charge(
                day,
                account.account_id,
                rds.service,
                rds.region,
                "DiscountedUsage",
                "0",
                _amount(used),
                quantity="48",
                unit="Hrs",
            ),
            Charge(
                day,
                account.account_id,
                rds.service,
                rds.region,
                "RIFee",
                _amount(fee),
                _amount(fee - used),
            ),
        ]
    if account.support and day.day == 1:
        charges.append(
            Charge(
                day,
                account.account_id,
                SUPPORT,
                "NoRegion",
                "Support",
                _amount(Decimal(100) + usage_total * Decimal("0.1")),
            )
        )
    return charges  # fmt: skip


@dataclass
class OrganisationEstate(Estate):
    """An `Estate` that knows its organisation, so it can give any day's charges."""

    members: list[Account] = field(default_factory=list)
    seed: int = 20

    def day(self, day: date) -> list[Charge]:
        """The charges of every account on `day` (for `append_day`)."""
        return [c for account in self.members for c in account_day(account, day, self.seed)]


def organisation_day(estate: OrganisationEstate, day: date) -> list[Charge]:
    """The charges of every account of an `organisation_estate` on `day`."""
    return estate.day(day)


def organisation_estate(
    accounts: int, start: date, end: date, seed: int = 20, estimated_days: int = 3
) -> OrganisationEstate:
    """The organisation's charges of [start, end); the last `estimated_days` days estimated.
    `organisation_day(estate, day)` gives any other day's (for `Estate.append_day`)."""
    members = organisation(accounts, seed)
    charges = [
        c
        for n in range((end - start).days)
        for account in members
        for c in account_day(account, start + timedelta(n), seed)
    ]
    return OrganisationEstate(
        start,
        end,
        charges,
        names={a.account_id: a.name for a in members},
        estimated_from=end - timedelta(days=estimated_days),
        members=members,
        seed=seed,
    )


def truth_by_account_day(estate: Estate, start: date, end: date) -> dict[tuple[str, date], Decimal]:
    """The estate's unblended cost per (linked account, day) of [start, end), in cents."""
    sums: dict[tuple[str, date], Decimal] = {}
    for c in estate.charges:
        if start <= c.day < end:
            sums[(c.account, c.day)] = sums.get((c.account, c.day), Decimal(0)) + Decimal(
                c.unblended
            )
    return {k: v.quantize(Decimal("0.01")) for k, v in sums.items()}


def landed_by_account_day(db: Path) -> dict[tuple[str, date], Decimal]:
    """What `raw.aws_cost_explorer` of the warehouse `db` holds per (account, day), in cents."""
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select linked_account_id, time_period_start, sum(unblended_cost) "
            "from raw.aws_cost_explorer group by all"
        ).fetchall()
    finally:
        con.close()
    return {(a, d): Decimal(v).quantize(Decimal("0.01")) for a, d, v in rows}
