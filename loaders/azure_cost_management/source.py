"""The Azure Cost Management source (loaders/registry.py): its raw tables and how a run
lands them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from loaders.catalogue import AMOUNT, AMOUNT_SQL, CostMeasure, RawTable
from loaders.registry import SourceSpec

if TYPE_CHECKING:
    from finops.settings import Settings

# How every table of daily Query API / Cost Details rows is dated and attributed: UsageDate
# as a yyyymmdd integer, the subscription as the sub account.
_DAILY_ROWS = {
    "date_column": "usage_date",
    "charge_date_sql": "cast(strptime(cast(usage_date as varchar), '%Y%m%d') as date)",
    "account_sql": "subscription_id",
    "date_is_yyyymmdd": True,
    "provider_name": "Azure",
}

# One row per Cost Management Query API result row. ActualCost (billed) and AmortizedCost
# (effective) are separate queries; `query_type` says which one a row came from.
AZURE_COST_MANAGEMENT = RawTable(
    name="azure_cost_management",
    columns=(
        ("usage_date", "integer not null", pa.int32()),
        ("query_type", "varchar not null", pa.string()),
        ("subscription_id", "varchar not null", pa.string()),
        ("subscription_name", "varchar", pa.string()),
        ("service_name", "varchar not null", pa.string()),
        ("resource_location", "varchar not null", pa.string()),
        ("charge_type", "varchar not null", pa.string()),
        ("cost", AMOUNT_SQL + " not null", AMOUNT),
        ("currency", "varchar not null", pa.string()),
    ),
    **_DAILY_ROWS,
    measures=(
        CostMeasure("billed", "cost", "currency", "query_type = 'ActualCost'"),
        CostMeasure("effective", "cost", "currency", "query_type = 'AmortizedCost'"),
    ),
    key_columns=(
        "usage_date",
        "query_type",
        "subscription_id",
        "service_name",
        "resource_location",
        "charge_type",
        "currency",
    ),
)


# One row per Query API result row of the commitment queries (mapping.py, "Commitments"):
# AmortizedCost Usage per service x PricingModel (`breakdown` 'PricingModel'), and the
# Usage, UnusedReservation / UnusedSavingsPlan (AmortizedCost) and Purchase (ActualCost) rows
# per service x BenefitId (`breakdown` 'BenefitId'), i.e. which reservation or savings plan
# a row belongs to. Landed with raw.azure_cost_management in one transaction (same load, same
# ledger row). No cost measures: the money is already in raw.azure_cost_management, so the
# restatement ledger must not count it twice.
AZURE_COMMITMENT_COSTS = RawTable(
    name="azure_commitment_costs",
    columns=(
        ("usage_date", "integer not null", pa.int32()),
        ("query_type", "varchar not null", pa.string()),
        ("breakdown", "varchar not null", pa.string()),
        ("subscription_id", "varchar not null", pa.string()),
        ("subscription_name", "varchar", pa.string()),
        ("service_name", "varchar not null", pa.string()),
        ("charge_type", "varchar not null", pa.string()),
        ("pricing_model", "varchar", pa.string()),
        ("benefit_id", "varchar", pa.string()),
        ("benefit_name", "varchar", pa.string()),
        ("cost", AMOUNT_SQL + " not null", AMOUNT),
        ("currency", "varchar not null", pa.string()),
    ),
    **_DAILY_ROWS,
    measures=(),
    key_columns=(
        "usage_date",
        "query_type",
        "breakdown",
        "subscription_id",
        "service_name",
        "charge_type",
        "pricing_model",
        "benefit_id",
        "currency",
    ),
)

# One row per Query API result row of the tag queries (mapping.py, "Tags", issue #18): per
# configured allocation key (FINOPS_ALLOCATION_TAGS), cost per day x subscription x service x
# TagKey / TagValue, ActualCost and AmortizedCost. `allocation_key` is the key as configured
# (the query's grouping name), `tag_key` the TagKey as the answer spelt it (Azure tag keys are
# case-insensitive, so it may differ in case) - null on the rows of resources without the tag,
# whose `tag_value` is null too; a key-only tag has `tag_value` ''. Landed with
# raw.azure_cost_management in one transaction (same load, same ledger row). No cost
# measures: the money is already in raw.azure_cost_management (each key's rows split it by
# tag value), so the restatement ledger must not count it again.
AZURE_COST_MANAGEMENT_TAGS = RawTable(
    name="azure_cost_management_tags",
    columns=(
        ("usage_date", "integer not null", pa.int32()),
        ("query_type", "varchar not null", pa.string()),
        ("subscription_id", "varchar not null", pa.string()),
        ("service_name", "varchar not null", pa.string()),
        ("allocation_key", "varchar not null", pa.string()),
        ("tag_key", "varchar", pa.string()),
        ("tag_value", "varchar", pa.string()),
        ("cost", AMOUNT_SQL + " not null", AMOUNT),
        ("currency", "varchar not null", pa.string()),
    ),
    **_DAILY_ROWS,
    measures=(),
    key_columns=(
        "usage_date",
        "query_type",
        "subscription_id",
        "service_name",
        "allocation_key",
        "tag_key",
        "tag_value",
        "currency",
    ),
)

# The Cost Details API's reports (generateCostDetailsReport, AmortizedCost, per scope and month;
# mapping.py, "price details") summed to the grain of raw.azure_commitment_costs: day x
# subscription x service (MeterCategory) x charge type x pricing model x benefit x currency,
# with the list cost (pay-as-you-go price), the contracted cost (negotiated price) and the
# amortized cost of its rows. Landed with raw.azure_cost_management in one transaction (same
# load, same ledger row). No cost measures: the money is already in raw.azure_cost_management
# (the restatement ledger must not count it twice); the marts take only the prices from here.
AZURE_PRICE_DETAILS = RawTable(
    name="azure_price_details",
    columns=(
        ("usage_date", "integer not null", pa.int32()),
        ("subscription_id", "varchar not null", pa.string()),
        ("service_name", "varchar not null", pa.string()),
        ("charge_type", "varchar not null", pa.string()),
        ("pricing_model", "varchar", pa.string()),
        ("benefit_id", "varchar", pa.string()),
        ("currency", "varchar not null", pa.string()),
        ("list_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("contracted_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("effective_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("detail_rows", "integer not null", pa.int32()),
    ),
    **_DAILY_ROWS,
    measures=(),
    key_columns=(
        "usage_date",
        "subscription_id",
        "service_name",
        "charge_type",
        "pricing_model",
        "benefit_id",
        "currency",
    ),
)

# One row per reservation (Microsoft.Capacity reservations list) or savings plan
# (Microsoft.BillingBenefits savingsPlans list) that the scope's commitment rows name, as the
# list answered during the load: display name, term, billing plan, dates. `as_of_date` is the
# last day of the load's window (the row's place in replace-by-window; the list itself has no
# date): each load of a window replaces the previous answer, `_loaded_at` says when it was read.
AZURE_COMMITMENTS = RawTable(
    name="azure_commitments",
    columns=(
        ("as_of_date", "date not null", pa.date32()),
        ("benefit_kind", "varchar not null", pa.string()),
        ("benefit_id", "varchar not null", pa.string()),
        ("display_name", "varchar", pa.string()),
        ("sku_name", "varchar", pa.string()),
        ("term", "varchar", pa.string()),
        ("billing_plan", "varchar", pa.string()),
        ("applied_scope_type", "varchar", pa.string()),
        ("reserved_resource_type", "varchar", pa.string()),
        ("provisioning_state", "varchar", pa.string()),
        ("commitment_amount", AMOUNT_SQL, AMOUNT),
        ("commitment_currency", "varchar", pa.string()),
        ("commitment_grain", "varchar", pa.string()),
        ("purchase_time", "timestamp", pa.timestamp("us")),
        ("benefit_start_time", "timestamp", pa.timestamp("us")),
        ("effective_time", "timestamp", pa.timestamp("us")),
        ("expiry_time", "timestamp", pa.timestamp("us")),
    ),
    date_column="as_of_date",
    charge_date_sql="as_of_date",
    account_sql="cast(null as varchar)",
    measures=(),
    key_columns=("as_of_date", "benefit_id"),
    provider_name="Azure",
)


def credentials_configured() -> bool:
    """True when a service principal is configured for azure-identity."""
    return all(
        os.environ.get(name, "").strip()
        for name in ("AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET")
    )


@dataclass(frozen=True)
class CostManagementConfig:
    """What a load needs besides its window (the credential comes from azure-identity)."""

    scopes: tuple[str, ...] = ()  # FINOPS_AZURE_SCOPES; () = every listed subscription
    arm_endpoint: str = "https://management.azure.com"  # FINOPS_AZURE_ARM_ENDPOINT
    client_type: str = "finops-dashboard"  # FINOPS_AZURE_CLIENT_TYPE (ClientType header)
    max_wait_s: int = 300  # FINOPS_AZURE_MAX_WAIT_SECONDS: waiting on throttling, in all
    price_details: bool = True  # FINOPS_AZURE_PRICE_DETAILS: Cost Details reports for prices
    # FINOPS_ALLOCATION_TAGS: the tag keys queried per scope (configured spelling); () = none
    allocation_tags: tuple[str, ...] = ()
    # FINOPS_AZURE_CHANGE_DETECTION: ask only for what the totals queries show changed (off:
    # the whole window by the full scheme, every run)
    change_detection: bool = True
    # FINOPS_AZURE_DETAILS_FROM_REPORTS: a change-detecting load's changed cells from Cost
    # Details reports instead of Query API queries (off: from queries)
    details_from_reports: bool = True
    # FINOPS_AZURE_WINDOW_CHECK: with the details from reports, one window totals query per
    # query type first; the Daily totals queries only when it shows a change (off: always)
    window_check: bool = True


def configure(settings: Settings) -> CostManagementConfig:
    """The loader's configuration from the application's settings."""
    return CostManagementConfig(
        scopes=settings.azure_scopes,
        arm_endpoint=settings.azure_arm_endpoint,
        client_type=settings.azure_client_type,
        max_wait_s=settings.azure_max_wait_s,
        price_details=settings.azure_price_details,
        allocation_tags=settings.allocation_tags,
        change_detection=settings.azure_change_detection,
        details_from_reports=settings.azure_details_from_reports,
        window_check=settings.azure_window_check,
    )


SOURCE = SourceSpec(
    name="azure",
    ledger_source="azure_cost_management",
    raw_tables=(
        AZURE_COST_MANAGEMENT,
        AZURE_COMMITMENT_COSTS,
        AZURE_COMMITMENTS,
        AZURE_PRICE_DETAILS,
        AZURE_COST_MANAGEMENT_TAGS,
    ),
    dbt_sources=("azure_cost_management",),
    providers=("Azure",),
    window="restatement",
    loader="loaders.azure_cost_management:load_for_run",
    rank=20,
    summary="Azure Cost Management Query API of the configured scopes",
    planner="loaders.azure_cost_management.plan:plan_for_run",
    detect=credentials_configured,
    failure_scopes="loaders.azure_cost_management:failure_scopes",
    configure=configure,
)
