"""Ask Cost Explorer only for what may have changed (pure, no I/O).

A daily run reloads its restatement window (the previous month and the current one to date),
which yesterday's run already loaded: usually one day is new and a few recent days were
restated. Asking for the whole window at full grain every day costs the same requests (USD
0.01 each) as the first load. So a load starts with one cheap **totals pass**
(`totals_request`): a DAILY query over the window grouped by RECORD_TYPE and REGION, with the
three metrics of the full-grain queries. Its cells - day x record type x region: unblended
cost, amortized cost, usage quantity - are compared with the same sums of the rows the
warehouse holds for the scope (`changed_cells`). A cell that is new, that vanished, or
whose sums moved by more than `TOLERANCE` has changed; a day whose Estimated flag flipped has
not (the flag is per day and is taken from the totals pass).

Full-grain queries (`slice_request`) follow only for the changed cells: one DAILY query per
(record type, region) slice over each run of its changed days (runs closer than
`MERGE_GAP_DAYS` days merged: the days between cost empty periods, a second query costs a
request), Filter RECORD_TYPE and REGION, GroupBy LINKED_ACCOUNT and SERVICE. The rest of the
window is kept as stored, so the load still replaces the whole window in one transaction and
the marts see exactly what a full reload would have landed.

Why the slices pin record type and region: GroupBy takes two dimensions and the raw grain has
four besides the day, so every query pins two with its Filter and groups by the other two; the
number of queries is the number of distinct pinned pairs among the changed cells. An
organisation has a handful of record types and a few regions whatever its number of
accounts, so (record type, region) pairs do not grow with the accounts, where (account,
record type) pairs - the older scheme, one query each - grow linearly with them. The rows
(groups) are the same either way. The totals pass itself is account-free for the same reason:
a few pages for 16 accounts or 300.

Region values that are not a region code (`NoRegion` for tax and fees, `global`) are
filtered on as Cost Explorer writes them in the group keys, which are its REGION dimension
values (GetDimensionValues lists them, the console filters on them). This is checked
against the emulator only, not against the live service: should a live endpoint refuse such
a filter, the load fails with its ValidationException (nothing landed) and
`FINOPS_AWS_CHANGE_DETECTION=off` does not help (the slices pin the region either way).

What a totals check cannot see: a change that moves cost between accounts or services of the
same record type, region and day leaving all three sums equal to within `TOLERANCE`.
`FINOPS_AWS_CHANGE_DETECTION=off` (or a purge of the window) makes a load ask for everything.
Months whose bill is final are covered by the same check: a closed month is asked for again
only when its totals moved.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from loaders.aws_cost_explorer.mapping import QUERY_METRICS, _metric, _parse_day
from loaders.stored_window import MERGE_GAP_DAYS, runs

TOTALS_GROUP_BY = ("RECORD_TYPE", "REGION")
SLICE_GROUP_BY = ("LINKED_ACCOUNT", "SERVICE")
# Sums that differ by less than this are equal: Cost Explorer's coarser groups are sums of the
# finer ones, but rounding at its 10 decimals may differ in the last places.
TOLERANCE = Decimal("0.000001")

Cell = tuple[date, str, str]  # (day, record type, region)
Sums = tuple[Decimal, Decimal, Decimal]  # (unblended, amortized, usage quantity)


@dataclass(frozen=True)
class Slice:
    """One full-grain query: a (record type, region) slice over the days [start, end)."""

    record_type: str
    region: str
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days


def _time_period(start: date, end: date) -> dict[str, str]:
    return {"Start": start.isoformat(), "End": end.isoformat()}


def _equals(key: str, value: str) -> dict[str, Any]:
    return {"Dimensions": {"Key": key, "Values": [value], "MatchOptions": ["EQUALS"]}}


def totals_request(start: date, end: date, *, monthly: bool = False) -> dict[str, Any]:
    """The totals pass: DAILY sums per record type and region over the window (`monthly`:
    MONTHLY sums, which only say which slices have cost - a first load's discovery)."""
    return {
        "TimePeriod": _time_period(start, end),
        "Granularity": "MONTHLY" if monthly else "DAILY",
        "Metrics": list(QUERY_METRICS),
        "GroupBy": [{"Type": "DIMENSION", "Key": key} for key in TOTALS_GROUP_BY],
    }


def slice_request(piece: Slice) -> dict[str, Any]:
    """The full-grain DAILY query of one (record type, region) slice."""
    return {
        "TimePeriod": _time_period(piece.start, piece.end),
        "Granularity": "DAILY",
        "Filter": {
            "And": [_equals("RECORD_TYPE", piece.record_type), _equals("REGION", piece.region)]
        },
        "Metrics": list(QUERY_METRICS),
        "GroupBy": [{"Type": "DIMENSION", "Key": key} for key in SLICE_GROUP_BY],
    }


def totals_cells(
    pages: Sequence[Mapping[str, Any]],
) -> tuple[dict[Cell, Sums], dict[date, bool]]:
    """The cells of the totals pass (every group counts, zero or not) and each day's
    Estimated flag. Raises ValueError naming the page, ResultsByTime index and group of a
    malformed answer."""
    cells: dict[Cell, Sums] = {}
    estimated: dict[date, bool] = {}
    for number, page in enumerate(pages):
        definitions = page.get("GroupDefinitions")
        if definitions:
            keys = [str(d.get("Key")) for d in definitions]
            if keys != list(TOTALS_GROUP_BY):
                raise ValueError(
                    f"totals page {number} is grouped by {keys}, expected {list(TOTALS_GROUP_BY)}"
                )
        for index, result in enumerate(page.get("ResultsByTime") or []):
            where_day = f"totals page {number} ResultsByTime[{index}]"
            day = _parse_day((result.get("TimePeriod") or {}).get("Start"), where_day)
            estimated[day] = estimated.get(day, False) or bool(result.get("Estimated", False))
            for group in result.get("Groups") or []:
                keys = [str(key) for key in group.get("Keys") or []]
                where = f"{where_day} group Keys={keys}"
                if len(keys) != 2 or not keys[0]:
                    raise ValueError(f"{where}: not a (RECORD_TYPE, REGION) pair")
                metrics = group.get("Metrics") or {}
                unblended, _ = _metric(metrics, "UnblendedCost", where, required=True)
                amortized, _ = _metric(metrics, "AmortizedCost", where, required=True)
                quantity, _ = _metric(metrics, "UsageQuantity", where, required=False)
                cell = (day, keys[0], keys[1])
                before = cells.get(cell, (Decimal(0), Decimal(0), Decimal(0)))
                cells[cell] = (
                    before[0] + (unblended or 0),
                    before[1] + (amortized or 0),
                    before[2] + (quantity or 0),
                )
    return cells, estimated


def changed_cells(
    remote: Mapping[Cell, Sums], stored: Mapping[Cell, Sums], tolerance: Decimal = TOLERANCE
) -> set[Cell]:
    """The cells to ask for again: new ones, vanished ones and those whose sums moved."""
    changed = set(remote.keys() ^ stored.keys())
    for cell in remote.keys() & stored.keys():
        if any(abs(a - b) > tolerance for a, b in zip(remote[cell], stored[cell], strict=True)):
            changed.add(cell)
    return changed


def plan_slices(changed: Iterable[Cell], merge_gap: int = MERGE_GAP_DAYS) -> list[Slice]:
    """The full-grain queries that cover the changed cells, sorted (a stable request order)."""
    days_of: dict[tuple[str, str], set[date]] = {}
    for day, record_type, region in changed:
        days_of.setdefault((record_type, region), set()).add(day)
    return [
        Slice(record_type, region, start, end)
        for (record_type, region), days in sorted(days_of.items())
        for start, end in runs(days, merge_gap)
    ]


def days_of(cells: Iterable[Cell], record_types: Iterable[str] | None = None) -> set[date]:
    """The days of `cells` (only those of `record_types`, when given)."""
    wanted = None if record_types is None else set(record_types)
    return {day for day, record_type, _ in cells if wanted is None or record_type in wanted}
