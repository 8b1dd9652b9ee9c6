"""What the serving copy holds as a whole: its summary (rows, dates, currencies, providers,
marts) and the filter options; `open_marts` for the app's entry point."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pandas as pd
import streamlit as st

from dashboard.data.connection import (
    CACHE_ENTRIES,
    CACHE_TTL,
    current_source,
    query_frame,
    query_rows,
    read_only_cursor,
)
from dashboard.data.types import REQUIRED_MARTS, MartsUnavailable, Source, Summary
from finops.settings import load_settings


def open_marts() -> tuple[Source, Summary]:
    """The serving copy and its summary; `MartsUnavailable` when there is nothing to show."""
    source = current_source()
    marts = summary(source)
    if marts.row_count == 0:
        raise MartsUnavailable(source.path)
    return source, marts


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def summary(source: Source) -> Summary:
    """Row count, date span, currencies and providers of fct_daily_costs; as-of from the KPIs.

    The reporting currency is the one of the latest day (a warehouse whose reporting
    currency changed without a full refresh holds two: the pages read only this one).
    """
    try:
        with read_only_cursor(source) as con:
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
    return query_frame(
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
    rows = query_rows(
        source,
        "select distinct service_category from marts.dim_services order by service_category",
        {},
    )
    return [category for (category,) in rows if category is not None]
