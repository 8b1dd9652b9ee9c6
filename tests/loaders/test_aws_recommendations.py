"""The AWS recommendation source over real HTTP: boto3 -> our emulator of Cost Optimization
Hub and Cost Explorer's purchase recommendations (tests/aws_recommendations_emulator.py),
STS from moto's server; landed through the one writer into a DuckDB file.

The emulator's log is what went over the wire: the request counts the ledger records are
checked against it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from aws_ce_emulator import MOTO_ACCOUNT, Fault, MotoServer
from aws_recommendations_emulator import RecommendationsEmulator
from finops_testing import dbt

from finops.settings import load_settings
from loaders.aws_recommendations import AwsRecommendationsError, load
from loaders.aws_recommendations.loader import is_unavailable
from loaders.aws_recommendations.source import (
    RESERVATION_SERVICES,
    SAVINGS_PLANS_TYPES,
    AwsRecommendationsConfig,
    configure,
)
from loaders.registry import source

ACCESS_KEY = "AKIAFINOPSRECOMMEND01"
SECRET_KEY = "recommendation-test-secret-never-printed"
SNAPSHOT = date(2026, 7, 1)
PAYER = MOTO_ACCOUNT
APP, DATA = "402193857611", "747160392817"
EC2 = "Amazon Elastic Compute Cloud - Compute"
HUB_SCOPE = f"hub:{PAYER}"
SP_SCOPES = [f"sp:{PAYER}:{kind}" for kind in SAVINGS_PLANS_TYPES]
RI_SCOPES = [f"ri:{PAYER}:{service}" for service in RESERVATION_SERVICES]
ALL_SCOPES = sorted([HUB_SCOPE, *SP_SCOPES, *RI_SCOPES])
SETTINGS = {
    "FINOPS_AWS_COST_OPTIMIZATION_HUB": "cost_optimization_hub",
    "FINOPS_AWS_SP_PURCHASE_RECOMMENDATIONS": "sp_purchase",
    "FINOPS_AWS_RI_PURCHASE_RECOMMENDATIONS": "ri_purchase",
}


def hub_item(n: int, action: str, resource_type: str, savings: str, **extra: Any) -> dict:
    return {
        "recommendationId": f"rec-{n}-{SNAPSHOT}",  # the hub regenerates its ids
        "accountId": APP,
        "region": "us-east-1",
        "resourceId": f"i-{n:04d}",
        "resourceArn": f"arn:aws:ec2:us-east-1:{APP}:instance/i-{n:04d}",
        "currentResourceType": resource_type,
        "recommendedResourceType": resource_type,
        "actionType": action,
        "estimatedMonthlySavings": float(savings),
        "estimatedSavingsPercentage": 25.0,
        "estimatedMonthlyCost": 30.0,
        "currencyCode": "USD",
        "implementationEffort": "Low",
        "restartNeeded": True,
        "rollbackPossible": True,
        "currentResourceSummary": "m5.xlarge",
        "recommendedResourceSummary": "m5.large",
        "lastRefreshTimestamp": 1782864000,  # 2026-07-01T00:00:00Z
        "recommendationLookbackPeriodInDays": 14,
        "source": "ComputeOptimizer",
        **extra,
    }


HUB_ITEMS = [
    hub_item(1, "Rightsize", "Ec2Instance", "40.25", tags=[{"key": "team", "value": "web"}]),
    hub_item(2, "Stop", "Ec2Instance", "12.5"),
    hub_item(3, "Upgrade", "EbsVolume", "3.2", resourceId="vol-0003"),
    hub_item(4, "PurchaseSavingsPlans", "ComputeSavingsPlans", "55", resourceId="sp-rec-4"),
]
SP_DETAILS = {
    "COMPUTE_SP": [
        {
            "SavingsPlansDetails": {"OfferingId": "off-compute"},
            "AccountId": APP,
            "UpfrontCost": "0",
            "CurrencyCode": "USD",
            "HourlyCommitmentToPurchase": "0.5",
            "EstimatedAverageUtilization": "98.5",
            "EstimatedMonthlySavingsAmount": "61.123",
            "EstimatedSavingsPercentage": "21.4",
            "RecommendationDetailId": "d-compute-1",
        },
        {
            "SavingsPlansDetails": {"OfferingId": "off-compute"},
            "AccountId": DATA,
            "UpfrontCost": "0",
            "CurrencyCode": "USD",
            "HourlyCommitmentToPurchase": "0.2",
            "EstimatedMonthlySavingsAmount": "20",
            "RecommendationDetailId": "d-compute-2",
        },
        {
            "SavingsPlansDetails": {"OfferingId": "off-compute"},
            "AccountId": PAYER,
            "CurrencyCode": "USD",
            "HourlyCommitmentToPurchase": "0.1",
            "EstimatedMonthlySavingsAmount": "7.5",
            "RecommendationDetailId": "d-compute-3",
        },
    ],
    "EC2_INSTANCE_SP": [
        {
            "SavingsPlansDetails": {
                "Region": "us-east-1",
                "InstanceFamily": "m5",
                "OfferingId": "off-m5",
            },
            "AccountId": APP,
            "CurrencyCode": "USD",
            "HourlyCommitmentToPurchase": "0.6",
            "EstimatedMonthlySavingsAmount": "70",
            "RecommendationDetailId": "d-ec2-1",
        }
    ],
}
RI_DETAILS = {
    EC2: [
        {
            "AccountId": APP,
            "InstanceDetails": {
                "EC2InstanceDetails": {
                    "Family": "m5",
                    "InstanceType": "m5.large",
                    "Region": "us-east-1",
                    "Platform": "Linux/UNIX",
                    "Tenancy": "shared",
                    "CurrentGeneration": True,
                    "SizeFlexEligible": True,
                }
            },
            "RecommendedNumberOfInstancesToPurchase": "3",
            "UpfrontCost": "0",
            "CurrencyCode": "USD",
            "EstimatedMonthlySavingsAmount": "66.6",
            "EstimatedMonthlySavingsPercentage": "30",
            "EstimatedMonthlyOnDemandCost": "210.24",
        }
    ]
}


# ------------------------------------------------------------------ servers and environment


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def server() -> Iterator[RecommendationsEmulator]:
    emulator = RecommendationsEmulator(page_size=2).start()
    yield emulator
    emulator.stop()


@dataclass
class Aws:
    emulator: RecommendationsEmulator
    db: Path

    def answer_all(self) -> None:
        self.emulator.data.hub = list(HUB_ITEMS)
        self.emulator.data.savings_plans = dict(SP_DETAILS)
        self.emulator.data.reservations = dict(RI_DETAILS)


@pytest.fixture
def aws(
    moto: MotoServer,
    server: RecommendationsEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Aws:
    server.clear()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_RETRY_MODE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto.url)  # STS
    monkeypatch.setenv("AWS_ENDPOINT_URL_COST_EXPLORER", server.url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_COST_OPTIMIZATION_HUB", server.url)
    return Aws(server, tmp_path / "finops.duckdb")


def query(db: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


def ledger(db: Path) -> dict[str, tuple]:
    """{scope: (status, rows, api_requests, api_cost_usd)} of the source's ledger rows."""
    return {
        scope: tuple(rest)
        for scope, *rest in query(
            db,
            "select scope, status, row_count, api_requests, api_cost_usd from raw.load_ledger "
            "where source = 'aws_recommendations' order by scope",
        )
    }


