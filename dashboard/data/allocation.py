"""Cost allocation by tag key (issue #18, docs/allocation.md) under the sidebar's filters: what
each value of a key costs (showback) and how it changed month over month, how much is
allocated and by which method, the taggable cost nobody tagged (what to tag first), the
tagging KPIs and the monthly chargeback.

fct_cost_allocation holds every day's cost once per key, so its amounts are only ever
summed within one `allocation_key`, and always in the reporting currency (`*_reporting`
columns, the chosen cost basis). It has fct_daily_costs' filter columns with the same values
(charge_category, service_category: assert_fct_cost_allocation_reconciles), so the period,
cloud, account, category and charges filters apply to it as to the cost pages
(`costs.SCOPE`); the sidebar's tag filter does not (the page splits the whole cost over the
values of the key it shows). fct_allocation_kpis (per month, cloud and billing currency)
takes the months the period overlaps and the cloud filter; the chargeback (per month, every
cloud together) takes neither: it is the month's file as finance books it. `tag_options`
gives the sidebar's tag filter its keys and values.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.data.connection import (
    CACHE_ENTRIES,
    CACHE_TTL,
    copy_csv,
    query_frame,
    query_rows,
)
from dashboard.data.costs import COST, SCOPE
from dashboard.data.serving import filter_options
from dashboard.data.types import CostBasis, CostFilter, Source, Summary

ALLOCATION_MARTS = ("fct_cost_allocation", "fct_allocation_kpis", "fct_allocation_chargeback")
UNALLOCATED = "(unallocated)"
# fct_cost_allocation's columns of fct_daily_costs' filters, which the marts of older versions
# lack
FILTER_COLUMNS = ("charge_category", "service_category")
# allocation_method values, in the order a row's value is looked for (docs/allocation.md)
METHODS = ("shared_rule", "tag", "account_map", "unallocated")

_PROVIDERS = (
    "(len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider_name))"
)
# fct_cost_allocation under the filters (the cost pages' scope), for one key
_SCOPE = f"allocation_key = $key and {SCOPE}"
_PERIOD = f"charge_date between $start and $end and {_SCOPE}"
# Whole months: every month the period overlaps, and the one before (for the change)
_MONTHS = f"""
    charge_date >= date_trunc('month', $start::date) - interval 1 month
    and charge_date < date_trunc('month', $end::date) + interval 1 month
    and {_SCOPE}
