"""The run notification: a Slack-compatible incoming-webhook message (`{"text", "blocks"}`).

Set `FINOPS_WEBHOOK_URL` (a Slack incoming webhook, or anything that accepts Slack's JSON:
Mattermost, Rocket.Chat, a Teams/Google Chat relay, ...) and every run posts its summary once
it is reported (status succeeded / partial), or once a task failed it (status failed):
per-provider rows, API requests and their cost, totals per provider and billing currency
(never added across currencies), the anomalies of the last 7 days whose |cost impact| is at
least `FINOPS_WEBHOOK_MIN_IMPACT` (reporting currency), the commitment alerts when there are
any (days of the last 7 whose utilization fell below `FINOPS_UTILIZATION_ALERT`,
commitments ending within 30 / 60 / 90 days), the savings opportunities first seen in the
last 7 days whose monthly estimate is at least `FINOPS_OPPORTUNITY_MIN_SAVINGS` (reporting
currency), and for a partial or failed run the error.

A webhook is a courtesy, never a reason to fail the run: `send` never raises. It retries a
429 (honouring Retry-After up to 10 s) or a 5xx/connection error twice, then gives up and
returns the outcome, which the execution history records. The URL is a secret (a Slack
webhook URL is its own credential): only its scheme and host are ever logged or recorded.
"""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from loaders.redaction import safe_url, scrub
from pipelines.reporting import (
    anomalies_above,
    commitment_label,
    expiry_heading,
    opportunity_text,
    percent,
    unused_text,
)

log = logging.getLogger("finops.notify")

ATTEMPTS = 3
BACKOFF_S = (1.0, 2.0)
MAX_RETRY_AFTER_S = 10.0
MAX_ANOMALY_LINES = 15
MAX_COMMITMENT_LINES = 10  # per commitment list (low utilization; each expiry horizon)
MAX_OPPORTUNITY_LINES = 10  # new savings opportunities
SECTION_LIMIT = 2900  # Slack: a section's text is at most 3,000 characters
HEADER_LIMIT = 150  # Slack: a header's plain text is at most 150 characters
STATUS_ICONS = {"succeeded": ":white_check_mark:", "partial": ":warning:", "failed": ":x:"}


def _escape(text: object) -> str:
    """Slack mrkdwn control characters (&, <, >) escaped in our own content."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _clip(text: str, limit: int = SECTION_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text)}}


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, HEADER_LIMIT)}}


def _money(value: Any, currency: str, signed: bool = False) -> str:
    amount = Decimal(value)
    sign = "+" if signed and amount > 0 else ""
    return f"{sign}{currency} {amount:,.2f}"


def anomaly_line(a: dict[str, Any], currency: str) -> str:
    """One anomaly as a Slack list line (also what the tests look for)."""
    if a["kind"] == "total":
        what = f"total {a['provider']}"
    else:
        what = f"{a['provider']} · {a['sub_account'] or a['provider']} · {a['service']}"
    z = "flat" if a["z_score"] is None else f"z {a['z_score']:.1f}"
    return (
        f"• {a['charge_date']} {_escape(what)}: {a['direction']}, actual "
        f"{_money(a['actual_cost'], currency)} vs expected {_money(a['expected_cost'], currency)} "
        f"({z}), impact {_money(a['cost_impact'], currency, signed=True)}"
    )


def total_line(t: dict[str, Any]) -> str:
    return (
        f"• {t['provider']} {t['currency']}: billed {Decimal(t['billed_cost']):,.2f}, "
        f"effective {Decimal(t['effective_cost']):,.2f} ({t['first_date']} … {t['last_date']})"
    )


def low_utilization_line(d: dict[str, Any]) -> str:
    """One commitment day below the utilization threshold as a Slack list line."""
    return (
        f"• {_escape(d['provider'])} · {_escape(commitment_label(d))}: {d['charge_date']} "
        f"utilization {percent(d['utilization'])}, unused {unused_text(d)}"
    )


def expiry_line(c: dict[str, Any]) -> str:
    """One commitment about to end as a Slack list line."""
    return (
        f"• {_escape(c['provider'])} · {_escape(commitment_label(c))}: ends {c['end_date']} "
        f"(in {c['days_to_expiry']} days)"
    )


def commitment_blocks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The commitment alerts, each list cut at MAX_COMMITMENT_LINES: a section only when
    there is something to act on, so an estate without commitments gets no empty ones."""
    alerts = summary["commitment_alerts"]
    blocks = []
    low = alerts["low_utilization_days"]
    if low:
        lines = [
            f"*Commitment days below {percent(alerts['utilization_threshold'])} utilization, "
            f"last 7 days*: {len(low)}",
            *(low_utilization_line(d) for d in low[:MAX_COMMITMENT_LINES]),
        ]
        if len(low) > MAX_COMMITMENT_LINES:
            lines.append(f"… and {len(low) - MAX_COMMITMENT_LINES} more (see the report)")
        blocks.append(_section("\n".join(lines)))
    groups = alerts["expiring"]
    total = sum(len(g["commitments"]) for g in groups)
    if total:
        lines = [f"*Commitments ending within {groups[-1]['within_days']} days*: {total}"]
        for group in groups:
            ending = group["commitments"]
            if not ending:
                continue
            lines.append(f"_{expiry_heading(group)}_: {len(ending)}")
            lines += [expiry_line(c) for c in ending[:MAX_COMMITMENT_LINES]]
            if len(ending) > MAX_COMMITMENT_LINES:
                lines.append(f"… and {len(ending) - MAX_COMMITMENT_LINES} more (see the report)")
        blocks.append(_section("\n".join(lines)))
    return blocks


