"""`dbt build` on a throwaway warehouse, then the marts checked to the cent.

One warehouse holds hand-made raw rows with every money trap we know (a EUR subscription,
credits, a refund, tax, a reservation bought in ActualCost only, unused reservation in
AmortizedCost only, a usage spike) and totals worked out by hand below; the shared daily
run on the simulated source is checked against its raw tables.

    .venv/bin/pytest tests/dbt -q
"""

from __future__ import annotations

import csv
import re
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from finops_testing import copy_warehouse, dbt
from focus_testing import fetch

from loaders import warehouse

REPO_ROOT = Path(__file__).resolve().parents[2]
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"

WINDOW = (date(2026, 3, 1), date(2026, 3, 31))  # [start, end): March 1-30
PAYER = "999900000001"
LINKED = "111100000001"
EC2 = "Amazon Elastic Compute Cloud - Compute"
LAMBDA = "AWS Lambda"
SP_FEE = "Savings Plans for AWS Compute usage"
BILLING_ACCOUNT = "ba-42"
AZURE_SCOPE = f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}"
SUBSCRIPTION = "aaaaaaaa-0000-4000-8000-000000000001"
SPIKE_DAY = date(2026, 3, 30)


def dbt_build(db_path: Path, work_dir: Path, currency: str = "USD") -> str:
    """Run `dbt build` against `db_path` in a subprocess; return its output, fail on error.
    Without the unit tests (they need no data: tests/dbt/test_unit_tests.py runs them)."""
    done = dbt(
        db_path,
        work_dir,
        "build", "--exclude-resource-type", "unit_test",
        FINOPS_REPORTING_CURRENCY=currency,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return done.stdout


def seed_rate(rate_date: date, from_currency: str, to_currency: str) -> Decimal:
    """The rate fx_rates.csv holds for one month, read from the seed itself."""
    with open(DBT_PROJECT_DIR / "seeds" / "fx_rates.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if (row["rate_date"], row["from_currency"], row["to_currency"]) == (
                rate_date.isoformat(),
                from_currency,
                to_currency,
            ):
                return Decimal(row["rate"])
    raise LookupError(f"no {from_currency}->{to_currency} rate for {rate_date}")


def aws_row(day: date, record_type: str, service: str, unblended: str, amortized: str,
            region: str = "us-east-1") -> dict:  # fmt: skip
    return {
        "time_period_start": day,
        "time_period_end": day + timedelta(days=1),
        "estimated": False,
        "linked_account_id": LINKED,
        "linked_account_name": "shop-prod",
        "service": service,
        "region": region,
        "record_type": record_type,
        "unblended_cost": Decimal(unblended),
        "unblended_cost_unit": "USD",
        "amortized_cost": Decimal(amortized),
        "amortized_cost_unit": "USD",
        "usage_quantity": None,
        "usage_quantity_unit": None,
    }


def azure_row(day: date, query_type: str, service: str, location: str, charge_type: str,
              cost: str) -> dict:  # fmt: skip
    return {
        "usage_date": int(day.strftime("%Y%m%d")),
        "query_type": query_type,
        "subscription_id": SUBSCRIPTION,
        "subscription_name": "eu-prod",
        "service_name": service,
        "resource_location": location,
        "charge_type": charge_type,
        "cost": Decimal(cost),
        "currency": "EUR",
    }


def ec2_daily_cost(day: date) -> Decimal:
    """A steady series (100..104 USD, repeating) with a 400 USD spike on the last day."""
    return Decimal("400.00") if day == SPIKE_DAY else Decimal(100 + day.day % 5)


def handmade_rows() -> tuple[list[dict], list[dict]]:
    days = [WINDOW[0] + timedelta(days=n) for n in range((WINDOW[1] - WINDOW[0]).days)]
    aws = [
        aws_row(day, "Usage", EC2, str(ec2_daily_cost(day)), str(ec2_daily_cost(day)))
        for day in days
    ]
    aws += [
        aws_row(date(2026, 3, 10), "Credit", EC2, "-25.50", "-25.50"),
        aws_row(date(2026, 3, 1), "Tax", "Tax", "12.34", "12.34", region="NoRegion"),
        aws_row(date(2026, 3, 1), "RIFee", EC2, "50.00", "0"),
        aws_row(date(2026, 3, 12), "Refund", EC2, "-5.00", "-5.00"),
        # A savings plan's day without Cost Explorer's commitment answer (loaded before the
        # commitment operations were, as an upgraded warehouse's history is): covered Lambda
        # usage (20 on demand, 14 amortized), its negation, the fee with 2 left unused.
        aws_row(date(2026, 3, 5), "SavingsPlanCoveredUsage", LAMBDA, "20.00", "14.00"),
        aws_row(date(2026, 3, 5), "SavingsPlanNegation", LAMBDA, "-20.00", "0"),
        aws_row(date(2026, 3, 5), "SavingsPlanRecurringFee", SP_FEE, "16.00", "2.00"),
    ]
    azure = [
        azure_row(date(2026, 3, 15), "ActualCost", "Virtual Machines", "westeurope", "Usage", "200.00"),
        azure_row(date(2026, 3, 15), "AmortizedCost", "Virtual Machines", "westeurope", "Usage", "180.00"),
        # A reservation purchase is in ActualCost only, its unused part in AmortizedCost only.
        azure_row(date(2026, 3, 1), "ActualCost", "Virtual Machines", "Unassigned", "Purchase", "1200.00"),
        azure_row(date(2026, 3, 15), "AmortizedCost", "Virtual Machines", "westeurope", "UnusedReservation", "20.00"),
        # Azure writes credits as negative Adjustment rows, in both queries.
        azure_row(date(2026, 3, 20), "ActualCost", "Virtual Machines", "westeurope", "Adjustment", "-30.00"),
        azure_row(date(2026, 3, 20), "AmortizedCost", "Virtual Machines", "westeurope", "Adjustment", "-30.00"),
    ]  # fmt: skip
    return aws, azure


@pytest.fixture(scope="module")
def handmade_warehouse(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    work_dir = tmp_path_factory.mktemp("dbt_handmade")
    db_path = work_dir / "finops.duckdb"
    aws, azure = handmade_rows()
    common = {"source": "simulated", "window_start": WINDOW[0], "window_end": WINDOW[1]}
    warehouse.replace_window(
        db_path, raw_table="aws_cost_explorer", scope=PAYER, rows=aws, **common
    )
    warehouse.replace_window(
        db_path, raw_table="azure_cost_management", scope=AZURE_SCOPE, rows=azure, **common
    )
    return db_path, dbt_build(db_path, work_dir)


def test_build_passes_without_warnings(handmade_warehouse: tuple[Path, str]) -> None:
    # GIVEN hand-made raw rows WHEN dbt builds THEN every test passes, none even warns
    # (every service and charge type is in the mapping seeds)
    _, output = handmade_warehouse
    assert "WARN=0 ERROR=0" in output, output[-3000:]


def test_totals_per_provider_and_currency_to_the_cent(handmade_warehouse: tuple[Path, str]) -> None:
    db_path, _ = handmade_warehouse
    ec2 = sum(ec2_daily_cost(WINDOW[0] + timedelta(days=n)) for n in range(30))
    # AWS billed = usage + credit + tax + RI fee + refund + the savings plan's fee (its
    # covered usage and negation cancel); the RI fee is amortized away, the plan's into its
    # covered usage (14) and its unused part (2).
    aws_billed = (
        ec2 - Decimal("25.50") + Decimal("12.34") + Decimal("50.00") - Decimal("5.00")
        + Decimal("16.00")
    )  # fmt: skip
    aws_effective = ec2 - Decimal("25.50") + Decimal("12.34") - Decimal("5.00") + Decimal("16.00")
    # Azure billed = usage + purchase + credit; effective = amortized usage + unused RI + credit.
    azure_billed = Decimal("200.00") + Decimal("1200.00") - Decimal("30.00")
    azure_effective = Decimal("180.00") + Decimal("20.00") - Decimal("30.00")

    totals = fetch(
        db_path,
        "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs group by all order by 1",
    )

    assert totals == [
        ("AWS", "USD", aws_billed, aws_effective),
        ("Azure", "EUR", azure_billed, azure_effective),
    ]


def test_eur_cost_converted_with_the_months_rate(handmade_warehouse: tuple[Path, str]) -> None:
    db_path, _ = handmade_warehouse
    rate = seed_rate(date(2026, 3, 1), "EUR", "USD")

    row = fetch(
        db_path,
        "select fx_rate, billed_cost_reporting, effective_cost_reporting, reporting_currency "
        "from marts.fct_daily_costs where provider_name = 'Azure' and charge_date = ? "
        "and charge_category = 'Usage'",
        [date(2026, 3, 15)],
    )
    # Usage (200 billed / 180 effective) and UnusedReservation (0 / 20) share the grain.
    assert row == [(rate, Decimal("200.00") * rate, Decimal("200.00") * rate, "USD")]

    kpi = fetch(db_path, "select total_cost from marts.fct_cost_kpis where kpi_id = 'azure_billed'")
    assert kpi == [(Decimal("1370.00") * rate,)]


def test_credits_refunds_and_one_sided_azure_keys_keep_their_cost(
    handmade_warehouse: tuple[Path, str],
) -> None:
    db_path, _ = handmade_warehouse

    rows = fetch(
        db_path,
        "select provider_name, charge_date, region_id, charge_category, charge_class, "
        "billed_cost, effective_cost from marts.fct_daily_costs "
        "where charge_category != 'Usage' order by provider_name, charge_date, charge_category",
    )

    assert rows == [
        ("AWS", date(2026, 3, 1), "us-east-1", "Purchase", None, Decimal("50.00"), Decimal("0")),
        ("AWS", date(2026, 3, 1), "global", "Tax", None, Decimal("12.34"), Decimal("12.34")),
        ("AWS", date(2026, 3, 5), "us-east-1", "Purchase", None, Decimal("16.00"), Decimal("2.00")),
        ("AWS", date(2026, 3, 10), "us-east-1", "Credit", None, Decimal("-25.50"), Decimal("-25.50")),
        ("AWS", date(2026, 3, 12), "us-east-1", "Adjustment", "Correction", Decimal("-5.00"), Decimal("-5.00")),
        ("Azure", date(2026, 3, 1), "global", "Purchase", None, Decimal("1200.00"), Decimal("0")),
        ("Azure", date(2026, 3, 20), "westeurope", "Credit", None, Decimal("-30.00"), Decimal("-30.00")),
    ]  # fmt: skip


def test_kpi_last_7_days_equals_the_daily_sum(handmade_warehouse: tuple[Path, str]) -> None:
    db_path, _ = handmade_warehouse

    kpi = fetch(
        db_path,
        "select as_of_date, last_7d_cost, prev_7d_cost, mtd_cost from marts.fct_cost_kpis "
        "where kpi_id = 'all_billed'",
    )
    summed = fetch(
        db_path,
        "select sum(billed_cost_reporting) from marts.fct_daily_costs "
        "where charge_date between ? and ?",
        [SPIKE_DAY - timedelta(days=6), SPIKE_DAY],
    )

    # March 24-30 holds only AWS EC2 usage (the spike included): known by hand as well.
    by_hand = sum(ec2_daily_cost(SPIKE_DAY - timedelta(days=n)) for n in range(7))
    assert kpi[0][0] == SPIKE_DAY
    assert kpi[0][1] == summed[0][0] == by_hand


def test_the_spike_and_only_the_spike_is_flagged(handmade_warehouse: tuple[Path, str]) -> None:
    db_path, _ = handmade_warehouse

    anomalies = fetch(
        db_path,
        "select charge_date, provider_name, sub_account_id, service_name, direction, "
        "actual_cost, training_days, z_score from marts.fct_cost_anomalies",
    )

    assert len(anomalies) == 1, anomalies
    charge_date, provider, account, service, direction, actual, training_days, z = anomalies[0]
    assert (charge_date, provider, account, service, direction) == (
        SPIKE_DAY, "AWS", LINKED, EC2, "spike"
    )  # fmt: skip
    assert actual == Decimal("400.00")
    # the weekdays of the previous 28 days (a weekday is compared with weekdays)
    assert training_days == 20
    assert z > 20, z


def test_the_simulated_source_builds_without_warnings_and_reconciles(built_home: Path) -> None:
    # GIVEN the shared daily run on six months of the simulated source (`built_home`: every
    # model and data test of the project built by the pipeline's `dbt build`; the injected
    # anomalies are checked by tests/dbt/test_anomalies.py, the unit tests by test_unit_tests.py)
    db_path = built_home / "data" / "finops.duckdb"
    output = (built_home / "logs" / "dbt_output.log").read_text()

    # THEN no data test warned or failed (in the build and the source freshness check after it)
    done = re.findall(r"Done\. PASS=\d+ WARN=(\d+) ERROR=(\d+)", output)
    assert done and set(done) == {("0", "0")}, output[-3000:]
    # ... and the daily costs hold raw's billed and effective totals per provider and currency
    raw = fetch(
        db_path,
        "select 'AWS', unblended_cost_unit, sum(unblended_cost), sum(amortized_cost) "
        "from raw.aws_cost_explorer group by all "
        "union all "
        "select 'Azure', currency, sum(cost) filter (where query_type = 'ActualCost'), "
        "sum(cost) filter (where query_type = 'AmortizedCost') "
        "from raw.azure_cost_management group by all order by 1, 2",
    )
    mart = fetch(
        db_path,
        "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs group by all order by 1, 2",
    )
    assert len(mart) == 3 and mart == raw  # AWS in USD, Azure in USD and EUR


def test_key_and_focus_tests_fail_on_doubled_lines_and_off_spec_values(
    handmade_warehouse: tuple[Path, str], tmp_path: Path
) -> None:
    # GIVEN a copy of the built warehouse where a second source landed the same AWS cost line
    # (what mixing demo and real data, or two scopes over one account, would do) and the
    # daily mart carries three off-spec FOCUS values
    db_path, _ = handmade_warehouse
    tampered = copy_warehouse(db_path, tmp_path / "tampered")
    con = duckdb.connect(str(tampered))
    try:
        # the Tax lines landed twice, as if a second source brought them too
        con.execute(
            "insert into intermediate.int_cloud_costs_unioned "
            "select * replace ('aws_cost_explorer' as x_source) "
            "from intermediate.int_cloud_costs_unioned where x_charge_type = 'Tax'"
        )
        con.execute(
            "update marts.fct_daily_costs set service_category = 'Compute and Stuff' "
            "where charge_category = 'Tax'"
        )
        con.execute(
            "update marts.fct_daily_costs set charge_class = 'Refund' "
            "where charge_class = 'Correction'"
        )
        con.execute(
            "update marts.fct_daily_costs set billing_currency = 'eur' "
            "where provider_name = 'Azure'"
        )
        # ... two columns lost values on a few rows (a mapping bug upstream would do that)
        con.execute(
            "update intermediate.int_cloud_costs_unioned set sub_account_id = null "
            "where x_charge_type = 'Credit'"
        )
        con.execute(
            "update intermediate.int_cloud_costs_unioned set billed_cost = null "
            "where x_charge_type = 'Tax' and x_source = 'aws_cost_explorer'"
        )
        # ... and the provider came with the name a FOCUS file gives it, not normalised
        con.execute(
            "update intermediate.int_cloud_costs_unioned set provider_name = 'Amazon Web Services' "
            "where x_charge_type = 'Credit'"
        )
        # ... one cent appeared on one AWS line of the first day
        con.execute(
            "update marts.fct_daily_costs set billed_cost = billed_cost + 0.01 "
            "where daily_cost_id = (select min(daily_cost_id) from marts.fct_daily_costs "
            "where provider_name = 'AWS' and charge_date = "
            "(select min(charge_date) from marts.fct_daily_costs))"
        )
        # ... the account dimension lists one account twice (its grain is two columns)
        con.execute(
            "insert into marts.dim_sub_accounts select * from marts.dim_sub_accounts "
            "where provider_name = 'AWS' order by sub_account_id limit 1"
        )
        # (a mart's contract makes DuckDB itself refuse a null in a not_null column)
        with pytest.raises(duckdb.ConstraintException, match="fx_rate"):
            con.execute("update marts.fct_daily_costs set fx_rate = null")
        # ... and the anomaly chart's band says a normal day of the total series is flagged
        con.execute(
            "update marts.fct_anomaly_series set is_anomaly = true "
            "where series_level = 'total' and provider_scope = 'AWS' and is_scored "
            "and not is_anomaly and charge_date = (select max(charge_date) "
            "from marts.fct_anomaly_series where is_scored and not is_anomaly)"
        )
    finally:
        con.close()

    # WHEN the column-values (key included) and FOCUS conformance tests run on it
    done = dbt(
        tampered,
        tmp_path,
        "test",
        "--store-failures",
        "--select",
        "test_name:column_values,int_cloud_costs_unioned",
        "test_name:column_values,fct_daily_costs",
        "test_name:column_values,dim_sub_accounts",
        "test_name:focus_conformant,fct_daily_costs",
        "test_name:focus_conformant,int_cloud_costs_categorized",
        "assert_fct_anomaly_series_band_matches_flags",
        "assert_fct_daily_costs_reconcile_to_raw",
    )

    # THEN the build would stop: the doubled line breaks cost_line_id's uniqueness, and the
    # conformance test names each off-spec value (the unknown category also has no such
    # subcategory), and the band test sees a flag inside the band with no anomaly behind it
    assert done.returncode != 0, done.stdout[-3000:]
    assert "Failure in test focus_conformant_fct_daily_costs_" in done.stdout
    assert "Failure in test assert_fct_anomaly_series_band_matches_flags" in done.stdout
    # ... and the reconciliation names the cent on its day and in the running total
    assert "Failure in test assert_fct_daily_costs_reconcile_to_raw" in done.stdout
    first_day = fetch(
        tampered, "select cast(min(charge_date) as varchar) from marts.fct_daily_costs"
    )
    off = fetch(
        tampered,
        "select charge_day, billing_currency, billed_difference, effective_difference "
        "from dbt_test__audit.assert_fct_daily_costs_reconcile_to_raw "
        "where provider_name = 'AWS' order by charge_day",
    )
    assert off == [
        (first_day[0][0], "USD", Decimal("0.01"), Decimal("0")),
        ("all", "USD", Decimal("0.01"), Decimal("0")),
    ]
    # ... and the one column-values test of the model names each doubled key, each column
    # with its null rows and each provider name that is not normalised
    assert "Failure in test column_values_int_cloud_costs_unioned_" in done.stdout
    offences = fetch(
        tampered,
        "select column_name, rule, offending_value, row_count "
        "from dbt_test__audit.column_values_int_cloud_costs_unioned_ order by all",
    )
    expected = fetch(
        tampered,
        "select 'billed_cost', 'not_null', null, count(*) filter (where billed_cost is null) "
        "from intermediate.int_cloud_costs_unioned union all "
        "select 'cost_line_id', 'primary_key', cost_line_id, count(*) "
        "from intermediate.int_cloud_costs_unioned group by cost_line_id "
        "having count(*) > 1 union all "
        "select 'provider_name', 'provider_name', 'Amazon Web Services', "
        "count(*) filter (where provider_name = 'Amazon Web Services') "
        "from intermediate.int_cloud_costs_unioned union all "
        "select 'sub_account_id', 'not_null', null, count(*) filter (where sub_account_id is null) "
        "from intermediate.int_cloud_costs_unioned order by all",
    )
    assert offences == expected and all(row[-1] > 0 for row in offences)
    assert any(rule == "primary_key" for _, rule, _, _ in offences)
    nulls = [(column, n) for column, rule, _, n in expected if rule == "not_null"]
    violations = fetch(
        tampered,
        "select rule, offending_value, row_count "
        "from dbt_test__audit.focus_conformant_fct_daily_costs_ order by all",
    )
    counts = fetch(
        tampered,
        "select count(*) filter (where billing_currency = 'eur'), "
        "count(*) filter (where charge_class = 'Refund'), "
        "count(*) filter (where service_category = 'Compute and Stuff') "
        "from marts.fct_daily_costs",
    )[0]
    assert all(n > 0 for n in counts)
    assert violations == [
        ("billing_currency is not an upper-case ISO 4217 code", "eur", counts[0]),
        ("charge_class is not Correction or null", "Refund", counts[1]),
        ("service_category is not a FOCUS 1.2 ServiceCategory", "Compute and Stuff", counts[2]),
        ("service_subcategory is not a subcategory of its service_category",
         "Compute and Stuff / Other (Other)", counts[2]),
    ]  # fmt: skip
    # ... and the mart's column-values test names the values outside the declared lists
    assert "Failure in test column_values_fct_daily_costs_" in done.stdout
    assert fetch(
        tampered,
        "select column_name, rule, offending_value, row_count "
        "from dbt_test__audit.column_values_fct_daily_costs_ order by all",
    ) == [
        ("charge_class", "accepted_values", "Refund", counts[1]),
        ("service_category", "accepted_values", "Compute and Stuff", counts[2]),
    ]
    # ... and the dimension's test names the account listed twice by its grain's columns
    assert "Failure in test column_values_dim_sub_accounts_" in done.stdout
    # (and by its key column, which repeats with it)
    [(twice, key)] = fetch(
        tampered,
        "select provider_name || ' | ' || sub_account_id, any_value(sub_account_key) "
        "from marts.dim_sub_accounts group by provider_name, sub_account_id "
        "having count(*) > 1",
    )
    assert fetch(
        tampered,
        "select column_name, rule, offending_value, row_count "
        "from dbt_test__audit.column_values_dim_sub_accounts_ order by all",
    ) == [
        ("provider_name, sub_account_id", "grain", twice, 2),
        ("sub_account_key", "primary_key", key, 2),
    ]
    # ... and on the unified model it names each mandatory column left null, with its rows
    assert "Failure in test focus_conformant_int_cloud_costs_categorized_" in done.stdout
    assert fetch(
        tampered,
        "select rule, row_count "
        "from dbt_test__audit.focus_conformant_int_cloud_costs_categorized_ order by all",
    ) == [(f"mandatory column {column} is null", n) for column, n in nulls]


def test_commitment_days_without_an_answer_count_in_coverage_not_utilization(
    handmade_warehouse: tuple[Path, str],
) -> None:
    # GIVEN the savings plan's record types of a day Cost Explorer's commitment operations
    # never answered (the build passed: its reconciliation expects no mart row for that day)
    db_path, _ = handmade_warehouse
    # THEN utilization has no row of a commitment nobody named
    assert fetch(db_path, "select count(*) from marts.fct_commitment_utilization") == [(0,)]
    # ... while coverage counts the covered usage as committed, and the savings its saving
    assert fetch(
        db_path,
        "select committed_cost from marts.fct_commitment_coverage "
        "where provider_name = 'AWS' and charge_date = '2026-03-05'",
    ) == [(Decimal("14.00"),)]
    assert fetch(
        db_path,
        "select commitment_savings from marts.fct_effective_savings where provider_name = 'AWS'",
    ) == [(Decimal("6.00"),)]
