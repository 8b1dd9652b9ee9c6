"""The "Allocation" page run headless with AppTest on the marts of a real `finops run` with
allocation keys `team,env` and rules (conftest `allocation_home`, tests/allocation_testing.py;
every figure worked out by hand in tests/dbt/test_allocation.py):

- 2026-01-10, AWS in USD, key `team` (billed / effective): web by tag 40 / 100, platform by
  the account map 100 / 30, S3's 20 / 20 by the shared rule (web 18.1818181818, data
  1.8181818182), data by tag 0 / 10; Azure in EUR: the purchase's 300 billed by rule (web
  180, data 120), the covered VM 0 / 50 data by tag, the on-demand VM 50 / 50 unallocated.
- key `env`, AWS: the purchase split evenly over prod, dev, test (33.33...), S3 10 / 10 to
  prod and dev, EC2 on demand 40 `true` (a key-only tag), the rest unallocated.
- 2025-12-15, a second AWS payer: web 65, data 40 by tag.

Expected values are computed with plain SQL over the same serving file, never with
`dashboard.data`, and the hand-computed figures are checked beside them.

The sidebar's tag filter is tested here too, on the same marts: the Overview, Services and
categories and Accounts pages under a key's values against fct_cost_allocation, and the
captions of the pages it does not apply to.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from marts_sql import CENT, Selection, query, where
from streamlit.testing.v1 import AppTest
from test_app import APP, chart
from test_app import downloads as downloads  # the fixture, registered here for pytest
from test_app import table as page_table

PAGE = "app_pages/allocation.py"
DAY = date(2026, 1, 10)  # the tagged export's day
DEC = date(2025, 12, 15)  # the FOCUS 1.3 payer's day: the first day of data
TAG = f"{DAY:%Y%m%d}_{DAY:%Y%m%d}"
MICRO = 1e-6


# ---------------------------------------------------------------- helpers


def open_app(
    page: str,
    basis: str | None = None,
    charges: str | None = None,
    tag: tuple[str, list[str]] | None = None,
    **filters: Any,
) -> AppTest:
    """The app on `page` after setting sidebar filters by key (`providers=[...]`,
    `period=(start, end)`), the cost basis, the charges and the tag filter (key, values)."""
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception, [e.value for e in at.exception]
    at.switch_page(page).run()
    for name, value in filters.items():
        widget = at.date_input if name == "period" else at.multiselect
        widget(key=f"filter_{name}").set_value(value)
    if basis:
        at.radio(key="filter_cost_basis").set_value(basis)
    if charges:
        at.radio(key="filter_charges").set_value(charges)
    if tag:  # the values offered are the chosen key's
        at.selectbox(key="filter_tag_key").set_value(tag[0]).run()
        at.multiselect(key="filter_tag_values").set_value(tag[1])
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_page(key: str = "team", basis: str | None = None, **filters: Any) -> AppTest:
    """The app on the allocation page with the key chosen, after setting sidebar filters by
    key (`providers=[...]`, `period=(start, end)`, `charges="usage"`) and the cost basis."""
    at = open_app(PAGE, basis, **filters)
    at.selectbox(key="allocation_key").set_value(key).run()
    assert not at.exception, [e.value for e in at.exception]
    assert at.header[0].value == "Allocation"
    return at


def metrics(at: AppTest) -> dict[str, tuple[str, str]]:
    """{label: (value, delta)} of every metric card on the page."""
    return {m.label: (m.value, m.proto.delta) for m in at.metric}


def table(at: AppTest, *columns: str) -> pd.DataFrame:
    """The one table with all these columns (AppTest gives st.dataframe no key)."""
    [found] = [df.value for df in at.dataframe if set(columns) <= set(df.value.columns)]
    return found


def money(amount: Decimal, currency: str = "USD") -> str:
    return f"{currency} {Decimal(amount).quantize(CENT):,}"


def read_csv(data: Callable[[], bytes]) -> pd.DataFrame:
    return pd.read_csv(io.BytesIO(data()), dtype=str, keep_default_na=False)


def allocated(
    serving: Path, key: str, column: str, start: date, end: date, providers: tuple[str, ...]
) -> dict[str, Decimal]:
    """{value: Σcolumn} of fct_cost_allocation for a key, period and clouds (our own SQL)."""
    rows = query(
        serving,
        f"""select allocation_value, sum({column}) from marts.fct_cost_allocation
            where allocation_key = ? and charge_date between ? and ?
              and list_contains(?, provider_name)
            group by all""",
        [key, start, end, list(providers)],
    )
    return dict(rows)


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="session")
def warehouse(allocation_home: Path) -> Path:
    """The serving copy the shared allocation run published (what the dashboard reads): the
    dashboard conftest's `dashboard_env` and `serving_copy` work on it here."""
    path = allocation_home / "data" / "finops_serving.duckdb"
    assert path.exists()
    return path


