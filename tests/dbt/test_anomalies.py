"""The anomaly marts on the simulated source, with the project's default vars.

One module-scoped `dbt build` of the anomaly marts and their parents on six months of the
simulated source, then: the root causes of every total anomaly add up to its impact per
dimension (checked here with SQL of its own, not the dbt singular test), the detector
finds the anomalies the simulated source injected (its ground truth), and, on a copy with a
region planted that bills on Wednesdays only, those days are no anomaly while a runaway in
that region is (int_daily_cost_region_scored).

    .venv/bin/pytest tests/dbt/test_anomalies.py -q
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from finops_testing import copy_warehouse, dbt

from loaders import simulated

START, END = date(2026, 1, 1), date(2026, 7, 1)
CENT = Decimal("0.01")


def fetch(db_path: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work_dir = tmp_path_factory.mktemp("dbt_anomalies")
    db_path = work_dir / "finops.duckdb"
    simulated.load(db_path, START, END, as_of=END)
    done = dbt(
        db_path,
        work_dir,
        "build",
        "--select", "+fct_cost_anomalies", "+fct_anomaly_root_causes",
        "--indirect-selection", "cautious",
        "--exclude-resource-type", "unit_test",  # tests/dbt/test_unit_tests.py runs them
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "WARN=0 ERROR=0" in done.stdout, done.stdout[-3000:]
    return db_path


def test_root_causes_sum_to_each_total_anomalys_impact_per_dimension(warehouse: Path) -> None:
    anomalies = {
        anomaly_id: (scope, day, actual, impact)
        for anomaly_id, scope, day, actual, impact in fetch(
            warehouse,
            "select total_anomaly_id, provider_scope, charge_date, actual_cost, cost_impact "
            "from marts.fct_cost_total_anomalies",
        )
    }
    assert anomalies, "no total anomaly to explain"
    sums = {
        (anomaly_id, dimension): (actual, contribution)
        for anomaly_id, dimension, actual, contribution in fetch(
            warehouse,
            "select total_anomaly_id, dimension, sum(actual_cost), sum(contribution) "
            "from marts.fct_anomaly_root_causes group by all",
        )
    }
    # the day's usage straight from fct_daily_costs, per scope
    usage = {
        (scope, day): cost
        for scope, day, cost in fetch(
            warehouse,
            "select provider_name, charge_date, sum(billed_cost_reporting) from marts.fct_daily_costs "
            "where charge_category = 'Usage' group by all "
            "union all "
            "select 'All', charge_date, sum(billed_cost_reporting) from marts.fct_daily_costs "
            "where charge_category = 'Usage' group by all",
        )
    }
    for anomaly_id, (scope, day, actual, impact) in anomalies.items():
        assert actual == usage[(scope, day)], (scope, day)
        for dimension in ("account", "service", "region"):
            item_actual, contribution = sums[(anomaly_id, dimension)]
            assert item_actual == actual, (scope, day, dimension)
            assert abs(contribution - impact) < CENT, (scope, day, dimension, contribution, impact)


def test_injected_anomalies_are_found(warehouse: Path) -> None:
    flagged = set(
        fetch(
            warehouse,
            "select provider_name, sub_account_id, service_name, charge_date "
            "from marts.fct_cost_anomalies",
        )
    )
    injected = simulated.injected_anomalies(START, END)
    found = [
        a
        for a in injected
        if any(
            (a.provider_name, a.sub_account_id, a.service_name, a.first_date + timedelta(days=n))
            in flagged
            for n in range((a.last_date - a.first_date).days + 1)
        )
    ]
    assert len(injected) >= 10
    assert len(found) >= 0.9 * len(injected), sorted(set(injected) - set(found))


def test_every_anomaly_says_its_seasonality_and_direction(warehouse: Path) -> None:
    # a service series: compared with days of its own kind or with every day, as it shows a
    # weekly pattern or not; a total: the same weekday of the previous weeks (dbt_project.yml)
    services = fetch(
        warehouse, "select distinct seasonality, direction from marts.fct_cost_anomalies"
    )
    totals = fetch(
        warehouse, "select distinct seasonality, direction from marts.fct_cost_total_anomalies"
    )
    assert {seasonality for seasonality, _ in services} == {"weekly", "none"}
    assert {seasonality for seasonality, _ in totals} == {"day_of_week"}
    assert {direction for _, direction in services + totals} <= {"spike", "drop"}


def test_a_region_billing_its_usual_amount_on_some_days_is_no_anomaly_but_a_runaway_is(
    warehouse: Path, tmp_path: Path
) -> None:
    # GIVEN a copy of the warehouse where a large storage series gains a second region that
    # bills 3,000 every Wednesday and nothing on other days (the series more than triples on
    # its days: a spike to a series summing its regions, but that region's usual business)
    # - but for the last Wednesday, when it bills ten times that (a runaway in that region)
    copy = copy_warehouse(warehouse, tmp_path / "sporadic_region")
    con = duckdb.connect(str(copy))
    try:
        [(account,)] = con.execute(
            "select linked_account_id from raw.aws_cost_explorer "
            "where record_type = 'Usage' and service = 'Amazon Simple Storage Service' "
            "group by all order by sum(unblended_cost) desc limit 1"
        ).fetchall()
        planted = (
            "from raw.aws_cost_explorer where record_type = 'Usage' "
            "and service = 'Amazon Simple Storage Service' and linked_account_id = ? "
            "and region = 'us-east-1' and isodow(time_period_start) = 3"
        )
        [(runaway,)] = con.execute(f"select max(time_period_start) {planted}", [account]).fetchall()
        con.execute(
            "insert into raw.aws_cost_explorer select * replace ('ap-south-1' as region, "
            "case when time_period_start = ? then 30000 else 3000 end as unblended_cost, "
            f"case when time_period_start = ? then 30000 else 3000 end as amortized_cost) {planted}",
            [runaway, runaway, account],
        )
    finally:
        con.close()
    # WHEN the anomaly marts are built on it
    done = dbt(
        copy,
        tmp_path,
        "build", "--full-refresh",
        "--select", "+fct_cost_anomalies", "+fct_anomaly_series",
        "--indirect-selection", "cautious",
        "--exclude-resource-type", "unit_test",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    series = (
        "provider_name = 'AWS' and service_name = 'Amazon Simple Storage Service' "
        f"and sub_account_id = '{account}'"
    )
    # THEN the region bills on too few days of its window to be trained: on its usual
    # Wednesdays it does not count, on the last one it bills over twice its most (a runaway)
    region_days = fetch(
        copy,
        "select charge_date, actual_cost, is_counted, is_runaway "
        f"from intermediate.int_daily_cost_region_scored where {series} "
        "and region_id = 'ap-south-1' and actual_cost > 0 order by charge_date",
    )
    assert len(region_days) >= 20 and region_days[-1][0] == runaway, region_days
    assert {row[1:] for row in region_days[:-1]} == {(Decimal(3000), False, False)}
    assert region_days[-1][1:] == (Decimal(30000), False, True)
    # ... so the series' Wednesdays are no anomaly, its runaway is, in the marts and on the
    # chart alike
    in_mart = {
        day
        for (day,) in fetch(
            copy, f"select charge_date from marts.fct_cost_anomalies where {series}"
        )
    }
    assert runaway in in_mart
    assert not {day for day, *_ in region_days[:-1]} & in_mart
    charted = series.replace("provider_name", "provider_scope")
    on_chart = {
        day
        for (day,) in fetch(
            copy,
            "select charge_date from marts.fct_anomaly_series "
            f"where series_level = 'service' and is_anomaly and {charted}",
        )
    }
    assert on_chart == in_mart