def answered(emulator: RecommendationsEmulator, operation: str) -> int:
    return sum(1 for s in emulator.calls(operation) if s.answered_by == "emulator")


# ------------------------------------------------------------------ the APIs


def test_every_call_lands_every_page_of_its_snapshot_and_a_rerun_replaces_it(aws: Aws) -> None:
    # GIVEN the hub's 4 recommendations (2 pages), 3 + 1 Savings Plans details (2 + 1 pages)
    # and no SageMaker one (a page), one EC2 reservation detail, no RDS or ElastiCache one (a
    # page each)
    aws.answer_all()

    # WHEN the run date's snapshot is loaded
    results = load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())

    # THEN every call lands under its own ledger scope with the requests that went over the
    # wire: the hub is free, each Cost Explorer request USD 0.01
    assert sorted(r.scope for r in results) == ALL_SCOPES
    assert answered(aws.emulator, "ListRecommendations") == 2
    assert answered(aws.emulator, "GetSavingsPlansPurchaseRecommendation") == 4
    assert answered(aws.emulator, "GetReservationPurchaseRecommendation") == 3
    assert ledger(aws.db) == {
        **{s: ("succeeded", 0, 1, Decimal("0.01")) for s in RI_SCOPES + SP_SCOPES},
        f"ri:{PAYER}:{EC2}": ("succeeded", 1, 1, Decimal("0.01")),
        HUB_SCOPE: ("succeeded", 4, 2, Decimal("0")),
        SP_SCOPES[0]: ("succeeded", 3, 2, Decimal("0.02")),
        SP_SCOPES[1]: ("succeeded", 1, 1, Decimal("0.01")),
    }
    # AND the rows are what was answered, amounts exact
    assert query(
        aws.db,
        "select recommendation_id, account_id, action_type, estimated_monthly_savings, "
        "restart_needed, last_refresh_timestamp from raw.aws_cost_optimization_hub_recommendations "
        "order by 1",
    )[0] == ("rec-1-2026-07-01", APP, "Rightsize", Decimal("40.25"), True, datetime(2026, 7, 1))
    assert query(
        aws.db,
        "select savings_plans_type, sum(estimated_monthly_savings), count(*) "
        "from raw.aws_sp_purchase_recommendations group by all order by 1",
    ) == [("COMPUTE_SP", Decimal("88.623"), 3), ("EC2_INSTANCE_SP", Decimal("70"), 1)]
    assert query(
        aws.db,
        "select service, account_id, region, instance_type, recommended_instances, "
        "estimated_monthly_savings from raw.aws_ri_purchase_recommendations",
    ) == [(EC2, APP, "us-east-1", "m5.large", Decimal("3"), Decimal("66.6"))]
    # AND each row keeps its item as answered, JSON text (what the columns leave out: tags)
    assert query(
        aws.db,
        "select item_json ->> '$.tags[0].value', item_json ->> '$.resourceArn' "
        "from raw.aws_cost_optimization_hub_recommendations where recommendation_id like 'rec-1-%'",
    ) == [("web", f"arn:aws:ec2:us-east-1:{APP}:instance/i-0001")]
    assert query(
        aws.db,
        "select count(*) from raw.aws_sp_purchase_recommendations "
        "where item_json ->> '$.RecommendationDetailId' = recommendation_id",
    ) == [(4,)]
    assert query(
        aws.db,
        "select item_json ->> '$.InstanceDetails.EC2InstanceDetails.Platform' "
        "from raw.aws_ri_purchase_recommendations",
    ) == [("Linux/UNIX",)]

    # WHEN the same date is loaded again THEN the snapshot is replaced, not doubled
    load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())
    assert query(aws.db, "select count(*) from raw.aws_cost_optimization_hub_recommendations") == [
        (4,)
    ]
    assert query(aws.db, "select count(*) from raw.aws_sp_purchase_recommendations") == [(4,)]


