"""Azure provider recommendations (issue #19): Advisor cost recommendations and reservation
purchase recommendations, landed as the run date's snapshot.

    luigi --module pipelines DailyPipeline --date 2026-01-31 --local-scheduler
    (with FINOPS_SOURCES naming azure_recommendations, or `auto` and AZURE_* set)

* Advisor: `GET {endpoint}/subscriptions/{id}/providers/Microsoft.Advisor/recommendations?
  api-version=2023-01-01&$filter=Category eq 'Cost'` per subscription (FINOPS_AZURE_ADVISOR).
  Subscriptions: the `/subscriptions/{id}` scopes of FINOPS_AZURE_SCOPES; with no scopes, or
  a scope that is not a subscription (billing account, management group), every
  subscription the credential lists. Role: Reader (or Advisor Reader) on the subscription.
* Reservations: `GET {scope}/providers/Microsoft.Consumption/reservationRecommendations?
  api-version=2023-05-01&$filter=properties/lookBackPeriod eq '<FINOPS_AZURE_RESERVATION_
  LOOKBACK>'` per configured subscription or billing account scope (none configured: each
  listed subscription; management groups are not a scope of this API and are skipped)
  (FINOPS_AZURE_RESERVATION_RECOMMENDATIONS). Role: Reader / Cost Management Reader.

No SDK for these two (azure-mgmt-advisor, azure-mgmt-consumption): each would bring a second
pipeline - its own token, retry policy and request count - for plain GET lists, without
Cost Management's `x-ms-ratelimit-*` throttling headers or the wait budget. They go through
the cost source's client (`CostManagementQueryClient.get_pages`: same token, retries,
ClientType, counting, loopback-only http, scrubbing), as its reservations lists do.

Ledger scopes: one per API and scope, `advisor:/subscriptions/{id}` and
`reservations:{scope}`, so that each lands (and fails, or is skipped) on its own, and the
ledger shows which API answered for which scope. A 403 (e.g. AuthorizationFailed) or a 404
(the resource provider not registered, e.g. SubscriptionNotRegistered) disables only that
API at that scope for the run: one warning naming the role needed, nothing landed for it
(what an earlier run landed for the same date stays), the rest of the run lands. Any other
error fails the run: nothing is landed (everything is fetched before the first landing).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from loaders import warehouse

# Modules, not names: importing the cost client first by name would import it before the
# cost loader that its package's lazy attributes read (a circular import).
from loaders.azure_cost_management import client as cost_client
from loaders.azure_cost_management import loader as cost_loader
from loaders.azure_recommendations import mapping
from loaders.azure_recommendations.source import (
    AZURE_ADVISOR_RECOMMENDATIONS,
    AZURE_RESERVATION_RECOMMENDATIONS,
    AzureRecommendationsConfig,
)
from loaders.azure_recommendations.source import SOURCE as SPEC

if TYPE_CHECKING:
    from pathlib import Path

    from azure.core.credentials import TokenCredential

    from loaders.registry import RunWindow

__all__ = ["AzureCostManagementError", "failure_scopes", "load", "load_for_run"]

SOURCE = SPEC.ledger_source
AzureCostManagementError = cost_client.AzureCostManagementError
CostManagementQueryClient = cost_client.CostManagementQueryClient
ADVISOR_API_VERSION = "2023-01-01"
CONSUMPTION_API_VERSION = "2023-05-01"
ADVISOR_FILTER = "Category eq 'Cost'"
ADVISOR_ROLE = "Reader (or Advisor Reader) on the subscription"
RESERVATION_ROLE = "Reader or Cost Management Reader on the scope"
# Answers that mean "this API is not available to us at this scope", not a failure: any 403
# (AuthorizationFailed, ...) and a 404 whose ARM code says the resource provider is not
# registered on the subscription. Any other 404 (a scope that does not exist) fails the run.
NOT_REGISTERED = frozenset(
    {
        "subscriptionnotregistered",
        "missingsubscriptionregistration",
        "resourceprovidernotregistered",
        "noregisteredproviderfound",
    }
)
ALL_SUBSCRIPTIONS = "/subscriptions"

log = logging.getLogger("finops.loaders.azure_recommendations")


@dataclass
class Fetched:
    """One API at one scope: its ledger scope, raw table and rows (None: unavailable)."""

    scope: str
    table: str
    rows: list[dict[str, Any]] | None = field(default_factory=list)
    requests: int = 0


def advisor_path(subscription_id: str) -> str:
    return (
        f"/subscriptions/{subscription_id}/providers/Microsoft.Advisor/recommendations"
        f"?api-version={ADVISOR_API_VERSION}&$filter={quote(ADVISOR_FILTER)}"
    )


def reservations_path(scope: str, lookback: str) -> str:
    flt = quote(f"properties/lookBackPeriod eq '{lookback}'")
    return (
        f"{scope}/providers/Microsoft.Consumption/reservationRecommendations"
        f"?api-version={CONSUMPTION_API_VERSION}&$filter={flt}"
    )


def _is_subscription(scope: str) -> bool:
    parts = scope.strip("/").split("/")
    return len(parts) == 2 and parts[0].lower() == "subscriptions"


def _fetch_list(
    client: CostManagementQueryClient,
    fetched: Fetched,
    path: str,
    role: str,
    api: str,
    to_row: Callable[[dict[str, Any]], dict[str, Any]],
) -> Fetched:
    before = client.requests
    rows: list[dict[str, Any]] = []
    try:
        for page in client.get_pages(path, f"{api} at {fetched.scope.partition(':')[2]}"):
            for item in page.get("value") or []:
                try:
                    rows.append(to_row(item))
                except ValueError as exc:
                    raise AzureCostManagementError(
                        f"{api} at {fetched.scope}: unusable answer: {exc}"
                    ) from None
    except cost_client.ListRequestError as exc:
        code = (exc.error_code or "").lower()
        if not (exc.status_code == 403 or (exc.status_code == 404 and code in NOT_REGISTERED)):
            raise
        log.warning(
            "azure_recommendations: %s disabled for this run at %s (needs %s): %s",
            api,
            fetched.scope.partition(":")[2],
            role,
            exc,
        )
        fetched.rows = None
    else:
        fetched.rows = rows
    fetched.requests = client.requests - before
    return fetched


def load(
    db_path: Path,
    snapshot: date,
    *,
    credential: TokenCredential,
    config: AzureRecommendationsConfig,
    sleep: Callable[[float], None] | None = None,
    attempt: warehouse.LoadAttempt | None = None,
) -> list[warehouse.LoadResult]:
    """Land the `snapshot` date's recommendations of every enabled API and scope."""
    cost_client.check_endpoint(config.arm_endpoint)
    scopes = cost_loader.normalise_scopes(config.scopes)
    if attempt is None:
        attempt = warehouse.LoadAttempt(
            db_path,
            source=SOURCE,
            raw_table=AZURE_ADVISOR_RECOMMENDATIONS.name,
            window_start=snapshot,
            window_end=date.fromordinal(snapshot.toordinal() + 1),
        )
    kwargs: dict[str, Any] = {"client_type": config.client_type, "max_wait_s": config.max_wait_s}
    if sleep is not None:
        kwargs["sleep"] = sleep
    with attempt, CostManagementQueryClient(credential, config.arm_endpoint, **kwargs) as client:
        attempt.expect(failure_scopes(config))
        attempt.meter(lambda: (client.requests, Decimal(0)))
        listed: list[str] = []
        if not scopes or not all(_is_subscription(s) for s in scopes):
            listed = [s.scope for s in client.list_subscriptions()]
        fetched: list[Fetched] = []
        if config.advisor:
            subscriptions = cost_loader.normalise_scopes(
                [s for s in scopes if _is_subscription(s)] + listed
            )
            for scope in subscriptions:
                subscription_id = scope.rsplit("/", 1)[-1].lower()
                fetched.append(
                    _fetch_list(
                        client,
                        Fetched(f"advisor:{scope}", AZURE_ADVISOR_RECOMMENDATIONS.name),
                        advisor_path(subscription_id),
                        ADVISOR_ROLE,
                        "Advisor cost recommendations",
                        lambda item, s=subscription_id: mapping.advisor_row(
                            item, subscription_id=s, snapshot=snapshot
                        ),
                    )
                )
        if config.reservations:
            for scope in scopes or listed:
                if "/microsoft.management/managementgroups/" in scope.lower() + "/":
                    log.warning(
                        "azure_recommendations: %s is a management group; reservation "
                        "recommendations are read per subscription or billing account",
                        scope,
                    )
                    continue
                fetched.append(
                    _fetch_list(
                        client,
                        Fetched(f"reservations:{scope}", AZURE_RESERVATION_RECOMMENDATIONS.name),
                        reservations_path(scope, config.lookback),
                        RESERVATION_ROLE,
                        "reservation recommendations",
                        lambda item, s=scope: mapping.reservation_row(
                            item, scope=s, snapshot=snapshot
                        ),
                    )
                )
        attempt.expect([f.scope for f in fetched if f.rows is not None])
        listing = client.requests - sum(f.requests for f in fetched)
        landed = [f for f in fetched if f.rows is not None]
        with attempt.writing():
            return [
                attempt.land(
                    f.scope,
                    f.rows or [],
                    raw_table=f.table,
                    api_requests=f.requests + (listing if index == 0 else 0),
                    api_cost_usd=Decimal(0),
                    provider_name="Azure",
                )
                for index, f in enumerate(landed)
            ]


def load_for_run(
    config: AzureRecommendationsConfig, window: RunWindow, attempt: warehouse.LoadAttempt
) -> list[warehouse.LoadResult]:
    """Land the run date's snapshot (window [D, D + 1))."""
    assert window.start is not None
    with attempt:
        credential = cost_loader.build_credential()
        try:
            return load(
                window.db_path, window.start, credential=credential, config=config, attempt=attempt
            )
        finally:
            close = getattr(credential, "close", None)
            if callable(close):
                close()


def failure_scopes(config: AzureRecommendationsConfig) -> list[str]:
    """The ledger scopes a failure covers before the subscriptions are listed."""
    scopes = cost_loader.normalise_scopes(config.scopes) or [ALL_SUBSCRIPTIONS]
    return [
        *(f"advisor:{s}" for s in scopes if config.advisor),
        *(f"reservations:{s}" for s in scopes if config.reservations),
    ]