# ---------------------------------------------------------------- the figures


def test_showback_of_a_key_matches_the_marts_and_follows_the_key(dashboard_env: Path) -> None:
    # GIVEN the AWS costs of 2026-01-10
    expected = allocated(dashboard_env, "team", "billed_cost_reporting", DAY, DAY, ("AWS",))
    assert expected == {
        "web": Decimal("58.1818181818"),
        "platform": Decimal(100),
        "data": Decimal("1.8181818182"),
    }

    # WHEN the page shows key `team` for AWS on that day (billed cost, the default)
    at = open_page("team", providers=["AWS"], period=(DAY, DAY))
    shown = metrics(at)

    # THEN the headline: 160 billed, all of it allocated; of the taggable 60 (EC2 40, S3 20)
    # S3's 20 has no tag value (the shared rule gave it)
    assert shown["Total cost"][0] == money(Decimal(160))
    assert shown["Allocated"] == ("100.0%", "USD 160.00 to a value")
    assert shown["Unallocated"][0] == "USD 0.00"
    assert shown["Untagged taggable cost"] == ("USD 20.00", "33.3% of taggable cost")
    assert shown["Values"][0] == "3"
    # AND the showback table per value, costliest first, split by method
    showback = table(at, "allocation_value", "share_pct")
    assert showback["allocation_value"].tolist() == ["platform", "web", "data"]
    by_value = showback.set_index("allocation_value")
    for value, cost in expected.items():
        assert by_value.loc[value, "cost"] == pytest.approx(float(cost), abs=MICRO)
    assert by_value.loc["web", ["tag", "shared_rule"]].tolist() == pytest.approx(
        [40.0, 18.1818181818], abs=MICRO
    )
    assert by_value.loc["platform", "account_map"] == 100.0
    assert by_value.loc["platform", "share_pct"] == pytest.approx(100 / 160 * 100)
    # AND the chart stacks the same amounts by method
    bars = {
        (trace.name, value): x
        for trace in chart(at, "chart_showback").data
        for value, x in zip(trace.y, trace.x, strict=True)
    }
    assert bars[("Tag", "web")] == 40.0
    assert bars[("Shared rule", "web")] == pytest.approx(18.1818181818, abs=MICRO)
    assert bars[("Account map", "platform")] == 100.0

    # WHEN the key is changed to `env` on the effective cost
    at.radio(key="filter_cost_basis").set_value("effective")
    at.selectbox(key="allocation_key").set_value("env").run()
    assert not at.exception

    # THEN the figures are env's: prod and dev 10 each of S3, test 0, EC2's key-only tag
    # `true` 40, and the unused plan, EC2 and Lambda covered by it unallocated (100)
    env = allocated(dashboard_env, "env", "effective_cost_reporting", DAY, DAY, ("AWS",))
    assert env == {
        "(unallocated)": Decimal(100),
        "true": Decimal(40),
        "dev": Decimal(10),
        "prod": Decimal(10),
        "test": Decimal(0),
    }
    showback = table(at, "allocation_value", "share_pct").set_index("allocation_value")
    assert showback["cost"].to_dict() == pytest.approx({k: float(v) for k, v in env.items()})
    assert showback.index[0] == "(unallocated)"
    shown = metrics(at)
    assert shown["Total cost"][0] == "USD 160.00"
    assert shown["Allocated"] == ("37.5%", "USD 60.00 to a value")  # allocated_share 0.375
    assert shown["Unallocated"][0] == "USD 100.00"
    # taggable effective 130 (EC2 60 + 40, Lambda 10, S3 20), tagged only EC2's 40
    assert shown["Untagged taggable cost"] == ("USD 90.00", "69.2% of taggable cost")
    assert shown["Values"][0] == "4"


