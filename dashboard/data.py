"""Every query the dashboard runs, one cached function per question asked of the marts.

The dashboard reads only the serving copy of the marts (`Settings.serving_path`), which the
pipeline publishes by an atomic rename after each build. Each published version is attached
read-only to one in-memory DuckDB instance (`_snapshot`) and every query runs on a cursor of
it: the pages of all sessions share its buffer pool, a query that started on the previous
version reads it whole while the new one is renamed into place, and the warehouse the
pipeline writes is never opened at all.

Values are always bound parameters and every aggregation runs in DuckDB: the pages only
ever receive aggregated rows (a few hundred at most), never the raw fct_daily_costs rows;
the one exception is the CSV export of those rows, which DuckDB itself writes on click.

Cached functions take a `Source` (the file and its modification time) as their first
argument: a newly published serving copy has a new mtime, so it is read at once instead of
after the TTL.
"""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, NamedTuple

import duckdb
import pandas as pd
import streamlit as st

from finops.settings import load_settings

CostBasis = Literal["billed", "effective"]
Charges = Literal["all", "usage"]

CACHE_TTL = timedelta(minutes=10)
CACHE_ENTRIES = 64
LOCK_RETRIES = 5
LOCK_BACKOFF_SECONDS = 0.2
SNAPSHOTS_KEPT = 2  # the current version, and the previous one while its queries finish

# The marts every page needs; the others are optional (a page says when one is missing).
REQUIRED_MARTS = ("fct_daily_costs", "fct_cost_kpis", "dim_sub_accounts", "dim_services")

RUN_PIPELINE_HINT = (
    "No cost data to show yet. Build the marts with `make run` (or `finops run`); the "
    "dashboard reads the serving copy they are published to:"
)


class MartsUnavailable(Exception):
    """The serving copy is missing, has no marts, or the marts have no rows."""


class WarehouseBusy(Exception):
    """The serving copy stayed locked (being replaced) through every retry."""


class Source(NamedTuple):
    """The serving file as a cache key: a republished file has a new `version`."""

    path: str
    version: int


@dataclass(frozen=True)
class CostFilter:
    """The sidebar's selection over fct_daily_costs.

    A closed date range, optional allow-lists (empty = all), which charges count (`all`:
    every charge category, so credits and refunds are netted in; `usage`: charge_category
    Usage only) and the one reporting currency amounts are read in (rows in any other
    currency are never added in).
    """

    start: date
    end: date
    currency: str
    providers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    charges: Charges = "all"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def previous_start(self) -> date:
        """First day of the period of the same length just before this one."""
        return self.start - timedelta(days=self.days)

    def previous(self) -> CostFilter:
        """The same filters over the period of the same length just before this one."""
        return replace(self, start=self.previous_start, end=self.start - timedelta(days=1))

    def scopes(self, all_providers: tuple[str, ...]) -> tuple[str, ...]:
        """Provider scopes of the per-scope marts (`All`, `AWS`, `Azure`) this filter covers."""
        chosen = set(self.providers)
        if not chosen or chosen >= set(all_providers):
            return ("All", *all_providers)
        return tuple(sorted(chosen))

    def params(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "previous_start": self.previous_start,
            "currency": self.currency,
            "charges": self.charges,
            "providers": list(self.providers),
            "accounts": list(self.accounts),
            "categories": list(self.categories),
        }


@dataclass(frozen=True)
class Summary:
    """What the whole serving copy holds, for bounds, labels and the empty check."""

    row_count: int
    first_date: date | None
    last_date: date | None
    reporting_currency: str
    as_of_date: date | None
    currencies: tuple[str, ...] = ()
    providers: tuple[str, ...] = ()
    tables: frozenset[str] = frozenset()
    published_at: datetime | None = None

    @property
    def mixed_currencies(self) -> bool:
        return len(self.currencies) > 1


class ProviderTotal(NamedTuple):
    """Exact cost of one provider in the period and in the previous period (same length)."""

    provider_name: str
    current: Decimal
    previous: Decimal


