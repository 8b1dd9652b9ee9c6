"""Time and peak memory of importing and building FOCUS exports of 10M and 50M rows.

For each size it generates, with DuckDB `COPY ... TO` from a generator query (no Python loop
over rows), a FOCUS 1.2 export shaped like AWS Data Exports' hourly FOCUS_1_2_AWS: one
billing period (January 2026, 720 hourly charge periods), two payer (billing) accounts,
200 linked accounts, 40 AWS services, 8 regions, Usage with Standard and Committed pricing
(EffectiveCost = 70 % of BilledCost), some Credit and Tax rows, costs as DOUBLE, one
resource per row group of 720 hours, split into ~256 MB Parquet files (or CSV.gz with
`--format csv.gz`). Then, each step in its own child process so its peak RSS (ru_maxrss via
wait4) is its own:

    generate    the export files
    import      loaders.focus_files.load(warehouse, folder): read and check every file in a
                scratch DuckDB (memory_limit below), roll up to days, replace_window per
                billing account and period
    re-import   the same files again: recognised by their SHA-256, nothing read or written
    dbt build   the real project on the warehouse (full build, every test)

The load average is printed with each step: other engineers run tests and builds on the same
2 cores, so read the timings as orders of magnitude.

    .venv/bin/python bench/focus_import.py [--rows 10000000 50000000] [--format parquet]
        [--memory-limit 4GB] [--work-dir /tmp/focus_bench] [--keep] [--skip-build]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import duckdb  # noqa: E402

HOURS = 720  # January 1-30, hourly
SERVICE_NAMES = {
    "Compute": ["Amazon Elastic Compute Cloud", "AWS Lambda", "Amazon Elastic Container Service",
                "Amazon Elastic Kubernetes Service", "AWS Batch", "Amazon Lightsail",
                "AWS Fargate", "Amazon EC2 Container Registry (ECR)"],
    "Storage": ["Amazon Simple Storage Service", "Amazon Elastic File System", "AWS Backup",
                "Amazon FSx", "Amazon S3 Glacier"],
    "Databases": ["Amazon Relational Database Service", "Amazon DynamoDB", "Amazon ElastiCache",
                  "Amazon Redshift", "Amazon DocumentDB", "Amazon Neptune", "Amazon Aurora"],
    "Networking": ["Amazon CloudFront", "Amazon Virtual Private Cloud", "Elastic Load Balancing",
                   "Amazon Route 53", "AWS Direct Connect", "AWS Global Accelerator",
                   "Amazon API Gateway"],
    "Management and Governance": ["AmazonCloudWatch", "AWS CloudTrail", "AWS Config",
                                  "AWS Systems Manager"],
    "Integration": ["Amazon Simple Queue Service", "Amazon Simple Notification Service",
                    "Amazon EventBridge", "AWS Step Functions"],
    "Analytics": ["Amazon Athena", "AWS Glue", "Amazon Kinesis", "Amazon OpenSearch Service",
                  "Amazon EMR"],
}  # fmt: skip
SERVICES = [
    (name, category, "Aws" + name.replace(" ", "").replace("(", "").replace(")", "")[:24])
    for category, names in SERVICE_NAMES.items()
    for name in names
]  # 40 services
ACCOUNTS = 200  # linked accounts, under two payer (billing) accounts
REGIONS = [
    ("us-east-1", "US East (N. Virginia)"),
    ("us-east-2", "US East (Ohio)"),
    ("us-west-2", "US West (Oregon)"),
    ("eu-west-1", "EU (Ireland)"),
    ("eu-central-1", "EU (Frankfurt)"),
    ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"),
    ("sa-east-1", "South America (Sao Paulo)"),
]


def _list(values: list[str]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def generator_sql(rows: int) -> str:
    """N FOCUS rows: row i is hour i % 720 of resource i // 720; a resource's account,
    service and region come from its number, its cost from a hash (no two alike)."""
    names = _list([s[0] for s in SERVICES])
    categories = _list([s[1] for s in SERVICES])
    codes = _list([s[2] for s in SERVICES])
    region_ids = _list([r[0] for r in REGIONS])
    region_names = _list([r[1] for r in REGIONS])
    return f"""