def test_throttling_is_retried_and_only_answered_requests_are_billed(aws: Aws) -> None:
    # GIVEN the hub and Cost Explorer each throttle once
    aws.answer_all()
    aws.emulator.fail(
        Fault(lambda op, _: op == "ListRecommendations", "ThrottlingException", "slow down")
    )
    aws.emulator.fail(
        Fault(
            lambda op, _: op == "GetSavingsPlansPurchaseRecommendation",
            "LimitExceededException",
            "Rate exceeded",
        )
    )

    # WHEN the snapshot is loaded THEN botocore retried both and everything landed
    load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())
    seen = [s.answered_by for s in aws.emulator.seen]
    assert seen.count("ThrottlingException") == 1 and seen.count("LimitExceededException") == 1
    assert sum(r[1] for r in ledger(aws.db).values()) == 4 + 4 + 1
    # AND the ledger bills the answered Cost Explorer requests only (7: USD 0.07)
    assert sum(r[2] for r in ledger(aws.db).values() if r[3]) == 7
    assert sum(r[3] for r in ledger(aws.db).values()) == Decimal("0.07")


def test_an_empty_answer_lands_an_empty_snapshot(aws: Aws) -> None:
    # GIVEN no recommendation anywhere WHEN the snapshot is loaded
    load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())
    # THEN every call has its snapshot, with no row: what an earlier day had is gone
    assert ledger(aws.db) == {
        HUB_SCOPE: ("succeeded", 0, 1, Decimal("0")),
        **{s: ("succeeded", 0, 1, Decimal("0.01")) for s in SP_SCOPES + RI_SCOPES},
    }


