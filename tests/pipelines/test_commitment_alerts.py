"""The commitment alerts of the run report and the webhook (issue #17): commitment days of
the last 7 days whose utilization fell below FINOPS_UTILIZATION_ALERT, and commitments
ending within 30 / 60 / 90 days.

Low utilization is read from the shared `finops run` on the commitments FOCUS export
(conftest `commitments_home`, tests/commitments_testing.py: the AWS savings plan used 70 and
left 30 USD unused on 2026-01-10 - 0.7, below the default 0.9 - while the Azure reservation
was fully used). FOCUS files carry no end dates: the expiry alerts are checked end to end on
the same commitments through the cost APIs (conftest `commitments_api_home`: the plan ends in
31 days, the reservation in 50), and each horizon's edges on a warehouse of our own holding a
`marts.dim_commitment_discounts` table with the days to expiry to catch or leave out.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from commitments_testing import COMMITMENTS_RUN_DATE, PLAN, RESERVATION
from test_webhook import assert_slack_shape, texts
from webhook_server import WebhookServer

from finops.settings import load_settings
from pipelines import notify, reporting

LAST_CHARGE_DATE = date(2026, 1, 10)  # the export's one day: days_to_expiry counts from it


@pytest.fixture(scope="module")
def run_summary(commitments_home: Path) -> dict[str, Any]:
    """The shared run's summary as the Report task recorded it (reporting.run_summary on
    the published marts) in the execution history."""
    entries = json.loads((commitments_home / "logs" / "execution_history.json").read_text())
    [entry, *_] = [e for e in entries if e["run_date"] == COMMITMENTS_RUN_DATE.isoformat()]
    assert entry["status"] == "succeeded"
    return entry


@pytest.fixture(scope="module")
def run_facts(commitments_home: Path) -> dict[str, Any]:
    """reporting.gather_facts on the shared run's published marts, default threshold."""
    con = duckdb.connect(str(commitments_home / "data" / "finops_serving.duckdb"), read_only=True)
    try:
        return reporting.gather_facts(con, "USD")
    finally:
        con.close()


