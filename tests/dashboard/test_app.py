"""The dashboard run headless with AppTest: the numbers it shows against our own SQL.

Every expected value is computed here, independently of `dashboard.data`, with plain SQL over
the same serving file the app reads (the `warehouse` fixture).
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pytest
import streamlit.testing.v1.app_test as app_test_module
from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "dashboard" / "streamlit_app.py")
CENT = Decimal("0.01")


# ---------------------------------------------------------------- helpers


@dataclass(frozen=True)
class Selection:
    """What the sidebar is set to; empty tuples mean "all"."""

    start: date
    end: date
    providers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    basis: str = "billed"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


@dataclass(frozen=True)
class Facts:
    """What the warehouse holds, read with our own SQL."""

    first: date
    last: date
    currency: str
    eur_account: str
    categories: tuple[str, ...] = field(default=())

    @property
    def default(self) -> Selection:
        return Selection(max(self.first, self.last - timedelta(days=29)), self.last)


def query(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def where(sel: Selection, *, alias: str = "") -> tuple[str, list[Any]]:
    """A plain `where` clause for the selection over fct_daily_costs."""
    p = alias
    clauses, params = [f"{p}charge_date between ? and ?"], [sel.start, sel.end]
    for column, values in (
        ("provider_name", sel.providers),
        ("sub_account_id", sel.accounts),
        ("service_category", sel.categories),
    ):
        if values:
            clauses.append(f"{p}{column} in ({', '.join('?' * len(values))})")
            params.extend(values)
    return " and ".join(clauses), params


def expected_total(warehouse: Path, sel: Selection) -> Decimal:
    column = "billed_cost_reporting" if sel.basis == "billed" else "effective_cost_reporting"
    clause, params = where(sel)
    [(total,)] = query(
        warehouse,
        f"select coalesce(sum({column}), 0) from marts.fct_daily_costs where {clause}",
        params,
    )
    return Decimal(total)


def expected_anomalies(warehouse: Path, sel: Selection) -> list[tuple[Any, ...]]:
    """Anomaly rows in the selection; a category matches through the service's category."""
    clause, params = where(Selection(sel.start, sel.end, sel.providers, sel.accounts), alias="a.")
    if sel.categories:
        clause += (
            " and a.service_name in (select service_name from marts.fct_daily_costs"
            f" where service_category in ({', '.join('?' * len(sel.categories))}))"
        )
        params.extend(sel.categories)
    return query(
        warehouse,
        f"""select a.charge_date, a.provider_name, a.sub_account_name, a.service_name,
               a.actual_cost, a.expected_cost, a.cost_impact, a.direction
            from marts.fct_cost_anomalies as a where {clause}
            order by abs(a.cost_impact) desc""",
        params,
    )


def money(text: str, currency: str) -> Decimal:
    """Parse `USD 12,345.67` back to a Decimal, checking the currency label."""
    code, amount = text.split(" ", 1)
    assert code == currency, text
    return Decimal(amount.replace(",", ""))


def metric(at: AppTest, label: str) -> str:
    [found] = [m for m in at.metric if m.label == label]
    return found.value


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
    return at.run()


def run_app() -> AppTest:
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def facts(dashboard_env: Path) -> Facts:
    [(first, last, currency)] = query(
        dashboard_env,
        """select min(charge_date), max(charge_date), any_value(reporting_currency)
           from marts.fct_daily_costs""",
    )
    eur = query(
        dashboard_env,
        """select sub_account_id from marts.fct_daily_costs
           order by billing_currency = reporting_currency, sub_account_id limit 1""",
    )
    categories = query(
        dashboard_env,
        """select service_category from marts.fct_daily_costs where service_category is not null
           group by all order by count(*) desc, service_category""",
    )
    return Facts(first, last, currency, eur[0][0], tuple(c for (c,) in categories))


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> dict[str, bytes]:
    """Bytes handed to st.download_button during AppTest runs, by file name."""
    captured: dict[str, bytes] = {}

    class RecordingStorage(MemoryMediaFileStorage):
        def load_and_get_id(self, path_or_data, mimetype, kind, filename=None):  # type: ignore[no-untyped-def]
            if filename and isinstance(path_or_data, bytes):
                captured[filename] = path_or_data
            return super().load_and_get_id(path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(app_test_module, "MemoryMediaFileStorage", RecordingStorage)
    return captured


# ---------------------------------------------------------------- KPIs


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
]


