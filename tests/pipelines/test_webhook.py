"""The run notification: Slack-compatible JSON received by a local webhook server.

Uses the `two_clouds` scenario (tests/ops_scenario.py): a partial run whose first webhook
attempt gets a 500, the healed rerun whose webhook answers 404 no_service (revoked), spikes in
the last days of the Azure history and FINOPS_WEBHOOK_MIN_IMPACT=8000 - plus one quick run
that fails before anything is built.
"""

from __future__ import annotations

import json
import socket
from decimal import Decimal
from pathlib import Path

from finops_testing import finops_env
from ops_scenario import (
    D2,
    SECRETS,
    SUBSCRIPTIONS,
    WEBHOOK_MIN_IMPACT,
    TwoClouds,
    aws_daily_requests,
    clean_environ,
    query,
    run_cli,
)
from webhook_server import WebhookServer


def texts(message: dict) -> str:
    """Every text of a Slack message: the fallback and each block's (sections, fields, ...)."""
    parts = [message["text"]]
    for block in message["blocks"]:
        if "text" in block:
            parts.append(block["text"]["text"])
        parts += [f["text"] for f in block.get("fields", [])]
        parts += [e["text"] for e in block.get("elements", [])]
    return "\n".join(parts)


def assert_slack_shape(message: dict) -> None:
    """What Slack accepts: a text, at most 50 blocks, a header <= 150, sections <= 3000."""
    assert isinstance(message["text"], str) and message["text"]
    assert 0 < len(message["blocks"]) <= 50
    for block in message["blocks"]:
        assert block["type"] in ("header", "section", "context")
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text" and len(block["text"]["text"]) <= 150
        if block["type"] == "section" and "text" in block:
            assert block["text"]["type"] == "mrkdwn" and len(block["text"]["text"]) <= 3000
        assert len(block.get("fields", [])) <= 10


def money(value: Decimal) -> str:
    return f"{value:,.2f}"


def test_each_run_posts_its_status_and_a_server_error_is_retried(two_clouds: TwoClouds) -> None:
    # GIVEN a webhook that fails the first POST with HTTP 500 and accepts the next
    hook = two_clouds.webhook
    partial = two_clouds.runs["partial"]

    # WHEN D2 runs partial, then healed, then once more (complete: nothing to report)

    # THEN the partial summary came twice (500, then the accepted retry), then the healed
    # run's; the no-op rerun posted nothing
    assert [r.status for r in hook.received] == [500, 200, 404]
    assert all(r.headers["content-type"].startswith("application/json") for r in hook.received)
    first, retried, succeeded = hook.messages
    assert first == retried
    for message in hook.messages:
        assert_slack_shape(message)
    assert partial.history[-1]["webhook"] == {
        "delivered": True,
        "http_status": 200,
        "attempts": 2,
        "target": f"{hook.url.split('/services/')[0]}/***",
    }

    # THEN the partial message says partial, names Azure's failure and its error
    text = texts(retried)
    entry = partial.history[-1]
    assert retried["blocks"][0]["text"]["text"] == f"FinOps daily run {D2}: partial"
    assert retried["text"].startswith(f"FinOps {D2}: PARTIAL (azure failed)")
    assert "*azure* failed: `AzureCostManagementError: Azure Cost Management load" in text
    assert "*Azure* - load *FAILED*" in text

    # THEN it carries per-provider rows and API requests with their cost, and the totals per
    # provider and billing currency as the marts hold them (USD and EUR never added up)
    aws_requests = aws_daily_requests(D2)
    aws = next(p for p in entry["providers"] if p["provider"] == "AWS")
    assert (
        f"rows loaded {aws['rows_loaded']:,} · API {aws_requests} requests "
        f"(USD {Decimal('0.01') * aws_requests:.2f})"
    ) in text
    for (provider, currency), billed in partial.marts.items():
        assert f"• {provider} {currency}: billed {money(billed)}," in text
    assert {c for (p, c) in partial.marts if p == "Azure"} == {s.currency for s in SUBSCRIPTIONS}
    assert f"API requests: {entry['api_requests']} · API cost: USD" in text

    # THEN the healed run's message says succeeded, with nothing failed
    assert succeeded["blocks"][0]["text"]["text"] == f"FinOps daily run {D2}: succeeded"
    assert "FAILED" not in texts(succeeded)


