"""Anomalies: flagged days, biggest cost impact first, what drove them, and each series
drawn with the band it was expected to stay in."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import streamlit as st

from dashboard import charts, filters, ui
from dashboard.data import anomalies, costs

CONTEXT_BEFORE = timedelta(days=35)  # the series chart shows at least 5 weeks before the day
CONTEXT_AFTER = timedelta(days=7)
SCOPE_LABELS = {"All": "All clouds total", "AWS": "AWS total", "Azure": "Azure total"}

view = filters.current()
source, selection, currency, summary = view.source, view.selection, view.currency, view.summary
st.caption(
    f"Period {selection.start:%Y-%m-%d} to {selection.end:%Y-%m-%d} · amounts in "
    f"**{currency}**. Anomalies are scored on the daily **billed usage** cost (charge category "
    "Usage) against the same weekday of the previous weeks, so the cost-basis and charges "
    "filters do not change them."
)
filters.tag_filter_not_applied(
    view, "this page (anomalies are scored on the series of clouds, accounts and services)"
)
if "fct_cost_anomalies" not in summary.tables:
    st.info("This serving copy has no anomaly marts yet: run the pipeline.", icon=":material/info:")
    st.stop()

series_anomalies = anomalies.anomalies(source, selection)
has_totals = {"fct_cost_total_anomalies", "fct_anomaly_root_causes"} <= summary.tables
totals = (
    anomalies.total_anomalies(source, selection, view.scopes)
    if has_totals
    else pd.DataFrame(columns=["cost_impact"])
)

with st.container(horizontal=True):
    st.metric(
        "Flagged days (account x service)",
        f"{len(series_anomalies):,}",
        border=True,
        help="Days a cloud x account x service usage series left its expected band.",
    )
    st.metric(
        "Flagged days (totals)",
        f"{len(totals):,}",
        border=True,
        help="Days the AWS, Azure or all-clouds usage total left its expected band.",
    )
    impacts = series_anomalies["cost_impact"].astype(float)
    st.metric(
        "Spikes, account x service",
        charts.format_money(impacts[impacts > 0].sum(), currency),
        border=True,
        help="Sum of the cost impact (actual - expected) of the flagged spikes.",
    )
    st.metric(
        "Drops, account x service",
        charts.format_money(impacts[impacts < 0].sum(), currency),
        border=True,
        help="Sum of the cost impact of the flagged drops.",
    )

base_columns = {
    "charge_date": st.column_config.DateColumn("Date", format="YYYY-MM-DD"),
    "actual_cost": ui.money_column("Actual", currency),
    "expected_cost": ui.money_column("Expected", currency),
    "cost_impact": ui.money_column("Impact", currency, signed=True),
    "z_score": st.column_config.NumberColumn("z", format="%.1f"),
    "direction": "Direction",
}

# ---------- the totals, with what drove them
st.subheader("Anomalies in the cost totals")
if not has_totals:
    st.caption("This serving copy has no total anomaly marts yet.")
elif totals.empty:
    st.caption("No flagged day of the totals in this selection.")
else:
    if selection.accounts or selection.categories:
        st.caption(
            "Totals cover whole clouds: the account and category filters apply to the "
            "account x service list below, not to these."
        )
    shown_totals = totals.assign(
        scope=totals["provider_scope"].map(SCOPE_LABELS),
        top_account=totals["top_account_name"].fillna(totals["top_account_id"]),
    )[
        [
            "charge_date",
            "scope",
            "actual_cost",
            "expected_cost",
            "cost_impact",
            "z_score",
            "direction",
            "top_account",
            "top_account_contribution",
            "top_service",
            "top_service_contribution",
            "top_region",
            "top_region_contribution",
        ]
    ]
    st.dataframe(
        shown_totals,
        hide_index=True,
        key="total_anomalies_table",
        column_config={
            **base_columns,
            "scope": "Series",
            "top_account": "Top account",
            "top_account_contribution": ui.money_column(
                "Account contribution", currency, signed=True
            ),
            "top_service": "Top service",
            "top_service_contribution": ui.money_column(
                "Service contribution", currency, signed=True
            ),
            "top_region": "Top region",
            "top_region_contribution": ui.money_column(
                "Region contribution", currency, signed=True
            ),
        },
    )

# ---------- account x service series
st.subheader("Anomalies per account and service")
if series_anomalies.empty:
    st.caption("No flagged day of an account x service series in this selection.")
else:
    st.dataframe(
        series_anomalies[
            [
                "charge_date",
                "provider_name",
                "sub_account_name",
                "service_name",
                "actual_cost",
                "expected_cost",
                "cost_impact",
                "z_score",
                "direction",
            ]
        ],
        hide_index=True,
        key="anomalies_table",
        column_config={
            **base_columns,
            "provider_name": "Cloud",
            "sub_account_name": "Account",
            "service_name": "Service",
        },
    )

# ---------- one anomaly in detail
choices: dict[str, str] = {}
for row in totals.itertuples() if has_totals else ():
    choices[f"total|{row.total_anomaly_id}"] = (
        f"{row.charge_date:%Y-%m-%d} · {SCOPE_LABELS[row.provider_scope]} · {row.direction} "
        f"{charts.format_money_change(row.cost_impact, currency)}"
    )
for row in series_anomalies.itertuples():
    choices[f"service|{row.anomaly_id}"] = (
        f"{row.charge_date:%Y-%m-%d} · {row.provider_name} · {row.sub_account_name} · "
        f"{row.service_name} · {row.direction} "
        f"{charts.format_money_change(row.cost_impact, currency)}"
    )
if choices and "fct_anomaly_series" in summary.tables:
    st.subheader("Series and expected band")
    # largest |impact| first, whichever list it comes from
    impact = {f"total|{r.total_anomaly_id}": abs(r.cost_impact) for r in totals.itertuples()} | {
        f"service|{r.anomaly_id}": abs(r.cost_impact) for r in series_anomalies.itertuples()
    }
    ordered = sorted(choices, key=lambda key: -impact[key])
    picked = st.selectbox("Anomaly", ordered, format_func=choices.get, key="anomaly_pick")
    level, anomaly_id = picked.split("|", 1)
    if level == "total":
        row = totals[totals["total_anomaly_id"] == anomaly_id].iloc[0]
        scope, account, service = row["provider_scope"], None, None
        title = f"{SCOPE_LABELS[scope]}, daily usage cost"
    else:
        row = series_anomalies[series_anomalies["anomaly_id"] == anomaly_id].iloc[0]
        scope, account, service = row["provider_name"], row["sub_account_id"], row["service_name"]
        title = f"{scope} · {row['sub_account_name']} · {service}, daily usage cost"
    day = pd.Timestamp(row["charge_date"]).date()
    assert summary.first_date is not None and summary.last_date is not None
    start = max(summary.first_date, min(selection.start, day - CONTEXT_BEFORE))
    end = min(summary.last_date, max(selection.end, day + CONTEXT_AFTER))
    series = anomalies.anomaly_series(source, level, scope, account, service, start, end)
    st.plotly_chart(
        charts.anomaly_band(series, currency, title=title, highlight=day),
        key="chart_anomaly_series",
    )
    st.caption(
        f"{day:%Y-%m-%d}: actual {charts.format_money(row['actual_cost'], currency)} against "
        f"an expected {charts.format_money(row['expected_cost'], currency)} (impact "
        f"{charts.format_money_change(row['cost_impact'], currency)}). "
        "The band is where a day would not have been flagged."
    )
    if level == "total":
        causes = anomalies.root_causes(source, anomaly_id)
        names = causes["sub_account_name"].fillna(causes["item"])
        causes = causes.assign(label=causes["provider_name"] + " · " + names)
        st.markdown("**What drove it** (contribution = the item's actual - expected that day)")
        columns = st.columns(3)
        for column, (dimension, heading) in zip(
            columns,
            [("account", "By account"), ("service", "By service"), ("region", "By region")],
            strict=True,
        ):
            column.plotly_chart(
                charts.contributions(causes[causes["dimension"] == dimension], heading, currency),
                key=f"chart_causes_{dimension}",
            )

st.subheader("Export")
tag = ui.period_tag(selection)
with st.container(horizontal=True):
    ui.csv_button(
        "Account x service anomalies (CSV)",
        costs.to_csv(series_anomalies),
        f"anomalies_{tag}.csv",
        key="download_anomalies",
    )
    if has_totals:
        ui.csv_button(
            "Total anomalies with top contributors (CSV)",
            costs.to_csv(totals),
            f"total_anomalies_{tag}.csv",
            key="download_total_anomalies",
        )
