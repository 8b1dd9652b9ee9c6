"""AWS Cost Explorer source: daily costs per linked account, service, region and record type.

    python -c "from datetime import date; from pathlib import Path; \\
from loaders import aws_cost_explorer as a; \\
print(a.load(Path('data/finops.duckdb'), date(2026, 1, 1), date(2026, 2, 1)))"

`load(db_path, start, end)` reads `[start, end)` from the Cost Explorer of the account the
credentials belong to (the payer/management account: its `sts:GetCallerIdentity` account is
the load's scope) and replaces that window in `raw.aws_cost_explorer` in one transaction.
`load_for_run(config, window, attempt)` does the same for a daily run's window.

The query scheme (see `mapping`): one discovery query (GroupBy LINKED_ACCOUNT, RECORD_TYPE,
MONTHLY) finds the P (linked account, record type) pairs with cost in the window and the
account names; then one DAILY query per pair (Filter on both, GroupBy SERVICE, REGION), each
followed through NextPageToken. When discovery found savings plan or reservation record
types, the commitment operations follow (`commitments`: GetSavingsPlansUtilizationDetails one
request per day, GetReservationUtilization one DAILY query; the coverage cross-check
GetSavingsPlansCoverage one DAILY query, GetReservationCoverage one DAILY query per service
with reservation-covered usage); their rows land in `raw.aws_commitment_utilization` and
`raw.aws_commitment_coverage` in the same transaction as the costs, under the costs' ledger
row. With allocation tag keys (`allocation_tags`, FINOPS_ALLOCATION_TAGS: K keys) and A
linked accounts among the pairs, K x A tag queries follow the pairs' (`mapping.tag_request`:
DAILY, Filter LINKED_ACCOUNT, GroupBy TAG <key> and SERVICE, keys in configured order,
accounts sorted), paged like them; their rows land in `raw.aws_cost_explorer_tags`, in the
same transaction (without keys: no tag query, and the window's tag rows are replaced by
none). Requests = discovery pages + the pairs' pages (+ the tag queries' pages) (+ the
commitment pages), at least 1 + P (+ K x A); each costs USD 0.01.

The request budget (`max_requests`, FINOPS_AWS_MAX_REQUESTS) is checked three times:
1. before any request, against an estimate from the pairs this scope had in earlier loads
   (`known_estate`: their pairs, and their accounts for the tag queries): a backfill of a
   known estate that would be too expensive is refused without calling Cost Explorer at all;
2. after discovery, against the estimate for the pairs actually found - before any daily
   query; the discovery request(s) spent to get there are counted and recorded;
3. while paging, as a hard cap: the client refuses the request that would exceed it.
The estimate assumes `ceil(days / DAYS_PER_PAGE_ESTIMATE)` pages per query. Cost Explorer
does not document its page size; one page per started month of days per pair is on the safe
side for typical estates, and check 3 catches what the estimate misses.

All or nothing: every page is fetched and mapped first, then a single `replace_window`
lands them, so a failure anywhere (throttling beyond the retries, a budget stop, a bad
page, a crash) lands nothing and keeps the previous data; the load attempt records the
failure as a `failed` ledger row with the requests already spent. An empty answer (no cost in the window) is landed as
zero rows: it removes what earlier loads had for that window, because Cost Explorer is the
authority on it (it answers errors, not emptiness, when it cannot tell); a warning is logged
when this deletes rows. Error texts are scrubbed of the session's credentials and the
external id.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from loaders import warehouse
from loaders.aws_cost_explorer import commitments, mapping
from loaders.aws_cost_explorer.client import (
    BUDGET_SETTING,
    CE_REQUEST_COST_USD,
    CostExplorerClient,
    RequestBudgetExceeded,
    boto3_session,
    caller_account,
    open_session,
    request_cost,
    secret_values,
)
from loaders.aws_cost_explorer.source import (
    AWS_COMMITMENT_COVERAGE,
    AWS_COMMITMENT_UTILIZATION,
    AWS_COST_EXPLORER,
    AWS_COST_EXPLORER_TAGS,
    CostExplorerConfig,
)
from loaders.aws_cost_explorer.source import SOURCE as SPEC
from loaders.redaction import scrub

if TYPE_CHECKING:
    import boto3

    from loaders.registry import RunWindow

__all__ = [
    "CE_REQUEST_COST_USD",
    "DAYS_PER_PAGE_ESTIMATE",
    "SOURCE",
    "CostExplorerLoadError",
    "RequestBudgetExceeded",
    "RequestEstimate",
    "estimate_requests",
    "known_estate",
    "known_pairs",
    "load",
    "load_for_run",
]

log = logging.getLogger("finops.aws_cost_explorer")

SOURCE = SPEC.ledger_source
DEFAULT_MAX_REQUESTS = 500
DAYS_PER_PAGE_ESTIMATE = 31
UNKNOWN_SCOPE = "unknown"


class CostExplorerLoadError(RuntimeError):
    """A Cost Explorer load failed; nothing was landed. The text carries no secret."""


@dataclass(frozen=True)
class RequestEstimate:
    """How many requests a load of `days` days over `pairs` pairs is expected to need
    (with the commitment operations the discovered record types call for, if any, and one
    tag query per allocation tag key and linked account)."""

    days: int
    pairs: int
    discovery_requests: int
    commitment_operations: tuple[str, ...] = ()
    tag_keys: int = 0
    accounts: int = 0  # the linked accounts among the pairs (the tag queries' accounts)

    @property
    def pages_per_query(self) -> int:
        return max(1, math.ceil(self.days / DAYS_PER_PAGE_ESTIMATE))

    @property
    def commitment_requests(self) -> int:
        """Savings plans: one request per day; the others one daily query each (reservation
        coverage: one per service, counted as one - the hard cap catches the rest)."""
        per_operation = {commitments.SAVINGS_PLANS: self.days}
        return sum(per_operation.get(op, self.pages_per_query) for op in self.commitment_operations)

    @property
    def tag_queries(self) -> int:
        return self.tag_keys * self.accounts

    @property
    def requests(self) -> int:
        return (
            self.discovery_requests
            + (self.pairs + self.tag_queries) * self.pages_per_query
            + self.commitment_requests
        )

    @property
    def cost_usd(self) -> Decimal:
        return request_cost(self.requests)


def estimate_requests(
    start: date,
    end: date,
    pairs: int,
    discovery_requests: int = 1,
    commitment_operations: tuple[str, ...] = (),
    tag_keys: int = 0,
    accounts: int = 0,
) -> RequestEstimate:
    """The documented estimate: discovery + (pairs + tag keys x accounts) x
    ceil(days / DAYS_PER_PAGE_ESTIMATE) (+ one request per day for savings plans, one query
    for reservations)."""
    return RequestEstimate(
        days=(end - start).days,
        pairs=pairs,
        discovery_requests=discovery_requests,
        commitment_operations=commitment_operations,
        tag_keys=tag_keys,
        accounts=accounts,
    )


def _check_budget(
    estimate: RequestEstimate, max_requests: int, start: date, end: date, basis: str
) -> None:
    if estimate.requests <= max_requests:
        return
    tags = (
        f" + {estimate.tag_keys} tag key(s) x {estimate.accounts} {basis} account(s) x "
        f"{estimate.pages_per_query} page(s)"
        if estimate.tag_queries
        else ""
    )
    raise RequestBudgetExceeded(
        f"AWS Cost Explorer load of [{start}, {end}) would need about {estimate.requests} "
        f"requests (USD {estimate.cost_usd:.2f} at USD {CE_REQUEST_COST_USD} each: "
        f"{estimate.discovery_requests} discovery + {estimate.pairs} {basis} (account, record "
        f"type) pair(s) x {estimate.pages_per_query} page(s){tags} for {estimate.days} days), "
        f"more than {BUDGET_SETTING}={max_requests}. Raise {BUDGET_SETTING} or load a shorter "
        "window."
    )


def known_pairs(db_path: Path, scope: str) -> int:
    """Distinct (linked account, record type) pairs earlier loads landed for `scope` (0 if none).

    The basis of the budget check made before any request; a read failure only weakens that
    check (the later ones still hold), so it is logged, not raised.
    """
    return known_estate(db_path, scope)[0]


def known_estate(db_path: Path, scope: str) -> tuple[int, int]:
    """(pairs, linked accounts) earlier loads landed for `scope` ((0, 0) if none): the pairs
    and the tag queries' accounts of the budget check made before any request."""
    if not Path(db_path).exists():
        return 0, 0
    try:
        with warehouse.writer_lock(Path(db_path), timeout_s=60):
            con = duckdb.connect(str(db_path), read_only=True)
            try:
                row = con.execute(
                    "select count(*), count(distinct linked_account_id) from (select distinct "
                    "linked_account_id, record_type from raw.aws_cost_explorer "
                    "where _source = ? and _scope = ?)",
                    [SOURCE, scope],
                ).fetchone()
            finally:
                con.close()
    except (duckdb.Error, warehouse.WarehouseBusyError) as exc:
        if "does not exist" not in str(exc):
            log.warning("could not read the pairs of earlier loads: %s", exc)
        return 0, 0
    return (int(row[0]), int(row[1])) if row else (0, 0)


