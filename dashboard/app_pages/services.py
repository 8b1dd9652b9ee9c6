"""Services and categories: where the money goes, and what moved vs the previous period."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, filters, ui
from dashboard.data import costs

TOP = 10

view = filters.current()
source, selection, basis, currency = view.source, view.selection, view.basis, view.currency
st.caption(view.describe())
previous = selection.previous()
tag = ui.period_tag(selection)

# One scan of fct_daily_costs: services, categories x cloud and categories, both periods.
items = costs.service_costs(source, selection, basis)
top = costs.top(items, "service", TOP).rename(columns={"current_cost": "cost"})
services = costs.level(items, "service")
categories = costs.level(items, "category")
by_category = costs.level(items, "category_provider").rename(columns={"current_cost": "cost"})

left, right = st.columns(2)
left.plotly_chart(charts.top_services(top, currency), key="chart_top_services")
right.plotly_chart(
    charts.cost_by_category(by_category[by_category["has_current"]], currency),
    key="chart_categories",
)

# ---------- movers
st.subheader("Top movers vs the previous period")
if view.previous_covered:
    st.caption(
        f"Services whose cost changed most against {previous.start:%Y-%m-%d} to "
        f"{previous.end:%Y-%m-%d} (the {selection.days} days before), same filters."
    )
    moved = costs.movers(items, "service", TOP)
    st.plotly_chart(
        charts.movers(moved, "service_name", "Largest changes by service", currency),
        key="chart_service_movers",
    )
else:
    moved = None
    st.info(
        f"The previous period ({previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}) starts "
        f"before the first day of data ({view.summary.first_date:%Y-%m-%d}): pick a shorter "
        "or later period to compare.",
        icon=":material/info:",
    )

# ---------- tables
SERVICE_TABLE = [
    "provider_name",
    "service_name",
    "service_category",
    "current_cost",
    "previous_cost",
    "change",
    "change_pct",
    "share_pct",
]
if not view.previous_covered:  # a partial previous period would make a misleading change
    SERVICE_TABLE = [c for c in SERVICE_TABLE if c not in ui.COMPARISON_COLUMNS]
CATEGORY_TABLE = SERVICE_TABLE[2:]
columns = {
    "provider_name": "Cloud",
    "service_name": "Service",
    "service_category": "Category",
    "cost": ui.money_column("Cost", currency),
    "current_cost": ui.money_column("Cost", currency),
    "previous_cost": ui.money_column("Previous period", currency),
    "change": ui.money_column("Change", currency, signed=True),
    "change_pct": ui.percent_column("Change %"),
    "share_pct": ui.share_column(),
}
if moved is not None and not moved.empty:
    st.dataframe(
        moved[SERVICE_TABLE[:-1]],
        hide_index=True,
        key="service_movers_table",
        column_config=columns,
    )

st.subheader("Services")
st.dataframe(services[SERVICE_TABLE], hide_index=True, key="services_table", column_config=columns)

st.subheader("Categories")
st.dataframe(
    categories[CATEGORY_TABLE], hide_index=True, key="categories_table", column_config=columns
)

st.subheader("Export")
with st.container(horizontal=True):
    ui.csv_button(
        f"Top {TOP} services (CSV)",
        costs.to_csv(
            top[["service_name", "provider_name", "service_category", "cost"]].assign(
                reporting_currency=currency
            )
        ),
        f"top_services_{tag}.csv",
        key="download_top_services",
    )
    ui.csv_button(
        "Services (CSV)",
        costs.to_csv(services[SERVICE_TABLE].assign(reporting_currency=currency)),
        f"services_{tag}.csv",
        key="download_services",
    )
    ui.csv_button(
        "Categories (CSV)",
        costs.to_csv(categories[CATEGORY_TABLE].assign(reporting_currency=currency)),
        f"categories_{tag}.csv",
        key="download_categories",
    )
