"""The AWS provider-recommendation source (loaders/registry.py, issue #19): Cost
Optimization Hub's recommendations and Cost Explorer's Savings Plans and reservation purchase
recommendations, one snapshot per run date."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

import pyarrow as pa

from loaders.aws_cost_explorer.source import DEFAULT_MAX_REQUESTS, credentials_configured
from loaders.catalogue import AMOUNT, AMOUNT_SQL, RawTable
from loaders.registry import SourceSpec

if TYPE_CHECKING:
    from finops.settings import Settings

# Every table: what the API says as of the run date (`snapshot_date`), no cost measures
# (estimated savings are not spend: nothing may reach the reconciliation or restatements).
_SNAPSHOT = {
    "date_column": "snapshot_date",
    "charge_date_sql": "snapshot_date",
    "measures": (),
    "provider_name": "AWS",
}

# One row per Cost Optimization Hub recommendation (ListRecommendations, one per resource:
# includeAllRecommendations false), as answered: identifying fields and amounts pulled out,
# the whole item (tags included) kept as JSON text.
AWS_COST_OPTIMIZATION_HUB = RawTable(
    name="aws_cost_optimization_hub_recommendations",
    columns=(
        ("snapshot_date", "date not null", pa.date32()),
        ("payer_account_id", "varchar not null", pa.string()),
        ("recommendation_id", "varchar not null", pa.string()),
        ("account_id", "varchar", pa.string()),
        ("region", "varchar", pa.string()),
        ("resource_id", "varchar", pa.string()),
        ("resource_arn", "varchar", pa.string()),
        ("current_resource_type", "varchar", pa.string()),
        ("recommended_resource_type", "varchar", pa.string()),
        ("action_type", "varchar", pa.string()),
        ("estimated_monthly_savings", AMOUNT_SQL, AMOUNT),
        ("estimated_monthly_cost", AMOUNT_SQL, AMOUNT),
        ("estimated_savings_percentage", AMOUNT_SQL, AMOUNT),
        ("currency_code", "varchar", pa.string()),
        ("implementation_effort", "varchar", pa.string()),
        ("restart_needed", "boolean", pa.bool_()),
        ("rollback_possible", "boolean", pa.bool_()),
        ("current_resource_summary", "varchar", pa.string()),
        ("recommended_resource_summary", "varchar", pa.string()),
        ("last_refresh_timestamp", "timestamp", pa.timestamp("us")),
        ("lookback_days", "integer", pa.int32()),
        ("recommendation_source", "varchar", pa.string()),
        ("item_json", "varchar", pa.string()),
    ),
    **_SNAPSHOT,
    account_sql="coalesce(account_id, payer_account_id)",
    key_columns=("snapshot_date", "recommendation_id"),
)

# One row per Savings Plans purchase recommendation detail (GetSavingsPlansPurchaseRecommendation,
# one request per Savings Plans type), with the query's term, payment option and look-back;
# the whole detail kept as JSON text.
AWS_SP_PURCHASE = RawTable(
    name="aws_sp_purchase_recommendations",
    columns=(
        ("snapshot_date", "date not null", pa.date32()),
        ("payer_account_id", "varchar not null", pa.string()),
        ("savings_plans_type", "varchar not null", pa.string()),
        ("recommendation_id", "varchar not null", pa.string()),
        ("term_in_years", "varchar", pa.string()),
        ("payment_option", "varchar", pa.string()),
        ("lookback_period", "varchar", pa.string()),
        ("account_scope", "varchar", pa.string()),
        ("account_id", "varchar", pa.string()),
        ("region", "varchar", pa.string()),
        ("instance_family", "varchar", pa.string()),
        ("offering_id", "varchar", pa.string()),
        ("hourly_commitment", AMOUNT_SQL, AMOUNT),
        ("upfront_cost", AMOUNT_SQL, AMOUNT),
        ("estimated_monthly_savings", AMOUNT_SQL, AMOUNT),
        ("estimated_savings_percentage", AMOUNT_SQL, AMOUNT),
        ("estimated_average_utilization", AMOUNT_SQL, AMOUNT),
        ("currency_code", "varchar", pa.string()),
        ("item_json", "varchar", pa.string()),
    ),
    **_SNAPSHOT,
    account_sql="coalesce(account_id, payer_account_id)",
    key_columns=("snapshot_date", "savings_plans_type", "recommendation_id"),
)

# One row per reservation purchase recommendation detail (GetReservationPurchaseRecommendation,
# one request per service), the instance details and the whole detail kept as JSON text.
AWS_RI_PURCHASE = RawTable(
    name="aws_ri_purchase_recommendations",
    columns=(
        ("snapshot_date", "date not null", pa.date32()),
        ("payer_account_id", "varchar not null", pa.string()),
        ("service", "varchar not null", pa.string()),
        ("recommendation_id", "varchar not null", pa.string()),
        ("term_in_years", "varchar", pa.string()),
        ("payment_option", "varchar", pa.string()),
        ("lookback_period", "varchar", pa.string()),
        ("account_scope", "varchar", pa.string()),
        ("account_id", "varchar", pa.string()),
        ("region", "varchar", pa.string()),
        ("instance_type", "varchar", pa.string()),
        ("instance_details", "varchar", pa.string()),
        ("recommended_instances", AMOUNT_SQL, AMOUNT),
        ("upfront_cost", AMOUNT_SQL, AMOUNT),
        ("estimated_monthly_savings", AMOUNT_SQL, AMOUNT),
        ("estimated_monthly_savings_percentage", AMOUNT_SQL, AMOUNT),
        ("estimated_monthly_on_demand_cost", AMOUNT_SQL, AMOUNT),
        ("currency_code", "varchar", pa.string()),
        ("item_json", "varchar", pa.string()),
    ),
    **_SNAPSHOT,
    account_sql="coalesce(account_id, payer_account_id)",
    key_columns=("snapshot_date", "service", "recommendation_id"),
)

# The Savings Plans types and reservation services asked for: one Cost Explorer request
# each per run (USD 0.01), and more only for pages.
SAVINGS_PLANS_TYPES = ("COMPUTE_SP", "EC2_INSTANCE_SP", "SAGEMAKER_SP")
RESERVATION_SERVICES = (
    "Amazon Elastic Compute Cloud - Compute",
    "Amazon Relational Database Service",
    "Amazon ElastiCache",
)


@dataclass(frozen=True)
class AwsRecommendationsConfig:
    """What a load needs (credentials come from boto3's chain, as for the cost source)."""

    cost_optimization_hub: bool = True  # FINOPS_AWS_COST_OPTIMIZATION_HUB
    sp_purchase: bool = True  # FINOPS_AWS_SP_PURCHASE_RECOMMENDATIONS
    ri_purchase: bool = True  # FINOPS_AWS_RI_PURCHASE_RECOMMENDATIONS
    # FINOPS_AWS_MAX_REQUESTS: Cost Explorer requests one load may spend
    max_requests: int = DEFAULT_MAX_REQUESTS
    role_arn: str | None = None  # FINOPS_AWS_ROLE_ARN
    external_id: str | None = None  # FINOPS_AWS_EXTERNAL_ID
    term: str = "ONE_YEAR"
    payment_option: str = "NO_UPFRONT"
    lookback: str = "THIRTY_DAYS"
    # FINOPS_AWS_MONTHLY_API_BUDGET_USD: shared with the cost source (None: no monthly budget)
    monthly_budget_usd: Decimal | None = None


def configure(settings: Settings) -> AwsRecommendationsConfig:
    """The loader's configuration from the application's settings."""
    return AwsRecommendationsConfig(
        cost_optimization_hub=settings.aws_cost_optimization_hub,
        sp_purchase=settings.aws_sp_purchase_recommendations,
        ri_purchase=settings.aws_ri_purchase_recommendations,
        max_requests=settings.aws_max_requests,
        role_arn=settings.aws_role_arn,
        external_id=settings.aws_external_id,
        monthly_budget_usd=settings.aws_monthly_api_budget_usd,
    )


SOURCE = SourceSpec(
    name="aws_recommendations",
    ledger_source="aws_recommendations",
    raw_tables=(AWS_COST_OPTIMIZATION_HUB, AWS_SP_PURCHASE, AWS_RI_PURCHASE),
    dbt_sources=("aws_recommendations",),
    providers=("AWS",),
    window="snapshot",
    loader="loaders.aws_recommendations:load_for_run",
    rank=15,
    summary="AWS Cost Optimization Hub and Cost Explorer purchase recommendations",
    plan_note=(
        "one Cost Explorer request (USD 0.01) per purchase recommendation call enabled - 6 a "
        "run by default - plus the free Cost Optimization Hub pages; capped by the same "
        "monthly budget as the cost source"
    ),
    detect=credentials_configured,
    failure_scopes="loaders.aws_recommendations:failure_scopes",
    configure=configure,
)
