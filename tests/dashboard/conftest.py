"""Warehouses for the dashboard tests.

Every dashboard test takes the `warehouse` fixture: the path of a serving DuckDB file that
holds the marts. Today it is `serving_db`, a small handcrafted file with exactly the contract
columns; switching to the pipeline-built marts is one line (`return built_warehouse`).
`dashboard_env` points the settings at whichever file that is. The tests compute every
expected value with their own SQL over the file, so they hold for either.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from finops.settings import load_settings

LAST_DAY = date(2026, 1, 31)
DAYS = 40
EUR_USD = Decimal("1.08")

# provider, billing account, sub account id, name, billing currency
ACCOUNTS = [
    ("AWS", "999999999999", "111111111111", "aws-prod", "USD"),
    ("AWS", "999999999999", "222222222222", "aws-dev", "USD"),
    ("Azure", "ba-emea", "0f1e2d3c-0000-4000-8000-00000000e001", "azure-emea", "EUR"),
    ("Azure", "ba-us", "0f1e2d3c-0000-4000-8000-00000000a002", "azure-us", "USD"),
]
# provider, service, category, subcategory, typical daily cost (billing currency)
SERVICES = [
    ("AWS", "Amazon Elastic Compute Cloud", "Compute", "Virtual Machines", 120),
    ("AWS", "Amazon Simple Storage Service", "Storage", "Object Storage", 40),
    ("AWS", "Amazon Relational Database Service", "Databases", "Relational Databases", 65),
    ("AWS", "AWS Lambda", "Compute", "Serverless Compute", 9),
    ("AWS", "AmazonCloudWatch", "Management and Governance", "Observability", 6),
    ("AWS", "Amazon DynamoDB", "Databases", "NoSQL Databases", 14),
    ("Azure", "Virtual Machines", "Compute", "Virtual Machines", 95),
    ("Azure", "Storage", "Storage", "Object Storage", 30),
    ("Azure", "SQL Database", "Databases", "Relational Databases", 55),
    ("Azure", "Azure Monitor", "Management and Governance", "Observability", 4),
    ("Azure", "Azure Cosmos DB", "Databases", "NoSQL Databases", 18),
    ("Azure", "Functions", "Compute", "Serverless Compute", 3),
]
REGIONS = {"AWS": "us-east-1", "Azure": "westeurope"}

DAILY_COLUMNS = """
    cast(daily_cost_id as varchar) as daily_cost_id,
    cast(charge_date as date) as charge_date,
    cast(provider_name as varchar) as provider_name,
    cast(billing_account_id as varchar) as billing_account_id,
    cast(sub_account_id as varchar) as sub_account_id,
    cast(sub_account_name as varchar) as sub_account_name,
    cast(service_name as varchar) as service_name,
    cast(service_category as varchar) as service_category,
    cast(service_subcategory as varchar) as service_subcategory,
    cast(region_id as varchar) as region_id,
    cast(charge_category as varchar) as charge_category,
    cast(charge_class as varchar) as charge_class,
    cast(billing_currency as varchar) as billing_currency,
    cast(billed_cost as decimal(18, 6)) as billed_cost,
    cast(effective_cost as decimal(18, 6)) as effective_cost,
    cast(reporting_currency as varchar) as reporting_currency,
    cast(fx_rate as decimal(18, 8)) as fx_rate,
    cast(billed_cost_reporting as decimal(18, 6)) as billed_cost_reporting,
    cast(effective_cost_reporting as decimal(18, 6)) as effective_cost_reporting,
    cast(is_estimated as boolean) as is_estimated