"""
_UNTAGGED = "is_taggable and allocation_method != 'tag'"


def _params(filters: CostFilter, basis: CostBasis, key: str) -> dict[str, Any]:
    return {**filters.params(), "basis": basis, "key": key}


def available(source: Source, summary: Summary) -> bool:
    """The serving copy has the allocation marts as this version reads them: all three, and
    fct_cost_allocation with the filter columns (FILTER_COLUMNS). A copy published before
    them counts as one without the allocation marts until the next run publishes them."""
    return set(ALLOCATION_MARTS) <= summary.tables and _has_filter_columns(source)


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def _has_filter_columns(source: Source) -> bool:
    [(found,)] = query_rows(
        source,
        """
        select count(*) from duckdb_columns()
        where database_name = 'serving' and schema_name = 'marts'
            and table_name = 'fct_cost_allocation'
            and list_contains($columns::varchar[], column_name)
        """,
        {"columns": list(FILTER_COLUMNS)},
    )
    return found == len(FILTER_COLUMNS)


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def row_counts(source: Source) -> dict[str, int]:
    """Rows of each allocation mart in the whole serving copy: none without
    FINOPS_ALLOCATION_TAGS, so "no keys configured" is told from "nothing in this selection"."""
    [counts] = query_rows(
        source,
        "select " + ", ".join(f"(select count(*) from marts.{name})" for name in ALLOCATION_MARTS),
        {},
    )
    return dict(zip(ALLOCATION_MARTS, counts, strict=True))


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def keys(source: Source) -> list[str]:
    """The allocation keys the marts were built with, in their configured spelling, sorted."""
    rows = query_rows(
        source,
        "select distinct allocation_key from marts.fct_allocation_kpis order by allocation_key",
        {},
    )
    return [key for (key,) in rows]


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def tag_options(source: Source) -> pd.DataFrame:
    """Every allocation key and value with cost, for the sidebar's tag filter:
    allocation_key, allocation_value; by key, `(unallocated)` last. From the monthly
    chargeback (sums of fct_cost_allocation: the same keys and values, far fewer rows). No
    rows without FINOPS_ALLOCATION_TAGS."""
    return query_frame(
        source,
        f"""
        select distinct allocation_key, allocation_value
        from marts.fct_allocation_chargeback
        order by allocation_key, allocation_value = '{UNALLOCATED}', allocation_value
        """,
        {},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def totals(source: Source, filters: CostFilter, basis: CostBasis, key: str) -> pd.DataFrame:
    """One row over the period for the key: total_cost, allocated_cost (a value other than
    `(unallocated)`), taggable_cost, tagged_cost (taggable, its value from the tag),
    untagged_cost (taggable, no tag value), allocated_share and untagged_share (of taggable
    cost; null on a zero base) and `values_allocated` (distinct values). Reporting currency,
    the chosen basis. No row when nothing is in the filters."""
    return query_frame(
        source,
        f"""
        select
            sum({COST}) as total_cost,
            coalesce(sum({COST}) filter (where allocation_value != '{UNALLOCATED}'), 0)
                as allocated_cost,
            coalesce(sum({COST}) filter (where is_taggable), 0) as taggable_cost,
            coalesce(sum({COST}) filter (where is_taggable and allocation_method = 'tag'), 0)
                as tagged_cost,
            coalesce(sum({COST}) filter (where {_UNTAGGED}), 0) as untagged_cost,
            case when sum({COST}) != 0 then
                coalesce(sum({COST}) filter (where allocation_value != '{UNALLOCATED}'), 0)
                / sum({COST}) end as allocated_share,
            case when sum({COST}) filter (where is_taggable) != 0 then
                coalesce(sum({COST}) filter (where {_UNTAGGED}), 0)
                / sum({COST}) filter (where is_taggable) end as untagged_share,
            count(distinct allocation_value) filter (where allocation_value != '{UNALLOCATED}')
                as values_allocated
        from marts.fct_cost_allocation
        where {_PERIOD}
        having count(*) > 0
        """,
        _params(filters, basis, key),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def showback(source: Source, filters: CostFilter, basis: CostBasis, key: str) -> pd.DataFrame:
    """Cost per value of the key in the period, from one scan of fct_cost_allocation.

    `level` 'value' (allocation_value: cost, share_pct of the key's total) or 'method'
    (allocation_value x allocation_method: how the value got its cost). Reporting currency,
    the chosen basis; costliest value first, `(unallocated)` among them by its cost.
    """
    return query_frame(
        source,
        f"""
        with items as (
            select
                case grouping(allocation_method) when 0 then 'method' else 'value' end as level,
                allocation_value,
                allocation_method,
                sum({COST}) as cost
            from marts.fct_cost_allocation
            where {_PERIOD}
            group by grouping sets ((allocation_value, allocation_method), (allocation_value))
        )
        select
            *,
            case when level = 'value' and sum(cost) over (partition by level) != 0
                then cost / sum(cost) over (partition by level) * 100 end as share_pct,
            max(cost) filter (where level = 'value') over (partition by allocation_value)
                as value_cost
        from items
        order by level desc, value_cost desc, allocation_value, allocation_method
        """,
        _params(filters, basis, key),
    ).drop(columns="value_cost")


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def monthly(source: Source, filters: CostFilter, basis: CostBasis, key: str) -> pd.DataFrame:
    """Cost per value and whole month (every month the period overlaps) with the change
    against the month before: billing_month, allocation_value, cost, previous_cost (null when
    the month before has no cost of the key at all: before the data), change (cost -
    previous_cost, null likewise), change_pct (null when previous_cost is 0 or null).

    A value with cost in the month before and none in a month has a row with cost 0.
    Reporting currency, the chosen basis; month, then costliest value first.
    """
    return query_frame(
        source,
        f"""
        with per_month as (
            select
                cast(date_trunc('month', charge_date) as date) as billing_month,
                allocation_value,
                sum({COST}) as cost
            from marts.fct_cost_allocation
            where {_MONTHS}
            group by all
        ),
        months as (
            select cast(month as date) as billing_month
            from range(
                date_trunc('month', $start::date),
                date_trunc('month', $end::date) + interval 1 month,
                interval 1 month
            ) as t(month)
        ),
        loaded as (select distinct billing_month from per_month),
        grid as (
            select m.billing_month, v.allocation_value
            from months as m
            cross join (select distinct allocation_value from per_month) as v
        ),
        compared as (
            select
                g.billing_month,
                g.allocation_value,
                cur.cost as current_cost,
                case when prev_month.billing_month is not null
                    then coalesce(prev.cost, 0) end as previous_cost
            from grid as g
            left join per_month as cur
                on cur.billing_month = g.billing_month
                and cur.allocation_value = g.allocation_value
            left join per_month as prev
                on prev.billing_month = g.billing_month - interval 1 month
                and prev.allocation_value = g.allocation_value
            left join loaded as prev_month
                on prev_month.billing_month = g.billing_month - interval 1 month
            where cur.cost is not null or prev.cost is not null
        )
        select
            billing_month,
            allocation_value,
            coalesce(current_cost, 0) as cost,
            previous_cost,
            coalesce(current_cost, 0) - previous_cost as change,
            case when previous_cost != 0
                then (coalesce(current_cost, 0) - previous_cost) / abs(previous_cost) * 100
            end as change_pct
        from compared
        order by billing_month, cost desc, allocation_value
        """,
        _params(filters, basis, key),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def daily(source: Source, filters: CostFilter, basis: CostBasis, key: str) -> pd.DataFrame:
    """charge_date, allocation_method, cost: the key's cost per day by how it was allocated
    (`unallocated` is the cost without a value). Reporting currency, the chosen basis."""
    return query_frame(
        source,
        f"""
        select charge_date, allocation_method, sum({COST}) as cost
        from marts.fct_cost_allocation
        where {_PERIOD}
        group by charge_date, allocation_method
        order by charge_date, allocation_method
        """,
        _params(filters, basis, key),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def untagged(source: Source, filters: CostFilter, basis: CostBasis, key: str) -> pd.DataFrame:
    """What to tag first: the taggable cost whose value for the key did not come from a tag
    (an account map, a shared rule or nothing gave it), in the period, from one scan.

    `level` 'service' (provider_name, service_name) or 'account' (provider_name,
    sub_account_id, with its sub_account_name). Columns: untagged_cost, taggable_cost,
    untagged_pct (of the item's taggable cost), untagged_rank (1 = largest within the level).
    Only items with untagged cost; largest first. Reporting currency, the chosen basis.
    """
    frame = query_frame(
        source,
        f"""
        with items as (
            select
                case grouping(service_name) when 0 then 'service' else 'account' end as level,
                provider_name,
                service_name,
                sub_account_id,
                coalesce(sum({COST}) filter (where {_UNTAGGED}), 0) as untagged_cost,
                sum({COST}) as taggable_cost
            from marts.fct_cost_allocation
            where {_PERIOD} and is_taggable
            group by grouping sets ((provider_name, service_name), (provider_name, sub_account_id))
            having count(*) filter (where {_UNTAGGED}) > 0
        )
        select
            *,
            case when taggable_cost != 0 then untagged_cost / taggable_cost * 100 end
                as untagged_pct,
            row_number() over (
                partition by level
                order by untagged_cost desc, provider_name, service_name, sub_account_id
            ) as untagged_rank
        from items
        order by level desc, untagged_rank
        """,
        _params(filters, basis, key),
    )
    # each account's one display name, from dim_sub_accounts (cached as the filter options)
    named = frame.merge(filter_options(source), on=["provider_name", "sub_account_id"], how="left")
    return named[[*frame.columns[:4], "sub_account_name", *frame.columns[4:]]]


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def kpis(source: Source, filters: CostFilter, key: str) -> pd.DataFrame:
    """fct_allocation_kpis of the key: every month the period overlaps (whole), the chosen
    clouds; per provider and billing currency (amounts in billing_currency, effective cost)."""
    return query_frame(
        source,
        f"""
        select * exclude (allocation_kpi_id)
        from marts.fct_allocation_kpis
        where allocation_key = $key
            and billing_month between date_trunc('month', $start::date) and $end
            and {_PROVIDERS}
        order by billing_month, provider_name, billing_currency
        """,
        {**filters.params(), "key": key},
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def chargeback_months(source: Source, key: str) -> list[date]:
    """The months fct_allocation_chargeback has for the key, latest first."""
    rows = query_rows(
        source,
        """
        select distinct billing_month from marts.fct_allocation_chargeback
        where allocation_key = $key
        order by billing_month desc
        """,
        {"key": key},
    )
    return [month for (month,) in rows]


_CHARGEBACK = """
    select * from marts.fct_allocation_chargeback
    where allocation_key = $key and billing_month = $month
    order by effective_cost_reporting desc, allocation_value, billing_currency
"""


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def chargeback(source: Source, key: str, month: date) -> pd.DataFrame:
    """The month's chargeback rows of the key (every cloud together, per billing currency),
    largest effective cost in the reporting currency first."""
    return query_frame(source, _CHARGEBACK, {"key": key, "month": month})


# ---------------------------------------------------------------- CSV exports (on click)


def chargeback_csv(source: Source, key: str, month: date) -> bytes:
    """The month's fct_allocation_chargeback rows of the key, every column as stored. Not
    cached: it runs when the download button is clicked."""
    return copy_csv(source, _CHARGEBACK, {"key": key, "month": month}, "chargeback")


def allocation_rows_csv(source: Source, filters: CostFilter, key: str) -> bytes:
    """The fct_cost_allocation rows of the key in the filters, every column as stored. Not
    cached: it runs when the download button is clicked."""
    sql = f"""
        select * from marts.fct_cost_allocation where {_PERIOD}
        order by charge_date, provider_name, sub_account_id, service_name, billing_currency,
            allocation_value, allocation_method
    """
    return copy_csv(source, sql, {**filters.params(), "key": key}, "cost_allocation")
