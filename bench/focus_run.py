"""`finops run` end to end from a year of daily FOCUS export files: first run, next day's
run, `finops verify`, next to a plain DuckDB read of the same files.

It generates, with DuckDB `COPY ... TO` from a generator query (no Python loop over rows),
about `--rows` daily FOCUS 1.2 rows over `--days` days ending `--end`: AWS (USD) and Azure
(ProviderName Microsoft, USD and EUR subscriptions), sub accounts x 40 services (the
services of bench/focus_import.py) x regions, sizes spread Zipf-like, Usage with Standard
and Committed pricing plus Tax and Credit rows; one Parquet file per provider and billing
period (month), as AWS Data Exports and Azure cost exports deliver them. Then, each step in
its own child process (peak RSS = ru_maxrss of that step's process tree, via wait4; the
driver forks every step from a small process, as a child's ru_maxrss counts its parent's
memory at fork):

    baseline    CREATE TABLE AS SELECT * FROM read_parquet(every file) into a fresh DuckDB
                file: the "raw-table speed" of the issue
    first run   `finops run --date END+1` with FINOPS_SOURCES=focus, FINOPS_FOCUS_PATH=the
                folder: import, full dbt build, publish, export, report
    daily run   the last month's files rewritten with one more day and every day of the
                month restated (+2 %), as AWS and Azure rewrite month-to-date exports daily;
                `finops run --date END+2`: the unchanged months are skipped by SHA-256, the
                month is replaced, the build rebuilds and tests from the month's first day
    verify      `finops verify`: every test over all history

The step durations inside a run (import, build, export, ...) come from the run's own log
("<step> <date>: done in N s"); dbt node time from its run_results.json.

    .venv/bin/python bench/focus_run.py [--rows 1000000] [--days 365] [--folder DIR] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

import duckdb  # noqa: E402
from focus_import import REGIONS, SERVICES, run_child  # noqa: E402

FINOPS = str(Path(sys.executable).with_name("finops"))
AZURE_REGIONS = ("eastus", "westeurope", "northeurope", "westus2", "uksouth", "centralus")


def _list(values: list[str] | tuple[str, ...]) -> str:
    return "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"


def generator_sql(series: int, days: int, end: date, restated_from: date | None) -> str:
    """`series` daily FOCUS cost series for the `days` days before `end`; amounts of the
    days from `restated_from` on are 2 % higher (a restated month). The same series give the
    same amounts whatever `days` is, so a rewrite changes only the restated days."""
    start = end - timedelta(days=days)
    restated = f"date '{restated_from}'" if restated_from else "date '9999-12-31'"
    names = _list([s[0] for s in SERVICES])
    categories = _list([s[1] for s in SERVICES])
    aws_regions = _list([r[0] for r in REGIONS])
    azure_regions = _list(AZURE_REGIONS)
    return f"""
