"""The rate-optimization marts (issue #17) on a FOCUS export of our own, both clouds, with
every figure computed by hand below: a spend-based AWS savings plan partly unused, an Azure
reservation fully used in EUR with a negotiated discount, on-demand usage of a service a
commitment could cover and of one it could not, and both purchases. The export
(tests/commitments_testing.py) goes through one real `finops run` shared with the other
rate-optimization tests (conftest `commitments_home`): imported by the real loader, the whole
project built (`dbt build`: every model, data test - the utilization reconciliation among
them - and unit test), published and exported.
"""

from __future__ import annotations

import json
import shutil
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from commitments_testing import PLAN, RESERVATION, RESERVATION_END
from focus_testing import dbt_build, fetch


@pytest.fixture(scope="session")
def commitments_built(commitments_home: Path) -> Path:
    """The warehouse of the shared run: the export imported by the real loader, the whole
    project built (`dbt build`) by `finops run`."""
    return commitments_home / "data" / "finops.duckdb"


def test_utilization_per_commitment_by_hand(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, commitment_discount_id, commitment_discount_type, "
        "commitment_discount_category, billing_currency, used_cost, unused_cost, utilization "
        "from marts.fct_commitment_utilization order by provider_name",
    )
    d = Decimal
    assert rows == [
        # 60 + 10 used, 30 unused: 70 %; the 100 fee is the purchase, not counted
        ("AWS", PLAN, "Compute Savings Plan", "Spend", "USD", d("70"), d("30"), 0.7),
        # fully used
        ("Azure", RESERVATION, "Reservation", "Usage", "EUR", d("50"), d("0"), 1.0),
    ]
    # in the reporting currency: USD as it is, EUR at the seed's January rate
    [(rate,)] = fetch(
        commitments_built,
        "select rate from seeds.fx_rates where from_currency = 'EUR' and to_currency = 'USD' "
        "and rate_date <= date '2026-01-10' order by rate_date desc limit 1",
    )
    reporting = fetch(
        commitments_built,
        "select used_cost_reporting from marts.fct_commitment_utilization order by provider_name",
    )
    assert reporting == [(d("70"),), ((d("50") * rate).quantize(d("1e-10")),)]


def test_coverage_per_account_and_category_by_hand(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, sub_account_id, service_category, billing_currency, "
        "committed_cost, on_demand_cost, coverage from marts.fct_commitment_coverage "
        "order by provider_name",
    )
    assert rows == [
        # covered 60 + 10; on demand EC2 40 (S3 cannot be covered, the unused plan is no
        # usage): 70 / 110
        ("AWS", "222222222222", "Compute", "USD", Decimal("70"), Decimal("40"), 0.636364),
        ("Azure", "sub-1", "Compute", "EUR", Decimal("50"), Decimal("50"), 0.5),
    ]


def test_effective_savings_rate_by_hand(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, billing_month, list_cost, contracted_cost, effective_cost, "
        "negotiated_savings, commitment_savings, total_savings, effective_savings_rate, "
        "list_cost_missing_share from marts.fct_effective_savings order by provider_name",
    )
    month, d = date(2026, 1, 1), Decimal
    # fmt: off
    assert rows == [
        # list 100 + 15 + 0 + 40 + 20; effective 60 + 10 + 30 + 40 + 20; savings only on the
        # covered rows: (100 - 60) + (15 - 10) = 45, all of it the commitment's; the unused 30
        # has no list price: 30 / 160 of the cost cannot show a saving
        ("AWS", month, d(175), d(175), d(160), d(0), d(45), d(45), 0.257143, 0.1875),
        # negotiated (80 - 72) + (50 - 45) = 13, commitment 72 - 50 = 22, total 30 of 130
        ("Azure", month, d(130), d(117), d(100), d(13), d(22), d(30), 0.230769, 0.0),
    ]
    # fmt: on


def test_one_row_per_commitment(commitments_built: Path):
    rows = fetch(
        commitments_built,
        "select provider_name, commitment_discount_id, commitment_discount_name, "
        "billing_account_id, first_charge_date, last_charge_date, end_date, days_to_expiry "
        "from marts.dim_commitment_discounts order by provider_name",
    )
    day = date(2026, 1, 10)
    assert rows == [
        ("AWS", PLAN, None, "111111111111", day, day, None, None),
        ("Azure", RESERVATION, "VM reservation", "ba-1", day, day, None, None),
    ]


def test_rate_optimization_kpis_per_scope_by_hand(commitments_built: Path):
    # GIVEN the shared run's marts: every commitment day (2026-01-10) in the month to date of
    # as_of_date 2026-01-10, and the EUR rate in force that day
    [(rate,)] = fetch(
        commitments_built,
        "select rate from seeds.fx_rates where from_currency = 'EUR' and to_currency = 'USD' "
        "and rate_date <= date '2026-01-10' order by rate_date desc limit 1",
    )

    # WHEN the KPI rows are read, both cost bases
    rows = fetch(
        commitments_built,
        "select kpi_id, as_of_date, mtd_commitment_utilization, mtd_commitment_coverage, "
        "mtd_effective_savings_rate, mtd_unused_commitment_cost from marts.fct_cost_kpis "
        "order by kpi_id",
    )

    # THEN each ratio is recomputed from the scope's sums in USD (the All scope converts
    # Azure's EUR, never averages the two providers' ratios), 6 places, and the unused cost
    # is the AWS plan's 30 USD; billed and effective rows carry the same amortized figures
    def ratio(numerator: Decimal, denominator: Decimal) -> float:
        return round(float(numerator) / float(denominator), 6)

    d, as_of = Decimal, date(2026, 1, 10)
    eur = d(50) * rate  # the reservation's used cost, as its on-demand neighbour's, in USD
    # at the seed's 1.172: 128.6 / 158.6, 128.6 / 227.2, 80.16 / 327.36
    all_scope = (
        as_of,
        ratio(d(70) + eur, d(70) + eur + d(30)),  # used / (used + unused)
        ratio(d(70) + eur, d(70) + eur + d(40) + eur),  # committed / (committed + on demand)
        ratio(d(45) + d(30) * rate, d(175) + d(130) * rate),  # total savings / list cost
        d(30),
    )
    aws = (as_of, 0.7, 0.636364, 0.257143, d(30))
    azure = (as_of, 1.0, 0.5, 0.230769, d(0))  # fully used: 0 unused, not null
    assert rows == [
        ("all_billed", *all_scope),
        ("all_effective", *all_scope),
        ("aws_billed", *aws),
        ("aws_effective", *aws),
        ("azure_billed", *azure),
        ("azure_effective", *azure),
    ]


