"""The daily pipeline on the AWS Cost Explorer source, pointed at the emulators over HTTP.

Only boto3's standard settings point it there (`AWS_ENDPOINT_URL` for moto's STS and S3, and
`AWS_ENDPOINT_URL_COST_EXPLORER` for our Cost Explorer emulator, which answers any
GetCostAndUsage query and the commitment operations from an estate); the loader assumes the
`finops_user` role of the payer account like a production install would.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import luigi
import pytest
from aws_ce_emulator import Charge, CostExplorerProxy, Estate, MotoServer, charges_for
from finops_testing import run_pipeline

RUN_DATE = date(2026, 3, 2)  # default restatement window: [2026-02-01, 2026-03-02)
WINDOW = (date(2026, 2, 1), RUN_DATE)
PAYER = "999988887777"
ROLE = f"arn:aws:iam::{PAYER}:role/finops_user"
SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAFINOPSPIPELINE01",
    "AWS_SECRET_ACCESS_KEY": "pipeline-secret-access-key-must-not-leak",
    "AWS_SESSION_TOKEN": "pipeline-session-token-must-not-leak",
    "FINOPS_AWS_EXTERNAL_ID": "pipeline-external-id-must-not-leak",
}
PROD, DATA = "402193857611", "747160392817"
EC2 = "Amazon Elastic Compute Cloud - Compute"


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def proxy(moto: MotoServer) -> Iterator[CostExplorerProxy]:
    server = CostExplorerProxy(moto.url, answer_queries=True).start()
    yield server
    server.stop()


@pytest.fixture
def aws_source(
    finops_home: Path, moto: MotoServer, proxy: CostExplorerProxy, monkeypatch: pytest.MonkeyPatch
) -> Path:
    """FINOPS_HOME with FINOPS_SOURCES=aws and boto3 pointed at moto through its env vars."""
    moto.reset()
    for name in ("AWS_PROFILE", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(finops_home / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(finops_home / "no-aws-credentials"))
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", proxy.url)
    proxy.clear()
    monkeypatch.setenv("FINOPS_SOURCES", "aws")
    monkeypatch.setenv("FINOPS_AWS_ROLE_ARN", ROLE)
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return finops_home


def estate(tag_keys: tuple[str, ...] = ()) -> Estate:
    """A month of costs; with `tag_keys`, EC2 in us-east-1 tagged team=web and Redshift's
    usage team=data (everything else untagged), answered by Cost Explorer's tag queries."""
    start, end = WINDOW
    window = [start + timedelta(days=n) for n in range((end - start).days)]
    charges = (
        charges_for(
            window,
            PROD,
            "Usage",
            {
                (EC2, "us-east-1"): "1523.4178923411",
                (EC2, "eu-west-1"): "533.1962623194",
                ("Amazon Simple Storage Service", "us-east-1"): "86.0000000049",
                ("Amazon Route 53", "global"): "4.5612",
            },
            scale=lambda day: Decimal(1) + Decimal(day.day) / 100,
        )
        + [
            Charge(d, PROD, EC2, "us-east-1", "SavingsPlanCoveredUsage", "410.0000000001", "287.1")
            for d in window
        ]
        + [
            Charge(d, PROD, EC2, "us-east-1", "SavingsPlanNegation", "-410.0000000001", "0")
            for d in window
        ]
        + charges_for(window, DATA, "Usage", {("Amazon Redshift", "us-east-1"): "620.3333333333"})
        + charges_for(window, DATA, "Credit", {("Amazon Redshift", "us-east-1"): "-100"})
        + charges_for(window, DATA, "Tax", {("Tax", "NoRegion"): "57.8900000000"})
    )
    teams = {(EC2, "us-east-1", "Usage"): "web", ("Amazon Redshift", "us-east-1", "Usage"): "data"}
    charges = [
        replace(c, tags={"team": teams[key]}) if (key := (c.service, c.region, c.record_type)) in teams
        else c
        for c in charges
    ]  # fmt: skip
    return Estate(
        start,
        end,
        charges,
        {PROD: "acme-prod", DATA: "acme-data"},
        estimated_from=end - timedelta(days=3),
        days_per_page=10,  # 29 days: 3 pages per pair
        tag_keys=tag_keys,
    )


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


