"""Time and peak memory of every pipeline stage on a warehouse of N daily raw rows.

Builds a throwaway FINOPS_HOME whose raw tables hold about `--rows` daily cost rows of both
clouds - many AWS linked accounts (under several payer scopes) x services x regions x record
types, many Azure subscriptions (under several billing-account scopes) x services x
locations x both query types, EUR and USD - over `--days` days, generated vectorised in an
in-memory DuckDB (no Python loop over rows). Then it runs the pipeline's own code paths,
each stage in a fresh child process so its peak memory is its own:

    validate      warehouse checks (types, window, not null, duplicate keys) of one Arrow
                  table holding every AWS row at once, and the list-of-dicts path on a slice
    load          warehouse.replace_window with Arrow tables, one call per scope for the
                  whole history as the API loaders land a window (`--load-by-month`: one
                  call per scope and calendar month), amounts decimal(38, 10)
    dbt full      pipelines.build_tasks.build on the fresh warehouse, as a first run's
                  DbtBuild runs it: the real project, seeds, models and every data test over
                  all days (no unit tests: no pipeline build runs them), then `dbt source
                  freshness`; it records the build for the next one (pipelines/build_scope.py)
    publish       warehouse.publish_serving_copy (marts -> <name>_serving.duckdb)
    daily load    one more day + the last `--restated-days` days restated, per scope
    dbt daily     pipelines.build_tasks.build, as DbtBuild runs it: `dbt build` incremental
                  over the restated days, tests of those days, only the nodes the loads
                  reach, then `dbt source freshness` in the same dbt process
    publish       again, for the daily build
    export        pipelines.exports local store: every mart as Parquet + CSV, KPIs, manifest
    prune         `--export-folders` dated export folders (hard links to the real export
                  files) per area, pruned with the clock moved forward

Peak RSS is ru_maxrss of the stage process ("python") and of its largest child ("child":
the dbt process) - the two run at the same time during dbt stages. Other work on the
machine slows every figure; the load average is printed with each stage.

    .venv/bin/python bench/pipeline_scale.py [--rows 1000000] [--days 365] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import duckdb  # noqa: E402
import pyarrow as pa  # noqa: E402

from finops.settings import Settings, load_settings  # noqa: E402
from loaders import warehouse  # noqa: E402
from loaders.aws_cost_explorer.source import AWS_COST_EXPLORER  # noqa: E402
from loaders.azure_cost_management.mapping import month_chunks  # noqa: E402
from loaders.simulated import catalog  # noqa: E402
from loaders.warehouse import validation  # noqa: E402

AWS_SHARE = 0.6  # of the raw rows; the rest are Azure (both query types)
ACCOUNTS_PER_PAYER = 40  # AWS linked accounts per payer (management) account = load scope
SUBSCRIPTIONS_PER_SCOPE = 25  # Azure subscriptions per billing-account scope
ESTIMATED_DAYS = 3  # the last days of a load are Cost Explorer estimates
AWS_REGIONS = (
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
    "ap-northeast-1",
    "ca-central-1",
    "sa-east-1",
)
AZURE_LOCATIONS = (
    "eastus",
    "westus2",
    "westeurope",
    "northeurope",
    "uksouth",
    "centralus",
    "southeastasia",
    "australiaeast",
)
STAGES = (
    "validate",
    "load",
    "dbt_full",
    "publish_full",
    "daily_load",
    "dbt_daily",
    "publish_daily",
    "export",
    "prune",
    "verify",
)
LABELS = {
    "validate": "validate (Arrow)",
    "load": "load (replace_window)",
    "dbt_full": "dbt build + freshness (first, as DbtBuild)",
    "publish_full": "publish serving copy",
    "daily_load": "daily load (1 day + restated)",
    "dbt_daily": "dbt build + freshness (daily, as DbtBuild)",
    "verify": "finops verify (dbt test, all)",
    "publish_daily": "publish serving copy",
    "export": "export (Parquet + CSV)",
    "prune": "prune (clock moved)",
}


# ---------------------------------------------------------------- the generated estate


def _values(rows: list[tuple[Any, ...]]) -> str:
    def literal(value: Any) -> str:
        if isinstance(value, str):
            return "'" + value.replace("'", "''") + "'"
        return repr(value)

    return ", ".join("(" + ", ".join(literal(v) for v in row) + ")" for row in rows)


def estate(rows: int, days: int) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one row per cost series of each provider (`aws_series`,
    `azure_series`), sized so that `days` days of them make about `rows` raw rows."""
    per_day = rows / days
    aws_target = max(1, round(per_day * AWS_SHARE))
    azure_target = max(1, round(per_day * (1 - AWS_SHARE) / 2))  # x 2 query types
    aws_services = [
        (s, level, s in catalog.AWS_GLOBAL_SERVICES)
        for s, level in catalog.AWS_SERVICE_LEVELS.items()
    ]
    azure_services = list(catalog.AZURE_SERVICE_LEVELS.items())
    con = duckdb.connect()
    con.execute(f"create table aws_services (service varchar, level double, is_global boolean); insert into aws_services values {_values(aws_services)}")  # fmt: skip
    con.execute(f"create table azure_services (service varchar, level double); insert into azure_services values {_values(azure_services)}")  # fmt: skip
    # Every account has each service in its home region, half of them in a second region,
    # a Savings Plan share of EC2, tax and (every 5th account) credits: >= 43 series each.
    con.execute(f"""
        create table aws_accounts as
        select
            i as account_no,
            cast(100000000000 + i * 7919 as varchar) as linked_account_id,
            'acct-' || lpad(cast(i as varchar), 5, '0') as linked_account_name,
            cast(900000000000 + i // {ACCOUNTS_PER_PAYER} as varchar) as scope,
            0.05 + (hash(i, 'scale') % 1000) / 1000.0 as scale,
            {list(AWS_REGIONS)}[1 + i % {len(AWS_REGIONS)}] as home_region,
            {list(AWS_REGIONS)}[1 + (i + 3) % {len(AWS_REGIONS)}] as second_region
        from range({aws_target // 43 + 2}) as t(i)
    """)
    con.execute(f"""
        create table aws_series as
        with series as (
            select a.*, s.service,
                case when s.is_global then 'global' else a.home_region end as region,
                'Usage' as record_type, s.level * a.scale as level, 1.0 as amortized_share
            from aws_accounts as a cross join aws_services as s
            union all
            select a.*, s.service, a.second_region, 'Usage', s.level * a.scale * 0.35, 1.0
            from aws_accounts as a cross join aws_services as s
            where not s.is_global and hash(a.account_no, s.service) % 2 = 0
            union all
            select a.*, '{catalog.AWS_EC2_COMPUTE}', a.home_region, 'SavingsPlanCoveredUsage',
                1500 * a.scale, 0.72
            from aws_accounts as a
            union all
            select a.*, 'Tax', 'NoRegion', 'Tax', 90 * a.scale, 1.0
            from aws_accounts as a
            union all
            select a.*, '{catalog.AWS_EC2_COMPUTE}', a.home_region, 'Credit', -40 * a.scale, 1.0
            from aws_accounts as a
            where a.account_no % 5 = 0
        )
        select row_number() over (order by account_no, service, region, record_type) as series_no, *
        from series
        order by series_no
        limit {aws_target}
    """)
    con.execute(f"""
        create table azure_subscriptions as
        select
            i as subscription_no,
            substr(md5('sub' || i), 1, 8) || '-' || substr(md5('sub' || i), 9, 4) || '-4'
                || substr(md5('sub' || i), 14, 3) || '-a' || substr(md5('sub' || i), 18, 3)
                || '-' || substr(md5('sub' || i), 21, 12) as subscription_id,
            'sub-' || lpad(cast(i as varchar), 5, '0') as subscription_name,
            '/providers/Microsoft.Billing/billingAccounts/'
                || lpad(cast(70000000 + i // {SUBSCRIPTIONS_PER_SCOPE} as varchar), 8, '0') as scope,
            case when i % 5 = 4 then 'EUR' else 'USD' end as currency,
            0.05 + (hash(i, 'scale') % 1000) / 1000.0 as scale,
            {list(AZURE_LOCATIONS)}[1 + i % {len(AZURE_LOCATIONS)}] as home_location,
            {list(AZURE_LOCATIONS)}[1 + (i + 1) % {len(AZURE_LOCATIONS)}] as second_location
        from range({azure_target // 28 + 2}) as t(i)
    """)
    con.execute(f"""
        create table azure_series as
        with series as (
            select b.*, s.service as service_name, b.home_location as resource_location,
                'Usage' as charge_type, s.level * b.scale as level
            from azure_subscriptions as b cross join azure_services as s
            union all
            select b.*, s.service, b.second_location, 'Usage', s.level * b.scale * 0.35
            from azure_subscriptions as b cross join azure_services as s
            where hash(b.subscription_no, s.service) % 2 = 0
        )
        select row_number() over (order by subscription_no, service_name, resource_location) as series_no, *
        from series
        order by series_no
        limit {azure_target}
    """)
    return con


