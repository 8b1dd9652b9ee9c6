"""Costs under the sidebar's filters, from fct_daily_costs: per-provider totals against the
previous period, the daily series, services and accounts with their ranks, the rows as CSV.

With a tag filter (`CostFilter.tagged`) the same queries read fct_cost_allocation instead,
the rows of the chosen key's chosen values: that mart has every column the filters and the
queries name, with fct_daily_costs' values (assert_fct_cost_allocation_reconciles), and
holds the whole cost once per key, so one key's values are never added to another's. The
mart is one of two literal names; the key and values are bound parameters.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.data.connection import (
    CACHE_ENTRIES,
    CACHE_TTL,
    as_decimal,
    copy_csv,
    query_frame,
    query_rows,
)
from dashboard.data.serving import filter_options
from dashboard.data.types import CostBasis, CostFilter, ProviderTotal, Source

# The scope part of every fct_daily_costs predicate: one reporting currency, the charges,
# and the three optional allow-lists. Date ranges are added by the queries. The allocation
# page filters fct_cost_allocation with it too (dashboard/data/allocation.py).
SCOPE = """
    reporting_currency = $currency
    and ($charges = 'all' or charge_category = 'Usage')
    and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider_name))
    and (len($accounts::varchar[]) = 0 or list_contains($accounts::varchar[], sub_account_id))
    and (len($categories::varchar[]) = 0 or list_contains($categories::varchar[], service_category))
"""
_PERIOD = f"charge_date between $start and $end and {SCOPE}"
# The period and the previous one of the same length, split with FILTER in the aggregates.
_BOTH_PERIODS = f"charge_date between $previous_start and $end and {SCOPE}"
# The tag filter over fct_cost_allocation: the chosen values of the one chosen key.
_TAGGED = """
    allocation_key = $tag_key
    and list_contains($tag_values::varchar[], allocation_value)
"""

# The chosen cost basis, always in the reporting currency (never billing currencies summed).
COST = """
    case when $basis = 'effective' then effective_cost_reporting else billed_cost_reporting end
"""
_CURRENT = f"coalesce(sum({COST}) filter (where charge_date >= $start), 0)"
_PREVIOUS = f"coalesce(sum({COST}) filter (where charge_date < $start), 0)"


def _rows(filters: CostFilter, predicate: str) -> str:
    """`from <mart> where <predicate>`: fct_daily_costs, or with a tag filter the rows of the
    chosen values of fct_cost_allocation (the same columns)."""
    if filters.tagged:
        return f"from marts.fct_cost_allocation where {predicate} and {_TAGGED}"
    return f"from marts.fct_daily_costs where {predicate}"


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def provider_totals(
    source: Source, filters: CostFilter, basis: CostBasis
) -> tuple[ProviderTotal, ...]:
    """Exact cost per provider in the period and in the previous period, in one scan."""
    rows = query_rows(
        source,
        f"""
        select provider_name, {_CURRENT} as current_cost, {_PREVIOUS} as previous_cost
        {_rows(filters, _BOTH_PERIODS)}
        group by provider_name
        order by provider_name
        """,
        {**filters.params(), "basis": basis},
    )
    return tuple(ProviderTotal(p, as_decimal(c), as_decimal(v)) for p, c, v in rows)


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def daily_by_provider(source: Source, filters: CostFilter, basis: CostBasis) -> pd.DataFrame:
    """charge_date, provider_name, cost: one row per day with data and provider."""
    return query_frame(
        source,
        f"""
        select charge_date, provider_name, sum({COST}) as cost
        {_rows(filters, _PERIOD)}
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
    previous one (same length, same filters), from one scan of fct_daily_costs (or of
    fct_cost_allocation under a tag filter).

    `level` says which: 'service' (provider_name, service_name, service_category),
    'category_provider' (service_category, provider_name) or 'category'. Columns:
    current_cost, previous_cost, has_current (rows in the period), change, change_pct
    (null when the previous cost is 0), share_pct (of the period's total), cost_rank and
    change_rank (1 = costliest / largest |change| within the level).
    """
    keys = "service_category, provider_name, service_name"
    return query_frame(
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
            {_rows(filters, _BOTH_PERIODS)}
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
    costs = query_frame(
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
            {_rows(filters, _BOTH_PERIODS)}
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
    return query_frame(
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


def daily_rows_sql(filters: CostFilter) -> str:
    key = "cost_allocation_id" if filters.tagged else "daily_cost_id"
    return f"""
        select *
        {_rows(filters, _PERIOD)}
        order by charge_date, provider_name, sub_account_id, service_name, {key}
    """


def daily_rows_csv(source: Source, filters: CostFilter) -> bytes:
    """The fct_daily_costs rows in the filters (with a tag filter: the fct_cost_allocation
    rows of its values), every column as stored, as CSV.

    DuckDB writes the file itself (exact decimals, ISO dates) so that no row passes through
    pandas. Not cached: it runs when the download button is clicked.
    """
    return copy_csv(source, daily_rows_sql(filters), filters.params(), "daily_costs")


def to_csv(frame: pd.DataFrame) -> bytes:
    """CSV bytes for a download button (ISO dates, no index)."""
    return frame.to_csv(index=False, date_format="%Y-%m-%d").encode("utf-8")