with series as (
    select
        s,
        s % 2 = 0 as is_aws,
        (s // 2) % {max(1, series // 400)} as account,
        (s // 7) % {len(SERVICES)} as service,
        (s // 3) % 6 as region,
        case when s % 53 = 0 then 'Tax' when s % 47 = 0 then 'Credit' else 'Usage' end
            as charge_category,
        s % 5 = 0 as committed,
        -- Zipf-like sizes: a few large series, many small ones
        1000.0 / (1 + (hash(s, 'rank') % {series})) as level
    from range({series}) as t(s)
),
days as (
    select cast(unnest(generate_series(date '{start}', date '{end - timedelta(days=1)}',
        interval 1 day)) as date) as day
),
rows as (
    select
        series.*,
        days.day,
        cast(round(level * (0.85 + (hash(s, day) % 3000) / 10000.0)
            * case when isodow(day) >= 6 then 0.8 else 1 end
            * case when day >= {restated} then 1.02 else 1 end
            * case charge_category when 'Credit' then -0.1 when 'Tax' then 0.2 else 1 end, 6)
            as decimal(18, 6)) as cost
    from series cross join days
)
select
    case when is_aws then 'AWS' else 'Microsoft' end as ProviderName,
    case when is_aws then 'Amazon Web Services, Inc.' else 'Microsoft' end as PublisherName,
    case when is_aws then 'Amazon Web Services, Inc.' else 'Microsoft' end as InvoiceIssuerName,
    case when is_aws then '111122223333' else 'ba-70000001' end as BillingAccountId,
    case when is_aws then 'acme-payer' else 'acme-billing' end as BillingAccountName,
    case when is_aws then cast(100000000000 + account as varchar)
        else '00000000-0000-4000-a000-' || lpad(cast(account as varchar), 12, '0') end
        as SubAccountId,
    case when is_aws then 'account-' else 'subscription-' end || account as SubAccountName,
    case when not is_aws and account % 5 = 4 then 'EUR' else 'USD' end as BillingCurrency,
    cast(date_trunc('month', day) as timestamp) as BillingPeriodStart,
    cast(date_trunc('month', day) + interval 1 month as timestamp) as BillingPeriodEnd,
    cast(day as timestamp) as ChargePeriodStart,
    cast(day + 1 as timestamp) as ChargePeriodEnd,
    charge_category as ChargeCategory,
    null::varchar as ChargeClass,
    case charge_category when 'Usage' then 'Usage-Based' else 'One-Time' end
        as ChargeFrequency,
    {names}[service + 1] as ServiceName,
    {categories}[service + 1] as ServiceCategory,
    case when is_aws then {aws_regions}[region + 1] else {azure_regions}[region + 1] end
        as RegionId,
    case when is_aws then {aws_regions}[region + 1] else {azure_regions}[region + 1] end
        as RegionName,
    case when charge_category = 'Usage' and committed then 'Committed' else 'Standard' end
        as PricingCategory,
    cost as BilledCost,
    cast(cost * case when committed then 0.7 else 1 end as decimal(18, 6)) as EffectiveCost,
    cast(cost * 1.1 as decimal(18, 6)) as ListCost,
    cast(cost * case when committed then 0.7 else 1 end as decimal(18, 6)) as ContractedCost,
    1.0 as ConsumedQuantity,
    'Hours' as ConsumedUnit,
    -- the file each row goes to (partition columns, not written into the file)
    case when is_aws then 'aws' else 'azure' end as provider_folder,
    strftime(day, '%Y-%m') as billing_month
from rows
"""


def generate(folder: Path, series: int, days: int, end: date, month: str | None) -> int:
    """Write the export files of `series` cost series (every month, or only `month`
    'YYYY-MM', restated) and return the rows written."""
    con = duckdb.connect()
    try:
        con.execute("set preserve_insertion_order = false")
        restated_from = date.fromisoformat(month + "-01") if month else None
        sql = generator_sql(series, days, end, restated_from)
        if month:
            sql = f"select * from ({sql}) where billing_month = '{month}'"
            for old in folder.glob(f"provider_folder=*/billing_month={month}"):
                shutil.rmtree(old)
        [(count,)] = con.execute(f"select count(*) from ({sql})").fetchall()
        con.execute(
            f"copy ({sql}) to '{folder}' (format parquet, partition_by "
            "(provider_folder, billing_month), overwrite_or_ignore true)"
        )
    finally:
        con.close()
    return count


def generate_in_child(folder: Path, series: int, days: int, end: date, month: str | None) -> int:
    code = (
        "import sys; sys.path.insert(0, 'bench'); from datetime import date; "
        "from pathlib import Path; from focus_run import generate; "
        f"print(generate(Path('{folder}'), {series}, {days}, date.fromisoformat('{end}'), "
        f"{month!r}))"
    )
    _, _, out = run_child([sys.executable, "-c", code])
    return int(out.strip().splitlines()[-1])


def baseline(folder: Path, db_path: Path) -> dict[str, Any]:
    con = duckdb.connect(str(db_path))
    try:
        started = time.perf_counter()
        con.execute(
            f"create table focus as select * from read_parquet('{folder}/**/*.parquet', "
            "hive_partitioning = false)"
        )
        con.execute("checkpoint")
        seconds = time.perf_counter() - started
        [(count,)] = con.execute("select count(*) from focus").fetchall()
    finally:
        con.close()
    return {"seconds": seconds, "rows": count}


def run_env(home: Path, folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}
    env.update(
        FINOPS_HOME=str(home),
        FINOPS_SOURCES="focus",
        FINOPS_FOCUS_PATH=str(folder),
        DO_NOT_TRACK="1",
    )
    return env


STEP_DONE = re.compile(r"(\w+) \d{4}-\d{2}-\d{2}: done in ([\d.]+)s")


def run_steps(home: Path, since: int) -> tuple[dict[str, float], int]:
    """Durations of the run's steps from the pipeline log written after byte `since`."""
    steps: dict[str, float] = {}
    size = 0
    for log in sorted((home / "logs").glob("*.log")):
        if log.name.startswith("dbt"):
            continue
        text = log.read_text(errors="replace")
        size += len(text)
        for name, seconds in STEP_DONE.findall(text[since:] if size > since else text):
            steps[name] = steps.get(name, 0.0) + float(seconds)
    return steps, size


def node_time(home: Path) -> str:
    path = home / "data" / "dbt" / "target" / "run_results.json"
    if not path.exists():
        return ""
    by_kind: dict[str, float] = {}
    for result in json.loads(path.read_text())["results"]:
        kind = result["unique_id"].split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + result["execution_time"]
    return ", ".join(f"{k}s {v:.0f} s" for k, v in sorted(by_kind.items()))


def finops(home: Path, folder: Path, *args: str) -> tuple[float, int, str]:
    return run_child([FINOPS, *args], env=run_env(home, folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=date(2026, 11, 26),
        help="the day after the last charge day of the first run's files",
    )
    parser.add_argument("--folder", type=Path, help="work folder (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()

    work = args.folder or Path(tempfile.mkdtemp(prefix="focus_run_"))
    work.mkdir(parents=True, exist_ok=True)
    files, home = work / "exports", work / "home"
    shutil.rmtree(files, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    print(f"focus_run: --rows {args.rows:,} --days {args.days}, work folder {work}")
    print(f"{'step':<12} {'wall s':>8} {'peak MB':>8}  notes")

    # Generating (and everything else) runs in child processes: a child's ru_maxrss counts
    # the memory of the process it was forked from, so this one stays small.
    began = time.perf_counter()
    series = max(1, args.rows // args.days)  # the same series in the first and daily files
    count = generate_in_child(files, series, args.days, args.end, None)
    size = sum(p.stat().st_size for p in files.rglob("*.parquet")) / 2**20
    n_files = len(list(files.rglob("*.parquet")))
    print(
        f"{'generate':<12} {time.perf_counter() - began:8.1f} {'':>8}  "
        f"{count:,} rows, {n_files} files, {size:,.0f} MB"
    )

    base_db = work / "baseline.duckdb"
    base_db.unlink(missing_ok=True)
    code = (
        "import json, sys; sys.path.insert(0, 'bench'); from focus_run import baseline; "
        f"print(json.dumps(baseline(__import__('pathlib').Path('{files}'), "
        f"__import__('pathlib').Path('{base_db}'))))"
    )
    seconds, peak, out = run_child([sys.executable, "-c", code])
    figures = json.loads(out.strip().splitlines()[-1])
    base_db.unlink(missing_ok=True)
    print(
        f"{'baseline':<12} {figures['seconds']:8.1f} {peak:8,}  "
        f"CREATE TABLE AS SELECT * FROM read_parquet: {figures['rows']:,} rows"
    )
    baseline_s = figures["seconds"]

    results: dict[str, tuple[float, int]] = {}
    log_size = 0
    first_date = args.end + timedelta(days=1)
    seconds, peak, _ = finops(home, files, "run", "--date", first_date.isoformat())
    steps, log_size = run_steps(home, 0)
    results["first"] = (seconds, peak)
    print(
        f"{'first run':<12} {seconds:8.1f} {peak:8,}  steps {json.dumps(steps)}; "
        f"dbt node time {node_time(home)}"
    )
    import_first = steps.get("load_focus", 0.0)

    month = (args.end).strftime("%Y-%m")
    count = generate_in_child(files, series, args.days + 1, args.end + timedelta(days=1), month)
    seconds, peak, _ = finops(
        home, files, "run", "--date", (first_date + timedelta(days=1)).isoformat()
    )
    steps, log_size = run_steps(home, log_size)
    results["daily"] = (seconds, peak)
    print(
        f"{'daily run':<12} {seconds:8.1f} {peak:8,}  {month} rewritten ({count:,} rows, one "
        f"more day, restated); steps {json.dumps(steps)}; dbt node time {node_time(home)}"
    )

    seconds, peak, _ = finops(home, files, "verify")
    print(
        f"{'verify':<12} {seconds:8.1f} {peak:8,}  every test, all history; dbt node time "
        f"{node_time(home)}"
    )

    first, daily = results["first"][0], results["daily"][0]
    print(
        f"verdict: daily run {daily:.1f} s = {daily / first:.2f} of the first run "
        f"({first:.1f} s); target <= 1/8 = {first / 8:.1f} s"
    )
    if import_first:
        print(
            f"verdict: the first run's import {import_first:.1f} s = "
            f"{import_first / baseline_s:.1f}x the plain read_parquet ({baseline_s:.1f} s); "
            "target <= 3x"
        )
    print(f"verdict: highest peak RSS {max(p for _, p in results.values()):,} MB")
    if not args.keep and not args.folder:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
