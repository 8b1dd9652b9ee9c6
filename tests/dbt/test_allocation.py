"""Cost allocation (issue #18) on a tagged FOCUS export of our own (tests/allocation_testing.py),
through one real `finops run` with FINOPS_ALLOCATION_TAGS and FINOPS_ALLOCATION_RULES (the
conftest `allocation_home`, shared with the dashboard's allocation page tests): the
import reads the keys from Tags, `dbt build` allocates (its reconciliation test among the
data tests), every figure below worked out by hand.

Day 2026-01-10, AWS in USD, key `team` (billed / effective):
- platform by the account map of linked account 222222222222: the plan's purchase 100 / 0
  and its unused part 0 / 30;
- web by tag: EC2 covered 0 / 60 and EC2 on demand 40 / 40; data by tag: Lambda 0 / 10;
- S3 20 / 20 by the shared-storage rule, in proportion to web's and data's direct effective
  cost of the day (100 and 10): web 20 x 100/110 = 18.1818181818 (it takes the remainder of
  data's 20 x 10/110 = 1.8181818182).
Azure in EUR, key `team`: the reservation's purchase 300 / 0 by the azure-purchases rule,
60 % web = 180, 40 % data = 120; the covered usage 0 / 50 data by tag; the on-demand usage
50 / 50 unallocated.
Key `env`: both purchases split evenly over prod, dev, test (AWS 100: 33.3333333334 to prod,
the remainder, and 33.3333333333 each to dev and test; Azure 300: 100 each); S3 by the storage
rule in proportion to prod's and dev's direct cost - none on that day (no row has an env
value but EC2's key-only tag, `true`, which is neither): evenly, 10 / 10 each; the rest
(true for the key-only EC2 tag; unallocated otherwise).
"""

from __future__ import annotations

import subprocess
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
from allocation_testing import KEYS, SPLIT_DAY
from finops_testing import copy_warehouse, dbt
from focus_testing import fetch

DAY = date(2026, 1, 10)
THIRD = Decimal("33.3333333333")


def allocated(home: Path, key: str, provider: str) -> list[tuple]:
    return fetch(
        home / "data" / "finops.duckdb",
        "select allocation_value, allocation_method, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_cost_allocation where allocation_key = ? and provider_name = ? "
        "and charge_date = ? group by all order by all",
        [key, provider, DAY],
    )


def test_team_by_tag_account_map_and_shared_rules_by_hand(allocation_home: Path):
    assert allocated(allocation_home, "team", "AWS") == [
        ("data", "shared_rule", Decimal("1.8181818182"), Decimal("1.8181818182")),
        ("data", "tag", Decimal(0), Decimal(10)),
        ("platform", "account_map", Decimal(100), Decimal(30)),
        ("web", "shared_rule", Decimal("18.1818181818"), Decimal("18.1818181818")),
        ("web", "tag", Decimal(40), Decimal(100)),
    ]
    assert allocated(allocation_home, "team", "Azure") == [
        ("(unallocated)", "unallocated", Decimal(50), Decimal(50)),
        ("data", "shared_rule", Decimal(120), Decimal(0)),
        ("data", "tag", Decimal(0), Decimal(50)),
        ("web", "shared_rule", Decimal(180), Decimal(0)),
    ]


def test_even_splits_and_a_zero_proportional_base_split_evenly_by_hand(allocation_home: Path):
    assert allocated(allocation_home, "env", "AWS") == [
        ("(unallocated)", "unallocated", Decimal(0), Decimal(100)),
        ("dev", "shared_rule", THIRD + 10, Decimal(10)),
        ("prod", "shared_rule", THIRD + Decimal("0.0000000001") + 10, Decimal(10)),
        ("test", "shared_rule", THIRD, Decimal(0)),
        ("true", "tag", Decimal(40), Decimal(40)),
    ]
    assert allocated(allocation_home, "env", "Azure") == [
        ("(unallocated)", "unallocated", Decimal(50), Decimal(100)),
        ("dev", "shared_rule", Decimal(100), Decimal(0)),
        ("prod", "shared_rule", Decimal(100), Decimal(0)),
        ("test", "shared_rule", Decimal(100), Decimal(0)),
    ]


