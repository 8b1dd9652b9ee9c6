"""The facts a run reports, read from the published marts, and the text report itself."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from finops.settings import Settings

RAW_EXTRACT_SQL = """
select * from (
    select
        time_period_start as date, 'AWS' as provider, _source as source, _scope as scope,
        linked_account_id as account_id, linked_account_name as account_name, service, region,
        record_type as charge_type, 'UnblendedCost' as cost_type, unblended_cost as cost,
        unblended_cost_unit as currency, estimated, _load_id as load_id
    from raw.aws_cost_explorer where _load_id in (select load_id from wanted)
    union all
    select
        time_period_start, 'AWS', _source, _scope, linked_account_id, linked_account_name,
        service, region, record_type, 'AmortizedCost', amortized_cost, amortized_cost_unit,
        estimated, _load_id
    from raw.aws_cost_explorer where _load_id in (select load_id from wanted)
    union all
    select
        strptime(cast(usage_date as varchar), '%Y%m%d')::date, 'Azure', _source, _scope,
        subscription_id, subscription_name, service_name, resource_location, charge_type,
        query_type, cost, currency, null, _load_id
    from raw.azure_cost_management where _load_id in (select load_id from wanted)
)
order by date, provider, account_id, service, region, charge_type, cost_type
"""


def copy_raw_extract(con: duckdb.DuckDBPyConnection, load_ids: list[str], target: Path) -> None:
    """Write the raw rows of the given loads as one CSV (both cost types for AWS rows)."""
    con.execute("create or replace temp table wanted (load_id varchar)")
    if load_ids:
        con.executemany("insert into wanted values (?)", [[i] for i in load_ids])
    con.execute(f"copy ({RAW_EXTRACT_SQL}) to '{target}' (format csv, header true)")
    con.execute("drop table wanted")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def gather_facts(con: duckdb.DuckDBPyConnection, reporting_currency: str) -> dict[str, Any]:
    totals = _rows(
        con,
        """
        select provider_name, billing_currency,
               sum(billed_cost) as billed_cost, sum(effective_cost) as effective_cost,
               min(charge_date) as first_date, max(charge_date) as last_date, count(*) as rows
        from marts.fct_daily_costs
        group by all order by all
        """,
    )
    total_reporting = con.execute(
        "select coalesce(sum(billed_cost_reporting), 0) from marts.fct_daily_costs"
    ).fetchone()[0]
    kpis = _rows(
        con,
        "select * from marts.fct_cost_kpis where cost_basis = 'billed' order by provider_scope",
    )
    recent = _rows(
        con,
        """
        select charge_date, provider_name, sub_account_name, service_name, actual_cost,
               expected_cost, z_score, direction, cost_impact
        from marts.fct_cost_anomalies
        where charge_date > (select max(charge_date) from marts.fct_daily_costs) - 7
        order by abs(cost_impact) desc
        """,
    )
    return {
        "reporting_currency": reporting_currency,
        "totals_by_provider_currency": [
            {
                "provider": t["provider_name"],
                "currency": t["billing_currency"],
                "billed_cost": str(round(t["billed_cost"], 2)),
                "effective_cost": str(round(t["effective_cost"], 2)),
                "first_date": str(t["first_date"]),
                "last_date": str(t["last_date"]),
                "rows": t["rows"],
            }
            for t in totals
        ],
        "total_reporting": str(round(Decimal(total_reporting), 2)),
        "kpis": kpis,
        "recent_anomalies": recent,
    }


def _money(value: Any, currency: str) -> str:
    if value is None:
        return "n/a"
    return f"{currency} {Decimal(value):,.2f}"


def render_report(
    run_date: date, settings: Settings, markers: dict[str, Any], facts: dict[str, Any]
) -> str:
    cur = facts["reporting_currency"]
    since = markers["dbt_build"].get("since")
    lines = [
        f"FinOps daily report - run date {run_date.isoformat()}"
        + (f" (backfill since {since})" if since else ""),
        "=" * 60,
        f"Sources: {', '.join(settings.sources)}",
        "",
        "Loads (replace by source, scope and window):",
    ]
    requests = 0
    cost = Decimal("0")
    for marker in markers["loads"]:
        for load in marker["loads"]:
            requests += load["api_requests"]
            cost += Decimal(load["api_cost_usd"])
            lines.append(
                f"  {load['source']:<10} {load['scope']:<50} "
                f"[{load['window_start']} .. {load['window_end']}) rows={load['row_count']} "
                f"replaced={load['replaced_row_count']} api_requests={load['api_requests']}"
            )
    lines += [f"  API requests: {requests}, API cost: USD {cost:.2f}", ""]
    lines.append("Totals by provider and billing currency (never added across currencies):")
    for t in facts["totals_by_provider_currency"]:
        lines.append(
            f"  {t['provider']:<6} {t['currency']}  billed {Decimal(t['billed_cost']):>16,.2f}  "
            f"effective {Decimal(t['effective_cost']):>16,.2f}  ({t['first_date']} .. {t['last_date']})"
        )
    lines.append(f"  All providers in {cur}: {_money(facts['total_reporting'], cur)}")
    lines += ["", f"KPIs (billed, {cur}):"]
    for k in facts["kpis"]:
        change = k["last_7d_change_pct"]
        change_txt = "n/a" if change is None else f"{float(change):+.1f}%"
        lines.append(
            f"  {k['provider_scope']:<6} total {_money(k['total_cost'], cur)}, "
            f"avg/day {_money(k['avg_daily_cost'], cur)}, last 7d {_money(k['last_7d_cost'], cur)} "
            f"({change_txt} vs previous 7d), MTD {_money(k['mtd_cost'], cur)}, as of {k['as_of_date']}"
        )
    lines += ["", f"Anomalies in the last 7 days: {len(facts['recent_anomalies'])}"]
    for a in facts["recent_anomalies"][:10]:
        lines.append(
            f"  {a['charge_date']} {a['provider_name']:<6} {a['sub_account_name'] or '':<20} "
            f"{a['service_name']:<40} {a['direction']:<5} actual {_money(a['actual_cost'], cur)} "
            f"expected {_money(a['expected_cost'], cur)} z={float(a['z_score']):.1f} "
            f"impact {_money(a['cost_impact'], cur)}"
        )
    dbt = markers["dbt_build"]
    lines += [
        "",
        f"dbt build: {dbt.get('counts', {})} in {dbt.get('elapsed_s')}s",
        "Source freshness: "
        + (", ".join(f"{k} {v}" for k, v in dbt.get("source_freshness", {}).items()) or "n/a"),
        f"Exports: {len(markers['export']['files'])} files to {markers['export']['destination']}",
        f"Pruned (older than {markers['prune']['retention_days']} days): "
        f"{len(markers['prune']['removed'])} date folders/objects",
    ]
    return "\n".join(lines) + "\n"
