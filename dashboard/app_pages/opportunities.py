"""Savings opportunities (issue #19): what could be saved each month - provider
recommendations and billing-data rules in one ledger, the same saving counted once - as a
share of what is spent, by category, account and source; the list to act on, with a CSV;
and the savings realized by the opportunities that went."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, filters, ui
from dashboard import opportunity_charts as oc
from dashboard.data import opportunities, serving

STATUS_LABELS = {"open": "Open", "gone": "Gone", "all": "All"}
NO_ACCOUNT = "(no account)"

view = filters.current()
source, selection, currency, summary = view.source, view.selection, view.currency, view.summary
providers, accounts = selection.providers, selection.accounts
st.caption(
    f"Data as of **{summary.as_of_date:%Y-%m-%d}** · monthly savings in **{currency}** "
    "(each converted at the rate of the day it was last seen), per billing currency below. "
    "An opportunity reported by two sources counts once. The cloud and account filters "
    "apply; the period, category, cost-basis and charges filters do not (an opportunity is "
    "a saving from now on, estimated on the effective cost)."
)
filters.tag_filter_not_applied(view, "this page (opportunities are per resource and account)")
if opportunities.MART not in summary.tables:
    st.info(
        "This serving copy has no savings opportunities yet: run the pipeline.",
        icon=":material/info:",
    )
    st.stop()
if opportunities.row_count(source) == 0:
    st.info(
        "No savings opportunity found: no billing-data rule has matched and no provider "
        "recommendation source has answered with one (docs/optimization.md says which "
        "sources and settings bring them).",
        icon=":material/info:",
    )
    st.stop()


def pct(value: object) -> str:
    """`7.5%` for a ratio, `0.02%` under 1 % (savings often are a small share of spend, never
    shown as 0.0 %); `n/a` when there was nothing to divide."""
    if value is None or pd.isna(value):
        return "n/a"
    percent = float(value) * 100
    return f"{percent:.1f}%" if abs(percent) >= 1 else f"{percent:.2f}%"


def level(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame[frame["level"] == name].reset_index(drop=True)


saved = opportunities.open_savings(source, currency, providers, accounts)
total = level(saved, "total")
potential = total["savings"].iloc[0] if len(total) and pd.notna(total["savings"].iloc[0]) else 0
count = int(total["opportunities"].iloc[0]) if len(total) else 0
kpi_savings, share = opportunities.spend_share(source, currency, view.scope)

# ---------- headline
with st.container(horizontal=True):
    st.metric(
        "Potential savings a month",
        charts.format_money(potential, currency),
        border=True,
        help="Open opportunities that count (no duplicate), estimated monthly savings in "
        f"{currency}, under the cloud and account filters.",
    )
    st.metric(
        "Share of spend",
        pct(share),
        border=True,
        help=f"fct_cost_kpis ({view.scope}): every open opportunity of the scope "
        f"({charts.format_money(kpi_savings or 0, currency)} a month) as a share of its "
        "effective cost of the last 30 days. The account filter does not change it.",
    )
    st.metric("Open opportunities", f"{count:,}", border=True)
    for row in level(saved, "billing_currency").itertuples():
        st.metric(
            f"{row.provider_name} in {row.billing_currency}",
            charts.format_money(row.billed_savings, row.billing_currency),
            border=True,
            help="The same open savings in the billing currency (never added across currencies).",
        )

# ---------- where the savings are
st.subheader("Where the savings are")
by_category = level(saved, "category").assign(provider_name="All clouds")
# accounts by their display name (dim_sub_accounts), the id only where two share a name
by_account = (
    level(saved, "account")
    .assign(sub_account_id=lambda f: f["sub_account_id"].fillna(NO_ACCOUNT))
    .merge(serving.filter_options(source), on=["provider_name", "sub_account_id"], how="left")
    .assign(account=lambda f: charts.account_label(f) if len(f) else pd.Series(dtype=str))
)
by_source = level(saved, "source")
left, middle, right = st.columns(3)
with left:
    st.plotly_chart(
        oc.savings_bars(by_category, "category", "By category", currency),
        key="chart_opportunities_category",
    )
with middle:
    st.plotly_chart(
        oc.savings_bars(by_account, "account", "By account", currency),
        key="chart_opportunities_account",
    )
with right:
    st.plotly_chart(
        oc.savings_bars(by_source, "source", "By source", currency),
        key="chart_opportunities_source",
    )

# ---------- the list
st.subheader("Opportunities")
with st.container(horizontal=True):
    status = st.segmented_control(
        "Status",
        list(STATUS_LABELS),
        format_func=STATUS_LABELS.get,
        default="open",
        key="opportunities_status",
    )
    with_duplicates = st.toggle(
        "Show duplicates",
        value=False,
        key="opportunities_duplicates",
        help="Rows of a saving another source reports too: they name the counted one in "
        "'Duplicate of' and are never summed.",
    )
statuses = opportunities.STATUSES if status in (None, "all") else (status,)
listed = opportunities.opportunity_list(
    source, currency, providers, accounts, statuses, with_duplicates
)
st.dataframe(
    listed,
    hide_index=True,
    column_config={
        "status": "Status",
        "source": "Source",
        "provider_name": "Cloud",
        "sub_account_id": "Account id",
        "sub_account_name": "Account",
        "category": "Category",
        "action": st.column_config.TextColumn("Action", width="large"),
        "resource_id": "Resource",
        "service_name": "Service",
        "region_id": "Region",
        "estimated_monthly_savings": st.column_config.NumberColumn(
            "Estimated a month", format="%.2f"
        ),
        "realized_monthly_savings": st.column_config.NumberColumn(
            "Realized a month", format="%.2f"
        ),
        "billing_currency": "Currency",
        "estimated_monthly_savings_reporting": ui.money_column("Estimated a month", currency),
        "realized_monthly_savings_reporting": ui.money_column("Realized a month", currency),
        "first_seen": st.column_config.DateColumn("First seen"),
        "last_seen": st.column_config.DateColumn("Last seen"),
        "duplicate_of": "Duplicate of",
        "opportunity_id": "Opportunity id",
    },
)
ui.csv_button(
    "Download the list (CSV)",
    lambda: opportunities.list_csv(
        source, currency, providers, accounts, statuses, with_duplicates
    ),
    f"savings_opportunities_{summary.as_of_date:%Y%m%d}.csv",
    key="download_opportunities",
)

# ---------- realized
st.subheader("Realized savings")
months = opportunities.realized_by_month(source, currency, providers, accounts)
st.plotly_chart(oc.realized_over_time(months, currency), key="chart_opportunities_realized")
if not months.empty:
    st.caption(
        f"{int(months['opportunities'].sum()):,} gone opportunities with a measured saving: "
        f"{charts.format_money(months['realized'].sum(), currency)} a month realized against "
        f"{charts.format_money(months['estimated'].sum(), currency)} estimated (the drop of "
        "each one's resource or series cost after it went, docs/optimization.md)."
    )
