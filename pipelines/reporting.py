"""What a run reports: facts read from the published marts, the run summary that the text
report, the execution history and the webhook share, and the text report itself."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from finops.settings import Settings
from loaders import registry, warehouse

# The run's loads from the dbt model of every landed row (one row per cost measure), in
# the extract's own column names, in the order the warehouse holds them (each source's rows
# together, by load): no sort - the first run's extract is the whole history, and sorting it
# took 18 of 25 s and 9 GB of memory at 10M raw rows, where streaming it takes 7 s and little
# memory. Sort or filter it when reading (`sort -t, -k1,1`, DuckDB, a spreadsheet).
RAW_EXTRACT_SQL = """
select
    charge_date as date, provider_name as provider, x_source as source, scope,
    sub_account_id as account_id, sub_account_name as account_name, service_name as service,
    x_region_name as region, x_charge_type as charge_type, x_cost_type as cost_type, cost,
    billing_currency as currency, is_estimated as estimated, load_id
from intermediate.int_landed_cost_rows_unpivoted
where load_id in (select load_id from wanted)
"""


def copy_raw_extract(con: duckdb.DuckDBPyConnection, load_ids: list[str], target: Path) -> None:
    """Write the landed rows of the given loads as one CSV (each cost measure a row; FOCUS
    rows carry the provider as the file named it), read from the dbt model
    int_landed_cost_rows_unpivoted."""
    con.execute("create or replace temp table wanted (load_id varchar)")
    if load_ids:
        con.executemany("insert into wanted values (?)", [[i] for i in load_ids])
    con.execute(f"copy ({RAW_EXTRACT_SQL}) to '{target}' (format csv, header true)")
    con.execute("drop table wanted")


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[dict]:
    cursor = con.execute(sql, params or [])
    columns = [d[0] for d in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


CENT = Decimal("0.01")
RECENT_DAYS = 7  # anomalies "of the last 7 days" = charge dates after max(charge_date) - 7
# Commitments ending within 30, 60 or 90 days of the warehouse's last charge date: the
# report and the webhook group them by the first horizon they fall in.
EXPIRY_HORIZONS = (30, 60, 90)
MAX_REPORT_LINES = 10  # per anomaly or commitment list of the text report
# fct_cost_kpis' rate-optimization KPIs (month to date, amortized: the same on both bases)
RATE_KPIS = (
    "mtd_commitment_utilization",
    "mtd_commitment_coverage",
    "mtd_effective_savings_rate",
    "mtd_unused_commitment_cost",
)


def low_utilization_days(con: duckdb.DuckDBPyConnection, threshold: float) -> list[dict]:
    """The commitment days of the last RECENT_DAYS (the anomalies' period: charge dates after
    max(charge_date) of fct_daily_costs - 7) whose utilization is below `threshold`, one per
    row of marts.fct_commitment_utilization, the largest unused cost (reporting currency)
    first. A day with nothing to judge (utilization null) is no alert."""
    return _rows(
        con,
        f"""
        select charge_date, provider_name, commitment_discount_id, commitment_discount_name,
               commitment_discount_type, utilization, billing_currency, used_cost,
               unused_cost, reporting_currency, unused_cost_reporting
        from marts.fct_commitment_utilization
        where charge_date > (select max(charge_date) from marts.fct_daily_costs) - {RECENT_DAYS}
          and utilization < ?
        order by unused_cost_reporting desc, charge_date, provider_name, commitment_discount_id
        """,
        [threshold],
    )


def expiring_commitments(con: duckdb.DuckDBPyConnection) -> list[dict]:
    """The commitments of marts.dim_commitment_discounts ending within the last horizon
    (days_to_expiry 0 .. 90: days from the warehouse's last charge date to end_date), soonest
    first. Unknown end dates (null) and commitments already ended (negative) are left out."""
    return _rows(
        con,
        """
        select provider_name, commitment_discount_id, commitment_discount_name,
               commitment_discount_type, end_date, days_to_expiry
        from marts.dim_commitment_discounts
        where days_to_expiry between 0 and ?
        order by days_to_expiry, provider_name, commitment_discount_id
        """,
        [EXPIRY_HORIZONS[-1]],
    )


def new_opportunities(con: duckdb.DuckDBPyConnection, min_savings: Decimal) -> list[dict]:
    """The savings opportunities of marts.fct_optimization_opportunities first seen in the
    last RECENT_DAYS (first_seen after max(charge_date) of fct_daily_costs - 7: a rule's
    first charge date, a provider recommendation's first snapshot), still open and counted
    (duplicate_of null: the same saving reported again is not listed twice), whose monthly
    estimate in the reporting currency is at least `min_savings`
    (FINOPS_OPPORTUNITY_MIN_SAVINGS), the largest first. None when the serving copy was
    published before the mart existed."""
    if not warehouse.table_exists(con, "marts", "fct_optimization_opportunities"):
        return []
    return _rows(
        con,
        f"""
        select opportunity_id, source, provider_name, sub_account_id, resource_id,
               service_name, category, action, first_seen, billing_currency,
               estimated_monthly_savings, reporting_currency,
               estimated_monthly_savings_reporting
        from marts.fct_optimization_opportunities
        where status = 'open' and duplicate_of is null
          and first_seen > (select max(charge_date) from marts.fct_daily_costs) - {RECENT_DAYS}
          and estimated_monthly_savings_reporting >= ?
        order by estimated_monthly_savings_reporting desc, first_seen, opportunity_id
        """,
        [min_savings],
    )


def providers_of_source(source: str) -> tuple[str, ...]:
    """The providers a configured source stands for (a 'files' source can hold any: its
    loads name theirs, see `scope_providers` in the facts)."""
    return registry.source(source).providers if source in registry.BY_NAME else ()


def provider_of_load(load: dict[str, Any], facts: dict[str, Any]) -> str:
    """The provider a landed load stands for, as the marts name it (fct_load_freshness, per
    source and scope: the ledger's provider_name column, normalised by dbt); '?' when the
    scope is not there."""
    return facts.get("scope_providers", {}).get(f"{load['source']} {load['scope']}", "?")


def gather_facts(
    con: duckdb.DuckDBPyConnection,
    reporting_currency: str,
    utilization_alert: float = Settings.utilization_alert,
    opportunity_min_savings: Decimal = Settings.opportunity_min_savings,
) -> dict[str, Any]:
    """Totals, KPIs, recent anomalies, commitment alerts (utilization below
    `utilization_alert`, FINOPS_UTILIZATION_ALERT; commitments about to end), new savings
    opportunities (FINOPS_OPPORTUNITY_MIN_SAVINGS) and load freshness from the published
    marts."""
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
    total_reporting, as_of = con.execute(
        "select coalesce(sum(billed_cost_reporting), 0), max(charge_date) "
        "from marts.fct_daily_costs"
    ).fetchone()
    kpis = _rows(
        con,
        "select * from marts.fct_cost_kpis where cost_basis = 'billed' order by provider_scope",
    )
    recent = _rows(
        con,
        f"""
        select charge_date, provider_name, sub_account_name, service_name, actual_cost,
               expected_cost, z_score, direction, cost_impact
        from marts.fct_cost_anomalies
        where charge_date > (select max(charge_date) from marts.fct_daily_costs) - {RECENT_DAYS}
        order by abs(cost_impact) desc, charge_date, provider_name, service_name
        """,
    )
    recent_totals = _rows(
        con,
        f"""
        select charge_date, provider_scope, actual_cost, expected_cost, z_score, direction,
               cost_impact
        from marts.fct_cost_total_anomalies
        where charge_date > (select max(charge_date) from marts.fct_daily_costs) - {RECENT_DAYS}
        order by abs(cost_impact) desc, charge_date, provider_scope
        """,
    )
    freshness: list[dict[str, Any]] = []
    scope_providers: dict[str, str] = {}
    if warehouse.table_exists(con, "marts", "fct_load_freshness"):  # the dashboard's freshness mart
        freshness = _rows(
            con,
            """
            select provider_name, source_name, scope, last_attempt_status, last_attempt_at,
                   last_succeeded_at, latest_charge_date, last_error_message
            from marts.fct_load_freshness order by provider_name, source_name, scope
            """,
        )
        scope_providers = {
            f"{row['source_name']} {row['scope']}": row["provider_name"] for row in freshness
        }
    return {
        "reporting_currency": reporting_currency,
        "as_of_date": str(as_of) if as_of else None,
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
        "recent_total_anomalies": recent_totals,
        "utilization_alert": utilization_alert,
        "low_utilization_days": low_utilization_days(con, utilization_alert),
        "expiring_commitments": expiring_commitments(con),
        "opportunity_min_savings": opportunity_min_savings,
        "new_opportunities": new_opportunities(con, opportunity_min_savings),
        "freshness": freshness,
        "scope_providers": scope_providers,
    }


def _money(value: Any, currency: str) -> str:
    if value is None:
        return "n/a"
    return f"{currency} {Decimal(value):,.2f}"


def _z(value: Any) -> str:
    return "n/a (flat)" if value is None else f"{float(value):.1f}"


def _percent(ratio: Any) -> str:
    return "n/a" if ratio is None else percent(float(ratio))


def _amount(value: Any) -> str | None:
    return None if value is None else str(round(Decimal(value), 2))


def anomaly_items(facts: dict[str, Any]) -> list[dict[str, Any]]:
    """The recent anomalies (service series and totals) as plain records, largest first."""
    items = [
        {
            "kind": "service",
            "charge_date": str(a["charge_date"]),
            "provider": a["provider_name"],
            "sub_account": a["sub_account_name"],
            "service": a["service_name"],
            "direction": a["direction"],
            "actual_cost": _amount(a["actual_cost"]),
            "expected_cost": _amount(a["expected_cost"]),
            "z_score": None if a["z_score"] is None else round(float(a["z_score"]), 2),
            "cost_impact": _amount(a["cost_impact"]),
        }
        for a in facts["recent_anomalies"]
    ] + [
        {
            "kind": "total",
            "charge_date": str(a["charge_date"]),
            "provider": a["provider_scope"],
            "sub_account": None,
            "service": None,
            "direction": a["direction"],
            "actual_cost": _amount(a["actual_cost"]),
            "expected_cost": _amount(a["expected_cost"]),
            "z_score": None if a["z_score"] is None else round(float(a["z_score"]), 2),
            "cost_impact": _amount(a["cost_impact"]),
        }
        for a in facts["recent_total_anomalies"]
    ]
    return sorted(
        items,
        key=lambda i: (-abs(Decimal(i["cost_impact"] or 0)), i["charge_date"], i["kind"]),
    )


def commitment_alerts(facts: dict[str, Any]) -> dict[str, Any]:
    """The commitment alerts as plain records: the threshold, the low-utilization days
    (utilization as a ratio, amounts as exact decimal strings in the billing currency and the
    reporting currency) and the commitments about to end grouped by horizon (30, 60, 90
    days; each commitment in the first horizon it falls in, every horizon listed)."""
    low = [
        {
            "charge_date": str(d["charge_date"]),
            "provider": d["provider_name"],
            "commitment_id": d["commitment_discount_id"],
            "commitment_name": d["commitment_discount_name"],
            "commitment_type": d["commitment_discount_type"],
            "utilization": float(d["utilization"]),
            "currency": d["billing_currency"],
            "used_cost": _amount(d["used_cost"]),
            "unused_cost": _amount(d["unused_cost"]),
            "reporting_currency": d["reporting_currency"],
            "unused_cost_reporting": _amount(d["unused_cost_reporting"]),
        }
        for d in facts["low_utilization_days"]
    ]
    groups: dict[int, list[dict[str, Any]]] = {horizon: [] for horizon in EXPIRY_HORIZONS}
    for c in facts["expiring_commitments"]:
        horizon = next(h for h in EXPIRY_HORIZONS if c["days_to_expiry"] <= h)
        groups[horizon].append(
            {
                "provider": c["provider_name"],
                "commitment_id": c["commitment_discount_id"],
                "commitment_name": c["commitment_discount_name"],
                "commitment_type": c["commitment_discount_type"],
                "end_date": str(c["end_date"]),
                "days_to_expiry": c["days_to_expiry"],
            }
        )
    return {
        "utilization_threshold": facts["utilization_alert"],
        "low_utilization_days": low,
        "expiring": [
            {"from_days": previous + 1, "within_days": horizon, "commitments": groups[horizon]}
            for previous, horizon in zip((-1, *EXPIRY_HORIZONS), EXPIRY_HORIZONS, strict=False)
        ],
    }


def opportunity_items(facts: dict[str, Any]) -> dict[str, Any]:
    """The new savings opportunities as plain records (amounts as exact decimal strings in
    the billing and the reporting currency) with the threshold they passed."""
    return {
        "min_savings": str(facts["opportunity_min_savings"]),
        "opportunities": [
            {
                "opportunity_id": o["opportunity_id"],
                "source": o["source"],
                "provider": o["provider_name"],
                "sub_account_id": o["sub_account_id"],
                "resource_id": o["resource_id"],
                "service": o["service_name"],
                "category": o["category"],
                "action": o["action"],
                "first_seen": str(o["first_seen"]),
                "currency": o["billing_currency"],
                "estimated_monthly_savings": _amount(o["estimated_monthly_savings"]),
                "reporting_currency": o["reporting_currency"],
                "estimated_monthly_savings_reporting": _amount(
                    o["estimated_monthly_savings_reporting"]
                ),
            }
            for o in facts["new_opportunities"]
        ],
    }


def opportunity_text(o: dict[str, Any]) -> str:
    """One new opportunity in a line: what to do, where, and the monthly estimate."""
    where = " ".join(part for part in (o["provider"], o["sub_account_id"]) if part)
    estimate = f"{o['currency']} {Decimal(o['estimated_monthly_savings']):,.2f}"
    if o["currency"] != o["reporting_currency"]:
        estimate += (
            f" ({o['reporting_currency']} {Decimal(o['estimated_monthly_savings_reporting']):,.2f})"
        )
    return f"{o['category']}, {where}: {o['action']} - {estimate} a month [{o['source']}]"


def commitment_label(c: dict[str, Any]) -> str:
    """A commitment as people know it: its type, its name and its id (what the provider's
    console shows), whichever are known."""
    name, cid, kind = c["commitment_name"], c["commitment_id"], c["commitment_type"]
    label = f"{name} ({cid})" if name and name != cid else cid
    return f"{kind} {label}" if kind else label


def percent(ratio: float) -> str:
    return f"{ratio * 100:.1f}%"


def unused_text(d: dict[str, Any]) -> str:
    """The unused amount of a low-utilization day in its billing currency, and in the
    reporting currency when that is another."""
    text = f"{d['currency']} {Decimal(d['unused_cost']):,.2f}"
    if d["reporting_currency"] != d["currency"]:
        text += f" ({d['reporting_currency']} {Decimal(d['unused_cost_reporting']):,.2f})"
    return text


def expiry_heading(group: dict[str, Any]) -> str:
    return f"in {group['from_days']}-{group['within_days']} days"


def anomalies_above(summary: dict[str, Any], min_impact: Decimal) -> list[dict[str, Any]]:
    """The summary's anomalies whose |cost impact| is at least `min_impact`."""
    return [a for a in summary["anomalies"] if abs(Decimal(a["cost_impact"] or 0)) >= min_impact]


LOAD_FIELDS = (
    "source",
    "raw_table",
    "scope",
    "window_start",
    "window_end",
    "row_count",
    "replaced_row_count",
    "api_requests",
    "api_cost_usd",
    "api_retries",
    "load_id",
)


def run_summary(
    run_date: date,
    settings: Settings,
    markers: dict[str, Any],
    facts: dict[str, Any],
    failed_loads: list[dict[str, Any]],
) -> dict[str, Any]:
    """One run in plain JSON-able values: what the report, the history and the webhook say.

    `markers["loads"]` are the markers of the loads that landed, `failed_loads` the records
    of the loads that failed in this run (failure isolation); status is `partial` when any
    failed. Amounts are strings (exact decimals), per billing currency - never added across
    currencies except as the reporting-currency conversion.
    """
    loads = [load for marker in markers["loads"] for load in marker["loads"]]
    cur = settings.reporting_currency
    data_through: dict[str, str] = {}
    for t in facts["totals_by_provider_currency"]:
        data_through[t["provider"]] = max(t["last_date"], data_through.get(t["provider"], ""))
    failed_providers = {
        provider: failure
        for failure in failed_loads
        for provider in providers_of_source(failure["source"])
    }
    providers: list[dict[str, Any]] = []
    names = sorted(
        {p for s in settings.sources for p in providers_of_source(s)}
        | {provider_of_load(load, facts) for load in loads}
        | set(data_through)
    )
    for name in names:
        mine = [load for load in loads if provider_of_load(load, facts) == name]
        failure = failed_providers.get(name)
        providers.append(
            {
                "provider": name,
                "status": "failed" if failure else ("loaded" if mine else "not loaded"),
                "rows_loaded": sum(load["row_count"] for load in mine),
                "rows_replaced": sum(load["replaced_row_count"] for load in mine),
                "api_requests": sum(load["api_requests"] for load in mine)
                + (failure or {}).get("api_requests", 0),
                "api_cost_usd": str(
                    (
                        sum((Decimal(load["api_cost_usd"]) for load in mine), Decimal("0"))
                        + Decimal((failure or {}).get("api_cost_usd", "0"))
                    ).quantize(CENT)
                ),
                "data_through": data_through.get(name),
                "error": (failure or {}).get("error"),
            }
        )
    durations = {m["task"]: m["duration_s"] for m in markers["loads"]}
    durations.update({f["task"]: f["duration_s"] for f in failed_loads})
    durations.update(
        {name: markers[name]["duration_s"] for name in ("dbt_build", "export", "prune")}
    )
    anomalies = anomaly_items(facts)
    requests = sum(p["api_requests"] for p in providers)
    api_cost = sum((Decimal(p["api_cost_usd"]) for p in providers), Decimal("0"))
    return {
        "run_date": run_date.isoformat(),
        "backfill_since": markers["dbt_build"].get("since"),
        "status": "partial" if failed_loads else "succeeded",
        "sources": list(settings.sources),
        "failed_sources": [f["source"] for f in failed_loads],
        "failed_loads": [
            {
                key: f.get(key)
                for key in (
                    "source",
                    "error",
                    "failed_at",
                    "window_start",
                    "window_end",
                    "ledger_load_ids",
                    "api_requests",
                    "api_cost_usd",
                )
            }
            for f in failed_loads
        ],
        "providers": providers,
        # api_retries: 0 for a load recorded before the loaders counted them
        "loads": [
            {key: load.get(key, 0) if key == "api_retries" else load[key] for key in LOAD_FIELDS}
            for load in loads
        ],
        "api_requests": requests,
        "api_retries": sum(int(load.get("api_retries", 0)) for load in loads),
        "api_cost_usd": str(api_cost.quantize(CENT)),
        "dbt": markers["dbt_build"].get("counts", {}),
        "dbt_elapsed_s": markers["dbt_build"].get("elapsed_s"),
        "source_freshness": markers["dbt_build"].get("source_freshness", {}),
        "exported_files": len(markers["export"]["files"]),
        "export_destination": markers["export"]["destination"],
        "pruned": len(markers["prune"]["removed"]),
        "retention_days": markers["prune"]["retention_days"],
        "reporting_currency": cur,
        "as_of_date": facts.get("as_of_date"),
        "totals_by_provider_currency": facts["totals_by_provider_currency"],
        "total_reporting": facts["total_reporting"],
        "anomalies_last_7_days": len(facts["recent_anomalies"]),
        "total_anomalies_last_7_days": len(facts["recent_total_anomalies"]),
        "anomalies": anomalies,
        "commitment_alerts": commitment_alerts(facts),
        "new_opportunities": opportunity_items(facts),
        "durations_s": durations,
        "duration_s": round(sum(durations.values()), 2),
    }


def commitment_report_lines(summary: dict[str, Any]) -> list[str]:
    """The report's commitment alerts: the low-utilization days of the last 7 days, and the
    commitments ending within 30 / 60 / 90 days, each list cut at MAX_REPORT_LINES."""
    alerts = summary["commitment_alerts"]
    low = alerts["low_utilization_days"]
    lines = [
        "",
        f"Commitment days below {percent(alerts['utilization_threshold'])} utilization in the "
        f"last 7 days: {len(low)}",
    ]
    for d in low[:MAX_REPORT_LINES]:
        lines.append(
            f"  {d['charge_date']} {d['provider']:<6} {commitment_label(d)}: utilization "
            f"{percent(d['utilization'])}, unused {unused_text(d)}"
        )
    if len(low) > MAX_REPORT_LINES:
        lines.append(
            f"  ... and {len(low) - MAX_REPORT_LINES} more (marts.fct_commitment_utilization)"
        )
    groups = alerts["expiring"]
    counts = ", ".join(f"{expiry_heading(g)}: {len(g['commitments'])}" for g in groups)
    total = sum(len(g["commitments"]) for g in groups)
    lines.append(
        f"Commitments ending within {groups[-1]['within_days']} days of the last charge date "
        f"({summary['as_of_date'] or 'n/a'}): {total} ({counts})"
    )
    for group in groups:
        if not group["commitments"]:
            continue
        lines.append(f"  {expiry_heading(group)}:")
        for c in group["commitments"][:MAX_REPORT_LINES]:
            lines.append(
                f"    {c['provider']:<6} {commitment_label(c)}: ends {c['end_date']} "
                f"(in {c['days_to_expiry']} days)"
            )
        if len(group["commitments"]) > MAX_REPORT_LINES:
            lines.append(
                f"    ... and {len(group['commitments']) - MAX_REPORT_LINES} more "
                "(marts.dim_commitment_discounts)"
            )
    return lines


def api_month_lines(summary: dict[str, Any]) -> list[str]:
    """The month's API requests and cost per source (every run of the month, from the load
    ledger), and what is left of the monthly Cost Explorer budget."""
    month = summary.get("api_month_to_date") or []
    if not month:
        return []
    lines = [f"  API requests this month ({month[0]['month']}, UTC, every run):"]
    for row in month:
        lines.append(
            f"    {row['source']:<21} {row['api_requests']:>6} requests in {row['loads']} "
            f"load(s), USD {Decimal(row['api_cost_usd']):.2f}, {row.get('api_retries', 0)} "
            "retried (throttled)"
        )
    budget = summary.get("monthly_api_budget")
    if budget is not None:
        lines.append(
            f"    {budget['setting']}={budget['budget_usd']}: USD {budget['spent_usd']} spent, "
            f"USD {budget['left_usd']} left"
        )
    return lines


def render_report(summary: dict[str, Any], facts: dict[str, Any]) -> str:
    """The text report of one run (logs/report_YYYYMMDD.txt and reports/ in the export)."""
    cur = summary["reporting_currency"]
    since = summary["backfill_since"]
    status = summary["status"].upper()
    lines = [
        f"FinOps daily report - run date {summary['run_date']}"
        + (f" (backfill since {since})" if since else ""),
        "=" * 60,
    ]
    if summary["failed_loads"]:
        failed = ", ".join(summary["failed_sources"])
        lines.append(
            f"Status: {status} - the load of {failed} failed; the other sources were loaded "
            "and the marts keep the failed provider's last good data (rerun the date once "
            "the fault is fixed)"
        )
    else:
        lines.append(f"Status: {status}")
    lines += [f"Sources: {', '.join(summary['sources'])}", ""]
    lines.append("Loads (replace by source, scope and window):")
    for load in summary["loads"]:
        lines.append(
            f"  {load['source']:<21} {load['scope']:<50} "
            f"[{load['window_start']} .. {load['window_end']}) rows={load['row_count']} "
            f"replaced={load['replaced_row_count']} api_requests={load['api_requests']} "
            f"retried={load['api_retries']}"
        )
    for failure in summary["failed_loads"]:
        lines.append(
            f"  {failure['source']:<21} FAILED [{failure['window_start']} .. "
            f"{failure['window_end']}): {failure['error']}"
        )
        if failure.get("ledger_load_ids"):
            lines.append(f"  {'':<21} failed ledger rows: {', '.join(failure['ledger_load_ids'])}")
    lines += [
        f"  API requests: {summary['api_requests']}, API cost: USD "
        f"{Decimal(summary['api_cost_usd']):.2f}, refused and retried (throttled): "
        f"{summary.get('api_retries', 0)}",
        *api_month_lines(summary),
        "",
        "Providers:",
    ]
    for p in summary["providers"]:
        state = p["status"].upper() if p["status"] == "failed" else p["status"]
        lines.append(
            f"  {p['provider']:<6} {state:<10} rows loaded {p['rows_loaded']:>8,}  "
            f"API requests {p['api_requests']:>4} (USD {Decimal(p['api_cost_usd']):.2f})  "
            f"data through {p['data_through'] or 'n/a'}"
        )
    lines += ["", "Totals by provider and billing currency (never added across currencies):"]
    for t in summary["totals_by_provider_currency"]:
        lines.append(
            f"  {t['provider']:<6} {t['currency']}  billed {Decimal(t['billed_cost']):>16,.2f}  "
            f"effective {Decimal(t['effective_cost']):>16,.2f}  ({t['first_date']} .. {t['last_date']})"
        )
    lines.append(f"  All providers in {cur}: {_money(summary['total_reporting'], cur)}")
    lines += ["", f"KPIs (billed, {cur}):"]
    for k in facts["kpis"]:
        change = k["last_7d_change_pct"]
        change_txt = "n/a" if change is None else f"{float(change):+.1f}%"
        lines.append(
            f"  {k['provider_scope']:<6} total {_money(k['total_cost'], cur)}, "
            f"avg/day {_money(k['avg_daily_cost'], cur)}, last 7d {_money(k['last_7d_cost'], cur)} "
            f"({change_txt} vs previous 7d), MTD {_money(k['mtd_cost'], cur)}, as of {k['as_of_date']}"
        )
    measured = [k for k in facts["kpis"] if any(k[c] is not None for c in RATE_KPIS)]
    if measured:
        lines += ["", f"Rate optimization, month to date (amortized, {cur}):"]
    for k in measured:
        lines.append(
            f"  {k['provider_scope']:<6} utilization {_percent(k['mtd_commitment_utilization'])}, "
            f"coverage {_percent(k['mtd_commitment_coverage'])}, "
            f"ESR {_percent(k['mtd_effective_savings_rate'])}, "
            f"unused commitment {_money(k['mtd_unused_commitment_cost'], cur)}"
        )
    lines += ["", f"Anomalies in the last 7 days: {len(facts['recent_anomalies'])}"]
    for a in facts["recent_anomalies"][:MAX_REPORT_LINES]:
        lines.append(
            f"  {a['charge_date']} {a['provider_name']:<6} {a['sub_account_name'] or '':<20} "
            f"{a['service_name']:<40} {a['direction']:<5} actual {_money(a['actual_cost'], cur)} "
            f"expected {_money(a['expected_cost'], cur)} z={_z(a['z_score'])} "
            f"impact {_money(a['cost_impact'], cur)}"
        )
    lines.append(
        f"Total anomalies in the last 7 days (AWS, Azure, All): "
        f"{len(facts['recent_total_anomalies'])}"
    )
    for a in facts["recent_total_anomalies"][:MAX_REPORT_LINES]:
        lines.append(
            f"  {a['charge_date']} {a['provider_scope']:<6} {a['direction']:<5} "
            f"actual {_money(a['actual_cost'], cur)} expected {_money(a['expected_cost'], cur)} "
            f"z={_z(a['z_score'])} impact {_money(a['cost_impact'], cur)}"
        )
    lines += commitment_report_lines(summary)
    new = summary["new_opportunities"]
    found = new["opportunities"]
    lines += [
        "",
        f"New savings opportunities (first seen in the last 7 days, at least "
        f"{_money(new['min_savings'], cur)} a month): {len(found)}",
    ]
    lines += [f"  {opportunity_text(o)}" for o in found[:MAX_REPORT_LINES]]
    if len(found) > MAX_REPORT_LINES:
        lines.append(
            f"  ... and {len(found) - MAX_REPORT_LINES} more (marts.fct_optimization_opportunities)"
        )
    stale = [f for f in facts.get("freshness", []) if f["last_attempt_status"] == "failed"]
    if stale:
        lines += ["", "Stale data (last load attempt failed; marts hold the last good load):"]
        for f in stale:
            lines.append(
                f"  {f['provider_name']:<6} {f['scope']:<50} last success "
                f"{f['last_succeeded_at'] or 'never'}, data through {f['latest_charge_date']}"
            )
    lines += [
        "",
        f"dbt build: {summary['dbt']} in {summary['dbt_elapsed_s']}s",
        "Source freshness: "
        + (", ".join(f"{k} {v}" for k, v in summary["source_freshness"].items()) or "n/a"),
        f"Exports: {summary['exported_files']} files to {summary['export_destination']}",
        f"Pruned (older than {summary['retention_days']} days): "
        f"{summary['pruned']} date folders/objects",
        "Durations: "
        + ", ".join(f"{name} {seconds}s" for name, seconds in summary["durations_s"].items())
        + f" (total {summary['duration_s']}s)",
    ]
    return "\n".join(lines) + "\n"
