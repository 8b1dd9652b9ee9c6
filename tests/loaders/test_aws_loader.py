"""The AWS Cost Explorer loader over real HTTP: boto3 -> the Cost Explorer emulator (a proxy
that answers any legal GetCostAndUsage and the commitment operations from an `Estate`) and
moto's server (STS).

boto3 finds both only through its standard endpoint variables (`AWS_ENDPOINT_URL` for STS,
`AWS_ENDPOINT_URL_COST_EXPLORER` for Cost Explorer); answers are in the shapes Cost Explorer
sends (see `aws_ce_emulator`, `aws_ce_query`). The proxy's log is what went over the wire: the
request counts the loader reports are checked against it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from aws_ce_emulator import (
    MOTO_ACCOUNT,
    Charge,
    Commitment,
    CommitmentUse,
    CostExplorerProxy,
    Estate,
    Fault,
    MotoServer,
    charges_for,
)
from aws_ce_organisation import organisation_estate

from loaders import aws_cost_explorer

FIXTURES = Path(__file__).parent / "fixtures" / "aws_ce"
ACCESS_KEY = "AKIAFINOPSLOADERTEST1"
SECRET_KEY = "loader-test-secret-key-never-printed"

PROD, DATA, DEV = "402193857611", "747160392817", "638271950443"
NAMES = {PROD: "acme-prod", DATA: "acme-data", DEV: "acme-dev"}
EC2 = "Amazon Elastic Compute Cloud - Compute"
S3 = "Amazon Simple Storage Service"
RDS = "Amazon Relational Database Service"


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


# ------------------------------------------------------------------ servers and environment


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


@dataclass
class Aws:
    moto: MotoServer
    proxy: CostExplorerProxy
    db: Path

    def answer(self, estate: Estate, groups_per_page: int = 1000) -> None:
        """Cost Explorer holds `estate`, answered `groups_per_page` groups a page."""
        self.proxy.estate = estate
        self.proxy.groups_per_page = groups_per_page

    def next_run(self) -> None:
        """Forget the proxy's log, faults and estate."""
        self.proxy.clear()

    def requests(self, operation: str | None = None) -> list:
        """The requests Cost Explorer answered (billed), of one operation or all."""
        return [
            s
            for s in self.proxy.seen
            if s.answered_by == "emulator" and operation in (None, s.operation)
        ]


