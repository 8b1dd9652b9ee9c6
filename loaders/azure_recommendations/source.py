"""The Azure provider-recommendation source (loaders/registry.py, issue #19): Advisor cost
recommendations and reservation purchase recommendations, one snapshot per run date."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from loaders.azure_cost_management.source import credentials_configured
from loaders.catalogue import AMOUNT, AMOUNT_SQL, RawTable
from loaders.registry import SourceSpec

if TYPE_CHECKING:
    from finops.settings import Settings

# Both tables: what the API says as of the run date (`snapshot_date`), no cost measures
# (estimated savings are not spend: nothing may reach the reconciliation or restatements).
_SNAPSHOT = {
    "date_column": "snapshot_date",
    "charge_date_sql": "snapshot_date",
    "account_sql": "subscription_id",
    "measures": (),
    "provider_name": "Azure",
}

# One row per Advisor recommendation of category Cost (GET .../Microsoft.Advisor/
# recommendations), as answered: the savings and the action fields of extendedProperties
# pulled out, the whole extendedProperties kept as JSON text.
AZURE_ADVISOR_RECOMMENDATIONS = RawTable(
    name="azure_advisor_recommendations",
    columns=(
        ("snapshot_date", "date not null", pa.date32()),
        ("subscription_id", "varchar not null", pa.string()),
        ("recommendation_id", "varchar not null", pa.string()),
        ("recommendation_name", "varchar", pa.string()),
        ("recommendation_type_id", "varchar", pa.string()),
        ("category", "varchar", pa.string()),
        ("impact", "varchar", pa.string()),
        ("impacted_field", "varchar", pa.string()),
        ("impacted_value", "varchar", pa.string()),
        ("last_updated", "timestamp", pa.timestamp("us")),
        ("problem", "varchar", pa.string()),
        ("solution", "varchar", pa.string()),
        ("resource_id", "varchar", pa.string()),
        ("savings_amount", AMOUNT_SQL, AMOUNT),
        ("annual_savings_amount", AMOUNT_SQL, AMOUNT),
        ("savings_currency", "varchar", pa.string()),
        ("current_sku", "varchar", pa.string()),
        ("target_sku", "varchar", pa.string()),
        ("term", "varchar", pa.string()),
        ("region", "varchar", pa.string()),
        ("extended_properties", "varchar", pa.string()),
    ),
    **_SNAPSHOT,
    key_columns=("snapshot_date", "recommendation_id"),
)

# One row per reservation purchase recommendation (GET {scope}/providers/Microsoft.Consumption/
# reservationRecommendations), legacy or modern answer; amounts of a modern answer are
# {currency, value} objects, landed as amount + currency. `net_savings` is over the
# look-back period, as the API answers it (staging makes it monthly).
AZURE_RESERVATION_RECOMMENDATIONS = RawTable(
    name="azure_reservation_recommendations",
    columns=(
        ("snapshot_date", "date not null", pa.date32()),
        ("scope", "varchar not null", pa.string()),
        ("subscription_id", "varchar", pa.string()),
        ("recommendation_id", "varchar not null", pa.string()),
        ("kind", "varchar not null", pa.string()),
        ("location", "varchar", pa.string()),
        ("sku_name", "varchar", pa.string()),
        ("normalized_size", "varchar", pa.string()),
        ("resource_type", "varchar", pa.string()),
        ("recommendation_scope", "varchar", pa.string()),
        ("term", "varchar", pa.string()),
        ("look_back_period", "varchar", pa.string()),
        ("recommended_quantity", AMOUNT_SQL, AMOUNT),
        ("meter_id", "varchar", pa.string()),
        ("cost_with_no_reserved_instances", AMOUNT_SQL, AMOUNT),
        ("total_cost_with_reserved_instances", AMOUNT_SQL, AMOUNT),
        ("net_savings", AMOUNT_SQL, AMOUNT),
        ("currency", "varchar", pa.string()),
        ("first_usage_date", "timestamp", pa.timestamp("us")),
        ("instance_flexibility_ratio", AMOUNT_SQL, AMOUNT),
        ("instance_flexibility_group", "varchar", pa.string()),
    ),
    **{**_SNAPSHOT, "account_sql": "subscription_id"},
    key_columns=("snapshot_date", "scope", "recommendation_id"),
)


@dataclass(frozen=True)
class AzureRecommendationsConfig:
    """What a load needs (the credential comes from azure-identity, as for the cost source)."""

    scopes: tuple[str, ...] = ()  # FINOPS_AZURE_SCOPES; () = every listed subscription
    arm_endpoint: str = "https://management.azure.com"  # FINOPS_AZURE_ARM_ENDPOINT
    client_type: str = "finops-dashboard"  # FINOPS_AZURE_CLIENT_TYPE
    max_wait_s: int = 300  # FINOPS_AZURE_MAX_WAIT_SECONDS
    advisor: bool = True  # FINOPS_AZURE_ADVISOR
    reservations: bool = True  # FINOPS_AZURE_RESERVATION_RECOMMENDATIONS
    lookback: str = "Last30Days"  # FINOPS_AZURE_RESERVATION_LOOKBACK


def configure(settings: Settings) -> AzureRecommendationsConfig:
    """The loader's configuration from the application's settings."""
    return AzureRecommendationsConfig(
        scopes=settings.azure_scopes,
        arm_endpoint=settings.azure_arm_endpoint,
        client_type=settings.azure_client_type,
        max_wait_s=settings.azure_max_wait_s,
        advisor=settings.azure_advisor,
        reservations=settings.azure_reservation_recommendations,
        lookback=settings.azure_reservation_lookback,
    )


SOURCE = SourceSpec(
    name="azure_recommendations",
    ledger_source="azure_recommendations",
    raw_tables=(AZURE_ADVISOR_RECOMMENDATIONS, AZURE_RESERVATION_RECOMMENDATIONS),
    dbt_sources=("azure_recommendations",),
    providers=("Azure",),
    window="snapshot",
    loader="loaders.azure_recommendations:load_for_run",
    rank=25,
    summary="Azure Advisor cost and reservation purchase recommendations",
    plan_note="Advisor and Consumption list requests are free of charge",
    detect=credentials_configured,
    failure_scopes="loaders.azure_recommendations:failure_scopes",
    configure=configure,
)
