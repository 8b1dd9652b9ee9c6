"""The new savings opportunities of the run report, the execution history and the webhook
(issue #19, FINOPS_OPPORTUNITY_MIN_SAVINGS), read from the shared `finops run` on the
rate-optimization export (conftest `commitments_home`, tests/commitments_testing.py): the
AWS savings plan left USD 30 unused on 2026-01-10, the last charge date - an opportunity of
the rule unused_commitment first seen that day, 900 a month (tests/dbt/test_optimization.py).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from commitments_testing import COMMITMENTS_RUN_DATE, PLAN
from test_webhook import assert_slack_shape, texts
from webhook_server import WebhookServer

from pipelines import notify, reporting

PLAN_LINE = (
    f"unused_commitment, AWS 222222222222: Use, exchange or sell the unused part of Compute "
    f"Savings Plan {PLAN} - USD 900.00 a month [rule:unused_commitment]"
)


def test_the_report_and_the_history_list_the_new_opportunity(commitments_home: Path) -> None:
    # GIVEN the shared run (default FINOPS_OPPORTUNITY_MIN_SAVINGS 100): the plan's
    # opportunity first seen on 2026-01-10, the last charge date, at 900 a month
    report = (commitments_home / "logs" / f"report_{COMMITMENTS_RUN_DATE:%Y%m%d}.txt").read_text()
    # THEN the report lists it with what to do and the estimate
    lines = report.splitlines()
    start = lines.index(
        "New savings opportunities (first seen in the last 7 days, at least USD 100.00 a month): 1"
    )
    assert lines[start + 1] == f"  {PLAN_LINE}"
    # ... and the execution history keeps it with exact amounts
    entries = json.loads((commitments_home / "logs" / "execution_history.json").read_text())
    [entry] = [e for e in entries if e["run_date"] == COMMITMENTS_RUN_DATE.isoformat()]
    new = entry["new_opportunities"]
    assert new["min_savings"] == "100"
    [opportunity] = new["opportunities"]
    assert (opportunity["source"], opportunity["resource_id"], opportunity["first_seen"]) == (
        "rule:unused_commitment",
        PLAN,
        "2026-01-10",
    )
    assert opportunity["estimated_monthly_savings"] == "900.00"
    assert opportunity["estimated_monthly_savings_reporting"] == "900.00"


def _facts(commitments_home: Path, min_savings: Decimal) -> dict[str, Any]:
    con = duckdb.connect(str(commitments_home / "data" / "finops_serving.duckdb"), read_only=True)
    try:
        return reporting.gather_facts(con, "USD", 0.9, min_savings)
    finally:
        con.close()


@pytest.mark.parametrize(
    ("min_savings", "listed"),
    [
        pytest.param(Decimal("900"), 1, id="900 a month is at least 900"),
        pytest.param(Decimal("900.01"), 0, id="900.01 is above the estimate"),
        pytest.param(Decimal("0"), 1, id="0 lists every new one"),
    ],
)
def test_only_opportunities_at_least_the_minimum_are_listed(
    commitments_home: Path, min_savings: Decimal, listed: int
) -> None:
    # GIVEN the shared run's published marts  WHEN the report's facts use the minimum
    items = reporting.opportunity_items(_facts(commitments_home, min_savings))
    # THEN the plan's 900 a month is listed exactly when it reaches it
    assert len(items["opportunities"]) == listed
    assert items["min_savings"] == str(min_savings)


def test_the_webhook_carries_the_new_opportunity(commitments_home: Path) -> None:
    # GIVEN the run's summary as the history recorded it, and a Slack-compatible webhook
    entries = json.loads((commitments_home / "logs" / "execution_history.json").read_text())
    [summary] = [e for e in entries if e["run_date"] == COMMITMENTS_RUN_DATE.isoformat()]
    with WebhookServer(token="opportunityAlertsToken-01") as hook:
        # WHEN the run's message is built and posted as the Report task does
        outcome = notify.send(hook.url, notify.run_message(summary, Decimal("100")))
        [message] = hook.messages
    assert outcome["delivered"]
    # THEN Slack accepts it and it lists the opportunity, and the fallback text counts it
    assert_slack_shape(message)
    text = texts(message)
    assert "*New savings opportunities, last 7 days, ≥ USD 100.00 a month*: 1" in text
    assert f"• {PLAN_LINE}" in text.splitlines()
    assert message["text"].endswith(" - 1 new savings opportunity")