with base as (
    select
        i % {HOURS} as hour,
        i // {HOURS} as resource,
        (i // {HOURS}) % {ACCOUNTS} as account,
        ((i // {HOURS}) // {ACCOUNTS}) % {len(SERVICES)} as service,
        ((i // {HOURS}) // {ACCOUNTS * len(SERVICES)}) % {len(REGIONS)} as region,
        case when (i // {HOURS}) % 97 = 0 then 'Credit'
             when (i // {HOURS}) % 89 = 0 then 'Tax' else 'Usage' end as charge_category,
        (i // {HOURS}) % 5 = 0 as committed
    from range({rows}) as t(i)
),
costs as (
    select
        *,
        (hash(resource) % 100000 + 1) * 0.0000013 * (1 + (hour % 24) / 24.0)
            * (1 + (hash(resource, hour) % 1000) / 10000.0)
            * case charge_category when 'Credit' then -1 else 1 end as cost
    from base
)
select
    null::varchar as AvailabilityZone,
    cost as BilledCost,
    case when account < {ACCOUNTS // 2} then '111122223333' else '444455556666' end
        as BillingAccountId,
    case when account < {ACCOUNTS // 2} then 'acme-payer-1' else 'acme-payer-2' end
        as BillingAccountName,
    'USD' as BillingCurrency,
    timestamp '2026-02-01' as BillingPeriodEnd,
    timestamp '2026-01-01' as BillingPeriodStart,
    charge_category as ChargeCategory,
    null::varchar as ChargeClass,
    'usage of resource ' || resource as ChargeDescription,
    case charge_category when 'Usage' then 'Usage-Based' else 'One-Time' end as ChargeFrequency,
    timestamp '2026-01-01' + to_hours(hour + 1) as ChargePeriodEnd,
    timestamp '2026-01-01' + to_hours(hour) as ChargePeriodStart,
    case when committed then 'Spend' end as CommitmentDiscountCategory,
    case when committed then 'arn:aws:savingsplans::sp-' || (account % 3) end as CommitmentDiscountId,
    case when committed then 'Used' end as CommitmentDiscountStatus,
    1.0 as ConsumedQuantity,
    'Hours' as ConsumedUnit,
    cost * case when committed then 0.7 else 1 end as ContractedCost,
    cost * case when committed then 0.7 else 1 end as EffectiveCost,
    'Amazon Web Services, Inc.' as InvoiceIssuerName,
    'INV-2026-01-' || (account % 2) as InvoiceId,
    cost * 1.1 as ListCost,
    case when committed then 'Committed' else 'Standard' end as PricingCategory,
    'USD' as PricingCurrency,
    1.0 as PricingQuantity,
    'Hrs' as PricingUnit,
    'AWS' as ProviderName,
    'Amazon Web Services, Inc.' as PublisherName,
    {region_ids}[region + 1] as RegionId,
    {region_names}[region + 1] as RegionName,
    'arn:aws:service:' || {region_ids}[region + 1] || ':' || (100000000000 + account)
        || ':resource/r-' || resource as ResourceId,
    {categories}[service + 1] as ServiceCategory,
    {names}[service + 1] as ServiceName,
    cast(100000000000 + account as varchar) as SubAccountId,
    'account-' || account as SubAccountName,
    {codes}[service + 1] as x_ServiceCode
from costs
"""


def generate(folder: Path, rows: int, file_format: str) -> dict[str, Any]:
    con = duckdb.connect()
    con.execute("set preserve_insertion_order = false")
    options = (
        "format parquet, file_size_bytes '256MB'"
        if file_format == "parquet"
        else "format csv, header true, compression gzip, file_size_bytes '256MB'"
    )
    started = time.monotonic()
    con.execute(f"copy ({generator_sql(rows)}) to '{folder}' ({options}, overwrite true)")
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return {
        "seconds": time.monotonic() - started,
        "note": f"{len(files)} {file_format} file(s), "
        f"{sum(p.stat().st_size for p in files) / 2**20:,.0f} MB",
    }


def do_import(db_path: Path, folder: Path, memory_limit: str) -> dict[str, Any]:
    from loaders import focus_files

    started = time.monotonic()
    result = focus_files.load(db_path, str(folder), memory_limit=memory_limit)
    seconds = time.monotonic() - started
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        rows, source_rows, billed = con.execute(
            "select count(*), sum(x_source_rows), sum(billed_cost) from raw.focus_costs"
        ).fetchone()
    finally:
        con.close()
    if result.read_files:
        note = (
            f"{len(result.loads)} billing period(s) landed, {len(result.unchanged)} unchanged: "
            f"{source_rows:,} file rows -> {rows:,} daily rows, billed {billed:,.2f} USD, "
            f"{source_rows / seconds:,.0f} file rows/s"
        )
    else:
        note = f"nothing read: {len(result.unchanged)} billing period(s) unchanged"
    return {"seconds": seconds, "note": note}


def run_child(command: list[str], env: dict[str, str] | None = None) -> tuple[float, int, str]:
    """(wall seconds, peak RSS MB of that process, output tail) of one child process."""
    started = time.monotonic()
    with tempfile.TemporaryFile("w+") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:4])} failed:\n{text[-4000:]}")
    return time.monotonic() - started, usage.ru_maxrss // 1024, text


def step(args: argparse.Namespace) -> None:
    """A child process: one step, its figures as JSON on the last line of stdout."""
    folder, db_path = Path(args.folder), Path(args.db)
    if args.step == "generate":
        figures = generate(folder, args.rows[0], args.format)
    else:
        figures = do_import(db_path, folder, args.memory_limit)
    print(json.dumps(figures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000_000, 50_000_000])
    parser.add_argument("--format", choices=["parquet", "csv.gz"], default="parquet")
    parser.add_argument("--memory-limit", default="4GB", help="of the import's scratch DuckDB")
    parser.add_argument("--work-dir", type=Path, help="default: a temp dir (removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep the files and warehouses")
    parser.add_argument("--skip-build", action="store_true", help="no dbt build")
    parser.add_argument("--step", choices=["generate", "import"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step:
        step(args)
        return

    work = args.work_dir or Path(tempfile.mkdtemp(prefix="focus_bench_"))
    work.mkdir(parents=True, exist_ok=True)
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    print(
        f"focus_import: {os.cpu_count()} cores, {memory:.0f} GiB RAM, duckdb "
        f"{duckdb.__version__}, format {args.format}, import memory_limit {args.memory_limit}, "
        f"work dir {work}"
    )
    print("shared machine: other processes add noise; load average shown per step")
    header = f"{'rows':>12} {'step':<10} {'wall s':>8} {'peak MB':>8} {'load avg':>8}  notes"
    print(header)
    print("-" * len(header))
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}
    for rows in args.rows:
        case = work / f"rows_{rows}"
        folder, db_path = case / "export", case / "finops.duckdb"
        shutil.rmtree(case, ignore_errors=True)
        folder.mkdir(parents=True)
        common = ["--folder", str(folder), "--db", str(db_path), "--format", args.format,
                  "--memory-limit", args.memory_limit, "--rows", str(rows)]  # fmt: skip
        for name, command in (
            ("generate", [sys.executable, __file__, "--step", "generate", *common]),
            ("import", [sys.executable, __file__, "--step", "import", *common]),
            ("re-import", [sys.executable, __file__, "--step", "import", *common]),
        ):
            seconds, peak, text = run_child(command, env)
            figures = json.loads(text.strip().splitlines()[-1])
            print(
                f"{rows:>12,} {name:<10} {seconds:>8.1f} {peak:>8,} "
                f"{os.getloadavg()[0]:>8.2f}  {figures['note']}",
                flush=True,
            )
        if not args.skip_build:
            dbt_env = {
                **env,
                "FINOPS_DUCKDB_PATH": str(db_path),
                "DO_NOT_TRACK": "1",
                "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
            }
            command = [
                str(Path(sys.executable).with_name("dbt")), "build",
                "--project-dir", str(REPO_ROOT / "dbt_project"),
                "--profiles-dir", str(REPO_ROOT),
                "--target-path", str(case / "target"), "--log-path", str(case / "logs"),
            ]  # fmt: skip
            seconds, peak, text = run_child(command, dbt_env)
            done = next((line for line in text.splitlines() if "Done. PASS=" in line), "")
            con = duckdb.connect(str(db_path), read_only=True)
            daily = con.execute("select count(*) from marts.fct_daily_costs").fetchone()[0]
            con.close()
            print(
                f"{rows:>12,} {'dbt build':<10} {seconds:>8.1f} {peak:>8,} "
                f"{os.getloadavg()[0]:>8.2f}  {done.split('Done. ')[-1]}; "
                f"fct_daily_costs {daily:,} rows",
                flush=True,
            )
        size = db_path.stat().st_size / 2**20
        print(f"{rows:>12,} {'warehouse':<10} {'':>8} {'':>8} {'':>8}  {size:,.0f} MB")
        if not args.keep:
            shutil.rmtree(folder)
    print("-" * len(header))
    if not args.keep and not args.work_dir:
        shutil.rmtree(work)
    elif args.keep:
        print(f"kept {work}")


if __name__ == "__main__":
    main()
