"""Overview: what was spent in the period, where, how it moves, and which days look wrong."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, data, filters

source, summary = data.open_marts()
selection, basis = filters.sidebar(source, summary)
currency = summary.reporting_currency

st.caption(
    f"Data as of **{summary.as_of_date:%Y-%m-%d}** · amounts in **{currency}** "
    f"({filters.BASIS_LABELS[basis].lower()} cost) · period "
    f"{selection.start:%Y-%m-%d} to {selection.end:%Y-%m-%d} ({selection.days} days)"
)

# ---------- KPIs
total = data.period_total(source, selection, basis)
previous = selection.previous()
previous_covered = summary.first_date is not None and previous.start >= summary.first_date
previous_total = data.period_total(source, previous, basis) if previous_covered else None
anomalies = data.anomalies(source, selection)

with st.container(horizontal=True):
    st.metric("Total cost", charts.format_money(total, currency), border=True)
    st.metric(
        "Average per day",
        charts.format_money(total / selection.days, currency),
        border=True,
        help=f"Total over the {selection.days} days of the period.",
    )
    if previous_total is None:
        change, delta = None, None
        compared = "not fully covered by the data"
    else:
        change = charts.format_change(total, previous_total)
        delta = charts.format_money_change(total - previous_total, currency) if change else None
        compared = charts.format_money(previous_total, currency)
    st.metric(
        "Trend vs previous period",
        change or "n/a",
        delta=delta,
        delta_color="inverse",  # spending more is the bad direction
        border=True,
        help=f"Against {previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}: {compared}.",
    )
    st.metric(
        "Anomalies",
        f"{len(anomalies):,}",
        border=True,
        help="Flagged days of a cloud x account x service usage series (billed cost).",
    )

# ---------- charts
daily = data.daily_by_provider(source, selection, basis)
top = data.top_services(source, selection, basis, limit=10)

st.plotly_chart(charts.daily_evolution(daily, currency), key="chart_daily")
left, right = st.columns(2)
left.plotly_chart(charts.top_services(top, currency), key="chart_top_services")
right.plotly_chart(
    charts.cost_by_category(data.cost_by_category(source, selection, basis), currency),
    key="chart_categories",
)
left, right = st.columns(2)
left.plotly_chart(
    charts.cost_by_account(data.cost_by_account(source, selection, basis), currency),
    key="chart_accounts",
)
right.plotly_chart(charts.provider_comparison(daily, currency), key="chart_providers")

# ---------- anomalies
st.subheader("Anomalies")
if anomalies.empty:
    st.caption("No flagged day in this selection.")
else:
    st.dataframe(
        anomalies.drop(columns=["sub_account_id", "reporting_currency"]),
        hide_index=True,
        key="anomalies_table",
        column_config={
            "charge_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
            "provider_name": "Cloud",
            "sub_account_name": "Account",
            "service_name": "Service",
            "actual_cost": st.column_config.NumberColumn(f"Actual ({currency})", format="%.2f"),
            "expected_cost": st.column_config.NumberColumn(f"Expected ({currency})", format="%.2f"),
            "z_score": st.column_config.NumberColumn("z", format="%.1f"),
            "cost_impact": st.column_config.NumberColumn(f"Impact ({currency})", format="%+.2f"),
            "direction": "Direction",
        },
    )

# ---------- exports
st.subheader("Export")
period_tag = f"{selection.start:%Y%m%d}_{selection.end:%Y%m%d}"
with st.container(horizontal=True):
    st.download_button(
        "Daily costs (CSV)",
        data.daily_rows_csv(source, selection),
        file_name=f"daily_costs_{period_tag}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="download_daily_costs",
    )
    st.download_button(
        "Top 10 services (CSV)",
        data.to_csv(top),
        file_name=f"top_services_{period_tag}.csv",
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key="download_top_services",
    )