def test_every_key_sums_to_the_daily_costs_to_the_cent(allocation_home: Path):
    # per provider and currency, and per charge and service category: the dashboard's
    # charges and category filters select the same cost in both marts
    db = allocation_home / "data" / "finops.duckdb"
    grain = "provider_name, billing_currency, charge_category, service_category"
    daily = fetch(
        db,
        f"select {grain}, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs group by all order by all",
    )
    assert ("AWS", "USD", "Purchase", "Compute", Decimal(100), Decimal(0)) in daily
    for key in ("team", "env"):
        assert (
            fetch(
                db,
                f"select {grain}, sum(billed_cost), sum(effective_cost) "
                "from marts.fct_cost_allocation where allocation_key = ? group by all order by all",
                [key],
            )
            == daily
        )


def test_allocation_kpis_by_hand(allocation_home: Path):
    # team, AWS: 160 effective; untaggable: the purchase (0) and the unused plan (30); tagged
    # 60 + 10 + 40 = 110, untagged taggable: S3 20 -> untagged share 20 / 130; allocated:
    # everything (no unallocated row). env, AWS: tagged 40 (the key-only tag), untagged 60 +
    # 10 + 20 = 90 -> 90 / 130; allocated: 160 less the unallocated 60 + 10 + 30 -> 60 / 160.
    # Azure, EUR: team tagged 50 of 100, the on-demand 50 unallocated; env: nothing tagged,
    # the purchase's 0 effective allocated, the usage's 100 not.
    assert fetch(
        allocation_home / "data" / "finops.duckdb",
        "select provider_name, allocation_key, billing_currency, total_cost, tagged_cost, "
        "untagged_cost, untaggable_cost, untagged_share, allocated_share "
        "from marts.fct_allocation_kpis where billing_month = '2026-01-01' order by all",
    ) == [
        ("AWS", "env", "USD", Decimal(160), Decimal(40), Decimal(90), Decimal(30), 0.692308, 0.375),
        ("AWS", "team", "USD", Decimal(160), Decimal(110), Decimal(20), Decimal(30), 0.153846, 1.0),
        ("Azure", "env", "EUR", Decimal(100), Decimal(0), Decimal(100), Decimal(0), 1.0, 0.0),
        ("Azure", "team", "EUR", Decimal(100), Decimal(50), Decimal(50), Decimal(0), 0.5, 0.5),
    ]


