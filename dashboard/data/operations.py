"""The pipeline as the dashboard shows it: freshness per source and scope, failed loads,
and what the last load restated."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.data.connection import CACHE_ENTRIES, CACHE_TTL, query_frame
from dashboard.data.types import Source


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def freshness(source: Source) -> pd.DataFrame:
    """fct_load_freshness: one row per provider x source x scope, providers then scopes."""
    return query_frame(
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
    return query_frame(
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
    return query_frame(
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


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def api_usage(source: Source) -> pd.DataFrame:
    """fct_api_usage per day, provider and source (its scopes summed), oldest day first."""
    return query_frame(
        source,
        """
        select load_date, load_month, provider_name, source_name,
            sum(load_count) as loads, sum(failed_load_count) as failed_loads,
            sum(api_requests) as api_requests, sum(api_cost_usd) as api_cost_usd,
            sum(api_retries) as api_retries
        from marts.fct_api_usage
        group by all
        order by load_date, provider_name, source_name
        """,
        {},
    )