# The scope part of every fct_daily_costs predicate: one reporting currency, the charges,
# and the three optional allow-lists. Date ranges are added by the queries.
_SCOPE = """
    reporting_currency = $currency
    and ($charges = 'all' or charge_category = 'Usage')
    and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider_name))
    and (len($accounts::varchar[]) = 0 or list_contains($accounts::varchar[], sub_account_id))
    and (len($categories::varchar[]) = 0 or list_contains($categories::varchar[], service_category))
"""
_PERIOD = f"charge_date between $start and $end and {_SCOPE}"
# The period and the previous one of the same length, split with FILTER in the aggregates.
_BOTH_PERIODS = f"charge_date between $previous_start and $end and {_SCOPE}"

# The chosen cost basis, always in the reporting currency (never billing currencies summed).
_COST = """
    case when $basis = 'effective' then effective_cost_reporting else billed_cost_reporting end
"""
_CURRENT = f"coalesce(sum({_COST}) filter (where charge_date >= $start), 0)"
_PREVIOUS = f"coalesce(sum({_COST}) filter (where charge_date < $start), 0)"

_PARAM = re.compile(r"\$([a-z_]+)")


def current_source() -> Source:
    """The serving copy named by the settings; `MartsUnavailable` when it does not exist."""
    path = load_settings().serving_path
    try:
        version = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise MartsUnavailable(str(path)) from None
    return Source(str(path), version)


def open_marts() -> tuple[Source, Summary]:
    """The serving copy and its summary; `MartsUnavailable` when there is nothing to show."""
    source = current_source()
    marts = summary(source)
    if marts.row_count == 0:
        raise MartsUnavailable(source.path)
    return source, marts


@st.cache_resource(max_entries=SNAPSHOTS_KEPT, show_spinner=False)
def _snapshot(source: Source) -> duckdb.DuckDBPyConnection:
    """This version of the serving copy, attached read-only to an in-memory DuckDB instance.

    One instance per published version, shared by every session: queries run on cursors of
    it, so they share its buffer pool instead of re-reading the file for each query. A fresh
    instance is needed for each version: `duckdb.connect(path)` would hand back an instance
    still open on the previous file (DuckDB caches instances by path), whereas ATTACH opens
    the file the path names now. The pipeline never writes the serving copy in place (it
    renames a new file over it), so holding it open blocks nothing; an evicted version is
    released when its last query has finished.
    """
    con = duckdb.connect(":memory:")
    quoted = source.path.replace("'", "''")
    for attempt in range(LOCK_RETRIES):
        try:
            con.execute(f"attach '{quoted}' as serving (read_only)")
            break
        except duckdb.IOException as exc:
            if not Path(source.path).exists():
                con.close()
                raise MartsUnavailable(source.path) from exc
            if attempt == LOCK_RETRIES - 1:
                con.close()
                raise WarehouseBusy(str(exc)) from exc
            time.sleep(LOCK_BACKOFF_SECONDS * (attempt + 1))
    return con


_CURSOR_LOCK = threading.Lock()


@contextmanager
def _read_only(source: Source) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the version's snapshot, whose default catalog is the serving copy."""
    snapshot = _snapshot(source)  # held until the query is done: keeps the instance alive
    with _CURSOR_LOCK:
        cursor = snapshot.cursor()
    try:
        cursor.execute("use serving")
        yield cursor
    finally:
        cursor.close()
        del snapshot


def _bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters the SQL text names (DuckDB rejects unused named parameters)."""
    names = set(_PARAM.findall(sql))
    return {name: value for name, value in params.items() if name in names}


def _frame(source: Source, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    try:
        with _read_only(source) as con:
            return con.execute(sql, _bind(sql, params)).df()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc


def _rows(source: Source, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows as Python values: DECIMAL stays Decimal (exact KPIs), DATE stays date."""
    try:
        with _read_only(source) as con:
            return con.execute(sql, _bind(sql, params)).fetchall()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc


def _decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


