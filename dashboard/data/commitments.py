"""Commitment discounts (savings plans, reservations) under the sidebar's filters: how much
of each was used, how much of the usage they could cover they did cover, what they and
negotiated prices saved (the Effective Savings Rate), and when they expire.

Every ratio is recomputed from the sums of what is aggregated, never averaged:
utilization = Σused / (Σused + Σunused), coverage = Σcommitted / (Σcommitted + Σon demand),
ESR = Σtotal savings / Σlist cost (docs/commitments.md). Utilization is summed in the
reporting currency (`*_reporting` columns); coverage and savings have amounts in the billing
currency only, so they are always grouped by `billing_currency` and never summed across it.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.data.connection import (
    CACHE_ENTRIES,
    CACHE_TTL,
    copy_csv,
    query_frame,
    query_rows,
)
from dashboard.data.serving import filter_options
from dashboard.data.types import CostFilter, Source

COMMITMENT_MARTS = (
    "fct_commitment_utilization",
    "fct_commitment_coverage",
    "fct_effective_savings",
    "dim_commitment_discounts",
)

_PROVIDERS = (
    "(len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider_name))"
)
_UTILIZATION_SCOPE = f"""
    charge_date between $start and $end
    and reporting_currency = $currency
    and {_PROVIDERS}
"""
_COVERAGE_SCOPE = f"""
    charge_date between $start and $end
    and {_PROVIDERS}
    and (len($accounts::varchar[]) = 0 or list_contains($accounts::varchar[], sub_account_id))
    and (len($categories::varchar[]) = 0 or list_contains($categories::varchar[], service_category))
"""
# Savings are per month: every month that overlaps the period counts whole.
_SAVINGS_SCOPE = f"""
    billing_month between date_trunc('month', $start::date) and $end
    and {_PROVIDERS}
"""


def _ratio(numerator: str, denominator: str) -> str:
    """numerator / denominator over the group's sums; null when there is nothing to divide."""
    return f"case when {denominator} != 0 then ({numerator}) / ({denominator}) end"


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def row_counts(source: Source) -> dict[str, int]:
    """Rows of each commitment mart in the whole serving copy (no filter): tells "nothing
    loaded yet" from "nothing in this selection"."""
    [counts] = query_rows(
        source,
        "select " + ", ".join(f"(select count(*) from marts.{name})" for name in COMMITMENT_MARTS),
        {},
    )
    return dict(zip(COMMITMENT_MARTS, counts, strict=True))


