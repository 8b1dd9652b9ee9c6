"""The FOCUS export files source (loaders/registry.py): its raw table and how a run lands it."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from loaders.catalogue import AMOUNT, AMOUNT_SQL, CostMeasure, RawTable
from loaders.registry import SourceSpec

if TYPE_CHECKING:
    from finops.settings import Settings

# FOCUS export files (loaders/focus_files) rolled up to days: one row per billing period x
# charge day x every kept FOCUS dimension, FOCUS values as the files wrote them. A load's
# scope is one billing period of one billing account (`<ProviderName>/<BillingAccountId>@
# <BillingPeriodStart>`), so its window is placed by billing_period_start; the window itself
# spans every charge day the period's rows (old and new) have, which the incremental marts
# rebuild.
_FOCUS_DIMENSIONS = (
    "billing_account_id", "billing_account_name", "sub_account_id", "sub_account_name",
    "provider_name", "publisher_name", "invoice_issuer_name", "service_name",
    "service_category", "service_subcategory", "region_id", "region_name", "charge_category",
    "charge_class", "charge_frequency", "pricing_category", "billing_currency",
    "consumed_unit", "x_service_code", "commitment_discount_id", "commitment_discount_name",
    "commitment_discount_type", "commitment_discount_category", "commitment_discount_status",
    "commitment_discount_unit", "x_allocation_tags",
)  # fmt: skip
_FOCUS_NOT_NULL = (
    "billing_account_id",
    "provider_name",
    "service_name",
    "charge_category",
    "billing_currency",
)
FOCUS_COSTS = RawTable(
    name="focus_costs",
    columns=(
        ("billing_period_start", "date not null", pa.date32()),
        ("billing_period_end", "date not null", pa.date32()),
        ("charge_date", "date not null", pa.date32()),
        *(
            (name, "varchar not null" if name in _FOCUS_NOT_NULL else "varchar", pa.string())
            for name in _FOCUS_DIMENSIONS
        ),
        ("billed_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("effective_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("list_cost", AMOUNT_SQL, AMOUNT),
        ("contracted_cost", AMOUNT_SQL, AMOUNT),
        ("consumed_quantity", AMOUNT_SQL, AMOUNT),
        ("commitment_discount_quantity", AMOUNT_SQL, AMOUNT),
        ("x_source_rows", "bigint not null", pa.int64()),
        ("x_focus_version", "varchar not null", pa.string()),
        ("x_file_set_sha256", "varchar not null", pa.string()),
        # the surplus copies of file rows held more than once (every value alike) among
        # x_source_rows, and their billed cost (in billed_cost, as the file bills them);
        # nullable: added to older warehouses, whose periods re-land once (ROLLUP_VERSION)
        ("x_duplicate_rows", "bigint", pa.int64()),
        ("x_duplicate_billed_cost", AMOUNT_SQL, AMOUNT),
    ),
    date_column="billing_period_start",
    charge_date_sql="charge_date",
    account_sql="coalesce(sub_account_id, billing_account_id)",
    measures=(
        CostMeasure("billed", "billed_cost", "billing_currency"),
        CostMeasure("effective", "effective_cost", "billing_currency"),
    ),
    key_columns=("billing_period_start", "charge_date", *_FOCUS_DIMENSIONS),
)

# The resource grain of the last FINOPS_FOCUS_RESOURCE_DAYS days of the files (issue #19,
# loaders/focus_files/mapping.py RESOURCE_COLUMNS): one row per billing period x charge day x
# resource (ResourceId, name, type, SKU, meter, AWS usage type) x the dimensions the
# billing-data rules read, costs and quantities summed, rows without a ResourceId left out.
# Replaced with its billing period; after each import only the last days of the table (from
# its latest charge date) are kept, so a first import and daily imports hold the same rows.
# No cost measures: the money is in raw.focus_costs (nothing is counted twice).
_RESOURCE_DIMENSIONS = (
    "provider_name", "billing_account_id", "sub_account_id", "service_name",
    "service_category", "region_id", "charge_category", "pricing_category",
    "commitment_discount_status", "billing_currency", "consumed_unit", "resource_id",
    "resource_name", "resource_type", "sku_id", "sku_meter", "x_usage_type",
)  # fmt: skip
FOCUS_RESOURCE_COSTS = RawTable(
    name="focus_resource_costs",
    columns=(
        ("billing_period_start", "date not null", pa.date32()),
        ("charge_date", "date not null", pa.date32()),
        *(
            (
                name,
                "varchar not null" if name in (*_FOCUS_NOT_NULL, "resource_id") else "varchar",
                pa.string(),
            )
            for name in _RESOURCE_DIMENSIONS
        ),
        ("billed_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("effective_cost", AMOUNT_SQL + " not null", AMOUNT),
        ("list_cost", AMOUNT_SQL, AMOUNT),
        ("consumed_quantity", AMOUNT_SQL, AMOUNT),
        ("x_source_rows", "bigint not null", pa.int64()),
    ),
    date_column="billing_period_start",
    charge_date_sql="charge_date",
    account_sql="coalesce(sub_account_id, billing_account_id)",
    measures=(),
    key_columns=("billing_period_start", "charge_date", *_RESOURCE_DIMENSIONS),
)

# The storage snapshots' charge spans (issue #19, loaders/focus_files/mapping.py SNAPSHOT_SQL):
# one row per billing period x snapshot (ResourceId) with its first and last charge day in
# that period, from every file read - not bounded to the last days, so a snapshot's age (its
# first charge) is known. Replaced with its billing period, never pruned. Kept with the
# resource grain only (FINOPS_FOCUS_RESOURCE_DAYS > 0). No money: dates only.
FOCUS_SNAPSHOT_SPANS = RawTable(
    name="focus_snapshot_spans",
    columns=(
        ("billing_period_start", "date not null", pa.date32()),
        ("provider_name", "varchar not null", pa.string()),
        ("billing_account_id", "varchar not null", pa.string()),
        ("sub_account_id", "varchar", pa.string()),
        ("resource_id", "varchar not null", pa.string()),
        ("first_charge_date", "date not null", pa.date32()),
        ("last_charge_date", "date not null", pa.date32()),
        ("x_source_rows", "bigint not null", pa.int64()),
    ),
    date_column="billing_period_start",
    charge_date_sql="last_charge_date",
    account_sql="coalesce(sub_account_id, billing_account_id)",
    measures=(),
    key_columns=(
        "billing_period_start",
        "provider_name",
        "billing_account_id",
        "sub_account_id",
        "resource_id",
    ),
)


def path_configured() -> bool:
    """True when FINOPS_FOCUS_PATH names FOCUS export files to import."""
    return bool(os.environ.get("FINOPS_FOCUS_PATH", "").strip())


@dataclass(frozen=True)
class FocusFilesConfig:
    """What an import needs: where the files are (FINOPS_FOCUS_PATH), which Tags keys its
    rows keep (FINOPS_ALLOCATION_TAGS) and how many recent days it keeps per resource
    (FINOPS_FOCUS_RESOURCE_DAYS)."""

    path: str | None = None  # a file, a folder or s3://bucket/prefix
    allocation_tags: tuple[str, ...] = ()
    resource_days: int = 35  # FINOPS_FOCUS_RESOURCE_DAYS: days kept at resource grain (0: none)


def configure(settings: Settings) -> FocusFilesConfig:
    """The loader's configuration from the application's settings."""
    return FocusFilesConfig(
        path=settings.focus_path,
        allocation_tags=settings.allocation_tags,
        resource_days=settings.focus_resource_days,
    )


SOURCE = SourceSpec(
    name="focus",
    ledger_source="focus_files",
    raw_tables=(FOCUS_COSTS, FOCUS_RESOURCE_COSTS, FOCUS_SNAPSHOT_SPANS),
    dbt_sources=("focus_files",),
    providers=(),  # any provider: each billing period names its own
    window="files",
    loader="loaders.focus_files:load_for_run",
    rank=30,
    summary="FOCUS export files at FINOPS_FOCUS_PATH (any provider)",
    plan_note="reads files: no API request",
    detect=path_configured,
    auto_alone=True,
    input_signature="loaders.focus_files.loader:input_signature",
    configure=configure,
    unconfigured_error=(
        "FINOPS_SOURCES includes focus but FINOPS_FOCUS_PATH is not set: give a FOCUS "
        "file, a folder or s3://bucket/prefix"
    ),
)