def section(report: str, heading: str) -> list[str]:
    """The lines of the report from the one starting with `heading` to the next blank line."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(heading))
    end = next((i for i in range(start, len(lines)) if not lines[i].strip()), len(lines))
    return lines[start:end]


def test_the_report_lists_the_plan_day_below_the_threshold(commitments_home: Path) -> None:
    # GIVEN the shared run (default FINOPS_UTILIZATION_ALERT 0.9): the AWS plan at 0.7 on
    # 2026-01-10, the Azure reservation at 1.0
    # WHEN its report is read
    report = (commitments_home / "logs" / f"report_{COMMITMENTS_RUN_DATE:%Y%m%d}.txt").read_text()

    # THEN the plan's day is listed with its utilization and its unused 30 USD, and the
    # reservation is not
    low = section(report, "Commitment days below")
    assert low == [
        "Commitment days below 90.0% utilization in the last 7 days: 1",
        f"  2026-01-10 AWS    Compute Savings Plan {PLAN}: utilization 70.0%, unused USD 30.00",
        # no end date in FOCUS files: nothing to say about expiry, but the horizons are named
        "Commitments ending within 90 days of the last charge date (2026-01-10): 0 "
        "(in 0-30 days: 0, in 31-60 days: 0, in 61-90 days: 0)",
    ]
    assert RESERVATION not in report
    # ... and the month's rate-optimization KPIs per scope (fct_cost_kpis, amortized)
    assert "  AWS    utilization 70.0%, coverage 63.6%, ESR 25.7%, unused commitment USD 30.00" in (
        section(report, "Rate optimization, month to date (amortized, USD):")
    )
    assert "  Azure  utilization 100.0%, coverage 50.0%, ESR 23.1%, unused commitment USD 0.00" in (
        section(report, "Rate optimization, month to date (amortized, USD):")
    )


def test_the_history_records_the_alert_with_exact_amounts(run_summary: dict[str, Any]) -> None:
    # GIVEN the summary the run recorded  WHEN its commitment alerts are read
    alerts = run_summary["commitment_alerts"]
    # THEN one day, the plan's: the ratio, and the amounts exact in both currencies (USD both)
    assert alerts["utilization_threshold"] == 0.9
    assert alerts["low_utilization_days"] == [
        {
            "charge_date": "2026-01-10",
            "provider": "AWS",
            "commitment_id": PLAN,
            "commitment_name": None,
            "commitment_type": "Compute Savings Plan",
            "utilization": 0.7,
            "currency": "USD",
            "used_cost": "70.00",
            "unused_cost": "30.00",
            "reporting_currency": "USD",
            "unused_cost_reporting": "30.00",
        }
    ]
    assert [(g["from_days"], g["within_days"], g["commitments"]) for g in alerts["expiring"]] == [
        (0, 30, []),
        (31, 60, []),
        (61, 90, []),
    ]


@pytest.mark.parametrize(
    ("threshold", "flagged"),
    [
        pytest.param(0.7, [], id="0.7 is not below 0.7"),
        pytest.param(0.700001, [PLAN], id="just above the plan's 0.7"),
        pytest.param(1.0, [PLAN], id="1.0: the fully used reservation is not below it"),
        pytest.param(0.0, [], id="0: never"),
    ],
)
def test_only_days_strictly_below_the_threshold_are_alerts(
    commitments_home: Path, threshold: float, flagged: list[str]
) -> None:
    # GIVEN the shared run's published marts
    con = duckdb.connect(str(commitments_home / "data" / "finops_serving.duckdb"), read_only=True)
    try:
        # WHEN the report's facts are gathered with the threshold
        facts = reporting.gather_facts(con, "USD", threshold)
    finally:
        con.close()
    # THEN exactly the commitments whose utilization is below it
    days = reporting.commitment_alerts(facts)["low_utilization_days"]
    assert [d["commitment_id"] for d in days] == flagged


def test_the_webhook_carries_the_alert(run_summary: dict[str, Any]) -> None:
    # GIVEN the run's summary and a Slack-compatible webhook
    with WebhookServer(token="commitmentAlertsToken-01") as hook:
        # WHEN the run's message is built and posted as the Report task does
        outcome = notify.send(hook.url, notify.run_message(run_summary, Decimal("100")))
        [message] = hook.messages
    assert outcome["delivered"]

    # THEN Slack accepts it and it names the plan's day, its utilization and unused amount,
    # not the reservation; no expiry section (nothing ends), and the fallback text counts it
    assert_slack_shape(message)
    text = texts(message)
    assert "*Commitment days below 90.0% utilization, last 7 days*: 1" in text
    assert (
        f"• AWS · Compute Savings Plan {PLAN}: 2026-01-10 utilization 70.0%, unused USD 30.00"
    ) in text.splitlines()
    assert RESERVATION not in text
    assert "Commitments ending within" not in text
    # (then the plan's opportunity of issue #19: tests/pipelines/test_opportunity_alerts.py)
    assert message["text"].endswith(
        " - 1 commitment day(s) below 90.0% utilization - 1 new savings opportunity"
    )


# days_to_expiry of marts.dim_commitment_discounts: id -> days (None: end date unknown)
EXPIRING = {
    "sp-10": 10,
    "ri-30": 30,  # the last day of the first horizon
    "ri-45": 45,
    "sp-80": 80,
    "ri-90": 90,  # the last day of the last horizon
    "ri-120": 120,  # beyond every horizon
    "sp-unknown": None,  # no commitment API gave its end date
    "ri-ended": -5,  # ended before the last charge date
}


def expiry_warehouse(path: Path, commitments: dict[str, int | None]) -> Path:
    """A DuckDB warehouse holding marts.dim_commitment_discounts (the mart's columns the
    alerts read, as the model types them) with the given days to expiry."""
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute(
            """
            create table marts.dim_commitment_discounts (
                commitment_discount_key varchar not null, provider_name varchar not null,
                commitment_discount_id varchar not null, commitment_discount_name varchar,
                commitment_discount_type varchar, billing_account_id varchar not null,
                first_charge_date date not null, last_charge_date date not null,
                start_date date, end_date date, term varchar, payment_option varchar,
                days_to_expiry integer
            )
            """
        )
        for cid, days in commitments.items():
            provider, kind = (
                ("AWS", "Savings Plan") if cid.startswith("sp") else ("Azure", "Reservation")
            )
            end = None if days is None else LAST_CHARGE_DATE + timedelta(days=days)
            con.execute(
                "insert into marts.dim_commitment_discounts values "
                "(?, ?, ?, ?, ?, 'ba-1', ?, ?, null, ?, '1 year', 'No Upfront', ?)",
                [f"key-{cid}", provider, cid, f"{cid} name", kind, LAST_CHARGE_DATE,
                 LAST_CHARGE_DATE, end, days],
            )  # fmt: skip
    finally:
        con.close()
    return path


def expiry_alerts(warehouse: Path, run_facts: dict[str, Any]) -> dict[str, Any]:
    """The commitment alerts of the shared run's facts with the expiries read from
    `warehouse` (reporting.expiring_commitments through a connection, as gather_facts)."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        expiring = reporting.expiring_commitments(con)
    finally:
        con.close()
    return reporting.commitment_alerts({**run_facts, "expiring_commitments": expiring})


