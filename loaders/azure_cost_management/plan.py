"""`finops run --plan` for Cost Management: the requests a run would make, without making any.

From the warehouse alone (no token, no request): for each scope earlier loads landed
(`_scope`), the window's stored rows say which (query type, subscription, charge type) pairs
the newest stored day had, and which days of the run's window are new. The **expected**
requests are those of a day on which nothing but the new days changed (the usual daily run,
`changes`): with the window check (FINOPS_AZURE_WINDOW_CHECK, on by default where the details
come from reports) one window totals query per query type and one report per query type of
the recent days' pairs (`changes.recent_start`); without it a totals query per month and query
type, one detail query per pair of the
newest day, the pricing query of each subscription with amortized usage and the benefit
queries of its committed usage and benefit charge types, one tag query per configured key,
query type and subscription, and one Cost Details report (create, polls, a blob) when
FINOPS_AZURE_PRICE_DETAILS is on. With FINOPS_AZURE_DETAILS_FROM_REPORTS on (the default;
not at a management group) the detail, pricing and benefit queries are replaced by one
report per query type of the newest day's pairs (the AmortizedCost one shared with prices).
**At most** is the full scheme over the whole window (every stored pair of every month
asked again: what `FINOPS_AZURE_CHANGE_DETECTION=off` or a restatement of every day costs).
The subscription and benefits lists (a few requests a run) come on top. The Query API
charges nothing; what a plan is for here is the quota: every query counts against the
ClientType's QueriesPerHour (some hundreds an hour).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import duckdb

from loaders.azure_cost_management import mapping
from loaders.azure_cost_management.changes import REPORT_REQUESTS, day_of, recent_start
from loaders.azure_cost_management.client import WINDOW_CHECK_MAX_DAYS
from loaders.azure_cost_management.loader import SOURCE, uses_report_details
from loaders.azure_cost_management.source import CostManagementConfig
from loaders.azure_cost_management.stored import StoredScope, read_stored
from loaders.registry import RunWindow
from loaders.request_plan import ScopePlan, landed_scopes


@dataclass(frozen=True)
class Plan:
    """What a run's load of the source would ask for, per scope."""

    source: str
    window: tuple[date, date]
    scopes: list[ScopePlan] = field(default_factory=list)

    def lines(self) -> list[str]:
        start, end = self.window
        head = f"azure ({SOURCE}) [{start}, {end}):"
        if not self.scopes:
            return [
                f"{head} no earlier load in the warehouse to plan from; a first load asks per "
                "scope, month and query type a discovery query and one query per "
                "(subscription, charge type) pair it finds, the pricing, benefit and tag "
                "queries, and a Cost Details report a month (free of charge; they count "
                "against the Cost Management query quota)"
            ]
        lines = []
        for plan in self.scopes:
            lines.append(
                f"{head} {plan.scope}: expected {plan.expected} requests for "
                f"{plan.new_days} new day(s): {plan.made_of}; at most {plan.at_most} if every "
                "day of the window changed"
            )
        total = sum(p.expected for p in self.scopes)
        lines.append(
            f"azure: expected {total} requests in all (+ the subscription and benefits lists), "
            "free of charge; they count against the ClientType's query quota "
            "(FINOPS_AZURE_CLIENT_TYPE; paced within FINOPS_AZURE_MAX_WAIT_SECONDS)"
        )
        subscriptions = [p for p in self.scopes if _is_subscription(p.scope)]
        checked = [p for p in subscriptions if "window totals queries" in p.parts]
        if len(subscriptions) > 1 and len(checked) == len(subscriptions):
            # each subscription scope checks its own window: the floor of a daily run
            each = len(mapping.QUERY_TYPES)
            lines.append(
                f"azure: the {len(subscriptions)} subscription scopes ask "
                f"{len(subscriptions) * each} window totals queries a run ({each} each: one a "
                "query type), more when a day older than the recent days changed; one billing "
                "account, billing profile or enrollment scope above them "
                "(FINOPS_AZURE_SCOPES=/providers/Microsoft.Billing/billingAccounts/<id>) "
                f"would ask {each} for all of them"
            )
        elif len(subscriptions) > 1:
            # each subscription scope checks its own totals: the floor of a daily run
            totals = len(mapping.month_chunks(start, end)) * len(mapping.QUERY_TYPES)
            lines.append(
                f"azure: the {len(subscriptions)} subscription scopes ask "
                f"{len(subscriptions) * totals} totals queries a run ({totals} each: "
                f"{len(mapping.QUERY_TYPES)} query types x the window's months); one billing "
                "account, billing profile or enrollment scope above them "
                "(FINOPS_AZURE_SCOPES=/providers/Microsoft.Billing/billingAccounts/<id>) "
                f"would ask {totals} for all of them"
            )
        return lines


