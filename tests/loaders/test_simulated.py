"""The simulated source: deterministic, realistic, landed exactly like the real loaders land."""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

import loaders.simulated as simulated
from loaders.simulated import catalog

START = date(2026, 1, 1)
END = date(2026, 6, 30)  # 180 days
AS_OF = date(2026, 7, 10)  # every day of the window is final
CENT = Decimal("0.01")


def query(db: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def batch_json(batch: simulated.SimulatedBatch) -> str:
    answers = [batch.aws_totals_pages, batch.aws_queries, batch.azure_queries]
    return json.dumps(answers, sort_keys=True)


@pytest.fixture(scope="module")
def batch() -> simulated.SimulatedBatch:
    return simulated.generate(START, END, as_of=AS_OF)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Any]]:
    db = tmp_path_factory.mktemp("simulated") / "warehouse.duckdb"
    return db, simulated.load(db, START, END, as_of=AS_OF)


def page_totals(batch: simulated.SimulatedBatch) -> dict[str, Decimal]:
    """Totals computed straight from the API-shaped pages (not through the mappings)."""
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for _request, pages in batch.aws_queries:
        for page in pages:
            for result in page["ResultsByTime"]:
                for group in result["Groups"]:
                    totals["AWS unblended"] += Decimal(group["Metrics"]["UnblendedCost"]["Amount"])
                    totals["AWS amortized"] += Decimal(group["Metrics"]["AmortizedCost"]["Amount"])
    for _scope, query_type, _fixed, pages in batch.azure_queries:
        for page in pages:
            for row in page["properties"]["rows"]:
                totals[f"Azure {query_type} {row[4]}"] += Decimal(str(row[0]))
    return totals


def warehouse_totals(db: Path) -> dict[str, Decimal]:
    totals = dict(
        query(
            db,
            "select 'AWS unblended', sum(unblended_cost) from raw.aws_cost_explorer "
            "union all select 'AWS amortized', sum(amortized_cost) from raw.aws_cost_explorer "
            "union all select 'Azure ' || query_type || ' ' || currency, sum(cost) "
            "from raw.azure_cost_management group by query_type, currency",
        )
    )
    return totals


# ---------------------------------------------------------------- determinism and content


def test_same_inputs_give_byte_identical_batches(batch: simulated.SimulatedBatch) -> None:
    # GIVEN the batch of a 180-day window
    # WHEN the same window is generated again, and once with another seed
    again = simulated.generate(START, END, as_of=AS_OF)
    other_seed = simulated.generate(START, END, as_of=AS_OF, seed=7)

    # THEN the same inputs give the same bytes, another seed other amounts
    assert again == batch
    assert batch_json(again) == batch_json(batch)
    assert page_totals(other_seed)["AWS unblended"] != page_totals(batch)["AWS unblended"]


