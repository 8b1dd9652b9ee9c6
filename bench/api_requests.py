"""API requests of the AWS Cost Explorer and Azure Cost Management loaders per run (issue #20).

Each loader runs as a daily run does - its `load(...)` over the real restatement window
(`Settings.restatement_window`: the first day of the previous month to the run date) into a
DuckDB warehouse file kept across the runs - against an emulator that answers ANY legal
query from a known estate, so the figures count what reaches the emulators, whatever query
scheme the loaders use:

* AWS: `tests/aws_ce_emulator.CostExplorerProxy` in its query-answering mode (GetCostAndUsage
  evaluated from an `organisation_estate`, `--ce-page-groups` groups a page; the commitment
  operations from the same estate; STS on moto's server). requests = answered Cost Explorer
  requests (what AWS bills, USD 0.01 each), throttled = LimitExceededException answers
  (`--ce-throttle RATE BURST`, off by default), HTTP = every request that reached it.
* Azure: `tests/azure_emulator.AzureCostEmulator` as it is (Query API, subscription and
  benefits lists, Cost Details reports), `--azure-page-rows` rows a page. requests = answered
  requests (Azure does not bill them), throttled = HTTP 429 answers, HTTP = every request.

The runs of one estate, in order:

    a  first run      run date 2026-10-30, 60 days of history [2026-08-31, 2026-10-30)
    c  month end      run date 2026-10-31, after the last 5 days were restated (+3 %), a late
                      refund landed 12 days back and one new day was added
    -  month start    run date 2026-11-01, one new day (printed, not one of the issue's three)
    b  unchanged day  run date 2026-11-02, one new day, nothing else changed
    d  recent days    run date 2026-11-03, the last 2 loaded days restated (+3 %) and one new
                      day: a common day, usage records arrive up to 72 hours late (printed,
                      not one of the issue's three)

After each run the warehouse's raw table is compared with the emulator's truth, per account
(subscription) and day, to the cent, over everything loaded so far: "equal" or the difference.

    .venv/bin/python bench/api_requests.py [--aws-accounts 16] [--azure-subscriptions 15]
        [--large] [--ce-page-groups 1000] [--azure-page-rows 5000] [--ce-throttle 5 10]
        [--no-azure-price-details] [--azure-scope subscriptions|billing-account]
        [--azure-details-from-reports on|off] [--repo DIR] [--keep]

`--large` adds AWS 300 accounts and Azure 200 subscriptions (a few minutes). `--repo DIR`
measures the loaders of another checkout (e.g. `git archive HEAD` unpacked), with this
checkout's emulators.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))  # the emulators

CENT = Decimal("0.01")
BILLING_ACCOUNT = "20000001"  # `--azure-scope billing-account`: one spanning every subscription
FIRST_RUN = date(2026, 10, 30)
HISTORY_DAYS = 60
RUNS = (  # (label, run date, what changed before it)
    ("a first run", FIRST_RUN, "60 days of history"),
    ("c month end", date(2026, 10, 31), "last 5 days restated, refund 12 days back, +1 day"),
    ("- month start", date(2026, 11, 1), "+1 day"),
    ("b unchanged day", date(2026, 11, 2), "+1 day, nothing else changed"),
    ("d recent days", date(2026, 11, 3), "the last 2 days restated, +1 day"),
)
RESTATE_FACTOR = Decimal("1.03")
REFUND = Decimal("-123.4567890123")


@dataclass
class Figures:
    requests: int  # answered (billed for AWS)
    throttled: int
    http: int
    loader_requests: int  # what the loader's ledger says it spent
    seconds: float
    check: str
    detail: str = ""  # requests by operation


def machine() -> str:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = subprocess.run(["free", "-g"], capture_output=True, text=True).stdout.splitlines()
    total = memory[1].split()[1] if len(memory) > 1 else "?"
    return f"{os.cpu_count()} cores ({cpu}), {total} GiB RAM, Python {platform.python_version()}"


def difference(landed: dict[Any, Decimal], truth: dict[Any, Decimal]) -> str:
    keys = set(landed) | set(truth)
    off = {k: landed.get(k, Decimal(0)) - truth.get(k, Decimal(0)) for k in keys}
    off = {k: v for k, v in off.items() if v}
    if not off:
        return "equal"
    worst = max(off, key=lambda k: abs(off[k]))
    return (
        f"DIFFERENT: {len(off)} of {len(keys)} (account, day) sums, total "
        f"{sum(off.values())}, e.g. {worst}: {off[worst]}"
    )


def restatement_window(home: Path, run_date: date) -> tuple[date, date]:
    from finops.settings import load_settings

    os.environ["FINOPS_HOME"] = str(home)
    return load_settings().restatement_window(run_date)


def window_of(home: Path, run_date: date) -> tuple[date, date]:
    if run_date == FIRST_RUN:
        return FIRST_RUN - timedelta(days=HISTORY_DAYS), FIRST_RUN
    return restatement_window(home, run_date)


# ------------------------------------------------------------------ AWS


def aws_environment(moto_url: str, proxy_url: str, home: Path) -> None:
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update(
        AWS_CONFIG_FILE=str(home / "no-aws-config"),
        AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
        AWS_ACCESS_KEY_ID="AKIAFINOPSBENCH00001",
        AWS_SECRET_ACCESS_KEY="bench-secret-access-key",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL=moto_url,
        AWS_ENDPOINT_URL_COST_EXPLORER=proxy_url,
    )


def aws_runs(accounts: int, args: argparse.Namespace, work: Path) -> list[tuple[str, Figures]]:
    from aws_ce_emulator import Charge, CostExplorerProxy, MotoServer, TokenBucket
    from aws_ce_organisation import (
        EC2,
        landed_by_account_day,
        organisation_estate,
        truth_by_account_day,
    )

    from loaders import aws_cost_explorer

    home = work / f"aws-{accounts}"
    home.mkdir(parents=True)
    db = home / "finops.duckdb"
    first_start = FIRST_RUN - timedelta(days=HISTORY_DAYS)
    estate = organisation_estate(accounts, first_start, FIRST_RUN, seed=args.seed)
    moto = MotoServer().start()
    throttle = TokenBucket(*args.ce_throttle) if args.ce_throttle else None
    proxy = CostExplorerProxy(
        moto.url, estate, groups_per_page=args.ce_page_groups, throttle=throttle
    ).start()
    aws_environment(moto.url, proxy.url, home)
    out = []
    try:
        for label, run_date, _what in RUNS:
            if run_date > FIRST_RUN:
                new_day = run_date - timedelta(days=1)
                if label.startswith("c"):
                    estate.restate(RESTATE_FACTOR, on_or_after=new_day - timedelta(days=5))
                    refund_day = new_day - timedelta(days=12)
                    account = estate.members[len(estate.members) // 2].account_id
                    estate.add(Charge(refund_day, account, EC2, "us-east-1", "Refund", str(REFUND)))
                if label.startswith("d"):
                    estate.restate(RESTATE_FACTOR, on_or_after=new_day - timedelta(days=2))
                estate.append_day(estate.day(new_day))
                estate.estimated_from = new_day - timedelta(days=2)
            start, end = window_of(home, run_date)
            proxy.reset_counts()
            began = time.perf_counter()
            results = aws_cost_explorer.load(db, start, end, max_requests=args.aws_max_requests)
            seconds = time.perf_counter() - began
            check = difference(
                landed_by_account_day(db), truth_by_account_day(estate, first_start, run_date)
            )
            out.append(
                (
                    label,
                    Figures(
                        proxy.answered,
                        proxy.throttled,
                        len(proxy.seen),
                        sum(r.api_requests for r in results),
                        seconds,
                        check,
                        by_kind(s.operation for s in proxy.seen),
                    ),
                )
            )
    finally:
        proxy.stop()
        moto.stop()
    return out


# ------------------------------------------------------------------ Azure

AZURE_SERVICES = (
    "Virtual Machines", "Storage", "Bandwidth", "SQL Database", "Azure App Service",
    "Azure Kubernetes Service", "Azure Monitor", "Key Vault", "Azure Cosmos DB",
    "Azure Databricks", "Log Analytics", "Virtual Network", "Azure Functions",
    "Azure Cache for Redis", "Backup", "Azure DNS",
)  # fmt: skip
AZURE_LOCATIONS = ("eastus", "westeurope", "northeurope", "westus2", "uksouth", "centralus")


def azure_subscriptions(count: int, seed: int) -> list[Any]:
    """A deterministic estate: 3-8 services in 1-3 locations each, Usage everywhere, tax,
    refunds, reservation and savings plan purchases in some, one in six billed in EUR."""
    import random

    from azure_emulator import AzureSubscription

    rng = random.Random(seed)
    subscriptions = []
    for n in range(count):
        charge_types = ["Usage"]
        if rng.random() < 0.4:
            charge_types.append("Tax")
        if rng.random() < 0.2:
            charge_types.append("Refund")
        if n % 5 == 1:
            charge_types += ["Purchase", "UnusedReservation"]
        if n % 7 == 3:
            charge_types.append("UnusedSavingsPlan")
        subscriptions.append(
            AzureSubscription(
                f"{rng.getrandbits(32):08x}-{n:04x}-4{rng.getrandbits(12):03x}-8000-"
                f"{rng.getrandbits(48):012x}",
                f"contoso-{n:03d}",
                currency="EUR" if n % 6 == 5 else "USD",
                services=tuple(rng.sample(AZURE_SERVICES, rng.randint(3, 8))),
                locations=tuple(rng.sample(AZURE_LOCATIONS, rng.randint(1, 3))),
                charge_types=tuple(charge_types),
            )
        )
    return subscriptions


def azure_truth(emulator: Any, start: date, end: date) -> dict[tuple[str, str, int], Decimal]:
    lo, hi = int(start.strftime("%Y%m%d")), int(end.strftime("%Y%m%d"))
    sums: dict[tuple[str, str, int], Decimal] = defaultdict(Decimal)
    for row in emulator.rows:
        if lo <= row["usage_date"] < hi:
            sums[(row["subscription_id"].lower(), row["query_type"], row["usage_date"])] += row[
                "cost"
            ]
    return {k: v.quantize(CENT) for k, v in sums.items()}


def azure_landed(db: Path) -> dict[tuple[str, str, int], Decimal]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select lower(subscription_id), query_type, usage_date, sum(cost) "
            "from raw.azure_cost_management group by all"
        ).fetchall()
    finally:
        con.close()
    return {(s, q, d): Decimal(v).quantize(CENT) for s, q, d, v in rows}


def late_refund(emulator: Any, day: date) -> None:
    """A refund of `day` in the first subscription that has usage that day (both types)."""
    usage_date = int(day.strftime("%Y%m%d"))
    for query_type in ("ActualCost", "AmortizedCost"):
        row = next(
            r
            for r in emulator.rows
            if r["usage_date"] == usage_date
            and r["query_type"] == query_type
            and r["charge_type"] == "Usage"
        )
        emulator.rows.append(
            {
                **row,
                "charge_type": "Refund",
                "cost": REFUND.quantize(Decimal("0.000001")),
                "pricing_model": "OnDemand",
                "benefit_id": "",
                "benefit_name": "",
                "tags": {},
            }
        )


def azure_runs(count: int, args: argparse.Namespace, work: Path) -> list[tuple[str, Figures]]:
    from azure_emulator import AzureCostEmulator, StaticTokenCredential

    from loaders import azure_cost_management as azure

    home = work / f"azure-{count}"
    home.mkdir(parents=True)
    db = home / "finops.duckdb"
    first_start = FIRST_RUN - timedelta(days=HISTORY_DAYS)
    # The emulator holds every day up to the last run's; a run never asks past its run date,
    # so each later day is "appended" when its run comes.
    subscriptions = azure_subscriptions(count, args.seed)
    billing = {BILLING_ACCOUNT: [s.subscription_id for s in subscriptions]}
    scopes = (
        [f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}"]
        if args.azure_scope == "billing-account"
        else None  # every listed subscription, each its own scope (the default)
    )
    emulator = AzureCostEmulator(
        subscriptions,
        billing_accounts=billing,
        start=first_start,
        end=RUNS[-1][1],
        page_rows=args.azure_page_rows,
        seed=args.seed,
    ).start()
    token = "bench-token"
    out = []
    try:
        for label, run_date, _what in RUNS:
            if label.startswith("c"):
                new_day = run_date - timedelta(days=1)
                # restate the 5 days before the new one (the later, unloaded days move too)
                restated = new_day - timedelta(days=5)
                emulator.restate(RESTATE_FACTOR, on_or_after=restated)
                late_refund(emulator, new_day - timedelta(days=12))
            if label.startswith("d"):
                emulator.restate(RESTATE_FACTOR, on_or_after=run_date - timedelta(days=3))
            start, end = window_of(home, run_date)
            emulator.requests.clear()
            began = time.perf_counter()
            results = azure.load(
                db,
                start,
                end,
                credential=StaticTokenCredential(token),
                endpoint=emulator.url,
                price_details=args.azure_price_details,
                scopes=scopes,
                # only when asked: a `--repo` checkout's loader may not know the setting
                **(
                    {"details_from_reports": args.azure_details_from_reports == "on"}
                    if args.azure_details_from_reports
                    else {}
                ),
                **(
                    {"window_check": args.azure_window_check == "on"}
                    if args.azure_window_check
                    else {}
                ),
            )
            seconds = time.perf_counter() - began
            seen = list(emulator.requests)
            check = difference(azure_landed(db), azure_truth(emulator, first_start, run_date))
            out.append(
                (
                    label,
                    Figures(
                        sum(1 for r in seen if r.status < 400),
                        sum(1 for r in seen if r.status == 429),
                        len(seen),
                        sum(r.api_requests for r in results),
                        seconds,
                        check,
                        by_kind(azure_kind(r) for r in seen),
                    ),
                )
            )
    finally:
        emulator.stop()
    return out


# ------------------------------------------------------------------ report


def by_kind(kinds: Any) -> str:
    counts: dict[str, int] = defaultdict(int)
    for kind in kinds:
        counts[kind] += 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def azure_kind(record: Any) -> str:
    if record.is_query:
        return "query"
    if "generateCostDetailsReport" in record.path or "costDetailsOperationResults" in record.path:
        return "cost details"
    if record.path.startswith("/blobs/"):
        return "blob"
    return "list"


def print_table(title: str, runs: list[tuple[str, Figures]], usd: bool) -> None:
    print(f"\n{title}")
    print(
        f"  {'run':<16} {'requests':>8} {'throttled':>9} {'USD':>7} {'HTTP':>6} "
        f"{'ledger':>6} {'wall s':>7}  raw table vs source"
    )
    for label, f in runs:
        cost = f"{Decimal('0.01') * f.requests:.2f}" if usd else "-"
        print(
            f"  {label:<16} {f.requests:>8} {f.throttled:>9} {cost:>7} {f.http:>6} "
            f"{f.loader_requests:>6} {f.seconds:>7.1f}  {f.check}"
        )
    for label, f in runs:
        print(f"  {label}: {f.detail}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--aws-accounts", type=int, nargs="*", default=[16])
    parser.add_argument("--azure-subscriptions", type=int, nargs="*", default=[15])
    parser.add_argument("--large", action="store_true", help="add AWS 300 / Azure 200")
    parser.add_argument(
        "--ce-page-groups",
        type=int,
        default=None,
        help="Cost Explorer groups per page (not published by AWS; default the emulator's)",
    )
    parser.add_argument("--azure-page-rows", type=int, default=5000)
    parser.add_argument(
        "--azure-scope",
        choices=("subscriptions", "billing-account"),
        default="subscriptions",
        help="load every listed subscription as its own scope (FINOPS_AZURE_SCOPES unset, the "
        "default) or one billing account spanning them all",
    )
    parser.add_argument(
        "--no-azure-price-details",
        dest="azure_price_details",
        action="store_false",
        help="FINOPS_AZURE_PRICE_DETAILS=0: no Cost Details reports (on by default)",
    )
    parser.add_argument(
        "--azure-details-from-reports",
        choices=("on", "off"),
        default=None,
        help="FINOPS_AZURE_DETAILS_FROM_REPORTS (the loader's default, on, when not given)",
    )
    parser.add_argument(
        "--azure-window-check",
        choices=("on", "off"),
        default=None,
        help="FINOPS_AZURE_WINDOW_CHECK (the loader's default, on, when not given)",
    )
    parser.add_argument(
        "--ce-throttle", type=float, nargs=2, metavar=("RATE", "BURST"), default=None
    )
    parser.add_argument(
        "--aws-max-requests",
        type=int,
        default=100_000,
        help="the loader's request budget (FINOPS_AWS_MAX_REQUESTS, default 1000 in settings)",
    )
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--repo", type=Path, default=REPO_ROOT, help="whose loaders to measure")
    parser.add_argument("--keep", action="store_true", help="keep the warehouses")
    args = parser.parse_args()

    sys.path.insert(0, str(args.repo.resolve()))  # its loaders and settings, first
    from aws_ce_query import DEFAULT_GROUPS_PER_PAGE

    if args.ce_page_groups is None:
        args.ce_page_groups = DEFAULT_GROUPS_PER_PAGE
    if args.ce_throttle:
        args.ce_throttle = (args.ce_throttle[0], int(args.ce_throttle[1]))
    aws_sizes = args.aws_accounts + ([300] if args.large else [])
    azure_sizes = args.azure_subscriptions + ([200] if args.large else [])

    import logging

    logging.basicConfig(level=logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.ERROR)
    commit = subprocess.run(
        ["git", "-C", str(args.repo), "log", "-1", "--format=%h %s"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(args.repo), "status", "--porcelain", "--", "loaders", "finops"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    if dirty:
        commit += " + uncommitted changes to loaders/ or finops/"
    print("command: " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"loaders of {args.repo.resolve()} ({commit or 'not a git checkout'})")
    print(f"machine: {machine()}")
    throttling = (
        f"{args.ce_throttle[0]}/s, burst {args.ce_throttle[1]}" if args.ce_throttle else "off"
    )
    print(
        f"Cost Explorer page: {args.ce_page_groups} groups; Query API page: "
        f"{args.azure_page_rows} rows; Cost Explorer throttling: {throttling}; Azure Cost "
        f"Details reports: {'on' if args.azure_price_details else 'off'}; Azure scopes: "
        f"{args.azure_scope}; Azure details from reports: "
        f"{args.azure_details_from_reports or 'the default'}; Azure window check: "
        f"{args.azure_window_check or 'the default'}"
    )
    for label, run_date, what in RUNS:
        print(f"  {label:<16} run date {run_date}: {what}")

    work = Path(tempfile.mkdtemp(prefix="api_requests_"))
    os.environ["DO_NOT_TRACK"] = "1"
    try:
        for accounts in aws_sizes:
            runs = aws_runs(accounts, args, work)
            print_table(f"AWS Cost Explorer, {accounts} linked accounts", runs, usd=True)
        for count in azure_sizes:
            runs = azure_runs(count, args, work)
            print_table(f"Azure Cost Management, {count} subscriptions", runs, usd=False)
    finally:
        if args.keep:
            print(f"warehouses kept in {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    print(f"\npeak RSS {peak:,} MB")


if __name__ == "__main__":
    main()