def _amount(level: str, factor: str = "1") -> str:
    """A day's amount: level x weekday x noise (+-15 %) x a rare 4x spike, exact decimal."""
    return (
        f"cast(round({level} * {factor}"
        " * case when isodow(d.day) >= 6 then 0.8 else 1.0 end"
        " * (0.85 + (hash(s.series_no, d.day) % 3000) / 10000.0)"
        " * case when hash(s.series_no, d.day, 'spike') % 5000 = 0 then 4 else 1 end"
        " * case when d.day >= $restated_from then 1.02 else 1 end, 6) as decimal(38, 10))"
    )


def _days(lo: date, hi: date) -> str:
    return (
        f"(select cast(unnest(generate_series(date '{lo}', date '{hi - timedelta(days=1)}', "
        "interval 1 day)) as date) as day) as d"
    )


def aws_batch(
    con: duckdb.DuckDBPyConnection,
    scope: str | None,
    lo: date,
    hi: date,
    estimated_from: date,
    restated_from: date,
) -> pa.Table:
    """raw.aws_cost_explorer rows of one payer scope (all scopes: None) for [lo, hi)."""
    where = "true" if scope is None else f"s.scope = '{scope}'"
    sql = f"""
        select
            d.day as time_period_start,
            cast(d.day + 1 as date) as time_period_end,
            d.day >= date '{estimated_from}' as estimated,
            s.linked_account_id,
            s.linked_account_name,
            s.service,
            s.region,
            s.record_type,
            {_amount("s.level")} as unblended_cost,
            'USD' as unblended_cost_unit,
            {_amount("s.level", "s.amortized_share")} as amortized_cost,
            'USD' as amortized_cost_unit,
            case when s.record_type = 'Usage' then {_amount("s.level", "3.1")} end
                as usage_quantity,
            case when s.record_type = 'Usage' then 'Hrs' end as usage_quantity_unit
        from aws_series as s cross join {_days(lo, hi)}
        where {where}
    """.replace("$restated_from", f"date '{restated_from}'")
    return con.sql(sql).to_arrow_table()


