"""KPIs, top movers, the month-end forecast and its backtest after `dbt build`, checked
against sums recomputed independently from fct_daily_costs.

One warehouse of simulated data, January 1 to April 18, 2026 (as_of April 18): three complete
months to backtest, a month in progress to forecast.

    .venv/bin/pytest tests/dbt/test_kpis_forecast.py -q
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from finops_testing import dbt
from test_dbt_build import fetch

START, END = date(2026, 1, 1), date(2026, 4, 19)  # [start, end): as_of = April 18
AS_OF = END - timedelta(days=1)
CENT = Decimal("0.01")


# Only these marts and their parents (the anomaly and restatement marts are tested elsewhere):
# half the build time of the whole project. `cautious` skips tests of unselected models.
SELECT = ["+fct_cost_kpis", "+fct_cost_movers", "+fct_cost_forecast_backtest"]


def dbt_build_kpis(db_path: Path, work_dir: Path) -> str:
    """`dbt build` of SELECT against `db_path`; return its output, fail on any error."""
    done = dbt(
        db_path,
        work_dir,
        "build", "--select", *SELECT, "--indirect-selection", "cautious",
        "--exclude-resource-type", "unit_test",
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return done.stdout


@pytest.fixture(scope="module")
def warehouse_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    simulated = pytest.importorskip("loaders.simulated")
    work_dir = tmp_path_factory.mktemp("dbt_kpis_forecast")
    db_path = work_dir / "finops.duckdb"
    simulated.load(db_path, START, END, as_of=END, seed=42)
    output = dbt_build_kpis(db_path, work_dir)
    assert "WARN=0 ERROR=0" in output, output[-3000:]
    return db_path


def daily_billed(db_path: Path, scope: str) -> dict[date, Decimal]:
    """Billed cost (reporting currency) per charge date of a provider scope."""
    rows = fetch(
        db_path,
        "select charge_date, sum(billed_cost_reporting) from marts.fct_daily_costs "
        "where ? in ('All', provider_name) group by charge_date",
        [scope],
    )
    return dict(rows)


def expected_forecast(costs: dict[date, Decimal], cutoff: date) -> Decimal:
    """The documented method, from scratch: month to date + for each remaining day, the mean
    cost of its weekday over the 28 days ending on the cutoff (history is long enough here)."""
    month_start = cutoff.replace(day=1)
    next_month = (month_start + timedelta(days=32)).replace(day=1)
    mtd = sum((v for d, v in costs.items() if month_start <= d <= cutoff), Decimal(0))
    by_weekday: dict[int, list[Decimal]] = defaultdict(list)
    for n in range(28):
        day = cutoff - timedelta(days=n)
        by_weekday[day.weekday()].append(costs.get(day, Decimal(0)))
    remaining = Decimal(0)
    day = cutoff + timedelta(days=1)
    while day < next_month:
        values = by_weekday[day.weekday()]
        remaining += sum(values, Decimal(0)) / len(values)
        day += timedelta(days=1)
    return mtd + remaining


@pytest.mark.parametrize("scope", ["All", "AWS", "Azure"])
def test_previous_month_and_like_for_like_mom(warehouse_db: Path, scope: str) -> None:
    # GIVEN the daily costs of the scope
    costs = daily_billed(warehouse_db, scope)
    march = sum((v for d, v in costs.items() if d.month == 3), Decimal(0))
    march_1_18 = sum((v for d, v in costs.items() if d.month == 3 and d.day <= 18), Decimal(0))
    april_mtd = sum((v for d, v in costs.items() if d.month == 4), Decimal(0))

    # WHEN the KPI row is read
    [(prev_month, same_period, mom, forecast)] = fetch(
        warehouse_db,
        "select prev_month_cost, prev_month_same_period_cost, mom_change_pct, "
        "forecast_month_end_cost from marts.fct_cost_kpis "
        "where provider_scope = ? and cost_basis = 'billed'",
        [scope],
    )

    # THEN previous month = all of March, MoM compares April 1-18 with March 1-18
    assert prev_month.quantize(CENT) == march.quantize(CENT)
    assert same_period.quantize(CENT) == march_1_18.quantize(CENT)
    expected_mom = ((april_mtd - march_1_18) / march_1_18 * 100).quantize(Decimal("0.0001"))
    assert mom == expected_mom
    [(mart_forecast,)] = fetch(
        warehouse_db,
        "select forecast_month_end_cost from marts.fct_cost_forecast where provider_scope = ?",
        [scope],
    )
    assert forecast == mart_forecast


def test_top_service_mover_of_the_last_7_days(warehouse_db: Path) -> None:
    # GIVEN each service's change between April 12-18 and April 5-11, recomputed
    [(provider, service, change)] = fetch(
        warehouse_db,
        """
        select provider_name, service_name,
               sum(billed_cost_reporting) filter (where charge_date between ? - 6 and ?)
               - coalesce(sum(billed_cost_reporting)
                          filter (where charge_date between ? - 13 and ? - 7), 0) as change
        from marts.fct_daily_costs
        where charge_date between ? - 13 and ?
        group by all
        order by abs(change) desc
        limit 1
        """,
        [AS_OF] * 6,
    )

    # WHEN the movers mart's rank 1 of (last_7d, service) is read
    [(mart_provider, mart_service, mart_change, rows)] = fetch(
        warehouse_db,
        "select any_value(provider_name) filter (where change_rank = 1), "
        "any_value(item_id) filter (where change_rank = 1), "
        "any_value(change) filter (where change_rank = 1), count(*) "
        "from marts.fct_cost_movers where period = 'last_7d' and dimension = 'service'",
    )

    # THEN it is the same service with the same change, and at most 20 rows are kept
    assert (mart_provider, mart_service) == (provider, service)
    assert mart_change.quantize(CENT) == change.quantize(CENT)
    assert 0 < rows <= 20


@pytest.mark.parametrize("scope", ["All", "AWS", "Azure"])
def test_forecast_is_mtd_plus_weekday_averages(warehouse_db: Path, scope: str) -> None:
    costs = daily_billed(warehouse_db, scope)

    [(as_of, mtd, elapsed, remaining, forecast)] = fetch(
        warehouse_db,
        "select as_of_date, mtd_cost, days_elapsed, days_remaining, forecast_month_end_cost "
        "from marts.fct_cost_forecast where provider_scope = ?",
        [scope],
    )

    assert (as_of, elapsed, remaining) == (AS_OF, 18, 12)
    assert mtd.quantize(CENT) == sum(v for d, v in costs.items() if d.month == 4).quantize(CENT)
    assert forecast.quantize(CENT) == expected_forecast(costs, AS_OF).quantize(CENT)


def test_backtest_covers_every_complete_month_with_its_error(warehouse_db: Path) -> None:
    # GIVEN three complete months (January to March) and three scopes
    rows = fetch(
        warehouse_db,
        "select provider_scope, forecast_month, cutoff_day from marts.fct_cost_forecast_backtest",
    )
    expected = {
        (scope, date(2026, month, 1), day)
        for scope in ("All", "AWS", "Azure")
        for month in (1, 2, 3)
        for day in (7, 14, 21)
    }
    assert sorted(rows) == sorted(expected)

    # WHEN February's day-14 forecast of 'All' is recomputed from data up to February 14
    costs = daily_billed(warehouse_db, "All")
    [(forecast, actual, abs_pct_error)] = fetch(
        warehouse_db,
        "select forecast_month_end_cost, actual_cost, abs_pct_error "
        "from marts.fct_cost_forecast_backtest where backtest_id = 'all_2026-02_d14'",
    )
    february = sum((v for d, v in costs.items() if d.month == 2), Decimal(0))
    known_then = {d: v for d, v in costs.items() if d <= date(2026, 2, 14)}

    # THEN forecast, actual and error agree to the cent / to 4 decimals
    assert forecast.quantize(CENT) == expected_forecast(known_then, date(2026, 2, 14)).quantize(
        CENT
    )
    assert actual.quantize(CENT) == february.quantize(CENT)
    [(recomputed,)] = fetch(
        warehouse_db,
        "select round(abs(? - sum(billed_cost_reporting)) / abs(sum(billed_cost_reporting)) "
        "* 100, 4) from marts.fct_daily_costs where date_trunc('month', charge_date) = ?",
        [forecast, date(2026, 2, 1)],
    )
    assert abs_pct_error == Decimal(recomputed).quantize(Decimal("0.0001"))
