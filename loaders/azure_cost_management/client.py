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
* **Pacing** (issue #20). Reacting to 429 alone makes a large tenant run into 429 storms, so
  `QuotaPacer` also reads the remaining quota every answer reports and slows down before the
  service has to say no. What it relies on:
  - The Query API prices calls in query processing units (QPU; today 1 QPU per month of data
    queried) and throttles when any of 12 QPU / 10 s, 60 QPU / min, 600 QPU / hour is spent;
    answers carry `x-ms-ratelimit-microsoft.costmanagement-qpu-consumed` (the QPU of the call)
    and `...-qpu-remaining` ("list of remaining quotas"); a 429 carries `...-qpu-retry-after`
    (Microsoft Learn, "Manage costs with automation", section "Data latency and rate limits" >
    "Query API query processing units"; MicrosoftDocs/azure-docs
    articles/cost-management-billing/costs/manage-automation.md). The quotas "may be changed".
  - The value's shape is not documented; answers seen in the field read
    `QueriesPerHour:496,QueriesPerMin:37,QueriesPer10Sec:11` (the parsers of the webdevops
    Azure exporters; the Azure/azqr and electrolux-oss/azure-cost-exporter #8 threads quote the
    same header family). `parse_quota` accepts `name:number` or `name=number` items separated by
    `,` or `;`, and skips every item that is not one (absent, empty, garbage, negative: no pacing,
    no error). A bucket named `QueriesPer<n?><Sec|Min|Hour>` has a window of that length.
  - Other remaining-quota headers are kept in `quota_readings` for the record but not paced
    on: `x-ms-ratelimit-remaining-microsoft.costmanagement-{clienttype,entity,tenant}-
    requests` (seen as `DefaultQuota:3`; no documented window, so no refill time to compute)
    and ARM's `x-ms-ratelimit-remaining-{subscription,tenant}-reads` (a token bucket of 250
    refilling 25 reads/s per region since 2024 - Learn, "Request limits and throttling",
    MicrosoftDocs/azure-docs articles/azure-resource-manager/management/request-limits-and-
    throttling.md - so an empty one refills in well under a second). Those are left to
    the 429 path. A `QueriesPer...` list in any `x-ms-ratelimit-microsoft.costmanagement-*-
    remaining` header is paced on like the qpu one.
  The rules, before each Query API request (first pages and nextLinks alike; the cost of a
  request is the last `qpu-consumed`, else 1):
  - a bucket whose remaining count is below the cost waits until its window has passed since
    it was read (QueriesPer10Sec:0 read at t: the next query leaves at t + 10 s) - whether the
    service counts fixed or sliding windows, what was spent before the reading is back by then;
  - a bucket of a minute or longer that runs low (below `LOW_FRACTION` of the largest count it
    has shown) while the queries this load already knows it will send (`plan`) exceed what is
    left spaces the queries at the rate the bucket sustains (window / size: 1 s for 60 per
    minute, 6 s for 600 per hour), within the wait budget - so the minute and the hour are
    spread instead of spent in a burst. A 10-second bucket is not spread: waiting out its
    window costs no more;
  - when the known rest of the load (`plan`: discovery and detail queries of the scope being
    fetched, a lower bound) needs more than a bucket has left and that bucket's refill (its
    window after the reading) is beyond what the wait budget has left - typically
    QueriesPerHour - the load fails at once with `QuotaExhaustedError` (a
    `RetryBudgetExceededError`) naming the bucket, its remaining quota and
    FINOPS_AZURE_MAX_WAIT_SECONDS, rather than spending its last queries on a load that cannot
    finish; the same error comes before a request that a bucket would throttle when its refill
    is beyond the budget.
  Pacing waits count against the same wait budget as retry waits (FINOPS_AZURE_MAX_WAIT_
  SECONDS) and are also counted apart: `paced_waits`, `paced_seconds`. A 429 is handled as
  before (retry-after); its remaining-quota headers are not used for pacing. Pacing needs a
  clock: `clock` (default `time.monotonic`; when a `sleep` hook is given without a clock, the
  pacer's clock is `time.monotonic()` plus the seconds waited through that hook, so that a
  test's fake sleep is also the passage of time). `pacing=False` turns the waits and the
  early failures off (the readings are still kept).
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
import math
import re
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

from loaders.azure_cost_management import changes, mapping
from loaders.azure_cost_management.stored import StoredScope
from loaders.redaction import remember, scrub

log = logging.getLogger("finops.loaders.azure_cost_management")

DEFAULT_ENDPOINT = "https://management.azure.com"
SUBSCRIPTIONS_API_VERSION = "2022-12-01"
COST_MANAGEMENT_RETRY_AFTER_HEADERS = tuple(
    f"x-ms-ratelimit-microsoft.costmanagement-{bucket}-retry-after"
    for bucket in ("qpu", "entity", "tenant", "client")
)
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# Pacing (module docstring, "Pacing"): the remaining-quota headers read from every answer.
QPU_REMAINING_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-remaining"
QPU_CONSUMED_HEADER = "x-ms-ratelimit-microsoft.costmanagement-qpu-consumed"
_COST_MANAGEMENT_REMAINING = re.compile(
    r"^x-ms-ratelimit-microsoft\.costmanagement-[a-z]+-remaining$"
)
_RECORDED_REMAINING = re.compile(r"^x-ms-ratelimit-remaining-")
_BUCKET_NAME = re.compile(r"^QueriesPer(\d*)(Sec|Min|Hour)$", re.IGNORECASE)
_WINDOW_UNIT_S = {"sec": 1.0, "min": 60.0, "hour": 3600.0}
_QUOTA_ITEM = re.compile(r"^\s*([A-Za-z][A-Za-z0-9_.-]*)\s*[:=]\s*(\d+(?:\.\d+)?)\s*$")
LOW_FRACTION = 0.25  # a bucket below this share of its largest reading is "low"
SPREAD_MIN_WINDOW_S = 60.0  # buckets with shorter windows are waited out, not spread
_QUERY_PATH_SUFFIX = "/providers/microsoft.costmanagement/query"
MAX_ATTEMPTS_PER_REQUEST = 10
MAX_PAGES_PER_QUERY = 10_000
# Cost Details API (generateCostDetailsReport): the api-version of azure-mgmt-costmanagement
# 5.0.0's generate_cost_details_report operations, whose URL shapes these are.
COST_DETAILS_API_VERSION = "2025-03-01"
COST_DETAILS_SUFFIX = "/providers/Microsoft.CostManagement/generateCostDetailsReport"
MAX_REPORT_POLLS = 120
# The longest span of one Cost Details report ("timePeriod must be one month or less")
REPORT_MAX_DAYS = 31
# The longest window a window check asks in one query ("The time period for pulling the data
# cannot exceed 1 year"); a longer one (a backfill) goes straight to the totals queries.
WINDOW_CHECK_MAX_DAYS = 366
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


class QuotaExhaustedError(RetryBudgetExceededError):
    """A Cost Management quota bucket cannot cover the load (or its next query) without
    waiting for refills longer than FINOPS_AZURE_MAX_WAIT_SECONDS has left."""


class ListRequestError(AzureCostManagementError):
    """An ARM GET list answered an error: its HTTP status and ARM error code (e.g. 403
    AuthorizationFailed, 404 a resource provider not registered) for a caller that treats
    some of them as "not available here" rather than a failure."""

    def __init__(self, message: str, status_code: int | None, error_code: str | None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code


# What the credential needs to generate cost details reports (README, "Azure Cost Management").
PRICE_DETAILS_ROLE = (
    "Cost Management Reader (or Reader) on the subscription, or a billing reader role at the "
    "billing scope (EA: enterprise / department / account reader; MCA: billing account, "
    "billing profile or invoice section reader)"
)


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
    """Counts every request that leaves the pipeline (sits after the retry policy), and the
    answers that refused one (HTTP 429 throttling, 408, 5xx: the retry policy sends it
    again while its budget lasts)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0
        self.refused = 0

    def on_request(self, request: PipelineRequest) -> None:
        self.count += 1

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:
        status = response.http_response.status_code
        if status in (408, 429) or status >= 500:
            self.refused += 1


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
        # the pacing waits among `waits` (QuotaPacer): how many, and their sum
        self.paced_waits = 0
        self.paced_s = 0.0
        self._sleep = sleep

    @property
    def left_s(self) -> float:
        return max(self.max_wait_s - self.waited_s, 0.0)

    def check(self, delay: float, what: str) -> None:
        """RetryBudgetExceededError when waiting `delay` s would overrun the budget."""
        if self.waited_s + delay > self.max_wait_s:
            raise RetryBudgetExceededError(
                f"{what} needs a wait of {delay:g} s but only "
                f"{max(self.max_wait_s - self.waited_s, 0):g} s of the {self.max_wait_s:g} s "
                "retry budget (FINOPS_AZURE_MAX_WAIT_SECONDS) is left"
            )

    def wait(self, delay: float, *, paced: bool = False) -> None:
        if delay > 0:
            self._sleep(delay)
        self.waited_s += delay
        self.waits.append(delay)
        if paced:
            self.paced_waits += 1
            self.paced_s += delay


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


def parse_quota(value: str | None) -> dict[str, float]:
    """A remaining-quota header value as {bucket name: remaining}: `QueriesPerHour:496,
    QueriesPerMin:37,QueriesPer10Sec:11` (also `=` for `:` and `;` for `,`). Items that are
    not `name:non-negative number` are skipped; a bare number is {"": n}. None or "" -> {}."""
    if value is None or not value.strip():
        return {}
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        return {"": number} if math.isfinite(number) and number >= 0 else {}
    found: dict[str, float] = {}
    for item in re.split(r"[,;]", text):
        if match := _QUOTA_ITEM.match(item):
            found[match.group(1)] = float(match.group(2))
    return found


def bucket_window_s(name: str) -> float | None:
    """The window of a `QueriesPer<n?><Sec|Min|Hour>` bucket in seconds; None otherwise."""
    match = _BUCKET_NAME.match(name)
    if not match:
        return None
    count = int(match.group(1) or 1)
    return count * _WINDOW_UNIT_S[match.group(2).lower()] if count > 0 else None


@dataclass
class QuotaBucket:
    """The latest reading of one quota bucket: `remaining` at `read_at` (pacer clock)."""

    header: str
    name: str
    window_s: float
    remaining: float
    read_at: float
    size: float  # the largest remaining + consumed seen: the bucket's size as far as known

    @property
    def label(self) -> str:
        where = self.header.removeprefix("x-ms-ratelimit-microsoft.costmanagement-")
        return self.name if self.header == QPU_REMAINING_HEADER else f"{self.name} ({where})"


def _is_query(request: Any) -> bool:
    return request.method == "POST" and (
        urlsplit(request.url).path.rstrip("/").lower().endswith(_QUERY_PATH_SUFFIX)
    )


def _window_text(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


class QuotaPacer(SansIOHTTPPolicy):
    """Proactive pacing of Query API requests from the remaining-quota headers (module
    docstring, "Pacing"). Sits per retry, after the retry policy and before the bearer token
    policy and the request counter: the token is taken after a pacing wait (it cannot go
    stale during one), and a request it refuses is never sent nor counted. Waits go through
    the shared `WaitBudget` (`paced=True`)."""

    def __init__(
        self, budget: WaitBudget, clock: Callable[[], float], *, enabled: bool = True
    ) -> None:
        super().__init__()
        self.budget = budget
        self.clock = clock
        self.enabled = enabled
        self.buckets: dict[tuple[str, str], QuotaBucket] = {}
        self.readings: dict[str, str] = {}  # header -> latest raw value, every header kept
        self.cost = 1.0  # QPU of a query: the latest qpu-consumed, else 1
        # queries the load knows it will send after the current one (a lower bound)
        self.planned = 0
        self._last_sent: float | None = None
        self._request_s = 0.0  # time spent in answered query requests, and how many
        self._answered = 0
        self._sent_at: float | None = None

    # ------------------------------------------------------------------ plan

    def plan(self, queries: int) -> None:
        """`queries` more (negative: fewer) queries this load will send."""
        self.planned = max(self.planned + queries, 0)

    # ------------------------------------------------------------------ pipeline hooks

    def on_request(self, request: PipelineRequest) -> None:
        http_request = request.http_request
        if not _is_query(http_request):
            return
        if self.enabled:
            self.before_query()
        self._sent_at = self._last_sent = self.clock()

    def on_response(self, request: PipelineRequest, response: PipelineResponse) -> None:
        if self._sent_at is not None and _is_query(request.http_request):
            self._request_s += max(self.clock() - self._sent_at, 0.0)
            self._answered += 1
            self._sent_at = None
        self.observe(response.http_response.headers, response.http_response.status_code)

    # ------------------------------------------------------------------ readings

    def observe(self, headers: Mapping[str, str], status: int) -> None:
        """Keep the remaining-quota headers of one answer. A throttled answer (429) is left
        to the retry policy: its readings are recorded but do not move the buckets."""
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        for name, value in lowered.items():
            if _COST_MANAGEMENT_REMAINING.match(name) or _RECORDED_REMAINING.match(name):
                self.readings[name] = value
        if QPU_CONSUMED_HEADER in lowered:
            self.readings[QPU_CONSUMED_HEADER] = lowered[QPU_CONSUMED_HEADER]
        if status == 429:
            return
        consumed = parse_quota(lowered.get(QPU_CONSUMED_HEADER)).get("", 0.0)
        if consumed > 0:
            self.cost = consumed
        now = self.clock()
        for header, value in lowered.items():
            if not _COST_MANAGEMENT_REMAINING.match(header):
                continue
            for name, remaining in parse_quota(value).items():
                window = bucket_window_s(name)
                if window is None:
                    continue
                known = self.buckets.get((header, name))
                size = max(remaining + max(consumed, 0.0), known.size if known else 0.0)
                self.buckets[(header, name)] = QuotaBucket(
                    header, name, window, remaining, now, max(size, 1.0)
                )

    # ------------------------------------------------------------------ pacing

    def before_query(self) -> None:
        """Wait as the readings require before one query is sent, or raise
        QuotaExhaustedError when the quota cannot be had within the wait budget."""
        now = self.clock()
        self._check_plan(now)
        # An empty bucket: wait until its window has passed since it was read.
        empty = [b for b in self.buckets.values() if b.remaining < self.cost]
        if empty:
            bucket = max(empty, key=lambda b: b.read_at + b.window_s)
            delay = bucket.read_at + bucket.window_s - now
            if delay > 0:
                if delay > self.budget.left_s:
                    raise QuotaExhaustedError(
                        f"Cost Management quota {bucket.label} has "
                        f"{bucket.remaining:g} left (of at least {bucket.size:g} per "
                        f"{_window_text(bucket.window_s)}); it refills in about {delay:.0f} s, "
                        f"beyond the {self.budget.left_s:g} s left of the "
                        f"{self.budget.max_wait_s:g} s wait budget. Raise "
                        "FINOPS_AZURE_MAX_WAIT_SECONDS (or load fewer scopes, or later)"
                    )
                log.info("azure: quota %s empty; pacing %.1f s", bucket.label, delay)
                self.budget.wait(delay, paced=True)
            for b in empty:  # waited out (now or already): assume refilled until the next answer
                b.remaining, b.read_at = b.size, max(now, b.read_at + b.window_s)
            return
        # A minute/hour bucket running low with more known queries than it has left: space
        # the queries at the rate it sustains, as far as the wait budget allows.
        if self._last_sent is None:
            return
        delay, low = 0.0, None
        for b in self.buckets.values():
            if b.window_s < SPREAD_MIN_WINDOW_S or b.remaining >= b.size * LOW_FRACTION:
                continue
            if (self.planned + 1) * self.cost <= b.remaining:
                continue  # what is left covers this query and the known rest
            wait = self._last_sent + b.window_s / b.size * self.cost - now
            if wait > delay:
                delay, low = wait, b
        if low is not None and delay <= self.budget.left_s:
            log.debug(
                "azure: quota %s low (%g left); pacing %.1f s", low.label, low.remaining, delay
            )
            self.budget.wait(delay, paced=True)

    def _check_plan(self, now: float) -> None:
        """QuotaExhaustedError when the known rest of the load (`planned` queries, and the
        one being sent) needs more than some bucket has left and the refill the pacer would
        wait for (its window after the reading, less the time the queries it still allows
        take to send) is beyond what the wait budget has left. Only that first refill is
        counted: the bucket's size is known only as the largest reading, so further refills
        are not certain - a load this refuses could not have finished."""
        if not self.planned:
            return
        per_request = self._request_s / self._answered if self._answered else 0.0
        for b in self.buckets.values():
            need = (self.planned + 1) * self.cost - b.remaining  # this query and the rest
            if need <= 0:
                continue
            wait = b.read_at + b.window_s - now - (b.remaining / self.cost) * per_request
            if wait > self.budget.left_s:
                raise QuotaExhaustedError(
                    f"Cost Management quota {b.label} has {b.remaining:g} left (of at "
                    f"least {b.size:g} per {_window_text(b.window_s)}) but this load still "
                    f"needs at least {self.planned + 1} queries of {self.cost:g} QPU; covering "
                    f"them means waiting at least {wait:.0f} s for it to refill, beyond the "
                    f"{self.budget.left_s:g} s left of the {self.budget.max_wait_s:g} s wait "
                    "budget. Raise FINOPS_AZURE_MAX_WAIT_SECONDS (or load fewer scopes or a "
                    "shorter window, or when the tenant's other Cost Management users are idle)"
                )


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
    # A change-detecting fetch (`changes`): what was asked for again, what vanished, the
    # spans of the Cost Details reports read; None when everything was asked for.
    changes: ScopeChanges | None = None
    # raw table name -> the stored rows landed again beside the fetched ones (`stored.keep`);
    # empty when everything was asked for
    kept: dict[str, Any] = field(default_factory=dict)
    # Whether the price rows were read with the details from reports (`fetch_scope`): True,
    # False (HTTP 403: no role for cost details), None (not attempted: the loader reads them)
    prices_read: bool | None = None


@dataclass
class ScopeChanges:
    """What a change-detecting fetch of a scope asked for again (`stored.keep` lands the
    stored rows outside it)."""

    asks: list[changes.Ask] = field(default_factory=list)
    vanished: set[changes.Cell] = field(default_factory=set)
    tag_asks: list[changes.TagAsk] = field(default_factory=list)
    tags_dropped: set[tuple[str, str, str, int]] = field(default_factory=set)
    price_spans: list[tuple[date, date]] = field(default_factory=list)


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
        clock: Callable[[], float] | None = None,
        pacing: bool = True,
    ) -> None:
        self.endpoint = check_endpoint(endpoint)
        self.retry_policy = CostManagementRetryPolicy(max_wait_s=max_wait_s, sleep=sleep)
        self.budget = self.retry_policy.budget
        if clock is None:
            # A sleep hook that does not really sleep (tests) is still the passage of time for
            # the quota windows: the pacer's clock adds what was waited through it.
            budget = self.budget
            clock = (
                time.monotonic
                if sleep is time.sleep
                else (lambda: time.monotonic() + budget.waited_s)
            )
        self.pacer = QuotaPacer(self.budget, clock, enabled=pacing)
        self._counter = RequestCounter()
        # Scopes that answered HTTP 403 to a Cost Details report of `_details_from_reports`,
        # and whether a report's polling ran out of wait budget: their (every scope's)
        # changed cells are asked of the Query API for the rest of the load.
        self.reports_forbidden: set[str] = set()
        self.reports_waited_out = False
        # query type -> the window check's report of the scope being fetched (`_report_sinks`)
        self._copies: dict[str, _ReportCopy] = {}
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
            per_retry_policies=[self.pacer, self._counter],
        )

    # ------------------------------------------------------------------ plumbing

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included: to the endpoint and for report blobs."""
        return self._counter.count + self._blob_counter.count

    @property
    def refused(self) -> int:
        """Answers so far that refused a request (throttled: HTTP 429; 408; 5xx)."""
        return self._counter.refused + self._blob_counter.refused

    @property
    def paced_waits(self) -> int:
        """Waits the pacer took before Query API requests (their seconds: `paced_seconds`);
        part of the wait budget like the retry waits, counted apart for the record."""
        return self.budget.paced_waits

    @property
    def paced_seconds(self) -> float:
        return self.budget.paced_s

    @property
    def quota_readings(self) -> dict[str, str]:
        """The latest value of every remaining-quota (and qpu-consumed) header answered."""
        return dict(self.pacer.readings)

    def plan_queries(self, queries: int) -> None:
        """Tell the pacer that `queries` more Query API queries will follow (negative: one
        of them is being sent); it fails the load early when a quota cannot cover them."""
        self.pacer.plan(queries)

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
            raise _budget_error_type(exc)(
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
                raise _budget_error_type(exc)(
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
        stored: StoredScope | None = None,
        *,
        details_from_reports: bool = False,
        price_details: bool = False,
        window_check: bool = False,
    ) -> ScopeFetch:
        """The raw rows of `scope` in [start, end) by the documented scheme (see `mapping`).

        `names` maps lower-case subscription ids to names (from `list_subscriptions`); ids it
        lacks are named by one extra query at the scope. `tag_keys` (FINOPS_ALLOCATION_TAGS,
        configured spelling): the keys of the tag queries; none, no tag query.
        `stored`: what the warehouse holds of the scope's window - given (and not empty), the
        load asks only for what changed (`changes`): a totals query per month and query type
        in place of discovery, then the queries of the changed cells, and `fetch.changes`
        says what of `stored` to land again (`stored.keep`). None: everything is asked for.
        `details_from_reports` (with `stored`; FINOPS_AZURE_DETAILS_FROM_REPORTS): the changed
        cells' detail, pricing and benefit rows come from one Cost Details report per month
        and query type (`_details_from_reports`) instead of the Query API; with
        `price_details` the AmortizedCost report also gives the price rows
        (`fetch.prices_read`).
        `window_check` (with `details_from_reports`; FINOPS_AZURE_WINDOW_CHECK): first one
        window totals query per query type (`_window_check`); when it holds, those are the
        load's only queries.
        """
        before = self.requests
        fetch = ScopeFetch(scope=scope)
        if stored is not None and stored.costs.num_rows == 0:
            stored = None  # nothing to compare with: the full scheme, no more queries
        if stored is not None:
            fetch.changes = ScopeChanges()
        checked = (
            stored is not None
            and details_from_reports
            and window_check
            and not self.reports_waited_out
            and fetch.scope not in self.reports_forbidden
            and (end - start).days <= WINDOW_CHECK_MAX_DAYS
        )
        try:
            if checked:
                assert stored is not None
                self.plan_queries(len(mapping.QUERY_TYPES))
                checked = self._window_check(fetch, start, end, stored, tag_keys, price_details)
            if not checked:
                self._fetch_by_month(
                    fetch, start, end, stored, tag_keys, details_from_reports, price_details
                )
        finally:
            self._drop_copies()
        self._name_rows(fetch, start, end, names)
        fetch.requests = self.requests - before
        return fetch

    def _drop_copies(self) -> None:
        for copy in self._copies.values():
            copy.close()
        self._copies.clear()

    def _fetch_by_month(
        self,
        fetch: ScopeFetch,
        start: date,
        end: date,
        stored: StoredScope | None,
        tag_keys: Sequence[str],
        details_from_reports: bool,
        price_details: bool,
    ) -> None:
        """`fetch_scope` month by month: discovery (`stored` None) or the totals queries,
        then the queries or reports of what they name."""
        chunks = mapping.month_chunks(start, end)
        # The pacer's plan (a lower bound of this scope's queries): the discovery or totals
        # queries now, the detail queries once those have named them.
        self.plan_queries(len(chunks) * len(mapping.QUERY_TYPES))
        for chunk_start, chunk_end in chunks:
            if stored is None:
                asks = self._discover(fetch, chunk_start, chunk_end)
                tag_asks = [
                    changes.TagAsk(key, ask.query_type, ask.subscription_id, chunk_start, chunk_end)
                    for ask in asks
                    for key in tag_keys
                ]
                tag_asks = list(dict.fromkeys(tag_asks))
            else:
                asks, tag_asks, remote, price_span = self._changes(
                    fetch, chunk_start, chunk_end, stored, tag_keys
                )
                if details_from_reports and (
                    self.reports_waited_out or fetch.scope in self.reports_forbidden
                ):
                    if price_details:  # not read either: the load's reports are given up
                        fetch.prices_read, fetch.price_rows = False, []
                elif details_from_reports:
                    asks = self._details_from_reports(
                        fetch, asks, remote, price_details, price_span if price_details else None
                    )
            self._fetch_details(fetch, asks)
            self._fetch_commitments(fetch, asks)
            self._fetch_tags(fetch, tag_asks)

    def _discover(self, fetch: ScopeFetch, start: date, end: date) -> list[changes.Ask]:
        """The full scheme's asks of one month: per query type one discovery query, then
        every (subscription, charge type) pair it found over the whole month."""
        asks: list[changes.Ask] = []
        for query_type in mapping.QUERY_TYPES:
            pairs: dict[tuple[str, str], None] = {}  # ordered, without duplicates
            fetch.queries += 1
            self.plan_queries(-1)
            for page in self.query_pages(
                fetch.scope, mapping.discovery_definition(query_type, start, end)
            ):
                fetch.pages += 1
                pairs.update(dict.fromkeys(mapping.discovered_pairs(page)))
            asks += [changes.Ask(query_type, sub, charge, start, end) for sub, charge in pairs]
        return asks

    def _changes(
        self,
        fetch: ScopeFetch,
        start: date,
        end: date,
        stored: StoredScope,
        tag_keys: Sequence[str],
    ) -> tuple[
        list[changes.Ask],
        list[changes.TagAsk],
        dict[changes.Cell, Decimal],
        tuple[date, date] | None,
    ]:
        """A change-detecting load's asks of one month: per query type one totals query,
        compared with `stored` (`changes`); what vanished, the tag asks and the span of the
        month's Cost Details report are recorded in `fetch.changes`. Also returns the totals
        queries' cells and that span (None: no day of the month needs prices)."""
        remote: dict[changes.Cell, Decimal] = self._summed(
            fetch, start, end, mapping.totals_definition, mapping.totals_cells
        )
        lo, hi = changes.usage_date(start), changes.usage_date(end)
        changed = changes.changed_cells(remote, stored.cells(lo, hi))
        vanished = {cell for cell in changed if cell not in remote}
        asks = changes.plan_asks(changed - vanished)
        tag_asks, dropped = changes.tag_asks(
            changes.day_totals(remote), stored.tag_totals(lo, hi), tag_keys
        )
        assert fetch.changes is not None
        fetch.changes.asks += asks
        fetch.changes.vanished |= vanished
        fetch.changes.tag_asks += tag_asks
        fetch.changes.tags_dropped |= dropped
        span = changes.price_span(changed, remote, stored.price_days())
        if span is not None:
            fetch.changes.price_spans.append(span)
        log.info(
            "azure: %s [%s, %s): %d of %d cells changed (%d vanished): %d detail and %d tag "
            "queries",
            fetch.scope,
            start,
            end,
            len(changed),
            len(remote),
            len(vanished),
            len(asks),
            len(tag_asks),
        )
        return asks, tag_asks, remote, span

    def _details_from_reports(
        self,
        fetch: ScopeFetch,
        asks: Sequence[changes.Ask],
        remote: Mapping[changes.Cell, Decimal],
        price_details: bool,
        price_span: tuple[date, date] | None,
    ) -> list[changes.Ask]:
        """The detail, pricing and benefit rows of one month's `asks` from Cost Details
        reports (mapping, "details from reports"): one report per query type with asks, over
        the span of their days - the AmortizedCost one over the month's price span when
        `price_details` is on (the price rows come from the same report). Each ask is checked
        against the totals queries' cells (`remote`): an ask whose report sums differ from
        them is left to the Query API. Returns the asks left to the Query API: those, or all
        of them when the scope answers HTTP 403 (no role for cost details) or a report would
        wait beyond the wait budget (the scope is not asked for reports again in this
        load)."""
        got = self._report_sinks(fetch, asks, price_details, price_span)
        if got is None:
            return list(asks)
        sinks, prices = got
        if prices is not None:
            fetch.price_rows.extend(prices.rows())
        left: list[changes.Ask] = []
        for query_type, sink in sinks.items():
            off = _asks_off_totals(
                [a for a in asks if a.query_type == query_type], sink.cells(), remote
            )
            sink.without(off)
            left += off
            fetch.rows.extend(sink.rows())
            fetch.commitment_rows.extend(sink.commitment_rows())
        log.info(
            "azure: %s: %d of %d changed (query type, subscription, charge type) asks from Cost "
            "Details reports (%d report line(s)), %d left to the Query API",
            fetch.scope,
            len(asks) - len(left),
            len(asks),
            sum(s.csv_rows for s in sinks.values()),
            len(left),
        )
        return sorted(left)

    def _report_sinks(
        self,
        fetch: ScopeFetch,
        asks: Sequence[changes.Ask],
        price_details: bool,
        price_span: tuple[date, date] | None,
        *,
        record: bool = False,
    ) -> tuple[dict[str, mapping.ReportDetails], mapping.PriceDetails | None] | None:
        """The Cost Details reports of `asks` (one per query type with asks, over the span of
        their days; the AmortizedCost one also over `price_span`, its price rows read into
        the returned PriceDetails), summed, nothing added to `fetch` yet. None when the scope
        answers HTTP 403 or a report would wait beyond the wait budget: logged and recorded
        (`reports_forbidden`, `reports_waited_out`), the caller asks the Query API.
        `record` (the window check): each report's CSV is also kept (`_copies`), so that the
        totals queries' reports of the same scope, should the check fail, read only the days
        before it and take the rest from the copy."""
        assert fetch.changes is not None
        spans: dict[str, tuple[date, date]] = {}
        for ask in asks:
            lo, hi = spans.get(ask.query_type, (ask.start, ask.end))
            spans[ask.query_type] = (min(lo, ask.start), max(hi, ask.end))
        if price_span is not None:
            # the month's price span covers every changed day, so every AmortizedCost ask
            lo, hi = spans.get("AmortizedCost", price_span)
            spans["AmortizedCost"] = (min(lo, price_span[0]), max(hi, price_span[1]))
            price_span = spans["AmortizedCost"]
        if price_details and fetch.prices_read is None:
            fetch.prices_read = True
        sinks: dict[str, mapping.ReportDetails] = {}
        prices = mapping.PriceDetails(window=price_span) if price_span is not None else None
        try:
            for query_type in mapping.QUERY_TYPES:
                if query_type not in spans:
                    continue
                lo, hi = spans[query_type]
                sinks[query_type] = mapping.ReportDetails(query_type, asks)
                extra = [prices] if query_type == "AmortizedCost" and prices is not None else []
                fed = [sinks[query_type], *extra]
                copy = self._copies.get(query_type)
                parts = [(lo, hi)]
                if copy is not None and copy.span[0] < hi and lo < copy.span[1]:
                    # the window check read these days: the copy's lines (the sinks keep those
                    # of their asks and window), and a report of the days around it
                    for sink in extra:
                        sink.skip_outside_window(copy.span)
                    copy.replay(fed)
                    parts = [(lo, min(hi, copy.span[0])), (max(lo, copy.span[1]), hi)]
                elif record:
                    self._copies[query_type] = _ReportCopy((lo, hi))
                    fed.append(self._copies[query_type])
                for part_lo, part_hi in parts:
                    if part_lo >= part_hi:
                        continue
                    period = f"{part_lo}..{date.fromordinal(part_hi.toordinal() - 1)}"
                    self._read_report(
                        fetch.scope,
                        query_type,
                        (part_lo, part_hi),
                        fed,
                        f"{query_type} cost details report of {fetch.scope} for {period}",
                    )
        except (PriceDetailsForbiddenError, RetryBudgetExceededError) as exc:
            # HTTP 403, or a report whose polling would wait beyond the wait budget (a load of
            # many subscription scopes waits for two reports each): the queries still work
            why = (
                f"Reading cost details needs {PRICE_DETAILS_ROLE}"
                if isinstance(exc, PriceDetailsForbiddenError)
                else "The reports of this load are not waited for any longer"
            )
            log.warning(
                "azure: %s. %s. The changed cells of %s are asked of the Query API instead%s",
                scrub(exc),
                why,
                fetch.scope,
                "; the costs land without list and contracted prices (the savings rate shows "
                "them as missing); set FINOPS_AZURE_PRICE_DETAILS=0 and "
                "FINOPS_AZURE_DETAILS_FROM_REPORTS=0 to stop asking."
                if price_details
                else "; set FINOPS_AZURE_DETAILS_FROM_REPORTS=0 to stop asking.",
            )
            if isinstance(exc, PriceDetailsForbiddenError):
                self.reports_forbidden.add(fetch.scope)
            else:
                self.reports_waited_out = True
            if price_details:
                fetch.prices_read = False
                fetch.price_rows = []
            return None
        return sinks, prices

    def _summed(
        self,
        fetch: ScopeFetch,
        start: date,
        end: date,
        definition: Callable[[str, date, date], dict[str, Any]],
        parse: Callable[..., Mapping[Any, Decimal]],
    ) -> dict[Any, Decimal]:
        """Per query type one query (`definition`) over [start, end), every page `parse`d
        and summed per key (a key answered on two pages is summed)."""
        sums: dict[Any, Decimal] = {}
        for query_type in mapping.QUERY_TYPES:
            body = definition(query_type, start, end)
            fetch.queries += 1
            self.plan_queries(-1)
            for page in self.query_pages(fetch.scope, body):
                fetch.pages += 1
                try:
                    found = parse(page, query_type=query_type)
                except ValueError as exc:
                    raise AzureCostManagementError(
                        f"query at {fetch.scope} ({_describe_body(body)}): unusable answer: {exc}"
                    ) from None
                for key, cost in found.items():
                    sums[key] = sums.get(key, Decimal(0)) + cost
        return sums

    def _window_check(
        self,
        fetch: ScopeFetch,
        start: date,
        end: date,
        stored: StoredScope,
        tag_keys: Sequence[str],
        price_details: bool,
    ) -> bool:
        """The window check (`changes`, "The window check"): per query type one window
        totals query over [start, end), the recent days (`changes.recent_start`; with
        `price_details` also the stored amortized days without prices) from the Cost Details
        reports, compared with the older stored days. Holds (True): `fetch` has the recent
        days' detail, commitment and price rows, its tag queries are made, `fetch.changes`
        keeps every older stored row. Does not (False): nothing was added to `fetch` but the
        queries' count (the reports read are kept in `_copies`); the caller goes on with the
        totals queries. Also False, after the two queries, when a report would span more
        than REPORT_MAX_DAYS or cannot be read (HTTP 403, waited out)."""
        assert fetch.changes is not None
        remote: dict[changes.WindowKey, Decimal] = self._summed(
            fetch, start, end, mapping.window_totals_definition, mapping.window_totals
        )
        lo, hi = changes.usage_date(start), changes.usage_date(end)
        stored_cells = stored.cells(lo, hi)
        stored_days = {cell[1] for cell in stored_cells}
        recent = changes.recent_start(stored_days, start, end)
        amortized = {day for qt, day, _, _, _ in stored_cells if qt == "AmortizedCost"}
        if not (price_details and amortized - stored.price_days()) and not (
            changes.window_changed(remote, stored_cells, {})
        ):
            recent = end  # nothing moved, no new cost (a repeated run): no report to read
        old = {c: v for c, v in stored_cells.items() if c[1] < changes.usage_date(recent)}
        days = {changes.usage_date(date.fromordinal(d)) for d in
                range(recent.toordinal(), end.toordinal())}  # fmt: skip
        price_span = None
        if price_details:
            amortized = {day for qt, day, _, _, _ in old if qt == "AmortizedCost"}
            priced = days | (amortized - stored.price_days())
            if priced:
                first, last = changes.day_of(min(priced)), changes.day_of(max(priced))
                price_span = (first, date.fromordinal(last.toordinal() + 1))
        # every pair answered or stored: a stored pair gone from the recent days goes too
        pairs = {(qt, sub, charge) for qt, sub, charge, _ in remote}
        pairs |= {(c[0], c[2], c[3]) for c in stored_cells if c not in old}
        asks = sorted(
            changes.Ask(qt, sub, charge, recent, end) for qt, sub, charge in pairs if recent < end
        )
        read = [(a.start, a.end) for a in asks[:1]] + ([price_span] if price_span else [])
        if any((b - a).days > REPORT_MAX_DAYS for a, b in read):
            log.info(
                "azure: %s: the reports of the window check would span more than %d days; the "
                "totals queries, month by month",
                fetch.scope,
                REPORT_MAX_DAYS,
            )
            return False
        sinks: dict[str, mapping.ReportDetails] = {}
        prices = None
        if asks or price_span is not None:
            got = self._report_sinks(fetch, asks, price_details, price_span, record=True)
            if got is None:
                return False
            sinks, prices = got
        found: dict[changes.Cell, Decimal] = {}
        for sink in sinks.values():
            found.update(sink.cells())
        differ = changes.window_changed(remote, old, found)
        if differ:
            log.info(
                "azure: %s [%s, %s): %d of %d window totals differ from the stored days and the "
                "reports' recent days (%s, ...): the totals queries, month by month",
                fetch.scope,
                start,
                end,
                len(differ),
                len(remote),
                ", ".join(sorted(differ)[0]),
            )
            return False
        fetch.changes.asks += asks
        if price_span is not None:
            fetch.changes.price_spans.append(price_span)
        if prices is not None:
            fetch.price_rows.extend(prices.rows())
        for sink in sinks.values():
            fetch.rows.extend(sink.rows())
            fetch.commitment_rows.extend(sink.commitment_rows())
        cells = {**old, **found}
        tag_asks_made = 0
        for month_start, month_end in mapping.month_chunks(start, end):
            mlo, mhi = changes.usage_date(month_start), changes.usage_date(month_end)
            month = {cell: cost for cell, cost in cells.items() if mlo <= cell[1] < mhi}
            tag_asks, dropped = changes.tag_asks(
                changes.day_totals(month), stored.tag_totals(mlo, mhi), tag_keys
            )
            fetch.changes.tag_asks += tag_asks
            fetch.changes.tags_dropped |= dropped
            self._fetch_tags(fetch, tag_asks)
            tag_asks_made += len(tag_asks)
        log.info(
            "azure: %s [%s, %s): the window totals hold; %d recent day(s) from %d report(s) "
            "(%d report line(s)), %d tag queries",
            fetch.scope,
            start,
            end,
            len(days),
            len(sinks),
            sum(s.csv_rows for s in sinks.values()),
            tag_asks_made,
        )
        return True

    def _fetch_details(self, fetch: ScopeFetch, asks: Sequence[changes.Ask]) -> None:
        """One detail query per ask (mapping, "The query scheme"), every page mapped into
        `fetch.rows`."""
        self.plan_queries(len(asks))
        for ask in asks:
            body = mapping.query_definition(
                ask.query_type,
                ask.start,
                ask.end,
                ask.charge_type,
                subscription_id=ask.subscription_id,
            )
            fixed = {"SubscriptionId": ask.subscription_id, "ChargeType": ask.charge_type}
            fetch.queries += 1
            self.plan_queries(-1)
            for page in self.query_pages(fetch.scope, body):
                fetch.pages += 1
                try:
                    fetch.rows.extend(mapping.to_rows(page, query_type=ask.query_type, fixed=fixed))
                except ValueError as exc:
                    raise AzureCostManagementError(
                        f"query at {fetch.scope} ({_describe_body(body)}): unusable answer: {exc}"
                    ) from None

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

    def _fetch_commitments(self, fetch: ScopeFetch, asks: Sequence[changes.Ask]) -> None:
        """The pricing and benefit queries of the asks (mapping, "Commitments"), each over its
        ask's days: a pricing query per AmortizedCost Usage ask; a benefit query per ask of a
        benefit charge type and per Usage ask whose pricing answer has committed usage."""
        committed: set[changes.Ask] = set()
        for ask in asks:
            if (ask.query_type, ask.charge_type) != ("AmortizedCost", "Usage"):
                continue
            models = self._commitment_query(
                fetch,
                mapping.pricing_definition(ask.start, ask.end, ask.subscription_id),
                mapping.BREAKDOWN_PRICING,
                {"SubscriptionId": ask.subscription_id, "ChargeType": "Usage"},
            )
            if any(mapping.is_committed(model) for model in models):
                committed.add(ask)
        for ask in asks:  # each ask gets at most its own pair's benefit query
            pair = (ask.subscription_id, ask.charge_type)
            committed_subscriptions = [ask.subscription_id] if ask in committed else []
            if pair not in mapping.benefit_queries([pair], ask.query_type, committed_subscriptions):
                continue
            self._commitment_query(
                fetch,
                mapping.benefit_definition(ask.query_type, ask.start, ask.end, *pair),
                mapping.BREAKDOWN_BENEFIT,
                {"SubscriptionId": ask.subscription_id, "ChargeType": ask.charge_type},
            )

    def _fetch_tags(self, fetch: ScopeFetch, asks: Sequence[changes.TagAsk]) -> None:
        """The tag queries (mapping, "Tags"): one per ask, every page mapped into
        `fetch.tag_rows`."""
        for ask in asks:
            body = mapping.tag_definition(
                ask.query_type, ask.start, ask.end, ask.subscription_id, ask.tag_key
            )
            fetch.queries += 1
            for page in self.query_pages(fetch.scope, body):
                fetch.pages += 1
                try:
                    fetch.tag_rows.extend(
                        mapping.tag_rows(
                            page,
                            query_type=ask.query_type,
                            allocation_key=ask.tag_key,
                            fixed={"SubscriptionId": ask.subscription_id},
                        )
                    )
                except ValueError as exc:
                    raise AzureCostManagementError(
                        f"query at {fetch.scope} ({_describe_body(body)}): unusable answer: {exc}"
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
            blobs = self._read_report(
                scope, mapping.PRICE_DETAILS_METRIC, (chunk_start, chunk_end), [prices], what
            )
            details.extend(prices.rows())
            log.info(
                "azure: %s: %d blob(s), %d rows summed to %d",
                what,
                blobs,
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

    def _read_report(
        self,
        scope: str,
        metric: str,
        span: tuple[date, date],
        sinks: Sequence[Any],
        what: str,
    ) -> int:
        """Generate the `metric` Cost Details report of `scope` over the days [start, end) of
        `span` and feed each of its blobs to `sinks`; returns the number of blobs."""
        links, compressed = self._generate_report(scope, *span, what, metric)
        for number, link in enumerate(links, start=1):
            self._read_blob(link, compressed, sinks, f"{what}, blob {number} of {len(links)}")
        return len(links)

    def _generate_report(
        self,
        scope: str,
        start: date,
        end: date,
        what: str,
        metric: str = mapping.PRICE_DETAILS_METRIC,
    ) -> tuple[list[str], bool]:
        """POST generateCostDetailsReport, then GET the Location it names (on the configured
        endpoint: the token stays there) until the operation is no longer 202, waiting each
        Retry-After within the wait budget. Returns the manifest's blob links and whether
        they are compressed; no links when the service answers 204 (no cost details)."""
        url = (
            f"{self.endpoint}/{scope.strip('/')}{COST_DETAILS_SUFFIX}"
            f"?api-version={COST_DETAILS_API_VERSION}"
        )
        body = mapping.cost_details_definition(start, end, metric)
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

    def _read_blob(self, link: str, compressed: bool, sinks: Sequence[Any], what: str) -> None:
        """Download one report blob (a SAS URL: no bearer token, https unless on loopback)
        into a temporary file, at most MAX_REPORT_BYTES, and feed its CSV to each of `sinks`
        (`mapping.PriceDetails`, `mapping.ReportDetails`: one read of the file each).
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
            for sink in sinks:
                spool.seek(0)
                raw: Any = (
                    gzip.GzipFile(fileobj=spool) if compressed or magic == b"\x1f\x8b" else spool
                )
                text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
                try:
                    sink.add_csv(csv.reader(text), blob=where)
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


class _ReportCopy:
    """A Cost Details report's CSV as read, spooled to temporary files (one per blob), to be
    fed again (`replay`): the window check's report of the recent days, when the check fails
    and the totals queries' reports cover some of those days too."""

    def __init__(self, span: tuple[date, date]) -> None:
        self.span = span
        self._blobs: list[tuple[Any, str]] = []

    def add_csv(self, rows: Iterator[Sequence[str]], *, blob: str) -> int:
        spool = tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 - kept open until `close`
        self._blobs.append((spool, blob))
        writer = csv.writer(spool)
        count = 0
        for row in rows:
            writer.writerow(row)
            count += 1
        return max(count - 1, 0)

    def replay(self, sinks: Sequence[Any]) -> None:
        for spool, blob in self._blobs:
            for sink in sinks:
                spool.seek(0)
                try:
                    sink.add_csv(csv.reader(spool), blob=blob)
                except (ValueError, csv.Error) as exc:
                    raise AzureCostManagementError(f"unusable answer: {exc}") from None

    def close(self) -> None:
        for spool, _ in self._blobs:
            spool.close()
        self._blobs.clear()


def _asks_off_totals(
    asks: Sequence[changes.Ask],
    found: Mapping[changes.Cell, Decimal],
    remote: Mapping[changes.Cell, Decimal],
) -> list[changes.Ask]:
    """The asks whose report cells (`found`) differ from the totals queries' (`remote`) on
    any of their days, by more than `changes.TOLERANCE`."""
    cells: dict[tuple[str, str, str], set[changes.Cell]] = {}
    for cell in found.keys() | remote.keys():
        query_type, _, subscription_id, charge_type, _ = cell
        cells.setdefault((query_type, subscription_id.lower(), charge_type.lower()), set()).add(
            cell
        )
    off = []
    for ask in asks:
        lo, hi = changes.usage_date(ask.start), changes.usage_date(ask.end)
        key = (ask.query_type, ask.subscription_id.lower(), ask.charge_type.lower())
        for cell in cells.get(key, ()):
            if (
                lo <= cell[1] < hi
                and abs(found.get(cell, Decimal(0)) - remote.get(cell, Decimal(0)))
                > changes.TOLERANCE
            ):
                off.append(ask)
                break
    return off


def _budget_error_type(exc: BaseException) -> type[AzureCostManagementError]:
    """The class to re-raise `exc` as: a wait-budget error keeps its own (a quota or retry
    budget exhausted), anything else becomes AzureCostManagementError."""
    return type(exc) if isinstance(exc, RetryBudgetExceededError) else AzureCostManagementError


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
