"""Ask the Cost Management Query API only for what may have changed (pure, no I/O).

A daily run reloads its restatement window (the previous month and the current one to date)
that yesterday's run already loaded: usually one day is new and a few recent days were
restated. The full scheme (`mapping`, "The query scheme") asks for every (subscription,
charge type) pair of every month again: about 23 queries and Cost Details requests a day
per subscription, against a quota of some hundreds of queries an hour per client type.

So a load of a scope that the warehouse already holds rows of starts with a **totals
query** per month and query type (`mapping.totals_definition`): the discovery query's
grouping (SubscriptionId x ChargeType), Daily. It costs what discovery cost (one query, a
page for a few thousand days x pairs) and its cells - query type x day x subscription x
charge type x currency: cost - are compared with the same sums of the rows the warehouse
holds (`changed_cells`). A cell that is new, that vanished, or whose cost moved by more than
`TOLERANCE` has changed.

Then, per month (`plan_asks`), only for the changed cells:

* the detail queries: one per (query type, subscription, charge type) over each run of its
  changed days (`stored_window.runs`, close runs merged), filtered and grouped as in the
  full scheme;
* the commitment queries of those asks: a pricing query for an AmortizedCost Usage ask, a
  benefit query for it when that answer shows committed usage, a benefit query for an ask
  of a benefit charge type (`mapping.benefit_queries`), each over the ask's days;
* the tag queries (`tag_asks`): per configured key, query type and subscription, over the
  days whose stored tag rows of that key no longer add up to the totals query's cost of
  the subscription's day (a key's rows add up to all its charge types): new days, restated
  days, a key configured since the last load;
* the Cost Details report (`price_days`): one per month over the span of its changed days
  and of the days with amortized cost but no stored price rows.

With FINOPS_AZURE_DETAILS_FROM_REPORTS on (the default; not at a management group) the
detail, pricing and benefit rows of the asks come instead from one Cost Details report per
query type over the span of the month's changed days (`client._details_from_reports`,
`mapping.ReportDetails`); an ask whose report sums differ from its totals cells is asked of
the Query API as above.

Cells that vanished need no query: their stored rows go. Everything else is kept as stored
(`stored.keep`), so the load still replaces the whole window in one transaction under one
ledger row, and the restatement ledger compares per-day totals as before.

The window check
----------------
A Daily query covers at most 31 days, so the totals queries of a window spanning two
months are two per query type: at 15 subscription scopes, 60 queries on a day when only a
new day came in. With FINOPS_AZURE_WINDOW_CHECK on (the default; only where the details come
from reports, as it needs them) a load first asks, per query type, one *window totals* query
(`mapping.window_totals_definition`): cost per subscription x charge type x currency over
the whole window, no day breakdown. The recent days (`recent_start`: the last `RECENT_DAYS`
stored days, which still get restated, and every day after them) are read from one Cost
Details report per query type. If every group's window total equals the sum of the older
stored days plus the reports' sum of the recent days (`window_changed`), no older day
changed and the reports hold the recent days whole: the load lands the older stored rows and
the reports' rows, two Query API queries per scope in all. With window totals equal to the
stored days' (a repeated run, no new cost yet) and every amortized day priced, no report is
read.
Any group that differs (an older day restated or refunded, a late charge, a report that
lags) sends the load on to the totals queries above, month by month, and to their changed
cells; their reports read only the days the window check's did not (its CSV is kept).

What the window check cannot see besides what a totals check cannot: cost that moves
between days of the window leaving each group's window total equal (a charge dated again
with the same amount, a day up by what another day went down). `FINOPS_AZURE_WINDOW_CHECK=off`
asks the Daily totals queries every run; a weekly run with it off bounds how long such a move
can go unseen.

What a totals check cannot see: cost that moves between services or locations of the same
subscription, charge type and day, leaving the cell's cost equal to within `TOLERANCE`
(also a change of pricing model or benefit with the same amortized cost).
`FINOPS_AZURE_CHANGE_DETECTION=off` makes every load ask for everything. A scope with no
stored rows in the window (a first load, a purge) gets the full scheme: no more queries than
before. Months whose invoice is issued are covered by the same check: a closed month costs
its totals queries and nothing more unless they moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from loaders.stored_window import runs

# Sums that differ by less than this are equal: the totals query's sums and the detail rows'
# sums (each held at 10 decimals) may differ in the last places.
TOLERANCE = Decimal("0.000001")
# The requests of a Cost Details report, as plans count them: the POST, its polls (a report
# is seldom ready at the first: two are counted; the Retry-After of each 202 sets how many),
# one blob (more for a large report).
REPORT_REQUESTS = 4

# (query type, usage date as YYYYMMDD, subscription id, charge type, currency)
Cell = tuple[str, int, str, str, str]
# (query type, subscription id, usage date) -> currency -> cost
DayTotals = dict[tuple[str, str, int], dict[str, Decimal]]


# The last stored days that a window check reads again from the Cost Details reports with
# the new ones: usage records arrive up to 72 hours late and a day's estimate settles over
# the next days, so the days a daily run finds restated are these, and their restatement
# then costs no totals query. A daily run's reports cover 5 days (these and the new one).
RECENT_DAYS = 4
# (query type, subscription id, charge type, currency): a window check's group
WindowKey = tuple[str, str, str, str]


@dataclass(frozen=True, order=True)
class Ask:
    """One detail query's subject: a (query type, subscription, charge type) over the days
    [start, end); its commitment queries cover the same days."""

    query_type: str
    subscription_id: str
    charge_type: str
    start: date
    end: date


@dataclass(frozen=True, order=True)
class TagAsk:
    """One tag query's subject: a configured key (its configured spelling), query type and
    subscription over the days [start, end)."""

    tag_key: str
    query_type: str
    subscription_id: str
    start: date
    end: date


def day_of(usage_date: int) -> date:
    return datetime.strptime(str(usage_date), "%Y%m%d").date()


def usage_date(day: date) -> int:
    return int(day.strftime("%Y%m%d"))


def changed_cells(
    remote: Mapping[Cell, Decimal],
    stored: Mapping[Cell, Decimal],
    tolerance: Decimal = TOLERANCE,
) -> set[Cell]:
    """The cells to ask for again: new ones, vanished ones and those whose cost moved."""
    changed = set(remote.keys() ^ stored.keys())
    changed |= {c for c in remote.keys() & stored.keys() if abs(remote[c] - stored[c]) > tolerance}
    return changed


def plan_asks(cells: Iterable[Cell]) -> list[Ask]:
    """The detail queries that cover `cells` (one month's changed cells that still have
    cost), sorted: a stable request order."""
    days: dict[tuple[str, str, str], set[date]] = {}
    for query_type, day, subscription_id, charge_type, _ in cells:
        days.setdefault((query_type, subscription_id, charge_type), set()).add(day_of(day))
    return sorted(
        Ask(query_type, subscription_id, charge_type, lo, hi)
        for (query_type, subscription_id, charge_type), found in days.items()
        for lo, hi in runs(found)
    )


def day_totals(cells: Mapping[Cell, Decimal]) -> DayTotals:
    """The cells summed over charge types: what each tag key's rows of a subscription's day
    add up to."""
    totals: DayTotals = {}
    for (query_type, day, subscription_id, _, currency), cost in cells.items():
        per_currency = totals.setdefault((query_type, subscription_id, day), {})
        per_currency[currency] = per_currency.get(currency, Decimal(0)) + cost
    return totals


def tag_asks(
    remote: DayTotals,
    stored_tags: Mapping[str, DayTotals],
    tag_keys: Iterable[str],
    tolerance: Decimal = TOLERANCE,
) -> tuple[list[TagAsk], set[tuple[str, str, str, int]]]:
    """The tag queries of one month: per configured key (`stored_tags` is keyed by the
    lower-cased key), the (query type, subscription) days whose stored tag sums differ from
    `remote`'s (new, restated or never tagged days); and the (lower-cased key, query type,
    subscription, usage date) days whose stored tag rows go without a query (no cost left)."""
    asks: list[TagAsk] = []
    dropped: set[tuple[str, str, str, int]] = set()
    for tag_key in tag_keys:
        stored = stored_tags.get(tag_key.lower(), {})
        wanted: dict[tuple[str, str], set[date]] = {}
        for key in remote.keys() | stored.keys():
            query_type, subscription_id, day = key
            there, here = remote.get(key, {}), stored.get(key, {})
            if there.keys() == here.keys() and all(
                abs(there[c] - here[c]) <= tolerance for c in there
            ):
                continue
            if key in remote:
                wanted.setdefault((query_type, subscription_id), set()).add(day_of(day))
            else:
                dropped.add((tag_key.lower(), query_type, subscription_id, day))
        asks += [
            TagAsk(tag_key, query_type, subscription_id, lo, hi)
            for (query_type, subscription_id), days in wanted.items()
            for lo, hi in runs(days)
        ]
    return sorted(asks), dropped


def price_span(
    changed: Iterable[Cell], remote: Mapping[Cell, Decimal], priced_days: set[int]
) -> tuple[date, date] | None:
    """The days [start, end) of one month's Cost Details report: the span of its changed
    days and of the days with amortized cost but no stored price rows (a new day, prices
    turned on since); None when there are none."""
    days = {day for _, day, _, _, _ in changed}
    days |= {day for qt, day, _, _, _ in remote if qt == "AmortizedCost"} - priced_days
    if not days:
        return None
    lo, hi = day_of(min(days)), day_of(max(days))
    return lo, date.fromordinal(hi.toordinal() + 1)


def recent_start(
    stored_days: Iterable[int], start: date, end: date, recent_days: int = RECENT_DAYS
) -> date:
    """The first day of [start, end) that a window check reads from the reports: the last
    `recent_days` stored days (YYYYMMDD) and every day after them, never before `start`."""
    last = max(stored_days, default=None)
    if last is None:
        return start
    after = min(date.fromordinal(day_of(last).toordinal() + 1), end)
    return max(start, date.fromordinal(after.toordinal() - recent_days))


def _window_key(
    query_type: str, subscription_id: str, charge_type: str, currency: str
) -> WindowKey:
    return (query_type, subscription_id.lower(), charge_type.lower(), currency)


def window_changed(
    remote: Mapping[WindowKey, Decimal],
    stored: Mapping[Cell, Decimal],
    new: Mapping[Cell, Decimal],
    tolerance: Decimal = TOLERANCE,
) -> set[WindowKey]:
    """The window check's groups (subscription and charge type lower-cased) whose `remote`
    total (the window totals query's) differs from the sum of the `stored` cells (the days
    the warehouse holds) and the `new` cells (the reports' new days) by more than
    `tolerance` per day summed. Empty: nothing stored changed and the reports hold the new
    days whole."""
    sums: dict[WindowKey, Decimal] = {}
    days: dict[WindowKey, int] = {}
    for (query_type, _, subscription_id, charge_type, currency), cost in (
        *stored.items(),
        *new.items(),
    ):
        key = _window_key(query_type, subscription_id, charge_type, currency)
        sums[key] = sums.get(key, Decimal(0)) + cost
        days[key] = days.get(key, 0) + 1
    there: dict[WindowKey, Decimal] = {}
    for (query_type, subscription_id, charge_type, currency), cost in remote.items():
        key = _window_key(query_type, subscription_id, charge_type, currency)
        there[key] = there.get(key, Decimal(0)) + cost
    return {
        key
        for key in there.keys() | sums.keys()
        if abs(there.get(key, Decimal(0)) - sums.get(key, Decimal(0)))
        > tolerance * max(1, days.get(key, 0))
    }