# ---------------------------------------------------------------- the whole file


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def summary(source: Source) -> Summary:
    """Row count, date span, currencies and providers of fct_daily_costs; as-of from the KPIs.

    The reporting currency is the one of the latest day (a warehouse whose reporting
    currency changed without a full refresh holds two: the pages read only this one).
    """
    try:
        with _read_only(source) as con:
            tables = frozenset(
                name
                for (name,) in con.execute(
                    "select table_name from duckdb_tables() "
                    "where database_name = 'serving' and schema_name = 'marts'"
                ).fetchall()
            )
            if not set(REQUIRED_MARTS) <= tables:
                raise MartsUnavailable(source.path)
            # count, min and max come from the table's statistics: no scan
            count, first, last = con.execute(
                "select count(*), min(charge_date), max(charge_date) from marts.fct_daily_costs"
            ).fetchone()
            (currencies,) = con.execute(
                """
                select list(distinct reporting_currency order by reporting_currency)
                from marts.fct_daily_costs
                """
            ).fetchone()
            (currency,) = con.execute(
                """
                select min(reporting_currency) from marts.fct_daily_costs
                where charge_date = (select max(charge_date) from marts.fct_daily_costs)
                """
            ).fetchone()
            (as_of,) = con.execute(
                "select max(as_of_date) from marts.fct_cost_kpis where provider_scope = 'All'"
            ).fetchone()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc
    return Summary(
        row_count=count,
        first_date=first,
        last_date=last,
        reporting_currency=currency or load_settings().reporting_currency,
        as_of_date=as_of or last,
        currencies=tuple(currencies or ()),
        providers=tuple(sorted(filter_options(source)["provider_name"].unique())) if count else (),
        tables=tables,
        published_at=datetime.fromtimestamp(source.version / 1e9).astimezone(),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def filter_options(source: Source) -> pd.DataFrame:
    """Every account with cost (dim_sub_accounts): provider_name, sub_account_id and its one
    display name, to build the cloud-dependent account selector and to name accounts."""
    return _frame(
        source,
        """
        select provider_name, sub_account_id, sub_account_name
        from marts.dim_sub_accounts
        order by provider_name, sub_account_name, sub_account_id
        """,
        {},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def category_options(source: Source) -> list[str]:
    """The FOCUS service categories with cost (dim_services), sorted."""
    rows = _rows(
        source,
        "select distinct service_category from marts.dim_services order by service_category",
        {},
    )
    return [category for (category,) in rows if category is not None]


# ---------------------------------------------------------------- costs under the filters


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def provider_totals(
    source: Source, filters: CostFilter, basis: CostBasis
) -> tuple[ProviderTotal, ...]:
    """Exact cost per provider in the period and in the previous period, in one scan."""
    rows = _rows(
        source,
        f"""
        select provider_name, {_CURRENT} as current_cost, {_PREVIOUS} as previous_cost
        from marts.fct_daily_costs
        where {_BOTH_PERIODS}
        group by provider_name
        order by provider_name
        """,
        {**filters.params(), "basis": basis},
    )
    return tuple(ProviderTotal(p, _decimal(c), _decimal(v)) for p, c, v in rows)


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def daily_by_provider(source: Source, filters: CostFilter, basis: CostBasis) -> pd.DataFrame:
    """charge_date, provider_name, cost: one row per day with data and provider."""
    return _frame(
        source,
        f"""
        select charge_date, provider_name, sum({_COST}) as cost
        from marts.fct_daily_costs
        where {_PERIOD}
        group by charge_date, provider_name
        order by charge_date, provider_name
        """,
        {**filters.params(), "basis": basis},
    )


# Per item: cost in the period and in the previous one, the change, the share of the
# period's total, and two ranks computed by DuckDB: by cost (top N) and by |change| (movers).
_COMPARED = """
    select
        *,
        current_cost - previous_cost as change,
        case when previous_cost != 0
            then (current_cost - previous_cost) / abs(previous_cost) * 100 end as change_pct,
        case when sum(current_cost) over (partition by level) != 0
            then current_cost / sum(current_cost) over (partition by level) * 100 end as share_pct,
        row_number() over (
            partition by level order by has_current desc, current_cost desc, {keys}
        ) as cost_rank,
        row_number() over (
            partition by level order by abs(current_cost - previous_cost) desc, current_cost desc, {keys}
        ) as change_rank
    from items
    order by level, cost_rank
"""


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def service_costs(source: Source, filters: CostFilter, basis: CostBasis) -> pd.DataFrame:
    """Every service, category x cloud and category with cost in the period or the
    previous one (same length, same filters), from one scan of fct_daily_costs.

    `level` says which: 'service' (provider_name, service_name, service_category),
    'category_provider' (service_category, provider_name) or 'category'. Columns:
    current_cost, previous_cost, has_current (rows in the period), change, change_pct
    (null when the previous cost is 0), share_pct (of the period's total), cost_rank and
    change_rank (1 = costliest / largest |change| within the level).
    """
    keys = "service_category, provider_name, service_name"
    return _frame(
        source,
        f"""
        with items as (
            select
                case grouping(provider_name, service_name)
                    when 0 then 'service'
                    when 1 then 'category_provider'
                    else 'category'
                end as level,
                provider_name,
                service_name,
                service_category,
                {_CURRENT} as current_cost,
                {_PREVIOUS} as previous_cost,
                count(*) filter (where charge_date >= $start) > 0 as has_current
            from marts.fct_daily_costs
            where {_BOTH_PERIODS}
            group by grouping sets (
                (provider_name, service_name, service_category),
                (service_category, provider_name),
                (service_category)
            )
        )
        {_COMPARED.format(keys=keys)}
        """,
        {**filters.params(), "basis": basis},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def account_costs(source: Source, filters: CostFilter, basis: CostBasis) -> pd.DataFrame:
    """Every account with cost in the period or the previous one, from one scan.

    Columns: provider_name, sub_account_id, sub_account_name, billing_currencies (of its
    rows in the period; every amount is in the reporting currency), current_cost,
    previous_cost, has_current, change, change_pct, share_pct, cost_rank, change_rank.
    """
    keys = "provider_name, sub_account_id"
    costs = _frame(
        source,
        f"""
        with per_currency as (
            select
                provider_name,
                sub_account_id,
                billing_currency,
                {_CURRENT} as current_cost,
                {_PREVIOUS} as previous_cost,
                count(*) filter (where charge_date >= $start) as current_rows
            from marts.fct_daily_costs
            where {_BOTH_PERIODS}
            group by provider_name, sub_account_id, billing_currency
        ),
        items as (
            select
                'account' as level,
                provider_name,
                sub_account_id,
                string_agg(billing_currency, ', ' order by billing_currency)
                    filter (where current_rows > 0) as billing_currencies,
                sum(current_cost) as current_cost,
                sum(previous_cost) as previous_cost,
                sum(current_rows) > 0 as has_current
            from per_currency
            group by provider_name, sub_account_id
        )
        {_COMPARED.format(keys=keys)}
        """,
        {**filters.params(), "basis": basis},
    )
    # each account's one display name, from dim_sub_accounts (cached as the filter options)
    named = costs.merge(
        filter_options(source),
        on=["provider_name", "sub_account_id"],
        how="left",
    )
    return named[[*costs.columns[:3], "sub_account_name", *costs.columns[3:]]]


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def cost_movers(
    source: Source, period: str, providers: tuple[str, ...], limit: int
) -> pd.DataFrame:
    """fct_cost_movers of one period ('last_7d' or 'mtd'): per dimension ('service',
    'account') the `limit` largest |change| of billed cost among the chosen providers (all
    when none), largest first, no zero change. The mart keeps the top 20 per period and
    dimension over every provider, so a cloud filter picks among those."""
    return _frame(
        source,
        """
        select dimension, provider_name, item_id, item_name, current_start, current_end,
            previous_start, previous_end, current_cost, previous_cost, change, change_pct,
            change_rank
        from marts.fct_cost_movers
        where period = $period
            and change != 0
            and (len($providers) = 0 or list_contains($providers, provider_name))
        qualify row_number() over (partition by dimension order by change_rank) <= $limit
        order by dimension, change_rank
        """,
        {"period": period, "providers": list(providers), "limit": limit},
    )


def top(items: pd.DataFrame, level: str, limit: int) -> pd.DataFrame:
    """The `limit` costliest items of a level with cost in the period (DuckDB's cost_rank)."""
    rows = items[(items["level"] == level) & items["has_current"] & (items["cost_rank"] <= limit)]
    return rows.sort_values("cost_rank").reset_index(drop=True)


def movers(items: pd.DataFrame, level: str, limit: int) -> pd.DataFrame:
    """The `limit` items of a level whose cost changed most (DuckDB's change_rank), no zeros."""
    rows = items[
        (items["level"] == level) & (items["change_rank"] <= limit) & (items["change"] != 0)
    ]
    return rows.sort_values("change_rank").reset_index(drop=True)


def level(items: pd.DataFrame, name: str) -> pd.DataFrame:
    """Every item of one level, costliest first."""
    return items[items["level"] == name].sort_values("cost_rank").reset_index(drop=True)


def daily_rows_sql() -> str:
    return f"""
        select *
        from marts.fct_daily_costs
        where {_PERIOD}
        order by charge_date, provider_name, sub_account_id, service_name, daily_cost_id
    """


def daily_rows_csv(source: Source, filters: CostFilter) -> bytes:
    """The fct_daily_costs rows in the filters, every column as stored, as CSV.

    DuckDB writes the file itself (exact decimals, ISO dates) so that no row passes through
    pandas. Not cached: it runs when the download button is clicked.
    """
    sql = daily_rows_sql()
    with tempfile.TemporaryDirectory(prefix="finops_export_") as folder:
        target = Path(folder) / "daily_costs.csv"
        try:
            with _read_only(source) as con:
                con.execute(
                    f"copy ({sql}) to '{target}' (header, delimiter ',')",
                    _bind(sql, filters.params()),
                )
        except duckdb.CatalogException as exc:
            raise MartsUnavailable(source.path) from exc
        return target.read_bytes()


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes for a download button (ISO dates, no index)."""
    return frame.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8")


# ---------------------------------------------------------------- anomalies


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def anomalies(source: Source, filters: CostFilter) -> pd.DataFrame:
    """Flagged days of fct_cost_anomalies in the filters, largest |cost_impact| first.

    The anomaly mart has no category column: a service matches the category filter when
    fct_daily_costs files it under one of the chosen categories (a semi-join, no fan-out).
    """
    return _frame(
        source,
        """
        select
            a.anomaly_id,
            a.charge_date,
            a.provider_name,
            a.sub_account_id,
            a.sub_account_name,
            a.service_name,
            a.reporting_currency,
            a.actual_cost,
            a.expected_cost,
            a.z_score,
            a.cost_impact,
            a.direction
        from marts.fct_cost_anomalies as a
        where a.charge_date between $start and $end
            and a.reporting_currency = $currency
            and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], a.provider_name))
            and (len($accounts::varchar[]) = 0 or list_contains($accounts::varchar[], a.sub_account_id))
            and (
                len($categories::varchar[]) = 0
                or exists (
                    select 1
                    from marts.fct_daily_costs as d
                    where d.provider_name = a.provider_name
                        and d.service_name = a.service_name
                        and list_contains($categories::varchar[], d.service_category)
                )
            )
        order by abs(a.cost_impact) desc, a.charge_date, a.anomaly_id
        """,
        filters.params(),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def total_anomalies(source: Source, filters: CostFilter, scopes: tuple[str, ...]) -> pd.DataFrame:
    """Flagged days of the total series in the period and scopes, largest |impact| first.

    Each row carries its top contributing account, service and region from
    fct_anomaly_root_causes: the item whose contribution goes furthest in the direction of
    the impact (the largest increase for a spike, the largest decrease for a drop).
    """
    return _frame(
        source,
        """
        with anomalies as (
            select *
            from marts.fct_cost_total_anomalies
            where charge_date between $start and $end
                and reporting_currency = $currency
                and list_contains($scopes::varchar[], provider_scope)
        ),
        ranked as (
            select
                r.total_anomaly_id,
                r.dimension,
                r.provider_name,
                r.item,
                r.sub_account_name,
                r.contribution,
                r.share_of_impact,
                row_number() over (
                    partition by r.total_anomaly_id, r.dimension
                    order by r.contribution * sign(a.cost_impact) desc, r.item
                ) as rank
            from marts.fct_anomaly_root_causes as r
            inner join anomalies as a on a.total_anomaly_id = r.total_anomaly_id
        ),
        top as (
            select
                total_anomaly_id,
                any_value(provider_name) filter (where dimension = 'account') as account_provider,
                any_value(item) filter (where dimension = 'account') as top_account_id,
                any_value(sub_account_name) filter (where dimension = 'account') as top_account_name,
                any_value(contribution) filter (where dimension = 'account') as top_account_contribution,
                any_value(provider_name) filter (where dimension = 'service') as service_provider,
                any_value(item) filter (where dimension = 'service') as top_service,
                any_value(contribution) filter (where dimension = 'service') as top_service_contribution,
                any_value(item) filter (where dimension = 'region') as top_region,
                any_value(contribution) filter (where dimension = 'region') as top_region_contribution
            from ranked
            where rank = 1
            group by total_anomaly_id
        )
        select
            a.total_anomaly_id,
            a.charge_date,
            a.provider_scope,
            a.reporting_currency,
            a.actual_cost,
            a.expected_cost,
            a.z_score,
            a.cost_impact,
            a.direction,
            top.* exclude (total_anomaly_id)
        from anomalies as a
        left join top on top.total_anomaly_id = a.total_anomaly_id
        order by abs(a.cost_impact) desc, a.charge_date, a.provider_scope
        """,
        {**filters.params(), "scopes": list(scopes)},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def root_causes(source: Source, total_anomaly_id: str, limit: int = 5) -> pd.DataFrame:
    """The `limit` largest contributions (|contribution|) per dimension of one total anomaly."""
    return _frame(
        source,
        """
        select dimension, provider_name, item, sub_account_name, actual_cost, expected_cost,
            contribution, share_of_impact
        from marts.fct_anomaly_root_causes
        where total_anomaly_id = $total_anomaly_id
        qualify row_number() over (
            partition by dimension order by abs(contribution) desc, item
        ) <= $limit
        order by dimension, abs(contribution) desc, item
        """,
        {"total_anomaly_id": total_anomaly_id, "limit": limit},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def anomaly_series(
    source: Source,
    level: Literal["total", "service"],
    scope: str,
    account_id: str | None,
    service_name: str | None,
    start: date,
    end: date,
) -> pd.DataFrame:
    """One series of fct_anomaly_series between two days: actual, expected and its band."""
    return _frame(
        source,
        """
        select charge_date, actual_cost, expected_cost, expected_low, expected_high, z_score,
            is_scored, is_anomaly, direction, cost_impact, reporting_currency
        from marts.fct_anomaly_series
        where series_level = $level
            and provider_scope = $scope
            and sub_account_id is not distinct from $account_id
            and service_name is not distinct from $service_name
            and charge_date between $start and $end
        order by charge_date
        """,
        {
            "level": level,
            "scope": scope,
            "account_id": account_id,
            "service_name": service_name,
            "start": start,
            "end": end,
        },
    )


# ---------------------------------------------------------------- forecast and budget


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def forecast(source: Source, scope: str) -> dict[str, Any] | None:
    """The fct_cost_forecast row of one provider scope (exact decimals), or None."""
    sql = """
        select provider_scope, reporting_currency, forecast_month, as_of_date, mtd_cost,
            days_elapsed, days_remaining, forecast_month_end_cost, method
        from marts.fct_cost_forecast
        where provider_scope = $scope
    """
    try:
        with _read_only(source) as con:
            cursor = con.execute(sql, {"scope": scope})
            names = [d[0] for d in cursor.description]
            row = cursor.fetchone()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc
    return dict(zip(names, row, strict=True)) if row else None


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def month_daily(
    source: Source, scope: str, month_start: date, as_of: date, currency: str
) -> pd.DataFrame:
    """charge_date, cost, cumulative_cost: the forecast's month so far, as it defines it.

    Billed cost, every charge category, in the reporting currency, for the scope's
    providers (`All` = both), from the first of the month to the as-of day.
    """
    return _frame(
        source,
        """
        select charge_date, sum(billed_cost_reporting) as cost,
            sum(sum(billed_cost_reporting)) over (order by charge_date) as cumulative_cost
        from marts.fct_daily_costs
        where charge_date between $month_start and $as_of
            and reporting_currency = $currency
            and ($scope = 'All' or provider_name = $scope)
        group by charge_date
        order by charge_date
        """,
        {"scope": scope, "month_start": month_start, "as_of": as_of, "currency": currency},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def forecast_accuracy(source: Source, scope: str) -> pd.DataFrame:
    """cutoff_day, months, mape, mean_error: the method's backtest on complete months."""
    return _frame(
        source,
        """
        select cutoff_day, count(*) as months, avg(abs_pct_error) as mape,
            avg(forecast_error) as mean_error
        from marts.fct_cost_forecast_backtest
        where provider_scope = $scope
        group by cutoff_day
        order by cutoff_day
        """,
        {"scope": scope},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def kpis(source: Source, scope: str, basis: CostBasis) -> dict[str, Any] | None:
    """The fct_cost_kpis row of one scope and cost basis (exact decimals), or None."""
    sql = """
        select * from marts.fct_cost_kpis where provider_scope = $scope and cost_basis = $basis
    """
    try:
        with _read_only(source) as con:
            cursor = con.execute(sql, {"scope": scope, "basis": basis})
            names = [d[0] for d in cursor.description]
            row = cursor.fetchone()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc
    return dict(zip(names, row, strict=True)) if row else None


# ---------------------------------------------------------------- freshness


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def freshness(source: Source) -> pd.DataFrame:
    """fct_load_freshness: one row per provider x source x scope, providers then scopes."""
    return _frame(
        source,
        """
        select * exclude (freshness_id)
        from marts.fct_load_freshness
        order by provider_name, source_name, scope
        """,
        {},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def failed_loads(source: Source) -> pd.DataFrame:
    """Scopes whose last load attempt failed (their data is as of their last success)."""
    return _frame(
        source,
        """
        select provider_name, source_name, scope, last_attempt_at, last_error_message,
            last_succeeded_at, latest_charge_date
        from marts.fct_load_freshness
        where is_last_attempt_failed
        order by provider_name, scope
        """,
        {},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def last_load_restatements(source: Source) -> pd.DataFrame:
    """What each scope's last successful load changed, per provider and charge date.

    fct_cost_restatements rows of the loads fct_load_freshness names as the last success
    (same source, scope and finish time), billed cost, in the reporting currency.
    """
    return _frame(
        source,
        """
        select
            r.provider_name,
            r.charge_date,
            count(distinct r.sub_account_id) as accounts,
            sum(r.cost_change_reporting) as billed_cost_change,
            max(r.days_after_month_close) > 0 as after_month_close,
            any_value(r.reporting_currency) as reporting_currency
        from marts.fct_cost_restatements as r
        inner join marts.fct_load_freshness as f
            on r.source_name = f.source_name
            and r.scope = f.scope
            and r.loaded_at = f.last_succeeded_at
        where r.cost_type = 'billed'
        group by r.provider_name, r.charge_date
        order by r.provider_name, r.charge_date
        """,
        {},
    )
