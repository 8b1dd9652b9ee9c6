"""Savings opportunities (issue #19) from marts.fct_optimization_opportunities: what could be
saved (open ones), what was saved (gone ones' realized savings), and the list.

Only rows that count are summed (`duplicate_of` null: the same saving reported by two
sources counts once, docs/optimization.md). Sums are in the reporting currency (the
`*_reporting` columns, `reporting_currency = $currency`) or per billing currency, never
across billing currencies. The share of spend is fct_cost_kpis' potential_savings_share
(open potential savings / the scope's effective cost of its last 30 days).
"""

from __future__ import annotations

from decimal import Decimal

import pandas as pd
import streamlit as st

from dashboard.data.connection import CACHE_ENTRIES, CACHE_TTL, copy_csv, query_frame, query_rows
from dashboard.data.types import Source

MART = "fct_optimization_opportunities"
STATUSES = ("open", "gone")
LEVELS = ("category", "account", "source")

# The cloud and account allow-lists of the sidebar (empty: all).
_SCOPE = """
    reporting_currency = $currency
    and (len($providers::varchar[]) = 0 or list_contains($providers::varchar[], provider_name))
    and (len($accounts::varchar[]) = 0 or list_contains($accounts::varchar[], sub_account_id))
"""
LIST_COLUMNS = (
    "status",
    "source",
    "provider_name",
    "sub_account_id",
    "sub_account_name",
    "category",
    "action",
    "resource_id",
    "service_name",
    "region_id",
    "estimated_monthly_savings",
    "realized_monthly_savings",
    "billing_currency",
    "estimated_monthly_savings_reporting",
    "realized_monthly_savings_reporting",
    "first_seen",
    "last_seen",
    "duplicate_of",
    "opportunity_id",
)


def _params(
    currency: str, providers: tuple[str, ...], accounts: tuple[str, ...]
) -> dict[str, object]:
    return {"currency": currency, "providers": list(providers), "accounts": list(accounts)}


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def row_count(source: Source) -> int:
    """Rows of the ledger in the whole serving copy (no filter)."""
    [(count,)] = query_rows(source, f"select count(*) from marts.{MART}", {})
    return int(count)


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def open_savings(
    source: Source, currency: str, providers: tuple[str, ...], accounts: tuple[str, ...]
) -> pd.DataFrame:
    """Open opportunities that count, in one scan: `level` 'total', 'billing_currency',
    'category', 'account' (provider_name, sub_account_id), 'source' (provider_name,
    source), each with `savings` (reporting currency), `billed_savings` (billing currency,
    on the 'billing_currency' level only) and `opportunities` (count)."""
    return query_frame(
        source,
        f"""
        select
            case
                when grouping(billing_currency) = 0 then 'billing_currency'
                when grouping(category) = 0 then 'category'
                when grouping(source) = 0 then 'source'
                when grouping(sub_account_id) = 0 then 'account'
                else 'total'
            end as level,
            provider_name,
            billing_currency,
            category,
            sub_account_id,
            source,
            sum(estimated_monthly_savings_reporting) as savings,
            case
                when grouping(billing_currency) = 0 then sum(estimated_monthly_savings)
            end as billed_savings,
            count(*) as opportunities
        from marts.{MART}
        where status = 'open' and duplicate_of is null and {_SCOPE}
        group by grouping sets (
            (),
            (provider_name, billing_currency),
            (category),
            (provider_name, sub_account_id),
            (provider_name, source)
        )
        order by level, savings desc, provider_name, category, sub_account_id, source
        """,
        _params(currency, providers, accounts),
    )


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def spend_share(source: Source, currency: str, scope: str) -> tuple[Decimal | None, float | None]:
    """fct_cost_kpis' open potential savings and their share of the last 30 days' effective
    cost for the provider scope (`All`, `AWS`, `Azure`), in the reporting currency; (None,
    None) when the KPIs have no such row."""
    rows = query_rows(
        source,
        """
        select open_potential_savings, potential_savings_share
        from marts.fct_cost_kpis
        where provider_scope = $scope and cost_basis = 'effective'
            and reporting_currency = $currency
        """,
        {"scope": scope, "currency": currency},
    )
    return (rows[0][0], rows[0][1]) if rows else (None, None)


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def realized_by_month(
    source: Source, currency: str, providers: tuple[str, ...], accounts: tuple[str, ...]
) -> pd.DataFrame:
    """Gone opportunities that count with a measured saving, per month they went (of
    last_seen) and cloud: `realized` (monthly run rate, reporting currency), `estimated`
    (what they were estimated at) and `opportunities`."""
    return query_frame(
        source,
        f"""
        select
            cast(date_trunc('month', last_seen) as date) as month,
            provider_name,
            sum(realized_monthly_savings_reporting) as realized,
            sum(estimated_monthly_savings_reporting) as estimated,
            count(*) as opportunities
        from marts.{MART}
        where status = 'gone' and duplicate_of is null
            and realized_monthly_savings_reporting is not null and {_SCOPE}
        group by all
        order by month, provider_name
        """,
        _params(currency, providers, accounts),
    )


def _list_sql(statuses: tuple[str, ...], with_duplicates: bool) -> str:
    """The list's rows, with the account's display name (dim_sub_accounts)."""
    duplicates = "" if with_duplicates else "and duplicate_of is null"
    return f"""
        select {", ".join(LIST_COLUMNS)}
        from marts.{MART}
        left join marts.dim_sub_accounts using (provider_name, sub_account_id)
        where list_contains($statuses::varchar[], status) {duplicates} and {_SCOPE}
        order by status desc, estimated_monthly_savings_reporting desc, opportunity_id
    """


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def opportunity_list(
    source: Source,
    currency: str,
    providers: tuple[str, ...],
    accounts: tuple[str, ...],
    statuses: tuple[str, ...],
    with_duplicates: bool,
) -> pd.DataFrame:
    """The opportunities of the chosen statuses (open first, largest estimate first), with
    or without the duplicates (rows that name the counted one in `duplicate_of`)."""
    return query_frame(
        source,
        _list_sql(statuses, with_duplicates),
        {**_params(currency, providers, accounts), "statuses": list(statuses)},
    )


def list_csv(
    source: Source,
    currency: str,
    providers: tuple[str, ...],
    accounts: tuple[str, ...],
    statuses: tuple[str, ...],
    with_duplicates: bool,
) -> bytes:
    """The same rows as `opportunity_list`, as CSV written by DuckDB (exact decimals)."""
    return copy_csv(
        source,
        _list_sql(statuses, with_duplicates),
        {**_params(currency, providers, accounts), "statuses": list(statuses)},
        "savings_opportunities",
    )