def test_every_cloud_is_converted_to_the_reporting_currency(dashboard_env: Path) -> None:
    # GIVEN both clouds on 2026-01-10: Azure's EUR converted at the day's rate
    [(rate,)] = query(
        dashboard_env,
        """select any_value(fx_rate) from marts.fct_cost_allocation
           where billing_currency = 'EUR' and charge_date = ?""",
        [DAY],
    )
    expected = allocated(dashboard_env, "team", "billed_cost_reporting", DAY, DAY, ("AWS", "Azure"))
    assert expected["(unallocated)"] == Decimal(50) * rate  # Azure's on-demand VM

    # WHEN the page shows `team` for that day
    at = open_page("team", period=(DAY, DAY))

    # THEN every value is the sum of both clouds in USD: web 40 + 18.18 + 180 EUR
    showback = table(at, "allocation_value", "share_pct").set_index("allocation_value")
    assert showback["cost"].to_dict() == pytest.approx(
        {k: float(v) for k, v in expected.items()}, abs=MICRO
    )
    assert showback.loc["web", "cost"] == pytest.approx(
        float(Decimal("58.1818181818") + 180 * rate), abs=MICRO
    )
    assert metrics(at)["Unallocated"][0] == money(Decimal(50) * rate)
    assert metrics(at)["Total cost"][0] == money(sum(expected.values()))


def test_month_over_month_change_per_value(dashboard_env: Path) -> None:
    # GIVEN AWS: December web 65 and data 40 by tag (the second payer), January as above
    # WHEN the page shows `team` for AWS over both months (the default period: all the data)
    at = open_page("team", providers=["AWS"])

    # THEN each value's month and its change against the month before
    months = table(at, "billing_month", "previous_cost")
    got = {
        (f"{row.billing_month:%Y-%m}", row.allocation_value): [
            row.cost,
            row.previous_cost,
            row.change,
            row.change_pct,
        ]
        for row in months.itertuples()
    }
    assert list(got) == [  # month, then costliest first
        ("2025-12", "web"),
        ("2025-12", "data"),
        ("2026-01", "platform"),
        ("2026-01", "web"),
        ("2026-01", "data"),
    ]
    # December: no month before the data, so no change (not a change from 0)
    assert got["2025-12", "web"][0] == 65.0
    assert got["2025-12", "data"][0] == 40.0
    assert (
        months.loc[
            months["billing_month"] < pd.Timestamp("2026-01-01"), ["previous_cost", "change"]
        ]
        .isna()
        .all(axis=None)
    )
    # January against December: platform new (no change %), web 58.18 vs 65, data 1.82 vs 40
    assert got["2026-01", "platform"][:3] == [100.0, 0.0, 100.0]
    assert pd.isna(got["2026-01", "platform"][3])
    assert got["2026-01", "web"] == pytest.approx(
        [58.1818181818, 65.0, -6.8181818182, -6.8181818182 / 65 * 100], abs=MICRO
    )
    assert got["2026-01", "data"] == pytest.approx(
        [1.8181818182, 40.0, -38.1818181818, -38.1818181818 / 40 * 100], abs=MICRO
    )
    # AND the monthly chart stacks the values per month
    figure = {t.name: list(t.y) for t in chart(at, "chart_showback_monthly").data}
    assert figure["web"] == pytest.approx([65.0, 58.1818181818], abs=MICRO)
    assert figure["platform"] == [100.0]