def test_a_permission_error_disables_only_that_call_with_a_clear_message(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN credentials without cost-optimization-hub:ListRecommendations, and no RDS usage
    # data yet for reservation recommendations
    aws.answer_all()
    aws.emulator.fail(
        Fault(
            lambda op, _: op == "ListRecommendations",
            "AccessDeniedException",
            f"User: arn:aws:iam::{PAYER}:user/x ({ACCESS_KEY}) is not authorized",
            status=403,
            times=None,
        )
    )
    aws.emulator.fail(
        Fault(
            lambda op, body: (
                op == "GetReservationPurchaseRecommendation"
                and body["Service"] == "Amazon Relational Database Service"
            ),
            "DataUnavailableException",
            "no data",
            times=None,
        )
    )

    # WHEN the snapshot is loaded
    with caplog.at_level(logging.WARNING, logger="finops.loaders.aws_recommendations"):
        load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())

    # THEN the other calls landed; the hub and the RDS call have no snapshot (nothing is
    # closed for them), and each warning names what is needed
    assert set(ledger(aws.db)) == set(ALL_SCOPES) - {
        HUB_SCOPE,
        f"ri:{PAYER}:Amazon Relational Database Service",
    }
    warnings = [r.getMessage() for r in caplog.records]
    assert any(
        "Cost Optimization Hub recommendations disabled" in w
        and "cost-optimization-hub:ListRecommendations" in w
        and "enrolled" in w
        for w in warnings
    ), warnings
    assert any("ce:GetReservationPurchaseRecommendation" in w for w in warnings), warnings
    assert not any(ACCESS_KEY in w or SECRET_KEY in w for w in warnings)


@pytest.mark.parametrize(
    ("operation", "api", "action", "refused"),
    [
        (
            "ListRecommendations",
            "Cost Optimization Hub recommendations",
            "cost-optimization-hub:ListRecommendations",
            [HUB_SCOPE],
        ),
        (
            "GetSavingsPlansPurchaseRecommendation",
            "Savings Plans purchase recommendations",
            "ce:GetSavingsPlansPurchaseRecommendation",
            SP_SCOPES,
        ),
        (
            "GetReservationPurchaseRecommendation",
            "reservation purchase recommendations",
            "ce:GetReservationPurchaseRecommendation",
            RI_SCOPES,
        ),
    ],
    ids=["hub", "savings-plans", "reservations"],
)
def test_each_api_refused_is_the_only_one_disabled_and_named_with_its_iam_action(
    aws: Aws,
    caplog: pytest.LogCaptureFixture,
    operation: str,
    api: str,
    action: str,
    refused: list[str],
) -> None:
    # GIVEN credentials that lack one API's IAM action (AWS's answer names the identity)
    aws.answer_all()
    aws.emulator.fail(
        Fault(
            lambda op, _: op == operation,
            "AccessDeniedException",
            f"User: arn:aws:iam::{PAYER}:user/finops ({ACCESS_KEY}) is not authorized to "
            f"perform: {action}",
            times=None,
        )
    )

    # WHEN the snapshot is loaded
    with caplog.at_level(logging.WARNING, logger="finops.loaders.aws_recommendations"):
        load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())

    # THEN every other call landed, that API nowhere (its opportunities neither refresh nor go)
    assert sorted(ledger(aws.db)) == sorted(set(ALL_SCOPES) - set(refused))
    assert {status for status, *_ in ledger(aws.db).values()} == {"succeeded"}
    # AND one warning per refused call names the API and the IAM action, and no credential
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(refused), warnings
    assert all(f"{api}" in w and "disabled" in w and action in w for w in warnings), warnings
    assert not any(ACCESS_KEY in w or SECRET_KEY in w for w in warnings), warnings


