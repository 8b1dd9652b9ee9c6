"""A seeded, deterministic estate whose costs come out exactly as the real APIs answer.

`generate()` builds, for a half-open window, the answers Cost Explorer and the Cost
Management Query API would give the real loaders' query schemes (loaders/aws_cost_explorer/
changes.py, loaders/azure_cost_management/mapping.py): the Cost Explorer totals pass and
slice queries' GetCostAndUsage pages linked by NextPageToken, Query API pages linked by
nextLink. The simulated source then goes through the same mappings and
the same `warehouse.replace_window` as the real ones, so everything downstream (dbt, the
dashboard, restatement) is exercised on real shapes.

How a daily amount is made
--------------------------
Every random number is a hash of (seed, what it is for, series, day) - no global RNG state,
so any day of any series can be computed alone and the same inputs always give the same
bytes. A Usage series' final amount on a day is

    level x log-normal(seed, series) x growth(1-3 %/month since 2024-01-01)
          x weekend factor (dev/staging much lower) x noise(~6 %) x anomaly factor

and the other record/charge types derive from it (tax and support on the 1st of the month
from the month's usage, Savings Plan and reservation splits, credits, refunds). Anomalies
sit on a calendar grid - one slot every 20 days per provider, anchored on 2024-01-01 - so a
day's value does not depend on the window it is loaded in, and every 180-day window holds
7-8 of them per provider.

Restatement: relative to `as_of`, a day of age 0-3 is not final yet - Cost Explorer flags it
`Estimated` and both providers report `final x (1 - 0.04 x (4 - age) / 4)`; from age 4 on the
amount is final. Days after `as_of` have no data yet. Loading a window again with a later
`as_of` therefore restates exactly the recent days.

The cost model is in cost_model.py; the two API renderers in aws_answers.py and
azure_answers.py; this module puts them together for one window.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from loaders.simulated import catalog
from loaders.simulated.aws_answers import AWS_PAGE_DAYS, aws_answers
from loaders.simulated.azure_answers import (
    AZURE_PAGE_ROWS,
    azure_answers,
    azure_commitment_answers,
    azure_reservations_list,
)
from loaders.simulated.cost_model import CostModel, days_between


@dataclass(frozen=True)
class SimulatedBatch:
    """What the real APIs would have answered the loaders' queries for one window.

    aws_totals_pages: the pages of the MONTHLY totals pass (grouped by RECORD_TYPE, REGION)
        with which the real loader's first load finds the slices of the window.
    aws_queries: (GetCostAndUsage request, its response pages), one per (record type, region)
        slice, grouped by LINKED_ACCOUNT and SERVICE (with the accounts' names).
    azure_queries: (scope, query_type, fixed columns, response pages), one per
        (subscription, query type, charge type).
    azure_commitment_queries: (scope, query_type, breakdown, fixed columns, response pages)
        of the commitment queries (a pricing query per subscription, the benefit queries of
        the reservation's subscription).
    azure_reservations: the reservations list's answer (the savings plans list is empty).
    """

    start: date
    end: date
    as_of: date
    seed: int
    aws_scope: str
    aws_totals_pages: list[dict[str, Any]]
    aws_queries: list[tuple[dict[str, Any], list[dict[str, Any]]]]
    azure_queries: list[tuple[str, str, dict[str, str], list[dict[str, Any]]]]
    azure_commitment_queries: list[tuple[str, str, str, dict[str, str], list[dict[str, Any]]]] = (
        field(default_factory=list)
    )
    azure_reservations: dict[str, Any] = field(default_factory=dict)
    aws_page_days: int = AWS_PAGE_DAYS
    azure_page_rows: int = AZURE_PAGE_ROWS

    @property
    def aws_requests(self) -> int:
        """Billed Cost Explorer requests (USD 0.01 each) the real loader's first load of the
        window would have made (a later load asks for less: `request_scheme.aws_requests`): its
        totals pass and slice queries, and, when the estate has savings plan
        record types, one GetSavingsPlansUtilizationDetails request per day of the window and
        one GetSavingsPlansCoverage query (a page)."""
        savings_plans = any(
            "SavingsPlan" in str(request.get("Filter")) for request, _ in self.aws_queries
        )
        return (
            len(self.aws_totals_pages)
            + sum(len(p) for _, p in self.aws_queries)
            + ((self.end - self.start).days + 1) * savings_plans
        )

    @property
    def azure_scopes(self) -> list[str]:
        return list(dict.fromkeys(scope for scope, _, _, _ in self.azure_queries))

    def azure_requests(self, scope: str) -> int:
        """Query API requests (pages) the real loader's first load of the window would have
        made for `scope` (`request_scheme.azure_requests`): per month its discovery, detail and
        commitment queries, and on the first scope the two benefits lists (read once)."""
        from loaders.simulated import loader, request_scheme

        return request_scheme.azure_requests(
            self,
            loader.azure_rows(self, scope),
            loader.azure_commitment_rows(self, scope),
            None,
            lists=scope == self.azure_scopes[0] and bool(self.azure_reservations),
        )


def generate(
    start: date,
    end: date,
    *,
    as_of: date,
    seed: int = 42,
    aws_page_days: int = AWS_PAGE_DAYS,
    azure_page_rows: int = AZURE_PAGE_ROWS,
) -> SimulatedBatch:
    """The API answers for the half-open window [start, end) as they would read on `as_of`.

    Days after `as_of` have no data yet. The same arguments always give equal batches.
    """
    if end <= start:
        raise ValueError(f"empty window [{start}, {end})")
    if aws_page_days < 1 or azure_page_rows < 1:
        raise ValueError("page sizes must be positive")
    model = CostModel(seed=seed, as_of=as_of)
    days = list(days_between(start, min(end, as_of + timedelta(days=1))))
    totals_pages, aws_queries = aws_answers(model, start, end, days, aws_page_days)
    return SimulatedBatch(
        start=start,
        end=end,
        as_of=as_of,
        seed=seed,
        aws_scope=catalog.AWS_PAYER_ACCOUNT_ID,
        aws_totals_pages=totals_pages,
        aws_queries=aws_queries,
        azure_queries=azure_answers(model, days, start, azure_page_rows),
        azure_commitment_queries=azure_commitment_answers(model, days, start, azure_page_rows),
        azure_reservations=azure_reservations_list(as_of),
        aws_page_days=aws_page_days,
        azure_page_rows=azure_page_rows,
    )