def test_allocated_vs_unallocated_per_day(dashboard_env: Path) -> None:
    # WHEN the page shows `team` on both days (billed), every cloud
    at = open_page("team")

    # THEN each day's cost is drawn by method; the unallocated part is Azure's on-demand VM
    [(rate,)] = query(
        dashboard_env,
        "select any_value(fx_rate) from marts.fct_cost_allocation where billing_currency = 'EUR'",
    )
    figure = {t.name: dict(zip(t.x, t.y, strict=True)) for t in chart(at, "chart_allocated").data}
    assert set(figure) == {"Tag", "Account map", "Shared rule", "Unallocated"}
    assert list(figure["Unallocated"].values()) == [pytest.approx(float(50 * rate), abs=MICRO)]
    assert sum(figure["Tag"].values()) == pytest.approx(105 + 40)  # Dec 105, Jan EC2 40
    assert sum(figure["Account map"].values()) == 100.0
    # AND the KPIs mart per month, cloud and billing currency is listed
    kpis = table(at, "untagged_share", "allocated_share")
    january = kpis[kpis["billing_month"] == pd.Timestamp("2026-01-01")].set_index("provider_name")
    assert january.loc["AWS", "untagged_share"] == pytest.approx(0.153846, abs=MICRO)
    assert january.loc["Azure", ["billing_currency", "allocated_share"]].tolist() == ["EUR", 0.5]


def test_what_to_tag_first(dashboard_env: Path) -> None:
    # GIVEN the taggable cost whose `team` value did not come from a tag, by our own SQL
    def untagged(group: str) -> list[tuple[Any, ...]]:
        return query(
            dashboard_env,
            f"""select provider_name, {group}, sum(effective_cost_reporting) as untagged
                from marts.fct_cost_allocation
                where allocation_key = 'team' and is_taggable and allocation_method != 'tag'
                group by all order by untagged desc""",
        )

    services, accounts = untagged("service_name"), untagged("sub_account_id")
    # Azure's on-demand VM (50 EUR, unallocated) and AWS S3 (20 USD, shared rule)
    assert [(p, s) for p, s, _ in services] == [
        ("Azure", "Virtual Machines"),
        ("AWS", "Amazon Simple Storage Service"),
    ]

    # WHEN the page shows `team` (effective cost, every day)
    at = open_page("team", basis="effective")

    # THEN the services and the accounts, largest first, with the same amounts
    by_service = table(at, "service_name", "untagged_cost")
    assert by_service[["provider_name", "service_name"]].values.tolist() == [
        [p, s] for p, s, _ in services
    ]
    assert by_service["untagged_cost"].tolist() == pytest.approx(
        [float(c) for *_, c in services], abs=MICRO
    )
    assert by_service["untagged_cost"].iloc[1] == 20.0
    # S3's 20 is all of S3's taggable cost; the VM's 50 of its 100 (50 covered, tagged data)
    assert by_service["untagged_pct"].tolist() == pytest.approx([50.0, 100.0])
    by_account = table(at, "sub_account_name", "untagged_cost")
    assert by_account[["provider_name", "sub_account_id"]].values.tolist() == [
        [p, a] for p, a, _ in accounts
    ]
    assert by_account["untagged_cost"].tolist() == pytest.approx(
        [float(c) for *_, c in accounts], abs=MICRO
    )
    bars = chart(at, "chart_untagged_services")
    assert {t.name: list(t.y) for t in bars.data} == {
        "AWS": ["Amazon Simple Storage Service"],
        "Azure": ["Virtual Machines"],
    }
    assert list(bars.layout.yaxis.categoryarray) == [
        "Amazon Simple Storage Service",
        "Virtual Machines",
    ]  # bottom-up: the largest on top