def opportunity_blocks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """The new savings opportunities, cut at MAX_OPPORTUNITY_LINES: a section only when there
    is one to act on."""
    new = summary["new_opportunities"]
    found = new["opportunities"]
    if not found:
        return []
    cur = summary["reporting_currency"]
    lines = [
        f"*New savings opportunities, last 7 days, ≥ {_money(new['min_savings'], cur)} a "
        f"month*: {len(found)}",
        *(f"• {_escape(opportunity_text(o))}" for o in found[:MAX_OPPORTUNITY_LINES]),
    ]
    if len(found) > MAX_OPPORTUNITY_LINES:
        lines.append(f"… and {len(found) - MAX_OPPORTUNITY_LINES} more (see the report)")
    return [_section("\n".join(lines))]


def provider_field(p: dict[str, Any]) -> str:
    lines = [f"*{p['provider']}*" + (" - load *FAILED*" if p["status"] == "failed" else "")]
    lines.append(
        f"rows loaded {p['rows_loaded']:,} · API {p['api_requests']} requests "
        f"(USD {Decimal(p['api_cost_usd']):.2f})"
    )
    lines.append(f"data through {p['data_through'] or 'n/a'}")
    return _clip("\n".join(lines), 1900)


def run_message(summary: dict[str, Any], min_impact: Decimal) -> dict[str, Any]:
    """The Slack message of a run that reached its report (succeeded or partial)."""
    cur = summary["reporting_currency"]
    status = summary["status"]
    since = summary["backfill_since"]
    title = f"FinOps daily run {summary['run_date']}: {status}" + (
        f" (backfill since {since})" if since else ""
    )
    status_text = f"{STATUS_ICONS.get(status, '')} *{status}*"
    if summary["failed_loads"]:
        status_text += (
            " - the other sources were loaded; the marts keep the failed provider's last good "
            "data until the date is rerun"
        )
        for failure in summary["failed_loads"]:
            status_text += (
                f"\n*{failure['source']}* failed: `{_escape(_clip(failure['error'], 600))}`"
            )
    blocks: list[dict[str, Any]] = [_header(title), _section(status_text)]
    fields = [{"type": "mrkdwn", "text": provider_field(p)} for p in summary["providers"][:10]]
    if fields:
        blocks.append({"type": "section", "fields": fields})
    totals = [total_line(t) for t in summary["totals_by_provider_currency"]]
    blocks.append(
        _section(
            "*Totals by provider and billing currency* (never added across currencies)\n"
            + ("\n".join(totals) or "no cost data")
            + f"\n_All providers converted to {cur}: {_money(summary['total_reporting'], cur)}_"
        )
    )
    flagged = anomalies_above(summary, min_impact)
    heading = (
        f"*Anomalies of the last 7 days with |impact| ≥ {_money(min_impact, cur)}*: "
        f"{len(flagged)} (of {len(summary['anomalies'])})"
    )
    lines = [anomaly_line(a, cur) for a in flagged[:MAX_ANOMALY_LINES]]
    if len(flagged) > MAX_ANOMALY_LINES:
        lines.append(f"… and {len(flagged) - MAX_ANOMALY_LINES} more (see the report)")
    blocks.append(_section("\n".join([heading, *lines])))
    blocks += commitment_blocks(summary)
    blocks += opportunity_blocks(summary)
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": _clip(
                        f"API requests: {summary['api_requests']} · API cost: USD "
                        f"{Decimal(summary['api_cost_usd']):.2f} · duration "
                        f"{summary['duration_s']} s · exports: {summary['exported_files']} files "
                        f"to {_escape(summary['export_destination'])}",
                        1900,
                    ),
                }
            ],
        }
    )
    text = f"FinOps {summary['run_date']}: {status.upper()}"
    if summary["failed_sources"]:
        text += f" ({', '.join(summary['failed_sources'])} failed)"
    text += " - " + "; ".join(
        f"{t['provider']} {t['currency']} {Decimal(t['billed_cost']):,.2f}"
        for t in summary["totals_by_provider_currency"]
    )
    text += f" - {len(flagged)} anomalies ≥ {_money(min_impact, cur)}"
    alerts = summary["commitment_alerts"]
    if low := len(alerts["low_utilization_days"]):
        text += (
            f" - {low} commitment day(s) below "
            f"{percent(alerts['utilization_threshold'])} utilization"
        )
    if ending := sum(len(g["commitments"]) for g in alerts["expiring"]):
        horizon = alerts["expiring"][-1]["within_days"]
        text += f" - {ending} commitment(s) ending within {horizon} days"
    if found := len(summary["new_opportunities"]["opportunities"]):
        text += f" - {found} new savings opportunit{'y' if found == 1 else 'ies'}"
    return {"text": _clip(text, 2900), "blocks": blocks}