# The commitment marts' rows, without the columns that name the build rather than the money
# (and the terms, which FOCUS files do not carry).
SAME_MARTS = {
    "fct_commitment_utilization": "*",
    "fct_commitment_coverage": "*",
    "fct_effective_savings": "*",
    "dim_commitment_discounts": "* exclude (start_date, end_date, term, payment_option, "
    "days_to_expiry)",
}


def test_the_same_commitments_through_the_cost_apis_give_the_same_marts(
    commitments_built: Path, commitments_api_home: Path
):
    # GIVEN the export answered by the cost APIs (tests/commitments_testing.py): its AWS half
    # by Cost Explorer (record types and the commitment operations), its Azure half by the
    # Query API (pricing models, the reservation's BenefitId, its purchase), the reservations
    # list and the Cost Details report (the list and negotiated prices the Query API does not
    # aggregate) - landed by a real `finops run` of both sources
    through_api = commitments_api_home / "data" / "finops.duckdb"
    for mart, columns in SAME_MARTS.items():
        for provider in ("AWS", "Azure"):
            sql = (
                f"select {columns} from marts.{mart} where provider_name = '{provider}' "
                "order by all"
            )
            from_api, from_file = fetch(through_api, sql), fetch(commitments_built, sql)
            # THEN every commitment mart holds the same rows as from the FOCUS file
            assert from_api == from_file, (mart, provider)
            assert from_api, (mart, provider)
    # ... the savings too: the Query API's money with the report's prices, as the file has it
    assert fetch(
        through_api,
        "select list_cost, contracted_cost, effective_cost, total_savings, "
        "effective_savings_rate, list_cost_missing_share "
        "from marts.fct_effective_savings where provider_name = 'Azure'",
    ) == [(Decimal(130), Decimal(117), Decimal(100), Decimal(30), 0.230769, 0.0)]
    # AND the APIs add what a FOCUS file does not say: the commitments' terms and expiry,
    # counted from the warehouse's last charge date (2026-01-10)
    assert fetch(
        through_api,
        "select commitment_discount_id, start_date, end_date, term, payment_option, "
        "days_to_expiry from marts.dim_commitment_discounts order by provider_name",
    ) == [
        (PLAN, date(2025, 2, 10), date(2026, 2, 10), "1 Year", "No Upfront", 31),
        (RESERVATION, date(2025, 3, 1), RESERVATION_END, "1 Year", "Upfront", 50),
    ]


def test_cost_explorers_own_coverage_cross_checks_the_record_types(
    commitments_api_home: Path, tmp_path: Path
):
    # GIVEN the commitments through Cost Explorer: its coverage operations answered beside
    # the record types (the savings plan covered EC2 and Lambda usage worth 115 on demand, 40
    # of EC2 ran on demand: 74.19 % as the API rounds it)
    db_path = commitments_api_home / "data" / "finops.duckdb"
    assert fetch(
        db_path,
        "select charge_date, commitment_kind, service_name, covered_cost, on_demand_cost, "
        "coverage from staging.stg_aws_cost_explorer__commitment_coverage "
        "where covered_cost != 0",
    ) == [(date(2026, 1, 10), "SavingsPlan", None, Decimal(115), Decimal(40), 0.7419)]
    # ... and the run's build found them in agreement (the warn test passed)
    results = json.loads(
        (commitments_api_home / "data" / "dbt" / "target" / "run_results.json").read_text()
    )
    [check] = [
        r
        for r in results["results"]
        if r["unique_id"].endswith(".assert_aws_commitment_coverage_agrees")
    ]
    assert check["status"] == "pass"

    # WHEN Cost Explorer's coverage answer says a dollar more than the record types hold
    drifted = tmp_path / "drifted.duckdb"
    shutil.copyfile(db_path, drifted)
    con = duckdb.connect(str(drifted))
    try:
        con.execute(
            "update raw.aws_commitment_coverage set covered_cost = covered_cost + 1 "
            "where time_period_start = '2026-01-10'"
        )
    finally:
        con.close()
    out = dbt_build(
        drifted, tmp_path, "--select", "assert_aws_commitment_coverage_agrees", "--store-failures"
    )
    # THEN the cross-check warns (the marts keep the bill's figures) and names the day
    assert "Warning in test assert_aws_commitment_coverage_agrees" in out, out[-3000:]
    assert fetch(
        drifted,
        "select charge_date, commitment_kind, reported_amount, record_types_amount, difference "
        "from dbt_test__audit.assert_aws_commitment_coverage_agrees",
    ) == [(date(2026, 1, 10), "SavingsPlan", Decimal(116), Decimal(115), Decimal(1))]