def test_the_chargeback_csv_of_a_month(
    dashboard_env: Path, downloads: dict[str, Callable[[], bytes]]
) -> None:
    # GIVEN January's chargeback of `team` in the mart
    rows = query(
        dashboard_env,
        """select allocation_value, billing_currency, billed_cost, effective_cost,
               billed_cost_reporting
           from marts.fct_allocation_chargeback
           where allocation_key = 'team' and billing_month = '2026-01-01'
           order by allocation_value, billing_currency""",
    )

    # WHEN the page is opened (the latest month of the period is picked)
    at = open_page("team")

    # THEN the CSV is the mart's rows of the month and key, exact decimals
    january = read_csv(downloads["chargeback_team_2026-01.csv"]).sort_values(
        ["allocation_value", "billing_currency"]
    )
    assert set(january["allocation_key"]) == {"team"}
    assert set(january["billing_month"]) == {"2026-01-01"}
    assert [
        (r.allocation_value, r.billing_currency, Decimal(r.billed_cost), Decimal(r.effective_cost))
        for r in january.itertuples()
    ] == [(v, c, b, e) for v, c, b, e, _ in rows]
    assert [
        tuple(r) for r in january[["allocation_value", "billing_currency", "billed_cost"]].values
    ] == [
        ("(unallocated)", "EUR", "50.0000000000"),
        ("data", "EUR", "120.0000000000"),
        ("data", "USD", "1.8181818182"),
        ("platform", "USD", "100.0000000000"),
        ("web", "EUR", "180.0000000000"),
        ("web", "USD", "58.1818181818"),
    ]
    assert sum(Decimal(v) for v in january["billed_cost_reporting"]) == sum(r[4] for r in rows)
    # AND the table on the page lists the same month
    shown = table(at, "billed_cost_reporting", "allocation_value")
    assert len(shown) == len(rows)

    # WHEN December is picked, THEN its own file: web 65, data 40 by tag
    at.selectbox(key="allocation_chargeback_month").set_value(DEC.replace(day=1)).run()
    december = read_csv(downloads["chargeback_team_2025-12.csv"])
    assert december[["allocation_value", "billed_cost"]].values.tolist() == [
        ["web", "65.0000000000"],
        ["data", "40.0000000000"],
    ]


def test_exports_of_the_selection(
    dashboard_env: Path, downloads: dict[str, Callable[[], bytes]]
) -> None:
    # WHEN the page shows `team` for AWS on 2026-01-10
    open_page("team", providers=["AWS"], period=(DAY, DAY))

    # THEN the allocated rows are fct_cost_allocation's of the key, cloud and day
    [(count, billed)] = query(
        dashboard_env,
        """select count(*), sum(billed_cost) from marts.fct_cost_allocation
           where allocation_key = 'team' and provider_name = 'AWS' and charge_date = ?""",
        [DAY],
    )
    rows = read_csv(downloads[f"allocation_team_{TAG}.csv"])
    assert len(rows) == count
    assert sum(Decimal(v) for v in rows["billed_cost"]) == billed == 160
    assert set(rows["allocation_key"]) == {"team"}
    # AND the showback table as shown
    showback = read_csv(downloads[f"showback_team_{TAG}.csv"])
    assert showback[["allocation_value", "cost", "reporting_currency"]].values.tolist() == [
        ["platform", "100.0", "USD"],
        ["web", "58.1818181818", "USD"],
        ["data", "1.8181818182", "USD"],
    ]
    untagged = read_csv(downloads[f"untagged_team_{TAG}.csv"])
    assert untagged[["level", "service_name", "untagged_cost"]].values.tolist()[0] == [
        "service",
        "Amazon Simple Storage Service",
        "20.0",
    ]


# ---------------------------------------------------------------- without keys


def test_without_keys_the_page_says_how_and_shows_cost_by_account(
    built_warehouse: Path, point_settings_at: Callable[[Path], None]
) -> None:
    # GIVEN the marts of a run without FINOPS_ALLOCATION_TAGS: the allocation marts are empty
    point_settings_at(built_warehouse)
    [counts] = query(
        built_warehouse,
        """select (select count(*) from marts.fct_cost_allocation),
                  (select count(*) from marts.fct_allocation_chargeback)""",
    )
    assert counts == (0, 0)

    # WHEN the page is opened
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]

    # THEN it says how to configure allocation, and shows cost by account instead
    [info] = at.info
    assert info.value.startswith("No allocation keys configured")
    for hint in ("FINOPS_ALLOCATION_TAGS", "FINOPS_ALLOCATION_RULES", "docs/allocation.md"):
        assert hint in info.value
    assert not at.selectbox
    [(start, end)] = query(
        built_warehouse,
        "select greatest(min(charge_date), max(charge_date) - 29), max(charge_date) "
        "from marts.fct_daily_costs",
    )
    expected = dict(
        query(
            built_warehouse,
            """select sub_account_id, sum(billed_cost_reporting) from marts.fct_daily_costs
               where charge_date between ? and ? group by all""",
            [start, end],
        )
    )
    accounts = table(at, "sub_account_id", "current_cost").set_index("sub_account_id")
    assert accounts["current_cost"].to_dict() == pytest.approx(
        {k: float(v) for k, v in expected.items()}, abs=MICRO
    )
    assert chart(at, "chart_allocation_accounts").data