def test_commitments_ending_are_grouped_by_horizon(
    tmp_path: Path, run_facts: dict[str, Any]
) -> None:
    # GIVEN commitments ending in 10, 30, 45, 80, 90, 120 days, one with no end date, one ended
    warehouse = expiry_warehouse(tmp_path / "expiry.duckdb", EXPIRING)

    # WHEN the alerts are gathered
    alerts = expiry_alerts(warehouse, run_facts)

    # THEN each commitment sits in the first horizon it falls in, soonest first; beyond 90
    # days, unknown and ended ones are left out
    groups = {
        (g["from_days"], g["within_days"]): [(c["commitment_id"], c["days_to_expiry"]) for c in g["commitments"]]
        for g in alerts["expiring"]
    }  # fmt: skip
    assert groups == {
        (0, 30): [("sp-10", 10), ("ri-30", 30)],
        (31, 60): [("ri-45", 45)],
        (61, 90): [("sp-80", 80), ("ri-90", 90)],
    }
    [soonest] = alerts["expiring"][0]["commitments"][:1]
    assert soonest == {
        "provider": "AWS",
        "commitment_id": "sp-10",
        "commitment_name": "sp-10 name",
        "commitment_type": "Savings Plan",
        "end_date": "2026-01-20",
        "days_to_expiry": 10,
    }


def test_report_and_webhook_show_the_expiry_groups(
    tmp_path: Path, run_summary: dict[str, Any], run_facts: dict[str, Any]
) -> None:
    # GIVEN the shared run's summary with the expiries of our warehouse
    alerts = expiry_alerts(expiry_warehouse(tmp_path / "expiry.duckdb", EXPIRING), run_facts)
    summary = {**run_summary, "commitment_alerts": alerts}

    # WHEN the report's lines and the webhook message are rendered
    report = "\n".join(reporting.commitment_report_lines(summary))
    message = notify.run_message(summary, Decimal("100"))

    # THEN the report counts each horizon and lists its commitments with end date and days
    assert section(report, "Commitments ending within") == [
        "Commitments ending within 90 days of the last charge date (2026-01-10): 5 "
        "(in 0-30 days: 2, in 31-60 days: 1, in 61-90 days: 2)",
        "  in 0-30 days:",
        "    AWS    Savings Plan sp-10 name (sp-10): ends 2026-01-20 (in 10 days)",
        "    Azure  Reservation ri-30 name (ri-30): ends 2026-02-09 (in 30 days)",
        "  in 31-60 days:",
        "    Azure  Reservation ri-45 name (ri-45): ends 2026-02-24 (in 45 days)",
        "  in 61-90 days:",
        "    AWS    Savings Plan sp-80 name (sp-80): ends 2026-03-31 (in 80 days)",
        "    Azure  Reservation ri-90 name (ri-90): ends 2026-04-10 (in 90 days)",
    ]
    # ... and the webhook the same groups, in one section after the utilization alert
    assert_slack_shape(message)
    [expiry] = [
        b["text"]["text"]
        for b in message["blocks"]
        if b.get("text", {}).get("text", "").startswith("*Commitments ending")
    ]
    assert expiry.splitlines() == [
        "*Commitments ending within 90 days*: 5",
        "_in 0-30 days_: 2",
        "• AWS · Savings Plan sp-10 name (sp-10): ends 2026-01-20 (in 10 days)",
        "• Azure · Reservation ri-30 name (ri-30): ends 2026-02-09 (in 30 days)",
        "_in 31-60 days_: 1",
        "• Azure · Reservation ri-45 name (ri-45): ends 2026-02-24 (in 45 days)",
        "_in 61-90 days_: 2",
        "• AWS · Savings Plan sp-80 name (sp-80): ends 2026-03-31 (in 80 days)",
        "• Azure · Reservation ri-90 name (ri-90): ends 2026-04-10 (in 90 days)",
    ]
    assert message["text"].endswith(
        " - 1 commitment day(s) below 90.0% utilization - 5 commitment(s) ending within 90 days"
        " - 1 new savings opportunity"
    )


