"""The Cost Explorer emulator's query-answering mode: any legal GetCostAndUsage request
answered from an estate's charges (`Estate.answer_query`, `CostExplorerProxy(upstream,
estate=...)`), checked against sums computed directly from the charges, through real boto3
over loopback, and with the existing loader on top (issue #20's emulator).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from aws_ce_emulator import (
    MOTO_ACCOUNT,
    Charge,
    CostExplorerProxy,
    Estate,
    MotoServer,
    TokenBucket,
    charges_for,
)
from aws_ce_organisation import (
    OrganisationEstate,
    landed_by_account_day,
    organisation_estate,
    truth_by_account_day,
)
from aws_ce_query import CostExplorerError
from botocore.config import Config
from botocore.exceptions import ClientError

from loaders import aws_cost_explorer
from loaders.aws_cost_explorer.source import AWS_COST_EXPLORER

START, END = date(2026, 9, 20), date(2026, 10, 12)  # across a month boundary
EC2 = "Amazon Elastic Compute Cloud - Compute"
S3 = "Amazon Simple Storage Service"
PROD, DATA = "402193857611", "747160392817"
RAW_COLUMNS = ", ".join(name for name, _sql, _type in AWS_COST_EXPLORER.columns)


@pytest.fixture(scope="module")
def organisation() -> OrganisationEstate:
    return organisation_estate(6, START, END, seed=3)


def fresh(estate: OrganisationEstate) -> OrganisationEstate:
    """A copy a test may change (the module's estate stays as built)."""
    return replace(estate, charges=list(estate.charges), names=dict(estate.names))


def all_pages(estate: Estate, body: dict[str, Any], per_page: int = 1000) -> list[dict]:
    pages = [estate.answer_query(body, per_page)]
    while token := pages[-1].get("NextPageToken"):
        pages.append(estate.answer_query({**body, "NextPageToken": token}, per_page))
    return pages


def grouped(pages: list[dict], metric: str = "UnblendedCost") -> dict[tuple, Decimal]:
    """(period start, *keys) -> amount, over every page."""
    out: dict[tuple, Decimal] = defaultdict(Decimal)
    for page in pages:
        for result in page["ResultsByTime"]:
            for group in result["Groups"]:
                key = (result["TimePeriod"]["Start"], *group["Keys"])
                out[key] += Decimal(group["Metrics"][metric]["Amount"])
    return dict(out)


def daily(body: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "TimePeriod": {"Start": START.isoformat(), "End": END.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost", "AmortizedCost", "UsageQuantity"],
        **body,
        **extra,
    }


def dims(key: str, *values: str) -> dict[str, Any]:
    return {"Dimensions": {"Key": key, "Values": list(values)}}


# ------------------------------------------------------------------ answers = sums of charges


@pytest.mark.parametrize(
    ("group_by", "expression", "select", "keys"),
    [
        pytest.param(
            ["LINKED_ACCOUNT", "RECORD_TYPE"],
            None,
            lambda c: True,
            lambda c: (c.account, c.record_type),
            id="grouped by account and record type",
        ),
        pytest.param(
            ["SERVICE", "REGION"],
            {"And": [dims("RECORD_TYPE", "Usage"), {"Not": dims("REGION", "us-east-1")}]},
            lambda c: c.record_type == "Usage" and c.region != "us-east-1",
            lambda c: (c.service, c.region),
            id="And with Not",
        ),
        pytest.param(
            ["RECORD_TYPE"],
            {"Or": [dims("RECORD_TYPE", "Tax", "Credit"), dims("SERVICE", EC2)]},
            lambda c: c.record_type in ("Tax", "Credit") or c.service == EC2,
            lambda c: (c.record_type,),
            id="Or of two values and a service",
        ),
        pytest.param(
            ["REGION", "SERVICE"],
            {
                "Dimensions": {
                    "Key": "SERVICE",
                    "Values": ["amazon"],
                    "MatchOptions": ["STARTS_WITH", "CASE_INSENSITIVE"],
                }
            },
            lambda c: c.service.lower().startswith("amazon"),
            lambda c: (c.region, c.service),
            id="match options",
        ),
    ],
)
def test_daily_groups_equal_the_sums_of_the_charges(
    organisation: OrganisationEstate, group_by, expression, select, keys
) -> None:
    # GIVEN an organisation's charges
    # WHEN a DAILY query groups (and filters) them, read to its last page
    body = daily({"GroupBy": [{"Type": "DIMENSION", "Key": k} for k in group_by]})
    if expression:
        body["Filter"] = expression
    pages = all_pages(organisation, body, per_page=150)

    # THEN each group is the exact sum of the charges it stands for, amortized too
    expected: dict[tuple, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for c in organisation.charges:
        if START <= c.day < END and select(c):
            total = expected[(c.day.isoformat(), *keys(c))]
            total[0] += Decimal(c.unblended)
            total[1] += Decimal(c.effective)
    assert len(pages) > 1
    assert grouped(pages) == {k: v[0] for k, v in expected.items()}
    assert grouped(pages, "AmortizedCost") == {k: v[1] for k, v in expected.items()}
    # and every day of the window is listed, each page cut at 150 groups
    days = {r["TimePeriod"]["Start"] for p in pages for r in p["ResultsByTime"]}
    assert len(days) == (END - START).days
    assert all(sum(len(r["Groups"]) for r in p["ResultsByTime"]) <= 150 for p in pages)


def test_monthly_totals_cut_at_months_and_window_edges_with_estimated_periods() -> None:
    # GIVEN two accounts' usage over the window, the last 3 days estimated
    window = [START + timedelta(n) for n in range((END - START).days)]
    charges = charges_for(window, PROD, "Usage", {(EC2, "us-east-1"): "10.0000000001"})
    charges += [Charge(d, DATA, S3, "eu-west-1", "Usage", "2.5", quantity="3", unit="GB-Mo") for d in window]  # fmt: skip
    estate = Estate(START, END, charges, estimated_from=END - timedelta(days=3))

    # WHEN a MONTHLY query without GroupBy asks for a wider window
    page = estate.answer_query(
        {
            "TimePeriod": {"Start": "2026-08-30", "End": "2026-10-20"},
            "Granularity": "MONTHLY",
            "Metrics": ["NetUnblendedCost", "UsageQuantity"],
        }
    )

    # THEN the periods are cut at the window's edges and months, empty ones listed
    results = page["ResultsByTime"]
    assert [(r["TimePeriod"]["Start"], r["TimePeriod"]["End"]) for r in results] == [
        ("2026-08-30", "2026-09-01"),
        ("2026-09-01", "2026-10-01"),
        ("2026-10-01", "2026-10-20"),
    ]
    # with the Total of each (exact), no groups, and Estimated only on the last
    september = sum(
        (Decimal(c.unblended) for c in charges if c.day.month == 9), Decimal(0)
    )  # 11 days
    assert Decimal(results[1]["Total"]["NetUnblendedCost"]["Amount"]) == september
    assert results[1]["Total"]["NetUnblendedCost"]["Unit"] == "USD"
    assert results[0]["Total"]["NetUnblendedCost"]["Amount"] == "0"
    assert all(r["Groups"] == [] for r in results)
    assert [r["Estimated"] for r in results] == [False, False, True]
    # and UsageQuantity adds the quantities, its unit "N/A" when units mix
    assert results[1]["Total"]["UsageQuantity"] == {"Amount": "33", "Unit": "N/A"}
    s3_only = estate.answer_query(
        {
            "TimePeriod": {"Start": "2026-09-01", "End": "2026-10-01"},
            "Granularity": "MONTHLY",
            "Metrics": ["UsageQuantity"],
            "Filter": dims("SERVICE", S3),
        }
    )
    assert s3_only["ResultsByTime"][0]["Total"]["UsageQuantity"] == {
        "Amount": "33",
        "Unit": "GB-Mo",
    }
    assert "NextPageToken" not in page and "GroupDefinitions" not in page


def test_tag_groups_and_tag_filters_follow_cost_explorer_keys() -> None:
    # GIVEN EC2 tagged team=web, S3 team=data (one day of it untagged) and the rest untagged
    day = START
    charges = [
        Charge(day, PROD, EC2, "us-east-1", "Usage", "100", tags={"team": "web"}),
        Charge(day, PROD, S3, "us-east-1", "Usage", "7", tags={"team": "data"}),
        Charge(day, PROD, S3, "eu-west-1", "Usage", "3", tags={"Team": "data"}),  # other key
        Charge(day, DATA, S3, "us-east-1", "Usage", "5"),
        Charge(day, DATA, S3, "us-east-1", "Credit", "-1", tags={"team": ""}),  # empty value
    ]
    estate = Estate(day, day + timedelta(1), charges, names={PROD: "prod", DATA: "data"})

    # WHEN grouped by TAG team and LINKED_ACCOUNT
    body = daily(
        {"GroupBy": [{"Type": "TAG", "Key": "team"}, {"Type": "DIMENSION", "Key": "LINKED_ACCOUNT"}]},
        TimePeriod={"Start": day.isoformat(), "End": (day + timedelta(1)).isoformat()},
    )  # fmt: skip
    page = estate.answer_query(body)

    # THEN the keys are `team$<value>`, `team$` for untagged (other spellings and empty values)
    assert grouped([page]) == {
        (day.isoformat(), "team$", PROD): Decimal(3),
        (day.isoformat(), "team$", DATA): Decimal(4),
        (day.isoformat(), "team$data", PROD): Decimal(7),
        (day.isoformat(), "team$web", PROD): Decimal(100),
    }
    # and the accounts' names come along
    assert page["DimensionValueAttributes"] == [
        {"Value": PROD, "Attributes": {"description": "prod"}},
        {"Value": DATA, "Attributes": {"description": "data"}},
    ]
    # WHEN filtered on the tag: an empty value selects the untagged
    untagged = estate.answer_query(
        {**body, "GroupBy": [], "Filter": {"Tags": {"Key": "team", "Values": [""]}}}
    )
    assert untagged["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"] == "7"
    tagged = estate.answer_query(
        {**body, "GroupBy": [], "Filter": {"Tags": {"Key": "team", "Values": ["web", "data"]}}}
    )
    assert tagged["ResultsByTime"][0]["Total"]["UnblendedCost"]["Amount"] == "107"


def test_an_all_empty_long_window_still_pages() -> None:
    # GIVEN no charges at all
    estate = Estate(START, END, [])
    # WHEN a DAILY grouped query over 400 days is read at 100 entries a page
    body = {
        "TimePeriod": {"Start": "2025-09-01", "End": "2026-10-06"},
        "Granularity": "DAILY",
        "Metrics": ["UnblendedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    pages = all_pages(estate, body, per_page=100)
    # THEN each empty day counts as one entry: 4 pages list the 400 days once each
    assert len(pages) == 4
    listed = [r["TimePeriod"]["Start"] for p in pages for r in p["ResultsByTime"]]
    assert len(listed) == len(set(listed)) == 400


@pytest.mark.parametrize(
    ("body", "error_type"),
    [
        pytest.param(
            daily({"GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "REGION", "RECORD_TYPE")]}),
            "ValidationException",
            id="three group-bys",
        ),
        pytest.param(
            daily({"GroupBy": [{"Type": "DIMENSION", "Key": "PLATFORM"}]}),
            "ValidationException",
            id="unknown dimension",
        ),
        pytest.param(
            daily({}, TimePeriod={"Start": "2026-10-05", "End": "2026-10-05"}),
            "ValidationException",
            id="empty window",
        ),
        pytest.param(
            daily({"Filter": {"And": [dims("SERVICE", EC2)]}}),
            "ValidationException",
            id="And of one expression",
        ),
        pytest.param(daily({}, Metrics=[]), "ValidationException", id="no metric"),
        pytest.param(
            daily({}, NextPageToken="bm90LWEtdG9rZW4"),
            "InvalidNextTokenException",
            id="made-up token",
        ),
    ],
)  # fmt: skip
def test_bad_queries_get_the_services_errors(
    organisation: OrganisationEstate, body: dict, error_type: str
) -> None:
    with pytest.raises(CostExplorerError) as raised:
        organisation.answer_query(body)
    assert (raised.value.error_type, raised.value.status) == (error_type, 400)


# ------------------------------------------------------------------ over HTTP, through boto3


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def answering(moto: MotoServer) -> Iterator[CostExplorerProxy]:
    server = CostExplorerProxy(moto.url, answer_queries=True, groups_per_page=200).start()
    yield server
    server.stop()


@pytest.fixture
def aws_env(
    moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> pytest.MonkeyPatch:
    """boto3 on its standard settings, pointed at moto (STS); each test names its proxy."""
    moto.reset()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_RETRY_MODE", "AWS_MAX_ATTEMPTS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFINOPSQUERYTEST1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "query-emulator-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    return monkeypatch


def ce_client(proxy: CostExplorerProxy, attempts: int = 1) -> Any:
    return boto3.client(
        "ce",
        endpoint_url=proxy.url,
        config=Config(retries={"mode": "standard", "total_max_attempts": attempts}),
    )


def test_boto3_reads_the_real_error_shapes(
    aws_env: pytest.MonkeyPatch, answering: CostExplorerProxy, organisation: OrganisationEstate
) -> None:
    answering.estate = organisation
    ce = ce_client(answering)
    body = daily({"GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}]})

    # a first page and its token work; the token with another body does not
    first = ce.get_cost_and_usage(**body)
    assert first["NextPageToken"]
    second = ce.get_cost_and_usage(**body, NextPageToken=first["NextPageToken"])
    assert second["ResultsByTime"]
    with pytest.raises(ClientError) as raised:
        ce.get_cost_and_usage(
            **{**body, "Metrics": ["UnblendedCost"]}, NextPageToken=first["NextPageToken"]
        )
    error = raised.value.response
    assert error["Error"]["Code"] == "InvalidNextTokenException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400

    # three group-bys: ValidationException, HTTP 400
    with pytest.raises(ClientError) as raised:
        ce.get_cost_and_usage(
            **daily({"GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "REGION", "RECORD_TYPE")]})
        )  # fmt: skip
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert answering.answered == 2


def test_throttled_requests_are_answered_limit_exceeded_and_not_billed(
    aws_env: pytest.MonkeyPatch, moto: MotoServer, organisation: OrganisationEstate, tmp_path: Path
) -> None:
    # GIVEN Cost Explorer allowing 4 requests at once, then 5 a second
    proxy = CostExplorerProxy(
        moto.url, fresh(organisation), groups_per_page=2000, throttle=TokenBucket(5, 4)
    ).start()
    try:
        ce = ce_client(proxy)
        body = daily({}, Granularity="MONTHLY")
        answers = []
        for _ in range(6):
            try:
                answers.append(ce.get_cost_and_usage(**body))
            except ClientError as exc:
                answers.append(exc.response)
        # THEN beyond the burst the answer is LimitExceededException, HTTP 400
        codes = [a.get("Error", {}).get("Code") for a in answers]
        assert codes[:4] == [None] * 4
        assert "LimitExceededException" in codes[4:]
        assert answers[-1]["ResponseMetadata"]["HTTPStatusCode"] == 400

        # WHEN the loader runs against it (botocore's standard retries), 50 a second
        proxy.estate = small_estate()
        proxy.throttle = TokenBucket(50, 3)
        proxy.reset_counts()
        aws_env.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", proxy.url)
        aws_env.setenv("AWS_MAX_ATTEMPTS", "10")
        db = tmp_path / "throttled.duckdb"
        [result] = aws_cost_explorer.load(db, proxy.estate.start, proxy.estate.end)

        # THEN it waited the throttling out, and billed only the answered requests
        assert proxy.throttled > 0
        assert result.api_requests == proxy.answered
        assert len(proxy.seen) == proxy.answered + proxy.throttled
        assert landed_by_account_day(db) == truth_by_account_day(
            proxy.estate, proxy.estate.start, proxy.estate.end
        )
    finally:
        proxy.stop()


# ------------------------------------------------------------------ the loader on top


def landed_charges(db: Path) -> dict[tuple, tuple[Decimal, Decimal]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select time_period_start, linked_account_id, service, region, record_type, "
            "unblended_cost, amortized_cost from raw.aws_cost_explorer"
        ).fetchall()
    finally:
        con.close()
    return {tuple(r[:5]): (Decimal(r[5]), Decimal(r[6])) for r in rows}


def charge_amounts(charges: list[Charge]) -> dict[tuple, tuple[Decimal, Decimal]]:
    return {
        (c.day, c.account, c.service, c.region, c.record_type): (
            Decimal(c.unblended),
            Decimal(c.effective),
        )
        for c in charges
    }


def raw_rows(db: Path) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(
            f"select {RAW_COLUMNS} from raw.aws_cost_explorer order by all"
        ).fetchall()
    finally:
        con.close()


def test_loader_lands_the_organisation_to_the_cent_and_after_changes(
    aws_env: pytest.MonkeyPatch,
    answering: CostExplorerProxy,
    organisation: OrganisationEstate,
    tmp_path: Path,
) -> None:
    # GIVEN Cost Explorer answering queries from an organisation of 6 accounts (credits,
    # tax, refunds, support, savings plans and reservations among them)
    estate = fresh(organisation)
    answering.estate = estate
    aws_env.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", answering.url)
    db = tmp_path / "finops.duckdb"

    # WHEN the existing loader loads the window
    [result] = aws_cost_explorer.load(db, START, END)

    # THEN the raw table holds every charge, per account and day to the cent, row for row
    assert result.scope == MOTO_ACCOUNT
    assert landed_by_account_day(db) == truth_by_account_day(estate, START, END)
    assert result.row_count == len(estate.charges)
    assert landed_charges(db) == charge_amounts(estate.charges)
    # and it paid for exactly the requests that reached Cost Explorer (commitments included)
    assert result.api_requests == answering.answered == len(answering.seen)
    assert {s.operation for s in answering.seen} >= {
        "GetCostAndUsage",
        "GetSavingsPlansUtilizationDetails",
        "GetReservationUtilization",
    }

    # WHEN the last 5 days are restated (+4 %), a refund lands 12 days back and a day is added
    estate.restate("1.04", on_or_after=END - timedelta(days=5))
    estate.add(Charge(END - timedelta(days=12), estate.members[1].account_id, EC2, "us-east-1", "Refund", "-123.4567890123"))  # fmt: skip
    estate.append_day(estate.day(END))
    aws_cost_explorer.load(db, START, END + timedelta(days=1))

    # THEN the reload lands the changed estate, to the cent
    assert landed_by_account_day(db) == truth_by_account_day(estate, START, END + timedelta(1))


def small_estate() -> Estate:
    """An estate both emulators can serve: two accounts, usage, a credit, tax, tags."""
    window = [START + timedelta(n) for n in range(9)]
    charges = (
        charges_for(window, PROD, "Usage", {(EC2, "us-east-1"): "1523.4178923411", (S3, "eu-west-1"): "86.5"})
        + charges_for(window, DATA, "Usage", {(S3, "us-east-1"): "0.0000000001"})
        + charges_for(window, DATA, "Credit", {(S3, "us-east-1"): "-3.25"})
        + [Charge(START, PROD, "Tax", "NoRegion", "Tax", "160.98")]
    )  # fmt: skip
    charges = [replace(c, tags={"team": "web"}) if c.service == EC2 else c for c in charges]
    return Estate(
        START, window[-1] + timedelta(1), charges, {PROD: "acme-prod", DATA: "acme-data"},
        estimated_from=window[-2], tag_keys=("team",), days_per_page=4,
    )  # fmt: skip


def content(pages: list[dict]) -> tuple:
    """What a query's pages say, whatever the paging: (period, keys, metric amounts,
    Estimated) of every group, and the account names."""
    groups = sorted(
        (
            r["TimePeriod"]["Start"],
            r["TimePeriod"]["End"],
            tuple(g["Keys"]),
            tuple(sorted((m, Decimal(v["Amount"])) for m, v in g["Metrics"].items())),
            r["Estimated"],
        )
        for page in pages
        for r in page["ResultsByTime"]
        for g in r["Groups"]
    )
    periods = sorted(
        {(r["TimePeriod"]["Start"], r["Estimated"]) for p in pages for r in p["ResultsByTime"]}
    )
    names = sorted(
        {
            (a["Value"], a["Attributes"]["description"])
            for p in pages
            for a in p["DimensionValueAttributes"]
        }
    )
    return groups, periods, names  # fmt: skip


def test_query_answers_say_what_the_queued_answers_say() -> None:
    # GIVEN an estate, and the pages the queued emulator renders for the first query scheme
    # (discovery, one query per pair, one per tag key and account: `Estate.answers`)
    estate = small_estate()
    period = {"Start": estate.start.isoformat(), "End": estate.end.isoformat()}
    both = ["UnblendedCost", "AmortizedCost"]
    queries = [
        (
            {"TimePeriod": period, "Granularity": "MONTHLY", "Metrics": both,
             "GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("LINKED_ACCOUNT", "RECORD_TYPE")]},
            estate.discovery(),
        )
    ] + [
        (
            {"TimePeriod": period, "Granularity": "DAILY", "Metrics": [*both, "UsageQuantity"],
             "Filter": {"And": [dims("LINKED_ACCOUNT", account), dims("RECORD_TYPE", record_type)]},
             "GroupBy": [{"Type": "DIMENSION", "Key": k} for k in ("SERVICE", "REGION")]},
            estate.pair_pages(account, record_type),
        )
        for account, record_type in estate.pairs
    ] + [
        (
            {"TimePeriod": period, "Granularity": "DAILY", "Metrics": both,
             "Filter": dims("LINKED_ACCOUNT", account),
             "GroupBy": [{"Type": "TAG", "Key": "team"}, {"Type": "DIMENSION", "Key": "SERVICE"}]},
            estate.tag_pages("team", account),
        )
        for account in estate.accounts
    ]  # fmt: skip

    # WHEN each query is answered from the charges, at 5 groups a page
    # THEN it says what the queued pages say: the same groups, amounts, flags and names
    for body, queued in queries:
        assert content(all_pages(estate, body, per_page=5)) == content(queued), body
