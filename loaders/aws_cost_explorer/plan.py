"""`finops run --plan` for Cost Explorer: the requests a run would make, without making any.

From the warehouse alone (no API call, not even STS): for each payer account earlier loads
landed (`_scope`), the window's stored cells say which (record type, region) slices the
newest stored day had, and which days of the run's window are new. The **expected** requests
are those of a day on which nothing but the new days changed (the usual daily run): the
totals pass (`DAYS_PER_PAGE_ESTIMATE` days a page), one full-grain query per slice of the
newest day over the run of new days, the savings plan days and the reservation and coverage
queries those new days need, and one tag query per configured key and account of the newest
day. **At most** is the worst case the loader itself holds against FINOPS_AWS_MAX_REQUESTS
before any request: every slice over the whole window, plus every commitment day and tag
query. A restatement lands between the two; a warehouse without an earlier load of this
source has no estate to plan from (the plan says so: its first load makes a MONTHLY totals
pass, then one query per slice found, over the window).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb

from loaders.aws_cost_explorer import commitments
from loaders.aws_cost_explorer.budget import MONTHLY_BUDGET_SETTING, month_to_date_cost
from loaders.aws_cost_explorer.client import request_cost
from loaders.aws_cost_explorer.loader import (
    DAYS_PER_PAGE_ESTIMATE,
    SOURCE,
    estimate_requests,
    known_estate,
)
from loaders.aws_cost_explorer.source import CostExplorerConfig
from loaders.aws_cost_explorer.stored import read_stored
from loaders.registry import RunWindow
from loaders.request_plan import ScopePlan, landed_scopes


@dataclass(frozen=True)
class Plan:
    """What a run's load of the source would ask for, per scope, and the month's budget."""

    source: str
    window: tuple[date, date]
    scopes: list[ScopePlan] = field(default_factory=list)
    month_to_date_usd: Decimal = Decimal(0)
    monthly_budget_usd: Decimal | None = None

    def lines(self) -> list[str]:
        start, end = self.window
        head = f"aws ({SOURCE}) [{start}, {end}):"
        if not self.scopes:
            lines = [
                f"{head} no earlier load in the warehouse to plan from; a first load makes a "
                "MONTHLY totals pass, then one DAILY query per (record type, region) slice "
                "with cost over the whole window, the savings plans' days, and the tag "
                "queries (USD 0.01 each; FINOPS_AWS_MAX_REQUESTS caps it)"
            ]
        else:
            lines = []
            for plan in self.scopes:
                lines.append(
                    f"{head} payer {plan.scope}: expected {plan.expected} requests "
                    f"(USD {request_cost(plan.expected):.2f}) for {plan.new_days} new day(s): "
                    f"{plan.made_of}; at most {plan.at_most} "
                    f"(USD {request_cost(plan.at_most):.2f}) "
                    "if every day of the window changed"
                )
        budget = (
            f"{MONTHLY_BUDGET_SETTING}={self.monthly_budget_usd}: USD "
            f"{max(self.monthly_budget_usd - self.month_to_date_usd, Decimal(0)):.2f} left"
            if self.monthly_budget_usd is not None
            else f"no {MONTHLY_BUDGET_SETTING}"
        )
        lines.append(
            f"aws: Cost Explorer this month (UTC): USD {self.month_to_date_usd:.2f} spent; {budget}"
        )
        return lines


def _pages(days: int) -> int:
    return max(1, math.ceil(days / DAYS_PER_PAGE_ESTIMATE))


def plan_scope(
    db_path: Path, scope: str, start: date, end: date, tag_keys: tuple[str, ...]
) -> ScopePlan:
    """The expected and worst-case requests of one payer account's load of [start, end)."""
    stored = read_stored(db_path, SOURCE, scope, start, end)
    cells = stored.cells()
    last = max((day for day, _, _ in cells), default=start - timedelta(days=1))
    new_days = max((end - last).days - 1, 0)
    newest = {(rt, region) for day, rt, region in cells if day == last}
    record_types = {rt for rt, _ in newest}
    operations = commitments.needed_operations(record_types)
    accounts = set()
    if tag_keys and new_days:
        with duckdb.connect() as mem:
            mem.register("costs", stored.costs)
            accounts = {
                account
                for (account,) in mem.execute(
                    "select distinct linked_account_id from costs where time_period_start = ?",
                    [last],
                ).fetchall()
            }
    ri_services = 0
    if commitments.RESERVATIONS_COVERAGE in operations:
        with duckdb.connect() as mem:
            mem.register("costs", stored.costs)
            ri_services = mem.execute(
                "select count(distinct service) from costs where record_type = 'DiscountedUsage'"
            ).fetchone()[0]
    asked = 1 if new_days else 0  # each new-day query covers the one run of new days
    parts = {
        "totals pass": _pages((end - start).days),
        "(record type, region) slices": len(newest) * asked,
        "savings plan days": new_days if commitments.SAVINGS_PLANS in operations else 0,
        "reservation queries": asked if commitments.RESERVATIONS in operations else 0,
        "coverage queries": asked
        * (
            int(commitments.SAVINGS_PLANS_COVERAGE in operations)
            + (ri_services if commitments.RESERVATIONS_COVERAGE in operations else 0)
        ),
        "tag queries": len(tag_keys) * len(accounts),
    }
    known, known_accounts = known_estate(db_path, scope)
    worst = estimate_requests(
        start,
        end,
        known,
        commitment_operations=tuple(operations),
        tag_keys=len(tag_keys),
        accounts=known_accounts,
    )
    return ScopePlan(scope, new_days, {k: v for k, v in parts.items() if v}, worst.requests)


def plan_for_run(config: CostExplorerConfig, window: RunWindow) -> Plan:
    """The plan of a run's load (`finops run --plan`): no request is made."""
    assert window.start is not None and window.end is not None
    scopes = [
        plan_scope(window.db_path, scope, window.start, window.end, config.allocation_tags)
        for scope in landed_scopes(window.db_path, "aws_cost_explorer", SOURCE)
    ]
    return Plan(
        source=SOURCE,
        window=(window.start, window.end),
        scopes=scopes,
        month_to_date_usd=month_to_date_cost(window.db_path, datetime.now(UTC)),
        monthly_budget_usd=config.monthly_budget_usd,
    )
