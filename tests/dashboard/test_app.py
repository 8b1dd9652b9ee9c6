"""The dashboard run headless with AppTest: the numbers every page shows against our own SQL.

Every expected value is computed in `marts_sql`, independently of `dashboard.data`, with
plain SQL over the same serving file the app reads (the `warehouse` fixture: the marts the
real pipeline published on the simulated source).
"""

from __future__ import annotations

import base64
import io
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import marts_sql as sql
import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
import streamlit.testing.v1.app_test as app_test_module
from marts_sql import CENT, Facts, Selection, query
from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

from finops.settings import load_settings

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py")
PAGES = {
    "overview": "app_pages/overview.py",
    "services": "app_pages/services.py",
    "accounts": "app_pages/accounts.py",
    "anomalies": "app_pages/anomalies.py",
    "forecast": "app_pages/forecast.py",
    "freshness": "app_pages/freshness.py",
    "opportunities": "app_pages/opportunities.py",
}
MICRO = 1e-6  # DuckDB hands pandas floats: exact to the micro-unit for these magnitudes


# ---------------------------------------------------------------- helpers


def money(text: str, currency: str) -> Decimal:
    """Parse `USD 12,345.67` (or `+USD 1.00`) back to a Decimal, checking the currency."""
    sign = -1 if text.startswith("-") else 1
    code, amount = text.lstrip("+-").split(" ", 1)
    assert code == currency, text
    return sign * Decimal(amount.replace(",", ""))


def metric(at: AppTest, label: str) -> str:
    [found] = [m for m in at.metric if m.label == label]
    return found.value


# AppTest gives st.dataframe no key: each table is told apart by columns only it has.
TABLES: dict[str, tuple[set[str], set[str]]] = {
    # key: (columns it has, columns it has not)
    "services_table": ({"service_name", "share_pct"}, set()),
    "service_movers_table": ({"service_name", "change"}, {"share_pct"}),
    "categories_table": ({"service_category", "share_pct"}, {"service_name"}),
    "accounts_table": ({"sub_account_id", "billing_currencies"}, set()),
    "anomalies_table": ({"service_name", "z_score"}, set()),
    "total_anomalies_table": ({"top_region"}, set()),
    "freshness_table": ({"last_attempt_at"}, set()),
    "restatements_table": ({"billed_cost_change"}, set()),
    "api_usage_table": ({"load_month", "failed_loads"}, set()),
}


def table(at: AppTest, key: str) -> pd.DataFrame:
    has, has_not = TABLES[key]
    [found] = [
        df.value
        for df in at.dataframe
        if has <= set(df.value.columns) and not has_not & set(df.value.columns)
    ]
    return found


def _decoded(value: Any) -> Any:
    """Plotly's JSON with its base64 typed arrays (`{"dtype", "bdata"}`) turned into lists."""
    if isinstance(value, dict) and {"dtype", "bdata"} <= value.keys():
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array.tolist()
    if isinstance(value, dict):
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    return value


def chart(at: AppTest, key: str) -> go.Figure:
    """The Plotly figure of the chart drawn with `key`, its arrays decoded."""
    [found] = [c for c in at.get("plotly_chart") if c.proto.id.endswith(f"-{key}")]
    return go.Figure(_decoded(json.loads(found.proto.spec)))


def select(at: AppTest, sel: Selection, facts: Facts) -> AppTest:
    """Set the sidebar widgets to `sel` (only those that differ from the defaults) and rerun."""
    if (sel.start, sel.end) != (facts.default.start, facts.default.end):
        at.date_input(key="filter_period").set_value((sel.start, sel.end))
    if sel.providers:
        at.multiselect(key="filter_providers").set_value(list(sel.providers))
    if sel.accounts:
        at.multiselect(key="filter_accounts").set_value(list(sel.accounts))
    if sel.categories:
        at.multiselect(key="filter_categories").set_value(list(sel.categories))
    if sel.basis != "billed":
        at.radio(key="filter_cost_basis").set_value(sel.basis)
    if sel.charges != "all":
        at.radio(key="filter_charges").set_value(sel.charges)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def run_app(page: str = "overview") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    if page != "overview":
        visit(at, page)
    return at


def visit(at: AppTest, page: str) -> AppTest:
    at.switch_page(PAGES[page]).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value != ""
    return at


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def facts(dashboard_env: Path) -> Facts:
    return sql.facts(dashboard_env)


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[[], bytes]]:
    """What st.download_button would hand the browser during AppTest runs, by file name.

    Eager data is recorded as it is stored; deferred data (a callable run on click) is
    recorded as the callable, so the test "clicks" by calling it.
    """
    captured: dict[str, Callable[[], bytes]] = {}

    class RecordingStorage(MemoryMediaFileStorage):
        def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
            if filename and isinstance(path_or_data, bytes):
                captured[filename] = lambda data=path_or_data: data
            return super().load_and_get_id(path_or_data, mimetype, kind, filename)

    original = MediaFileManager.add_deferred

    def add_deferred(self, data_callable, mimetype, coordinates, file_name=None, **kwargs):  # type: ignore[no-untyped-def]
        if file_name:
            captured[file_name] = data_callable
        return original(self, data_callable, mimetype, coordinates, file_name, **kwargs)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", RecordingStorage)
    monkeypatch.setattr(MediaFileManager, "add_deferred", add_deferred)
    return captured


def csv(downloads: dict[str, Callable[[], bytes]], prefix: str, sel: Selection) -> pd.DataFrame:
    """The export `<prefix>_<start>_<end>.csv` of the selection's period, as strings."""
    name = f"{prefix}_{sel.start:%Y%m%d}_{sel.end:%Y%m%d}.csv"
    return pd.read_csv(io.BytesIO(downloads[name]()), dtype=str, keep_default_na=False)