"""

# (day offset from LAST_DAY, sub account name, service, factor applied to the usage cost)
SPIKES = [
    (3, "aws-prod", "Amazon Elastic Compute Cloud", Decimal("3.5")),
    (9, "azure-emea", "SQL Database", Decimal("4.0")),
    (14, "aws-dev", "Amazon DynamoDB", Decimal("0.1")),
    (35, "azure-us", "Virtual Machines", Decimal("2.5")),
]


def _key(*parts: object) -> str:
    return hashlib.md5("|".join(map(str, parts)).encode()).hexdigest()


def _daily_rows() -> pd.DataFrame:
    rng = random.Random(7)
    spikes = {(LAST_DAY - timedelta(days=d), acct, svc): f for d, acct, svc, f in SPIKES}
    rows = []
    for offset in range(DAYS):
        day = LAST_DAY - timedelta(days=offset)
        for provider, billing_account, account_id, account, currency in ACCOUNTS:
            fx = EUR_USD if currency == "EUR" else Decimal(1)
            for svc_provider, service, category, subcategory, typical in SERVICES:
                if svc_provider != provider:
                    continue
                usage = Decimal(typical) * Decimal(rng.uniform(0.8, 1.2)).quantize(
                    Decimal("0.0001")
                )
                usage *= spikes.get((day, account, service), Decimal(1))
                charges = [("Usage", None, usage, usage)]
                if service in ("Amazon Elastic Compute Cloud", "Virtual Machines"):
                    # A commitment: bought on the 1st, amortized over the month.
                    bought = Decimal(300) if day.day == 1 else Decimal(0)
                    charges.append(("Purchase", None, bought, Decimal(10)))
                if service == "Amazon Simple Storage Service" and day.day == 15:
                    charges.append(("Credit", None, Decimal(-25), Decimal(-25)))
                    charges.append(("Adjustment", "Correction", Decimal("-1.5"), Decimal("-1.5")))
                for category_name, charge_class, billed, effective in charges:
                    billed = billed.quantize(Decimal("0.000001"))
                    effective = effective.quantize(Decimal("0.000001"))
                    rows.append(
                        {
                            "daily_cost_id": _key(day, account_id, service, category_name),
                            "charge_date": day,
                            "provider_name": provider,
                            "billing_account_id": billing_account,
                            "sub_account_id": account_id,
                            "sub_account_name": account,
                            "service_name": service,
                            "service_category": category,
                            "service_subcategory": subcategory,
                            "region_id": REGIONS[provider],
                            "charge_category": category_name,
                            "charge_class": charge_class,
                            "billing_currency": currency,
                            "billed_cost": billed,
                            "effective_cost": effective,
                            "reporting_currency": "USD",
                            "fx_rate": fx,
                            "billed_cost_reporting": (billed * fx).quantize(Decimal("0.000001")),
                            "effective_cost_reporting": (effective * fx).quantize(
                                Decimal("0.000001")
                            ),
                            "is_estimated": offset < 2,
                        }
                    )
    return pd.DataFrame(rows)


def build_serving_db(path: Path) -> Path:
    """Write a serving copy with the three marts, shaped exactly like the contract."""
    daily = _daily_rows()  # noqa: F841  (read by DuckDB's replacement scan)
    con = duckdb.connect(str(path))
    try:
        con.execute("create schema marts")
        con.execute(f"create table marts.fct_daily_costs as select {DAILY_COLUMNS} from daily")
        con.execute(
            """
            create table marts.fct_cost_anomalies as
            with usage as (
                select charge_date, provider_name, sub_account_id, sub_account_name,
                    service_name, reporting_currency, sum(billed_cost_reporting) as cost
                from marts.fct_daily_costs
                where charge_category = 'Usage'
                group by all
            ),
            scored as (
                select *,
                    avg(cost) over w as expected_cost,
                    stddev_samp(cost) over w as training_stddev,
                    count(*) over w as training_days
                from usage
                window w as (
                    partition by provider_name, sub_account_id, service_name
                    order by charge_date rows between 14 preceding and 1 preceding
                )
            )
            select
                md5(concat_ws('|', charge_date, sub_account_id, service_name)) as anomaly_id,
                charge_date, provider_name, sub_account_id, sub_account_name, service_name,
                reporting_currency,
                cast(cost as decimal(18, 6)) as actual_cost,
                cast(expected_cost as decimal(18, 6)) as expected_cost,
                cast(training_stddev as double) as training_stddev,
                cast(training_days as integer) as training_days,
                cast((cost - expected_cost) / training_stddev as double) as z_score,
                case when cost > expected_cost then 'spike' else 'drop' end as direction,
                cast(cost - expected_cost as decimal(18, 6)) as cost_impact
            from scored
            where training_days >= 4 and abs((cost - expected_cost) / training_stddev) >= 3
            """
        )
        con.execute(
            """
            create table marts.fct_cost_kpis as
            with scoped as (
                select 'All' as provider_scope, * from marts.fct_daily_costs
                union all
                select provider_name, * from marts.fct_daily_costs
            ),
            based as (
                select provider_scope, 'billed' as cost_basis, charge_date,
                    reporting_currency, billed_cost_reporting as cost from scoped
                union all
                select provider_scope, 'effective', charge_date,
                    reporting_currency, effective_cost_reporting from scoped
            ),
            bounds as (select max(charge_date) as as_of_date from marts.fct_daily_costs)
            select
                md5(provider_scope || cost_basis) as kpi_id,
                provider_scope, cost_basis, any_value(reporting_currency) as reporting_currency,
                min(charge_date) as first_date, any_value(as_of_date) as as_of_date,
                sum(cost) as total_cost,
                count(distinct charge_date) as days_with_data,
                sum(cost) / count(distinct charge_date) as avg_daily_cost,
                sum(cost) filter (where charge_date > as_of_date - 7) as last_7d_cost,
                sum(cost) filter (
                    where charge_date <= as_of_date - 7 and charge_date > as_of_date - 14
                ) as prev_7d_cost,
                (last_7d_cost - prev_7d_cost) / prev_7d_cost * 100 as last_7d_change_pct,
                sum(cost) filter (
                    where date_trunc('month', charge_date) = date_trunc('month', as_of_date)
                ) as mtd_cost
            from based, bounds
            group by provider_scope, cost_basis
            """
        )
    finally:
        con.close()
    return path


@pytest.fixture(scope="session")
def serving_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A handcrafted serving copy: 2 clouds, 4 accounts (one billed in EUR), 12 services, 40 days."""
    folder = tmp_path_factory.mktemp("dashboard_warehouse")
    return build_serving_db(folder / "finops_serving.duckdb")


@pytest.fixture(scope="session")
def warehouse(serving_db: Path) -> Path:
    """The serving file the dashboard tests read (swap for `built_warehouse` when it lands)."""
    return serving_db


def _point_settings_at(monkeypatch: pytest.MonkeyPatch, serving_path: Path) -> None:
    duckdb_path = serving_path.with_name(
        serving_path.name.removesuffix("_serving.duckdb") + ".duckdb"
    )
    for name in [n for n in os.environ if n.startswith("FINOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINOPS_HOME", str(serving_path.parent))
    monkeypatch.setenv("FINOPS_DUCKDB_PATH", str(duckdb_path))
    assert load_settings().serving_path == serving_path


@pytest.fixture
def point_settings_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Set FINOPS_HOME / FINOPS_DUCKDB_PATH so that a given file is the serving copy."""
    return lambda serving_path: _point_settings_at(monkeypatch, serving_path)


@pytest.fixture
def dashboard_env(point_settings_at: Callable[[Path], None], warehouse: Path) -> Path:
    """The settings point at `warehouse`; returns its path for the tests' own SQL."""
    point_settings_at(warehouse)
    return warehouse
