"""The monthly Cost Explorer budget (FINOPS_AWS_MONTHLY_API_BUDGET_USD, issue #20).

Cost Explorer bills USD 0.01 per request, per calendar month (UTC). Every load that sends
Cost Explorer requests - `aws_cost_explorer` and the purchase recommendations of
`aws_recommendations` - records its requests and their cost on its ledger row, failed loads
included (`raw.load_ledger.api_requests` / `api_cost_usd`). Before a load makes any request,
`request_allowance` sums what this month's rows recorded and turns what is left of the monthly
budget into a number of requests: the load's hard cap becomes the smaller of that and
FINOPS_AWS_MAX_REQUESTS (the per-load cap), and its refusals name the setting that bound it.
A month whose budget is spent lets no load start: the source fails with a message saying what
was spent and when the budget renews, the other sources run (a partial run, exit 3).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import duckdb

from loaders import warehouse
from loaders.aws_cost_explorer.client import (
    BUDGET_SETTING,
    CE_REQUEST_COST_USD,
    RequestBudgetExceeded,
)

log = logging.getLogger("finops.aws_cost_explorer")

MONTHLY_BUDGET_SETTING = "FINOPS_AWS_MONTHLY_API_BUDGET_USD"
# The ledger sources whose requests Cost Explorer bills.
BILLED_SOURCES = ("aws_cost_explorer", "aws_recommendations")


@dataclass(frozen=True)
class Allowance:
    """How many requests a load may make, and which setting says so."""

    requests: int
    setting: str
    month_to_date_usd: Decimal | None = None  # None: no monthly budget set


def month_to_date_cost(db_path: Path, now: datetime) -> Decimal:
    """USD of Cost Explorer requests the ledger records since the 1st of `now`'s month (UTC),
    every billed source, failed loads included. 0 for a warehouse without a ledger yet."""
    first = datetime(now.year, now.month, 1)
    if not Path(db_path).exists():
        return Decimal(0)
    with warehouse.writer_lock(Path(db_path), timeout_s=60):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            if not warehouse.table_exists(con, "raw", "load_ledger"):
                return Decimal(0)
            marks = ", ".join("?" * len(BILLED_SOURCES))
            (spent,) = con.execute(
                "select coalesce(sum(api_cost_usd), 0) from raw.load_ledger "
                f"where source in ({marks}) and started_at >= ?",
                [*BILLED_SOURCES, first],
            ).fetchone()
        finally:
            con.close()
    return Decimal(spent)


def _next_month(day: date) -> date:
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def request_allowance(
    db_path: Path, max_requests: int, monthly_budget_usd: Decimal | None, now: datetime
) -> Allowance:
    """The requests one load may make: FINOPS_AWS_MAX_REQUESTS, or fewer when the monthly
    budget has less left. Raises RequestBudgetExceeded (no request made) when the month's
    budget cannot pay for one more request."""
    if monthly_budget_usd is None:
        return Allowance(max_requests, BUDGET_SETTING)
    spent = month_to_date_cost(db_path, now)
    left = monthly_budget_usd - spent
    affordable = int((left / CE_REQUEST_COST_USD).to_integral_value(ROUND_FLOOR)) if left > 0 else 0
    if affordable <= 0:
        raise RequestBudgetExceeded(
            f"the monthly Cost Explorer budget is spent: USD {spent:.2f} of "
            f"{MONTHLY_BUDGET_SETTING}={monthly_budget_usd} this month (since "
            f"{now:%Y-%m}-01, UTC), so no request was made. It renews on "
            f"{_next_month(now.date())}; raise {MONTHLY_BUDGET_SETTING} to load before."
        )
    log.info(
        "Cost Explorer: USD %.2f of the monthly budget USD %s spent; this load may make %d "
        "request(s)",
        spent,
        monthly_budget_usd,
        min(affordable, max_requests),
    )
    if affordable < max_requests:
        return Allowance(affordable, MONTHLY_BUDGET_SETTING, spent)
    return Allowance(max_requests, BUDGET_SETTING, spent)
