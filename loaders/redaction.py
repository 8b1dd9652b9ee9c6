"""Keep secrets out of everything finops writes: logs, ledger, reports, history, webhooks.

The one redaction of the product. The loaders scrub their own errors with it (the AWS one
adding its session's credentials as `extra`, the Azure one `remember`ing every token its
credential hands out); the pipeline and the `finops` command scrub every error they record
or print with it, and start dbt without credentials it does not need (`without_secrets`).
It lives in `loaders/` because loaders are the bottom of the graph: they import neither
`finops` nor `pipelines`, both of which import this.

Secrets are the values of the variables in SECRET_VARIABLES (cloud credentials read by the
SDKs, the AWS external id, the webhook URL - a Slack webhook URL *is* its secret - and the
path segments of that URL), the tokens remembered in this process and the caller's `extra`
values, plus bearer tokens and signed-URL parameters wherever they appear.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AZURE_CLIENT_SECRET",
    "AZURE_CLIENT_CERTIFICATE_PASSWORD",
    "AZURE_PASSWORD",
    "FINOPS_AWS_EXTERNAL_ID",
    "FINOPS_WEBHOOK_URL",
)
WEBHOOK_VARIABLE = "FINOPS_WEBHOOK_URL"
MASK = "***"
MIN_SECRET_LENGTH = 6  # shorter values would mask ordinary words

_PATTERNS = (
    (re.compile(r"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]{8,}"), r"\1 " + MASK),
    (
        re.compile(
            r"(?i)\b(x-amz-signature|x-amz-security-token|x-amz-credential|sig|client_secret|"
            r"access_token|refresh_token|password)=[^&\s\"']+"
        ),
        r"\1=" + MASK,
    ),
    (
        re.compile(r"(?i)(hooks\.slack\.com/(?:services|workflows|triggers)/)[^\s\"'<>]+"),
        r"\1" + MASK,
    ),
)


_remembered: set[str] = set()


def remember(*secrets: str) -> None:
    """Mask these values in every later `scrub` of this process (e.g. the bearer tokens a
    credential hands out, which no variable holds)."""
    _remembered.update(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH)


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    """The secret strings to mask, longest first (so a URL goes before its own path)."""
    env = os.environ if environ is None else environ
    values: set[str] = set()
    for name in SECRET_VARIABLES:
        value = (env.get(name) or "").strip()
        if len(value) >= MIN_SECRET_LENGTH:
            values.add(value)
    webhook = (env.get(WEBHOOK_VARIABLE) or "").strip()
    if webhook:
        try:
            parts = urlsplit(webhook)
        except ValueError:
            parts = None
        if parts is not None:
            if parts.path.strip("/"):
                values.add(parts.path)
            values.update(s for s in parts.path.split("/") if len(s) >= MIN_SECRET_LENGTH)
            if parts.query:
                values.add(parts.query)
    return sorted(values, key=len, reverse=True)


def scrub(text: object, environ: Mapping[str, str] | None = None, extra: Iterable[str] = ()) -> str:
    """`text` with every known secret replaced by ***: those of `environ` (default: this
    process's environment), the `remember`ed ones and `extra` (taken as given, whatever
    their length)."""
    out = str(text)
    secrets = {*secret_values(environ), *_remembered, *(s for s in extra if s)}
    for secret in sorted(secrets, key=len, reverse=True):
        out = out.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        out = pattern.sub(replacement, out)
    return out


def safe_url(url: str) -> str:
    """Scheme, host and port of a URL: what may be shown of a secret URL."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<unparseable URL>"
    return f"{parts.scheme}://{host}{port}/{MASK}"


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """A copy of the environment without the secret variables (for child processes such as
    dbt, which needs none of them)."""
    return {k: v for k, v in environ.items() if k not in SECRET_VARIABLES}
