"""AWS Cost Explorer source: daily costs per linked account, service, region and record type.

    python -c "from datetime import date; from pathlib import Path; \\
from loaders import aws_cost_explorer as a; \\
print(a.load(Path('data/finops.duckdb'), date(2026, 1, 1), date(2026, 2, 1)))"

`load(db_path, start, end)` reads `[start, end)` from the Cost Explorer of the account the
credentials belong to (the payer/management account: its `sts:GetCallerIdentity` account is
the load's scope) and replaces that window in `raw.aws_cost_explorer` in one transaction.
`load_for_run(config, window, attempt)` does the same for a daily run's window.

The query scheme (`changes`, issue #20): one totals pass (DAILY, GroupBy RECORD_TYPE and
REGION, the same three metrics) over the window, compared with what the warehouse holds for
the scope (`stored`); then one full-grain DAILY query (Filter RECORD_TYPE and REGION, GroupBy
LINKED_ACCOUNT and SERVICE) per changed (record type, region) slice and run of changed days,
each followed through NextPageToken. The cells that did not change keep their stored rows,
with each day's Estimated flag and the accounts' names as answered now; the load still
replaces the whole window (one transaction, one ledger row). A first load has nothing stored,
so every cell with cost is asked for. When the window has savings plan or reservation record
types, the commitment operations follow (`commitments`) for the days whose commitment record
types changed or whose rows are missing: GetSavingsPlansUtilizationDetails one request per
such day, GetReservationUtilization one DAILY query per run of such days; the coverage
cross-check GetSavingsPlansCoverage / GetReservationCoverage (one per service with
reservation-covered usage) for the days whose usage changed or whose rows are missing. Their
rows land in `raw.aws_commitment_utilization` and `raw.aws_commitment_coverage` in the same
transaction as the costs, under the costs' ledger row. With allocation tag keys
(`allocation_tags`, FINOPS_ALLOCATION_TAGS), tag queries (`mapping.tag_request`: DAILY, Filter
LINKED_ACCOUNT, GroupBy TAG <key> and SERVICE; keys in configured order, accounts sorted)
follow for the (key, account, days) whose stored tag rows no longer add up to the account's
costs (`stored.tag_gaps`: new days, restated days, a key configured since); their rows land
in `raw.aws_cost_explorer_tags` in the same transaction (a key no longer configured loses its
rows). Each request costs USD 0.01. `change_detection=False` (FINOPS_AWS_CHANGE_DETECTION=off)
ignores the stored rows and asks for every cell of the window.

The request budget (`max_requests`, FINOPS_AWS_MAX_REQUESTS) is checked three times:
1. before any request, against the worst case from the slices this scope had in earlier
   loads (`known_estate`: every slice of the window changed, plus a tag query per key and
   account): a backfill of a known estate that would be too expensive is refused without
   calling Cost Explorer at all;
2. after the totals pass, against the plan for what changed - before any full-grain query;
   the totals requests spent to get there are counted and recorded;
3. while paging, as a hard cap: the client refuses the request that would exceed it.
The estimate assumes `ceil(days / DAYS_PER_PAGE_ESTIMATE)` pages per query. Cost Explorer
does not document its page size; one page per started month of days is on the safe side
for typical estates, and check 3 catches what the estimate misses.

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
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pyarrow as pa

from loaders import warehouse
from loaders.aws_cost_explorer import changes, commitments, mapping
from loaders.aws_cost_explorer.budget import request_allowance
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
    DEFAULT_MAX_REQUESTS,
    CostExplorerConfig,
)
from loaders.aws_cost_explorer.source import SOURCE as SPEC
from loaders.aws_cost_explorer.stored import (
    StoredWindow,
    compose_costs,
    compose_days,
    compose_tags,
    read_stored,
    tag_gaps,
)
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
    "known_slices",
    "load",
    "load_for_run",
]

log = logging.getLogger("finops.aws_cost_explorer")

SOURCE = SPEC.ledger_source
DAYS_PER_PAGE_ESTIMATE = 31
UNKNOWN_SCOPE = "unknown"


class CostExplorerLoadError(RuntimeError):
    """A Cost Explorer load failed; nothing was landed. The text carries no secret."""


@dataclass(frozen=True)
class RequestEstimate:
    """How many requests a load of `days` days is expected to need: the totals pass, `slices`
    full-grain queries (each over at most `days` days), the commitment operations the window's
    record types call for (savings plans: one request per day of `commitment_days`) and one
    tag query per allocation tag key and linked account."""

    days: int
    slices: int
    totals_requests: int
    commitment_operations: tuple[str, ...] = ()
    tag_keys: int = 0
    accounts: int = 0  # the linked accounts the tag queries are sent for
    commitment_days: int | None = None  # savings plan days asked for (default: every day)

    @property
    def pages_per_query(self) -> int:
        return max(1, math.ceil(self.days / DAYS_PER_PAGE_ESTIMATE))

    @property
    def commitment_requests(self) -> int:
        """Savings plans: one request per day; the others one daily query each (reservation
        coverage: one per service, counted as one - the hard cap catches the rest)."""
        sp_days = self.days if self.commitment_days is None else self.commitment_days
        per_operation = {commitments.SAVINGS_PLANS: sp_days}
        return sum(per_operation.get(op, self.pages_per_query) for op in self.commitment_operations)

    @property
    def tag_queries(self) -> int:
        return self.tag_keys * self.accounts

    @property
    def requests(self) -> int:
        return (
            self.totals_requests
            + (self.slices + self.tag_queries) * self.pages_per_query
            + self.commitment_requests
        )

    @property
    def cost_usd(self) -> Decimal:
        return request_cost(self.requests)


def estimate_requests(
    start: date,
    end: date,
    slices: int,
    totals_requests: int = 1,
    commitment_operations: tuple[str, ...] = (),
    tag_keys: int = 0,
    accounts: int = 0,
    commitment_days: int | None = None,
) -> RequestEstimate:
    """The documented estimate: totals pass + (slices + tag keys x accounts) x
    ceil(days / DAYS_PER_PAGE_ESTIMATE) (+ one request per savings plan day, one query for
    reservations)."""
    return RequestEstimate(
        days=(end - start).days,
        slices=slices,
        totals_requests=totals_requests,
        commitment_operations=commitment_operations,
        tag_keys=tag_keys,
        accounts=accounts,
        commitment_days=commitment_days,
    )


def _check_budget(
    estimate: RequestEstimate,
    max_requests: int,
    start: date,
    end: date,
    basis: str,
    setting: str = BUDGET_SETTING,
) -> None:
    if estimate.requests <= max_requests:
        return
    tags = (
        f" + {estimate.tag_keys} tag key(s) x {estimate.accounts} account(s) x "
        f"{estimate.pages_per_query} page(s)"
        if estimate.tag_queries
        else ""
    )
    commitment = (
        f" + {estimate.commitment_requests} commitment request(s)"
        if estimate.commitment_requests
        else ""
    )
    raise RequestBudgetExceeded(
        f"AWS Cost Explorer load of [{start}, {end}) would need about {estimate.requests} "
        f"requests (USD {estimate.cost_usd:.2f} at USD {CE_REQUEST_COST_USD} each: "
        f"{estimate.totals_requests} totals + {estimate.slices} {basis} (record type, region) "
        f"slice(s) x {estimate.pages_per_query} page(s){tags}{commitment} for {estimate.days} "
        f"days), more than {_limit(setting, max_requests)}. Raise {setting} or load a "
        "shorter window."
    )


def _limit(setting: str, max_requests: int) -> str:
    if setting == BUDGET_SETTING:
        return f"{BUDGET_SETTING}={max_requests}"
    return f"what is left of {setting} ({max_requests} requests)"


def known_slices(db_path: Path, scope: str) -> int:
    """Distinct (record type, region) slices earlier loads landed for `scope` (0 if none).

    The basis of the budget check made before any request; a read failure only weakens that
    check (the later ones still hold), so it is logged, not raised.
    """
    return known_estate(db_path, scope)[0]


def known_estate(db_path: Path, scope: str) -> tuple[int, int]:
    """(slices, linked accounts) earlier loads landed for `scope` ((0, 0) if none): the
    full-grain queries and the tag queries' accounts of the budget check made before any
    request (the worst case: every cell of the window changed)."""
    if not Path(db_path).exists():
        return 0, 0
    try:
        with warehouse.writer_lock(Path(db_path), timeout_s=60):
            con = duckdb.connect(str(db_path), read_only=True)
            try:
                row = con.execute(
                    "select count(distinct (record_type, region)), "
                    "count(distinct linked_account_id) from raw.aws_cost_explorer "
                    "where _source = ? and _scope = ?",
                    [SOURCE, scope],
                ).fetchone()
            finally:
                con.close()
    except (duckdb.Error, warehouse.WarehouseBusyError) as exc:
        if "does not exist" not in str(exc):
            log.warning("could not read the slices of earlier loads: %s", exc)
        return 0, 0
    return (int(row[0]), int(row[1])) if row else (0, 0)


@dataclass(frozen=True)
class FetchedRows:
    """What a load lands: the window's cost rows and the commitment and tag rows of the same
    window (stored rows that did not change, and the fetched ones)."""

    costs: pa.Table
    commitments: pa.Table
    coverage: pa.Table
    tags: pa.Table


def _fetch_rows(
    client: CostExplorerClient,
    db_path: Path,
    scope: str,
    start: date,
    end: date,
    max_requests: int,
    tag_keys: tuple[str, ...] = (),
    change_detection: bool = True,
    load_cap: int | None = None,
) -> FetchedRows:
    """The totals pass, then the full-grain, commitment and tag queries of what changed
    (`changes`), composed with the stored rows of the rest of the window (`stored`).
    `max_requests`: what this load may spend (the client's cap); `load_cap`:
    FINOPS_AWS_MAX_REQUESTS, which the worst case of a known estate is held against before
    any request (the monthly budget's rest is held against the plan, not the worst case)."""
    known, known_accounts = known_estate(db_path, scope)
    _check_budget(
        estimate_requests(start, end, known, tag_keys=len(tag_keys), accounts=known_accounts),
        max_requests if load_cap is None else load_cap,
        start,
        end,
        "previously seen",
        client.budget_setting if load_cap is None else BUDGET_SETTING,
    )
    stored = (
        read_stored(db_path, SOURCE, scope, start, end)
        if change_detection
        else StoredWindow.empty()
    )
    # Nothing stored for the window (a first load, a backfill, change detection off): a
    # MONTHLY totals pass finds the (record type, region) slices in a page or two, and each
    # is asked for over the whole window - no more requests than a DAILY pass would need.
    first_load = stored.costs.num_rows == 0
    totals = list(client.iter_pages(changes.totals_request(start, end, monthly=first_load)))
    sums, estimated = changes.totals_cells(totals)
    if first_load:
        estimated = {}  # per day from the full-grain pages themselves
        found = sorted({(rt, region) for _, rt, region in sums})
        slices = [changes.Slice(rt, region, start, end) for rt, region in found]
        # every day of the window counts as changed for the commitments and the coverage
        remote = changed = {
            (start + timedelta(days=n), rt, region)
            for n in range((end - start).days)
            for rt, region in found
        }
    else:
        remote = set(sums)
        changed = changes.changed_cells(sums, stored.cells())
        # a cell with no cost left (the totals pass has no group) needs no asking: its
        # stored rows go
        slices = changes.plan_slices(changed & remote)
    operations = tuple(commitments.needed_operations(rt for _, rt, _ in remote))

    def commitment_days(operation: str, kind: str) -> set[date]:
        """The days to ask `operation` for: those whose record types changed, and those
        that should have `kind` rows but have none (a new commitment kind, a purged day)."""
        if operation not in operations:
            return set()
        types = commitments.RECORD_TYPES[operation]
        missing = changes.days_of(remote, types) - stored.days(
            "utilization", f"commitment_kind = '{kind}'"
        )
        return changes.days_of(changed, types) | missing

    sp_days = commitment_days(commitments.SAVINGS_PLANS, "SavingsPlan")
    ri_days = commitment_days(commitments.RESERVATIONS, "Reservation")
    totals_requests = client.requests
    planned = (
        client.requests
        + sum(max(1, math.ceil(piece.days / DAYS_PER_PAGE_ESTIMATE)) for piece in slices)
        + len(sp_days)
        + len(changes.runs(ri_days))
    )
    log.info(
        "aws_cost_explorer %s [%s, %s): %d of %d (day, record type, region) cells changed; "
        "%d full-grain queries, %d savings plan days; about %d requests (USD %.2f) before "
        "coverage and tags",
        scope,
        start,
        end,
        len(changed),
        len(remote),
        len(slices),
        len(sp_days),
        planned,
        request_cost(planned),
    )
    if planned > max_requests:
        raise RequestBudgetExceeded(
            f"AWS Cost Explorer load of [{start}, {end}) would need about {planned} requests "
            f"(USD {request_cost(planned):.2f} at USD {CE_REQUEST_COST_USD} each: "
            f"{totals_requests} totals + {len(slices)} changed (record type, region) "
            f"slice(s) + {len(sp_days)} savings plan day(s) + {len(changes.runs(ri_days))} "
            f"reservation quer(ies)), more than {_limit(client.budget_setting, max_requests)}. "
            f"Raise {client.budget_setting} or load a shorter window."
        )

    fetched: list[dict[str, Any]] = []
    names: dict[str, str] = {}
    for piece in slices:
        request = changes.slice_request(piece)
        fixed = mapping.fixed_dimensions(request["Filter"])
        for page in client.iter_pages(request):
            names.update(mapping.page_account_names(page))
            fetched.extend(
                mapping.to_rows(page, group_by=list(changes.SLICE_GROUP_BY), fixed=fixed)
            )
    costs = compose_costs(
        stored.costs, slices, fetched, estimated, names, vanished=changed - remote
    )

    keep = []  # the stored commitment rows of the kinds the window still has, not asked again
    if commitments.SAVINGS_PLANS in operations:
        keep.append(f"(commitment_kind = 'SavingsPlan' and {_not_on(sp_days)})")
    if commitments.RESERVATIONS in operations:
        keep.append(f"(commitment_kind = 'Reservation' and {_not_on(ri_days)})")
    utilization = compose_days(
        AWS_COMMITMENT_UTILIZATION,
        stored.utilization,
        _fetch_commitments(client, sp_days, ri_days),
        keep=" or ".join(keep) or "false",
    )
    coverage = _coverage(client, operations, stored, remote, changed, costs)
    tags = _tags(client, stored, costs, tag_keys, estimated)
    return FetchedRows(costs, utilization, coverage, tags)


def _fetch_commitments(
    client: CostExplorerClient, sp_days: set[date], ri_days: set[date]
) -> list[dict[str, Any]]:
    """The utilization rows of the savings plan days (one request each: the operation sums
    its TimePeriod) and of the reservation days (one DAILY query per run of days)."""
    rows: list[dict[str, Any]] = []
    for day in sorted(sp_days):
        request = commitments.savings_plans_request(day)
        for page in client.iter_pages(
            request, "get_savings_plans_utilization_details", token="NextToken"
        ):
            rows.extend(commitments.savings_plans_rows(page, day))
    for lo, hi in changes.runs(ri_days):
        request = commitments.reservations_request(lo, hi)
        for page in client.iter_pages(request, "get_reservation_utilization"):
            # a run may span days between the asked ones: those keep their stored rows
            rows.extend(
                r for r in commitments.reservations_rows(page) if r["time_period_start"] in ri_days
            )
    return rows


def _coverage(
    client: CostExplorerClient,
    operations: tuple[str, ...],
    stored: StoredWindow,
    remote: set[changes.Cell],
    changed: set[changes.Cell],
    costs: pa.Table,
) -> pa.Table:
    """The rows of `raw.aws_commitment_coverage`: Cost Explorer's own coverage figures, asked
    for on the days whose usage or covered usage changed and on the days it lacks."""
    window_days = changes.days_of(remote)
    fetched: list[dict[str, Any]] = []
    keep: list[str] = []
    if commitments.SAVINGS_PLANS_COVERAGE in operations:
        days = changes.days_of(changed, ("Usage", "SavingsPlanCoveredUsage")) | (
            window_days - stored.days("coverage", "commitment_kind = 'SavingsPlan'")
        )
        for lo, hi in changes.runs(days):
            request = commitments.savings_plans_coverage_request(lo, hi)
            for page in client.iter_pages(request, "get_savings_plans_coverage", token="NextToken"):
                fetched.extend(
                    row
                    for row in commitments.savings_plans_coverage_rows(page)
                    if row["time_period_start"] in days
                )
        keep.append(f"(commitment_kind = 'SavingsPlan' and {_not_on(days)})")
    if commitments.RESERVATIONS_COVERAGE in operations:
        changed_usage = changes.days_of(changed, ("Usage", "DiscountedUsage"))
        for service in _reservation_services(costs):
            quoted = service.replace("'", "''")
            days = changed_usage | (
                window_days
                - stored.days(
                    "coverage", f"commitment_kind = 'Reservation' and service = '{quoted}'"
                )
            )
            for lo, hi in changes.runs(days):
                request = commitments.reservations_coverage_request(lo, hi, service)
                for page in client.iter_pages(request, "get_reservation_coverage"):
                    fetched.extend(
                        row
                        for row in commitments.reservations_coverage_rows(page, service)
                        if row["time_period_start"] in days
                    )
            keep.append(
                f"(commitment_kind = 'Reservation' and service = '{quoted}' and {_not_on(days)})"
            )
    return compose_days(
        AWS_COMMITMENT_COVERAGE, stored.coverage, fetched, keep=" or ".join(keep) or "false"
    )


def _not_on(days: Iterable[date]) -> str:
    """SQL: the row's day is none of `days` (dates written by us, not user input)."""
    listed = ", ".join(f"date '{day.isoformat()}'" for day in sorted(days))
    return f"time_period_start not in ({listed})" if listed else "true"


def _reservation_services(costs: pa.Table) -> list[str]:
    """The services of the window's `DiscountedUsage` rows: one coverage query each."""
    with duckdb.connect() as mem:
        mem.register("costs", costs)
        rows = mem.execute(
            "select distinct service from costs where record_type = 'DiscountedUsage' order by 1"
        ).fetchall()
    return [service for (service,) in rows]


def _tags(
    client: CostExplorerClient,
    stored: StoredWindow,
    costs: pa.Table,
    tag_keys: tuple[str, ...],
    estimated: Mapping[date, bool],
) -> pa.Table:
    """The rows of `raw.aws_cost_explorer_tags`: for each allocation tag key (configured
    order) and linked account (sorted), one DAILY query per run of the days whose stored tag
    rows no longer add up to the account's costs (`stored.tag_gaps`)."""
    gaps = tag_gaps(costs, stored.tags, tag_keys, changes.TOLERANCE)
    spans = {
        key: {account: changes.runs(gaps[key][account]) for account in sorted(gaps.get(key, {}))}
        for key in tag_keys
    }
    queries = sum(len(runs) for accounts in spans.values() for runs in accounts.values())
    accounts_asked = len({account for accounts in spans.values() for account in accounts})
    if client.requests + queries > client.max_requests:  # check 2b, before any tag query
        total = client.requests + queries
        raise RequestBudgetExceeded(
            f"AWS Cost Explorer load would need about {total} requests (USD "
            f"{request_cost(total):.2f} at USD {CE_REQUEST_COST_USD} each: {client.requests} "
            f"spent + {queries} tag quer(ies) for {len(tag_keys)} tag key(s) x "
            f"{accounts_asked} account(s)), more than "
            f"{_limit(client.budget_setting, client.max_requests)}. Raise "
            f"{client.budget_setting} or configure fewer FINOPS_ALLOCATION_TAGS."
        )
    rows: list[dict[str, Any]] = []
    for key, accounts in spans.items():
        for account, runs in accounts.items():
            days = gaps[key][account]
            for lo, hi in runs:
                request = mapping.tag_request(lo, hi, account, key)
                for page in client.iter_pages(request):
                    rows.extend(
                        row
                        for row in mapping.tag_rows(page, tag_key=key, linked_account_id=account)
                        if row["time_period_start"] in days
                    )
    kept_spans = {
        key: {account: [(day, day + timedelta(days=1)) for day in sorted(days)]
              for account, days in accounts.items()}
        for key, accounts in gaps.items()
    }  # fmt: skip
    return compose_tags(stored.tags, tag_keys, kept_spans, rows, estimated)


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
    change_detection: bool = True,
    monthly_budget_usd: Decimal | None = None,
) -> list[warehouse.LoadResult]:
    """Replace `[start, end)` of the payer account's Cost Explorer data in the warehouse.

    `session` defaults to boto3's credential chain; `role_arn` (+ `external_id`) is assumed
    first. `allocation_tags`: the tag keys to query costs by (one query per key and linked
    account; none: no tag query). `change_detection` (FINOPS_AWS_CHANGE_DETECTION): ask only
    for the cells whose totals moved (`changes`); off: ask for the whole window. Returns one LoadResult (one scope). Raises
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
            allowance = request_allowance(
                Path(db_path), max_requests, monthly_budget_usd, datetime.now(UTC)
            )
            client = CostExplorerClient(
                active, max_requests=allowance.requests, budget_setting=allowance.setting
            )
            attempt.meter(
                lambda: (client.requests, client.cost_usd, client.attempts - client.requests)
            )
            fetched = _fetch_rows(
                client,
                Path(db_path),
                scope,
                start,
                end,
                allowance.requests,
                tuple(allocation_tags),
                change_detection=change_detection,
                load_cap=max_requests,
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
        change_detection=config.change_detection,
        monthly_budget_usd=config.monthly_budget_usd,
    )


def failure_scopes(config: CostExplorerConfig) -> list[str]:
    """The scope of the `failed` ledger row of a load that fails before it knows its payer."""
    return [UNKNOWN_SCOPE]
