"""The AWS Cost Explorer source (loaders/registry.py): its raw table and how a run lands it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import pyarrow as pa

from loaders.catalogue import AMOUNT, AMOUNT_SQL, CostMeasure, RawTable
from loaders.registry import SourceSpec

if TYPE_CHECKING:
    from finops.settings import Settings

# One row per Cost Explorer ResultsByTime[i].Groups[j], at the grain
# day x linked account x service x region x record type (see loaders/aws_cost_explorer).
AWS_COST_EXPLORER = RawTable(
    name="aws_cost_explorer",
    columns=(
        ("time_period_start", "date not null", pa.date32()),
        ("time_period_end", "date not null", pa.date32()),
        ("estimated", "boolean not null", pa.bool_()),
        ("linked_account_id", "varchar not null", pa.string()),
        ("linked_account_name", "varchar", pa.string()),
        ("service", "varchar not null", pa.string()),
        ("region", "varchar not null", pa.string()),
        ("record_type", "varchar not null", pa.string()),
        ("unblended_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("unblended_cost_unit", "varchar not null", pa.string()),
        ("amortized_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("amortized_cost_unit", "varchar not null", pa.string()),
        ("usage_quantity", AMOUNT_SQL, AMOUNT),
        ("usage_quantity_unit", "varchar", pa.string()),
    ),
    date_column="time_period_start",
    charge_date_sql="time_period_start",
    account_sql="linked_account_id",
    measures=(
        CostMeasure("billed", "unblended_cost", "unblended_cost_unit"),
        CostMeasure("effective", "amortized_cost", "amortized_cost_unit"),
    ),
    key_columns=(
        "time_period_start",
        "linked_account_id",
        "service",
        "region",
        "record_type",
        "unblended_cost_unit",
    ),
    provider_name="AWS",
)

# One row per commitment (savings plan ARN or reservation) and day, from Cost Explorer's
# commitment operations (loaders/aws_cost_explorer/commitments.py): which commitment the
# SavingsPlan* / DiscountedUsage / RIFee cost rows belong to, its terms and its used and unused
# amortized commitment. No cost measures: the money is already in raw.aws_cost_explorer, so
# the restatement ledger must not count it twice.
AWS_COMMITMENT_UTILIZATION = RawTable(
    name="aws_commitment_utilization",
    columns=(
        ("time_period_start", "date not null", pa.date32()),
        ("commitment_kind", "varchar not null", pa.string()),
        ("commitment_id", "varchar not null", pa.string()),
        ("owner_account_id", "varchar", pa.string()),
        ("commitment_type", "varchar", pa.string()),
        ("region", "varchar", pa.string()),
        ("instance_family", "varchar", pa.string()),
        ("start_date", "date", pa.date32()),
        ("end_date", "date", pa.date32()),
        ("term", "varchar", pa.string()),
        ("payment_option", "varchar", pa.string()),
        ("used_amount", AMOUNT_SQL + " not null", AMOUNT),
        ("unused_amount", AMOUNT_SQL + " not null", AMOUNT),
        ("on_demand_cost_equivalent", AMOUNT_SQL, AMOUNT),
        ("net_savings", AMOUNT_SQL, AMOUNT),
        ("currency", "varchar not null", pa.string()),
    ),
    date_column="time_period_start",
    charge_date_sql="time_period_start",
    account_sql="owner_account_id",
    measures=(),
    key_columns=("time_period_start", "commitment_kind", "commitment_id"),
    provider_name="AWS",
)

# One row per day and commitment kind (savings plans: all services; reservations: per
# service) from Cost Explorer's coverage operations (loaders/aws_cost_explorer/commitments.py):
# the coverage AWS itself reports, in on-demand terms (covered spend, on-demand cost) and in
# hours (reservations). Not a source of the marts' coverage - that is computed from the
# record types, to the cent of the bill - but the cross-check of it (dbt test
# assert_aws_commitment_coverage_agrees). No cost measures: the money is in
# raw.aws_cost_explorer.
AWS_COMMITMENT_COVERAGE = RawTable(
    name="aws_commitment_coverage",
    columns=(
        ("time_period_start", "date not null", pa.date32()),
        ("commitment_kind", "varchar not null", pa.string()),
        ("service", "varchar", pa.string()),
        ("covered_cost", AMOUNT_SQL, AMOUNT),
        ("on_demand_cost", AMOUNT_SQL, AMOUNT),
        ("total_cost", AMOUNT_SQL, AMOUNT),
        ("reserved_hours", AMOUNT_SQL, AMOUNT),
        ("on_demand_hours", AMOUNT_SQL, AMOUNT),
        ("total_running_hours", AMOUNT_SQL, AMOUNT),
        ("coverage_percentage", AMOUNT_SQL, AMOUNT),
        ("currency", "varchar not null", pa.string()),
    ),
    date_column="time_period_start",
    charge_date_sql="time_period_start",
    account_sql="cast(null as varchar)",
    measures=(),
    key_columns=("time_period_start", "commitment_kind", "service"),
    provider_name="AWS",
)


# One row per Cost Explorer group of the tag queries (loaders/aws_cost_explorer/mapping.py
# `tag_request`): one DAILY query per configured allocation tag key (FINOPS_ALLOCATION_TAGS)
# and linked account, grouped by TAG <key> and SERVICE. Grain: day x linked account x service
# x tag key x tag value. `tag_key` is the key as Cost Explorer answered it (the part of the
# group key before `$`), `tag_value` the part after it: '' for the costs without the tag
# (Cost Explorer's `<key>$`). No cost measures: the money is already in
# raw.aws_cost_explorer (each key's rows of an account add up to that account's costs), so
# the restatement ledger must not count it again.
AWS_COST_EXPLORER_TAGS = RawTable(
    name="aws_cost_explorer_tags",
    columns=(
        ("time_period_start", "date not null", pa.date32()),
        ("time_period_end", "date not null", pa.date32()),
        ("estimated", "boolean not null", pa.bool_()),
        ("linked_account_id", "varchar not null", pa.string()),
        ("service", "varchar not null", pa.string()),
        ("tag_key", "varchar not null", pa.string()),
        ("tag_value", "varchar not null", pa.string()),
        ("unblended_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("unblended_cost_unit", "varchar not null", pa.string()),
        ("amortized_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("amortized_cost_unit", "varchar not null", pa.string()),
    ),
    date_column="time_period_start",
    charge_date_sql="time_period_start",
    account_sql="linked_account_id",
    measures=(),
    key_columns=("time_period_start", "linked_account_id", "service", "tag_key", "tag_value"),
    provider_name="AWS",
)


def credentials_configured() -> bool:
    """True when boto3's standard chain has something explicit to go on.

    Checked without calling AWS: access keys, a named profile, web identity, or a container
    credentials endpoint. An instance role alone is not detected; say `FINOPS_SOURCES=aws`.
    """
    return any(
        os.environ.get(name, "").strip()
        for name in (
            "AWS_ACCESS_KEY_ID",
            "AWS_PROFILE",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
            "AWS_CONTAINER_CREDENTIALS_FULL_URI",
            "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        )
    )


# FINOPS_AWS_MAX_REQUESTS' default: USD 10 of requests one load may spend. A 300-account
# organisation's first load of 60 days takes 506 (bench/README.md), its daily runs 67-107.
DEFAULT_MAX_REQUESTS = 1_000


@dataclass(frozen=True)
class CostExplorerConfig:
    """What a load needs besides its window (credentials come from boto3's chain)."""

    max_requests: int = DEFAULT_MAX_REQUESTS  # FINOPS_AWS_MAX_REQUESTS: requests one load may spend
    role_arn: str | None = None  # FINOPS_AWS_ROLE_ARN: assumed before querying
    external_id: str | None = None  # FINOPS_AWS_EXTERNAL_ID: the role's external id
    # FINOPS_ALLOCATION_TAGS: one tag query per key and linked account (none: no tag query)
    allocation_tags: tuple[str, ...] = ()
    # FINOPS_AWS_CHANGE_DETECTION: ask only for what the totals pass shows changed (off: the
    # whole window at full grain, every run)
    change_detection: bool = True
    # FINOPS_AWS_MONTHLY_API_BUDGET_USD: USD of Cost Explorer requests a calendar month (UTC)
    # may cost, every AWS source together (None: no monthly budget)
    monthly_budget_usd: Decimal | None = None


def configure(settings: Settings) -> CostExplorerConfig:
    """The loader's configuration from the application's settings."""
    return CostExplorerConfig(
        max_requests=settings.aws_max_requests,
        role_arn=settings.aws_role_arn,
        external_id=settings.aws_external_id,
        allocation_tags=settings.allocation_tags,
        change_detection=settings.aws_change_detection,
        monthly_budget_usd=settings.aws_monthly_api_budget_usd,
    )


SOURCE = SourceSpec(
    name="aws",
    ledger_source="aws_cost_explorer",
    raw_tables=(
        AWS_COST_EXPLORER,
        AWS_COMMITMENT_UTILIZATION,
        AWS_COMMITMENT_COVERAGE,
        AWS_COST_EXPLORER_TAGS,
    ),
    dbt_sources=("aws_cost_explorer",),
    providers=("AWS",),
    window="restatement",
    loader="loaders.aws_cost_explorer:load_for_run",
    rank=10,
    summary="AWS Cost Explorer (GetCostAndUsage) of the payer account",
    detect=credentials_configured,
    failure_scopes="loaders.aws_cost_explorer:failure_scopes",
    planner="loaders.aws_cost_explorer.plan:plan_for_run",
    configure=configure,
)
