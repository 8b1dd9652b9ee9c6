"""Dashboard latency on a big serving copy: page loads and filter changes at 10M+ rows.

    .venv/bin/python bench/dashboard_latency.py                  # 10M rows, in /tmp/finops_bench
    .venv/bin/python bench/dashboard_latency.py --rows 2000000 --reuse --folder /tmp/b

1. Builds a serving warehouse (`<folder>/data/finops_serving.duckdb`, schema `marts` only,
   like the one the pipeline publishes) with every mart the dashboard reads. The tables are
   created with the column types of the dbt contracts (`dbt_project/models/marts/*.yml`)
   and filled with synthetic rows by DuckDB SQL: `--rows` fct_daily_costs rows over
   `--days` days (AWS accounts billed in USD, Azure subscriptions in USD and EUR, Usage
   with some Purchase, Tax, Credit and refund rows, stored in day order as the incremental
   build appends them; `--shuffle` stores them in random order, the worst case for the
   date zone maps), plus the small marts (KPIs, forecast, backtest, movers, anomalies,
   anomaly series and root causes, restatements, load freshness with one failed scope).
2. Times the data layer (`dashboard.data`) on its own: each query of a page load with a
   cold cache (cleared) and a warm one.
3. Times the app with `streamlit.testing.v1.AppTest`: each page's first load with a cold
   cache, its reload (warm), and filter changes (a new cloud, period, cost basis, charges
   and account: every change is a cache miss for the filtered queries).

It prints the figures; nothing else is written outside `--folder`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import duckdb
import yaml

from pipelines.exports import MART_TABLES

REPO = Path(__file__).resolve().parents[1]
MARTS_YML = REPO / "dbt_project" / "models" / "marts"
APP = str(REPO / "dashboard" / "streamlit_app.py")
PAGES = ["overview", "services", "accounts", "anomalies", "forecast", "freshness"]
# Marts the dashboard reads (every exported mart); each gets the contract's columns and types.
MARTS = list(MART_TABLES)
AWS_ACCOUNTS, AZURE_SUBSCRIPTIONS, SERVICES, REGIONS = 24, 16, 60, 12


# ---------------------------------------------------------------- building the warehouse


def contract_columns() -> dict[str, list[tuple[str, str]]]:
    """{model: [(column, data_type), ...]} from the marts' yml contracts."""
    models: dict[str, list[tuple[str, str]]] = {}
    for path in sorted(MARTS_YML.glob("_marts__*.yml")):
        for model in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            columns = [(c["name"], c["data_type"]) for c in model.get("columns", [])]
            if columns and all(t for _, t in columns):
                models[model["name"]] = columns
    missing = [m for m in MARTS if m not in models]
    if missing:
        sys.exit(f"no contract (columns with data_type) in {MARTS_YML} for {missing}")
    return models


def create_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema marts")
    for model, columns in contract_columns().items():
        if model in MARTS:
            body = ", ".join(f'"{name}" {data_type}' for name, data_type in columns)
            con.execute(f"create table marts.{model} ({body})")


