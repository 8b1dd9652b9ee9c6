"""Simulated source: a deterministic multi-cloud estate landed like the real loaders land theirs.

`generate()` produces the answers Cost Explorer and the Cost Management Query API would give
(see `generator`), `load()` maps them with the real mappings and replaces the window through
the warehouse's load attempt - once for AWS (scope = the payer account) and once per Azure
subscription scope, all with `_source = 'simulated'` - so dbt, restatement and the dashboard
run on exactly the shapes real data has. `injected_anomalies()` is the ground truth for the
anomaly detector.

    python -c "from datetime import date; from pathlib import Path; import loaders.simulated as s; \\
print(s.load(Path('data/finops.duckdb'), date(2026, 1, 1), date(2026, 7, 1), as_of=date(2026, 7, 1)))"

The ledger records the requests the real loaders' scheme would have needed (`api_requests`,
`request_scheme`: a first load's, or a change-detecting load's from what the warehouse already
holds) but `api_cost_usd` 0: simulation is free. The same AWS first load against Cost Explorer
would cost `would_cost_usd(batch)` = USD 0.01 per request; the Query API has no per-request
charge.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loaders import warehouse
from loaders.aws_cost_explorer import commitments as aws_commitments
from loaders.aws_cost_explorer import mapping as aws_mapping
from loaders.aws_cost_explorer.source import AWS_COMMITMENT_UTILIZATION, AWS_COST_EXPLORER
from loaders.aws_cost_explorer.stored import read_stored as read_aws_stored
from loaders.azure_cost_management import mapping as azure_mapping
from loaders.azure_cost_management.source import (
    AZURE_COMMITMENT_COSTS,
    AZURE_COMMITMENTS,
    AZURE_COST_MANAGEMENT,
)
from loaders.azure_cost_management.stored import read_stored as read_azure_stored
from loaders.simulated import request_scheme
from loaders.simulated.aws_answers import AWS_PAGE_DAYS
from loaders.simulated.azure_answers import AZURE_PAGE_ROWS
from loaders.simulated.cost_model import InjectedAnomaly, injected_anomalies
from loaders.simulated.generator import SimulatedBatch, generate
from loaders.simulated.source import SOURCE as SPEC
from loaders.simulated.source import SimulatedConfig

if TYPE_CHECKING:
    from loaders.registry import RunWindow

__all__ = [
    "InjectedAnomaly",
    "SimulatedBatch",
    "aws_rows",
    "azure_commitment_rows",
    "azure_commitment_terms",
    "azure_rows",
    "generate",
    "injected_anomalies",
    "load",
    "would_cost_usd",
]

SOURCE = SPEC.ledger_source
CE_REQUEST_COST_USD = Decimal("0.01")


def would_cost_usd(batch: SimulatedBatch) -> Decimal:
    """What the batch's Cost Explorer requests would have cost against the real API."""
    return CE_REQUEST_COST_USD * batch.aws_requests


def aws_rows(batch: SimulatedBatch) -> list[dict[str, Any]]:
    """`raw.aws_cost_explorer` rows of a batch, mapped exactly as the real loader maps them."""
    rows: list[dict[str, Any]] = []
    for request, pages in batch.aws_queries:
        group_by = [group["Key"] for group in request["GroupBy"]]
        fixed = aws_mapping.fixed_dimensions(request.get("Filter"))
        for page in pages:
            rows.extend(aws_mapping.to_rows(page, group_by=group_by, fixed=fixed))
    return rows


# The simulated savings plan (the estate's only commitment): its answer to
# GetSavingsPlansUtilizationDetails is derived from the batch's own SavingsPlanCoveredUsage and
# SavingsPlanRecurringFee pages, so the commitment's used and unused amounts are the bill's
# to the last decimal. It ends SAVINGS_PLAN_ENDS_AFTER days after `as_of`, so the demo always
# has a commitment to renew in its expiry alerts.
SAVINGS_PLAN_ENDS_AFTER = timedelta(days=45)
SAVINGS_PLAN_TERM = timedelta(days=365)