def azure_batch(
    con: duckdb.DuckDBPyConnection, scope: str, lo: date, hi: date, restated_from: date
) -> pa.Table:
    """raw.azure_cost_management rows (ActualCost and AmortizedCost) of one scope for [lo, hi)."""
    sql = f"""
        select
            cast(strftime(d.day, '%Y%m%d') as integer) as usage_date,
            q.query_type,
            s.subscription_id,
            s.subscription_name,
            s.service_name,
            s.resource_location,
            s.charge_type,
            {_amount("s.level", "q.share")} as cost,
            s.currency
        from azure_series as s
        cross join {_days(lo, hi)}
        cross join (values ('ActualCost', 1.0), ('AmortizedCost', 0.97)) as q(query_type, share)
        where s.scope = '{scope}'
    """.replace("$restated_from", f"date '{restated_from}'")
    return con.sql(sql).to_arrow_table()


def scopes(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    return [r[0] for r in con.execute(f"select distinct scope from {table} order by 1").fetchall()]


# ---------------------------------------------------------------- stages (child processes)


def land_windows(
    settings: Settings,
    con: duckdb.DuckDBPyConnection,
    windows: list[tuple[date, date]],
    estimated_from: date,
    restated_from: date,
) -> dict[str, Any]:
    """replace_window every scope for every window; generation and landing timed apart."""
    generate_s = land_s = 0.0
    rows = calls = largest = 0
    per_window: list[tuple[date, float]] = []  # landing rows/s by window: does it drop?
    for lo, hi in windows:
        window_s = window_rows = 0
        for raw_table, source, table_scopes in (
            ("aws_cost_explorer", "aws_cost_explorer", scopes(con, "aws_series")),
            ("azure_cost_management", "azure_cost_management", scopes(con, "azure_series")),
        ):
            for scope in table_scopes:
                began = time.perf_counter()
                if raw_table == "aws_cost_explorer":
                    batch = aws_batch(con, scope, lo, hi, estimated_from, restated_from)
                else:
                    batch = azure_batch(con, scope, lo, hi, restated_from)
                landed = time.perf_counter()
                warehouse.replace_window(
                    settings.duckdb_path,
                    raw_table=raw_table,
                    source=source,
                    scope=scope,
                    window_start=lo,
                    window_end=hi,
                    rows=batch,
                )
                generate_s += landed - began
                land_s += time.perf_counter() - landed
                window_s += time.perf_counter() - landed
                window_rows += batch.num_rows
                rows += batch.num_rows
                calls += 1
                largest = max(largest, batch.num_rows)
        per_window.append((lo, window_rows / max(window_s, 1e-9)))
    # The first and last months are partial; compare the first and last whole ones.
    growth = (
        f"; {per_window[1][0]:%b %Y} {per_window[1][1]:,.0f} rows/s, "
        f"{per_window[-2][0]:%b %Y} {per_window[-2][1]:,.0f} rows/s"
        if len(per_window) > 3
        else ""
    )
    return {
        "seconds": land_s,
        "generate_s": round(generate_s, 2),
        "rows": rows,
        "note": f"{rows:,} rows, {calls} calls (largest {largest:,}), "
        f"{rows / land_s:,.0f} rows/s{growth}; generating them took {generate_s:.1f} s more",
    }


def stage_validate(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    con = estate(args.rows, args.days)
    start, end = args.end - timedelta(days=args.days), args.end
    batch = aws_batch(con, None, start, end, end, end + timedelta(days=1))
    table = AWS_COST_EXPLORER
    # The checks replace_window runs before it opens the warehouse (private on purpose:
    # this measures validation alone, without the write). Warmed up first: pyarrow's first
    # compute and group_by calls of a process cost about a second on their own.
    validation.check_rows(table, validation.conform_arrow(table, batch.slice(0, 1000)), start, end)
    began = time.perf_counter()
    checked = validation.conform_arrow(table, batch)
    validation.check_rows(table, checked, start, end)
    seconds = time.perf_counter() - began
    sample = batch.slice(0, 100_000)
    dicts = sample.to_pylist()
    began = time.perf_counter()
    validation.check_rows(table, validation.rows_to_arrow(table, dicts), start, end)
    dict_s = time.perf_counter() - began
    return {
        "seconds": seconds,
        "note": f"{batch.num_rows:,} rows in one table ({batch.num_rows / seconds:,.0f} rows/s);"
        f" as a list of dicts (API loaders): {sample.num_rows:,} rows in {dict_s:.2f} s",
    }


def stage_load(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    """The first run's backfill as the API loaders land it: the whole window in one call
    per scope (`--load-by-month`: one call per scope and calendar month)."""
    con = estate(args.rows, args.days)
    start, end = args.end - timedelta(days=args.days), args.end
    return land_windows(
        settings,
        con,
        month_chunks(start, end) if args.load_by_month else [(start, end)],
        end - timedelta(days=ESTIMATED_DAYS),
        end + timedelta(days=1),  # nothing restated yet
    )


def stage_daily_load(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    con = estate(args.rows, args.days)
    lo = args.end - timedelta(days=args.restated_days)
    hi = args.end + timedelta(days=1)  # the new day
    return land_windows(settings, con, [(lo, hi)], args.end - timedelta(days=1), lo)


def _dbt_nodes(settings: Settings) -> str:
    path = settings.data_dir / "dbt" / "target" / "run_results.json"
    results = json.loads(path.read_text())["results"]
    slowest = sorted(results, key=lambda r: r["execution_time"], reverse=True)[:4]
    return ", ".join(f"{_node_name(r['unique_id'])} {r['execution_time']:.1f}s" for r in slowest)


def _node_name(unique_id: str) -> str:
    """model.finops.fct_x -> fct_x; test.finops.unique_x.abc -> test unique_x; and so on."""
    kind, _, name, *rest = unique_id.split(".")
    if kind == "unit_test":
        return f"unit test {name}.{rest[0]}"
    return name if kind == "model" else f"{kind} {name}"


def stage_dbt(settings: Settings, dbt_args: list[str], pipeline: bool = False) -> dict[str, Any]:
    """`dbt DBT_ARGS` (`finops verify`), or with `pipeline` the build as DbtBuild runs it:
    the first build over all days, a daily one over the rebuilt days (pipelines/build_window.py)
    and the nodes the loads reach (pipelines/build_scope.py); no unit tests."""
    from finops.dbt_runner import run_dbt
    from pipelines.build_tasks import build

    began = time.perf_counter()
    window_start = None
    if pipeline:
        summary = build(settings)
        window_start = summary["window_start"]
    else:
        summary = run_dbt(settings, dbt_args)
    seconds = time.perf_counter() - began
    counts = ", ".join(f"{n} {s}" for s, n in sorted(summary["counts"].items()))
    nodes = _node_times(settings)
    by_kind: dict[str, float] = {}
    for unique_id, node_s in nodes.items():
        kind = unique_id.split(".")[0]
        by_kind[kind] = by_kind.get(kind, 0.0) + node_s
    kinds = ", ".join(f"{kind}s {node_s:.0f} s" for kind, node_s in sorted(by_kind.items()))
    window = f"tests from {window_start}; " if window_start else ""
    if summary.get("nodes_left_out"):
        window += f"{summary['nodes_left_out']} nodes left out; "
    if pipeline:
        window += (
            "freshness "
            + ", ".join(f"{v}" for _, v in sorted(summary["source_freshness"].items()))
            + "; "
        )
    return {
        "seconds": seconds,
        "note": f"{window}{counts}; node time (2 threads): {kinds}; slowest: {_dbt_nodes(settings)}",
        "nodes": nodes,
    }


def _node_times(settings: Settings) -> dict[str, float]:
    path = settings.data_dir / "dbt" / "target" / "run_results.json"
    return {
        r["unique_id"]: round(r["execution_time"], 2)
        for r in json.loads(path.read_text())["results"]
    }


def stage_publish(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    began = time.perf_counter()
    tables = warehouse.publish_serving_copy(settings.duckdb_path, settings.serving_path)
    seconds = time.perf_counter() - began
    size = settings.serving_path.stat().st_size / 2**20
    return {"seconds": seconds, "note": f"{tables} tables, {size:,.0f} MB"}


def stage_export(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.exports import export_store

    run_date = args.end + timedelta(days=1)
    store = export_store(settings)
    began = time.perf_counter()
    keys = store.export_marts(settings.serving_path, run_date)
    store.write_manifest(run_date, keys)
    seconds = time.perf_counter() - began
    size = sum(p.stat().st_size for p in settings.export_dir.rglob("*") if p.is_file()) / 2**20
    with duckdb.connect(str(settings.serving_path), read_only=True) as con:
        daily = con.execute("select count(*) from marts.fct_daily_costs").fetchone()[0]
    return {
        "seconds": seconds,
        "note": f"{len(keys) + 1} files, {size:,.0f} MB; fct_daily_costs {daily:,} rows",
    }


def stage_prune(settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    from pipelines.exports import AREAS, export_store

    run_date = args.end + timedelta(days=1)
    store = export_store(settings)
    today = store.folder("processed", run_date)
    files = {
        "processed": sorted(today.iterdir()),
        "kpis": sorted(store.folder("kpis", run_date).iterdir()),
    }
    for n in range(1, args.export_folders + 1):
        day = run_date - timedelta(days=n)
        for area in AREAS:
            folder = store.folder(area, day)
            folder.mkdir(parents=True, exist_ok=True)
            if area == "reports":
                (folder / "report.txt").write_text(f"report of {day}\n")
            for path in files[area] if area != "reports" else ():
                os.link(path, folder / path.name)
    count = sum(1 for _ in settings.export_dir.rglob("*"))
    clock = run_date + timedelta(days=args.clock_moved_days)
    began = time.perf_counter()
    removed = store.prune(clock, settings.retention_days)
    seconds = time.perf_counter() - began
    left = sum(1 for _ in settings.export_dir.rglob("*"))
    return {
        "seconds": seconds,
        "note": f"{len(removed):,} of {3 * (args.export_folders + 1):,} dated folders removed "
        f"({count - left:,} of {count:,} entries), clock {clock}",
    }


def run_stage(name: str, args: argparse.Namespace) -> None:
    """A child process: run one stage, write its figures to `--result` as JSON."""
    settings = load_settings()
    handlers = {
        "validate": stage_validate,
        "load": stage_load,
        "dbt_full": lambda s, a: stage_dbt(s, ["build"], pipeline=True),
        "publish_full": stage_publish,
        "daily_load": stage_daily_load,
        "dbt_daily": lambda s, a: stage_dbt(s, ["build"], pipeline=True),
        "publish_daily": stage_publish,
        "export": stage_export,
        "prune": stage_prune,
        "verify": lambda s, a: stage_dbt(s, ["test"]),
    }
    figures = handlers[name](settings, args)
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    figures.update(rss_mb=own / 1024, child_rss_mb=children / 1024)
    if settings.duckdb_path.exists():
        figures["warehouse_mb"] = settings.duckdb_path.stat().st_size / 2**20
    Path(args.result).write_text(json.dumps(figures, default=str))


# ---------------------------------------------------------------- the driver


def bench_env(home: Path, memory_limit: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}
    env.update(FINOPS_HOME=str(home), FINOPS_SOURCES="simulated", DO_NOT_TRACK="1")
    if memory_limit:
        env["FINOPS_DUCKDB_MEMORY_LIMIT"] = memory_limit
    return env


def machine() -> str:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        "unknown CPU",
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM, duckdb {duckdb.__version__}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="raw rows to generate")
    parser.add_argument("--days", type=int, default=365, help="days of history")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 26),
                        help="first day after the history (the daily stage lands this day)")  # fmt: skip
    parser.add_argument("--restated-days", type=int, default=None,
                        help="days before the new day that the daily load restates "
                             "(default: the month to date, as AWS and Azure restate)")  # fmt: skip
    parser.add_argument("--export-folders", type=int, default=400,
                        help="dated export folders per area before the prune")  # fmt: skip
    parser.add_argument("--clock-moved-days", type=int, default=15,
                        help="the prune's clock: the run date + this many days")  # fmt: skip
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES))
    parser.add_argument("--home", type=Path, help="FINOPS_HOME to use (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the FINOPS_HOME afterwards")
    parser.add_argument(
        "--load-by-month",
        action="store_true",
        help="land the history in one call per scope and month (default: per scope, as the "
        "loaders land a window)",
    )
    parser.add_argument(
        "--memory-limit",
        help="FINOPS_DUCKDB_MEMORY_LIMIT of every stage, e.g. 6GB (default: DuckDB's 80%% of RAM)",
    )
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.restated_days is None:  # the month to date (at least the day before the new one)
        args.restated_days = max(args.end.day - 1, 1)
    if args.stage:
        run_stage(args.stage, args)
        return

    home = args.home or Path(tempfile.mkdtemp(prefix="finops_bench_"))
    home.mkdir(parents=True, exist_ok=True)
    env = bench_env(home, args.memory_limit)
    limit = f", FINOPS_DUCKDB_MEMORY_LIMIT={args.memory_limit}" if args.memory_limit else ""
    print(f"pipeline_scale: --rows {args.rows:,} --days {args.days}, FINOPS_HOME={home}{limit}")
    print(f"machine: {machine()}")
    print("figures are wall time and peak RSS per stage; other processes on the machine add noise")
    header = f"{'stage':<31} {'wall s':>8} {'python MB':>9} {'child MB':>9} {'load avg':>8}  notes"
    print(header)
    print("-" * len(header))
    figures: dict[str, dict[str, Any]] = {}
    failed = None
    for stage in args.stages:
        result = home / f".bench_{stage}.json"
        command = [
            sys.executable, __file__, "--stage", stage, "--result", str(result),
            "--rows", str(args.rows), "--days", str(args.days), "--end", args.end.isoformat(),
            "--restated-days", str(args.restated_days),
            "--export-folders", str(args.export_folders),
            "--clock-moved-days", str(args.clock_moved_days),
        ]  # fmt: skip
        done = subprocess.run(command, env=env, cwd=home, capture_output=True, text=True)
        if done.returncode != 0:
            failed = stage
            print(f"{LABELS[stage]:<31} FAILED\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
            break
        figures[stage] = json.loads(result.read_text())
        f = figures[stage]
        print(
            f"{LABELS[stage]:<31} {f['seconds']:>8.1f} {f['rss_mb']:>9,.0f} "
            f"{f['child_rss_mb']:>9,.0f} {os.getloadavg()[0]:>8.2f}  {f['note']}",
            flush=True,
        )
    print("-" * len(header))
    verdict(figures, failed)
    sizes = {k: f.get("warehouse_mb") for k, f in figures.items() if f.get("warehouse_mb")}
    if sizes:
        print(f"warehouse file after the last stage: {list(sizes.values())[-1]:,.0f} MB")
    (home / "bench_figures.json").write_text(json.dumps(figures, indent=2, default=str))
    if args.keep or failed:
        print(f"kept {home}")
    else:
        shutil.rmtree(home)


def verdict(figures: dict[str, dict[str, Any]], failed: str | None) -> None:
    lines = []
    if failed:
        lines.append(f"stage {failed} FAILED; the figures above stop there.")
    if "dbt_full" in figures and "dbt_daily" in figures:
        full, daily = figures["dbt_full"], figures["dbt_daily"]
        lines.append(
            f"incremental daily build {daily['seconds']:.0f} s vs full {full['seconds']:.0f} s "
            f"({full['seconds'] / max(daily['seconds'], 0.01):.1f}x cheaper)."
        )
        incremental = daily["nodes"].get("model.finops.fct_daily_costs")
        rebuilt = full["nodes"].get("model.finops.fct_daily_costs")
        if incremental is not None and rebuilt is not None:
            lines.append(
                f"fct_daily_costs alone: {incremental:.1f} s incremental vs {rebuilt:.1f} s full; "
                "the rest is the other models and the tests of the rebuilt days."
            )
    peak = max((max(f["rss_mb"], f["child_rss_mb"]) for f in figures.values()), default=0.0)
    if figures:
        worst = max(figures, key=lambda k: max(figures[k]["rss_mb"], figures[k]["child_rss_mb"]))
        lines.append(f"highest peak RSS: {peak / 1024:.1f} GiB ({LABELS[worst]}).")
        total = sum(f["seconds"] for f in figures.values())
        lines.append(f"all stages: {total / 60:.1f} min wall.")
    for line in lines:
        print("verdict: " + line)


if __name__ == "__main__":
    main()
