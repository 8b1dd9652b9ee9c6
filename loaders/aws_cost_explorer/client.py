"""Cost Explorer I/O: the boto3 session (optionally an assumed role), retries, paging, counting.

Credentials come from boto3's standard chain (environment, shared config/credentials
profile, web identity, container or instance role); with `role_arn` the chain's identity
assumes that role first (`sts:AssumeRole`, optional external id). Endpoints come from boto3's
standard settings as well: `AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_COST_EXPLORER` and
`AWS_ENDPOINT_URL_STS` (or `endpoint_url` in the profile) point the loader at an emulator or a
proxy without code changes.

Retries: botocore's `standard` mode (or `adaptive`, via `AWS_RETRY_MODE`) with
`DEFAULT_MAX_ATTEMPTS` attempts per call (`AWS_MAX_ATTEMPTS` overrides). Both modes retry Cost
Explorer's `LimitExceededException` (HTTP 400) and 5xx answers with exponential backoff.

What is counted
---------------
AWS bills USD 0.01 per Cost Explorer API request that it answers (each page is a request).
`CostExplorerClient.requests` counts the answered requests - the billed ones - and is what
the ledger, the report and the history call `api_requests`; `attempts` also counts the
throttled or failed attempts that botocore retried, which AWS does not bill (the ledger's
`api_retries`: attempts - requests).
STS calls are free and not counted. The budget (`max_requests`) caps `requests`: the client
refuses to send a request that would exceed it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

log = logging.getLogger("finops.aws_cost_explorer")

CE_REQUEST_COST_USD = Decimal("0.01")
DEFAULT_RETRY_MODE = "standard"
DEFAULT_MAX_ATTEMPTS = 8  # per call, the first attempt included
DEFAULT_REGION = "us-east-1"  # Cost Explorer's endpoint region in the aws partition
ROLE_SESSION_NAME = "finops-dashboard"
BUDGET_SETTING = "FINOPS_AWS_MAX_REQUESTS"


class RequestBudgetExceeded(RuntimeError):
    """A load would spend, or has spent, more Cost Explorer requests than allowed."""


def request_cost(requests: int) -> Decimal:
    """USD cost of `requests` answered Cost Explorer requests."""
    return CE_REQUEST_COST_USD * requests


def retry_config() -> Config:
    """botocore retry settings: standard mode and more attempts than boto3's default of 3.

    Cost Explorer's rate limit is low and shared by everything in the payer account, so a
    batch job should wait out throttling rather than fail. `AWS_RETRY_MODE` (`standard`,
    `adaptive`) and `AWS_MAX_ATTEMPTS` - boto3's own variables - override the defaults.
    """
    mode = (os.environ.get("AWS_RETRY_MODE") or DEFAULT_RETRY_MODE).strip().lower()
    if mode not in ("standard", "adaptive", "legacy"):
        raise ValueError(f"AWS_RETRY_MODE must be standard, adaptive or legacy, got {mode!r}")
    raw_attempts = (os.environ.get("AWS_MAX_ATTEMPTS") or "").strip()
    try:
        attempts = int(raw_attempts) if raw_attempts else DEFAULT_MAX_ATTEMPTS
    except ValueError:
        raise ValueError(f"AWS_MAX_ATTEMPTS must be a whole number, got {raw_attempts!r}") from None
    return Config(retries={"mode": mode, "total_max_attempts": max(attempts, 1)})


def boto3_session() -> boto3.Session:
    """A session on boto3's standard credential chain (env, profile, SSO, web identity, role)."""
    return boto3.Session()


def open_session(
    session: boto3.Session | None = None,
    *,
    role_arn: str | None = None,
    external_id: str | None = None,
) -> boto3.Session:
    """The session to query with: `session` (default: boto3's chain), or the role it assumes.

    The assumed role's temporary credentials last an hour (STS's default), far longer than a
    load. They live only in the returned session object; nothing here logs or formats them.
    """
    base = session or boto3_session()
    if not role_arn:
        return base
    sts = base.client("sts", region_name=base.region_name or DEFAULT_REGION, config=retry_config())
    kwargs: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": ROLE_SESSION_NAME}
    if external_id:
        kwargs["ExternalId"] = external_id
    credentials = sts.assume_role(**kwargs)["Credentials"]
    log.info("assumed role %s", role_arn)
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name=base.region_name,
    )


def caller_account(session: boto3.Session) -> str:
    """The account id of the session's identity: the payer account whose Cost Explorer we read."""
    sts = session.client(
        "sts", region_name=session.region_name or DEFAULT_REGION, config=retry_config()
    )
    return str(sts.get_caller_identity()["Account"])


def secret_values(session: boto3.Session | None, *extra: str | None) -> list[str]:
    """The credential strings of a session (and `extra` ones) that must never be printed.

    Used to scrub error texts. Resolving credentials never raises here: a session that cannot
    produce any has nothing to leak.
    """
    values = [value for value in extra if value]
    if session is not None:
        try:
            credentials = session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials else None
        except Exception:  # best effort, for redaction only
            frozen = None
        if frozen is not None:
            values += [v for v in (frozen.access_key, frozen.secret_key, frozen.token) if v]
    return [value for value in values if len(value) >= 4]


class CostExplorerClient:
    """Pages through GetCostAndUsage (boto3 has no paginator for it) and counts every request."""

    def __init__(
        self, session: boto3.Session, *, max_requests: int, budget_setting: str = BUDGET_SETTING
    ) -> None:
        self._ce = session.client(
            "ce", region_name=session.region_name or DEFAULT_REGION, config=retry_config()
        )
        self.max_requests = max_requests
        # the setting that sets `max_requests` (the per-load cap, or the monthly budget when
        # less of it is left), named by the refusals
        self.budget_setting = budget_setting
        self.requests = 0  # answered, billed requests
        self.attempts = 0  # HTTP attempts, throttled and retried ones included

    @property
    def cost_usd(self) -> Decimal:
        return request_cost(self.requests)

    def _limit(self) -> str:
        if self.budget_setting == BUDGET_SETTING:
            return f"{BUDGET_SETTING}={self.max_requests}"
        return f"what is left of {self.budget_setting} ({self.max_requests} requests)"

    def call(self, method: str, request: dict[str, Any]) -> dict[str, Any]:
        """One request of a Cost Explorer operation (boto3 method name), counted and budgeted
        like every other: each answered request, page or not, costs USD 0.01."""
        if self.requests >= self.max_requests:
            raise RequestBudgetExceeded(
                f"stopped after {self.requests} Cost Explorer requests (USD {self.cost_usd:.2f}): "
                f"{self._limit()} was reached before the load was complete, so nothing was "
                f"landed. Raise {self.budget_setting} or load a shorter window."
            )
        try:
            page = getattr(self._ce, method)(**request)
        except ClientError as exc:
            self.attempts += 1 + int(
                exc.response.get("ResponseMetadata", {}).get("RetryAttempts", 0)
            )
            raise
        self.requests += 1  # every page is a billed request: count it
        self.attempts += 1 + int(page.get("ResponseMetadata", {}).get("RetryAttempts", 0))
        return page

    def iter_pages(
        self,
        request: dict[str, Any],
        method: str = "get_cost_and_usage",
        token: str = "NextPageToken",
    ) -> Iterator[dict[str, Any]]:
        """Every page of one query, following its page token (NextPageToken; the savings
        plans operations call it NextToken) to the end."""
        kwargs = dict(request)
        while True:
            page = self.call(method, kwargs)
            yield page
            if not (next_token := page.get(token)):
                return
            kwargs[token] = next_token