def _fetch_rows(
    client: CostExplorerClient,
    db_path: Path,
    scope: str,
    start: date,
    end: date,
    max_requests: int,
    tag_keys: tuple[str, ...] = (),
) -> FetchedRows:
    known, known_accounts = known_estate(db_path, scope)
    _check_budget(
        estimate_requests(start, end, known, tag_keys=len(tag_keys), accounts=known_accounts),
        max_requests,
        start,
        end,
        "previously seen",
    )
    discovery = list(client.iter_pages(mapping.discovery_request(start, end)))
    pairs = mapping.discovered_pairs(discovery)
    names: dict[str, str] = {}
    for page in discovery:
        names.update(mapping.page_account_names(page))
    operations = tuple(commitments.needed_operations(record_type for _, record_type in pairs))
    accounts = sorted({account for account, _ in pairs})
    estimate = estimate_requests(
        start, end, len(pairs), discovery_requests=client.requests,
        commitment_operations=operations, tag_keys=len(tag_keys), accounts=len(accounts),
    )  # fmt: skip
    log.info(
        "aws_cost_explorer %s [%s, %s): %d (account, record type) pairs in %d accounts; "
        "about %d requests (USD %.2f)",
        scope,
        start,
        end,
        len(pairs),
        len(accounts),
        estimate.requests,
        estimate.cost_usd,
    )
    _check_budget(estimate, max_requests, start, end, "discovered")

    rows: list[dict[str, Any]] = []
    for account, record_type in pairs:
        request = mapping.pair_request(start, end, account, record_type)
        group_by = [group["Key"] for group in request["GroupBy"]]
        fixed = mapping.fixed_dimensions(request["Filter"])
        for page in client.iter_pages(request):
            rows.extend(mapping.to_rows(page, group_by=group_by, fixed=fixed, account_names=names))
    tags = _fetch_tags(client, tag_keys, accounts, start, end)  # GetCostAndUsage, like the pairs
    return FetchedRows(
        rows,
        _fetch_commitments(client, operations, start, end),
        _fetch_coverage(client, operations, start, end, commitments.reservation_services(rows)),
        tags,
    )


