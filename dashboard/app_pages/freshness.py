"""Data freshness: when each provider and scope was last loaded, whether that worked, which
days may still change, and what the last loads restated."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from dashboard import banners, charts, filters, ui
from dashboard.data import costs, operations

view = filters.current()
source, selection, currency, summary = view.source, view.selection, view.currency, view.summary
st.caption(
    f"Marts published **{banners.published(view)}** · data as of "
    f"**{summary.as_of_date:%Y-%m-%d}** · amounts in **{currency}**. The cloud filter applies "
    "here; the period, account and category filters do not (a load covers a whole scope)."
)
filters.tag_filter_not_applied(view, "this page (a load covers a whole scope)")
if "fct_load_freshness" not in summary.tables:
    st.info(
        "This serving copy has no load freshness mart yet: run the pipeline.",
        icon=":material/info:",
    )
    st.stop()

fresh = operations.freshness(source)
if selection.providers:
    fresh = fresh[fresh["provider_name"].isin(selection.providers)]
if fresh.empty:
    st.info("No load recorded for these clouds.", icon=":material/info:")
    st.stop()

restated = sum((Decimal(str(v)) for v in fresh["restated_billed_cost_change"]), Decimal(0))
with st.container(horizontal=True):
    for provider, rows in fresh.groupby("provider_name", sort=True):
        through = rows["latest_charge_date"].max()
        failed = int(rows["is_last_attempt_failed"].sum())
        st.metric(
            f"{provider} data through",
            banners.day(through),
            delta=(
                f"{failed} of {len(rows)} scope(s) failed"
                if failed
                else f"all {len(rows)} scope(s) loaded"
            ),
            delta_color="inverse" if failed else "off",
            delta_arrow="down" if failed else "off",
            border=True,
            help=f"Latest charge date landed; last attempt {banners.utc(rows['last_attempt_at'].max())}.",
        )
    for provider, rows in fresh.groupby("provider_name", sort=True):
        estimated = int(rows["estimated_days"].max())
        first = rows["first_estimated_date"].min()
        st.metric(
            f"{provider} days still estimated",
            f"{estimated}",
            delta=f"since {banners.day(first)}" if estimated else "all final",
            delta_color="off",
            delta_arrow="off",
            border=True,
            help="Landed days the provider may still restate (the most of any of its scopes).",
        )
    st.metric(
        "Restated by the last loads",
        charts.format_money_change(restated, currency),
        delta=f"{int(fresh['restated_days'].sum())} day(s) changed",
        delta_color="off",
        delta_arrow="off",
        border=True,
        help="Net billed change the last successful load of each scope made to days an "
        "earlier load had already landed.",
    )

st.subheader("Last load per provider and scope")
table = fresh.assign(
    status=fresh["last_attempt_status"].map({"succeeded": "succeeded", "failed": "FAILED"})
)[
    [
        "provider_name",
        "source_name",
        "scope",
        "status",
        "last_attempt_at",
        "last_error_message",
        "last_succeeded_at",
        "last_success_window_start",
        "last_success_window_end",
        "latest_charge_date",
        "estimated_days",
        "first_estimated_date",
        "restated_days",
        "restated_billed_cost_change",
        "api_requests",
        "api_cost_usd",
    ]
]
st.dataframe(
    table,
    hide_index=True,
    key="freshness_table",
    column_config={
        "provider_name": "Cloud",
        "source_name": "Source",
        "scope": "Scope",
        "status": "Last attempt",
        "last_attempt_at": st.column_config.DatetimeColumn(
            "Attempted (UTC)", format="YYYY-MM-DD HH:mm"
        ),
        "last_error_message": "Error",
        "last_succeeded_at": st.column_config.DatetimeColumn(
            "Last success (UTC)", format="YYYY-MM-DD HH:mm"
        ),
        "last_success_window_start": st.column_config.DateColumn(
            "Window from", format="YYYY-MM-DD"
        ),
        "last_success_window_end": st.column_config.DateColumn(
            "Window to (excl.)", format="YYYY-MM-DD"
        ),
        "latest_charge_date": st.column_config.DateColumn("Data through", format="YYYY-MM-DD"),
        "estimated_days": "Days estimated",
        "first_estimated_date": st.column_config.DateColumn("Estimated since", format="YYYY-MM-DD"),
        "restated_days": "Days restated",
        "restated_billed_cost_change": ui.money_column("Restated", currency, signed=True),
        "api_requests": "API requests",
        "api_cost_usd": st.column_config.NumberColumn("API cost (USD)", format="%.2f"),
    },
)

if "fct_cost_restatements" in summary.tables:
    st.subheader("What the last loads restated")
    changes = operations.last_load_restatements(source)
    if selection.providers:
        changes = changes[changes["provider_name"].isin(selection.providers)]
    if changes.empty:
        st.caption(
            "Nothing: the last successful load of every scope left the days it had already "
            "landed unchanged."
        )
    else:
        st.dataframe(
            changes.drop(columns=["reporting_currency"]),
            hide_index=True,
            key="restatements_table",
            column_config={
                "provider_name": "Cloud",
                "charge_date": st.column_config.DateColumn("Charge date", format="YYYY-MM-DD"),
                "accounts": "Accounts changed",
                "billed_cost_change": ui.money_column("Billed change", currency, signed=True),
                "after_month_close": "After month close",
            },
        )

if "fct_api_usage" in summary.tables:
    st.subheader("API requests and their cost")
    usage = operations.api_usage(source)
    if selection.providers:
        usage = usage[usage["provider_name"].isin(selection.providers)]
    if usage.empty:
        st.caption("No load of these clouds has made an API request.")
    else:
        month = usage["load_month"].max()
        this_month = usage[usage["load_month"] == month]
        with st.container(horizontal=True):
            for name, rows in this_month.groupby("source_name", sort=True):
                st.metric(
                    f"{name}, {month:%B %Y}",
                    f"{int(rows['api_requests'].sum()):,} requests",
                    delta=f"USD {Decimal(str(rows['api_cost_usd'].sum())):,.2f}",
                    delta_color="off",
                    delta_arrow="off",
                    border=True,
                    help="Month to date (UTC): every load attempt's requests, failed ones "
                    "included. Cost Explorer bills USD 0.01 a request "
                    "(FINOPS_AWS_MONTHLY_API_BUDGET_USD caps it); the other APIs are free "
                    "but count against their quotas.",
                )
        st.plotly_chart(charts.api_requests(usage), key="chart_api_requests")
        monthly = (
            usage.groupby(["load_month", "source_name"], as_index=False)[
                ["loads", "failed_loads", "api_requests", "api_retries", "api_cost_usd"]
            ]
            .sum()
            .sort_values(["load_month", "source_name"], ascending=[False, True])
        )
        st.dataframe(
            monthly,
            hide_index=True,
            key="api_usage_table",
            column_config={
                "load_month": st.column_config.DateColumn("Month", format="YYYY-MM"),
                "source_name": "Source",
                "loads": "Loads",
                "failed_loads": "Failed",
                "api_requests": "API requests",
                "api_retries": st.column_config.NumberColumn(
                    "Retried (throttled)",
                    help="Requests the API refused (throttling, 5xx) and the loader sent "
                    "again: not billed by Cost Explorer, each used Azure query quota.",
                ),
                "api_cost_usd": st.column_config.NumberColumn("API cost (USD)", format="%.2f"),
            },
        )

st.subheader("Export")
ui.csv_button(
    "Load freshness (CSV)",
    costs.to_csv(fresh),
    "load_freshness.csv",
    key="download_freshness",
)