def test_long_expiry_lists_are_cut(
    tmp_path: Path, run_summary: dict[str, Any], run_facts: dict[str, Any]
) -> None:
    # GIVEN 13 reservations ending in 40 .. 52 days (one horizon)
    many = {f"ri-{days}": days for days in range(40, 53)}
    alerts = expiry_alerts(expiry_warehouse(tmp_path / "expiry.duckdb", many), run_facts)
    summary = {**run_summary, "commitment_alerts": alerts}

    # WHEN the report and the webhook list them
    report = reporting.commitment_report_lines(summary)
    text = texts(notify.run_message(summary, Decimal("100")))

    # THEN both list the 10 soonest and say how many more there are
    listed = [line for line in report if line.startswith("    Azure ")]
    assert [line.split()[2] for line in listed] == [f"ri-{d}" for d in range(40, 50)]
    assert "    ... and 3 more (marts.dim_commitment_discounts)" in report
    bullets = [line for line in text.splitlines() if line.startswith("• Azure · Reservation")]
    assert len(bullets) == 10 and bullets[-1].endswith("(in 49 days)")
    assert "… and 3 more (see the report)" in text.splitlines()


def test_the_threshold_setting(finops_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN no FINOPS_UTILIZATION_ALERT THEN the default is 0.9
    assert load_settings().utilization_alert == 0.9
    # GIVEN a ratio THEN it is used as given
    monkeypatch.setenv("FINOPS_UTILIZATION_ALERT", "0.75")
    assert load_settings().utilization_alert == 0.75
    monkeypatch.setenv("FINOPS_UTILIZATION_ALERT", "1")
    assert load_settings().utilization_alert == 1.0


@pytest.mark.parametrize("raw", ["90", "90%", "-0.1", "1.01", "high", "nan", "0,9"])
def test_an_invalid_threshold_names_the_variable(
    finops_home: Path, monkeypatch: pytest.MonkeyPatch, raw: str
) -> None:
    # GIVEN a value that is not a ratio from 0 to 1
    monkeypatch.setenv("FINOPS_UTILIZATION_ALERT", raw)
    # WHEN the settings are read THEN the error names the variable, the range and the value
    with pytest.raises(ValueError) as error:
        load_settings()
    assert str(error.value) == (
        f"FINOPS_UTILIZATION_ALERT must be a ratio from 0 to 1 such as 0.9 (for 90 %), got {raw!r}"
    )


def test_the_report_lists_the_commitments_the_apis_say_end_within_60_days(
    commitments_api_home: Path,
) -> None:
    # GIVEN the same commitments answered by the cost APIs: Cost Explorer's savings plan ends
    # on 2026-02-10 (31 days after the warehouse's last charge date), the reservations list
    # says the Azure reservation ends on 2026-03-01 (50 days)
    # WHEN the run's report is read
    report = (
        commitments_api_home / "logs" / f"report_{COMMITMENTS_RUN_DATE:%Y%m%d}.txt"
    ).read_text()
    # THEN both are listed among the commitments ending in 31-60 days, soonest first
    expiring = section(report, "Commitments ending within 90 days")
    assert expiring == [
        "Commitments ending within 90 days of the last charge date (2026-01-10): 2 "
        "(in 0-30 days: 0, in 31-60 days: 2, in 61-90 days: 0)",
        "  in 31-60 days:",
        f"    AWS    Compute Savings Plan {PLAN}: ends 2026-02-10 (in 31 days)",
        f"    Azure  Reservation VM reservation ({RESERVATION}): ends 2026-03-01 (in 50 days)",
    ]