# ---------------------------------------------------------------- overview


CASES: list[Any] = [
    pytest.param(lambda f: f.default, id="default period: last 30 days"),
    pytest.param(lambda f: Selection(f.first, f.last), id="whole history"),
    pytest.param(
        lambda f: Selection(f.default.start, f.default.end, providers=("AWS",)), id="only AWS"
    ),
    pytest.param(
        lambda f: Selection(
            f.default.start, f.default.end, providers=("Azure",), categories=f.categories[:1]
        ),
        id="Azure, top category",
    ),
    pytest.param(
        lambda f: Selection(f.default.start, f.default.end, accounts=(f.eur_account,)),
        id="one account billed in another currency",
    ),
    pytest.param(
        lambda f: Selection(f.last - timedelta(days=6), f.last, basis="effective"),
        id="effective cost, last 7 days",
    ),
    pytest.param(
        lambda f: Selection(f.default.start, f.default.end, charges="usage"),
        id="usage only",
    ),
]


@pytest.mark.parametrize("make_selection", CASES)
def test_overview_kpis_match_sql(
    dashboard_env: Path, facts: Facts, make_selection: Callable[[Facts], Selection]
) -> None:
    # GIVEN the dashboard on the warehouse, WHEN the sidebar is set to a selection
    sel = make_selection(facts)
    at = select(run_app(), sel, facts)

    # THEN the total is the SQL sum to the cent, in the reporting currency
    total = sql.total(dashboard_env, sel)
    assert money(metric(at, "Total cost"), facts.currency) == total.quantize(CENT)
    # AND the average is the total over the days of the period (not the days with data)
    average = (total / sel.days).quantize(CENT)
    assert money(metric(at, "Average per day"), facts.currency) == average
    # AND each cloud's card is its own SQL sum (AWS vs Azure)
    for provider, amount in sql.totals_by_provider(dashboard_env, sel).items():
        assert money(metric(at, provider), facts.currency) == amount.quantize(CENT)
    # AND the anomaly count is the number of flagged rows in the same selection
    assert metric(at, "Anomalies") == str(len(sql.anomalies(dashboard_env, sel)))
    # AND the daily chart stacks, per cloud, the same amounts
    by_trace = {t.name: float(sum(t.y)) for t in chart(at, "chart_daily").data}
    expected = sql.totals_by_provider(dashboard_env, sel)
    assert by_trace == pytest.approx({p: float(v) for p, v in expected.items()}, abs=MICRO)


@pytest.mark.parametrize("providers", [(), ("Azure",)], ids=["every cloud", "Azure"])
def test_overview_movers_are_the_movers_mart(
    dashboard_env: Path, facts: Facts, providers: tuple[str, ...]
) -> None:
    # GIVEN the overview, whatever its period (the movers' periods are the mart's own)
    sel = Selection(facts.first, facts.last, providers=providers)
    at = select(run_app(), sel, facts)
    for period in ("last_7d", "mtd"):
        # WHEN the week or the month is chosen
        at.radio(key="overview_movers_period").set_value(period).run()
        assert not at.exception, [e.value for e in at.exception]
        for dimension in ("service", "account"):
            # THEN each chart is the mart's 10 largest non-zero changes of the chosen clouds,
            # largest on top, each bar the mart's change
            expected = query(
                dashboard_env,
                """select provider_name || ' · ' || coalesce(item_name, item_id), change
                from marts.fct_cost_movers
                where period = ? and dimension = ? and change != 0
                    and (? or provider_name in (select unnest(?::varchar[])))
                order by change_rank limit 10""",
                [period, dimension, not providers, list(providers)],
            )
            assert expected, (period, dimension)
            figure = chart(at, f"chart_overview_{dimension}_movers")
            top_down = list(reversed(figure.layout.yaxis.categoryarray))
            assert top_down == [label for label, _ in expected]
            drawn = {y: x for t in figure.data for y, x in zip(t.y, t.x, strict=True)}
            assert drawn == pytest.approx(
                {label: float(change) for label, change in expected}, abs=MICRO
            )


