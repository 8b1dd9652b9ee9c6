"""The requests the real loaders' scheme would make for a simulated load (issue #20).

The simulated source lands every row of its window: they are the truth, so what a
change-detecting load lands (the stored rows that did not change, and the changed cells asked
for again) is the same. What differs between a first load and a daily one is what the
real loaders *ask*, and that is what the ledger's `api_requests` of a simulated load
records. It is found here by the real loaders' own planning functions, from the rows the
warehouse holds for the scope (`read_stored`) and the batch's answers:

* **Cost Explorer** (loaders/aws_cost_explorer/changes.py). A first load: the MONTHLY totals
  page, every (record type, region) slice over the window, a GetSavingsPlansUtilizationDetails
  request a day and a GetSavingsPlansCoverage query (`SimulatedBatch.aws_requests`). A load
  of a scope the warehouse holds rows of: the DAILY totals pass, then only the slices of the
  (day, record type, region) cells whose sums moved (`changes.changed_cells`,
  `changes.plan_slices`), the savings plan days among those (and those with no stored
  utilization rows), and a coverage query per run of changed usage days.
* **Cost Management** (loaders/azure_cost_management/changes.py), per calendar month (a Daily
  query covers at most 31 days). A first load: per query type a discovery query and a detail
  query per (subscription, charge type) pair with cost, the pricing query of the amortized
  Usage and the benefit queries (`mapping.benefit_queries`). A load of a scope the warehouse
  holds rows of: per query type a totals query, then, for the month's changed cells
  (`changes.changed_cells`, `changes.plan_asks`), one Cost Details report per query type
  with changed cells (FINOPS_AZURE_DETAILS_FROM_REPORTS, on by default; a report's requests
  counted as `changes.REPORT_REQUESTS`: its POST, two polls, a blob). Before those, the
  window check (FINOPS_AZURE_WINDOW_CHECK, on by default): a window totals query per query
  type and one report per query type of the recent days (`changes.recent_start`); when the
  window totals equal the stored days' and the recent days' sums (`changes.window_changed`),
  that is the whole load; else the totals queries follow, and their reports read only the
  days the window check's did not. The report lines of the
  simulation always add up to the totals, so no ask goes back to the Query API. The
  simulation has no list or contracted prices: it models FINOPS_AZURE_PRICE_DETAILS off.
  The benefits lists (reservations, savings plans) are read once a load.

Pages are the simulation's: `aws_page_days` days of ResultsByTime a Cost Explorer page,
`azure_page_rows` rows a Query API page. Requests the real loaders make besides these (the
subscriptions list, retries, throttled requests) are not modelled.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loaders.aws_cost_explorer import changes as aws_changes
from loaders.aws_cost_explorer import commitments as aws_commitments
from loaders.aws_cost_explorer.source import AWS_COST_EXPLORER
from loaders.aws_cost_explorer.stored import StoredWindow
from loaders.azure_cost_management import changes as azure_changes
from loaders.azure_cost_management import mapping as azure_mapping
from loaders.azure_cost_management.source import AZURE_COST_MANAGEMENT
from loaders.azure_cost_management.stored import TABLES as AZURE_TABLES
from loaders.azure_cost_management.stored import StoredScope
from loaders.simulated.cost_model import days_between
from loaders.stored_window import runs
from loaders.warehouse.validation import rows_to_arrow

if TYPE_CHECKING:
    from loaders.simulated.generator import SimulatedBatch

# The benefits lists a Cost Management load reads once (reservations, savings plans).
BENEFIT_LISTS = 2


def _pages(items: int, per_page: int) -> int:
    """Pages of an answer of `items` (days, rows): an empty answer is one page."""
    return max(1, math.ceil(items / per_page))


def _answered_days(batch: SimulatedBatch) -> list[date]:
    """The days an answer lists: the window's, up to `as_of` (later days have no data yet)."""
    return list(days_between(batch.start, min(batch.end, batch.as_of + timedelta(days=1))))


# ------------------------------------------------------------------ Cost Explorer


def _as_stored_aws(rows: list[dict[str, Any]]) -> StoredWindow:
    """The batch's cost rows as a load would hold them: their cells are what the DAILY
    totals pass answers (`StoredWindow.cells`)."""
    return replace(StoredWindow.empty(), costs=rows_to_arrow(AWS_COST_EXPLORER, rows))


