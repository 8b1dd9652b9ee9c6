"""Cost Management I/O: the SDK client, throttling, nextLink paging, subscription listing.

`CostManagementQueryClient` wraps `azure.mgmt.costmanagement.CostManagementClient` (real SDK,
real azure-core pipeline) and adds what the SDK lacks:

* **Paging.** `query.usage` returns one page of at most 5,000 rows and ignores
  `properties.nextLink`. `query_pages` POSTs the same body to the nextLink until it is null.
  The nextLink's path and query are always sent to the configured endpoint, so the bearer
  token never goes to another host, whatever host the link names.
* **Throttling.** azure-core retries a POST on 429 only when `Retry-After` is present; Cost
  Management often answers with `x-ms-ratelimit-microsoft.costmanagement-{qpu,entity,tenant,
  client}-retry-after` alone. `CostManagementRetryPolicy` retries 408, 429, 500/502/503/504
  and connection errors for every method (a query POST only reads), at most
  `MAX_ATTEMPTS_PER_REQUEST` attempts per request; it waits the longest of those headers and
  `Retry-After` (else azure-core's exponential backoff) and keeps one wait budget for the
  whole client (`max_wait_s`, FINOPS_AZURE_MAX_WAIT_SECONDS): a retry whose wait would
  overrun it is not attempted, the load fails with `AzureCostManagementError` instead.
* **Quota bucket.** Every request carries `ClientType: <client_type>` so the service counts
  this client's queries in its own bucket rather than the tenant's default one.
* **Counting.** `requests` counts every HTTP request sent to the endpoint, retries included:
  each one consumes Cost Management quota (QPU) even when throttled. Token requests to the
  authority are not counted. The Query API itself has no per-request charge.
* **Subscriptions.** azure-mgmt-costmanagement cannot list subscriptions; `list_subscriptions`
  GETs `{endpoint}/subscriptions?api-version=2022-12-01` through the same pipeline (same
  token, retries, counting), following its nextLink.
* **Reservations and savings plans.** `list_benefits` GETs the reservations
  (`/providers/Microsoft.Capacity/reservations`) or savings plans
  (`/providers/Microsoft.BillingBenefits/savingsPlans`) list the same way (api-version
  2022-11-01), through `get_pages` (any ARM GET list with nextLink; the recommendation
  source, loaders/azure_recommendations, reads the Advisor and Consumption lists with it).
  No SDK for them: azure-mgmt-reservations would bring a second pipeline (its own token,
  retries and request count) for two GETs, and azure-mgmt-billingbenefits has only beta
  releases.

Transport security: the endpoint must be https. Plain http is accepted only for a loopback
host (127.0.0.1, ::1, localhost) - a local emulator or a local TLS-terminating proxy - and
only then is the bearer policy told not to insist on https. Proxies and CA bundles come from
the standard environment (`HTTPS_PROXY`, `NO_PROXY`, `REQUESTS_CA_BUNDLE`), which the
requests transport honours.

Secrets: the credential and its tokens are never logged. Errors are raised as
`AzureCostManagementError` with texts passed through `loaders.redaction.scrub`, which blanks
`AZURE_CLIENT_SECRET` (and the other known secrets) and every token the credential handed out
in this process (`redaction.remember`).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime
from ipaddress import ip_address
from typing import Any
from urllib.parse import urlsplit

from azure.core import PipelineClient
from azure.core.credentials import AccessToken, TokenCredential
from azure.core.exceptions import AzureError, HttpResponseError
from azure.core.pipeline import PipelineRequest, PipelineResponse
from azure.core.pipeline.policies import HeadersPolicy, RetryPolicy, SansIOHTTPPolicy
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest
from azure.mgmt.costmanagement import CostManagementClient

from loaders.azure_cost_management import mapping
from loaders.redaction import remember, scrub

log = logging.getLogger("finops.loaders.azure_cost_management")

DEFAULT_ENDPOINT = "https://management.azure.com"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
COST_MANAGEMENT_RETRY_AFTER_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{bucket}-retry-after"
    for bucket in ("qpu", "entity", "tenant", "client")
)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_ATTEMPTS_PER_REQUEST = 10
MAX_PAGES_PER_QUERY = 10_000
# Cost Details API (generateCostDetailsReport): the api-version of azure-mgmt-costmanagement
# 5.0.0's generate_cost_details_report operations, whose URL shapes these are.
COST_DETAILS_API_VERSION = "2025-03-01"
COST_DETAILS_SUFFIX = "/providers/Microsoft.CostManagement/generateCostDetailsReport"
MAX_REPORT_POLLS = 120
DEFAULT_POLL_WAIT_S = 10.0  # a 202 without Retry-After
# "smaller cost data sets of 2 GB (2 million rows) or less" (Get small cost datasets on
# demand): a report beyond it is refused rather than filling the disk.
MAX_REPORT_BYTES = 2 * 1024**3
DOWNLOAD_CHUNK = 1024 * 1024
LOOPBACK_HOSTS = frozenset({"localhost"})
# azure-core logs every request and response (headers redacted) at INFO; that would put
# hundreds of lines per run in logs/pipeline.log. Quieted unless someone configured it.
_AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


class AzureCostManagementError(RuntimeError):
    """The Cost Management source could not be read; nothing of the run was landed."""


class RetryBudgetExceededError(AzureCostManagementError):
    """Retrying would wait longer than the remaining FINOPS_AZURE_MAX_WAIT_SECONDS budget."""


class ListRequestError(AzureCostManagementError):
    """An ARM GET list answered an error: its HTTP status and ARM error code (e.g. 403
    AuthorizationFailed, 404 a resource provider not registered) for a caller that treats
    some of them as "not available here" rather than a failure."""

    def __init__(self, message: str, status_code: int | None, error_code: str | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code


class PriceDetailsForbiddenError(AzureCostManagementError):
    """HTTP 403 on generateCostDetailsReport: the credential lacks the role at the scope."""


def is_loopback(url: str) -> bool:
    host = (urlsplit(url).hostname or "").lower()
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str) -> str:
    """The endpoint without a trailing slash; ValueError unless https (or http on loopback)."""
    endpoint = endpoint.rstrip("/")
    parts = urlsplit(endpoint)
    if not parts.hostname or parts.scheme not in ("https", "http"):
        raise ValueError(f"FINOPS_AZURE_ARM_ENDPOINT must be an https URL, got {endpoint!r}")
    if parts.scheme == "http" and not is_loopback(endpoint):
        raise ValueError(
            f"FINOPS_AZURE_ARM_ENDPOINT {endpoint!r} is plain http: the bearer token would "
            "travel unencrypted. Use https (plain http is allowed for 127.0.0.1/localhost only)."
        )
    return endpoint


class _RememberingCredential:
    """Hands out the wrapped credential's tokens and remembers them for `scrub`."""

    def __init__(self, credential: TokenCredential) -> None:
        self._credential = credential

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        token = self._credential.get_token(*scopes, **kwargs)
        remember(token.token)
        return token

    def close(self) -> None:
        close = getattr(self._credential, "close", None)
        if callable(close):
            close()