def test_a_hub_not_enrolled_is_disabled_saying_how_to_enroll(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an account that has not opted in to Cost Optimization Hub
    aws.answer_all()
    aws.emulator.not_enrolled()

    # WHEN the snapshot is loaded
    with caplog.at_level(logging.WARNING, logger="finops.loaders.aws_recommendations"):
        load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())

    # THEN the Cost Explorer calls landed, the hub did not, and the warning says why
    assert HUB_SCOPE not in ledger(aws.db) and len(ledger(aws.db)) == len(ALL_SCOPES) - 1
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "not enrolled in Cost Optimization Hub" in warning, warning
    assert "cost-optimization-hub:ListRecommendations" in warning, warning


def test_any_other_error_fails_the_run_lands_nothing_and_leaks_no_secret(
    aws: Aws, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a Cost Explorer answer that is not a permission error
    aws.answer_all()
    aws.emulator.fail(
        Fault(
            lambda op, _: op == "GetSavingsPlansPurchaseRecommendation",
            "ValidationException",
            f"bad request from {ACCESS_KEY}",
            times=None,
        )
    )
    # WHEN the snapshot is loaded THEN it fails naming the cause, without the key
    with pytest.raises(AwsRecommendationsError) as failure:
        load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())
    assert "ValidationException" in str(failure.value)
    assert ACCESS_KEY not in str(failure.value) and SECRET_KEY not in str(failure.value)
    assert not any(ACCESS_KEY in r.getMessage() for r in caplog.records)
    # AND nothing was landed: one failed ledger row, no recommendation row
    assert [r[0] for r in ledger(aws.db).values()] == ["failed"]
    assert query(aws.db, "select count(*) from raw.aws_cost_optimization_hub_recommendations") == [
        (0,)
    ]


def test_switches_turn_each_api_off(aws: Aws) -> None:
    aws.answer_all()
    load(
        aws.db,
        SNAPSHOT,
        config=AwsRecommendationsConfig(sp_purchase=False, ri_purchase=False),
    )
    assert list(ledger(aws.db)) == [HUB_SCOPE]
    assert not aws.emulator.calls("GetSavingsPlansPurchaseRecommendation")
    assert not aws.emulator.calls("GetReservationPurchaseRecommendation")


# ------------------------------------------------------------------ into the ledger


def test_snapshots_become_ledger_opportunities_with_purchases_counted_once(
    aws: Aws, tmp_path: Path
) -> None:
    # GIVEN 07-01: everything; 07-02: the hub refuses (no snapshot), EC2 Instance Savings
    # Plans and EC2 reservations answer nothing, the Compute Savings Plans stay
    aws.answer_all()
    load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())
    aws.emulator.clear()
    aws.emulator.data.savings_plans = {"COMPUTE_SP": SP_DETAILS["COMPUTE_SP"]}
    aws.emulator.fail(
        Fault(
            lambda op, _: op == "ListRecommendations",
            "AccessDeniedException",
            "denied",
            status=403,
            times=None,
        )
    )
    next_day = date(2026, 7, 2)
    load(aws.db, next_day, config=AwsRecommendationsConfig())

    # WHEN dbt builds the ledger and what it reads
    result = dbt(
        aws.db, tmp_path, "build", "--select", "+fct_optimization_opportunities",
        "--indirect-selection", "cautious", "--exclude", "resource_type:unit_test",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]

    # THEN the hub's recommendations stay open (no snapshot on 07-02 closes them), the EC2
    # Instance Savings Plan and the reservation are gone, the Compute ones seen both days
    rows = query(
        aws.db,
        "select source, category, sub_account_id, first_seen, last_seen, status, "
        "estimated_monthly_savings from marts.fct_optimization_opportunities "
        "order by source, category, sub_account_id, estimated_monthly_savings",
    )
    assert rows == [
        ("aws_cost_optimization_hub", "commitment_purchase", APP, SNAPSHOT, SNAPSHOT, "open",
         Decimal("55")),
        ("aws_cost_optimization_hub", "idle", APP, SNAPSHOT, SNAPSHOT, "open", Decimal("12.5")),
        ("aws_cost_optimization_hub", "rightsizing", APP, SNAPSHOT, SNAPSHOT, "open",
         Decimal("40.25")),
        ("aws_cost_optimization_hub", "storage_tier", APP, SNAPSHOT, SNAPSHOT, "open",
         Decimal("3.2")),
        ("aws_ri_purchase", "commitment_purchase", APP, SNAPSHOT, SNAPSHOT, "gone",
         Decimal("66.6")),
        ("aws_sp_purchase", "commitment_purchase", PAYER, SNAPSHOT, next_day, "open",
         Decimal("7.5")),
        ("aws_sp_purchase", "commitment_purchase", APP, SNAPSHOT, next_day, "open",
         Decimal("61.123")),
        ("aws_sp_purchase", "commitment_purchase", APP, SNAPSHOT, SNAPSHOT, "gone",
         Decimal("70")),
        ("aws_sp_purchase", "commitment_purchase", DATA, SNAPSHOT, next_day, "open",
         Decimal("20")),
    ]  # fmt: skip
    # AND the open purchases of one account are one saving: the largest counts (APP: the
    # Compute Savings Plan's 61.123 over the hub's relayed 55)
    assert query(
        aws.db,
        "select sub_account_id, source, estimated_monthly_savings "
        "from marts.fct_optimization_opportunities where category = 'commitment_purchase' "
        "and status = 'open' and duplicate_of is null order by 1",
    ) == [
        (PAYER, "aws_sp_purchase", Decimal("7.5")),
        (APP, "aws_sp_purchase", Decimal("61.123")),
        (DATA, "aws_sp_purchase", Decimal("20")),
    ]