def aws_requests(batch: SimulatedBatch, rows: list[dict[str, Any]], stored: StoredWindow) -> int:
    """The Cost Explorer requests of a load of the batch's window by the real scheme, given
    the batch's cost rows (`aws_rows`) and what the warehouse holds (`stored`)."""
    if stored.costs.num_rows == 0:
        return batch.aws_requests
    days = _answered_days(batch)
    remote = _as_stored_aws(rows).cells()
    changed = aws_changes.changed_cells(remote, stored.cells())
    slices = aws_changes.plan_slices(changed & remote.keys())
    requests = _pages(len(days), batch.aws_page_days)  # the DAILY totals pass
    requests += sum(
        _pages(sum(piece.start <= day < piece.end for day in days), batch.aws_page_days)
        for piece in slices
    )
    operations = aws_commitments.needed_operations(rt for _, rt, _ in remote)
    if aws_commitments.SAVINGS_PLANS in operations:
        types = aws_commitments.RECORD_TYPES[aws_commitments.SAVINGS_PLANS]
        missing = aws_changes.days_of(remote, types) - stored.days(
            "utilization", "commitment_kind = 'SavingsPlan'"
        )
        requests += len(aws_changes.days_of(changed, types) | missing)
    if aws_commitments.SAVINGS_PLANS_COVERAGE in operations:
        # the simulation lands no coverage rows: the days a real load would ask again are
        # those whose usage or covered usage changed
        usage = aws_changes.days_of(changed, ("Usage", "SavingsPlanCoveredUsage"))
        requests += len(runs(usage))
    return requests


# ------------------------------------------------------------------ Cost Management


def _as_stored_azure(rows: list[dict[str, Any]]) -> StoredScope:
    """The scope's cost rows as a load would hold them: their cells are what the totals
    queries answer (`StoredScope.cells`)."""
    empty = [table.arrow_schema().empty_table() for table in AZURE_TABLES]
    return replace(StoredScope(*empty), costs=rows_to_arrow(AZURE_COST_MANAGEMENT, rows))


def _month_asks(
    cells: Mapping[azure_changes.Cell, Decimal], lo: date, hi: date
) -> list[azure_changes.Ask]:
    """A first load's asks of one month: every (query type, subscription, charge type) pair
    with cost, over the whole month (what its discovery queries find)."""
    pairs = sorted({(qt, sub, charge) for qt, _, sub, charge, _ in cells})
    return [azure_changes.Ask(qt, sub, charge, lo, hi) for qt, sub, charge in pairs]


def _commitment_queries(
    asks: list[azure_changes.Ask], commitment_rows: list[dict[str, Any]], page_rows: int
) -> int:
    """The pages of the asks' pricing and benefit queries (client._fetch_commitments)."""

    def pages(ask: azure_changes.Ask, breakdown: str) -> tuple[int, set[str]]:
        lo, hi = azure_changes.usage_date(ask.start), azure_changes.usage_date(ask.end)
        found = [
            row
            for row in commitment_rows
            if row["breakdown"] == breakdown
            and row["query_type"] == ask.query_type
            and row["subscription_id"] == ask.subscription_id
            and row["charge_type"] == ask.charge_type
            and lo <= row["usage_date"] < hi
        ]
        return _pages(len(found), page_rows), {row["pricing_model"] for row in found}

    requests = 0
    committed: set[azure_changes.Ask] = set()
    for ask in asks:
        if (ask.query_type, ask.charge_type) == ("AmortizedCost", "Usage"):
            count, models = pages(ask, azure_mapping.BREAKDOWN_PRICING)
            requests += count
            if any(azure_mapping.is_committed(model) for model in models):
                committed.add(ask)
    for ask in asks:
        pair = (ask.subscription_id, ask.charge_type)
        subscriptions = [ask.subscription_id] if ask in committed else []
        if pair in azure_mapping.benefit_queries([pair], ask.query_type, subscriptions):
            requests += pages(ask, azure_mapping.BREAKDOWN_BENEFIT)[0]
    return requests