@dataclass(frozen=True)
class FetchedRows:
    """What a load lands: the cost rows and the commitment and tag rows of the same window."""

    costs: list[dict[str, Any]]
    commitments: list[dict[str, Any]]
    coverage: list[dict[str, Any]]
    tags: list[dict[str, Any]]


def _fetch_tags(
    client: CostExplorerClient,
    tag_keys: tuple[str, ...],
    accounts: list[str],
    start: date,
    end: date,
) -> list[dict[str, Any]]:
    """The rows of `raw.aws_cost_explorer_tags`: one DAILY query per allocation tag key (in
    the configured order) and linked account (sorted), each followed through its pages."""
    rows: list[dict[str, Any]] = []
    for key in tag_keys:
        for account in accounts:
            request = mapping.tag_request(start, end, account, key)
            for page in client.iter_pages(request):
                rows.extend(mapping.tag_rows(page, tag_key=key, linked_account_id=account))
    return rows


def _fetch_commitments(
    client: CostExplorerClient, operations: tuple[str, ...], start: date, end: date
) -> list[dict[str, Any]]:
    """The rows of `raw.aws_commitment_utilization` for the operations discovery called for."""
    rows: list[dict[str, Any]] = []
    if commitments.SAVINGS_PLANS in operations:
        day = start
        while day < end:
            request = commitments.savings_plans_request(day)
            for page in client.iter_pages(
                request, "get_savings_plans_utilization_details", token="NextToken"
            ):
                rows.extend(commitments.savings_plans_rows(page, day))
            day += timedelta(days=1)
    if commitments.RESERVATIONS in operations:
        request = commitments.reservations_request(start, end)
        for page in client.iter_pages(request, "get_reservation_utilization"):
            rows.extend(commitments.reservations_rows(page))
    return rows


def _fetch_coverage(
    client: CostExplorerClient,
    operations: tuple[str, ...],
    start: date,
    end: date,
    reservation_services: list[str],
) -> list[dict[str, Any]]:
    """The rows of `raw.aws_commitment_coverage`: Cost Explorer's own coverage figures."""
    rows: list[dict[str, Any]] = []
    if commitments.SAVINGS_PLANS_COVERAGE in operations:
        request = commitments.savings_plans_coverage_request(start, end)
        for page in client.iter_pages(request, "get_savings_plans_coverage", token="NextToken"):
            rows.extend(commitments.savings_plans_coverage_rows(page))
    if commitments.RESERVATIONS_COVERAGE in operations:
        for service in reservation_services:
            request = commitments.reservations_coverage_request(start, end, service)
            for page in client.iter_pages(request, "get_reservation_coverage"):
                rows.extend(commitments.reservations_coverage_rows(page, service))
    return rows