def test_anomalies_above_the_threshold_and_totals_come_from_the_marts(
    two_clouds: TwoClouds,
) -> None:
    # GIVEN the healed run's marts, whose last days hold spikes, and a threshold of USD 8,000
    recent = "charge_date > (select max(charge_date) from marts.fct_daily_costs) - 7"
    service_anomalies = query(
        two_clouds.serving,
        f"select charge_date, provider_name, service_name, cost_impact "
        f"from marts.fct_cost_anomalies where {recent}",
    )
    total_anomalies = query(
        two_clouds.serving,
        f"select charge_date, provider_scope, cost_impact "
        f"from marts.fct_cost_total_anomalies where {recent}",
    )
    above = [a for a in service_anomalies if abs(a[3]) >= WEBHOOK_MIN_IMPACT]
    below = [a for a in service_anomalies if abs(a[3]) < WEBHOOK_MIN_IMPACT]
    totals_above = [a for a in total_anomalies if abs(a[2]) >= WEBHOOK_MIN_IMPACT]
    assert above and below and totals_above  # the threshold has something to separate

    # WHEN the healed run posted its summary
    message = two_clouds.webhook.messages[-1]
    assert_slack_shape(message)
    text = texts(message)

    # THEN exactly the anomalies at or above the threshold are listed, service and total ones
    listed = [line for line in text.splitlines() if line.startswith("• 20")]
    assert len(listed) == len(above) + len(totals_above)
    assert (
        f"with |impact| ≥ USD {WEBHOOK_MIN_IMPACT:,.2f}*: {len(listed)} "
        f"(of {len(service_anomalies) + len(total_anomalies)})"
    ) in text
    for day, provider, service, impact in above:
        assert any(
            line.startswith(f"• {day} {provider} · ")
            and f" · {service}: " in line
            and line.endswith(f"impact {'+' if impact > 0 else ''}USD {money(impact)}")
            for line in listed
        ), (day, service, listed)
    for day, scope, impact in totals_above:
        assert any(
            line.startswith(f"• {day} total {scope}: ")
            and line.endswith(f"impact {'+' if impact > 0 else ''}USD {money(impact)}")
            for line in listed
        ), (day, scope, listed)
    for day, _provider, service, impact in below:
        assert not any(f"USD {money(impact)}" in line for line in listed), (day, service)

    # THEN the totals per provider and billing currency equal the marts'
    totals = query(
        two_clouds.serving,
        "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs group by all",
    )
    for provider, currency, billed, effective in totals:
        assert (
            f"• {provider} {currency}: billed {money(round(billed, 2))}, "
            f"effective {money(round(effective, 2))}"
        ) in text


def test_a_revoked_webhook_is_recorded_and_never_fails_the_run(two_clouds: TwoClouds) -> None:
    # GIVEN the healed run's webhook answering 404 no_service (revoked), not worth a retry
    healed = two_clouds.runs["healed"]
    # WHEN the run posted to it
    # THEN the run still succeeded (exit 0) and the history records the undelivered webhook
    assert healed.exit_code == 0, healed.output
    entry = healed.history[-1]
    assert entry["status"] == "succeeded"
    webhook = entry["webhook"]
    assert (webhook["delivered"], webhook["http_status"], webhook["attempts"]) == (False, 404, 1)
    assert webhook["error"] == "HTTP 404 no_service"
    # and the log says so naming only the host, never the URL's secret path
    log = (two_clouds.home / "logs" / "pipeline.log").read_text()
    assert f"webhook {webhook['target']}: not delivered after 1 attempt(s)" in log
    assert SECRETS["webhook URL token"] not in log


def test_a_failed_run_posts_a_failed_message(tmp_path: Path) -> None:
    # GIVEN the AWS source alone, with nothing listening where its API should be
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with WebhookServer(token="failedRunWebhookToken-0001") as hook:
        env = {
            **clean_environ(),
            **finops_env(tmp_path),
            "FINOPS_SOURCES": "aws",
            "AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port}",
            "AWS_ACCESS_KEY_ID": "AKIAFAILEDRUNTEST001",
            "AWS_SECRET_ACCESS_KEY": "failed-run-secret-access-key",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
            "FINOPS_WEBHOOK_URL": hook.url,
        }

        # WHEN cron runs the day
        proc = run_cli(tmp_path, env, "run", "--date", "2026-03-02", timeout=300)

        # THEN the run failed (exit 1) and the webhook got one "failed" message naming the
        # task and the error
        assert proc.returncode == 1, proc.stdout + proc.stderr
        [message] = hook.messages
    assert_slack_shape(message)
    assert message["blocks"][0]["text"]["text"] == "FinOps daily run 2026-03-02: failed"
    text = texts(message)
    assert "LoadSource" in text and "CostExplorerLoadError" in text
    assert f"http://127.0.0.1:{closed_port}" in text  # the endpoint is no secret, the key is
    assert "failed-run-secret-access-key" not in text
    [entry] = json.loads((tmp_path / "logs" / "execution_history.json").read_text())
    assert (entry["status"], entry["webhook"]["delivered"]) == ("failed", True)
