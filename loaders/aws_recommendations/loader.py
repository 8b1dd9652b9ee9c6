"""AWS provider recommendations (issue #19): Cost Optimization Hub and Cost Explorer's
purchase recommendations, landed as the run date's snapshot.

    luigi --module pipelines DailyPipeline --date 2026-01-31 --local-scheduler
    (with FINOPS_SOURCES naming aws_recommendations, or `auto` and AWS credentials set)

* Cost Optimization Hub: `ListRecommendations` (one recommendation per resource, the hub's
  default; followed through `nextToken`) - rightsizing, idle resources, upgrades, Graviton,
  and the Savings Plans and reservations purchases it relays from Cost Explorer. The hub is
  free; it needs the account (or the organization's management account) enrolled in Cost
  Optimization Hub. IAM: `cost-optimization-hub:ListRecommendations`
  (FINOPS_AWS_COST_OPTIMIZATION_HUB).
* Cost Explorer `GetSavingsPlansPurchaseRecommendation`, one request per Savings Plans type
  (`source.SAVINGS_PLANS_TYPES`), and `GetReservationPurchaseRecommendation`, one per service
  (`source.RESERVATION_SERVICES`), each followed through `NextPageToken`: one-year, no
  upfront, 30 days of look-back, payer scope. Priced like every Cost Explorer request (USD
  0.01 each, counted and budgeted with FINOPS_AWS_MAX_REQUESTS): 6 requests a run (3
  Savings Plans types, 3 services), about USD 1.80 a month. IAM:
  `ce:GetSavingsPlansPurchaseRecommendation`, `ce:GetReservationPurchaseRecommendation`
  (FINOPS_AWS_SP_PURCHASE_RECOMMENDATIONS, FINOPS_AWS_RI_PURCHASE_RECOMMENDATIONS).

Credentials and endpoints: boto3's standard chain and settings, as the cost source
(loaders/aws_cost_explorer/client.py; FINOPS_AWS_ROLE_ARN is assumed first); the payer
account is the identity's (STS GetCallerIdentity, free).

Ledger scopes: one per API call, `hub:<payer>`, `sp:<payer>:<type>`, `ri:<payer>:<service>`,
so that each lands (or is unavailable) on its own. An AccessDeniedException (the credentials
lack the IAM action, or the hub is not enrolled) or Cost Explorer's DataUnavailableException
disables only that call for the run: one warning naming the IAM action (or the enrollment
the hub needs, or the missing usage data), nothing landed for it (its opportunities neither
refresh nor go), the rest lands. Any other error fails the run: nothing is landed
(everything is fetched before the first landing), error texts scrubbed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from loaders import warehouse
from loaders.aws_cost_explorer.budget import request_allowance
from loaders.aws_cost_explorer.client import (
    DEFAULT_REGION,
    CostExplorerClient,
    RequestBudgetExceeded,
    boto3_session,
    caller_account,
    open_session,
    request_cost,
    retry_config,
    secret_values,
)
from loaders.aws_recommendations import mapping
from loaders.aws_recommendations.source import (
    AWS_COST_OPTIMIZATION_HUB,
    AWS_RI_PURCHASE,
    AWS_SP_PURCHASE,
    RESERVATION_SERVICES,
    SAVINGS_PLANS_TYPES,
    AwsRecommendationsConfig,
)
from loaders.aws_recommendations.source import SOURCE as SPEC
from loaders.redaction import scrub

if TYPE_CHECKING:
    import boto3

    from loaders.registry import RunWindow

__all__ = ["AwsRecommendationsError", "failure_scopes", "load", "load_for_run"]

SOURCE = SPEC.ledger_source
UNKNOWN_SCOPE = "unknown"
HUB_PAGE_SIZE = 1000
# The IAM action each call needs (named in the warning when it is refused).
HUB_ACTION = "cost-optimization-hub:ListRecommendations"
SP_ACTION = "ce:GetSavingsPlansPurchaseRecommendation"
RI_ACTION = "ce:GetReservationPurchaseRecommendation"
# Answers that mean "this call is not available to these credentials", not a failure (and
# any other 403); but credentials that AWS does not accept fail the run, whatever the status.
UNAVAILABLE = frozenset({"AccessDeniedException", "AccessDenied", "DataUnavailableException"})
CREDENTIAL_ERRORS = frozenset(
    {
        "ExpiredTokenException",
        "ExpiredToken",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
        "MissingAuthenticationToken",
    }
)

log = logging.getLogger("finops.loaders.aws_recommendations")


class AwsRecommendationsError(RuntimeError):
    """An AWS recommendation load failed; nothing was landed. The text carries no secret."""


@dataclass
class Fetched:
    """One call: its ledger scope, raw table, rows (None: unavailable) and billed requests."""

    scope: str
    table: str
    rows: list[dict[str, Any]] | None = field(default_factory=list)
    requests: int = 0


def _fetch(
    fetched: Fetched,
    pages: Callable[[], Iterator[dict[str, Any]]],
    to_rows: Callable[[dict[str, Any]], list[dict[str, Any]]],
    api: str,
    action: str,
) -> Fetched:
    rows: list[dict[str, Any]] = []
    try:
        for page in pages():
            try:
                rows.extend(to_rows(page))
            except (ValueError, TypeError) as exc:
                raise AwsRecommendationsError(
                    f"{api} ({fetched.scope}): unusable answer: {exc}"
                ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if not is_unavailable(code, status):
            raise
        log.warning(
            "aws_recommendations: %s disabled for this run (%s): %s",
            api,
            fetched.scope,
            _unavailable_reason(code or str(status), str(error.get("Message") or ""), action),
        )
        fetched.rows = None
        return fetched
    fetched.rows = rows
    return fetched


def is_unavailable(code: str, status: int | None) -> bool:
    """Whether an error answer disables one call (see UNAVAILABLE) rather than fails the run."""
    return code not in CREDENTIAL_ERRORS and (code in UNAVAILABLE or status == 403)


def _unavailable_reason(code: str, message: str, action: str) -> str:
    """Why a call is unavailable, in words, and what would make it available (the API's
    message itself is not repeated: it may name the identity)."""
    if code == "DataUnavailableException":
        return f"{code}: Cost Explorer has not enough usage data for it yet (IAM action {action})"
    if action == HUB_ACTION and any(w in message.lower() for w in ("enroll", "opt in", "opt-in")):
        return (
            f"{code}: the account is not enrolled in Cost Optimization Hub; enroll it (Billing "
            f"and Cost Management console, Cost Optimization Hub, or UpdateEnrollmentStatus "
            f"from the management account), with the IAM action {action}"
        )
    enrolled = " and the account enrolled in Cost Optimization Hub" if action == HUB_ACTION else ""
    return f"{code}: needs the IAM action {action}{enrolled}"


class _HubPages:
    """ListRecommendations through its nextToken, every answered page counted."""

    def __init__(self, session: boto3.Session) -> None:
        self._hub = session.client(
            "cost-optimization-hub", region_name=DEFAULT_REGION, config=retry_config()
        )
        self.requests = 0

    def pages(self) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {"maxResults": HUB_PAGE_SIZE, "includeAllRecommendations": False}
        while True:
            page = self._hub.list_recommendations(**request)
            self.requests += 1
            yield page
            if not (token := page.get("nextToken")):
                return
            request["nextToken"] = token


def _fetch_all(
    hub: _HubPages,
    ce: CostExplorerClient,
    payer: str,
    snapshot: date,
    config: AwsRecommendationsConfig,
) -> list[Fetched]:
    fetched: list[Fetched] = []
    if config.cost_optimization_hub:
        before = hub.requests
        done = _fetch(
            Fetched(f"hub:{payer}", AWS_COST_OPTIMIZATION_HUB.name),
            hub.pages,
            lambda page: [
                mapping.hub_row(item, payer=payer, snapshot=snapshot)
                for item in page.get("items") or []
            ],
            "Cost Optimization Hub recommendations",
            HUB_ACTION,
        )
        done.requests = hub.requests - before
        fetched.append(done)
    options = {
        "TermInYears": config.term,
        "PaymentOption": config.payment_option,
        "LookbackPeriodInDays": config.lookback,
        "AccountScope": "PAYER",
    }
    if config.sp_purchase:
        for kind in SAVINGS_PLANS_TYPES:
            before = ce.requests
            request = {**options, "SavingsPlansType": kind}
            done = _fetch(
                Fetched(f"sp:{payer}:{kind}", AWS_SP_PURCHASE.name),
                lambda r=request: ce.iter_pages(r, "get_savings_plans_purchase_recommendation"),
                lambda page: mapping.sp_rows(page, payer=payer, snapshot=snapshot),
                f"Savings Plans purchase recommendations ({kind})",
                SP_ACTION,
            )
            done.requests = ce.requests - before
            fetched.append(done)
    if config.ri_purchase:
        for service in RESERVATION_SERVICES:
            before = ce.requests
            request = {**options, "Service": service}
            done = _fetch(
                Fetched(f"ri:{payer}:{service}", AWS_RI_PURCHASE.name),
                lambda r=request: ce.iter_pages(r, "get_reservation_purchase_recommendation"),
                lambda page, s=service: mapping.ri_rows(
                    page, service=s, payer=payer, snapshot=snapshot
                ),
                f"reservation purchase recommendations ({service})",
                RI_ACTION,
            )
            done.requests = ce.requests - before
            fetched.append(done)
    return fetched


def load(
    db_path: Path,
    snapshot: date,
    *,
    config: AwsRecommendationsConfig,
    session: boto3.Session | None = None,
    attempt: warehouse.LoadAttempt | None = None,
) -> list[warehouse.LoadResult]:
    """Land the `snapshot` date's recommendations of every enabled call."""
    if attempt is None:
        attempt = warehouse.LoadAttempt(
            Path(db_path),
            source=SOURCE,
            raw_table=AWS_COST_OPTIMIZATION_HUB.name,
            window_start=snapshot,
            window_end=date.fromordinal(snapshot.toordinal() + 1),
            scopes=[UNKNOWN_SCOPE],
        )
    with attempt:
        base = session
        active = session
        try:
            base = session or boto3_session()
            active = open_session(base, role_arn=config.role_arn, external_id=config.external_id)
            payer = caller_account(active)
            hub = _HubPages(active)
            # the monthly Cost Explorer budget binds this source's requests too
            allowance = request_allowance(
                Path(db_path), config.max_requests, config.monthly_budget_usd, datetime.now(UTC)
            )
            ce = CostExplorerClient(
                active, max_requests=allowance.requests, budget_setting=allowance.setting
            )
            attempt.meter(lambda: (hub.requests + ce.requests, ce.cost_usd))
            fetched = _fetch_all(hub, ce, payer, snapshot, config)
            landed = [f for f in fetched if f.rows is not None]
            attempt.expect([f.scope for f in landed], billing_account_id=payer)
            with attempt.writing():
                results = [
                    attempt.land(
                        f.scope,
                        f.rows or [],
                        raw_table=f.table,
                        api_requests=f.requests,
                        # the hub is free; every Cost Explorer request costs USD 0.01
                        api_cost_usd=(
                            Decimal(0) if f.scope.startswith("hub:") else request_cost(f.requests)
                        ),
                        provider_name="AWS",
                    )
                    for f in landed
                ]
        except Exception as exc:
            secrets = secret_values(base, config.external_id)
            if active is not base:
                secrets += secret_values(active)
            attempt.redact(*secrets)
            if isinstance(exc, RequestBudgetExceeded):
                raise RequestBudgetExceeded(scrub(str(exc), extra=secrets)) from None
            message = scrub(
                f"AWS recommendation load of {snapshot} failed; nothing was landed: "
                f"{type(exc).__name__}: {exc}",
                extra=secrets,
            )
            log.error("%s", message)
            raise AwsRecommendationsError(message) from None
    log.info(
        "aws_recommendations %s: %d call(s) landed, %d unavailable; %d hub request(s), %d Cost "
        "Explorer request(s) (USD %s)",
        snapshot,
        len(landed),
        len(fetched) - len(landed),
        hub.requests,
        ce.requests,
        ce.cost_usd,
    )
    return results


def load_for_run(
    config: AwsRecommendationsConfig, window: RunWindow, attempt: warehouse.LoadAttempt
) -> list[warehouse.LoadResult]:
    """Land the run date's snapshot (window [D, D + 1))."""
    assert window.start is not None
    return load(window.db_path, window.start, config=config, attempt=attempt)


def failure_scopes(config: AwsRecommendationsConfig) -> list[str]:
    """The scope of the `failed` ledger row of a load that fails before it knows its payer."""
    return [UNKNOWN_SCOPE]
