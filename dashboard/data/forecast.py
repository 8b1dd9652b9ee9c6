"""Forecast and budget: the month-end forecast of a provider scope, the month's daily
costs, the forecast's measured accuracy, and the KPIs row."""

from __future__ import annotations

from datetime import date
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from dashboard.data.connection import CACHE_ENTRIES, CACHE_TTL, query_frame, read_only_cursor
from dashboard.data.types import CostBasis, MartsUnavailable, Source


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
        with read_only_cursor(source) as con:
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
    return query_frame(
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
    return query_frame(
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
        with read_only_cursor(source) as con:
            cursor = con.execute(sql, {"scope": scope, "basis": basis})
            names = [d[0] for d in cursor.description]
            row = cursor.fetchone()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc
    return dict(zip(names, row, strict=True)) if row else None