def _per_commitment(aggregate: str) -> str:
    """A commitment's own attribute, on the levels of one commitment only."""
    return f"case when grouping(commitment_discount_id) = 0 then {aggregate} end"


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def utilization(source: Source, filters: CostFilter) -> pd.DataFrame:
    """Used and unused commitment in the period, in the reporting currency, from one scan of
    fct_commitment_utilization (the period and cloud filters apply).

    `level` says which rows: 'day_commitment' (charge_date, provider_name,
    commitment_discount_id), 'day' (charge_date: every commitment), 'commitment' (the whole
    period, with its end_date and days_to_expiry from dim_commitment_discounts), 'provider'
    and 'total'. Columns: used_cost, unused_cost (reporting currency), utilization
    (Σused / (Σused + Σunused), null when both are 0), commitments (distinct), days (with
    rows), billing_currencies and the commitment's name, type, category, billing account.
    """
    return query_frame(
        source,
        f"""
        with items as (
            select
                case grouping(charge_date, provider_name, commitment_discount_id)
                    when 0 then 'day_commitment'
                    when 3 then 'day'
                    when 4 then 'commitment'
                    when 5 then 'provider'
                    else 'total'
                end as level,
                charge_date,
                provider_name,
                commitment_discount_id,
                {_per_commitment("max(commitment_discount_name)")} as commitment_discount_name,
                {_per_commitment("max(commitment_discount_type)")} as commitment_discount_type,
                {_per_commitment("max(commitment_discount_category)")}
                    as commitment_discount_category,
                {_per_commitment("string_agg(distinct billing_account_id, ', ')")}
                    as billing_account_id,
                string_agg(distinct billing_currency, ', ' order by billing_currency)
                    as billing_currencies,
                sum(used_cost_reporting) as used_cost,
                sum(unused_cost_reporting) as unused_cost,
                {_ratio("sum(used_cost_reporting)", "sum(used_cost_reporting) + sum(unused_cost_reporting)")}
                    as utilization,
                count(distinct (provider_name, commitment_discount_id)) as commitments,
                count(distinct charge_date) as days
            from marts.fct_commitment_utilization
            where {_UTILIZATION_SCOPE}
            group by grouping sets (
                (charge_date, provider_name, commitment_discount_id),
                (charge_date),
                (provider_name, commitment_discount_id),
                (provider_name),
                ()
            )
            having count(*) > 0  -- no 'total' row of nothing when no row is in the filters
        )
        select items.*, d.end_date, d.days_to_expiry
        from items
        left join marts.dim_commitment_discounts as d
            on items.level = 'commitment'
            and d.provider_name = items.provider_name
            and d.commitment_discount_id = items.commitment_discount_id
        order by
            level,
            charge_date,
            items.unused_cost desc,
            items.provider_name,
            items.commitment_discount_id
        """,
        filters.params(),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def coverage(source: Source, filters: CostFilter) -> pd.DataFrame:
    """Committed and on-demand eligible usage in the period, per billing currency, from one
    scan of fct_commitment_coverage (the period, cloud, account and category filters apply).

    `level` says which rows, each per provider_name x billing_currency: 'provider', 'category'
    (service_category), 'account' (sub_account_id, with its sub_account_name). Columns:
    committed_cost, on_demand_cost, eligible_cost (their sum), all in billing_currency, and
    coverage (Σcommitted / Σeligible, null when nothing is eligible).
    """
    frame = query_frame(
        source,
        f"""
        select
            case grouping(service_category, sub_account_id)
                when 1 then 'category'
                when 2 then 'account'
                else 'provider'
            end as level,
            provider_name,
            billing_currency,
            service_category,
            sub_account_id,
            sum(committed_cost) as committed_cost,
            sum(on_demand_cost) as on_demand_cost,
            sum(committed_cost) + sum(on_demand_cost) as eligible_cost,
            {_ratio("sum(committed_cost)", "sum(committed_cost) + sum(on_demand_cost)")}
                as coverage
        from marts.fct_commitment_coverage
        where {_COVERAGE_SCOPE}
        group by grouping sets (
            (provider_name, billing_currency),
            (service_category, provider_name, billing_currency),
            (sub_account_id, provider_name, billing_currency)
        )
        order by level, provider_name, billing_currency, eligible_cost desc,
            service_category, sub_account_id
        """,
        filters.params(),
    )
    # each account's one display name, from dim_sub_accounts (cached as the filter options)
    named = frame.merge(filter_options(source), on=["provider_name", "sub_account_id"], how="left")
    return named[[*frame.columns[:5], "sub_account_name", *frame.columns[5:]]]


# The mart's share is per month; over several months it is weighted by the effective cost.
_MISSING_SHARE = _ratio(
    "sum(coalesce(list_cost_missing_share, 0) * effective_cost)", "sum(effective_cost)"
)


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def savings(source: Source, filters: CostFilter) -> pd.DataFrame:
    """What negotiated prices and commitments saved against list prices, from
    fct_effective_savings: every month that overlaps the period (whole), the cloud filter.

    `level` 'month' (billing_month x provider_name x billing_currency: the mart's rows) or
    'provider' (provider_name x billing_currency over those months). Amounts in
    billing_currency; rates recomputed over the group: effective_savings_rate = Σtotal /
    Σlist, negotiated_rate = Σnegotiated / Σlist, commitment_rate = Σcommitment / Σlist,
    list_cost_missing_share weighted by effective cost; all null when Σlist (Σeffective) is 0.
    """
    return query_frame(
        source,
        f"""
        select
            case grouping(billing_month) when 0 then 'month' else 'provider' end as level,
            billing_month,
            provider_name,
            billing_currency,
            sum(list_cost) as list_cost,
            sum(contracted_cost) as contracted_cost,
            sum(effective_cost) as effective_cost,
            sum(negotiated_savings) as negotiated_savings,
            sum(commitment_savings) as commitment_savings,
            sum(total_savings) as total_savings,
            {_ratio("sum(total_savings)", "sum(list_cost)")} as effective_savings_rate,
            {_ratio("sum(negotiated_savings)", "sum(list_cost)")} as negotiated_rate,
            {_ratio("sum(commitment_savings)", "sum(list_cost)")} as commitment_rate,
            {_MISSING_SHARE} as list_cost_missing_share
        from marts.fct_effective_savings
        where {_SAVINGS_SCOPE}
        group by grouping sets (
            (billing_month, provider_name, billing_currency),
            (provider_name, billing_currency)
        )
        order by level, billing_month, provider_name, billing_currency
        """,
        filters.params(),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def commitments(source: Source, providers: tuple[str, ...]) -> pd.DataFrame:
    """dim_commitment_discounts of the chosen clouds (all when none): soonest end first,
    those without a known end date last."""
    return query_frame(
        source,
        f"""
        select * exclude (commitment_discount_key)
        from marts.dim_commitment_discounts
        where {_PROVIDERS}
        order by end_date nulls last, provider_name, commitment_discount_id
        """,
        {"providers": list(providers)},
    )


# ---------------------------------------------------------------- CSV exports (on click)

_EXPORTS: dict[str, str] = {
    "utilization": f"""
        select * from marts.fct_commitment_utilization where {_UTILIZATION_SCOPE}
        order by charge_date, provider_name, commitment_discount_id, billing_currency
    """,
    "coverage": f"""
        select * from marts.fct_commitment_coverage where {_COVERAGE_SCOPE}
        order by charge_date, provider_name, sub_account_id, service_category, billing_currency
    """,
    "savings": f"""
        select * from marts.fct_effective_savings where {_SAVINGS_SCOPE}
        order by billing_month, provider_name, billing_currency
    """,
    "commitments": f"""
        select * from marts.dim_commitment_discounts where {_PROVIDERS}
        order by end_date nulls last, provider_name, commitment_discount_id
    """,
}


def mart_rows_csv(source: Source, export: str, filters: CostFilter) -> bytes:
    """The rows of one commitment mart in the filters (`export`: utilization, coverage,
    savings or commitments), every column as stored, as CSV.

    DuckDB writes the file itself (exact decimals, ISO dates). Not cached: it runs when the
    download button is clicked.
    """
    return copy_csv(source, _EXPORTS[export], filters.params(), export)