def _load_error(
    exc: Exception, scope: str, start: date, end: date, spent: int, secrets: list[str]
) -> Exception:
    """The load's error, scrubbed of the session's credentials and the external id; raised
    `from None`: botocore's chained exception is not needed and is not scrubbed."""
    if isinstance(exc, RequestBudgetExceeded):
        message = scrub(str(exc), extra=secrets)
        log.error("%s", message)
        return RequestBudgetExceeded(message)
    where = (
        f"scope {scope}"
        if scope != UNKNOWN_SCOPE
        else "an unidentified payer account (the STS call failed)"
    )
    message = scrub(
        f"AWS Cost Explorer load of {where} [{start}, {end}) failed after "
        f"{spent} billed request(s) (USD {request_cost(spent):.2f}); nothing was "
        f"landed: {type(exc).__name__}: {exc}",
        extra=secrets,
    )
    log.error("%s", message)
    return CostExplorerLoadError(message)


def load(
    db_path: Path,
    start: date,
    end: date,
    *,
    session: boto3.Session | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    role_arn: str | None = None,
    external_id: str | None = None,
    allocation_tags: tuple[str, ...] = (),
    attempt: warehouse.LoadAttempt | None = None,
) -> list[warehouse.LoadResult]:
    """Replace `[start, end)` of the payer account's Cost Explorer data in the warehouse.

    `session` defaults to boto3's credential chain; `role_arn` (+ `external_id`) is assumed
    first. `allocation_tags`: the tag keys to query costs by (one query per key and linked
    account; none: no tag query). Returns one LoadResult (one scope). Raises
    `RequestBudgetExceeded` when the load would cost more than `max_requests` requests,
    `CostExplorerLoadError` on any other failure; either way nothing is landed and the load
    attempt (`attempt`, else one of its own) records a failed ledger row with the requests
    spent.
    """
    if end <= start:
        raise ValueError(f"empty load window [{start}, {end})")
    if attempt is None:
        attempt = warehouse.LoadAttempt(
            Path(db_path),
            source=SOURCE,
            raw_table=AWS_COST_EXPLORER.name,
            window_start=start,
            window_end=end,
            scopes=[UNKNOWN_SCOPE],
        )
    with attempt:
        scope = UNKNOWN_SCOPE
        base: boto3.Session | None = session
        active: boto3.Session | None = session
        client: CostExplorerClient | None = None
        try:
            base = session or boto3_session()
            active = open_session(base, role_arn=role_arn, external_id=external_id)
            scope = caller_account(active)
            # the payer account whose Cost Explorer is queried
            attempt.expect([scope], billing_account_id=scope)
            client = CostExplorerClient(active, max_requests=max_requests)
            attempt.meter(lambda: (client.requests, client.cost_usd))
            fetched = _fetch_rows(
                client, Path(db_path), scope, start, end, max_requests, tuple(allocation_tags)
            )
            # the commitments and tags in the same transaction, under the costs' ledger row: a
            # window without commitments (or a load without tag keys) now loses those an
            # earlier load had landed
            result = attempt.land(
                scope,
                fetched.costs,
                raw_table=AWS_COST_EXPLORER.name,
                with_tables={
                    AWS_COMMITMENT_UTILIZATION.name: fetched.commitments,
                    AWS_COMMITMENT_COVERAGE.name: fetched.coverage,
                    AWS_COST_EXPLORER_TAGS.name: fetched.tags,
                },
            )
        except Exception as exc:
            secrets = secret_values(base, external_id)
            if active is not base:
                secrets += secret_values(active)
            attempt.redact(*secrets)
            raise _load_error(exc, scope, start, end, attempt.api_requests, secrets) from None

    if result.row_count == 0 and result.replaced_row_count:
        log.warning(
            "aws_cost_explorer %s [%s, %s): Cost Explorer reports no cost; %d earlier rows of "
            "this window were removed",
            scope,
            start,
            end,
            result.replaced_row_count,
        )
    log.info(
        "aws_cost_explorer %s [%s, %s): %d rows, replaced %d; %d requests (USD %s), "
        "%d HTTP attempts with retries",
        scope,
        start,
        end,
        result.row_count,
        result.replaced_row_count,
        client.requests,
        client.cost_usd,
        client.attempts,
    )
    return [result]


def load_for_run(
    config: CostExplorerConfig, window: RunWindow, attempt: warehouse.LoadAttempt
) -> list[warehouse.LoadResult]:
    """Load a run's window (the restatement window, or a backfill's `[since, run_date)` in
    one window, so the request budget judges the whole backfill before anything is spent)."""
    assert window.start is not None and window.end is not None
    return load(
        window.db_path,
        window.start,
        window.end,
        max_requests=config.max_requests,
        role_arn=config.role_arn,
        external_id=config.external_id,
        allocation_tags=config.allocation_tags,
        attempt=attempt,
    )


def failure_scopes(config: CostExplorerConfig) -> list[str]:
    """The scope of the `failed` ledger row of a load that fails before it knows its payer."""
    return [UNKNOWN_SCOPE]