@pytest.mark.parametrize("make_selection", CASES)
def test_kpis_match_sql(
    dashboard_env: Path, facts: Facts, make_selection: Callable[[Facts], Selection]
) -> None:
    # GIVEN the dashboard on the warehouse, WHEN the sidebar is set to a selection
    sel = make_selection(facts)
    at = select(run_app(), sel, facts)
    assert not at.exception, [e.value for e in at.exception]

    # THEN the total is the SQL sum to the cent, in the reporting currency
    total = expected_total(dashboard_env, sel)
    assert money(metric(at, "Total cost"), facts.currency) == total.quantize(CENT)
    # AND the average is the total over the days of the period (not the days with data)
    average = (total / sel.days).quantize(CENT)
    assert money(metric(at, "Average per day"), facts.currency) == average
    # AND the anomaly count is the number of flagged rows in the same selection
    assert metric(at, "Anomalies") == str(len(expected_anomalies(dashboard_env, sel)))


def test_total_follows_the_cloud_filter(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the dashboard showing every cloud
    at = run_app()
    everything = money(metric(at, "Total cost"), facts.currency)
    assert everything == expected_total(dashboard_env, facts.default).quantize(CENT)

    # WHEN only AWS is selected
    at.multiselect(key="filter_providers").set_value(["AWS"]).run()

    # THEN the total drops to the AWS sum, and the account choices are AWS accounts only
    aws = money(metric(at, "Total cost"), facts.currency)
    sel = Selection(facts.default.start, facts.default.end, providers=("AWS",))
    assert aws == expected_total(dashboard_env, sel).quantize(CENT)
    assert 0 < aws < everything
    aws_accounts = query(
        dashboard_env,
        "select distinct sub_account_id from marts.fct_daily_costs where provider_name = 'AWS'",
    )
    accounts = at.multiselect(key="filter_accounts")
    assert sorted(accounts.options) == sorted(accounts.format_func(a) for (a,) in aws_accounts)


def test_trend_compares_with_the_previous_period(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN a 7-day period whose previous 7 days are inside the data
    sel = Selection(facts.last - timedelta(days=6), facts.last)
    previous = Selection(sel.start - timedelta(days=7), sel.start - timedelta(days=1))
    assert previous.start >= facts.first

    # WHEN it is selected
    at = select(run_app(), sel, facts)

    # THEN the trend is the relative change of the two SQL totals
    now, before = expected_total(dashboard_env, sel), expected_total(dashboard_env, previous)
    change = f"{(now - before) / abs(before) * 100:+.1f}%"
    [trend] = [m for m in at.metric if m.label == "Trend vs previous period"]
    assert trend.value == change
    # AND the arrow carries the change in money, sign first
    sign = "-" if now < before else "+"
    assert trend.proto.delta == f"{sign}{facts.currency} {abs(now - before).quantize(CENT):,}"


def test_trend_is_not_available_before_the_first_day(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the whole history selected: there is no previous period in the data
    at = select(run_app(), Selection(facts.first, facts.last), facts)
    # THEN no made-up percentage is shown
    assert metric(at, "Trend vs previous period") == "n/a"


# ---------------------------------------------------------------- anomalies and exports


def test_anomaly_table_lists_flagged_days_by_impact(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the whole history, so every flagged day is in the period
    sel = Selection(facts.first, facts.last)
    expected = expected_anomalies(dashboard_env, sel)
    assert expected, "the warehouse should hold at least one anomaly"

    at = select(run_app(), sel, facts)

    # THEN the table has one row per flagged day, largest absolute impact first
    table = at.dataframe[0].value
    assert len(table) == len(expected)
    assert list(table["service_name"]) == [row[3] for row in expected]
    assert list(table["cost_impact"]) == pytest.approx(
        [float(row[6]) for row in expected], abs=1e-6
    )
    assert set(table["direction"]) <= {"spike", "drop"}


def test_top_services_csv_equals_sql(
    dashboard_env: Path, facts: Facts, downloads: dict[str, bytes]
) -> None:
    # GIVEN the default period
    sel = facts.default
    run_app()

    # WHEN the top-10 export is read
    [name] = [n for n in downloads if n.startswith("top_services_")]
    exported = pd.read_csv(io.BytesIO(downloads[name]), dtype=str)

    # THEN it is the 10 costliest services of the period, with their exact cost
    clause, params = where(sel)
    expected = query(
        dashboard_env,
        f"""select service_name, provider_name, sum(billed_cost_reporting) as cost
            from marts.fct_daily_costs where {clause}
            group by service_name, provider_name order by cost desc limit 10""",
        params,
    )
    assert len(exported) == min(10, len(expected))
    assert [(row.service_name, row.provider_name) for row in exported.itertuples()] == [
        (s, p) for s, p, _ in expected
    ]
    # (DuckDB hands pandas floats: exact to the micro-unit, which is what a CSV can promise)
    assert [Decimal(c) for c in exported["cost"]] == [
        pytest.approx(c, abs=Decimal("0.000001")) for *_, c in expected
    ]


def test_daily_csv_is_the_filtered_rows(
    dashboard_env: Path, facts: Facts, downloads: dict[str, bytes]
) -> None:
    # GIVEN only Azure over the default period
    sel = Selection(facts.default.start, facts.default.end, providers=("Azure",))
    select(run_app(), sel, facts)

    # WHEN the daily export is read
    [name] = [n for n in downloads if n.startswith("daily_costs_")]
    exported = pd.read_csv(io.BytesIO(downloads[name]), dtype=str)

    # THEN it holds exactly the Azure rows of the period, every contract column, same totals
    clause, params = where(sel)
    [(rows, total)] = query(
        dashboard_env,
        f"select count(*), sum(billed_cost_reporting) from marts.fct_daily_costs where {clause}",
        params,
    )
    columns = [c for (c, *_) in query(dashboard_env, "describe marts.fct_daily_costs")]
    assert list(exported.columns) == columns
    assert len(exported) == rows
    assert set(exported["provider_name"]) == {"Azure"}
    exported_total = sum(Decimal(v) for v in exported["billed_cost_reporting"])
    assert exported_total == pytest.approx(total, abs=Decimal("0.000001"))


# ---------------------------------------------------------------- navigation and state


def test_filters_live_in_session_state(dashboard_env: Path, facts: Facts) -> None:
    # GIVEN the entrypoint: st.navigation runs its default page (Overview)
    at = run_app()
    assert at.title[0].value == "FinOps dashboard"
    assert at.session_state["filter_period"] == (facts.default.start, facts.default.end)

    # WHEN a cloud is chosen, then the user navigates to the page again
    at.multiselect(key="filter_providers").set_value(["Azure"]).run()
    at.switch_page("app_pages/overview.py").run()

    # THEN the choice is still in session state for every page to read, and applied
    assert not at.exception
    assert at.session_state["filter_providers"] == ["Azure"]
    azure = Selection(facts.default.start, facts.default.end, providers=("Azure",))
    assert money(metric(at, "Total cost"), facts.currency) == expected_total(
        dashboard_env, azure
    ).quantize(CENT)
    assert at.session_state["filter_cost_basis"] == "billed"
    assert f"as of **{facts.last:%Y-%m-%d}**" in at.caption[0].value
    assert f"amounts in **{facts.currency}**" in at.caption[0].value


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
    assert after == expected_total(warehouse, aws).quantize(CENT) != before


# ---------------------------------------------------------------- no data, busy file


def _empty_marts(path: Path, source: Path) -> None:
    with duckdb.connect(str(path)) as con:
        con.execute(f"attach '{source}' as src (read_only)")
        con.execute("create schema marts")
        for (table,) in con.execute(
            "select table_name from duckdb_tables() where database_name = 'src'"
        ).fetchall():
            con.execute(f"create table marts.{table} as select * from src.marts.{table} limit 0")


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