@pytest.mark.parametrize(
    "statements",
    [
        pytest.param(
            (
                "drop table marts.fct_allocation_chargeback",
                "drop table marts.fct_allocation_kpis",
                "drop table marts.fct_cost_allocation",
            ),
            id="before the allocation marts",
        ),
        pytest.param(
            (
                "alter table marts.fct_cost_allocation drop column charge_category",
                "alter table marts.fct_cost_allocation drop column service_category",
            ),
            id="before their charge and service category",
        ),
    ],
)
def test_an_older_serving_copy_of_the_allocation_marts(
    serving_copy: Callable[..., Path], statements: tuple[str, ...]
) -> None:
    # GIVEN marts published before the allocation marts existed, or had the filter columns
    copy = serving_copy(*statements)

    # WHEN the page is opened, THEN it says they are missing and shows cost by account
    at = AppTest.from_file(APP, default_timeout=60).run()
    at.switch_page(PAGE).run()
    assert not at.exception, [e.value for e in at.exception]
    assert [i.value for i in at.info] == [
        "This serving copy has no allocation marts yet (or older ones): run the pipeline. "
        "Until then, the showback by account."
    ]
    [(total,)] = query(
        copy, "select sum(billed_cost_reporting) from marts.fct_daily_costs"
    )  # one month of data or so: the default period holds it all
    accounts = table(at, "sub_account_id", "current_cost")
    assert accounts["current_cost"].sum() == pytest.approx(float(total), abs=MICRO)
    # AND the sidebar offers no tag filter it could not apply
    assert "filter_tag_key" not in [w.key for w in at.selectbox]


def test_the_category_filter_applies_by_the_services_category(dashboard_env: Path) -> None:
    # WHEN only Storage is chosen (S3, split by the shared-storage rule), AWS on 2026-01-10
    at = open_page("team", providers=["AWS"], period=(DAY, DAY), categories=["Storage"])

    # THEN only S3's 20 is shown: web 18.18, data 1.82, both by the shared rule
    showback = table(at, "allocation_value", "share_pct").set_index("allocation_value")
    assert showback["shared_rule"].to_dict() == pytest.approx(
        {"web": 18.1818181818, "data": 1.8181818182}, abs=MICRO
    )
    assert metrics(at)["Total cost"][0] == "USD 20.00"
    assert table(at, "service_name", "untagged_cost")["service_name"].tolist() == [
        "Amazon Simple Storage Service"
    ]


def test_the_charges_filter_applies(dashboard_env: Path) -> None:
    # GIVEN AWS on 2026-01-10, key `team`, billed: 160 with the savings plan's purchase (100,
    # platform by the account map); the usage is EC2 40 (web), S3 20 (the shared rule), and
    # the covered and unused usage billed 0
    sel = Selection(DAY, DAY, providers=("AWS",), charges="usage")
    clause, params = where(sel)
    expected = dict(
        query(
            dashboard_env,
            f"""select allocation_value, sum(billed_cost_reporting)
                from marts.fct_cost_allocation
                where allocation_key = 'team' and {clause} group by all""",
            params,
        )
    )
    assert expected == {
        "web": Decimal("58.1818181818"),
        "data": Decimal("1.8181818182"),
        "platform": Decimal(0),
    }

    # WHEN the page shows `team` with usage only
    at = open_page("team", providers=["AWS"], period=(DAY, DAY), charges="usage")

    # THEN the purchase is left out: 60, no longer 160, and each value is its usage
    assert metrics(at)["Total cost"][0] == "USD 60.00"
    showback = table(at, "allocation_value", "share_pct").set_index("allocation_value")
    assert showback["cost"].to_dict() == pytest.approx(
        {k: float(v) for k, v in expected.items()}, abs=MICRO
    )
    assert "usage only" in at.caption[0].value


# ---------------------------------------------------------------- the sidebar's tag filter


