"""Azure Cost Management source: daily costs per subscription, service, location, charge type.

    python -c "from datetime import date; from pathlib import Path; \\
from azure.identity import DefaultAzureCredential; from loaders import azure_cost_management as a; \\
print(a.load(Path('data/finops.duckdb'), date(2026, 1, 1), date(2026, 2, 1), \\
credential=DefaultAzureCredential(), endpoint='https://management.azure.com'))"

`load(db_path, start, end, credential=..., endpoint=..., scopes=...)` reads `[start, end)` of
each scope (default: every subscription the credential can list) with the query scheme
documented in `mapping` - per scope, month and query type one discovery query (SubscriptionId
x ChargeType) and one Daily detail query per discovered pair (ServiceName x ResourceLocation),
then the commitment queries (a pricing query per subscription with usage, a benefit query
where reservations or savings plans show) and, with allocation keys (FINOPS_ALLOCATION_TAGS),
the tag queries (one per key, subscription, month and query type), every page followed - and
replaces that window in `raw.azure_cost_management`, `raw.azure_commitment_costs` and
`raw.azure_cost_management_tags`, one `replace_window` per scope (`_scope` = the scope path),
the tables in its one transaction under its one ledger row. A scope the warehouse already
holds rows of in the window is asked only for what its totals show changed (`changes`,
FINOPS_AZURE_CHANGE_DETECTION); the rest of its window is landed again as stored (`stored`).
`load_for_run(config, window, attempt)` does the same for a daily run: its window,
FINOPS_AZURE_* settings, credential from azure-identity.

Commitment terms: when the scopes' rows name a reservation or savings plan, the load reads the
reservations and savings plans lists once (`CostManagementQueryClient.list_benefits`) and
lands, in each scope's transaction, the terms of the benefits that scope's rows name
(`raw.azure_commitments`, as of the window's last day). A list that cannot be read (HTTP 403
without the Reservations Reader role, ...) does not fail the load: it is logged (scrubbed),
the costs land, and the terms table keeps what earlier loads landed; benefit names then come
from one BenefitId x BenefitName query per scope.

All or nothing per run: every scope is fetched, mapped and checked before the first
`replace_window`, so throttling beyond the wait budget, a persistent 5xx, a bad page or a
crash while fetching lands nothing of the run and keeps the previous data. The load attempt
records a `failed` ledger row for each scope of a failed run (with the requests spent). Landing itself is one
transaction per scope (the warehouse's only write path); should the warehouse refuse one,
the scopes before it stay landed, complete. An empty scope lands zero rows, which removes
what earlier loads had in its window: the Query API is the authority on it. With explicit
scopes a failed subscription listing is only a warning (names then come from the Query API).

Ledger `api_requests` of a scope = its HTTP requests, retries included (the Query API
charges nothing, `api_cost_usd` is 0). The run's subscription listing (`GET /subscriptions`,
one request per page) and benefits lists are counted on the first scope's row, so the ledger
sums to the run.

Credentials (`build_credential`): a service principal from `AZURE_TENANT_ID`,
`AZURE_CLIENT_ID`, `AZURE_CLIENT_SECRET` (ClientSecretCredential), else
`DefaultAzureCredential` (workload identity, managed identity, Azure CLI, ...). The authority
comes from `AZURE_AUTHORITY_HOST` (sovereign clouds: https://login.microsoftonline.us,
https://login.chinacloudapi.cn); the token is requested for `{endpoint}/.default`. For a
loopback authority (a local identity emulator) MSAL's instance discovery, which asks
login.microsoftonline.com to vouch for the host, is turned off; any other host keeps it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from loaders import warehouse
from loaders.azure_cost_management import mapping
from loaders.azure_cost_management.client import (
    DEFAULT_ENDPOINT,
    PRICE_DETAILS_ROLE,
    AzureCostManagementError,
    CostManagementQueryClient,
    PriceDetailsForbiddenError,
    RetryBudgetExceededError,
    ScopeFetch,
    check_endpoint,
    is_loopback,
)
from loaders.azure_cost_management.source import (
    AZURE_COMMITMENT_COSTS,
    AZURE_COMMITMENTS,
    AZURE_COST_MANAGEMENT,
    AZURE_COST_MANAGEMENT_TAGS,
    AZURE_PRICE_DETAILS,
    CostManagementConfig,
)
from loaders.azure_cost_management.source import SOURCE as SPEC
from loaders.azure_cost_management.stored import keep, read_stored
from loaders.catalogue import RawTable
from loaders.redaction import scrub
from loaders.warehouse.validation import rows_to_arrow

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from loaders.registry import RunWindow

__all__ = [
    "DEFAULT_ENDPOINT",
    "SOURCE",
    "AzureCostManagementError",
    "RetryBudgetExceededError",
    "build_credential",
    "load",
    "load_for_run",
]

SOURCE = SPEC.ledger_source
RAW_TABLE = AZURE_COST_MANAGEMENT.name
SUBSCRIPTIONS_SCOPE = "/subscriptions"  # ledger scope of a run that found nothing to load

log = logging.getLogger("finops.loaders.azure_cost_management")


def normalise_scopes(scopes: Sequence[str] | None) -> list[str]:
    """Scope paths stripped, with a leading slash, without trailing slashes or repeats."""
    cleaned = []
    for scope in scopes or ():
        scope = scope.strip().rstrip("/")
        if not scope:
            continue
        if not scope.startswith("/"):
            scope = "/" + scope
        if scope not in cleaned:
            cleaned.append(scope)
    return cleaned


def _check_dates(fetch: ScopeFetch, start: date, end: date) -> None:
    lo, hi = int(start.strftime("%Y%m%d")), int(end.strftime("%Y%m%d"))
    for row in fetch.rows:
        if not lo <= row["usage_date"] < hi:
            raise AzureCostManagementError(
                f"scope {fetch.scope} answered a row dated {row['usage_date']}, outside the "
                f"load window [{start}, {end})"
            )
    for row in fetch.commitment_rows:
        if not lo <= row["usage_date"] < hi:
            raise AzureCostManagementError(
                f"scope {fetch.scope} answered a commitment row dated {row['usage_date']}, "
                f"outside the load window [{start}, {end})"
            )
    for row in fetch.price_rows:
        if not lo <= row["usage_date"] < hi:
            raise AzureCostManagementError(
                f"scope {fetch.scope}'s cost details report has a row dated "
                f"{row['usage_date']}, outside the load window [{start}, {end})"
            )
    for row in fetch.tag_rows:
        if not lo <= row["usage_date"] < hi:
            raise AzureCostManagementError(
                f"scope {fetch.scope} answered a tag row dated {row['usage_date']}, outside "
                f"the load window [{start}, {end})"
            )


def load(
    db_path: Path,
    start: date,
    end: date,
    *,
    credential: TokenCredential,
    endpoint: str = DEFAULT_ENDPOINT,
    scopes: Sequence[str] | None = None,
    client_type: str = "finops-dashboard",
    max_wait_s: float = 300,
    sleep: Callable[[float], None] | None = None,
    attempt: warehouse.LoadAttempt | None = None,
    price_details: bool = True,
    allocation_tags: Sequence[str] = (),
    change_detection: bool = True,
    details_from_reports: bool = True,
    window_check: bool = True,
) -> list[warehouse.LoadResult]:
    """Replace [start, end) of every scope in `raw.azure_cost_management`.

    `scopes` are Cost Management scope paths (`/subscriptions/{id}`,
    `/providers/Microsoft.Billing/billingAccounts/{id}`,
    `/providers/Microsoft.Management/managementGroups/{id}`, ...); None or empty means every
    subscription the credential can list. `max_wait_s` bounds the total time spent waiting
    on throttling and retries; `sleep` is how it waits (time.sleep unless given).
    `price_details` (FINOPS_AZURE_PRICE_DETAILS): also read each scope's Cost Details reports
    for list and contracted prices (`raw.azure_price_details`).
    `allocation_tags` (FINOPS_ALLOCATION_TAGS, configured spelling): per key, scope, month,
    query type and subscription one tag query (`mapping`, "Tags") into
    `raw.azure_cost_management_tags`; none, no tag query (that table's window is emptied).
    `change_detection` (FINOPS_AZURE_CHANGE_DETECTION): a scope the warehouse holds rows of
    in the window is asked only for what its totals show changed (`changes`); the rest of
    its window is landed again as stored.
    `details_from_reports` (FINOPS_AZURE_DETAILS_FROM_REPORTS): in such a load, the changed
    cells' detail, pricing and benefit rows come from Cost Details reports rather than Query
    API queries (`uses_report_details`).
    `window_check` (FINOPS_AZURE_WINDOW_CHECK): there, first one window totals query per
    query type; the Daily totals queries only when it shows a change (`changes`, "The window
    check").
    Raises AzureCostManagementError when a scope cannot be read: nothing landed, and the
    load attempt (`attempt`, else one of its own) records a failed ledger row per scope.
    """
    if end <= start:
        raise ValueError(f"empty load window [{start}, {end})")
    check_endpoint(endpoint)  # a refused endpoint is a wrong argument, refused before anything
    wanted = normalise_scopes(scopes)
    if attempt is None:
        attempt = warehouse.LoadAttempt(
            Path(db_path), source=SOURCE, raw_table=RAW_TABLE, window_start=start, window_end=end
        )
    with attempt:
        attempt.expect(wanted or [SUBSCRIPTIONS_SCOPE])
        fetched, listing_requests, terms = _fetch(
            attempt,
            Path(db_path) if change_detection else None,
            start,
            end,
            credential,
            endpoint,
            wanted,
            client_type,
            max_wait_s,
            sleep,
            price_details,
            tuple(allocation_tags),
            details_from_reports,
            window_check,
        )
        # Landing is one transaction per scope (its costs, commitment rows and terms): should
        # one fail, the scopes before it are landed (complete and consistent each), it and
        # the rest are not (the attempt records them as failed). Everything is fetched by
        # now: one writer connection.
        with attempt.writing():
            return [
                attempt.land(
                    fetch.scope,
                    _with_kept(fetch, AZURE_COST_MANAGEMENT, fetch.rows),
                    api_requests=fetch.requests + (listing_requests if index == 0 else 0),
                    with_tables=_commitment_tables(fetch, terms),
                )
                for index, fetch in enumerate(fetched)
            ]


def _commitment_tables(
    fetch: ScopeFetch, terms: dict[str, dict[str, Any]] | None
) -> dict[str, list[dict[str, Any]]]:
    """The scope's rows of the other tables landed with its costs: its commitment, price and
    tag rows, and the terms of the benefits they name - unless a benefits list could not be read
    (`terms` None): then the terms table keeps what earlier loads landed."""
    tables = {
        AZURE_COMMITMENT_COSTS.name: _with_kept(
            fetch, AZURE_COMMITMENT_COSTS, fetch.commitment_rows
        ),
        # Always replaced: a window whose reports were not read (setting off, HTTP 403)
        # keeps no prices of an earlier load beside costs they may no longer describe.
        AZURE_PRICE_DETAILS.name: _with_kept(fetch, AZURE_PRICE_DETAILS, fetch.price_rows),
        # Always replaced too: without keys (or with other keys) the window keeps no tag rows
        # of an earlier load's keys.
        AZURE_COST_MANAGEMENT_TAGS.name: _with_kept(
            fetch, AZURE_COST_MANAGEMENT_TAGS, fetch.tag_rows
        ),
    }
    if terms is not None:
        tables[AZURE_COMMITMENTS.name] = [
            terms[key] for key in _named_benefits(fetch) if key in terms
        ]
    return tables


def _with_kept(
    fetch: ScopeFetch, table: RawTable, rows: list[dict[str, Any]]
) -> list[dict[str, Any]] | pa.Table:
    """`rows` (fetched), and the stored rows of `table` a change-detecting load keeps."""
    kept = fetch.kept.get(table.name)
    if kept is None:
        return rows
    return pa.concat_tables([rows_to_arrow(table, rows), kept])


def _named_benefits(fetch: ScopeFetch) -> list[str]:
    """The lower-cased benefit ids the scope's commitment rows (fetched and kept) name."""
    named = dict.fromkeys(
        row["benefit_id"].lower() for row in fetch.commitment_rows if row["benefit_id"]
    )
    kept = fetch.kept.get(AZURE_COMMITMENT_COSTS.name)
    if kept is not None:
        named.update(dict.fromkeys(v.lower() for v in kept.column("benefit_id").to_pylist() if v))
    return list(named)


def _fetch(
    attempt: warehouse.LoadAttempt,
    db_path: Path | None,
    start: date,
    end: date,
    credential: TokenCredential,
    endpoint: str,
    wanted: list[str],
    client_type: str,
    max_wait_s: float,
    sleep: Callable[[float], None] | None,
    price_details: bool,
    allocation_tags: tuple[str, ...] = (),
    details_from_reports: bool = True,
    window_check: bool = True,
) -> tuple[list[ScopeFetch], int, dict[str, dict[str, Any]] | None]:
    """Every scope's rows, fetched and checked before anything lands; the requests the
    subscription and benefits listings took; the terms of the benefits (lower-cased id ->
    `raw.azure_commitments` row), None when a benefits list could not be read. With
    `db_path` (change detection on) each scope is asked only for what changed since the
    warehouse's rows of it (`changes`)."""
    client_kwargs: dict[str, Any] = {"client_type": client_type, "max_wait_s": max_wait_s}
    if sleep is not None:
        client_kwargs["sleep"] = sleep
    fetched: list[ScopeFetch] = []
    current = wanted[0] if wanted else SUBSCRIPTIONS_SCOPE
    attempt.working_on(current)
    with CostManagementQueryClient(credential, endpoint, **client_kwargs) as client:
        attempt.meter(lambda: (client.requests, Decimal("0"), client.refused))
        try:
            try:
                subscriptions = client.list_subscriptions()
            except AzureCostManagementError as exc:
                if not wanted:
                    raise
                # Names only: the Query API names what the listing would have.
                log.warning("azure: %s; subscription names come from the Query API", exc)
                subscriptions = []
            listing_requests = client.requests
            names = {
                s.subscription_id.lower(): s.display_name for s in subscriptions if s.display_name
            }
            if not wanted:
                wanted = [s.scope for s in subscriptions if (s.state or "").lower() != "deleted"]
                log.info(
                    "azure: no FINOPS_AZURE_SCOPES; loading %d listed subscription(s)", len(wanted)
                )
            if not wanted:
                raise AzureCostManagementError(
                    "the credential can list no subscription: give it Cost Management Reader on "
                    "each subscription or set FINOPS_AZURE_SCOPES to the scopes it may read"
                )
            attempt.expect(wanted)
            for current in wanted:
                attempt.working_on(current)
                stored = (
                    read_stored(db_path, SOURCE, current, start, end)
                    if db_path is not None
                    else None
                )
                fetch = client.fetch_scope(
                    current,
                    start,
                    end,
                    names,
                    allocation_tags,
                    stored,
                    details_from_reports=uses_report_details(current, details_from_reports),
                    price_details=price_details,
                    window_check=window_check,
                )
                prices_read = price_details and (
                    fetch.prices_read
                    if fetch.prices_read is not None
                    else _read_prices(client, fetch, start, end)
                )
                _check_dates(fetch, start, end)
                if stored is not None and fetch.changes is not None:
                    fetch.kept = keep(
                        stored,
                        fetch.changes.asks,
                        fetch.changes.vanished,
                        allocation_tags,
                        fetch.changes.tag_asks,
                        fetch.changes.tags_dropped,
                        fetch.changes.price_spans if prices_read else None,
                        names,
                    )
                fetched.append(fetch)
                log.info(
                    "azure: %s [%s, %s): %d rows (%d commitment rows, %d price rows, %d tag "
                    "rows) from %d queries, %d pages, %d requests",
                    current,
                    start,
                    end,
                    len(fetch.rows),
                    len(fetch.commitment_rows),
                    len(fetch.price_rows),
                    len(fetch.tag_rows),
                    fetch.queries,
                    fetch.pages,
                    fetch.requests,
                )
            before = client.requests
            listed, complete = _read_terms(client, fetched, end - timedelta(days=1))
            listing_requests += client.requests - before
            terms = listed if complete else None
            names = {key: row["display_name"] for key, row in listed.items()}
            for fetch in fetched:
                current = fetch.scope
                attempt.working_on(current)
                client.name_benefits(fetch, start, end, names)
        except AzureCostManagementError as exc:
            raise AzureCostManagementError(
                f"Azure Cost Management load of [{start}, {end}) failed at {current}: "
                f"{scrub(exc)}. Nothing of this run was landed; the previous data is unchanged."
            ) from None
    if client.retry_policy.waits:
        log.info(
            "azure: waited %.1f s over %d waits (retries, report polls; budget %g s)",
            client.retry_policy.waited_s,
            len(client.retry_policy.waits),
            max_wait_s,
        )
    return fetched, listing_requests, terms


def _is_management_group(scope: str) -> bool:
    """Whether `scope` is a management group's: the one the Cost Details API refuses."""
    return "/providers/microsoft.management/managementgroups/" in f"{scope.lower()}/"


def uses_report_details(scope: str, details_from_reports: bool) -> bool:
    """Whether a change-detecting load of `scope` takes the changed cells' detail, pricing
    and benefit rows from Cost Details reports: with FINOPS_AZURE_DETAILS_FROM_REPORTS on, at
    every scope the Cost Details API supports - not a management group."""
    return details_from_reports and not _is_management_group(scope)


def _read_prices(
    client: CostManagementQueryClient, fetch: ScopeFetch, start: date, end: date
) -> bool:
    """The scope's Cost Details reports into `fetch.price_rows` (their requests counted on its
    ledger row): every month of [start, end), or, for a change-detecting fetch, only the
    spans its totals asked for (`fetch.changes.price_spans`, none when nothing changed).
    HTTP 403 (no role for cost details at the scope) is logged, never raised: the costs land
    without prices. A management group scope is skipped: the API does not support it. Any
    other failure fails the load like a failed query. Returns whether the reports were read."""
    if _is_management_group(fetch.scope):
        log.warning(
            "azure: %s: the Cost Details API does not support management group scopes; its "
            "costs land without list and contracted prices (load its subscriptions or "
            "billing account instead, or set FINOPS_AZURE_PRICE_DETAILS=0)",
            fetch.scope,
        )
        return False
    before = client.requests
    spans = [(start, end)] if fetch.changes is None else fetch.changes.price_spans
    try:
        fetch.price_rows = [
            row for lo, hi in spans for row in client.price_details(fetch.scope, lo, hi)
        ]
        return True
    except PriceDetailsForbiddenError as exc:
        fetch.price_rows = []
        log.warning(
            "azure: %s. Reading cost details needs %s. The costs land without list and "
            "contracted prices (the savings rate shows them as missing); set "
            "FINOPS_AZURE_PRICE_DETAILS=0 to stop asking.",
            scrub(exc),
            PRICE_DETAILS_ROLE,
        )
        return False
    finally:
        fetch.requests += client.requests - before


def _read_terms(
    client: CostManagementQueryClient, fetched: list[ScopeFetch], as_of: date
) -> tuple[dict[str, dict[str, Any]], bool]:
    """The reservations and savings plans lists (read only when some scope's rows name a
    benefit) as lower-cased id -> `raw.azure_commitments` row, and whether both could be
    read. A list that cannot be read is logged, never raised: the costs land without the
    terms (the terms table is then left as it was), the names come from what was read and
    the Query API."""
    if not any(_named_benefits(fetch) for fetch in fetched):
        return {}, True
    terms: dict[str, dict[str, Any]] = {}
    complete = True
    for kind in mapping.BENEFIT_LISTS:
        try:
            rows = client.list_benefits(kind, as_of)
        except AzureCostManagementError as exc:
            complete = False
            log.warning(
                "azure: %s. Reading it needs %s. The commitment terms (term, billing plan, "
                "start and expiry) are left as earlier loads landed them; the costs and "
                "commitment rows still land, benefit names come from the Query API.",
                scrub(exc),
                BENEFIT_ROLES[kind],
            )
            continue
        terms.update({row["benefit_id"].lower(): row for row in rows})
    return terms, complete


# What the credential needs to read each benefits list (README, "Azure Cost Management").
BENEFIT_ROLES = {
    "Reservation": "the Reservations Reader role at the tenant's /providers/Microsoft.Capacity "
    "scope",
    "SavingsPlan": "a reader role on the savings plans (Savings plan Reader, Reader on the "
    "savings plan orders, or a billing reader role of the billing account / profile)",
}


def build_credential() -> TokenCredential:
    """The azure-identity credential of a run (see the module docstring)."""
    from azure.identity import ClientSecretCredential, DefaultAzureCredential

    kwargs: dict[str, Any] = {}
    authority = (os.environ.get("AZURE_AUTHORITY_HOST") or "").strip()
    if authority:
        kwargs["authority"] = authority
    tenant, client_id, secret = (
        (os.environ.get(name) or "").strip()
        for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
    )
    if tenant and client_id and secret:
        if authority and is_loopback(authority):
            kwargs["disable_instance_discovery"] = True
        return ClientSecretCredential(tenant, client_id, secret, **kwargs)
    log.info("azure: no service principal in AZURE_*; using DefaultAzureCredential")
    return DefaultAzureCredential(**kwargs)


def load_for_run(
    config: CostManagementConfig, window: RunWindow, attempt: warehouse.LoadAttempt
) -> list[warehouse.LoadResult]:
    """Load a run's window from the configured scopes (the restatement window, or a
    backfill's `[since, run_date)` in one window, still queried month by month)."""
    assert window.start is not None and window.end is not None
    with attempt:  # a failure to build the credential is the attempt's too
        credential = build_credential()
        try:
            return load(
                window.db_path,
                window.start,
                window.end,
                credential=credential,
                endpoint=config.arm_endpoint,
                scopes=config.scopes or None,
                client_type=config.client_type,
                max_wait_s=config.max_wait_s,
                attempt=attempt,
                price_details=config.price_details,
                allocation_tags=config.allocation_tags,
                change_detection=config.change_detection,
                details_from_reports=config.details_from_reports,
                window_check=config.window_check,
            )
        finally:
            close = getattr(credential, "close", None)
            if callable(close):
                close()


def failure_scopes(config: CostManagementConfig) -> list[str]:
    """The scopes of the `failed` ledger rows of a load that fails before it lists the
    subscriptions: the configured ones, else all of them."""
    return list(config.scopes) or [SUBSCRIPTIONS_SCOPE]
