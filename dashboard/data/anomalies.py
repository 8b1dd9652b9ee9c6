"""Anomalies: flagged days of fct_cost_anomalies under the filters, the total series'
anomalies with their top contributors, root causes, and one series' scored history."""

from __future__ import annotations

from datetime import date
from typing import Literal

import pandas as pd
import streamlit as st

from dashboard.data.connection import CACHE_ENTRIES, CACHE_TTL, query_frame
from dashboard.data.types import CostFilter, Source


@st.cache_data(ttl=CACHE_TTL, max_entries=CACHE_ENTRIES, show_spinner=False)
def anomalies(source: Source, filters: CostFilter) -> pd.DataFrame:
    """Flagged days of fct_cost_anomalies in the filters, largest |cost_impact| first.

    The anomaly mart has no category column: a service matches the category filter when
    fct_daily_costs files it under one of the chosen categories (a semi-join, no fan-out).
    """
    return query_frame(
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
    return query_frame(
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
    return query_frame(
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
    return query_frame(
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