@pytest.fixture
def aws(
    moto: MotoServer, proxy: CostExplorerProxy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Aws:
    moto.reset()
    proxy.clear()
    for name in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_RETRY_MODE",
        "AWS_MAX_ATTEMPTS",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", proxy.url)
    return Aws(moto, proxy, tmp_path / "finops.duckdb")


def query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def raw_totals(db: Path) -> dict[str, tuple[Decimal, Decimal, int]]:
    """record type -> (billed, effective, rows) of everything landed."""
    return {
        rt: (billed, effective, rows)
        for rt, billed, effective, rows in query(
            db,
            "select record_type, sum(unblended_cost), sum(amortized_cost), count(*) "
            "from raw.aws_cost_explorer group by 1",
        )
    }


def expected_totals(charges: list[Charge]) -> dict[str, tuple[Decimal, Decimal, int]]:
    out: dict[str, tuple[Decimal, Decimal, int]] = {}
    for c in charges:
        billed, effective, rows = out.get(c.record_type, (Decimal(0), Decimal(0), 0))
        out[c.record_type] = (
            billed + Decimal(c.unblended),
            effective + Decimal(c.effective),
            rows + 1,
        )
    return out


def ledger(db: Path) -> list[tuple]:
    return query(
        db,
        "select status, scope, row_count, replaced_row_count, api_requests, api_cost_usd, error "
        "from raw.load_ledger order by started_at",
    )


# ------------------------------------------------------------------ pure parts


@pytest.mark.parametrize(
    ("start", "end", "slices", "requests", "usd"),
    [
        pytest.param(date(2026, 11, 1), date(2026, 12, 3), 0, 1, "0.01", id="no slices"),
        pytest.param(date(2026, 11, 1), date(2026, 12, 3), 20, 41, "0.41", id="default window"),
        pytest.param(date(2026, 12, 1), date(2026, 12, 3), 20, 21, "0.21", id="two days"),
        pytest.param(date(2025, 11, 1), date(2026, 12, 1), 30, 391, "3.91", id="13-month backfill"),
    ],
)
def test_request_estimate_is_the_totals_pass_plus_slices_times_pages(
    start: date, end: date, slices: int, requests: int, usd: str
) -> None:
    estimate = aws_cost_explorer.estimate_requests(start, end, slices)
    assert (estimate.requests, estimate.cost_usd) == (requests, Decimal(usd))


# ------------------------------------------------------------------ loads over HTTP

FEB = date(2026, 2, 1)


def multiple_pages() -> Estate:
    window = days(FEB, FEB + timedelta(days=10))
    charges = charges_for(
        window, PROD, "Usage", {(EC2, "us-east-1"): "1523.4178923411", (S3, "us-east-1"): "86.5"}
    ) + charges_for(window, PROD, "Tax", {("Tax", "NoRegion"): "160.9800000000"})
    # at 3 groups a page: 1 totals page (2 cells), Usage/us-east-1 20 groups on 7 pages,
    # Tax/NoRegion 10 on 4 -> 12 requests
    return Estate(FEB, FEB + timedelta(days=10), charges, NAMES)


def several_accounts_and_regions() -> Estate:
    window = days(FEB, FEB + timedelta(days=7))
    charges = (
        charges_for(
            window,
            PROD,
            "Usage",
            {
                (EC2, "us-east-1"): "2400.12",
                (EC2, "eu-west-1"): "840.0412",
                ("Amazon Route 53", "global"): "9.0000000001",
            },
        )
        + charges_for(
            window, DATA, "Usage", {(S3, "eu-central-1"): "77.7", (RDS, "us-east-1"): "12"}
        )
        + charges_for(window, DEV, "Usage", {(EC2, "ap-southeast-2"): "0.0000000001"})
    )
    return Estate(FEB, FEB + timedelta(days=7), charges, NAMES)


def credits_and_tax() -> Estate:
    window = days(FEB, FEB + timedelta(days=5))
    charges = (
        charges_for(window, DEV, "Usage", {(EC2, "us-west-2"): "310.25"})
        + charges_for(window, DEV, "Credit", {(EC2, "us-west-2"): "-310.25"})
        + charges_for(window, DEV, "Tax", {("Tax", "NoRegion"): "24.8200000000"})
        + [Charge(FEB, PROD, RDS, "us-east-1", "Refund", "-1200.5")]
        + [
            Charge(d, PROD, EC2, "us-east-1", "SavingsPlanCoveredUsage", "100.00", "61.7734")
            for d in window
        ]
        + [Charge(d, PROD, EC2, "us-east-1", "SavingsPlanNegation", "-100.00", "0") for d in window]
    )
    return Estate(FEB, FEB + timedelta(days=5), charges, NAMES)


def estimated_days() -> Estate:
    window = days(FEB, FEB + timedelta(days=6))
    charges = charges_for(
        window, PROD, "Usage", {(EC2, "us-east-1"): "100.10", (S3, "eu-west-1"): "3"}
    )
    return Estate(
        FEB, FEB + timedelta(days=6), charges, NAMES, estimated_from=FEB + timedelta(days=4)
    )


def empty_period() -> Estate:
    return Estate(FEB, FEB + timedelta(days=14), [], NAMES)


@pytest.mark.parametrize(
    ("make_estate", "groups_per_page", "requests"),
    [
        pytest.param(multiple_pages, 3, 12, id="multiple pages"),
        # 1 totals page + one slice per (Usage, region): 5 regions
        pytest.param(several_accounts_and_regions, 1000, 6, id="several accounts and regions"),
        # 1 totals + 6 (record type, region) slices + savings plans: 5 days of details and
        # one coverage query
        pytest.param(credits_and_tax, 1000, 13, id="credits and tax"),
        pytest.param(estimated_days, 1000, 3, id="estimated days"),
        pytest.param(empty_period, 1000, 1, id="empty period"),
    ],
)
def test_load_lands_exactly_what_cost_explorer_answered(
    aws: Aws, make_estate, groups_per_page: int, requests: int
) -> None:
    # GIVEN Cost Explorer holding an estate's costs for a window (nothing loaded yet)
    estate = make_estate()
    aws.answer(estate, groups_per_page)

    # WHEN the window is loaded
    [result] = aws_cost_explorer.load(aws.db, estate.start, estate.end)

    # THEN every group landed once, with its amounts to the last decimal, per record type
    assert result.row_count == len(estate.charges)
    assert raw_totals(aws.db) == expected_totals(estate.charges)
    # with the payer account as scope and the linked accounts, regions and names as answered
    assert result.scope == MOTO_ACCOUNT
    landed = query(
        aws.db,
        "select distinct linked_account_id, linked_account_name, region from raw.aws_cost_explorer",
    )
    assert sorted(landed) == sorted(
        {(c.account, NAMES[c.account], c.region) for c in estate.charges}
    )
    # and the Estimated flag of exactly the days Cost Explorer flagged
    flagged = query(
        aws.db, "select distinct time_period_start from raw.aws_cost_explorer where estimated"
    )
    assert {d for (d,) in flagged} == {c.day for c in estate.charges if estate.is_estimated(c.day)}

    # THEN the requests it counted are the ones that went over the wire, USD 0.01 each: a
    # MONTHLY totals pass, then each (record type, region) slice over the whole window
    sent = aws.requests()  # every operation: the commitment ones cost USD 0.01 too
    assert result.api_requests == len(sent) == len(aws.proxy.seen) == requests
    assert sent[0].body["Granularity"] == "MONTHLY"
    assert result.api_cost_usd == Decimal("0.01") * len(sent)
    # the commitment operations only where the window has commitment record types
    asked = {s.operation for s in sent} - {"GetCostAndUsage"}
    assert asked == (
        {"GetSavingsPlansUtilizationDetails", "GetSavingsPlansCoverage"}
        if make_estate is credits_and_tax
        else set()
    )
    assert ledger(aws.db) == [
        ("succeeded", MOTO_ACCOUNT, len(estate.charges), 0, len(sent), result.api_cost_usd, None)
    ]


def test_restated_second_run_replaces_the_first(aws: Aws) -> None:
    # GIVEN a first run that landed estimated amounts for the last days of the window
    start, end = FEB, FEB + timedelta(days=8)
    window = days(start, end)
    first = Estate(
        start,
        end,
        charges_for(window, PROD, "Usage", {(EC2, "us-east-1"): "1000", (S3, "us-east-1"): "50"})
        + charges_for(window, DATA, "Usage", {(RDS, "us-east-1"): "200"}),
        NAMES,
        estimated_from=start + timedelta(days=5),
    )
    aws.answer(first)
    [loaded] = aws_cost_explorer.load(aws.db, start, end)

    # WHEN AWS restates those days (+3.7%, final) and the next run reloads the same window
    restated = [
        c
        if c.day < start + timedelta(days=5)
        else Charge(
            c.day,
            c.account,
            c.service,
            c.region,
            c.record_type,
            str((Decimal(c.unblended) * Decimal("1.037")).quantize(Decimal("1e-10"))),
        )
        for c in first.charges
    ]
    second = Estate(start, end, restated, NAMES)
    aws.next_run()
    aws.answer(second)
    [reloaded] = aws_cost_explorer.load(aws.db, start, end)

    # THEN it asked only for what moved: the DAILY totals pass, then the one slice of the
    # restated days (all three services are Usage in us-east-1)
    totals, piece = (s.body for s in aws.requests())
    assert (totals["Granularity"], [g["Key"] for g in totals["GroupBy"]]) == (
        "DAILY",
        ["RECORD_TYPE", "REGION"],
    )
    assert piece["TimePeriod"] == {"Start": "2026-02-06", "End": "2026-02-09"}
    assert reloaded.api_requests == 2

    # THEN the totals are the second run's to the cent, the row count unchanged, nothing doubled
    assert raw_totals(aws.db) == expected_totals(second.charges)
    billed, _ = second.totals()
    assert billed != first.totals()[0]
    assert reloaded.row_count == loaded.row_count == len(first.charges)
    assert reloaded.replaced_row_count == loaded.row_count
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer where estimated") == [(0,)]
    assert [row[:4] for row in ledger(aws.db)] == [
        ("succeeded", MOTO_ACCOUNT, loaded.row_count, 0),
        ("succeeded", MOTO_ACCOUNT, loaded.row_count, loaded.row_count),
    ]


def test_an_empty_answer_removes_the_windows_earlier_rows(aws: Aws) -> None:
    # GIVEN rows landed for a window
    start, end = FEB, FEB + timedelta(days=3)
    aws.answer(
        Estate(start, end, charges_for(days(start, end), DEV, "Usage", {(EC2, "us-west-2"): "5"}))
    )
    [first] = aws_cost_explorer.load(aws.db, start, end)

    # WHEN Cost Explorer now reports no cost at all for that window (e.g. usage moved away)
    aws.next_run()
    aws.answer(Estate(start, end, []))
    [second] = aws_cost_explorer.load(aws.db, start, end)

    # THEN the window holds nothing: the stale rows are gone, for the totals pass alone (a
    # cell with no cost left needs no full-grain query)
    assert (first.row_count, second.row_count, second.replaced_row_count) == (3, 0, 3)
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer") == [(0,)]
    assert (second.api_requests, second.api_cost_usd) == (1, Decimal("0.01"))


def test_throttling_is_retried_and_only_answered_requests_are_billed(aws: Aws) -> None:
    # GIVEN Cost Explorer throttles the first daily query twice (HTTP 400 LimitExceededException)
    estate = several_accounts_and_regions()
    aws.answer(estate)
    aws.proxy.fail(
        Fault(
            match=lambda op, body: op == "GetCostAndUsage" and "Filter" in body,
            error_type="LimitExceededException",
            message="Rate exceeded",
            times=2,
        )
    )

    # WHEN the window is loaded
    [result] = aws_cost_explorer.load(aws.db, estate.start, estate.end)

    # THEN botocore retried, the load completed to the cent
    assert raw_totals(aws.db) == expected_totals(estate.charges)
    throttled = [s for s in aws.proxy.calls() if s.answered_by == "LimitExceededException"]
    answered = aws.requests("GetCostAndUsage")
    assert len(throttled) == 2
    assert throttled[0].body == throttled[1].body == answered[1].body  # the same request, retried
    # and the bill counts the answered requests only: the totals pass and 5 slices
    assert result.api_requests == len(answered) == 6
    assert result.api_cost_usd == Decimal("0.06")
    # ... and the ledger keeps the two throttled attempts apart (not billed)
    assert result.api_retries == 2
    assert query(aws.db, "select api_requests, api_retries from raw.load_ledger") == [(6, 2)]


def _first_load_then_known_estate(aws: Aws) -> None:
    estate = several_accounts_and_regions()  # 5 (record type, region) slices
    aws.answer(estate)
    aws_cost_explorer.load(aws.db, estate.start, estate.end)
    aws.next_run()


@pytest.mark.parametrize(
    ("known_estate", "window", "groups_per_page", "budget", "reached_aws", "message"),
    [
        pytest.param(
            True,
            (date(2025, 1, 1), FEB),  # 396 days, 5 known slices: 1 + 5 x 13 = 66 requests
            1000,
            20,
            0,
            "would need about 66 requests (USD 0.66",
            id="known estate: refused before any request",
        ),
        pytest.param(
            False,
            (FEB, FEB + timedelta(days=7)),  # 5 slices found: 1 + 5 x 1 = 6 requests
            1000,
            3,
            1,
            "would need about 6 requests (USD 0.06",
            id="first load: refused after the totals pass, before any full-grain query",
        ),
        pytest.param(
            False,
            # pages of one group: the totals pass takes 5 pages, the plan (5 + 5 = 10) passes
            (FEB, FEB + timedelta(days=7)),
            1,
            10,
            10,
            "stopped after 10 Cost Explorer requests (USD 0.10)",
            id="while paging: stopped at the cap",
        ),
    ],
)
def test_request_budget_stops_the_load_and_says_what_it_would_cost(
    aws: Aws,
    known_estate: bool,
    window: tuple[date, date],
    groups_per_page: int,
    budget: int,
    reached_aws: int,
    message: str,
) -> None:
    # GIVEN an estate of 5 (record type, region) slices, known from a first load or not
    if known_estate:
        _first_load_then_known_estate(aws)
    before = query(aws.db, "select count(*) from raw.aws_cost_explorer") if known_estate else [(0,)]
    estate = several_accounts_and_regions()
    estate.start, estate.end = window
    aws.answer(estate, groups_per_page)

    # WHEN a load needs more requests than FINOPS_AWS_MAX_REQUESTS allows
    with pytest.raises(aws_cost_explorer.RequestBudgetExceeded) as raised:
        aws_cost_explorer.load(aws.db, *window, max_requests=budget)

    # THEN it stops with the estimate, its price and the setting to raise
    text = str(raised.value)
    assert message in text
    assert f"FINOPS_AWS_MAX_REQUESTS={budget}" in text
    # and sent no more requests than allowed (none at all when the estate was known)
    sent = aws.proxy.calls()
    assert len(sent) == reached_aws <= budget
    assert all(s.body["GroupBy"][0]["Key"] == "RECORD_TYPE" for s in sent[:1])  # totals
    # and landed nothing, recording the failure with the requests it spent
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer") == before
    status, _, rows, _, requests, cost, error = ledger(aws.db)[-1]
    assert (status, rows, requests, cost) == (
        "failed",
        0,
        reached_aws,
        Decimal("0.01") * reached_aws,
    )
    assert message in error


@pytest.mark.parametrize(
    ("fault", "env", "error_type"),
    [
        pytest.param(
            Fault(
                match=lambda op, body: "Filter" in body and "NextPageToken" in body,
                error_type="InvalidNextTokenException",
                message="The pagination token is invalid.",
            ),
            {},
            "InvalidNextTokenException",
            id="page 2 rejected",
        ),
        pytest.param(
            Fault(
                match=lambda op, body: "Filter" in body and "NextPageToken" in body,
                error_type="LimitExceededException",
                message="Rate exceeded",
                times=None,
            ),
            {"AWS_MAX_ATTEMPTS": "2"},
            "LimitExceededException",
            id="throttled beyond the retries",
        ),
    ],
)
def test_a_failure_mid_paging_lands_nothing_and_keeps_the_previous_data(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, fault: Fault, env: dict[str, str], error_type: str
) -> None:
    # GIVEN a window landed by an earlier run (pages of 3 groups)
    estate = multiple_pages()
    aws.answer(estate, groups_per_page=3)
    aws_cost_explorer.load(aws.db, estate.start, estate.end)
    before = raw_totals(aws.db)

    # WHEN the next run fails on a second page
    aws.next_run()
    restated = Estate(
        estate.start,
        estate.end,
        [Charge(c.day, c.account, c.service, c.region, c.record_type, "1") for c in estate.charges],
        NAMES,
    )
    aws.answer(restated, groups_per_page=3)
    aws.proxy.fail(fault)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(aws_cost_explorer.CostExplorerLoadError) as raised:
        aws_cost_explorer.load(aws.db, estate.start, estate.end)

    # THEN the error names the API error and what was spent, and no credential
    text = str(raised.value)
    assert error_type in text and "nothing was landed" in text
    assert ACCESS_KEY not in text and SECRET_KEY not in text
    # and the earlier data is untouched, the failure and its billed requests on the ledger
    assert raw_totals(aws.db) == before
    # the DAILY totals pass (2 cells x 10 days: 7 pages) and the first page of the first
    # slice; its page 2 failed
    answered = len(aws.requests())
    assert answered == 8
    status, _, rows, _, requests, cost, error = ledger(aws.db)[-1]
    assert (status, rows, requests, cost) == ("failed", 0, 8, Decimal("0.08"))
    assert error_type in error


def test_assumed_role_queries_the_role_accounts_cost_explorer(aws: Aws) -> None:
    # GIVEN a role in the payer account, reached with an external id
    payer = "999988887777"
    role = f"arn:aws:iam::{payer}:role/finops_user"
    estate = credits_and_tax()
    aws.answer(estate)

    # WHEN the loader assumes it
    [result] = aws_cost_explorer.load(
        aws.db, estate.start, estate.end, role_arn=role, external_id="ext-id-for-finops"
    )

    # THEN the payer account is the scope and its costs landed
    assert result.scope == payer
    assert raw_totals(aws.db) == expected_totals(estate.charges)
    assert query(aws.db, "select distinct _scope from raw.aws_cost_explorer") == [(payer,)]


@pytest.mark.parametrize(
    ("restatement_days", "since", "window"),
    [
        pytest.param(
            None, None, (date(2026, 2, 1), date(2026, 3, 2)), id="default: previous month on"
        ),
        pytest.param(
            3, None, (date(2026, 2, 27), date(2026, 3, 2)), id="FINOPS_RESTATEMENT_DAYS=3"
        ),
        pytest.param(
            None, date(2025, 12, 1), (date(2025, 12, 1), date(2026, 3, 2)), id="backfill since"
        ),
    ],
)
def test_a_run_loads_its_restatement_window_with_the_configured_budget(
    aws: Aws, restatement_days: int | None, since: date | None, window: tuple[date, date]
) -> None:
    # GIVEN settings for the run of 2026-03-02 and Cost Explorer holding that window's costs
    from finops.settings import Settings

    settings = Settings(
        home=aws.db.parent,
        duckdb_path=aws.db,
        sources=("aws",),
        restatement_days=restatement_days,
        aws_max_requests=4,  # the backfill is estimated at 1 + 1 x ceil(91 / 31) = 4
    )
    start, end = window
    aws.answer(
        Estate(start, end, charges_for(days(start, end), PROD, "Usage", {(S3, "us-east-1"): "1"}))
    )

    # WHEN the run loads AWS (its window from the registry's policy, pipelines/sources.py)
    from pipelines.sources import load_source

    [result] = load_source("aws", settings, date(2026, 3, 2), since=since).results

    # THEN exactly that window was replaced, one row a day, for 2 requests (discovery + 1 page)
    assert (result.window_start, result.window_end) == window
    assert result.row_count == (end - start).days
    assert result.api_requests == 2


def test_an_error_that_echoes_credentials_is_scrubbed_everywhere(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN temporary credentials, and an API error whose message echoes the signed request
    # (AWS's signature errors quote the canonical request, security token header included)
    token = "FwoGZXIvYXdzEXAMPLE-session-token-of-the-loader-test"
    monkeypatch.setenv("AWS_SESSION_TOKEN", token)
    aws.answer(several_accounts_and_regions())
    aws.proxy.fail(
        Fault(
            match=lambda op, body: op == "GetCostAndUsage",
            error_type="InvalidSignatureException",
            message=(
                "The request signature we calculated does not match. Canonical request: "
                f"x-amz-security-token:{token} Credential={ACCESS_KEY}/20260201/us-east-1/ce"
            ),
        )
    )

    # WHEN a load runs into it
    with pytest.raises(aws_cost_explorer.CostExplorerLoadError) as raised:
        aws_cost_explorer.load(aws.db, FEB, FEB + timedelta(days=7))

    # THEN the error, the ledger and the log keep the error but not the credentials
    error = ledger(aws.db)[-1][-1]
    for text in (str(raised.value), error, caplog.text):
        assert "InvalidSignatureException" in text and "Credential=***/" in text
        assert token not in text and ACCESS_KEY not in text


# ------------------------------------------------------------------ commitments


def test_commitment_operations_land_each_commitment_and_day_with_its_terms(aws: Aws) -> None:
    # GIVEN a payer with two savings plans (one partly unused) and a reservation over 4 days,
    # the savings plans' details paged one plan per page
    start, end = FEB, FEB + timedelta(days=4)
    window = days(start, end)
    compute = Commitment(
        "SavingsPlan", f"arn:aws:savingsplans::{PROD}:savingsplan/sp-compute", PROD,
        start=date(2025, 3, 1), end=date(2026, 3, 1), term="1yr", payment_option="No Upfront",
    )  # fmt: skip
    ec2 = Commitment(
        "SavingsPlan", f"arn:aws:savingsplans::{DATA}:savingsplan/sp-ec2", DATA,
        start=date(2024, 1, 15), end=date(2027, 1, 15), term="3yr",
        payment_option="All Upfront", plan_type="EC2InstanceSavingsPlans", region="us-east-1",
        instance="m5",
    )  # fmt: skip
    ri = Commitment(
        "Reservation", "ri-0123456789abcdef", PROD, start=date(2025, 6, 1), end=date(2026, 6, 1),
        payment_option="Partial Upfront", region="eu-west-1", instance="db.r6g.large",
    )  # fmt: skip
    uses = [
        u
        for d in window
        for u in (
            CommitmentUse(compute, d, used="70.25", unused="29.75", on_demand="104.1"),
            CommitmentUse(ec2, d, used="48", unused="0", on_demand="80.0000000001"),
            CommitmentUse(ri, d, used="11.5", unused="0.5", on_demand="19.2"),
        )
    ]
    charges = (
        [Charge(d, PROD, EC2, "us-east-1", "SavingsPlanCoveredUsage", "184.1", "118.25")
         for d in window]
        + [Charge(d, PROD, "Savings Plans for AWS Compute usage", "global",
                  "SavingsPlanRecurringFee", "148", "29.75") for d in window]
        + [Charge(d, PROD, RDS, "eu-west-1", "DiscountedUsage", "0", "11.5", "24", "Hrs")
           for d in window]
        + [Charge(d, PROD, RDS, "eu-west-1", "RIFee", "12", "0.5") for d in window]
    )  # fmt: skip
    estate = Estate(start, end, charges, NAMES, commitment_uses=uses, commitments_per_page=1)
    aws.answer(estate)

    # WHEN the window is loaded
    [result] = aws_cost_explorer.load(aws.db, start, end)

    # THEN one request per day and page for the savings plans (2 plans, a plan per page),
    # one daily query for the reservation, one daily coverage query for the savings plans and
    # one for the service the reservation covered, all counted and priced with the cost queries
    sent = [s.operation for s in aws.proxy.seen]
    assert sent.count("GetSavingsPlansUtilizationDetails") == 4 * 2
    assert sent.count("GetReservationUtilization") == 1
    assert sent.count("GetSavingsPlansCoverage") == 1
    [ri_coverage] = aws.proxy.calls("GetReservationCoverage")
    assert ri_coverage.body["Filter"] == {"Dimensions": {"Key": "SERVICE", "Values": [RDS]}}
    # (1 totals page + 4 slices + 8 + 1 + 2, as many as the query scheme before #20 needed)
    assert result.api_requests == len(sent) == 1 + 4 + 8 + 1 + 2
    # and every commitment's day landed with its amounts to the last decimal and its terms
    landed = query(
        aws.db,
        "select time_period_start, commitment_kind, commitment_id, owner_account_id, commitment_type, "
        "start_date, end_date, term, payment_option, used_amount, unused_amount, "
        "on_demand_cost_equivalent, currency from raw.aws_commitment_utilization order by all",
    )
    names = {"ComputeSavingsPlans": "Compute Savings Plan",
             "EC2InstanceSavingsPlans": "EC2 Instance Savings Plan"}  # fmt: skip
    expected = sorted(
        (
            u.day, u.commitment.kind, u.commitment.commitment_id, u.commitment.owner_account,
            names.get(u.commitment.plan_type) if u.commitment.kind == "SavingsPlan"
            else "Reserved Instance",
            u.commitment.start, u.commitment.end,
            {"1yr": "1 Year", "3yr": "3 Years"}[u.commitment.term]
            if u.commitment.kind == "SavingsPlan" else None,
            u.commitment.payment_option, Decimal(u.used), Decimal(u.unused),
            Decimal(u.on_demand), "USD",
        )
        for u in uses
    )  # fmt: skip
    assert landed == expected
    # and Cost Explorer's own coverage of every day: the savings plans' covered spend (the
    # covered usage at on-demand prices, no eligible usage on demand: 100 %), the hours the
    # reservation covered of RDS
    assert query(
        aws.db,
        "select time_period_start, commitment_kind, service, covered_cost, on_demand_cost, "
        "total_cost, reserved_hours, on_demand_hours, total_running_hours, "
        "coverage_percentage, currency from raw.aws_commitment_coverage order by all",
    ) == sorted(
        [(d, "Reservation", RDS, None, Decimal(0), None, Decimal(24), Decimal(0), Decimal(24),
          Decimal(100), "USD") for d in window]
        + [(d, "SavingsPlan", None, Decimal("184.1"), Decimal(0), Decimal("184.1"), None, None,
            None, Decimal(100), "USD") for d in window]
    )  # fmt: skip
    # and in the costs' transaction, under their one ledger row with the load's requests
    assert query(
        aws.db,
        "select raw_table, row_count, api_requests from raw.load_ledger order by raw_table",
    ) == [("raw.aws_cost_explorer", 16, 16)]
    for table in ("aws_commitment_utilization", "aws_commitment_coverage"):
        assert query(
            aws.db,
            f"select distinct c._load_id = l.load_id from raw.{table} c, raw.load_ledger l",
        ) == [(True,)]

    # WHEN a restated load of the same window finds no commitment any more
    aws.next_run()
    later = Estate(start, end, charges_for(window, PROD, "Usage", {(EC2, "us-east-1"): "5"}), NAMES)
    aws.answer(later)
    aws_cost_explorer.load(aws.db, start, end)
    # THEN its commitment rows are gone too, and no commitment operation was paid for
    for table in ("aws_commitment_utilization", "aws_commitment_coverage"):
        assert query(aws.db, f"select count(*) from raw.{table}") == [(0,)]
    assert {s.operation for s in aws.proxy.seen} == {"GetCostAndUsage"}


def test_a_bad_commitment_answer_names_the_plan_and_lands_nothing(aws: Aws) -> None:
    # GIVEN a savings plan detail without its UnusedCommitment
    window = days(FEB, FEB + timedelta(days=2))
    charges = [
        Charge(d, PROD, EC2, "us-east-1", "SavingsPlanCoveredUsage", "10", "7") for d in window
    ]
    estate = Estate(FEB, FEB + timedelta(days=2), charges, NAMES)
    aws.answer(estate)
    answer = estate.answer_commitments
    arn = estate.uses()[0].commitment.commitment_id

    def broken(operation: str, body: dict[str, Any]) -> dict[str, Any]:
        page = answer(operation, body)
        for detail in page.get("SavingsPlansUtilizationDetails", []):
            del detail["Utilization"]["UnusedCommitment"]
        return page

    estate.answer_commitments = broken  # type: ignore[method-assign]
    # WHEN it is loaded THEN the error names the operation, the day, the plan and the field
    with pytest.raises(aws_cost_explorer.CostExplorerLoadError) as failed:
        aws_cost_explorer.load(aws.db, FEB, FEB + timedelta(days=2))
    message = str(failed.value)
    assert f"GetSavingsPlansUtilizationDetails {FEB}" in message
    assert arn in message and "UnusedCommitment" in message
    # and nothing was landed
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer") == [(0,)]


# ------------------------------------------------------------------ tag queries

TEAM, COST_CENTER = "team", "cost-center"


def tagged_estate(tag_keys: tuple[str, ...] = (TEAM, COST_CENTER)) -> Estate:
    """10 days of 3 accounts' costs (usage, a credit, tax) with a tag mix: tagged, untagged,
    a key-only tag, a key in another case."""
    start, end = FEB, FEB + timedelta(days=10)
    web = {TEAM: "web", COST_CENTER: "4711"}
    charges = []
    for d in days(start, end):
        charges += [
            Charge(d, PROD, EC2, "us-east-1", "Usage", "120.1234567891", tags=web),
            Charge(d, PROD, EC2, "eu-west-1", "Usage", "80", "75.5", tags={TEAM: "data"}),
            Charge(d, PROD, EC2, "eu-west-1", "Credit", "-8", tags={TEAM: "data"}),
            Charge(d, PROD, S3, "us-east-1", "Usage", "3.3", tags={TEAM: ""}),  # key only
            Charge(d, PROD, "Tax", "NoRegion", "Tax", "19.9"),  # nobody tags tax
            Charge(d, DATA, RDS, "us-east-1", "Usage", "44.44", tags={"Team": "data"}),
            Charge(d, DATA, S3, "eu-central-1", "Usage", "0.0000000001", tags=web),
        ]
    charges += [Charge(FEB, DEV, EC2, "ap-southeast-2", "Usage", "5", tags={COST_CENTER: "0815"})]
    return Estate(start, end, charges, NAMES, tag_keys=tag_keys)


def tag_calls(aws: Aws) -> list[dict[str, Any]]:
    return [s.body for s in aws.proxy.calls() if s.body["GroupBy"][0]["Type"] == "TAG"]


def test_tag_queries_per_key_and_account_land_with_the_costs(aws: Aws) -> None:
    # GIVEN Cost Explorer holding tagged costs of 3 linked accounts, and two configured keys
    estate = tagged_estate()
    aws.answer(estate)

    # WHEN the window is loaded with those keys
    [result] = aws_cost_explorer.load(
        aws.db, estate.start, estate.end, allocation_tags=(TEAM, COST_CENTER)
    )

    # THEN one DAILY query per key and account (keys in configured order, accounts sorted)
    # over the account's days with cost, grouped by the tag and SERVICE, filtered on the
    # account
    sent = tag_calls(aws)
    accounts = sorted([PROD, DATA, DEV])
    assert [(b["GroupBy"][0]["Key"], b["Filter"]["Dimensions"]["Values"]) for b in sent] == [
        (key, [account]) for key in (TEAM, COST_CENTER) for account in accounts
    ]
    for body in sent:
        assert body["Granularity"] == "DAILY"
        only_feb_1 = body["Filter"]["Dimensions"]["Values"] == [DEV]  # DEV's one day of cost
        assert body["TimePeriod"] == {
            "Start": "2026-02-01",
            "End": "2026-02-02" if only_feb_1 else "2026-02-11",
        }
        assert body["GroupBy"][1] == {"Type": "DIMENSION", "Key": "SERVICE"}
        assert body["Filter"]["Dimensions"]["Key"] == "LINKED_ACCOUNT"
        assert body["Metrics"] == ["UnblendedCost", "AmortizedCost"]
    # ... counted and priced with the others, on the one ledger row of the load: 1 totals
    # page, 6 (record type, region) slices, 2 keys x 3 accounts
    assert result.api_requests == len(aws.proxy.seen) == 1 + 6 + 2 * 3
    assert result.api_cost_usd == Decimal("0.01") * result.api_requests
    assert ledger(aws.db) == [
        ("succeeded", MOTO_ACCOUNT, len(estate.charges), 0, result.api_requests,
         result.api_cost_usd, None)
    ]  # fmt: skip
    # ... and the tag rows landed in the costs' transaction, under that load's id
    assert query(
        aws.db,
        "select distinct t._load_id = l.load_id, t._scope from raw.aws_cost_explorer_tags t, "
        "raw.load_ledger l",
    ) == [(True, MOTO_ACCOUNT)]

    # THEN per key, the tag rows of every (day, account, service) add up to that account's
    # and service's costs from the pair queries, billed and effective, to the last decimal
    for key in (TEAM, COST_CENTER):
        by_tag = query(
            aws.db,
            "select time_period_start, linked_account_id, service, sum(unblended_cost), "
            "sum(amortized_cost) from raw.aws_cost_explorer_tags where tag_key = ? "
            "group by all order by all",
            [key],
        )
        by_pairs = query(
            aws.db,
            "select time_period_start, linked_account_id, service, sum(unblended_cost), "
            "sum(amortized_cost) from raw.aws_cost_explorer group by all order by all",
        )
        assert by_tag == by_pairs and len(by_pairs) == 10 * 5 + 1  # (PROD: 3, DATA: 2) + DEV

    # THEN each value carries its costs; untagged ('') holds the costs without the tag, the
    # key-only tag (Cost Explorer cannot tell it from none) and the tag spelled `Team`
    values = query(
        aws.db,
        "select tag_key, tag_value, sum(unblended_cost) from raw.aws_cost_explorer_tags "
        "group by all order by all",
    )
    assert values == [
        (COST_CENTER, "", Decimal("1396.4000000000")),  # 10 x (80 - 8 + 3.3 + 19.9 + 44.44)
        (COST_CENTER, "0815", Decimal("5.0000000000")),
        (COST_CENTER, "4711", Decimal("1201.2345678920")),  # 10 x (120.1234567891 + 1e-10)
        (TEAM, "", Decimal("681.4000000000")),  # 10 x (3.3 + 19.9 + 44.44) + 5
        (TEAM, "data", Decimal("720.0000000000")),  # 10 x (80 - 8)
        (TEAM, "web", Decimal("1201.2345678920")),
    ]


def test_without_tag_keys_no_tag_query_is_sent_and_earlier_tag_rows_go(aws: Aws) -> None:
    # GIVEN a window whose tags a load with keys landed
    aws.answer(tagged_estate())
    aws_cost_explorer.load(aws.db, FEB, FEB + timedelta(days=10), allocation_tags=(TEAM,))
    assert query(aws.db, "select count(*) > 0 from raw.aws_cost_explorer_tags") == [(True,)]
    costs = raw_totals(aws.db)

    # WHEN the next run loads it without keys (FINOPS_ALLOCATION_TAGS unset)
    aws.next_run()
    estate = tagged_estate(tag_keys=())
    aws.answer(estate)
    [result] = aws_cost_explorer.load(aws.db, estate.start, estate.end)

    # THEN no tag query was sent, nor any other: the totals did not move
    assert tag_calls(aws) == []
    assert result.api_requests == len(aws.proxy.seen) == 1
    # ... the costs are the same, and the window's tag rows were replaced by none
    assert raw_totals(aws.db) == costs
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer_tags") == [(0,)]


def test_a_run_sends_the_configured_tag_keys(aws: Aws) -> None:
    # GIVEN settings with FINOPS_ALLOCATION_TAGS=team for the run of 2026-02-11
    from finops.settings import Settings
    from pipelines.sources import load_source

    settings = Settings(
        home=aws.db.parent,
        duckdb_path=aws.db,
        sources=("aws",),
        restatement_days=10,
        allocation_tags=(TEAM,),
    )
    estate = tagged_estate(tag_keys=(TEAM,))
    aws.answer(estate)

    # WHEN the run loads AWS
    [result] = load_source("aws", settings, FEB + timedelta(days=10)).results

    # THEN the key reached the loader: a tag query per account, counted in the run's load
    assert (result.window_start, result.window_end) == (estate.start, estate.end)
    assert {b["GroupBy"][0]["Key"] for b in tag_calls(aws)} == {TEAM}
    assert result.api_requests == 1 + 6 + 3


@pytest.mark.parametrize(
    ("tag_keys", "requests", "usd"),
    [
        pytest.param((), 41, "0.41", id="no keys: as before"),
        pytest.param((TEAM,), 61, "0.61", id="one key, 10 accounts"),
        pytest.param((TEAM, COST_CENTER, "env"), 101, "1.01", id="three keys, 10 accounts"),
    ],
)
def test_request_estimate_adds_a_query_per_tag_key_and_account(
    tag_keys: tuple[str, ...], requests: int, usd: str
) -> None:
    # GIVEN the default window (2 months of days: 2 pages a query), 20 pairs in 10 accounts
    estimate = aws_cost_explorer.estimate_requests(
        date(2026, 11, 1), date(2026, 12, 3), 20, tag_keys=len(tag_keys), accounts=10
    )
    # THEN totals pass + (slices + keys x accounts) x pages
    assert (estimate.requests, estimate.cost_usd) == (requests, Decimal(usd))


@pytest.mark.parametrize(
    ("known_estate", "budget", "reached_aws", "message"),
    [
        pytest.param(
            True,
            8,  # 7 days, 5 known slices in 3 accounts, 2 keys: 1 + (5 + 2 x 3) x 1 = 12
            0,
            "would need about 12 requests (USD 0.12 at USD 0.01 each: 1 totals + 5 "
            "previously seen (record type, region) slice(s) x 1 page(s) + 2 tag key(s) x 3 "
            "account(s) x 1 page(s) for 7 days)",
            id="known estate: refused before any request",
        ),
        pytest.param(
            False,
            9,  # the costs alone (1 + 5 = 6) fit, the tag queries do not
            6,
            "would need about 12 requests (USD 0.12 at USD 0.01 each: 6 spent + 6 tag "
            "quer(ies) for 2 tag key(s) x 3 account(s))",
            id="first load: refused before the tag queries",
        ),
    ],
)
def test_the_request_budget_counts_the_tag_queries(
    aws: Aws, known_estate: bool, budget: int, reached_aws: int, message: str
) -> None:
    # GIVEN an estate of 5 (record type, region) slices in 3 accounts, known or not
    if known_estate:
        _first_load_then_known_estate(aws)
    estate = several_accounts_and_regions()
    estate.tag_keys = (TEAM, COST_CENTER)
    aws.answer(estate)

    # WHEN two tag keys make the load need more requests than the budget
    with pytest.raises(aws_cost_explorer.RequestBudgetExceeded) as raised:
        aws_cost_explorer.load(
            aws.db, estate.start, estate.end, max_requests=budget,
            allocation_tags=(TEAM, COST_CENTER),
        )  # fmt: skip

    # THEN it stops saying what the tag queries add, before any of them was sent
    assert message in str(raised.value)
    assert len(aws.proxy.calls()) == reached_aws
    assert tag_calls(aws) == []
    assert ledger(aws.db)[-1][0] == "failed"


# ------------------------------------------------------------------ change detection (#20)

RAW_TABLES = ("aws_cost_explorer", "aws_commitment_utilization", "aws_commitment_coverage",
              "aws_cost_explorer_tags")  # fmt: skip


def table_rows(db: Path, table: str) -> list[tuple]:
    """Every row of a raw table, its load columns left out, sorted."""
    from loaders import registry

    columns = ", ".join(name for name, _, _ in registry.raw_tables()[table].columns)
    return query(db, f"select {columns} from raw.{table} order by all")


def team_tagged(charges: list[Charge]) -> list[Charge]:
    """The charges with a `team` tag that depends on the service (some untagged)."""
    teams = ("web", "data", "")
    return [replace(c, tags={TEAM: teams[len(c.service) % 3]}) for c in charges]


def test_a_daily_run_asks_only_for_what_changed_and_lands_what_a_full_reload_lands(
    aws: Aws, tmp_path: Path
) -> None:
    # GIVEN a 16-account organisation, tagged, loaded by the run of 2026-10-30
    start, first_end = date(2026, 9, 1), date(2026, 10, 30)
    estate = organisation_estate(16, start, first_end)
    estate.charges[:] = team_tagged(estate.charges)
    aws.answer(estate)
    aws_cost_explorer.load(aws.db, start, first_end, allocation_tags=(TEAM,))

    # WHEN AWS restates the last 5 days (+3 %), a refund lands 12 days back, the next day
    # arrives, and the run of 2026-10-31 reloads its window
    estate.restate("1.03", on_or_after=date(2026, 10, 25))
    payer = estate.members[0].account_id
    estate.add(Charge(date(2026, 10, 18), payer, RDS, "us-east-1", "Refund", "-250.5"))
    estate.append_day(team_tagged(estate.day(first_end)))
    end = first_end + timedelta(days=1)
    aws.proxy.reset_counts()
    [daily] = aws_cost_explorer.load(aws.db, start, end, allocation_tags=(TEAM,))
    asked = [s.body for s in aws.requests("GetCostAndUsage")]
    sp_days = [
        s.body["TimePeriod"]["Start"] for s in aws.requests("GetSavingsPlansUtilizationDetails")
    ]

    # AND a full reload of the same window into another warehouse (change detection off)
    aws.proxy.reset_counts()
    full_db = tmp_path / "full.duckdb"
    [full] = aws_cost_explorer.load(
        full_db, start, end, allocation_tags=(TEAM,), change_detection=False
    )

    # THEN both warehouses hold the same rows in every table, to the last decimal
    for table in RAW_TABLES:
        assert table_rows(aws.db, table) == table_rows(full_db, table), table
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer_tags") != [(0,)]
    # ... the refund among them
    assert query(
        aws.db,
        "select sum(unblended_cost) from raw.aws_cost_explorer where record_type = 'Refund' "
        "and time_period_start = date '2026-10-18' and linked_account_id = ?",
        [payer],
    ) == [(Decimal("-250.5"),)]
    # ... for at most half the requests of the full reload
    assert daily.api_requests * 2 <= full.api_requests
    # ... the full-grain queries only over the changed days: the refund's, the restated ones
    # and the new one
    pieces = [b for b in asked if "Filter" in b and b["GroupBy"][0]["Type"] == "DIMENSION"]
    assert pieces and all(b["GroupBy"][0]["Key"] == "LINKED_ACCOUNT" for b in pieces)
    periods = {(b["TimePeriod"]["Start"], b["TimePeriod"]["End"]) for b in pieces}
    assert periods <= {("2026-10-25", "2026-10-31"), ("2026-10-18", "2026-10-19"),
                       ("2026-10-18", "2026-10-31")}  # fmt: skip
    assert ("2026-10-18", "2026-10-19") in periods or ("2026-10-18", "2026-10-31") in periods
    # ... and the savings plans' details of those days only
    assert sp_days and set(sp_days) <= {f"2026-10-{d}" for d in (18, 25, 26, 27, 28, 29, 30)}

    # WHEN the next run finds nothing moved but the Estimated flag of the last days (the
    # month's bill settled)
    estate.estimated_from = None
    estate.changed()
    aws.proxy.reset_counts()
    [settled] = aws_cost_explorer.load(aws.db, start, end, allocation_tags=(TEAM,))
    # THEN the totals pass alone (its pages) told it so, and the flags are Cost Explorer's
    passes = aws.requests()
    assert all(s.body["GroupBy"][0]["Key"] == "RECORD_TYPE" for s in passes)
    assert settled.api_requests == len(passes) <= 2
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer where estimated") == [(0,)]
    assert query(aws.db, "select count(*) from raw.aws_cost_explorer_tags where estimated") == [
        (0,)
    ]
    assert settled.replaced_row_count == settled.row_count == daily.row_count


def test_the_monthly_budget_caps_every_aws_load_and_stops_when_spent(aws: Aws) -> None:
    # GIVEN a monthly budget of USD 0.10 and a first load that cost USD 0.06
    budget = Decimal("0.10")
    estate = several_accounts_and_regions()  # 1 totals page + 5 slices
    aws.answer(estate)
    [first] = aws_cost_explorer.load(aws.db, estate.start, estate.end, monthly_budget_usd=budget)
    assert first.api_cost_usd == Decimal("0.06")

    # WHEN every cell moved and the next load would need more than what is left (4 requests)
    estate.restate("2", on_or_after=estate.start)
    aws.proxy.reset_counts()
    with pytest.raises(aws_cost_explorer.RequestBudgetExceeded) as raised:
        aws_cost_explorer.load(aws.db, estate.start, estate.end, monthly_budget_usd=budget)
    # THEN it is refused after the totals pass, naming the monthly budget
    assert "what is left of FINOPS_AWS_MONTHLY_API_BUDGET_USD (4 requests)" in str(raised.value)
    assert len(aws.requests()) == 1

    # WHEN only one slice moved since: a daily load of 2 requests (USD 0.09 spent) ...
    estate.restate(Decimal("0.5"), on_or_after=estate.start)  # back to the landed amounts
    estate.add(Charge(estate.start, DEV, EC2, "ap-southeast-2", "Usage", "1"))
    aws.proxy.reset_counts()
    [daily] = aws_cost_explorer.load(aws.db, estate.start, estate.end, monthly_budget_usd=budget)
    assert daily.api_requests == 2
    # ... then another, which needs 2 with 1 left: refused after its totals pass (USD 0.10)
    estate.add(Charge(estate.start, DEV, S3, "ap-southeast-2", "Usage", "1"))
    aws.proxy.reset_counts()
    with pytest.raises(aws_cost_explorer.RequestBudgetExceeded):
        aws_cost_explorer.load(aws.db, estate.start, estate.end, monthly_budget_usd=budget)
    assert len(aws.requests()) == 1

    # WHEN the month's budget is spent and the next load runs
    aws.proxy.reset_counts()
    with pytest.raises(aws_cost_explorer.RequestBudgetExceeded) as raised:
        aws_cost_explorer.load(aws.db, estate.start, estate.end, monthly_budget_usd=budget)

    # THEN no request at all is made, the message says what was spent and when it renews,
    # and the refusal is on the ledger
    text = str(raised.value)
    assert "the monthly Cost Explorer budget is spent: USD 0.10 of " in text
    assert "FINOPS_AWS_MONTHLY_API_BUDGET_USD=0.10" in text and "renews on" in text
    assert aws.requests() == []
    assert ledger(aws.db)[-1][0] == "failed"


def test_the_plan_of_a_run_is_what_the_run_asks_after_an_unchanged_day(
    aws: Aws, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from finops import cli
    from loaders.aws_cost_explorer.plan import plan_scope

    # GIVEN a 16-account organisation loaded by the run of 2026-10-30 (a 60-day window)
    start, first_end = date(2026, 9, 1), date(2026, 10, 30)
    estate = organisation_estate(16, start, first_end)
    aws.answer(estate)
    aws_cost_explorer.load(aws.db, start, first_end)

    # WHEN the run of 2026-10-31 is planned, on the command line and as figures
    end = first_end + timedelta(days=1)
    aws.proxy.reset_counts()
    monkeypatch.setenv("FINOPS_HOME", str(aws.db.parent))
    monkeypatch.setenv("FINOPS_DUCKDB_PATH", str(aws.db))
    monkeypatch.setenv("FINOPS_SOURCES", "aws")
    monkeypatch.setenv("FINOPS_RESTATEMENT_DAYS", str((end - start).days))
    monkeypatch.setenv("FINOPS_AWS_MONTHLY_API_BUDGET_USD", "25")
    assert cli.main(["run", "--plan", "--date", end.isoformat()]) == 0
    printed = capsys.readouterr().out
    plan = plan_scope(aws.db, MOTO_ACCOUNT, start, end, ())

    # THEN nothing was asked of Cost Explorer, and the plan says what the run will ask
    assert aws.proxy.seen == []
    assert f"payer {MOTO_ACCOUNT}: expected {plan.expected} requests" in printed
    assert f"at most {plan.at_most} " in printed
    assert "FINOPS_AWS_MONTHLY_API_BUDGET_USD=25: USD" in printed
    assert plan.new_days == 1

    # WHEN the day arrives with nothing else changed and the run loads it
    estate.append_day(estate.day(first_end))
    [result] = aws_cost_explorer.load(aws.db, start, end)

    # THEN it asked what the plan said: one query per slice of the newest day, one savings
    # plan day, the reservation and coverage queries; the totals pass within its estimate
    asked = aws.requests()
    pieces = [s for s in asked if s.operation == "GetCostAndUsage" and "Filter" in s.body]
    assert len(pieces) == plan.parts["(record type, region) slices"]
    assert len(aws.requests("GetSavingsPlansUtilizationDetails")) == plan.parts.get(
        "savings plan days", 0
    )
    totals = [s for s in asked if s.operation == "GetCostAndUsage" and "Filter" not in s.body]
    assert 1 <= len(totals) <= plan.parts["totals pass"]
    assert result.api_requests <= plan.expected <= plan.at_most
    assert result.api_requests >= plan.expected - plan.parts["totals pass"] + 1
