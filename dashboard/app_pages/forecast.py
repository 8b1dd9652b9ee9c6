"""Forecast and budget burn: the month so far, where it will end, and against the budget."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import streamlit as st

from dashboard import charts, filters, ui
from dashboard.data import forecast
from finops.settings import load_settings

BUDGET_KEY = "monthly_budget"
SCOPE_LABELS = {"All": "all clouds", "AWS": "AWS", "Azure": "Azure"}

view = filters.current()
source, selection, currency, summary = view.source, view.selection, view.currency, view.summary
filters.tag_filter_not_applied(view, "this page (the forecast is of each cloud's whole cost)")
if "fct_cost_forecast" not in summary.tables:
    st.info("This serving copy has no forecast mart yet: run the pipeline.", icon=":material/info:")
    st.stop()

scope = view.scope
row = forecast.forecast(source, scope)
if row is None:
    st.info(
        f"No forecast for {SCOPE_LABELS.get(scope, scope)} in the marts.", icon=":material/info:"
    )
    st.stop()
if row["reporting_currency"] != currency:
    st.warning(
        f"The forecast is in {row['reporting_currency']}, the cost data in {currency}: rebuild "
        "the marts (`dbt build --full-refresh`) before comparing them.",
        icon=":material/currency_exchange:",
    )
    st.stop()

month_start, as_of = row["forecast_month"], row["as_of_date"]
month_end = as_of + timedelta(days=row["days_remaining"])
days_in_month = row["days_elapsed"] + row["days_remaining"]
mtd, month_end_forecast = row["mtd_cost"], row["forecast_month_end_cost"]

st.caption(
    f"**{month_start:%B %Y}**, {SCOPE_LABELS.get(scope, scope)}, as of **{as_of:%Y-%m-%d}** "
    f"(day {row['days_elapsed']} of {days_in_month}) · amounts in **{currency}** · billed cost, "
    "all charges (credits netted in), as fct_cost_forecast defines the month."
)
ignored = [
    name
    for name, applies in [
        ("account", bool(selection.accounts)),
        ("category", bool(selection.categories)),
        ("effective cost basis", view.basis != "billed"),
        ("usage-only charges", selection.charges != "all"),
    ]
    if applies
]
if ignored:
    st.caption(
        f"The forecast mart is per cloud, billed, all charges: the {', '.join(ignored)} "
        "filter does not apply on this page (the cloud filter picks the forecast)."
    )
st.caption(
    "Method: month to date plus, for each remaining day, the average cost of the same "
    "weekday over the last 28 days (`mtd_plus_trailing_28d_weekday_avg`). The period filter "
    "does not apply here: the forecast is always for the latest month in the data."
)

settings_budget = load_settings().monthly_budget
budget = st.number_input(
    f"Monthly budget ({currency})",
    min_value=0.0,
    value=float(settings_budget) if settings_budget is not None else None,
    step=1000.0,
    format="%.2f",
    key=BUDGET_KEY,
    persist_state="session",
    placeholder="No budget set",
    help=f"For {SCOPE_LABELS.get(scope, scope)}, in {currency}. Defaults to "
    "FINOPS_MONTHLY_BUDGET; a value typed here holds for this session only.",
)
budget_amount = Decimal(str(budget)) if budget else None

kpi = forecast.kpis(source, scope, "billed")
with st.container(horizontal=True):
    st.metric(
        "Month to date",
        charts.format_money(mtd, currency),
        delta=(
            charts.format_change(mtd, kpi["prev_month_same_period_cost"])
            if kpi and kpi["prev_month_same_period_cost"]
            else None
        ),
        delta_color="inverse",
        border=True,
        help=f"{month_start:%Y-%m-%d} to {as_of:%Y-%m-%d}; the change is against the same days "
        "of the previous month (fct_cost_kpis).",
    )
    st.metric(
        "Forecast month end",
        charts.format_money(month_end_forecast, currency),
        delta=(
            charts.format_change(month_end_forecast, kpi["prev_month_cost"])
            if kpi and kpi["prev_month_cost"]
            else None
        ),
        delta_color="inverse",
        border=True,
        help="The change is against the whole previous month.",
    )
    st.metric(
        "Budget",
        charts.format_money(budget_amount, currency) if budget_amount else "not set",
        border=True,
    )
    if budget_amount:
        elapsed = Decimal(row["days_elapsed"]) / Decimal(days_in_month) * 100
        st.metric(
            "Budget used",
            f"{mtd / budget_amount * 100:.1f}%",
            delta=f"{elapsed:.1f}% of the month elapsed",
            delta_color="off",
            delta_arrow="off",
            border=True,
        )
        over = month_end_forecast - budget_amount
        st.metric(
            "Forecast vs budget",
            f"{month_end_forecast / budget_amount * 100:.1f}%",
            delta=f"{charts.format_money_change(over, currency)} {'over' if over > 0 else 'under'}",
            delta_color="inverse",
            border=True,
            help="Forecast month end as a share of the budget, and by how much it would "
            "exceed (or stay under) it.",
        )

month = forecast.month_daily(source, scope, month_start, as_of, currency)
st.plotly_chart(
    charts.budget_burn(
        month,
        currency,
        month_start=month_start,
        month_end=month_end,
        forecast=float(month_end_forecast),
        budget=float(budget_amount) if budget_amount else None,
    ),
    key="chart_budget_burn",
)

if "fct_cost_forecast_backtest" in summary.tables:
    st.subheader("How accurate is this forecast?")
    accuracy = forecast.forecast_accuracy(source, scope)
    if accuracy.empty:
        st.caption("No complete month in the data yet to measure the method on.")
    else:
        st.caption(
            "The same method replayed on days 7, 14 and 21 of every complete month in the data "
            "(fct_cost_forecast_backtest): mean absolute percentage error, and mean error "
            "(positive = over-forecast)."
        )
        st.dataframe(
            accuracy,
            hide_index=True,
            key="forecast_accuracy_table",
            column_config={
                "cutoff_day": "Forecast made on day",
                "months": "Months",
                "mape": st.column_config.NumberColumn("MAPE", format="%.2f%%"),
                "mean_error": ui.money_column("Mean error", currency, signed=True),
            },
        )