def test_daily_pipeline_on_aws_matches_cost_explorer_to_the_cent(
    aws_source: Path, moto: MotoServer, proxy: CostExplorerProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Cost Explorer of the payer account holding a month of costs and a savings plan
    # (one GetSavingsPlansUtilizationDetails request a day, and its GetSavingsPlansCoverage
    # query), with costs allocated by the tag key `team` (one tag query per linked account)
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", "team")
    monkeypatch.setenv("FINOPS_AWS_MONTHLY_API_BUDGET_USD", "50")
    costs = estate(tag_keys=("team",))
    proxy.estate = costs

    # WHEN the daily pipeline runs on the AWS source
    result = run_pipeline(RUN_DATE)
    requests = len([s for s in proxy.seen if s.answered_by == "emulator"])
    assert requests == len(proxy.seen) > 29  # every request answered, the 29 savings plan days

    # THEN it succeeded and the marts hold exactly the queued amounts, billed and effective
    assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    con = duckdb.connect(str(aws_source / "data" / "finops_serving.duckdb"), read_only=True)
    try:
        totals = con.execute(
            "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost), "
            "count(distinct sub_account_id), min(charge_date), max(charge_date), "
            "count(*) filter (where is_estimated) > 0 "
            "from marts.fct_daily_costs group by all"
        ).fetchall()
        billing_accounts = con.execute(
            "select distinct billing_account_id from marts.fct_daily_costs"
        ).fetchall()
        allocated = con.execute(
            "select allocation_value, allocation_method, sum(billed_cost), sum(effective_cost) "
            "from marts.fct_cost_allocation where allocation_key = 'team' group by all order by all"
        ).fetchall()
    finally:
        con.close()
    billed, effective = costs.totals()
    # THEN each team gets its tagged cost - every API row split by its day's tag cut - and the
    # rest is unallocated: the key sums to the daily costs to the cent
    tagged = {
        team: sum((Decimal(c.effective) for c in costs.charges if c.tags == {"team": team}),
                  Decimal(0))
        for team in ("data", "web")
    }  # fmt: skip
    assert [(v, m, cents(e)) for v, m, _, e in allocated] == [
        ("(unallocated)", "unallocated", cents(effective - tagged["data"] - tagged["web"])),
        ("data", "tag", cents(tagged["data"])),
        ("web", "tag", cents(tagged["web"])),
    ]
    assert cents(sum(b for _, _, b, _ in allocated)) == cents(billed)
    [(provider, currency, mart_billed, mart_effective, accounts, first, last, estimated)] = totals
    assert (provider, currency, accounts) == ("AWS", "USD", 2)
    assert (cents(mart_billed), cents(mart_effective)) == (cents(billed), cents(effective))
    assert (first, last, estimated) == (WINDOW[0], WINDOW[1] - timedelta(days=1), True)
    assert billing_accounts == [(PAYER,)]

    # THEN the report and the execution history show the requests and what they cost
    report = (aws_source / "logs" / f"report_{RUN_DATE:%Y%m%d}.txt").read_text()
    assert f"API requests: {requests}, API cost: USD {Decimal('0.01') * requests:.2f}" in report
    # ... and the month's (UTC) requests per source from the load ledger, with what is left
    # of the monthly Cost Explorer budget
    cost = Decimal("0.01") * requests
    assert (
        f"    aws_cost_explorer     {requests:>6} requests in 1 load(s), USD {cost:.2f}" in report
    )
    assert (
        f"FINOPS_AWS_MONTHLY_API_BUDGET_USD=50: USD {cost:.2f} spent, "
        f"USD {Decimal(50) - cost:.2f} left"
    ) in report
    [entry] = json.loads((aws_source / "logs" / "execution_history.json").read_text())
    assert [(m["source"], m["api_requests"]) for m in entry["api_month_to_date"]] == [
        ("aws_cost_explorer", requests)
    ]
    assert entry["status"] == "succeeded"
    assert (entry["api_requests"], Decimal(entry["api_cost_usd"])) == (
        requests,
        Decimal("0.01") * requests,
    )
    [load] = entry["loads"]  # the savings plan's days land in the same transaction
    assert (load["source"], load["scope"]) == ("aws_cost_explorer", PAYER)
    assert (load["window_start"], load["window_end"]) == ("2026-02-01", "2026-03-02")
    assert load["row_count"] == len(costs.charges)

    # THEN no credential or the external id is written anywhere under FINOPS_HOME: logs,
    # report, history, the raw CSV extract, exports, the warehouse files themselves
    files = [p for p in aws_source.rglob("*") if p.is_file()]
    assert (aws_source / "data" / "raw" / f"multicloud_costs_{RUN_DATE:%Y%m%d}.csv") in files
    assert any(p.parent.name == "logs" for p in files)
    for path in files:
        content = path.read_bytes()
        for name, secret in SECRETS.items():
            assert secret.encode() not in content, f"{name} found in {path}"


def test_switching_from_simulated_to_aws_never_adds_demo_costs_to_real_ones(
    aws_source: Path, moto: MotoServer, proxy: CostExplorerProxy, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a home where the simulated source ran first (`make run` before configuring AWS)
    monkeypatch.setenv("FINOPS_SOURCES", "simulated")
    first = run_pipeline(RUN_DATE - timedelta(days=1))
    assert first.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, first.summary_text
    warehouse = aws_source / "data" / "finops.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        [(simulated_rows,)] = con.execute(
            "select count(*) from raw.aws_cost_explorer where _source = 'simulated'"
        ).fetchall()
    assert simulated_rows > 0

    # WHEN the user switches to the real AWS source
    monkeypatch.setenv("FINOPS_SOURCES", "aws")
    costs = estate()
    proxy.estate = costs
    second = run_pipeline(RUN_DATE)

    # THEN the marts hold exactly Cost Explorer's amounts: no simulated cost is left in raw
    assert second.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, second.summary_text
    with duckdb.connect(str(warehouse), read_only=True) as con:
        sources = con.execute(
            "select distinct _source from raw.aws_cost_explorer "
            "union select distinct _source from raw.azure_cost_management"
        ).fetchall()
    assert sources == [("aws_cost_explorer",)]
    with duckdb.connect(str(aws_source / "data" / "finops_serving.duckdb"), read_only=True) as con:
        [(providers, billed)] = con.execute(
            "select list(distinct provider_name), sum(billed_cost) from marts.fct_daily_costs"
        ).fetchall()
    assert (providers, cents(billed)) == (["AWS"], cents(costs.totals()[0]))