def tagged(
    serving: Path, sel: Selection, key: str, values: list[str], group: str
) -> dict[tuple[Any, ...], Decimal]:
    """{group values: Σ chosen cost} of fct_cost_allocation for a key's values under the
    selection's filters (our own SQL: marts_sql's clause, whose columns both marts have)."""
    clause, params = where(sel)
    rows = query(
        serving,
        f"""select {group}, sum({sel.column}) from marts.fct_cost_allocation
            where {clause} and allocation_key = ?
              and allocation_value in ({", ".join("?" * len(values))})
            group by all""",
        [*params, key, *values],
    )
    return {tuple(keys): Decimal(cost) for *keys, cost in rows}


def untagged(serving: Path, sel: Selection, group: str) -> dict[tuple[Any, ...], Decimal]:
    """{group values: Σ chosen cost} of fct_daily_costs under the selection (our own SQL)."""
    clause, params = where(sel)
    rows = query(
        serving,
        f"""select {group}, sum({sel.column}) from marts.fct_daily_costs
            where {clause} group by all""",
        params,
    )
    return {tuple(keys): Decimal(cost) for *keys, cost in rows}


def cost_pages(at: AppTest) -> dict[str, Any]:
    """What the Overview, Services and categories and Accounts pages show, visited in turn:
    the total and the cloud cards (text), the daily chart per cloud, and the services,
    categories and accounts tables ({keys: cost})."""
    shown: dict[str, Any] = {"cards": metrics(at)}
    shown["daily"] = {t.name: float(sum(t.y)) for t in chart(at, "chart_daily").data}
    for page, tables in (
        ("services", {"services_table": ("provider_name", "service_name")}),
        ("accounts", {"accounts_table": ("provider_name", "sub_account_id")}),
    ):
        at.switch_page(f"app_pages/{page}.py").run()
        assert not at.exception, [e.value for e in at.exception]
        if page == "services":
            tables["categories_table"] = ("service_category",)
        for name, keys in tables.items():
            rows = page_table(at, name)
            shown[name] = {
                tuple(row[k] for k in keys): row["current_cost"] for _, row in rows.iterrows()
            }
    return shown


def assert_pages_show(shown: dict[str, Any], serving: Path, sel: Selection, costs: Any) -> None:
    """The pages' figures equal `costs(serving, sel, group)` (tagged or untagged) per cloud,
    service, category and account; the total to the cent."""
    by_provider = costs(serving, sel, "provider_name")
    assert shown["cards"]["Total cost"][0] == money(sum(by_provider.values()))
    for (provider,), cost in by_provider.items():
        assert shown["cards"][provider][0] == money(cost)
    assert shown["daily"] == pytest.approx(
        {p: float(c) for (p,), c in by_provider.items()}, abs=MICRO
    )
    for name, group in (
        ("services_table", "provider_name, service_name"),
        ("categories_table", "service_category"),
        ("accounts_table", "provider_name, sub_account_id"),
    ):
        expected = {k: float(v) for k, v in costs(serving, sel, group).items()}
        assert shown[name] == pytest.approx(expected, abs=MICRO), name


@pytest.mark.parametrize(
    ("key", "values", "sel"),
    [
        pytest.param("team", ["web"], Selection(DEC, DAY), id="team web, billed"),
        pytest.param(
            "team",
            ["data", "(unallocated)"],
            Selection(DEC, DAY, providers=("Azure",), basis="effective"),
            id="team data and unallocated, Azure, effective",
        ),
        pytest.param(
            "env",
            ["prod", "dev"],
            Selection(DEC, DAY, charges="usage"),
            id="env prod and dev, usage only",
        ),
    ],
)
def test_the_tag_filter_shows_the_cost_of_its_values_on_the_cost_pages(
    dashboard_env: Path,
    downloads: dict[str, Callable[[], bytes]],
    key: str,
    values: list[str],
    sel: Selection,
) -> None:
    # GIVEN the cost of the key's values in fct_cost_allocation, by our own SQL
    def costs(serving: Path, s: Selection, group: str) -> dict[tuple[Any, ...], Decimal]:
        return tagged(serving, s, key, values, group)

    # WHEN the sidebar is set to the selection and the tag filter (the default period: both
    # days of data)
    at = open_app(
        "app_pages/overview.py",
        sel.basis,
        sel.charges,
        (key, values),
        **({"providers": list(sel.providers)} if sel.providers else {}),
    )

    # THEN the page says so, and the daily-rows CSV is those values' allocation rows
    assert f"tag filter **{key}: {', '.join(values)}**" in at.caption[0].value
    [(count, billed)] = query(
        dashboard_env,
        f"""select count(*), sum(billed_cost_reporting) from marts.fct_cost_allocation
            where {where(sel)[0]} and allocation_key = ?
              and allocation_value in ({", ".join("?" * len(values))})""",
        [*where(sel)[1], key, *values],
    )
    rows = read_csv(downloads[f"daily_costs_{DEC:%Y%m%d}_{DAY:%Y%m%d}.csv"])
    assert len(rows) == count > 0
    assert set(rows["allocation_key"]) == {key} and set(rows["allocation_value"]) <= set(values)
    assert sum(Decimal(v) for v in rows["billed_cost_reporting"]) == billed
    # AND the Overview's totals and daily chart, the Services, Categories and Accounts tables
    # are those values' cost
    assert_pages_show(cost_pages(at), dashboard_env, sel, costs)