def dbt_build(home: Path, db: Path, work: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`dbt build *args` on the warehouse file `db` with the allocation configuration of the
    run that built `home` (as the pipeline hands it to dbt), every test over all history."""
    return dbt(
        db,
        work,
        "build",
        *args,
        FINOPS_ALLOCATION_TAGS=KEYS,
        FINOPS_ALLOCATION_RULES=str(home / "allocation.yml"),
    )


def test_the_reconciliation_catches_a_cent_created_by_allocation(
    allocation_home: Path, tmp_path: Path
):
    # GIVEN a copy of the built warehouse where one allocated part gained a cent
    tampered = copy_warehouse(allocation_home / "data" / "finops.duckdb", tmp_path / "tampered")
    con = duckdb.connect(str(tampered))
    try:
        con.execute(
            "update marts.fct_cost_allocation set billed_cost = billed_cost + 0.01 "
            "where allocation_key = 'env' and allocation_value = 'test' and provider_name = 'AWS'"
        )
    finally:
        con.close()

    # WHEN the reconciliation test runs with the run's allocation configuration
    done = dbt_build(
        allocation_home,
        tampered,
        tmp_path,
        "--select",
        "assert_fct_cost_allocation_reconciles",
        "--store-failures",
    )

    # THEN it fails and names the key, provider, currency, categories and the day (and the
    # total)
    assert done.returncode != 0, done.stdout[-3000:]
    assert "Failure in test assert_fct_cost_allocation_reconciles" in done.stdout
    assert fetch(
        tampered,
        "select allocation_key, provider_name, billing_currency, charge_category, "
        "service_category, charge_day, billed_difference "
        "from dbt_test__audit.assert_fct_cost_allocation_reconciles order by charge_day",
    ) == [
        ("env", "AWS", "USD", "Purchase", "Compute", "2026-01-10", Decimal("0.01")),
        ("env", "AWS", "USD", "Purchase", "Compute", "all", Decimal("0.01")),
    ]


# Every column of fct_cost_allocation but the watermark (when a row was built), in one order
ALLOCATION_ROWS = (
    "select cost_allocation_id, charge_date, provider_name, billing_account_id, sub_account_id, "
    "service_name, service_category, charge_category, billing_currency, allocation_key, "
    "allocation_value, allocation_method, is_taggable, billed_cost, effective_cost, "
    "reporting_currency, fx_rate, billed_cost_reporting, effective_cost_reporting, "
    "x_config_fingerprint from marts.fct_cost_allocation order by cost_allocation_id"
)


def test_a_warehouse_built_before_the_category_columns_gets_them_on_the_next_build(
    allocation_home: Path, tmp_path: Path
):
    # GIVEN a copy of the warehouse as the previous version built it: the allocation tables
    # without service_category (and the mart without charge_category), same configuration
    built = allocation_home / "data" / "finops.duckdb"
    older = copy_warehouse(built, tmp_path / "older")
    con = duckdb.connect(str(older))
    try:
        for table, column in (
            ("intermediate.int_cost_allocation_split", "service_category"),
            ("marts.fct_cost_allocation", "service_category"),
            ("marts.fct_cost_allocation", "charge_category"),
        ):
            con.execute(f"alter table {table} drop column {column}")
    finally:
        con.close()

    # WHEN the next build runs, no load having finished since (by the loads, no day to
    # rebuild)
    done = dbt_build(
        allocation_home,
        older,
        tmp_path,
        "--select",
        "int_cost_allocation_split",
        "fct_cost_allocation",
        "--exclude-resource-type",
        "unit_test",
    )

    # THEN it passes, the reconciliation by charge and service category among its tests
    assert done.returncode == 0, done.stdout[-3000:]
    assert "assert_fct_cost_allocation_reconciles" in done.stdout
    # ... every day was rebuilt with the new columns: the rows are the fresh build's
    assert fetch(older, ALLOCATION_ROWS) == fetch(built, ALLOCATION_ROWS)
    assert fetch(
        older,
        "select count(*) from intermediate.int_cost_allocation_split where service_category is null",
    ) == [(0,)]


def test_a_focus_1_3_split_charge_is_allocated_by_its_pods_tags_and_counted_once(
    allocation_home: Path,
):
    # GIVEN the second payer's FOCUS 1.3 day: an EC2 node's 100 split by the provider over two
    # pods (60 web, 40 data: AllocatedTags), and Lambda 5 tagged web
    db = allocation_home / "data" / "finops.duckdb"
    day = date.fromisoformat(SPLIT_DAY)
    # THEN the day's cost is the file's, once (the allocated charges replace their origin)
    assert fetch(
        db,
        "select provider_name, billing_account_id, sum(billed_cost), sum(effective_cost) "
        "from marts.fct_daily_costs where charge_date = ? group by all",
        [day],
    ) == [("AWS", "333333333333", Decimal(105), Decimal(105))]
    # ... and each pod's part goes to its team by the pod's tags
    assert fetch(
        db,
        "select allocation_value, allocation_method, sum(effective_cost) "
        "from marts.fct_cost_allocation where allocation_key = 'team' and charge_date = ? "
        "group by all order by all",
        [day],
    ) == [("data", "tag", Decimal(40)), ("web", "tag", Decimal(65))]