def _is_subscription(scope: str) -> bool:
    """Whether `scope` is a whole subscription's (not a resource group, not a billing scope)."""
    parts = [part for part in scope.lower().split("/") if part]
    return len(parts) == 2 and parts[0] == "subscriptions"


def _asks(stored: StoredScope, where: str) -> list[tuple[int, str, str, str, bool]]:
    """(month as YYYYMM, query type, subscription, charge type, committed) of the stored
    pairs of the days `where` picks; committed: the pair is amortized Usage with stored
    reservation / savings plan benefit rows."""
    with duckdb.connect() as mem:
        mem.register("costs", stored.costs)
        mem.register("commitments", stored.commitments)
        return mem.execute(
            f"""
            select distinct c.usage_date // 100, c.query_type, c.subscription_id,
                c.charge_type,
                exists (
                    select 1 from commitments b
                    where b.breakdown = '{mapping.BREAKDOWN_BENEFIT}'
                        and b.query_type = c.query_type and b.subscription_id = c.subscription_id
                        and b.charge_type = c.charge_type
                        and b.usage_date // 100 = c.usage_date // 100
                )
            from costs c where {where}
            order by all
            """
        ).fetchall()


def _queries(asks: list[tuple[int, str, str, str, bool]], tag_keys: int) -> dict[str, int]:
    """The detail, pricing, benefit and tag queries of `asks` (one per pair and month)."""
    benefit_types = {(qt, ct) for qt, types in mapping.BENEFIT_CHARGE_TYPES.items() for ct in types}
    amortized_usage = [a for a in asks if (a[1], a[3]) == ("AmortizedCost", "Usage")]
    return {
        "detail queries": len(asks),
        "pricing queries": len(amortized_usage),
        "benefit queries": sum(1 for a in amortized_usage if a[4])
        + sum(1 for a in asks if (a[1], a[3]) in benefit_types),
        "tag queries": tag_keys * len({(a[0], a[1], a[2]) for a in asks}),
    }


def plan_scope(
    db_path: Path,
    scope: str,
    start: date,
    end: date,
    tag_keys: tuple[str, ...],
    price_details: bool = True,
    details_from_reports: bool = True,
    window_check: bool = True,
) -> ScopePlan:
    """The expected and worst-case requests of one scope's load of [start, end)."""
    stored = read_stored(db_path, SOURCE, scope, start, end)
    days = stored.costs.column("usage_date").to_pylist()
    last = day_of(max(days)) if days else start - timedelta(days=1)
    new_days = max((end - last).days - 1, 0)
    months = len(mapping.month_chunks(start, end))
    totals = months * len(mapping.QUERY_TYPES)
    newest = _asks(stored, f"c.usage_date = {int(last.strftime('%Y%m%d'))}") if new_days else []
    parts = {"totals queries": totals, **_queries(newest, len(tag_keys))}
    reports = {"AmortizedCost"} if new_days and price_details else set()
    from_reports = uses_report_details(scope, details_from_reports)
    checked = from_reports and window_check and (end - start).days <= WINDOW_CHECK_MAX_DAYS
    if from_reports:
        # the detail, pricing and benefit rows from one report per query type with asks
        reports |= {query_type for _, query_type, _, _, _ in newest}
        for name in ("detail queries", "pricing queries", "benefit queries"):
            parts.pop(name)
    if checked:
        # the window check: one query per query type; the recent days always from the reports
        parts = {"window totals queries": len(mapping.QUERY_TYPES), **parts}
        parts.pop("totals queries")
        recent = recent_start(days, start, end).strftime("%Y%m%d")
        reports |= {
            query_type for _, query_type, _, _, _ in _asks(stored, f"c.usage_date >= {recent}")
        }
    if reports:
        parts["cost details requests"] = REPORT_REQUESTS * len(reports)
    everything = _queries(_asks(stored, "true"), len(tag_keys))
    at_most = totals + sum(everything.values()) + (REPORT_REQUESTS * months if price_details else 0)
    if checked:
        at_most += len(mapping.QUERY_TYPES) + REPORT_REQUESTS * len(mapping.QUERY_TYPES)
    return ScopePlan(scope, new_days, {k: v for k, v in parts.items() if v}, at_most)


def plan_for_run(config: CostManagementConfig, window: RunWindow) -> Plan:
    """The plan of a run's load (`finops run --plan`): no request is made."""
    assert window.start is not None and window.end is not None
    return Plan(
        source=SOURCE,
        window=(window.start, window.end),
        scopes=[
            plan_scope(
                window.db_path,
                scope,
                window.start,
                window.end,
                config.allocation_tags,
                config.price_details,
                config.details_from_reports,
                config.window_check,
            )
            for scope in landed_scopes(window.db_path, "azure_cost_management", SOURCE)
        ],
    )
