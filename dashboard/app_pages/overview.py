"""Overview: what was spent in the period, how it moves day by day, AWS vs Azure, and the
week's and the month's biggest movers. The tag filter applies to the costs (read from
fct_cost_allocation), not to the anomaly count nor to the movers (marts without tags)."""

from __future__ import annotations

from decimal import Decimal

import streamlit as st

from dashboard import charts, filters, ui
from dashboard.data import anomalies, costs

MOVERS_TOP = 10
MOVER_PERIODS = {
    "last_7d": "Last 7 days vs the 7 before",
    "mtd": "Month to date vs the same days of last month",
}

view = filters.current()
source, selection, basis, currency = view.source, view.selection, view.basis, view.currency
st.caption(view.describe())

# ---------- KPIs (one scan: every provider, this period and the previous one)
by_provider = costs.provider_totals(source, selection, basis)
total = sum((p.current for p in by_provider), start=Decimal(0))
previous_total = sum((p.previous for p in by_provider), start=Decimal(0))
previous = selection.previous()
flagged = anomalies.anomalies(source, selection)

with st.container(horizontal=True):
    st.metric("Total cost", charts.format_money(total, currency), border=True)
    st.metric(
        "Average per day",
        charts.format_money(total / selection.days, currency),
        border=True,
        help=f"Total over the {selection.days} days of the period.",
    )
    if not view.previous_covered:
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
        f"{len(flagged):,}",
        border=True,
        help="Flagged days of a cloud x account x service usage series (billed cost); "
        "see the Anomalies page.",
    )
filters.tag_filter_not_applied(view, "the anomaly count (series of accounts and services)")

# ---------- AWS vs Azure
st.subheader("AWS vs Azure")
with st.container(horizontal=True):
    for provider in by_provider:
        share = f"{provider.current / total * 100:.1f}% of the total" if total else None
        st.metric(
            provider.provider_name,
            charts.format_money(provider.current, currency),
            delta=share,
            delta_color="off",
            delta_arrow="off",
            border=True,
            help=f"{provider.provider_name} cost in the period, in {currency}.",
        )

daily = costs.daily_by_provider(source, selection, basis)
st.plotly_chart(charts.daily_evolution(daily, currency), key="chart_daily")
st.plotly_chart(charts.provider_comparison(daily, currency), key="chart_providers")

# ---------- movers of the week and of the month (fct_cost_movers: fixed periods)
st.subheader("Biggest movers")
period = st.radio(
    "Compared",
    list(MOVER_PERIODS),
    format_func=MOVER_PERIODS.get,
    key="overview_movers_period",
    horizontal=True,
    label_visibility="collapsed",
)
moved = costs.cost_movers(source, period, selection.providers, MOVERS_TOP)
filters.tag_filter_not_applied(view, "the movers (the fct_cost_movers mart has no tags)")
if moved.empty:
    st.info("No cost changed between the two periods.", icon=":material/info:")
else:
    first = moved.iloc[0]
    st.caption(
        f"Billed cost of {first.current_start:%Y-%m-%d} to {first.current_end:%Y-%m-%d} "
        f"against {first.previous_start:%Y-%m-%d} to {first.previous_end:%Y-%m-%d}, every "
        "charge, whatever the period and filters above except the cloud (the "
        "fct_cost_movers mart; the Services and Accounts pages compare the selected period)."
    )
    labelled = moved.assign(
        label=moved["provider_name"] + " · " + moved["item_name"].fillna(moved["item_id"])
    )
    left, right = st.columns(2)
    for column, dimension, title in (
        (left, "service", "Services"),
        (right, "account", "Accounts"),
    ):
        column.plotly_chart(
            charts.movers(labelled[labelled["dimension"] == dimension], "label", title, currency),
            key=f"chart_overview_{dimension}_movers",
        )

# ---------- exports
st.subheader("Export")
tag = ui.period_tag(selection)
with st.container(horizontal=True):
    ui.csv_button(
        "Daily costs (CSV)",
        lambda: costs.daily_rows_csv(source, selection),
        f"daily_costs_{tag}.csv",
        key="download_daily_costs",
    )
    ui.csv_button(
        "Daily totals by cloud (CSV)",
        costs.to_csv(daily.assign(reporting_currency=currency)),
        f"daily_by_cloud_{tag}.csv",
        key="download_daily_by_cloud",
    )
st.caption(
    (
        f"Daily costs: every fct_cost_allocation row of the tag filter ({selection.tag_label}) "
        "in the other filters"
        if selection.tagged
        else "Daily costs: every fct_daily_costs row in the filters"
    )
    + " (all its columns, billed and effective, in the billing and the reporting currency), "
    "written by DuckDB when clicked."
)