def fill_daily_costs(
    con: duckdb.DuckDBPyConnection, rows: int, days: int, last: date, *, shuffle: bool
) -> None:
    """`rows` (rounded up to whole days) unique-grain rows over `days` days ending on `last`.

    Row i of a day is account i % 40, service (i // 40) % 60, region (i // 2400) % 12, so the
    grain stays unique up to 28,800 rows a day; its charge category follows i (mostly Usage).
    """
    per_day = -(-rows // days)
    combos = (AWS_ACCOUNTS + AZURE_SUBSCRIPTIONS) * SERVICES * REGIONS
    if per_day > combos:
        sys.exit(f"--rows {rows} over {days} days needs {per_day} rows a day, at most {combos}")
    first = last - timedelta(days=days - 1)
    order = "random()" if shuffle else "charge_date, i"
    con.execute(
        f"""
        insert into marts.fct_daily_costs by name
        with days as (
            select cast(d as date) as charge_date, row_number() over (order by d) as day_no
            from range(date '{first}', date '{last}' + interval 1 day, interval 1 day) as t(d)
        ),
        slots as (
            select
                i,
                i % {AWS_ACCOUNTS + AZURE_SUBSCRIPTIONS} as account_no,
                (i // {AWS_ACCOUNTS + AZURE_SUBSCRIPTIONS}) % {SERVICES} as service_no,
                (i // {(AWS_ACCOUNTS + AZURE_SUBSCRIPTIONS) * SERVICES}) % {REGIONS} as region_no
            from range({per_day}) as t(i)
        ),
        shaped as (
            select
                d.charge_date,
                d.day_no,
                s.i,
                s.service_no,
                case when s.account_no < {AWS_ACCOUNTS} then 'AWS' else 'Azure' end as provider_name,
                s.account_no,
                s.region_no,
                case
                    when s.i % 997 = 0 then 'Credit'
                    when s.i % 991 = 0 then 'Adjustment'
                    when s.i % 499 = 0 then 'Tax'
                    when s.i % 251 = 0 then 'Purchase'
                    else 'Usage'
                end as charge_category,
                -- a deterministic, day-varying amount: base by service, weekly shape, noise
                (5 + (s.service_no * 37) % 200)
                    * (1 + 0.15 * sin(d.day_no * 0.897))
                    * (0.8 + 0.4 * (hash(s.i, d.day_no) % 1000) / 1000.0) as amount
            from days as d cross join slots as s
        )
        select
            md5(concat_ws('|', charge_date, i)) as daily_cost_id,
            charge_date,
            provider_name,
            case when provider_name = 'AWS' then '111122223333'
                else 'ba-' || (account_no % 2) end as billing_account_id,
            case when provider_name = 'AWS' then lpad(cast(400000000000 + account_no * 7919 as varchar), 12, '0')
                else 'sub-' || lpad(cast(account_no as varchar), 4, '0') end as sub_account_id,
            case when provider_name = 'AWS' then 'acme-' || account_no
                else 'contoso-' || account_no end as sub_account_name,
            provider_name || ' service ' || service_no as service_name,
            ['Compute', 'Databases', 'Storage', 'Networking', 'Analytics',
             'Management and Governance', 'Security', 'Web'][1 + service_no % 8] as service_category,
            'Subcategory ' || (service_no % 8) as service_subcategory,
            ['us-east-1', 'us-west-2', 'eu-west-1', 'eu-central-1', 'ap-southeast-1', 'global',
             'eastus', 'westeurope', 'northeurope', 'uksouth', 'eastus2', 'japaneast'][1 + region_no]
                as region_id,
            charge_category,
            case when charge_category = 'Adjustment' then 'Correction' end as charge_class,
            case when provider_name = 'Azure' and account_no % 4 = 0 then 'EUR' else 'USD' end
                as billing_currency,
            cast(case when charge_category in ('Credit', 'Adjustment') then -amount else amount end
                as decimal(38, 10)) as billed_cost,
            cast(case when charge_category in ('Credit', 'Adjustment') then -amount
                      when charge_category = 'Purchase' then amount * 0.2
                      else amount * 0.97 end as decimal(38, 10)) as effective_cost,
            'USD' as reporting_currency,
            cast(case when provider_name = 'Azure' and account_no % 4 = 0 then 1.08 else 1 end
                as decimal(18, 10)) as fx_rate,
            cast(round(billed_cost * fx_rate, 10) as decimal(38, 10)) as billed_cost_reporting,
            cast(round(effective_cost * fx_rate, 10) as decimal(38, 10)) as effective_cost_reporting,
            charge_date > date '{last}' - 3 as is_estimated,
            timestamp '{last}' + interval 1 day + interval 8 hour as _loaded_through
        from shaped
        order by {order}
        """
    )


def fill_small_marts(con: duckdb.DuckDBPyConnection, last: date) -> None:
    """Plausible rows for every other mart, derived from fct_daily_costs where it is cheap."""
    month = last.replace(day=1)
    con.execute(
        f"""
        create temp table scope_days as
        select provider_name as provider_scope, charge_date,
            sum(billed_cost_reporting) as billed, sum(effective_cost_reporting) as effective,
            sum(billed_cost_reporting) filter (where charge_category = 'Usage') as usage
        from marts.fct_daily_costs group by all
        union all
        select 'All', charge_date, sum(billed_cost_reporting), sum(effective_cost_reporting),
            sum(billed_cost_reporting) filter (where charge_category = 'Usage')
        from marts.fct_daily_costs group by all;

        insert into marts.fct_cost_kpis by name
        select lower(provider_scope) || '_' || basis as kpi_id, provider_scope, basis as cost_basis,
            'USD' as reporting_currency, min(charge_date) as first_date, max(charge_date) as as_of_date,
            sum(cost) as total_cost, count(*) as days_with_data, avg(cost) as avg_daily_cost,
            sum(cost) filter (where charge_date > date '{last}' - 7) as last_7d_cost,
            sum(cost) filter (where charge_date between date '{last}' - 13 and date '{last}' - 7) as prev_7d_cost,
            1.5 as last_7d_change_pct,
            sum(cost) filter (where charge_date >= date '{month}') as mtd_cost,
            sum(cost) filter (where charge_date >= date '{month}' - interval 1 month and charge_date < date '{month}') as prev_month_cost,
            sum(cost) filter (where charge_date >= date '{month}' - interval 1 month
                and charge_date <= date '{last}' - interval 1 month) as prev_month_same_period_cost,
            2.5 as mom_change_pct,
            case when basis = 'billed' then sum(cost) filter (where charge_date >= date '{month}') * 1.9 end
                as forecast_month_end_cost
        from (select provider_scope, charge_date, billed as cost, 'billed' as basis from scope_days
              union all select provider_scope, charge_date, effective, 'effective' from scope_days)
        group by provider_scope, basis;

        insert into marts.fct_cost_forecast by name
        select provider_scope, 'USD' as reporting_currency, date '{month}' as forecast_month,
            date '{last}' as as_of_date, sum(billed) as mtd_cost,
            day(date '{last}') as days_elapsed,
            day(last_day(date '{last}')) - day(date '{last}') as days_remaining,
            sum(billed) / day(date '{last}') * day(last_day(date '{last}')) as forecast_month_end_cost,
            'mtd_plus_trailing_28d_weekday_avg' as method
        from scope_days where charge_date >= date '{month}' group by provider_scope;

        insert into marts.fct_cost_forecast_backtest by name
        select lower(s) || '_' || strftime(m, '%Y-%m') || '_d' || c as backtest_id, s as provider_scope,
            'USD' as reporting_currency, cast(m as date) as forecast_month, c as cutoff_day,
            cast(m as date) + c - 1 as cutoff_date, 1000.0 * c as mtd_cost, 30000.0 + c as forecast_month_end_cost,
            30000.0 as actual_cost, c as forecast_error, 5.0 - c / 10 as abs_pct_error,
            'mtd_plus_trailing_28d_weekday_avg' as method
        from unnest(['All', 'AWS', 'Azure']) as a(s),
            range(date '{month}' - interval 6 month, date '{month}', interval 1 month) as b(m),
            unnest([7, 14, 21]) as c(c);

        insert into marts.fct_cost_movers by name
        select concat_ws('|', p, d, provider, 'item' || r) as mover_id, p as period, d as dimension,
            provider as provider_name, 'item' || r as item_id, 'Item ' || r as item_name,
            'billed' as cost_basis, 'USD' as reporting_currency, date '{last}' - 6 as current_start,
            date '{last}' as current_end, date '{last}' - 13 as previous_start, date '{last}' - 7 as previous_end,
            100.0 * r as current_cost, 50.0 * r as previous_cost, 50.0 * r as change, 100.0 as change_pct,
            r as change_rank
        from unnest(['last_7d', 'mtd']) as a(p), unnest(['service', 'account']) as b(d),
            range(1, 21) as c(r), (select case when random() < 0.5 then 'AWS' else 'Azure' end as provider);

        -- account x service anomalies: ~1 in 2,000 usage series days, largest first
        create temp table picked as
        select charge_date, provider_name, sub_account_id, any_value(sub_account_name) as sub_account_name,
            service_name, sum(billed_cost_reporting) as actual_cost
        from marts.fct_daily_costs
        where charge_category = 'Usage' and hash(sub_account_id, service_name) % 40 = 0
            and hash(charge_date, sub_account_id, service_name) % 50 = 0
        group by charge_date, provider_name, sub_account_id, service_name;

        insert into marts.fct_cost_anomalies by name
        select md5(concat_ws('|', charge_date, provider_name, sub_account_id, service_name)) as anomaly_id,
            charge_date, provider_name, sub_account_id, sub_account_name, service_name,
            'USD' as reporting_currency, actual_cost, actual_cost / 2 as expected_cost,
            actual_cost / 20 as training_stddev, 5 as training_days, 10.0 as z_score, 'spike' as direction,
            actual_cost / 2 as cost_impact, 'day_of_week' as seasonality
        from picked;

        insert into marts.fct_cost_total_anomalies by name
        select md5(concat_ws('|', charge_date, provider_scope)) as total_anomaly_id, charge_date,
            provider_scope, 'USD' as reporting_currency, usage as actual_cost, usage * 0.9 as expected_cost,
            usage / 100 as training_stddev, 5 as training_days, charge_date - 35 as training_first_date,
            10.0 as z_score, 'spike' as direction, usage * 0.1 as cost_impact, 'day_of_week' as seasonality
        from scope_days where hash(charge_date, provider_scope) % 12 = 0;

        insert into marts.fct_anomaly_root_causes by name
        select md5(concat_ws('|', t.total_anomaly_id, dim, n)) as root_cause_id, t.total_anomaly_id,
            t.charge_date, t.provider_scope, dim as dimension,
            case when t.provider_scope = 'All' then (['AWS', 'Azure'])[1 + n % 2] else t.provider_scope end
                as provider_name,
            dim || '-' || n as item, case when dim = 'account' then 'account ' || n end as sub_account_name,
            'USD' as reporting_currency, 100.0 + n as actual_cost, 90.0 + n as expected_cost,
            t.cost_impact / 40 as contribution, 1 / 40 as share_of_impact
        from marts.fct_cost_total_anomalies as t, unnest(['account', 'service', 'region']) as a(dim),
            range(40) as b(n);

        insert into marts.fct_anomaly_series by name
        select md5(concat_ws('|', provider_scope, charge_date)) as series_day_id, 'total' as series_level,
            provider_scope, 'USD' as reporting_currency, charge_date, usage as actual_cost,
            usage * 0.98 as expected_cost, usage * 0.9 as expected_low, usage * 1.06 as expected_high,
            usage * 0.08 as band_half_width, 0.5 as z_score, true as is_scored,
            (t.total_anomaly_id is not null) as is_anomaly, 'spike' as direction, usage * 0.02 as cost_impact
        from scope_days
        left join marts.fct_cost_total_anomalies as t using (provider_scope, charge_date);

        insert into marts.fct_anomaly_series by name
        select md5(concat_ws('|', d.provider_name, d.sub_account_id, d.service_name, d.charge_date)) as series_day_id,
            'service' as series_level, d.provider_name as provider_scope, d.sub_account_id,
            any_value(d.sub_account_name) as sub_account_name, d.service_name, d.charge_date,
            'USD' as reporting_currency, sum(d.billed_cost_reporting) as actual_cost,
            sum(d.billed_cost_reporting) * 0.98 as expected_cost, 0 as expected_low,
            sum(d.billed_cost_reporting) * 1.5 as expected_high,
            sum(d.billed_cost_reporting) * 0.5 as band_half_width, 0.1 as z_score, true as is_scored,
            false as is_anomaly, null as direction, 0 as cost_impact
        from marts.fct_daily_costs as d
        semi join (select distinct sub_account_id, service_name from picked) as p
            using (sub_account_id, service_name)
        where d.charge_category = 'Usage'
        group by d.provider_name, d.sub_account_id, d.service_name, d.charge_date;

        insert into marts.fct_cost_restatements by name
        select md5(concat_ws('|', n)) as restatement_id, 'load-' || (n % 40) as load_id,
            timestamp '{last}' + interval 1 day + interval 8 hour as loaded_at,
            date '{last}' - cast(n % 30 as integer) as charge_date, (['AWS', 'Azure'])[1 + n % 2] as provider_name,
            'simulated' as source_name, 'scope-' || (n % 40) as scope, 'acct-' || (n % 40) as sub_account_id,
            'USD' as billing_currency, (['billed', 'effective'])[1 + n // 2 % 2] as cost_type,
            100.0 as previous_cost, 101.5 as new_cost, 1.5 as cost_change, 'USD' as reporting_currency,
            1 as fx_rate, 1.5 as cost_change_reporting, date '{last}' + 1 as month_closed_on,
            1 as days_after_month_close
        from range(2000) as t(n);

        insert into marts.fct_load_freshness by name
        select md5('scope-' || n) as freshness_id, case when n = 0 then 'AWS' else 'Azure' end as provider_name,
            'simulated' as source_name, 'scope-' || n as scope,
            timestamp '{last}' + interval 1 day + interval 8 hour as last_attempt_at,
            case when n = 7 then 'failed' else 'succeeded' end as last_attempt_status,
            n = 7 as is_last_attempt_failed,
            case when n = 7 then 'HTTP 429 after 10 attempts' end as last_error_message,
            timestamp '{last}' + interval 8 hour as last_succeeded_at,
            date '{last}' - 60 as last_success_window_start, date '{last}' + 1 as last_success_window_end,
            date '{last}' as latest_charge_date, 3 as estimated_days, date '{last}' - 2 as first_estimated_date,
            n % 3 as restated_days, 1.5 * (n % 3) as restated_billed_cost_change, 'USD' as reporting_currency,
            10 as api_requests, 0.1 as api_cost_usd
        from range({1 + AZURE_SUBSCRIPTIONS}) as t(n);
        """
    )


def build(folder: Path, rows: int, days: int, *, shuffle: bool) -> Path:
    serving = folder / "data" / "finops_serving.duckdb"
    serving.parent.mkdir(parents=True, exist_ok=True)
    tmp = serving.with_name(".bench_serving.tmp")
    tmp.unlink(missing_ok=True)
    last = date(2026, 6, 30)
    started = time.perf_counter()
    with duckdb.connect(str(tmp)) as con:
        create_tables(con)
        fill_daily_costs(con, rows, days, last, shuffle=shuffle)
        fill_small_marts(con, last)
        con.execute("checkpoint")
        counts = {t: con.execute(f"select count(*) from marts.{t}").fetchone()[0] for t in MARTS}
    os.replace(tmp, serving)
    print(
        f"built {serving} in {time.perf_counter() - started:.1f}s "
        f"({serving.stat().st_size / 1e9:.2f} GB)"
    )
    for table, count in counts.items():
        print(f"  {table:32s} {count:>12,} rows")
    return serving


# ---------------------------------------------------------------- measuring


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def bench_data_layer() -> list[tuple[str, float, float, float]]:
    """(query, cold, new filter, cached) seconds for the queries of every page.

    cold: right after a publish (no snapshot of the file, no cached result; the summary is
    run first, as the app always does); new filter: the same query with another selection
    (snapshot open, result not cached: a filter change); cached: the same call again.
    """
    import streamlit as st

    from dashboard.data import anomalies, costs, forecast, operations, serving, types

    source, summary = serving.open_marts()
    assert summary.first_date and summary.last_date
    sel = types.CostFilter(
        start=summary.last_date - timedelta(days=29),
        end=summary.last_date,
        currency=summary.reporting_currency,
    )
    other = replace(sel, providers=("AWS",), start=summary.last_date - timedelta(days=59))
    month = summary.last_date.replace(day=1)
    queries: list[tuple[str, Callable[[types.CostFilter], Any]]] = [
        ("filter_options", lambda f: serving.filter_options(source)),
        ("provider_totals (2 periods)", lambda f: costs.provider_totals(source, f, "billed")),
        ("daily_by_provider", lambda f: costs.daily_by_provider(source, f, "billed")),
        (
            "service_costs (Services page: 1 scan)",
            lambda f: costs.service_costs(source, f, "billed"),
        ),
        (
            "account_costs (Accounts page: 1 scan)",
            lambda f: costs.account_costs(source, f, "billed"),
        ),
        ("anomalies", lambda f: anomalies.anomalies(source, f)),
        (
            "total_anomalies",
            lambda f: anomalies.total_anomalies(source, f, f.scopes(summary.providers)),
        ),
        (
            "anomaly_series",
            lambda f: anomalies.anomaly_series(source, "total", "All", None, None, f.start, f.end),
        ),
        (
            "forecast + month_daily",
            lambda f: (
                forecast.forecast(source, f.scopes(summary.providers)[0]),
                forecast.month_daily(
                    source, f.scopes(summary.providers)[0], month, summary.last_date, f.currency
                ),
            ),
        ),
        ("freshness", lambda f: operations.freshness(source)),
        ("daily_rows_csv (on click, not cached)", lambda f: costs.daily_rows_csv(source, f)),
    ]
    results = []
    for name, query in queries:
        st.cache_data.clear()
        st.cache_resource.clear()
        serving.summary(source)
        cold = timed(lambda query=query: query(sel))
        changed = timed(lambda query=query: query(other))
        cached = timed(lambda query=query: query(other))
        results.append((name, cold, changed, cached))
    st.cache_data.clear()
    st.cache_resource.clear()
    summary_cold = timed(lambda: serving.summary(source))
    results.insert(0, ("summary (once per published file)", summary_cold, 0.0, 0.0))
    return results


def bench_pages(changes: int) -> dict[str, dict[str, float]]:
    """Per page: cold load, warm reload, and the median of `changes` filter changes."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from dashboard.data import serving

    source, summary = serving.open_marts()
    assert summary.last_date is not None
    last = summary.last_date
    accounts = serving.filter_options(source)["sub_account_id"].drop_duplicates().tolist()
    # each change is a selection not seen before on that page: a cache miss
    filter_changes: list[Callable[[AppTest], Any]] = [
        lambda at: at.multiselect(key="filter_providers").set_value(["AWS"]),
        lambda at: at.date_input(key="filter_period").set_value((last - timedelta(days=59), last)),
        lambda at: at.radio(key="filter_cost_basis").set_value("effective"),
        lambda at: at.radio(key="filter_charges").set_value("usage"),
        lambda at: at.multiselect(key="filter_accounts").set_value(accounts[:2]),
        lambda at: at.multiselect(key="filter_providers").set_value(["Azure"]),
        lambda at: at.date_input(key="filter_period").set_value((last - timedelta(days=6), last)),
    ][:changes]

    results: dict[str, dict[str, float]] = {}
    for page in PAGES:
        st.cache_data.clear()
        st.cache_resource.clear()
        at = AppTest.from_file(APP, default_timeout=300)
        if page == "overview":
            cold = timed(at.run)
        else:
            at.run()
            st.cache_data.clear()
            st.cache_resource.clear()
            cold = timed(lambda at=at, page=page: at.switch_page(f"app_pages/{page}.py").run())
        assert not at.exception, [e.value for e in at.exception]
        warm = timed(at.run)
        change_times = []
        for change in filter_changes:
            change(at)
            change_times.append(timed(at.run))
            assert not at.exception, [e.value for e in at.exception]
        results[page] = {
            "cold": cold,
            "warm": warm,
            "change_median": statistics.median(change_times),
            "change_max": max(change_times),
        }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows", type=int, default=10_000_000, help="fct_daily_costs rows (default 10M)"
    )
    parser.add_argument("--days", type=int, default=365, help="days of data (default 365)")
    parser.add_argument(
        "--folder", type=Path, default=Path("/tmp/finops_bench"), help="FINOPS_HOME of the bench"
    )
    parser.add_argument(
        "--reuse", action="store_true", help="reuse the warehouse already in --folder"
    )
    parser.add_argument("--shuffle", action="store_true", help="store the rows in random order")
    parser.add_argument(
        "--changes", type=int, default=5, help="filter changes timed per page (max 7)"
    )
    args = parser.parse_args(argv)

    serving = args.folder / "data" / "finops_serving.duckdb"
    if not (args.reuse and serving.exists()):
        build(args.folder, args.rows, args.days, shuffle=args.shuffle)
    for name in [n for n in os.environ if n.startswith("FINOPS_")]:
        del os.environ[name]
    os.environ["FINOPS_HOME"] = str(args.folder)
    sys.path.insert(0, str(REPO))

    with duckdb.connect(str(serving), read_only=True) as con:
        (rows,) = con.execute("select count(*) from marts.fct_daily_costs").fetchone()
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    print(
        f"\nfct_daily_costs: {rows:,} rows · {os.cpu_count()} CPU(s), load average {load} "
        f"(1, 5, 15 min) · duckdb {duckdb.__version__}"
    )

    print("\nData layer (dashboard.data), seconds")
    print("  cold = first query after a publish; new filter = another selection; cached = again")
    print(f"  {'query':40s} {'cold':>8s} {'new filter':>11s} {'cached':>8s}")
    for name, cold, changed, cached in bench_data_layer():
        print(f"  {name:40s} {cold:8.3f} {changed:11.3f} {cached:8.4f}")

    print("\nPages (AppTest script run, server side), seconds")
    print(
        f"  {'page':12s} {'cold load':>10s} {'warm':>8s} {'filter change median':>22s} {'max':>8s}"
    )
    for page, figures in bench_pages(args.changes).items():
        print(
            f"  {page:12s} {figures['cold']:10.3f} {figures['warm']:8.3f} "
            f"{figures['change_median']:22.3f} {figures['change_max']:8.3f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