def test_the_source_is_a_snapshot_without_cost_measures_with_a_setting_per_api(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    spec = source("aws_recommendations")
    assert (spec.ledger_source, spec.window, spec.providers) == (
        "aws_recommendations",
        "snapshot",
        ("AWS",),
    )
    assert all(table.measures == () for table in spec.raw_tables)
    # each API has its own switch, on by default
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    defaults = configure(load_settings(tmp_path / "no.env"))
    assert all(getattr(defaults, field) is True for field in SETTINGS.values())
    for name, field in SETTINGS.items():
        monkeypatch.setenv(name, "off")
        assert getattr(configure(load_settings(tmp_path / "no.env")), field) is False
        monkeypatch.setenv(name, "on")


# ------------------------------------------------------------------ dbt staging

CONTRACT = [
    "recommendation_key",
    "source_recommendation_id",
    "snapshot_date",
    "source",
    "provider_name",
    "sub_account_id",
    "resource_id",
    "service_name",
    "region_id",
    "category",
    "action",
    "estimated_monthly_savings",
    "billing_currency",
    "ledger_scope",
]
EVERY_ACTION = [
    hub_item(11, "Rightsize", "Ec2Instance", "10"),
    hub_item(12, "ScaleIn", "Ec2AutoScalingGroup", "11"),
    hub_item(13, "Stop", "Ec2Instance", "12"),
    hub_item(14, "Delete", "EbsVolume", "13", resourceId="vol-0014"),
    hub_item(15, "Upgrade", "EbsVolume", "14", resourceId="vol-0015"),
    hub_item(16, "Upgrade", "RdsDbInstance", "15", resourceId="db-0016"),
    hub_item(17, "MigrateToGraviton", "Ec2Instance", "16"),
    hub_item(18, "PurchaseReservedInstances", "Ec2ReservedInstances", "17"),
    hub_item(19, "PurchaseSavingsPlans", "ComputeSavingsPlans", "18"),
]


def regenerated(items: list[dict[str, Any]], field: str) -> list[dict[str, Any]]:
    """The same recommendations under new ids, as a refresh of the API gives them."""
    return [{**item, field: f"{item[field]}-refreshed"} for item in items]


def test_staging_gives_the_contract_every_category_and_keys_stable_across_refreshes(
    aws: Aws, tmp_path: Path
) -> None:
    # GIVEN two snapshots of the same recommendations, every id regenerated on the second day
    aws.answer_all()
    aws.emulator.data.hub = list(EVERY_ACTION)
    load(aws.db, SNAPSHOT, config=AwsRecommendationsConfig())
    aws.emulator.data.hub = regenerated(EVERY_ACTION, "recommendationId")
    aws.emulator.data.savings_plans = {
        kind: regenerated(details, "RecommendationDetailId") for kind, details in SP_DETAILS.items()
    }
    next_day = date(2026, 7, 2)
    load(aws.db, next_day, config=AwsRecommendationsConfig())

    # WHEN dbt builds the staging models and their tests
    result = dbt(
        aws.db, tmp_path, "build", "--select", "path:models/staging/aws_recommendations",
        "--exclude", "resource_type:unit_test",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]

    # THEN each model gives the contract's columns in its order
    staged: dict[str, list[dict[str, Any]]] = {}
    with duckdb.connect(str(aws.db), read_only=True) as con:
        for model in ("cost_optimization_hub", "sp_purchase", "ri_purchase"):
            cursor = con.execute(f"select * from staging.stg_aws_recommendations__{model}")
            assert [d[0] for d in cursor.description] == CONTRACT, model
            staged[model] = [dict(zip(CONTRACT, r, strict=True)) for r in cursor.fetchall()]
    hub = [r for r in staged["cost_optimization_hub"] if r["snapshot_date"] == SNAPSHOT]
    # AND every hub action has its category (MigrateToGraviton: other, see the model docs)
    categories: dict[str, set[str]] = {}
    for row in hub:
        categories.setdefault(row["action"].split(" ")[0], set()).add(row["category"])
    assert categories == {
        "Rightsize": {"rightsizing"},
        "ScaleIn": {"rightsizing"},
        "Stop": {"idle"},
        "Delete": {"idle"},
        "Upgrade": {"storage_tier", "previous_generation"},
        "MigrateToGraviton": {"other"},
        "PurchaseReservedInstances": {"commitment_purchase"},
        "PurchaseSavingsPlans": {"commitment_purchase"},
    }
    upgrades = {r["resource_id"]: r["category"] for r in hub if r["action"].startswith("Upgrade")}
    assert upgrades == {"vol-0015": "storage_tier", "db-0016": "previous_generation"}
    # purchases name no resource; the rest the resource as answered
    assert {r["resource_id"] for r in hub if r["category"] == "commitment_purchase"} == {None}
    assert sum(r["estimated_monthly_savings"] for r in hub) == Decimal(sum(range(10, 19)))
    assert {(r["source"], r["provider_name"], r["ledger_scope"]) for r in hub} == {
        ("aws_cost_optimization_hub", "AWS", HUB_SCOPE)
    }
    # AND a recommendation keeps its key when the API regenerates its id
    for model, rows in staged.items():
        days = {
            day: {r["recommendation_key"]: r["source_recommendation_id"] for r in rows
                  if r["snapshot_date"] == day}
            for day in (SNAPSHOT, next_day)
        }  # fmt: skip
        assert days[SNAPSHOT] and set(days[SNAPSHOT]) == set(days[next_day]), model
        if model != "ri_purchase":  # Cost Explorer gives reservation details no id
            assert all(days[SNAPSHOT][k] != days[next_day][k] for k in days[SNAPSHOT]), model
    assert {r["ledger_scope"] for r in staged["sp_purchase"]} == {SP_SCOPES[0], SP_SCOPES[1]}
    assert {r["service_name"] for r in staged["ri_purchase"]} == {EC2}


@pytest.mark.parametrize(
    ("code", "status", "disables"),
    [
        ("AccessDeniedException", 400, True),
        ("AccessDeniedException", 403, True),
        ("DataUnavailableException", 400, True),
        ("SomeNewForbiddenAnswer", 403, True),
        ("ExpiredTokenException", 403, False),
        ("UnrecognizedClientException", 403, False),
        ("ValidationException", 400, False),
        ("InternalServerException", 500, False),
    ],
)
def test_only_a_refusal_of_the_call_disables_it_bad_credentials_fail_the_run(
    code: str, status: int, disables: bool
) -> None:
    assert is_unavailable(code, status) is disables