def failure_message(run_date: str, task_id: str, error: str) -> dict[str, Any]:
    """The Slack message of a run that a task failed (nothing was reported)."""
    return {
        "text": _clip(f"FinOps {run_date}: FAILED in {task_id}: {error}", 2900),
        "blocks": [
            _header(f"FinOps daily run {run_date}: failed"),
            _section(
                f"{STATUS_ICONS['failed']} *failed* in `{_escape(task_id)}`\n"
                f"`{_escape(_clip(error, 2000))}`\nNothing new was published; see "
                "logs/pipeline.log and logs/execution_history.json, fix, then rerun the date."
            ),
        ],
    }


def send(
    url: str,
    message: dict[str, Any],
    timeout_s: float = 10,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """POST `message` as JSON; never raises. Returns the outcome (delivered, HTTP status,
    attempts, error) with the URL reduced to its scheme and host."""
    target = safe_url(url)
    body = json.dumps(message).encode("utf-8")
    status: int | None = None
    error = ""
    for attempt in range(1, ATTEMPTS + 1):
        wait = BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)]
        retry = False
        try:
            request = urllib.request.Request(
                url,
                data=body,
                method="POST",
                headers={"Content-Type": "application/json; charset=utf-8"},
            )
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                status = response.status
                log.info("webhook %s: delivered (HTTP %s, attempt %d)", target, status, attempt)
                return {
                    "delivered": True,
                    "http_status": status,
                    "attempts": attempt,
                    "target": target,
                }
        except urllib.error.HTTPError as exc:
            status = exc.code
            try:
                detail = exc.read(200).decode("utf-8", "replace").strip()
            except Exception:
                detail = ""
            error = f"HTTP {exc.code} {detail or exc.reason}".strip()
            retry = exc.code == 429 or exc.code >= 500
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            if exc.code == 429 and retry_after and retry_after.strip().isdigit():
                wait = min(float(retry_after), MAX_RETRY_AFTER_S)
        except Exception as exc:  # connection refused, DNS, TLS, timeout: never fail the run
            status = None
            error = f"{type(exc).__name__}: {exc}"
            retry = True
        error = scrub(error)[:500]
        log.warning("webhook %s: attempt %d failed: %s", target, attempt, error)
        if not retry or attempt == ATTEMPTS:
            break
        sleep(wait)
    log.error("webhook %s: not delivered after %d attempt(s): %s", target, attempt, error)
    return {
        "delivered": False,
        "http_status": status,
        "attempts": attempt,
        "target": target,
        "error": error,
    }