def test_total_follows_the_cloud_filter(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the dashboard showing every cloud
    at = run_app()
    everything = money(metric(at, "Total cost"), facts.currency)
    assert everything == sql.total(dashboard_env, facts.default).quantize(CENT)

    # WHEN only AWS is selected
    at.multiselect(key="filter_providers").set_value(["AWS"]).run()

    # THEN the total drops to the AWS sum, and the account choices are AWS accounts only
    aws = money(metric(at, "Total cost"), facts.currency)
    sel = Selection(facts.default.start, facts.default.end, providers=("AWS",))
    assert aws == sql.total(dashboard_env, sel).quantize(CENT)
    assert 0 < aws < everything
    aws_accounts = query(
        dashboard_env,
        "select distinct sub_account_id from marts.fct_daily_costs where provider_name = 'AWS'",
    )
    accounts = at.multiselect(key="filter_accounts")
    assert sorted(accounts.options) == sorted(accounts.format_func(a) for (a,) in aws_accounts)


def test_usage_only_leaves_out_credits_tax_and_purchases(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the whole history with every charge, credits and refunds netted in
    everything = Selection(facts.first, facts.last)
    at = select(run_app(), everything, facts)
    net = money(metric(at, "Total cost"), facts.currency)

    # WHEN "usage only" is chosen
    at.radio(key="filter_charges").set_value("usage").run()
    usage = money(metric(at, "Total cost"), facts.currency)

    # THEN the difference is exactly the non-usage rows: purchases and tax, minus credits
    [(others, credits)] = query(
        dashboard_env,
        """select sum(billed_cost_reporting),
                  sum(billed_cost_reporting) filter (where billed_cost_reporting < 0)
           from marts.fct_daily_costs where charge_category != 'Usage'""",
    )
    assert credits < 0, "the simulated source has credits and refunds"
    assert net == sql.total(dashboard_env, everything).quantize(CENT)
    assert usage == sql.total(
        dashboard_env, Selection(facts.first, facts.last, charges="usage")
    ).quantize(CENT)
    assert abs((net - usage) - Decimal(others)) <= CENT


def test_no_tag_filter_without_allocation_rows(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN marts built without FINOPS_ALLOCATION_TAGS: the allocation marts hold no row
    [(rows,)] = query(dashboard_env, "select count(*) from marts.fct_cost_allocation")
    assert rows == 0

    # WHEN the dashboard is opened
    at = run_app()

    # THEN the sidebar has no tag widgets, and the page is the unfiltered one
    assert "filter_tag_key" not in [w.key for w in at.selectbox]
    assert "filter_tag_values" not in [w.key for w in at.multiselect]
    assert not [c for c in at.caption if "tag filter" in c.value]
    total = sql.total(dashboard_env, facts.default)
    assert money(metric(at, "Total cost"), facts.currency) == total.quantize(CENT)


def test_trend_compares_with_the_previous_period(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN a 7-day period whose previous 7 days are inside the data
    sel = Selection(facts.last - timedelta(days=6), facts.last)
    assert sel.previous().start >= facts.first

    # WHEN it is selected
    at = select(run_app(), sel, facts)

    # THEN the trend is the relative change of the two SQL totals
    now, before = sql.total(dashboard_env, sel), sql.total(dashboard_env, sel.previous())
    [trend] = [m for m in at.metric if m.label == "Trend vs previous period"]
    assert trend.value == f"{(now - before) / abs(before) * 100:+.1f}%"
    # AND the arrow carries the change in money, sign first
    sign = "-" if now < before else "+"
    assert trend.proto.delta == f"{sign}{facts.currency} {abs(now - before).quantize(CENT):,}"


def test_trend_is_not_available_before_the_first_day(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the whole history selected: there is no previous period in the data
    at = select(run_app(), Selection(facts.first, facts.last), facts)
    # THEN no made-up percentage is shown
    assert metric(at, "Trend vs previous period") == "n/a"


@pytest.mark.parametrize(
    "make_selection",
    [
        pytest.param(
            lambda f: Selection(f.default.start, f.default.end, providers=("Azure",)), id="Azure"
        ),
        pytest.param(
            lambda f: Selection(
                f.last - timedelta(days=6), f.last, charges="usage", basis="effective"
            ),
            id="usage only, effective, 7 days",
        ),
    ],
)
def test_daily_csv_is_exactly_the_filtered_rows(
    dashboard_env: Path,
    facts: Facts,
    downloads: dict[str, Callable[[], bytes]],
    make_selection: Callable[[Facts], Selection],
) -> None:
    # GIVEN a selection on the overview
    sel = make_selection(facts)
    select(run_app(), sel, facts)

    # WHEN the daily export is clicked (its bytes are made on click)
    exported = csv(downloads, "daily_costs", sel)

    # THEN it holds exactly the rows of the selection, every contract column, exact amounts
    clause, params = sql.where(sel)
    [(rows, billed, effective, keys)] = query(
        dashboard_env,
        f"""select count(*), sum(billed_cost_reporting), sum(effective_cost_reporting),
                   list(daily_cost_id order by daily_cost_id)
            from marts.fct_daily_costs where {clause}""",
        params,
    )
    columns = [c for (c, *_) in query(dashboard_env, "describe marts.fct_daily_costs")]
    assert list(exported.columns) == columns
    assert len(exported) == rows > 0
    assert sorted(exported["daily_cost_id"]) == keys
    assert sum(Decimal(v) for v in exported["billed_cost_reporting"]) == billed
    assert sum(Decimal(v) for v in exported["effective_cost_reporting"]) == effective
    if sel.charges == "usage":
        assert set(exported["charge_category"]) == {"Usage"}


# ---------------------------------------------------------------- services and categories


SERVICE_CASES: list[Any] = [
    pytest.param(lambda f: f.default, id="default"),
    pytest.param(
        lambda f: Selection(f.default.start, f.default.end, providers=("AWS",), basis="effective"),
        id="AWS, effective",
    ),
    pytest.param(
        lambda f: Selection(
            f.last - timedelta(days=13), f.last, categories=f.categories[:2], charges="usage"
        ),
        id="two categories, usage only, 14 days",
    ),
]


@pytest.mark.parametrize("make_selection", SERVICE_CASES)
def test_services_page_matches_sql(
    dashboard_env: Path,
    facts: Facts,
    downloads: dict[str, Callable[[], bytes]],
    make_selection: Callable[[Facts], Selection],
) -> None:
    # GIVEN the services page under a selection
    sel = make_selection(facts)
    at = select(run_app("services"), sel, facts)
    services = sql.compared(dashboard_env, sel, ["provider_name", "service_name"])

    # THEN the services table has every service of the period or the previous one, with its
    # cost in both and the change
    shown = table(at, "services_table")
    assert len(shown) == len(services)
    for row in shown.itertuples():
        now, before = services[(row.provider_name, row.service_name)]
        assert row.current_cost == pytest.approx(float(now), abs=MICRO)
        assert row.previous_cost == pytest.approx(float(before), abs=MICRO)
        assert row.change == pytest.approx(float(now - before), abs=MICRO)
    assert list(shown["current_cost"]) == sorted(shown["current_cost"], reverse=True)

    # AND the categories table adds up the same way
    categories = sql.compared(dashboard_env, sel, ["service_category"])
    shown_categories = table(at, "categories_table")
    assert {
        r.service_category: r.current_cost for r in shown_categories.itertuples()
    } == pytest.approx({k[0]: float(v[0]) for k, v in categories.items()}, abs=MICRO)

    # AND the movers are the 10 largest |changes| against the previous period, in order
    moved = table(at, "service_movers_table")
    expected = sql.top_movers(services, 10)
    assert [(r.provider_name, r.service_name) for r in moved.itertuples()] == expected
    movers_chart = chart(at, "chart_service_movers")
    assert sum(len(t.x) for t in movers_chart.data) == len(expected)

    # AND the top-10 export is the 10 costliest services of the period, with their cost
    top = csv(downloads, "top_services", sel)
    clause, params = sql.where(sel)
    ten = query(
        dashboard_env,
        f"""select service_name, provider_name, sum({sel.column}) as cost
            from marts.fct_daily_costs where {clause}
            group by service_name, provider_name order by cost desc limit 10""",
        params,
    )
    assert [(r.service_name, r.provider_name) for r in top.itertuples()] == [
        (s, p) for s, p, _ in ten
    ]
    assert [float(c) for c in top["cost"]] == pytest.approx([float(c) for *_, c in ten], abs=MICRO)
    assert set(top["reporting_currency"]) == {facts.currency}
    # AND the services export is the table as shown
    assert len(csv(downloads, "services", sel)) == len(shown)


def test_top_services_chart_follows_a_filter_change(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the services page on every cloud
    at = run_app("services")
    before = {t.name for t in chart(at, "chart_top_services").data}
    assert before == {"AWS", "Azure"}

    # WHEN only Azure is selected
    at.multiselect(key="filter_providers").set_value(["Azure"]).run()

    # THEN the chart shows Azure's 10 costliest services only, costliest on top
    figure = chart(at, "chart_top_services")
    assert [t.name for t in figure.data] == ["Azure"]
    sel = Selection(facts.default.start, facts.default.end, providers=("Azure",))
    clause, params = sql.where(sel)
    ten = query(
        dashboard_env,
        f"""select service_name from marts.fct_daily_costs where {clause}
            group by service_name order by sum(billed_cost_reporting) desc limit 10""",
        params,
    )
    assert list(reversed(figure.layout.yaxis.categoryarray)) == [s for (s,) in ten]


# ---------------------------------------------------------------- accounts


@pytest.mark.parametrize("make_selection", SERVICE_CASES[:2])
def test_accounts_page_matches_sql(
    dashboard_env: Path,
    facts: Facts,
    downloads: dict[str, Callable[[], bytes]],
    make_selection: Callable[[Facts], Selection],
) -> None:
    # GIVEN the accounts page under a selection
    sel = make_selection(facts)
    at = select(run_app("accounts"), sel, facts)
    accounts = sql.compared(dashboard_env, sel, ["provider_name", "sub_account_id"])

    # THEN every account is listed with its cost now and before, in the reporting currency
    shown = table(at, "accounts_table")
    assert len(shown) == len(accounts)
    for row in shown.itertuples():
        now, before = accounts[(row.provider_name, row.sub_account_id)]
        assert row.current_cost == pytest.approx(float(now), abs=MICRO)
        assert row.previous_cost == pytest.approx(float(before), abs=MICRO)

    # AND the movers chart has the 10 largest |changes|, largest on top
    figure = chart(at, "chart_account_movers")
    expected = sql.top_movers(accounts, 10)
    assert len(figure.layout.yaxis.categoryarray) == len(expected)
    by_account = {k: v for k, v in accounts.items()}
    drawn = sorted(float(x) for t in figure.data for x in t.x)
    assert drawn == pytest.approx(
        sorted(float(by_account[k][0] - by_account[k][1]) for k in expected), abs=MICRO
    )
    # AND the export is the table
    exported = csv(downloads, "accounts", sel)
    assert list(exported["sub_account_id"]) == list(shown["sub_account_id"])


def test_an_account_billed_in_euro_is_shown_in_the_reporting_currency(
    dashboard_env: Path, facts: Facts
) -> None:
    # GIVEN an account whose rows are billed in another currency than the reporting one
    at = run_app("accounts")
    shown = table(at, "accounts_table").set_index("sub_account_id")
    [(billing_currencies, in_reporting, in_billing)] = query(
        dashboard_env,
        """select string_agg(distinct billing_currency, ', ' order by billing_currency),
                  sum(billed_cost_reporting), sum(billed_cost)
           from marts.fct_daily_costs where sub_account_id = ? and charge_date between ? and ?""",
        [facts.eur_account, facts.default.start, facts.default.end],
    )
    assert facts.currency not in billing_currencies.split(", ")

    # THEN its cost is the converted amount (never the billing-currency amount), and the
    # table says which currency it is billed in
    row = shown.loc[facts.eur_account]
    assert row["current_cost"] == pytest.approx(float(in_reporting), abs=MICRO)
    assert row["current_cost"] != pytest.approx(float(in_billing), abs=1)
    assert row["billing_currencies"] == billing_currencies


# ---------------------------------------------------------------- anomalies


def test_anomaly_lists_are_sorted_by_impact_with_their_causes(
    dashboard_env: Path, facts: Facts
) -> None:
    # GIVEN the whole history, so every flagged day is in the period
    sel = Selection(facts.first, facts.last)
    at = select(run_app("anomalies"), sel, facts)

    # THEN the account x service list has one row per flagged day, largest |impact| first
    expected = sql.anomalies(dashboard_env, sel)
    assert expected, "the warehouse should hold at least one anomaly"
    shown = table(at, "anomalies_table")
    assert list(shown["service_name"]) == [row[3] for row in expected]
    assert list(shown["actual_cost"]) == pytest.approx([float(r[4]) for r in expected], abs=MICRO)
    assert list(shown["expected_cost"]) == pytest.approx([float(r[5]) for r in expected], abs=MICRO)
    assert list(shown["cost_impact"]) == pytest.approx([float(r[6]) for r in expected], abs=MICRO)
    assert metric(at, "Flagged days (account x service)") == str(len(expected))
    spikes = sum(r[6] for r in expected if r[6] > 0)
    assert money(metric(at, "Spikes, account x service"), facts.currency) == spikes.quantize(CENT)

    # AND the totals list names, for each, the account, service and region that drove it
    totals = sql.total_anomalies(dashboard_env, sel, ("All", "AWS", "Azure"))
    assert totals, "the warehouse should hold at least one total anomaly"
    shown_totals = table(at, "total_anomalies_table")
    assert len(shown_totals) == len(totals)
    assert list(shown_totals["cost_impact"]) == pytest.approx(
        [float(t[5]) for t in totals], abs=MICRO
    )
    assert list(shown_totals["top_service"]) == [t[7] for t in totals]
    assert list(shown_totals["top_region"]) == [t[8] for t in totals]
    names = dict(
        query(
            dashboard_env,
            "select distinct sub_account_id, sub_account_name from marts.fct_daily_costs",
        )
    )
    assert list(shown_totals["top_account"]) == [names.get(t[6], t[6]) for t in totals]
    assert metric(at, "Flagged days (totals)") == str(len(totals))


def test_anomaly_chart_draws_the_series_with_its_band(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the whole history on the anomalies page
    sel = Selection(facts.first, facts.last)
    at = visit(select(run_app(), sel, facts), "anomalies")

    # THEN the anomaly looked at first is the one with the largest |impact| of both lists
    totals = sql.total_anomalies(dashboard_env, sel, ("All", "AWS", "Azure"))
    services = sql.anomalies(dashboard_env, sel)
    biggest_total, biggest_service = totals[0], services[0]
    picker = at.selectbox(key="anomaly_pick")
    if abs(biggest_total[5]) >= abs(biggest_service[6]):
        assert picker.value == f"total|{biggest_total[0]}"
        expected = sql.series(dashboard_env, "total", biggest_total[2], None, None)
    else:
        assert picker.value.startswith("service|")
        expected = sql.series(
            dashboard_env, "service", biggest_service[1], biggest_service[8], biggest_service[3]
        )
    assert_band(chart(at, "chart_anomaly_series"), expected)

    # WHEN an account x service anomaly is picked (the largest one)
    row = services[0]
    picker.set_value(f"service|{row[9]}").run()

    # THEN the chart is that series (from fct_anomaly_series) and the day is marked flagged
    figure = chart(at, "chart_anomaly_series")
    assert_band(figure, sql.series(dashboard_env, "service", row[1], row[8], row[3]))
    flagged = next(t for t in figure.data if t.name == "Flagged")
    assert f"{row[0]:%Y-%m-%d}" in [str(x)[:10] for x in flagged.x]
    assert row[3] in figure.layout.title.text


def assert_band(figure: go.Figure, expected: list[tuple[Any, ...]]) -> None:
    """The chart's actual line, band edges and flagged days equal the series rows it shows."""
    traces = {
        t.name: t for t in figure.data if t.showlegend is not False or t.name != "Expected band"
    }
    actual = traces["Actual"]
    days = [str(x)[:10] for x in actual.x]
    rows = {f"{r[0]:%Y-%m-%d}": r for r in expected}
    assert days and set(days) <= set(rows)
    assert list(actual.y) == pytest.approx([float(rows[d][1]) for d in days], abs=MICRO)
    high, low = [t for t in figure.data if t.name == "Expected band"]
    for trace, column in ((high, 3), (low, 2)):
        drawn = [None if v is None or v != v else float(v) for v in trace.y]
        assert drawn == [
            None if rows[d][column] is None else pytest.approx(float(rows[d][column]), abs=MICRO)
            for d in days
        ]
    flagged = traces["Flagged"]
    assert sorted(str(x)[:10] for x in flagged.x) == sorted(d for d in days if rows[d][4])


def test_anomalies_follow_the_cloud_filter(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the whole history, WHEN only AWS is selected
    sel = Selection(facts.first, facts.last, providers=("AWS",))
    at = select(run_app("anomalies"), sel, facts)

    # THEN only AWS series and the AWS total are listed
    shown = table(at, "anomalies_table")
    assert set(shown["provider_name"]) == {"AWS"}
    assert len(shown) == len(sql.anomalies(dashboard_env, sel))
    totals = table(at, "total_anomalies_table")
    assert set(totals["scope"]) == {"AWS total"}
    assert len(totals) == len(sql.total_anomalies(dashboard_env, sel, ("AWS",)))


# ---------------------------------------------------------------- forecast and budget


def test_forecast_page_shows_the_mart_and_burns_the_budget(
    dashboard_env: Path, facts: Facts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a monthly budget in the settings
    monkeypatch.setenv("FINOPS_MONTHLY_BUDGET", "900000")
    at = run_app("forecast")
    [(month, mtd, forecast)] = query(
        dashboard_env,
        """select forecast_month, mtd_cost, forecast_month_end_cost
           from marts.fct_cost_forecast where provider_scope = 'All'""",
    )

    # THEN month to date and the forecast are the mart's, in the reporting currency
    assert money(metric(at, "Month to date"), facts.currency) == mtd.quantize(CENT)
    assert money(metric(at, "Forecast month end"), facts.currency) == forecast.quantize(CENT)
    # AND the month so far in the chart adds up to the same month to date from the daily costs
    [(month_total,)] = query(
        dashboard_env,
        "select sum(billed_cost_reporting) from marts.fct_daily_costs where charge_date >= ?",
        [month],
    )
    assert month_total == mtd
    figure = chart(at, "chart_budget_burn")
    so_far = next(t for t in figure.data if t.name == "Month so far")
    assert so_far.y[-1] == pytest.approx(float(mtd), abs=MICRO)
    assert next(t for t in figure.data if t.name == "Forecast").y[-1] == pytest.approx(
        float(forecast), abs=MICRO
    )
    # AND the budget burn is the month to date over the budget, and the forecast against it
    budget = Decimal(900000)
    assert money(metric(at, "Budget"), facts.currency) == budget
    assert metric(at, "Budget used") == f"{mtd / budget * 100:.1f}%"
    assert metric(at, "Forecast vs budget") == f"{forecast / budget * 100:.1f}%"

    # WHEN the page's budget is changed, THEN the burn follows it
    at.number_input(key="monthly_budget").set_value(2_000_000).run()
    assert metric(at, "Budget used") == f"{mtd / Decimal(2_000_000) * 100:.1f}%"

    # WHEN only AWS is selected, THEN the AWS forecast is shown
    at.multiselect(key="filter_providers").set_value(["AWS"]).run()
    [(aws_mtd,)] = query(
        dashboard_env, "select mtd_cost from marts.fct_cost_forecast where provider_scope = 'AWS'"
    )
    assert money(metric(at, "Month to date"), facts.currency) == aws_mtd.quantize(CENT)
    # AND the typed budget survived the rerun
    assert at.number_input(key="monthly_budget").value == 2_000_000


def test_no_budget_set_says_so(dashboard_env: Path, facts: Facts) -> None:
    at = run_app("forecast")
    assert metric(at, "Budget") == "not set"
    assert not [m for m in at.metric if m.label == "Budget used"]


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param(None, None, id="unset"),
        pytest.param("25000", Decimal("25000"), id="whole"),
        pytest.param("25_000.50", Decimal("25000.50"), id="underscores and cents"),
    ],
)
def test_monthly_budget_setting(
    monkeypatch: pytest.MonkeyPatch, raw: str | None, expected: Decimal | None
) -> None:
    if raw is None:
        monkeypatch.delenv("FINOPS_MONTHLY_BUDGET", raising=False)
    else:
        monkeypatch.setenv("FINOPS_MONTHLY_BUDGET", raw)
    assert load_settings().monthly_budget == expected


@pytest.mark.parametrize("raw", ["-5", "0", "lots", "nan"])
def test_a_bad_monthly_budget_is_refused(monkeypatch: pytest.MonkeyPatch, raw: str) -> None:
    monkeypatch.setenv("FINOPS_MONTHLY_BUDGET", raw)
    with pytest.raises(ValueError, match="FINOPS_MONTHLY_BUDGET"):
        load_settings()


# ---------------------------------------------------------------- freshness


def test_freshness_page_shows_the_last_load_of_every_scope(
    dashboard_env: Path, facts: Facts
) -> None:
    # GIVEN the warehouse the pipeline just built (every load succeeded)
    at = run_app("freshness")
    rows = query(
        dashboard_env,
        """select provider_name, scope, latest_charge_date, estimated_days, restated_billed_cost_change
           from marts.fct_load_freshness order by provider_name, scope""",
    )

    # THEN one row per provider and scope, and no failure banner anywhere
    shown = table(at, "freshness_table")
    assert list(zip(shown["provider_name"], shown["scope"], strict=True)) == [
        (p, s) for p, s, *_ in rows
    ]
    assert set(shown["status"]) == {"succeeded"}
    assert not at.error
    # AND per provider, the latest day landed and the days still estimated
    for provider in {p for p, *_ in rows}:
        mine = [r for r in rows if r[0] == provider]
        assert metric(at, f"{provider} data through") == f"{max(r[2] for r in mine):%Y-%m-%d}"
        assert metric(at, f"{provider} days still estimated") == str(max(r[3] for r in mine))
    restated = sum((r[4] for r in rows), Decimal(0))
    assert money(metric(at, "Restated by the last loads"), facts.currency) == restated.quantize(
        CENT
    )


FAILED_AWS = """
    update marts.fct_load_freshness
    set last_attempt_status = 'failed', is_last_attempt_failed = true,
        last_attempt_at = last_attempt_at + interval 1 day,
        last_error_message = 'ThrottlingException: Rate exceeded (after 8 attempts)'
    where provider_name = 'AWS'
"""


def test_a_failed_load_shows_a_banner_on_every_page(serving_copy: Callable[..., Path]) -> None:
    # GIVEN marts whose AWS scope's last load attempt failed
    copy = serving_copy(FAILED_AWS)
    [(scope,)] = query(
        copy, "select scope from marts.fct_load_freshness where provider_name = 'AWS'"
    )

    # WHEN any page is opened, THEN a banner names the provider, the scope and the error
    at = run_app()
    for page in PAGES:
        visit(at, page)
        [banner] = at.error
        assert "AWS data is stale: its last load failed" in banner.value, page
        assert scope in banner.value and "ThrottlingException: Rate exceeded" in banner.value
        assert "Azure" not in banner.value
    # AND the freshness page marks the scope failed and its data as of the last success
    visit(at, "freshness")
    shown = table(at, "freshness_table").set_index("provider_name")
    assert shown.loc["AWS", "status"] == "FAILED"
    assert metric(at, "AWS data through") != ""


def test_restatements_since_the_last_run_are_listed(serving_copy: Callable[..., Path]) -> None:
    # GIVEN marts where the last AWS load changed two days already loaded
    copy = serving_copy(
        """
        insert into marts.fct_cost_restatements
        select md5(d::varchar || t), 'load-x', f.last_succeeded_at, d, 'AWS', f.source_name,
            f.scope, '402193857611', 'USD', t, 100, 100 + c, c, 'USD', 1, c,
            cast(date_trunc('month', d) + interval 1 month as date), 3
        from marts.fct_load_freshness as f,
            (values (date '2026-06-29', 'billed', 12.5), (date '2026-06-30', 'billed', -2.25),
                    (date '2026-06-30', 'effective', 99.0)) as v(d, t, c)
        where f.provider_name = 'AWS'
        """,
        """
        update marts.fct_load_freshness set restated_days = 2, restated_billed_cost_change = 10.25
        where provider_name = 'AWS'
        """,
    )

    # WHEN the freshness page is opened
    at = run_app("freshness")

    # THEN the net restated amount is the mart's, and the days it changed are listed
    [(restated,)] = query(
        copy, "select sum(restated_billed_cost_change) from marts.fct_load_freshness"
    )
    assert (
        money(metric(at, "Restated by the last loads"), "USD")
        == Decimal(restated).quantize(CENT)
        == Decimal("10.25")
    )
    changes = table(at, "restatements_table")
    assert list(changes["billed_cost_change"]) == pytest.approx([12.5, -2.25])
    assert [f"{d:%Y-%m-%d}" for d in changes["charge_date"]] == ["2026-06-29", "2026-06-30"]


# ---------------------------------------------------------------- navigation and state


def test_filters_persist_across_every_page(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN a selection made on the overview: Azure, effective cost, usage only, 14 days
    sel = Selection(
        facts.last - timedelta(days=13),
        facts.last,
        providers=("Azure",),
        basis="effective",
        charges="usage",
    )
    at = select(run_app(), sel, facts)
    state = {
        key: at.session_state[key]
        for key in ("filter_period", "filter_providers", "filter_cost_basis", "filter_charges")
    }
    expected_total = sql.total(dashboard_env, sel)
    assert money(metric(at, "Total cost"), facts.currency) == expected_total.quantize(CENT)

    # WHEN the user goes through every page, THEN each applies the same selection
    visit(at, "services")
    assert table(at, "services_table")["current_cost"].sum() == pytest.approx(
        float(expected_total), abs=1e-4
    )
    visit(at, "accounts")
    assert table(at, "accounts_table")["current_cost"].sum() == pytest.approx(
        float(expected_total), abs=1e-4
    )
    visit(at, "anomalies")
    assert set(table(at, "anomalies_table")["provider_name"]) <= {"Azure"}
    assert metric(at, "Flagged days (account x service)") == str(
        len(sql.anomalies(dashboard_env, sel))
    )
    visit(at, "forecast")
    [(azure_mtd,)] = query(
        dashboard_env, "select mtd_cost from marts.fct_cost_forecast where provider_scope = 'Azure'"
    )
    assert money(metric(at, "Month to date"), facts.currency) == azure_mtd.quantize(CENT)
    visit(at, "freshness")
    assert set(table(at, "freshness_table")["provider_name"]) == {"Azure"}
    visit(at, "overview")
    # AND back on the overview nothing was lost
    assert {key: at.session_state[key] for key in state} == state
    assert money(metric(at, "Total cost"), facts.currency) == expected_total.quantize(CENT)
    assert "amounts in **USD** (effective (amortized) cost, usage only)" in at.caption[0].value


# ---------------------------------------------------------------- publishing, no data, busy file


def test_a_republished_serving_copy_is_read_at_once(
    tmp_path: Path, point_settings_at: Callable[[Path], None], warehouse: Path, facts: Facts
) -> None:
    # GIVEN the dashboard open on a serving copy (its queries now cached)
    serving = tmp_path / "finops_serving.duckdb"
    shutil.copy(warehouse, serving)
    point_settings_at(serving)
    at = run_app()
    before = money(metric(at, "Total cost"), facts.currency)

    # WHEN the pipeline publishes a new copy (here: without the Azure rows) by atomic rename
    staged = tmp_path / ".finops_serving.duckdb.tmp"
    shutil.copy(warehouse, staged)
    with duckdb.connect(str(staged)) as con:
        con.execute("delete from marts.fct_daily_costs where provider_name = 'Azure'")
    os.replace(staged, serving)
    at.run()

    # THEN the next run shows the new figures, not the cached ones
    after = money(metric(at, "Total cost"), facts.currency)
    aws = Selection(facts.default.start, facts.default.end, providers=("AWS",))
    assert after == sql.total(warehouse, aws).quantize(CENT) != before


def _publish_next_day(warehouse: Path, serving: Path, last: date) -> None:
    """Publish (atomic rename) a copy of `warehouse` with one more day: `last` + 1."""
    staged = serving.with_name(".staged.tmp")
    shutil.copy(serving, staged)
    with duckdb.connect(str(staged)) as con:
        con.execute(
            """insert into marts.fct_daily_costs
               select * replace (md5(daily_cost_id || 'next') as daily_cost_id,
                                 charge_date + 1 as charge_date)
               from marts.fct_daily_costs where charge_date = ?""",
            [last],
        )
        con.execute("update marts.fct_cost_kpis set as_of_date = ?", [last + timedelta(days=1)])
    os.replace(staged, serving)


def test_the_default_period_follows_new_data_a_chosen_one_stays(
    tmp_path: Path, point_settings_at: Callable[[Path], None], warehouse: Path, facts: Facts
) -> None:
    # GIVEN the dashboard on the default period (the last 30 days of data)
    serving = tmp_path / "finops_serving.duckdb"
    shutil.copy(warehouse, serving)
    point_settings_at(serving)
    at = run_app()
    assert at.session_state["filter_period"] == (facts.default.start, facts.default.end)

    # WHEN a new day is published, THEN the untouched default moves on by a day
    _publish_next_day(warehouse, serving, facts.last)
    at.run()
    one_day = timedelta(days=1)
    moved = (facts.default.start + one_day, facts.last + one_day)
    assert at.session_state["filter_period"] == moved
    assert not at.exception and not at.warning

    # WHEN the user picks a period and another day is published, THEN the pick stays
    picked = (facts.last - timedelta(days=9), facts.last)
    at.date_input(key="filter_period").set_value(picked).run()
    _publish_next_day(warehouse, serving, facts.last + one_day)
    at.run()
    assert at.session_state["filter_period"] == picked
    assert money(metric(at, "Total cost"), facts.currency) == sql.total(
        serving, Selection(*picked)
    ).quantize(CENT)


def test_freshness_page_shows_the_api_requests_and_their_cost_per_month(
    dashboard_env: Path,
) -> None:
    # GIVEN the warehouse the pipeline just built, and its API usage mart
    at = run_app("freshness")
    rows = query(
        dashboard_env,
        """select load_month, source_name, sum(load_count), sum(api_requests), sum(api_cost_usd),
               sum(api_retries)
           from marts.fct_api_usage group by all order by load_month desc, source_name""",
    )
    assert rows and sum(r[3] for r in rows) > 0

    # THEN the table holds every month and source of the mart, with its requests and cost
    shown = table(at, "api_usage_table")
    assert [
        (m.date() if hasattr(m, "date") else m, s, n, r, round(c, 2))
        for m, s, n, r, c in zip(
            shown["load_month"],
            shown["source_name"],
            shown["loads"],
            shown["api_requests"],
            shown["api_cost_usd"].astype(float),
            strict=True,
        )
    ] == [(m, s, n, r, round(float(c), 2)) for m, s, n, r, c, _ in rows]
    assert list(shown["api_retries"]) == [retried for *_, retried in rows]
    # AND the latest month's requests per source as metrics, with the daily chart
    latest = rows[0][0]
    for month, source_name, _, requests, _, _ in rows:
        if month == latest:
            label = f"{source_name}, {latest:%B %Y}"
            assert metric(at, label) == f"{requests:,} requests"
    assert not at.error


def test_an_older_serving_copy_without_the_new_marts_still_works(
    serving_copy: Callable[..., Path], facts: Facts
) -> None:
    # GIVEN marts published before fct_load_freshness and fct_anomaly_series existed
    serving_copy("drop table marts.fct_load_freshness", "drop table marts.fct_anomaly_series")

    # WHEN every page is opened, THEN none fails; the freshness page says what is missing
    at = run_app()
    for page in PAGES:
        visit(at, page)
        assert not at.error, page
        if page == "freshness":
            assert "no load freshness mart" in at.info[0].value


def test_mixed_reporting_currencies_are_never_added(
    serving_copy: Callable[..., Path], facts: Facts
) -> None:
    # GIVEN marts where old days are still in another reporting currency (the setting changed
    # without a full refresh)
    copy = serving_copy(
        f"""update marts.fct_daily_costs set reporting_currency = 'EUR'
            where charge_date < date '{facts.last - timedelta(days=10)}'"""
    )

    # WHEN the whole history is shown
    at = select(run_app(), Selection(facts.first, facts.last), facts)

    # THEN a warning says so, and the total has only the latest currency's amounts
    [warning] = at.warning
    assert "several reporting currencies (EUR, USD)" in warning.value
    [(usd_only,)] = query(
        copy,
        "select sum(billed_cost_reporting) from marts.fct_daily_costs where reporting_currency = 'USD'",
    )
    assert money(metric(at, "Total cost"), "USD") == usd_only.quantize(CENT)


def _empty_marts(path: Path, source: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(f"attach '{source}' as src (read_only)")
        con.execute("create schema marts")
        for (table_name,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'src'"
        ).fetchall():
            con.execute(
                f"create table marts.{table_name} as select * from src.marts.{table_name} limit 0"
            )


def _no_marts(path: Path, source: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute("create table unrelated as select 1 as x")


@pytest.mark.parametrize(
    "prepare",
    [
        pytest.param(None, id="no serving file"),
        pytest.param(_empty_marts, id="marts without rows"),
        pytest.param(_no_marts, id="file without marts"),
    ],
)
def test_no_data_shows_guidance(
    tmp_path: Path,
    point_settings_at: Callable[[Path], None],
    warehouse: Path,
    prepare: Callable[[Path, Path], None] | None,
) -> None:
    # GIVEN settings pointing at a serving copy that is missing or has nothing to show
    serving = tmp_path / "finops_serving.duckdb"
    if prepare:
        prepare(serving, warehouse)
    point_settings_at(serving)

    # WHEN the dashboard opens
    at = AppTest.from_file(APP, default_timeout=30).run()

    # THEN it explains how to get data instead of failing, and shows no numbers
    assert not at.exception
    [info] = at.info
    assert "make run" in info.value and "finops run" in info.value
    assert str(serving) in info.value
    assert not at.metric


@pytest.fixture
def locked_copy(tmp_path: Path, warehouse: Path) -> Iterator[Path]:
    """A copy of the warehouse held open read-write by another process (a writer at work)."""
    copy = tmp_path / "finops_serving.duckdb"
    shutil.copy(warehouse, copy)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time\n"
            f"con = duckdb.connect({str(copy)!r})\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "locked"
        yield copy
    finally:
        writer.kill()
        writer.wait(timeout=10)


def test_busy_file_shows_a_friendly_note(
    point_settings_at: Callable[[Path], None], locked_copy: Path
) -> None:
    # GIVEN a serving copy that another process holds read-write
    point_settings_at(locked_copy)

    # WHEN the dashboard opens
    started = time.monotonic()
    at = AppTest.from_file(APP, default_timeout=30).run()

    # THEN, after a brief retry, it says the data is being refreshed (no stack trace)
    assert not at.exception
    [warning] = at.warning
    assert "being refreshed" in warning.value
    assert time.monotonic() - started < 15