def savings_plan_answers(batch: SimulatedBatch) -> list[tuple[date, dict[str, Any]]]:
    """(day, GetSavingsPlansUtilizationDetails page) of every day the batch's savings plan
    record types have cost: what the real loader would have asked for and been answered."""
    used: dict[date, Decimal] = {}
    unused: dict[date, Decimal] = {}
    on_demand: dict[date, Decimal] = {}
    owner = None
    for request, pages in batch.aws_queries:
        fixed = aws_mapping.fixed_dimensions(request.get("Filter"))
        record_type = fixed.get("RECORD_TYPE")
        if record_type not in ("SavingsPlanCoveredUsage", "SavingsPlanRecurringFee"):
            continue
        for page in pages:
            for result in page["ResultsByTime"]:
                day = date.fromisoformat(result["TimePeriod"]["Start"])
                for group in result["Groups"]:
                    owner = owner or group["Keys"][0]  # grouped by LINKED_ACCOUNT, SERVICE
                    amortized = Decimal(group["Metrics"]["AmortizedCost"]["Amount"])
                    unblended = Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                    if record_type == "SavingsPlanCoveredUsage":
                        used[day] = used.get(day, Decimal(0)) + amortized
                        on_demand[day] = on_demand.get(day, Decimal(0)) + unblended
                    else:
                        unused[day] = unused.get(day, Decimal(0)) + amortized
    end = batch.as_of + SAVINGS_PLAN_ENDS_AFTER
    answers = []
    for day in sorted(set(used) | set(unused)):
        day_used, day_unused = used.get(day, Decimal(0)), unused.get(day, Decimal(0))
        total = day_used + day_unused
        detail = {
            "SavingsPlanArn": f"arn:aws:savingsplans::{owner}:savingsplan/simulated-compute",
            "Attributes": {
                "AccountId": owner,
                "SavingsPlansType": "ComputeSavingsPlans",
                "Region": "",
                "InstanceFamily": "",
                "StartDateTime": f"{(end - SAVINGS_PLAN_TERM).isoformat()}T00:00:00.000Z",
                "EndDateTime": f"{end.isoformat()}T00:00:00.000Z",
                "PurchaseTerm": "1yr",
                "PaymentOption": "No Upfront",
            },
            "Utilization": {
                "TotalCommitment": str(total),
                "UsedCommitment": str(day_used),
                "UnusedCommitment": str(day_unused),
            },
            "Savings": {
                "OnDemandCostEquivalent": str(on_demand.get(day, Decimal(0))),
                "NetSavings": str(on_demand.get(day, Decimal(0)) - total),
            },
        }
        answers.append((day, {"SavingsPlansUtilizationDetails": [detail]}))
    return answers


def aws_commitment_rows(batch: SimulatedBatch) -> list[dict[str, Any]]:
    """`raw.aws_commitment_utilization` rows of a batch, mapped by the real mapping."""
    return [
        row
        for day, page in savings_plan_answers(batch)
        for row in aws_commitments.savings_plans_rows(page, day)
    ]


def azure_rows(batch: SimulatedBatch, scope: str) -> list[dict[str, Any]]:
    """`raw.azure_cost_management` rows of one subscription scope of a batch."""
    rows: list[dict[str, Any]] = []
    for query_scope, query_type, fixed, pages in batch.azure_queries:
        if query_scope == scope:
            for page in pages:
                rows.extend(azure_mapping.to_rows(page, query_type=query_type, fixed=fixed))
    return rows


def azure_commitment_rows(batch: SimulatedBatch, scope: str) -> list[dict[str, Any]]:
    """`raw.azure_commitment_costs` rows of one subscription scope, mapped by the real mapping
    and named like the real loader names them (the reservation from the reservations list)."""
    names = {
        item["id"].lower(): item["properties"]["displayName"]
        for item in batch.azure_reservations.get("value", [])
    }
    rows: list[dict[str, Any]] = []
    for query_scope, query_type, breakdown, fixed, pages in batch.azure_commitment_queries:
        if query_scope == scope:
            for page in pages:
                rows.extend(
                    azure_mapping.commitment_rows(
                        page, query_type=query_type, breakdown=breakdown, fixed=fixed
                    )
                )
    for row in rows:
        if row["benefit_id"]:
            row["benefit_name"] = names.get(row["benefit_id"].lower())
    return rows