def test_a_day_does_not_depend_on_the_window_it_is_loaded_in() -> None:
    # GIVEN two overlapping windows (a daily run reloads a trailing window)
    first = simulated.aws_rows(simulated.generate(date(2026, 3, 1), date(2026, 4, 15), as_of=AS_OF))
    later = simulated.aws_rows(simulated.generate(date(2026, 3, 20), date(2026, 5, 1), as_of=AS_OF))

    # WHEN the rows of the shared days are compared
    def shared(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
        return sorted(
            tuple(r.values())
            for r in rows
            if date(2026, 3, 20) <= r["time_period_start"] < date(2026, 4, 15)
        )

    # THEN they are identical (anomalies included): reloading restates nothing by itself
    assert shared(first) == shared(later)
    assert len(shared(first)) > 2000


def test_the_estate_looks_like_a_real_multi_cloud_bill(loaded: tuple[Path, list[Any]]) -> None:
    # GIVEN a 180-day window loaded in the warehouse
    db, _ = loaded

    # WHEN its accounts, services and currencies are counted
    aws_services = query(db, "select count(distinct service) from raw.aws_cost_explorer")[0][0]
    azure_services = query(
        db, "select count(distinct service_name) from raw.azure_cost_management"
    )[0][0]
    accounts = query(
        db,
        "select distinct linked_account_id, linked_account_name from raw.aws_cost_explorer order by 2",
    )
    usage_series = query(
        db,
        "select count(distinct (linked_account_id, service, region)) from raw.aws_cost_explorer "
        "where record_type = 'Usage'",
    )[0][0]
    azure_series = query(
        db,
        "select count(distinct (subscription_id, service_name, resource_location)) "
        "from raw.azure_cost_management where charge_type = 'Usage'",
    )[0][0]
    currencies = dict(
        query(
            db, "select subscription_name, min(currency) from raw.azure_cost_management group by 1"
        )
    )
    record_types = {
        r for (r,) in query(db, "select distinct record_type from raw.aws_cost_explorer")
    }
    charge_types = set(
        query(db, "select distinct query_type, charge_type from raw.azure_cost_management")
    )

    # THEN it has the breadth of a real estate
    assert aws_services >= 30
    assert azure_services >= 20
    assert [name for _, name in accounts] == [
        "acme-data",
        "acme-dev",
        "acme-prod",
        "acme-shared-services",
        "acme-staging",
    ]
    assert usage_series == 100
    assert 40 <= azure_series <= 60
    assert currencies == {
        "contoso-prod": "USD",
        "contoso-dev": "USD",
        "contoso-data": "USD",
        "contoso-prod-eu": "EUR",
    }
    assert record_types == {
        "Usage",
        "Tax",
        "Support",
        "Credit",
        "Refund",
        "SavingsPlanCoveredUsage",
        "SavingsPlanNegation",
        "SavingsPlanRecurringFee",
    }
    assert {
        ("ActualCost", "Purchase"),
        ("AmortizedCost", "UnusedReservation"),
        ("ActualCost", "Adjustment"),
        ("ActualCost", "Refund"),
    } <= charge_types
    assert ("AmortizedCost", "Purchase") not in charge_types
    assert ("ActualCost", "UnusedReservation") not in charge_types
    # ... and global services keep Cost Explorer's region values
    assert {"NoRegion", "global"} <= {
        r for (r,) in query(db, "select distinct region from raw.aws_cost_explorer")
    }


def test_credits_and_refunds_are_negative_and_commitments_balance(
    loaded: tuple[Path, list[Any]],
) -> None:
    # GIVEN the loaded window
    db, _ = loaded

    # WHEN credits, refunds and the commitment splits are read
    negatives = dict(
        query(
            db,
            "select record_type, max(unblended_cost) from raw.aws_cost_explorer "
            "where record_type in ('Credit', 'Refund', 'SavingsPlanNegation') group by 1",
        )
    )
    # Savings Plan: per day, billed and amortized cost of prod agree in total.
    prod_gap = query(
        db,
        "select max(abs(u - a)) from (select time_period_start, sum(unblended_cost) u, "
        "sum(amortized_cost) a from raw.aws_cost_explorer where linked_account_name = 'acme-prod' "
        "group by 1)",
    )[0][0]
    # Reservation: over whole months, ActualCost and AmortizedCost of prod agree in total.
    month_gap = query(
        db,
        "select max(abs(actual - amortized)) from (select usage_date // 100 as month, "
        "sum(cost) filter (where query_type = 'ActualCost') actual, "
        "sum(cost) filter (where query_type = 'AmortizedCost') amortized "
        "from raw.azure_cost_management where subscription_name = 'contoso-prod' "
        "and usage_date < 20260601 group by 1)",  # whole months only
    )[0][0]
    adjustments = query(
        db,
        "select max(cost), count(*) from raw.azure_cost_management where charge_type = 'Adjustment'",
    )[0]

    # THEN credits, refunds and negations are negative
    assert all(value < 0 for value in negatives.values()) and len(negatives) == 3
    assert adjustments[0] < 0 and adjustments[1] > 0
    # ... and commitments move cost between days or record types without creating or losing any
    assert prod_gap < CENT
    assert month_gap < CENT


# ---------------------------------------------------------------- landing


def test_warehouse_totals_equal_the_api_pages_to_the_cent(
    batch: simulated.SimulatedBatch, loaded: tuple[Path, list[Any]]
) -> None:
    # GIVEN the pages the APIs answered and the warehouse they were loaded into
    db, results = loaded

    # WHEN the totals are compared per provider, cost basis and currency
    expected = page_totals(batch)
    actual = warehouse_totals(db)

    # THEN nothing was lost, doubled or converted
    assert set(actual) == set(expected)
    for key, total in expected.items():
        assert abs(actual[key] - total) < CENT, key
    # ... and the ledger shows one load per scope with the real API's request count, for free
    ledger = query(
        db,
        "select scope, row_count, api_requests, api_cost_usd from raw.load_ledger "
        "where source = 'simulated' order by scope",
    )
    assert len(ledger) == 5
    assert sum(row[1] for row in ledger) == sum(r.row_count for r in results) > 30_000
    assert {row[3] for row in ledger} == {Decimal("0")}
    aws = next(row for row in ledger if row[0] == catalog.AWS_PAYER_ACCOUNT_ID)
    # the real loader's first load: one MONTHLY totals page, the (record type, region)
    # slices' pages, GetSavingsPlansUtilizationDetails one a day and GetSavingsPlansCoverage
    days = (batch.end - batch.start).days
    assert len(batch.aws_totals_pages) == 1
    assert (
        aws[2]
        == batch.aws_requests
        == (1 + sum(len(pages) for _, pages in batch.aws_queries) + days + 1)
    )
    # ... and the savings plan's days with the used and unused amounts of its record types
    [(plans, used, unused)] = query(
        db,
        "select count(distinct commitment_id), sum(used_amount), sum(unused_amount) "
        "from raw.aws_commitment_utilization",
    )
    [(covered, fees)] = query(
        db,
        "select sum(amortized_cost) filter (where record_type = 'SavingsPlanCoveredUsage'), "
        "sum(amortized_cost) filter (where record_type = 'SavingsPlanRecurringFee') "
        "from raw.aws_cost_explorer",
    )
    assert (plans, used, unused) == (1, covered, fees)
    assert simulated.would_cost_usd(batch) == Decimal("0.01") * batch.aws_requests


def test_azure_commitment_answers_agree_with_the_charge_type_rows(
    batch: simulated.SimulatedBatch, loaded: tuple[Path, list[Any]]
) -> None:
    # GIVEN the 180-day window loaded, with the simulated Azure commitment answers
    db, results = loaded

    # WHEN the pricing rows are summed per day x subscription x service
    [(gap, days, priced)] = query(
        db,
        """
        with
        pricing as (
            select usage_date, subscription_id, service_name, sum(cost) as cost
            from raw.azure_commitment_costs where breakdown = 'PricingModel' group by all
        ),
        usage as (
            select usage_date, subscription_id, service_name, sum(cost) as cost
            from raw.azure_cost_management
            where query_type = 'AmortizedCost' and charge_type = 'Usage' group by all
        )
        select max(abs(coalesce(pricing.cost, 0) - coalesce(usage.cost, 0))),
            count(distinct usage_date), count(*)
        from pricing full outer join usage using (usage_date, subscription_id, service_name)
        """,
    )

    # THEN they are the amortized Usage rows of the same day, subscription and service
    assert gap < Decimal("0.000001") and days == 180 and priced > 180 * 40

    # WHEN the reservation's rows are compared with the charge-type rows of its subscription
    [(unused, unused_rows, purchase, purchase_rows, used, reserved)] = query(
        db,
        """
        select
            (select sum(cost) from raw.azure_commitment_costs
                where charge_type = 'UnusedReservation' and benefit_id is not null),
            (select sum(cost) from raw.azure_cost_management where charge_type = 'UnusedReservation'),
            (select sum(cost) from raw.azure_commitment_costs
                where charge_type = 'Purchase' and benefit_id is not null),
            (select sum(cost) from raw.azure_cost_management where charge_type = 'Purchase'),
            (select sum(cost) from raw.azure_commitment_costs
                where breakdown = 'BenefitId' and charge_type = 'Usage'),
            (select sum(cost) from raw.azure_commitment_costs where pricing_model = 'Reservation')
        """,
    )

    # THEN its unused and purchase amounts are those rows', its used part the Reservation
    # priced usage, all to the cent
    assert abs(unused - unused_rows) < CENT and unused > 0
    assert abs(purchase - purchase_rows) < CENT and purchase > 0
    assert abs(used - reserved) < CENT and used > unused
    # ... one reservation, named, with its terms, landed with prod's costs in one load
    benefits = query(
        db,
        "select distinct c.benefit_id, c.benefit_name, t.term, t.billing_plan, "
        "cast(t.expiry_time as date), t._load_id = c._load_id "
        "from raw.azure_commitment_costs as c join raw.azure_commitments as t using (benefit_id)",
    )
    assert benefits == [
        (
            catalog.AZURE_RESERVATION_ID,
            catalog.AZURE_RESERVATION_NAME,
            "P1Y",
            "Monthly",
            AS_OF + timedelta(days=catalog.AZURE_RESERVATION_ENDS_AFTER_DAYS),
            True,
        )
    ]
    prod = next(r for r in results if r.scope == f"/subscriptions/{catalog.AZURE_PROD.id}")
    assert prod.api_requests == batch.azure_requests(prod.scope)


def test_loading_the_same_window_twice_leaves_no_duplicates(tmp_path: Path) -> None:
    # GIVEN a 60-day window loaded once
    db = tmp_path / "w.duckdb"
    start, end = date(2026, 3, 1), date(2026, 4, 30)
    first = simulated.load(db, start, end, as_of=AS_OF)
    before = (warehouse_totals(db), query(db, "select count(*) from raw.aws_cost_explorer"))

    # WHEN the same window is loaded again
    second = simulated.load(db, start, end, as_of=AS_OF)

    # THEN totals and row counts are unchanged, and the second load replaced the first
    assert (warehouse_totals(db), query(db, "select count(*) from raw.aws_cost_explorer")) == before
    assert [r.replaced_row_count for r in second] == [r.row_count for r in first]


def test_a_later_as_of_restates_only_the_recent_days(tmp_path: Path) -> None:
    # GIVEN a window loaded on its last day, when its last 4 days are still estimates
    db = tmp_path / "w.duckdb"
    start, end = date(2026, 5, 1), date(2026, 6, 1)
    last_day = end - timedelta(days=1)
    simulated.load(db, start, end, as_of=last_day)

    def per_day() -> dict[date, tuple[Decimal, bool, Decimal]]:
        aws = query(
            db,
            "select time_period_start, sum(unblended_cost), bool_or(estimated) "
            "from raw.aws_cost_explorer group by 1",
        )
        azure = dict(
            query(
                db,
                "select strptime(usage_date::varchar, '%Y%m%d')::date, sum(cost) "
                "from raw.azure_cost_management group by 1",
            )
        )
        return {day: (cost, estimated, azure[day]) for day, cost, estimated in aws}

    before = per_day()

    # WHEN the same window is loaded a week later
    simulated.load(db, start, end, as_of=last_day + timedelta(days=7))
    after = per_day()

    # THEN the last 4 days went up (estimates settle higher) and lost their estimated flag
    recent = [last_day - timedelta(days=age) for age in range(4)]
    for day in recent:
        assert before[day][1] is True and after[day][1] is False
        assert after[day][0] > before[day][0] and after[day][2] > before[day][2]
    # ... by 4 % on the most recent day
    assert abs(before[last_day][0] / after[last_day][0] - Decimal("0.96")) < Decimal("1e-6")
    # ... and every older day is exactly as it was
    older = [day for day in before if day not in recent]
    assert len(older) == 27
    assert all(before[day] == after[day] for day in older)


def test_the_ledger_counts_the_requests_of_the_real_loaders_scheme(tmp_path: Path) -> None:
    # GIVEN May and June (to date) loaded for the first time on 2026-06-20
    db = tmp_path / "w.duckdb"
    start, end, as_of = date(2026, 5, 1), date(2026, 7, 1), date(2026, 6, 20)
    first = {r.scope: r.api_requests for r in simulated.load(db, start, end, as_of=as_of)}
    aws, prod = catalog.AWS_PAYER_ACCOUNT_ID, f"/subscriptions/{catalog.AZURE_PROD.id}"
    azure = [scope for scope in first if scope != aws]

    # THEN the first Azure load asked, per subscription and month, a discovery query per
    # query type and one query per (query type, charge type) with cost (a Daily query covers
    # at most 31 days), the pricing query of the amortized usage, prod's benefit queries
    # (its committed usage, unused reservation and purchase) and, once, the benefits lists
    pairs = dict(
        query(
            db,
            "select '/subscriptions/' || subscription_id, count(distinct "
            "(usage_date // 100, query_type, charge_type)) + count(distinct usage_date // 100) "
            "* 3 from raw.azure_cost_management group by 1",
        )
    )
    benefits = query(
        db,
        "select count(distinct (usage_date // 100, query_type, charge_type)) "
        "from raw.azure_commitment_costs where breakdown = 'BenefitId'",
    )[0][0]
    assert benefits == 2 * 3
    assert {s: first[s] for s in azure} == {
        s: pairs[s] + (benefits + 2 if s == prod else 0) for s in azure
    }

    # WHEN the next day's run loads the same window, and that run is repeated
    next_day = as_of + timedelta(days=1)
    daily = {r.scope: r.api_requests for r in simulated.load(db, start, end, as_of=next_day)}
    again = {r.scope: r.api_requests for r in simulated.load(db, start, end, as_of=next_day)}

    # THEN Cost Explorer was asked the DAILY totals pass (52 days: two pages of 40 days),
    # then one query per (record type, region) with cost on the 5 changed days (the new
    # day and the 4 estimates restated: one run of days), the savings plan utilization of
    # those days and their coverage in one query
    changed = (as_of - timedelta(days=3), next_day)
    [(slices, plan_days)] = query(
        db,
        "select count(distinct (record_type, region)), count(distinct time_period_start) "
        "filter (where record_type like 'SavingsPlan%') from raw.aws_cost_explorer "
        "where time_period_start between ? and ?",
        list(changed),
    )
    assert daily[aws] == 2 + slices + plan_days + 1 and plan_days == 5
    # ... and the Query API, per subscription, a window totals query per query type, and one
    # Cost Details report per query type (4 requests each) over the recent days: the 4
    # estimates restated are the last 4 stored days, so the window totals held and no Daily
    # totals query followed
    assert {s: daily[s] for s in azure} == {s: 2 + 2 * 4 + (2 if s == prod else 0) for s in azure}
    # ... Cost Explorer a quarter or less of its first load's requests (USD 0.01 each)
    assert daily[aws] * 4 <= first[aws]
    # ... and a repeated run, with nothing changed, asked for the totals alone (Azure: the
    # window totals, equal to the stored days': no report)
    assert again == {s: 2 if s == aws else 2 + (2 if s == prod else 0) for s in first}


def test_days_after_as_of_have_no_data_yet() -> None:
    # GIVEN a window that ends after the as-of day
    batch = simulated.generate(date(2026, 6, 1), date(2026, 6, 30), as_of=date(2026, 6, 19))

    # WHEN it is mapped
    aws_days = {r["time_period_start"] for r in simulated.aws_rows(batch)}
    azure_days = {
        r["usage_date"] for scope in batch.azure_scopes for r in simulated.azure_rows(batch, scope)
    }

    # THEN it stops at the as-of day (estimated), like the real APIs
    assert max(aws_days) == date(2026, 6, 19) and len(aws_days) == 19
    assert max(azure_days) == 20260619


# ---------------------------------------------------------------- paging


def test_long_answers_are_paged_like_the_apis_page_them(batch: simulated.SimulatedBatch) -> None:
    # GIVEN the 180-day batch
    # WHEN its Cost Explorer answers are inspected
    usage_pages = [
        pages for request, pages in batch.aws_queries if "Usage" in json.dumps(request["Filter"])
    ]

    # THEN Usage answers come in pages of at most 40 days linked by NextPageToken
    assert all(len(pages) == 5 for pages in usage_pages)
    for pages in usage_pages:
        assert all("NextPageToken" in p for p in pages[:-1]) and "NextPageToken" not in pages[-1]
        assert sum(len(p["ResultsByTime"]) for p in pages) == 180
        assert max(len(p["ResultsByTime"]) for p in pages) == 40


@pytest.mark.parametrize(
    "page_rows",
    [pytest.param(5000, id="5000-row pages"), pytest.param(700, id="700-row pages")],
)
def test_azure_paging_loses_no_row(batch: simulated.SimulatedBatch, page_rows: int) -> None:
    # GIVEN the 180-day window paged at the given Query API page size
    paged = simulated.generate(START, END, as_of=AS_OF, azure_page_rows=page_rows)

    # WHEN every scope's pages are mapped
    rows = [r for scope in paged.azure_scopes for r in simulated.azure_rows(paged, scope)]
    reference = [r for scope in batch.azure_scopes for r in simulated.azure_rows(batch, scope)]

    # THEN the rows are the same as unpaged, and the pages chain through nextLink
    assert rows == reference
    longest = max((pages for _, _, _, pages in paged.azure_queries), key=len)
    assert all(p["properties"]["nextLink"] for p in longest[:-1])
    assert longest[-1]["properties"]["nextLink"] is None
    assert all(len(p["properties"]["rows"]) <= page_rows for p in longest)
    if page_rows < 1000:
        assert len(longest) > 1


# ---------------------------------------------------------------- anomalies


def test_injected_anomalies_are_deterministic_and_inside_the_window() -> None:
    # GIVEN the ground truth of a 180-day window
    anomalies = simulated.injected_anomalies(START, END)

    # THEN it is stable, within the window after 30 days of history, 6-10 per provider
    assert anomalies == simulated.injected_anomalies(START, END)
    assert all(START + timedelta(days=30) <= a.first_date <= a.last_date < END for a in anomalies)
    per_provider = {p: sum(a.provider_name == p for a in anomalies) for p in ("AWS", "Azure")}
    assert all(6 <= n <= 10 for n in per_provider.values()), per_provider
    assert {a.kind for a in anomalies} == {"spike", "drop"}
    assert all(3 <= a.factor <= 6 if a.kind == "spike" else a.factor == 0.05 for a in anomalies)


def test_injected_anomalies_show_in_the_billed_usage(loaded: tuple[Path, list[Any]]) -> None:
    # GIVEN the loaded window and its ground truth
    db, _ = loaded
    daily: dict[tuple[str, str, str], dict[date, Decimal]] = defaultdict(dict)
    for provider, account, service, day, cost in query(
        db,
        "select 'AWS', linked_account_id, service, time_period_start, sum(unblended_cost) "
        "from raw.aws_cost_explorer where record_type = 'Usage' group by all "
        "union all select 'Azure', subscription_id, service_name, "
        "strptime(usage_date::varchar, '%Y%m%d')::date, sum(cost) from raw.azure_cost_management "
        "where charge_type = 'Usage' and query_type = 'ActualCost' group by all",
    ):
        daily[(provider, account, service)][day] = cost

    # WHEN each anomaly day is compared with the median of the two weeks before
    for anomaly in simulated.injected_anomalies(START, END):
        series = daily[(anomaly.provider_name, anomaly.sub_account_id, anomaly.service_name)]
        history = [series[anomaly.first_date - timedelta(days=d)] for d in range(1, 15)]
        ratio = series[anomaly.first_date] / statistics.median(history)

        # THEN spikes are at least twice, drops at most a fifth of the usual cost
        if anomaly.kind == "spike":
            assert ratio > 2, anomaly
        else:
            assert ratio < Decimal("0.2"), anomaly