def test_the_tag_filter_by_hand(dashboard_env: Path) -> None:
    # WHEN the tag filter is team = web, AWS, billed, both days
    at = open_app("app_pages/overview.py", tag=("team", ["web"]), providers=["AWS"])

    # THEN December's 65 (EC2's pod 60, Lambda 5) and January's 58.18 (EC2 40 by tag, S3
    # 18.18 by the shared-storage rule)
    assert metrics(at)["Total cost"][0] == "USD 123.18"
    shown = cost_pages(at)
    assert shown["services_table"] == pytest.approx(
        {
            ("AWS", "Amazon Elastic Compute Cloud"): 100.0,
            ("AWS", "AWS Lambda"): 5.0,
            ("AWS", "Amazon Simple Storage Service"): 18.1818181818,
        },
        abs=MICRO,
    )
    assert shown["categories_table"] == pytest.approx(
        {("Compute",): 105.0, ("Storage",): 18.1818181818}, abs=MICRO
    )


@pytest.mark.parametrize(
    ("key", "basis"), [("team", "billed"), ("env", "effective")], ids=["team", "env, effective"]
)
def test_every_value_of_a_key_together_is_the_unfiltered_page(
    dashboard_env: Path, key: str, basis: str
) -> None:
    # GIVEN every value of the key
    values = [v for (v,) in query(
        dashboard_env,
        "select distinct allocation_value from marts.fct_cost_allocation "
        "where allocation_key = ? order by all",
        [key],
    )]  # fmt: skip
    sel = Selection(DEC, DAY, basis=basis)

    # WHEN the pages are shown with all of them, and without a tag filter
    with_all = cost_pages(open_app("app_pages/overview.py", basis, tag=(key, values)))
    without = cost_pages(open_app("app_pages/overview.py", basis))

    # THEN they show the same figures: fct_daily_costs', to the cent
    assert_pages_show(with_all, dashboard_env, sel, untagged)
    assert_pages_show(without, dashboard_env, sel, untagged)
    assert with_all["cards"] == without["cards"]


@pytest.mark.parametrize(
    ("page", "count"),
    [
        pytest.param("app_pages/overview.py", 2, id="overview: anomaly count and movers"),
        pytest.param("app_pages/anomalies.py", 1, id="anomalies"),
        pytest.param("app_pages/forecast.py", 1, id="forecast"),
        pytest.param("app_pages/freshness.py", 1, id="freshness"),
        pytest.param("app_pages/commitments.py", 1, id="commitments"),
        pytest.param(PAGE, 1, id="allocation"),
        pytest.param("app_pages/opportunities.py", 1, id="savings opportunities"),
    ],
)
def test_pages_without_tags_say_the_tag_filter_does_not_apply(
    dashboard_env: Path, page: str, count: int
) -> None:
    # WHEN the tag filter team = web is set on a page whose marts have no tags
    at = open_app(page, tag=("team", ["web"]))

    # THEN a caption says it does not apply there
    notes = [c.value for c in at.caption if "The tag filter (team: web) does not apply" in c.value]
    assert len(notes) == count, [c.value for c in at.caption]

    # WHEN a key is chosen without values, THEN there is no tag filter and no such caption
    at.multiselect(key="filter_tag_values").set_value([]).run()
    assert not [c for c in at.caption if "tag filter" in c.value]