def azure_commitment_terms(
    batch: SimulatedBatch, commitment_rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """`raw.azure_commitments` rows of the reservations the scope's commitment rows name, as
    of the window's last day (what the real loader lands from the reservations list)."""
    named = {row["benefit_id"].lower() for row in commitment_rows if row["benefit_id"]}
    as_of = batch.end - timedelta(days=1)
    return [
        azure_mapping.benefit_row(item, kind="Reservation", as_of=as_of, index=index)
        for index, item in enumerate(batch.azure_reservations.get("value", []))
        if item["id"].lower() in named
    ]


def load(
    db_path: Path,
    start: date,
    end: date,
    *,
    as_of: date,
    seed: int = 42,
    aws_page_days: int = AWS_PAGE_DAYS,
    azure_page_rows: int = AZURE_PAGE_ROWS,
    attempt: warehouse.LoadAttempt | None = None,
) -> list[warehouse.LoadResult]:
    """Replace [start, end) of the simulated source in the warehouse as seen on `as_of`.

    One landing for AWS (scope = payer account), then one per Azure subscription, through
    the load attempt (`attempt`, else one of its own); each is its own transaction, so a
    rerun replaces rather than appends.
    """
    batch = generate(
        start,
        end,
        as_of=as_of,
        seed=seed,
        aws_page_days=aws_page_days,
        azure_page_rows=azure_page_rows,
    )
    if attempt is None:
        attempt = warehouse.LoadAttempt(
            Path(db_path),
            source=SOURCE,
            raw_table=AWS_COST_EXPLORER.name,
            window_start=start,
            window_end=end,
        )
    with attempt:
        costs = aws_rows(batch)
        stored = read_aws_stored(Path(db_path), SOURCE, batch.aws_scope, start, end)
        results = [
            attempt.land(
                batch.aws_scope,
                costs,
                raw_table=AWS_COST_EXPLORER.name,
                window_start=start,
                window_end=end,
                api_requests=request_scheme.aws_requests(batch, costs, stored),
                billing_account_id=batch.aws_scope,
                with_tables={AWS_COMMITMENT_UTILIZATION.name: aws_commitment_rows(batch)},
            )
        ]
        for scope in batch.azure_scopes:
            costs = azure_rows(batch, scope)
            commitment_rows = azure_commitment_rows(batch, scope)
            api_requests = request_scheme.azure_requests(
                batch,
                costs,
                commitment_rows,
                read_azure_stored(Path(db_path), SOURCE, scope, start, end),
                lists=scope == batch.azure_scopes[0] and bool(batch.azure_reservations),
            )
            results.append(
                attempt.land(
                    scope,
                    costs,
                    raw_table=AZURE_COST_MANAGEMENT.name,
                    window_start=start,
                    window_end=end,
                    api_requests=api_requests,
                    with_tables={
                        AZURE_COMMITMENT_COSTS.name: commitment_rows,
                        AZURE_COMMITMENTS.name: azure_commitment_terms(batch, commitment_rows),
                    },
                )
            )
    return results


def load_for_run(
    config: SimulatedConfig, window: RunWindow, attempt: warehouse.LoadAttempt
) -> list[warehouse.LoadResult]:
    """Land a run's window (the history window, or a backfill's). Like a real cost API, the
    simulation answers with what is known *now*: a backfill of an old date must not bring
    back estimates that a later run already replaced."""
    assert window.start is not None and window.end is not None
    as_of = max(window.run_date, datetime.now(UTC).date())
    return load(
        window.db_path, window.start, window.end, as_of=as_of, seed=config.seed, attempt=attempt
    )
