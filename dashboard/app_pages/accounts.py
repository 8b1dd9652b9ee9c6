"""Accounts: cost per AWS account and Azure subscription, and which ones moved."""

from __future__ import annotations

import streamlit as st

from dashboard import charts, filters, ui
from dashboard.data import costs

TOP = 10

view = filters.current()
source, selection, basis, currency = view.source, view.selection, view.basis, view.currency
st.caption(view.describe())
previous = selection.previous()

# One scan of fct_daily_costs: every account, this period and the previous one.
accounts = costs.level(costs.account_costs(source, selection, basis), "account")
in_period = accounts[accounts["has_current"]]

st.plotly_chart(
    charts.cost_by_account(in_period.rename(columns={"current_cost": "cost"}), currency),
    key="chart_accounts",
)

ACCOUNT_TABLE = [
    "provider_name",
    "sub_account_name",
    "sub_account_id",
    "billing_currencies",
    "current_cost",
    "previous_cost",
    "change",
    "change_pct",
    "share_pct",
]
if not view.previous_covered:  # a partial previous period would make a misleading change
    ACCOUNT_TABLE = [c for c in ACCOUNT_TABLE if c not in ui.COMPARISON_COLUMNS]
st.subheader("Accounts")
st.dataframe(
    accounts[ACCOUNT_TABLE],
    hide_index=True,
    key="accounts_table",
    column_config={
        "provider_name": "Cloud",
        "sub_account_id": "Account id",
        "sub_account_name": "Account",
        "billing_currencies": st.column_config.TextColumn(
            "Billed in",
            help=f"Billing currencies of the account; every amount here is in {currency}.",
        ),
        "current_cost": ui.money_column("Cost", currency),
        "previous_cost": ui.money_column("Previous period", currency),
        "change": ui.money_column("Change", currency, signed=True),
        "change_pct": ui.percent_column("Change %"),
        "share_pct": ui.share_column(),
    },
)

st.subheader("Top movers vs the previous period")
if view.previous_covered:
    st.caption(
        f"Accounts whose cost changed most against {previous.start:%Y-%m-%d} to "
        f"{previous.end:%Y-%m-%d} (the {selection.days} days before), same filters."
    )
    moved = costs.movers(accounts, "account", TOP)
    st.plotly_chart(
        charts.movers(
            moved.assign(account=charts.account_label(moved)),
            "account",
            "Largest changes by account",
            currency,
        ),
        key="chart_account_movers",
    )
else:
    st.info(
        f"The previous period ({previous.start:%Y-%m-%d} to {previous.end:%Y-%m-%d}) starts "
        f"before the first day of data ({view.summary.first_date:%Y-%m-%d}): pick a shorter "
        "or later period to compare.",
        icon=":material/info:",
    )

st.subheader("Export")
ui.csv_button(
    "Accounts (CSV)",
    costs.to_csv(accounts[ACCOUNT_TABLE].assign(reporting_currency=currency)),
    f"accounts_{ui.period_tag(selection)}.csv",
    key="download_accounts",
)