class RequestCounter(SansIOHTTPPolicy):
    """Counts every request that leaves the pipeline (sits after the retry policy)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def on_request(self, request: PipelineRequest) -> None:
        self.count += 1


def _seconds(value: str | None) -> float | None:
    """A retry-after header value (seconds, or an HTTP date) in seconds; None if unusable."""
    if value is None or not value.strip():
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


class WaitBudget:
    """The seconds one load may spend waiting (FINOPS_AZURE_MAX_WAIT_SECONDS): on throttling
    and retries of every request, and on a Cost Details report being generated. `waits`
    lists each wait; `waited_s` is their sum and never exceeds `max_wait_s`."""

    def __init__(self, max_wait_s: float, sleep: Callable[[float], None] = time.sleep) -> None:
        self.max_wait_s = float(max_wait_s)
        self.waited_s = 0.0
        self.waits: list[float] = []
        self._sleep = sleep

    def check(self, delay: float, what: str) -> None:
        """RetryBudgetExceededError when waiting `delay` s would overrun the budget."""
        if self.waited_s + delay > self.max_wait_s:
            raise RetryBudgetExceededError(
                f"{what} needs a wait of {delay:g} s but only "
                f"{max(self.max_wait_s - self.waited_s, 0):g} s of the {self.max_wait_s:g} s "
                "retry budget (FINOPS_AZURE_MAX_WAIT_SECONDS) is left"
            )

    def wait(self, delay: float) -> None:
        if delay > 0:
            self._sleep(delay)
        self.waited_s += delay
        self.waits.append(delay)


class CostManagementRetryPolicy(RetryPolicy):
    """azure-core's RetryPolicy taught Cost Management's throttling, with a wait budget.

    Retries 408/429/5xx for every method (the query POST is a read); waits the longest of the
    `x-ms-ratelimit-microsoft.costmanagement-*-retry-after` headers and `Retry-After`, else
    azure-core's exponential backoff. `waits` lists each wait in seconds; `waited_s` is
    their sum, which never exceeds `max_wait_s` over the life of the policy (one load).
    """

    def __init__(
        self,
        *,
        max_wait_s: float = 0,
        sleep: Callable[[float], None] = time.sleep,
        budget: WaitBudget | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("retry_total", MAX_ATTEMPTS_PER_REQUEST - 1)
        kwargs.setdefault("retry_status", MAX_ATTEMPTS_PER_REQUEST - 1)
        super().__init__(**kwargs)
        # One budget per load, shared with the blob downloads' policy and report polling.
        self.budget = budget if budget is not None else WaitBudget(max_wait_s, sleep)

    @property
    def max_wait_s(self) -> float:
        return self.budget.max_wait_s

    @property
    def waited_s(self) -> float:
        return self.budget.waited_s

    @property
    def waits(self) -> list[float]:
        return self.budget.waits

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        settings = super().configure_retries(options)
        # Connection errors and timeouts are retried for POST too: a query only reads.
        settings["methods"] = frozenset(settings["methods"]) | {"POST"}
        return settings

    def is_retry(self, settings: dict[str, Any], response: PipelineResponse) -> bool:
        if response.http_response.status_code in RETRY_STATUSES:
            return bool(settings["total"])
        return False

    def get_retry_after(self, response: PipelineResponse) -> float | None:
        headers = response.http_response.headers
        waits = [
            seconds
            for name in (*COST_MANAGEMENT_RETRY_AFTER_HEADERS, "Retry-After")
            if (seconds := _seconds(headers.get(name))) is not None
        ]
        for name, scale in (("retry-after-ms", 1000.0), ("x-ms-retry-after-ms", 1000.0)):
            if (seconds := _seconds(headers.get(name))) is not None:
                waits.append(seconds / scale)
        return max(waits) if waits else None

    def sleep(
        self,
        settings: dict[str, Any],
        transport: Any,
        response: PipelineResponse | None = None,
    ) -> None:
        asked = self.get_retry_after(response) if response is not None else None
        delay = asked if asked is not None else self.get_backoff_time(settings)
        what = "request"
        if response is not None:
            request = response.http_request
            what = (
                f"{request.method} {urlsplit(request.url).path}: "
                f"HTTP {response.http_response.status_code}"
            )
        self.budget.check(delay, f"{what}; retrying")
        if response is not None:
            log.info(
                "HTTP %s on %s; retrying in %.1f s",
                response.http_response.status_code,
                urlsplit(response.http_request.url).path,
                delay,
            )
        self.budget.wait(delay)


@dataclass(frozen=True)
class Subscription:
    subscription_id: str
    display_name: str | None
    state: str | None

    @property
    def scope(self) -> str:
        return f"/subscriptions/{self.subscription_id}"


@dataclass
class ScopeFetch:
    """Everything one scope answered for one window, mapped, not yet landed."""

    scope: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    # raw.azure_commitment_costs rows: the pricing and benefit queries (mapping, "Commitments")
    commitment_rows: list[dict[str, Any]] = field(default_factory=list)
    # raw.azure_price_details rows: the Cost Details reports (mapping, "price details");
    # empty when FINOPS_AZURE_PRICE_DETAILS is off or the reports could not be read (403)
    price_rows: list[dict[str, Any]] = field(default_factory=list)
    # raw.azure_cost_management_tags rows: the tag queries (mapping, "Tags"); empty when no
    # allocation key is configured
    tag_rows: list[dict[str, Any]] = field(default_factory=list)
    queries: int = 0  # logical queries (a query and its nextLink pages count once)
    pages: int = 0
    requests: int = 0  # HTTP requests, retries included


def _json(response: Any) -> dict[str, Any]:
    """A response body as JSON, numbers with a fraction as exact Decimals."""
    text = response.text()
    return json.loads(text, parse_float=Decimal) if text.strip() else {}


class CostManagementQueryClient:
    """The Query API and the subscription list over one authenticated pipeline."""

    def __init__(
        self,
        credential: TokenCredential,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        client_type: str = "finops-dashboard",
        max_wait_s: float = 300,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.endpoint = check_endpoint(endpoint)
        self.retry_policy = CostManagementRetryPolicy(max_wait_s=max_wait_s, sleep=sleep)
        self.budget = self.retry_policy.budget
        self._counter = RequestCounter()
        # Cost Details report blobs: SAS URLs (the signature in the query string is the
        # credential), possibly on a storage host. Their own pipeline: no bearer token, no
        # ClientType; the same wait budget for retries, counted apart (`blob_requests`).
        self._blob_counter = RequestCounter()
        self._blob_client = PipelineClient(
            base_url=self.endpoint,
            policies=[
                CostManagementRetryPolicy(budget=self.budget),
                self._blob_counter,
            ],
            transport=RequestsTransport(),
        )
        # Plain http is only ever allowed on loopback (check_endpoint); tell the bearer policy.
        self._call_options: dict[str, Any] = (
            {"enforce_https": False} if self.endpoint.startswith("http://") else {}
        )
        http_logger = logging.getLogger(_AZURE_HTTP_LOGGER)
        if http_logger.level == logging.NOTSET:
            http_logger.setLevel(logging.WARNING)
        self._client = CostManagementClient(
            _RememberingCredential(credential),
            base_url=self.endpoint,
            credential_scopes=[f"{self.endpoint}/.default"],
            headers_policy=HeadersPolicy(base_headers={"ClientType": client_type}),
            retry_policy=self.retry_policy,
            per_retry_policies=[self._counter],
        )

    # ------------------------------------------------------------------ plumbing

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included: to the endpoint and for report blobs."""
        return self._counter.count + self._blob_counter.count

    @property
    def blob_requests(self) -> int:
        """The GETs of Cost Details report blobs among `requests` (no Cost Management quota)."""
        return self._blob_counter.count

    def close(self) -> None:
        self._client.close()
        self._blob_client.close()

    def __enter__(self) -> CostManagementQueryClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _on_endpoint(self, link: str) -> str:
        """A link's path and query on the configured endpoint (the token stays there)."""
        parts = urlsplit(link)
        return f"{self.endpoint}{parts.path}" + (f"?{parts.query}" if parts.query else "")

    def _send(self, request: HttpRequest) -> dict[str, Any]:
        response = self._client.send_request(request, **self._call_options)
        if response.status_code == 204:
            return {}
        response.raise_for_status()
        return _json(response)

    # ------------------------------------------------------------------ subscriptions

    def list_subscriptions(self) -> list[Subscription]:
        """Every subscription the credential can see (GET /subscriptions, all pages)."""
        subscriptions: list[Subscription] = []
        request = HttpRequest(
            "GET", f"{self.endpoint}/subscriptions?api-version={SUBSCRIPTIONS_API_VERSION}"
        )
        seen: set[str] = set()
        while True:
            try:
                body = self._send(request)
            except (AzureError, AzureCostManagementError) as exc:
                raise AzureCostManagementError(
                    scrub(f"listing subscriptions failed: {_describe(exc)}")
                ) from None
            for item in body.get("value") or []:
                subscription_id = (
                    item.get("subscriptionId") or str(item.get("id", "")).rsplit("/", 1)[-1]
                )
                if subscription_id:
                    subscriptions.append(
                        Subscription(subscription_id, item.get("displayName"), item.get("state"))
                    )
            link = body.get("nextLink")
            if not link or link in seen:
                return subscriptions
            seen.add(link)
            request = HttpRequest("GET", self._on_endpoint(link))

    # ------------------------------------------------------------------ queries

    def query_pages(self, scope: str, body: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
        """Every page of one query: `query.usage` for the first, then the nextLinks."""
        scope_path = scope.strip("/")
        try:
            raw = self._client.query.usage(
                scope_path,
                dict(body),
                cls=lambda pipeline_response, _deserialized, _headers: (
                    pipeline_response.http_response
                ),
                **self._call_options,
            )
        except (AzureError, AzureCostManagementError) as exc:
            raise AzureCostManagementError(
                scrub(f"query at {scope} ({_describe_body(body)}) failed: {_describe(exc)}")
            ) from None
        page = {} if raw is None or raw.status_code == 204 else _json(raw)
        seen: set[str] = set()
        for number in range(1, MAX_PAGES_PER_QUERY + 1):
            if not page:
                return
            yield page
            link = mapping.next_link(page)
            if not link:
                return
            if link in seen:
                raise AzureCostManagementError(
                    f"query at {scope} ({_describe_body(body)}): nextLink repeats after page "
                    f"{number}; refusing to loop"
                )
            seen.add(link)
            try:
                page = self._send(HttpRequest("POST", self._on_endpoint(link), json=dict(body)))
            except (AzureError, AzureCostManagementError) as exc:
                raise AzureCostManagementError(
                    scrub(
                        f"query at {scope} ({_describe_body(body)}), page {number + 1} failed: "
                        f"{_describe(exc)}"
                    )
                ) from None
        raise AzureCostManagementError(
            f"query at {scope} ({_describe_body(body)}): more than {MAX_PAGES_PER_QUERY} pages"
        )

    def list_benefits(self, kind: str, as_of: date) -> list[dict[str, Any]]:
        """`raw.azure_commitments` rows of every item of the reservations (`kind`
        'Reservation') or savings plans ('SavingsPlan') list, all pages (`mapping.
        BENEFIT_LISTS`: GET through the same pipeline, token, retries and counting).
        Raises AzureCostManagementError when the list cannot be read (e.g. HTTP 403 without
        the role), answers an item twice or an item the mapping refuses."""
        path, version = mapping.BENEFIT_LISTS[kind]
        rows: list[dict[str, Any]] = []
        seen_ids: set[str] = set()
        for body in self.get_pages(f"{path}?api-version={version}", f"listing {path}"):
            for item in body.get("value") or []:
                try:
                    row = mapping.benefit_row(item, kind=kind, as_of=as_of, index=len(rows))
                except ValueError as exc:
                    raise AzureCostManagementError(f"{path}: unusable answer: {exc}") from None
                if row["benefit_id"].lower() in seen_ids:
                    raise AzureCostManagementError(
                        f"{path} answered {row['benefit_id']} twice (a page fetched again?)"
                    )
                seen_ids.add(row["benefit_id"].lower())
                rows.append(row)
        return rows

    def get_pages(self, path: str, what: str) -> Iterator[dict[str, Any]]:
        """Every page of the ARM GET list at `path` (path and query, on the endpoint),
        following `nextLink` through the same pipeline (token, retries, wait budget,
        counting); each nextLink is sent to the configured endpoint. An error answer raises
        ListRequestError (its status and ARM code) named `what`, scrubbed of secrets."""
        request = HttpRequest("GET", f"{self.endpoint}/{path.lstrip('/')}")
        seen: set[str] = set()
        while True:
            try:
                body = self._send(request)
            except HttpResponseError as exc:
                raise ListRequestError(
                    scrub(f"{what} failed: {_describe(exc)}"), exc.status_code, _error_code(exc)
                ) from None
            except (AzureError, AzureCostManagementError) as exc:
                raise ListRequestError(
                    scrub(f"{what} failed: {_describe(exc)}"), None, None
                ) from None
            yield body
            link = body.get("nextLink")
            if not link:
                return
            if link in seen:
                raise AzureCostManagementError(f"{what}: nextLink repeats; refusing to loop")
            seen.add(link)
            request = HttpRequest("GET", self._on_endpoint(link))

    def subscription_names(self, scope: str, start: date, end: date) -> dict[str, str]:
        """SubscriptionId (lower-case) -> name as the Query API knows them at `scope`."""
        names: dict[str, str] = {}
        for page in self.query_pages(scope, mapping.subscription_names_definition(start, end)):
            names.update(mapping.subscription_names(page))
        return names

    def fetch_scope(
        self,
        scope: str,
        start: date,
        end: date,
        names: Mapping[str, str],
        tag_keys: Sequence[str] = (),
    ) -> ScopeFetch:
        """All raw rows of `scope` in [start, end) by the documented scheme (see `mapping`).

        `names` maps lower-case subscription ids to names (from `list_subscriptions`); ids it
        lacks are named by one extra query at the scope. `tag_keys` (FINOPS_ALLOCATION_TAGS,
        configured spelling): the keys of the tag queries; none, no tag query.
        """
        before = self.requests
        fetch = ScopeFetch(scope=scope)
        for chunk_start, chunk_end in mapping.month_chunks(start, end):
            discovered: dict[str, list[tuple[str, str]]] = {}
            for query_type in mapping.QUERY_TYPES:
                pairs: dict[tuple[str, str], None] = {}  # ordered, without duplicates
                discovery = mapping.discovery_definition(query_type, chunk_start, chunk_end)
                fetch.queries += 1
                for page in self.query_pages(scope, discovery):
                    fetch.pages += 1
                    pairs.update(dict.fromkeys(mapping.discovered_pairs(page)))
                discovered[query_type] = list(pairs)
                for subscription_id, charge_type in pairs:
                    body = mapping.query_definition(
                        query_type,
                        chunk_start,
                        chunk_end,
                        charge_type,
                        subscription_id=subscription_id,
                    )
                    fixed = {"SubscriptionId": subscription_id, "ChargeType": charge_type}
                    fetch.queries += 1
                    for page in self.query_pages(scope, body):
                        fetch.pages += 1
                        try:
                            fetch.rows.extend(
                                mapping.to_rows(page, query_type=query_type, fixed=fixed)
                            )
                        except ValueError as exc:
                            raise AzureCostManagementError(
                                f"query at {scope} ({_describe_body(body)}): unusable answer: {exc}"
                            ) from None
            self._fetch_commitments(fetch, chunk_start, chunk_end, discovered)
            self._fetch_tags(fetch, chunk_start, chunk_end, discovered, tag_keys)
        self._name_rows(fetch, start, end, names)
        fetch.requests = self.requests - before
        return fetch

    def _commitment_query(
        self, fetch: ScopeFetch, body: dict[str, Any], breakdown: str, fixed: dict[str, str]
    ) -> set[str]:
        """Run one pricing or benefit query of `fetch.scope`, every page mapped into
        `fetch.commitment_rows`; returns the PricingModel values a pricing answer had."""
        fetch.queries += 1
        models: set[str] = set()
        for page in self.query_pages(fetch.scope, body):
            fetch.pages += 1
            try:
                if breakdown == mapping.BREAKDOWN_PRICING:
                    models |= mapping.pricing_models(page)
                fetch.commitment_rows.extend(
                    mapping.commitment_rows(
                        page, query_type=body["type"], breakdown=breakdown, fixed=fixed
                    )
                )
            except ValueError as exc:
                raise AzureCostManagementError(
                    f"query at {fetch.scope} ({_describe_body(body)}): unusable answer: {exc}"
                ) from None
        return models

    def _fetch_commitments(
        self,
        fetch: ScopeFetch,
        start: date,
        end: date,
        discovered: Mapping[str, list[tuple[str, str]]],
    ) -> None:
        """The pricing and benefit queries of one month (mapping, "Commitments"): a pricing
        query per subscription with amortized Usage; a benefit query per benefit charge type
        pair discovered and per subscription whose pricing answer has committed usage."""
        committed: list[str] = []
        usage_subscriptions = dict.fromkeys(
            s for s, charge_type in discovered.get("AmortizedCost", []) if charge_type == "Usage"
        )
        for subscription_id in usage_subscriptions:
            models = self._commitment_query(
                fetch,
                mapping.pricing_definition(start, end, subscription_id),
                mapping.BREAKDOWN_PRICING,
                {"SubscriptionId": subscription_id, "ChargeType": "Usage"},
            )
            if any(mapping.is_committed(model) for model in models):
                committed.append(subscription_id)
        for query_type in mapping.QUERY_TYPES:
            wanted = mapping.benefit_queries(discovered.get(query_type, []), query_type, committed)
            for subscription_id, charge_type in wanted:
                self._commitment_query(
                    fetch,
                    mapping.benefit_definition(
                        query_type, start, end, subscription_id, charge_type
                    ),
                    mapping.BREAKDOWN_BENEFIT,
                    {"SubscriptionId": subscription_id, "ChargeType": charge_type},
                )

    def _fetch_tags(
        self,
        fetch: ScopeFetch,
        start: date,
        end: date,
        discovered: Mapping[str, list[tuple[str, str]]],
        tag_keys: Sequence[str],
    ) -> None:
        """The tag queries of one month (mapping, "Tags"): per query type, subscription that
        discovery found with cost of that type, and key, one query, every page mapped into
        `fetch.tag_rows`."""
        for query_type in mapping.QUERY_TYPES:
            subscriptions = dict.fromkeys(s for s, _ in discovered.get(query_type, []))
            for subscription_id in subscriptions:
                for tag_key in tag_keys:
                    body = mapping.tag_definition(query_type, start, end, subscription_id, tag_key)
                    fetch.queries += 1
                    for page in self.query_pages(fetch.scope, body):
                        fetch.pages += 1
                        try:
                            fetch.tag_rows.extend(
                                mapping.tag_rows(
                                    page,
                                    query_type=query_type,
                                    allocation_key=tag_key,
                                    fixed={"SubscriptionId": subscription_id},
                                )
                            )
                        except ValueError as exc:
                            raise AzureCostManagementError(
                                f"query at {fetch.scope} ({_describe_body(body)}): unusable "
                                f"answer: {exc}"
                            ) from None

    def name_benefits(
        self, fetch: ScopeFetch, start: date, end: date, names: Mapping[str, str | None]
    ) -> None:
        """Fill `benefit_name` of the scope's commitment rows from `names` (lower-cased
        benefit id -> display name, from the benefits lists); ids it lacks are named by one
        `benefit_names_definition` query at the scope, counted in `fetch.requests`."""
        known = {k: v for k, v in names.items() if v}
        ids = {r["benefit_id"].lower() for r in fetch.commitment_rows if r["benefit_id"]}
        if ids - set(known):
            before = self.requests
            body = mapping.benefit_names_definition(start, end)
            fetch.queries += 1
            for page in self.query_pages(fetch.scope, body):
                fetch.pages += 1
                try:
                    found = mapping.benefit_names(page)
                except ValueError as exc:
                    raise AzureCostManagementError(
                        f"query at {fetch.scope} ({_describe_body(body)}): unusable answer: {exc}"
                    ) from None
                known.update({k: v for k, v in found.items() if k not in known})
            fetch.requests += self.requests - before
        for row in fetch.commitment_rows:
            if row["benefit_id"] and not row["benefit_name"]:
                row["benefit_name"] = known.get(row["benefit_id"].lower())

    # ------------------------------------------------------------------ price details

    def price_details(self, scope: str, start: date, end: date) -> list[dict[str, Any]]:
        """`raw.azure_price_details` rows of `scope` in [start, end): per calendar month (the
        API's longest `timePeriod`) one AmortizedCost Cost Details report generated, polled
        and its CSV blob(s) read (mapping, "price details"); nothing is returned unless every
        month was read. Raises PriceDetailsForbiddenError on HTTP 403 (the credential lacks
        the role) and AzureCostManagementError, naming the scope and the period, otherwise."""
        details: list[dict[str, Any]] = []
        for chunk_start, chunk_end in mapping.month_chunks(start, end):
            prices = mapping.PriceDetails(window=(chunk_start, chunk_end))
            period = f"{chunk_start}..{date.fromordinal(chunk_end.toordinal() - 1)}"
            what = f"cost details report of {scope} for {period}"
            links, compressed = self._generate_report(scope, chunk_start, chunk_end, what)
            for number, link in enumerate(links, start=1):
                self._read_blob(link, compressed, prices, f"{what}, blob {number} of {len(links)}")
            details.extend(prices.rows())
            log.info(
                "azure: %s: %d blob(s), %d rows summed to %d",
                what,
                len(links),
                prices.csv_rows,
                len(prices.rows()),
            )
        return details

    def _report_request(self, request: HttpRequest, what: str) -> Any:
        """Send one report request (POST or poll); the response, a 2xx; errors raised as
        AzureCostManagementError (PriceDetailsForbiddenError for 403) naming `what`."""
        try:
            response = self._client.send_request(request, **self._call_options)
            response.raise_for_status()
        except HttpResponseError as exc:
            error = (
                PriceDetailsForbiddenError if exc.status_code == 403 else (AzureCostManagementError)
            )
            raise error(scrub(f"{what} failed: {_describe(exc)}")) from None
        except (AzureError, AzureCostManagementError) as exc:
            raise AzureCostManagementError(scrub(f"{what} failed: {_describe(exc)}")) from None
        return response

    def _generate_report(
        self, scope: str, start: date, end: date, what: str
    ) -> tuple[list[str], bool]:
        """POST generateCostDetailsReport, then GET the Location it names (on the configured
        endpoint: the token stays there) until the operation is no longer 202, waiting each
        Retry-After within the wait budget. Returns the manifest's blob links and whether
        they are compressed; no links when the service answers 204 (no cost details)."""
        url = (
            f"{self.endpoint}/{scope.strip('/')}{COST_DETAILS_SUFFIX}"
            f"?api-version={COST_DETAILS_API_VERSION}"
        )
        body = mapping.cost_details_definition(start, end)
        response = self._report_request(HttpRequest("POST", url, json=body), what)
        for _ in range(MAX_REPORT_POLLS):
            if response.status_code == 204:
                return [], False
            if response.status_code != 202:
                try:
                    return mapping.report_blobs(_json(response))
                except ValueError as exc:
                    raise AzureCostManagementError(f"{what}: unusable answer: {exc}") from None
            location = response.headers.get("Location")
            if not location:
                raise AzureCostManagementError(f"{what}: HTTP 202 without a Location to poll")
            delay = _seconds(response.headers.get("Retry-After"))
            delay = DEFAULT_POLL_WAIT_S if delay is None else delay
            self.budget.check(delay, f"{what}: polling")
            self.budget.wait(delay)
            response = self._report_request(
                HttpRequest("GET", self._on_endpoint(location)), f"{what}, polling"
            )
        raise AzureCostManagementError(
            f"{what}: still not generated after {MAX_REPORT_POLLS} polls"
        )

    def _read_blob(
        self, link: str, compressed: bool, prices: mapping.PriceDetails, what: str
    ) -> None:
        """Download one report blob (a SAS URL: no bearer token, https unless on loopback)
        into a temporary file, at most MAX_REPORT_BYTES, and feed its CSV to `prices`.
        Errors name the blob by host and path, never its signed query string."""
        parts = urlsplit(link)
        remember(parts.query)  # the SAS signature is a credential: scrubbed wherever it shows
        where = f"{what} ({parts.hostname}{parts.path})"
        if parts.scheme != "https" and not (parts.scheme == "http" and is_loopback(link)):
            raise AzureCostManagementError(f"{where}: refusing a blob link that is not https")
        with tempfile.TemporaryFile() as spool:
            try:
                response = self._blob_client.send_request(HttpRequest("GET", link), stream=True)
                response.raise_for_status()
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > MAX_REPORT_BYTES:
                        raise AzureCostManagementError(
                            f"more than {MAX_REPORT_BYTES} bytes: too large for the Cost "
                            "Details API's on-demand reports (turn FINOPS_AZURE_PRICE_DETAILS "
                            "off, or load narrower scopes)"
                        )
                    spool.write(chunk)
                response.close()
            except (AzureError, AzureCostManagementError) as exc:
                raise AzureCostManagementError(
                    scrub(f"{where}: download failed: {_describe(exc)}", extra=[parts.query])
                ) from None
            spool.seek(0)
            magic = spool.read(2)
            spool.seek(0)
            raw: Any = gzip.GzipFile(fileobj=spool) if compressed or magic == b"\x1f\x8b" else spool
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            try:
                prices.add_csv(csv.reader(text), blob=where)
            except (ValueError, UnicodeDecodeError, OSError, csv.Error) as exc:
                raise AzureCostManagementError(f"unusable answer: {exc}") from None
            finally:
                text.detach()

    def _name_rows(
        self, fetch: ScopeFetch, start: date, end: date, names: Mapping[str, str]
    ) -> None:
        known = dict(names)
        unknown = {r["subscription_id"].lower() for r in fetch.rows} - set(known)
        if unknown:
            known.update(self.subscription_names(fetch.scope, start, end))
        for row in [*fetch.rows, *fetch.commitment_rows]:
            row["subscription_name"] = known.get(row["subscription_id"].lower())


def _describe_body(body: Mapping[str, Any]) -> str:
    period = body.get("timePeriod") or {}
    dataset = body.get("dataset") or {}
    grouping = "+".join(
        ("tag " if g.get("type") == "TagKey" else "") + str(g.get("name", "?"))
        for g in dataset.get("grouping") or []
    )
    text = (
        f"{body.get('type')} {str(period.get('from', ''))[:10]}..{str(period.get('to', ''))[:10]}"
    )
    text += f" by {grouping}"
    filters = dataset.get("filter") or {}
    pinned = [
        f"{f['dimensions']['name']}={','.join(f['dimensions']['values'])}"
        for f in (filters.get("and") or [filters])
        if "dimensions" in f
    ]
    return text + (f" where {' and '.join(pinned)}" if pinned else "")


def _error_code(exc: HttpResponseError) -> str | None:
    """The ARM error code of an error answer (`{"error": {"code": ...}}`), if it has one."""
    if exc.error is not None and exc.error.code:
        return str(exc.error.code)
    try:
        body = json.loads(exc.response.text()) if exc.response is not None else None
    except (ValueError, TypeError):
        return None
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code")) if isinstance(error, dict) and error.get("code") else None


def _describe(exc: BaseException) -> str:
    if isinstance(exc, AzureCostManagementError):
        return str(exc)
    if isinstance(exc, HttpResponseError):
        status = exc.status_code
        reason = exc.reason or ""
        detail = exc.message or ""
        attempts = ""
        if status in RETRY_STATUSES:
            attempts = f" (still failing after {MAX_ATTEMPTS_PER_REQUEST} attempts)"
        return f"HTTP {status} {reason}{attempts}: {detail}".strip()
    return f"{type(exc).__name__}: {exc}"