def azure_requests(
    batch: SimulatedBatch,
    rows: list[dict[str, Any]],
    commitment_rows: list[dict[str, Any]],
    stored: StoredScope | None,
    *,
    lists: bool,
) -> int:
    """The requests of a load of one subscription scope of the batch's window by the real
    scheme, given the scope's cost and commitment rows (`azure_rows`,
    `azure_commitment_rows`) and what the warehouse holds of it (`stored`; None or empty: a
    first load). `lists`: this scope's load reads the benefits lists."""
    first = stored is None or stored.costs.num_rows == 0
    remote = _as_stored_azure(rows)
    requests = BENEFIT_LISTS if lists else 0
    copy: tuple[date, date] | None = None  # the days the window check's reports read
    if not first:
        assert stored is not None
        # the window check: a query per query type (one page: a row per subscription x
        # charge type x currency), the recent days' reports; it holds unless a stored day
        # changed (the simulation's reports always hold the recent days whole)
        lo_all, hi_all = azure_changes.usage_date(batch.start), azure_changes.usage_date(batch.end)
        stored_cells = stored.cells(lo_all, hi_all)
        recent = azure_changes.recent_start({c[1] for c in stored_cells}, batch.start, batch.end)
        cut = azure_changes.usage_date(recent)
        remote_cells = remote.cells(lo_all, hi_all)
        window: dict[azure_changes.WindowKey, Decimal] = {}
        for (qt, _, sub, charge, currency), cost in remote_cells.items():
            window[(qt, sub, charge, currency)] = (
                window.get((qt, sub, charge, currency), Decimal(0)) + cost
            )
        per_type = Counter(key[0] for key in window)
        requests += sum(
            _pages(per_type[query_type], batch.azure_page_rows)
            for query_type in azure_mapping.QUERY_TYPES
        )
        if not azure_changes.window_changed(window, stored_cells, {}):
            return requests  # nothing moved, no new cost: no report is read
        recent_types = {c[0] for c in remote_cells if c[1] >= cut}
        recent_types |= {c[0] for c in stored_cells if c[1] >= cut}
        requests += azure_changes.REPORT_REQUESTS * len(recent_types)
        old = {c: v for c, v in stored_cells.items() if c[1] < cut}
        new = {c: v for c, v in remote_cells.items() if c[1] >= cut}
        if not azure_changes.window_changed(window, old, new):
            return requests
        copy = (recent, batch.end)
    for lo, hi in azure_mapping.month_chunks(batch.start, batch.end):
        lo_date, hi_date = azure_changes.usage_date(lo), azure_changes.usage_date(hi)
        month = remote.cells(lo_date, hi_date)
        per_type = Counter(cell[0] for cell in month)
        if first:
            # discovery: one page of (subscription, charge type) pairs per query type
            requests += len(azure_mapping.QUERY_TYPES)
            asks = _month_asks(month, lo, hi)
            detail = Counter(
                (row["query_type"], row["charge_type"])
                for row in rows
                if lo_date <= row["usage_date"] < hi_date
            )
            requests += sum(
                _pages(detail[(ask.query_type, ask.charge_type)], batch.azure_page_rows)
                for ask in asks
            )
            requests += _commitment_queries(asks, commitment_rows, batch.azure_page_rows)
            continue
        assert stored is not None
        # the totals queries: Daily cells per query type
        requests += sum(
            _pages(per_type[query_type], batch.azure_page_rows)
            for query_type in azure_mapping.QUERY_TYPES
        )
        changed = azure_changes.changed_cells(month, stored.cells(lo_date, hi_date))
        asks = azure_changes.plan_asks(changed & month.keys())
        for query_type in {ask.query_type for ask in asks}:
            span_lo = min(a.start for a in asks if a.query_type == query_type)
            span_hi = max(a.end for a in asks if a.query_type == query_type)
            parts = [(span_lo, span_hi)]
            if copy is not None and copy[0] < span_hi and span_lo < copy[1]:
                # the window check's report read these days: only the days around them
                parts = [(span_lo, min(span_hi, copy[0])), (max(span_lo, copy[1]), span_hi)]
            requests += azure_changes.REPORT_REQUESTS * sum(a < b for a, b in parts)
    return requests
