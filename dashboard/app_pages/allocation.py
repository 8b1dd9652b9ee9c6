"""Cost allocation (issue #18): showback by the values of a tag key with the change month
over month, how much is allocated and how, the taggable cost without a tag (what to tag
first), and the monthly chargeback file. Without allocation keys (FINOPS_ALLOCATION_TAGS)
the page says how to configure them and shows the showback by account instead."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboard import allocation_charts as ac
from dashboard import charts, filters, ui
from dashboard.data import allocation, costs
from finops.settings import load_settings

TOP = 10
NO_KEYS = "No allocation keys configured"
METHOD_LABELS = {method: label for method, (label, _) in ac.METHODS.items()}

view = filters.current()
source, selection, basis, currency = view.source, view.selection, view.basis, view.currency
summary = view.summary
tag = ui.period_tag(selection)


def pct(value: object) -> str:
    """`70.0%` for a ratio; `n/a` when there was nothing to divide (never shown as 0 %)."""
    return "n/a" if value is None or pd.isna(value) else f"{float(value) * 100:.1f}%"


def file_part(text: str) -> str:
    """A key as a file name part (tag keys may hold `:` or `/`)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "key"


def showback_by_account() -> None:
    """The showback the marts allow without keys: cost per account (the Accounts page's
    query of fct_daily_costs, every sidebar filter)."""
    st.caption(view.describe())
    accounts = costs.level(costs.account_costs(source, selection, basis), "account")
    in_period = accounts[accounts["has_current"]].reset_index(drop=True)
    st.subheader("Showback by account")
    st.plotly_chart(
        charts.cost_by_account(in_period.rename(columns={"current_cost": "cost"}), currency),
        key="chart_allocation_accounts",
    )
    columns = [
        "provider_name",
        "sub_account_name",
        "sub_account_id",
        "billing_currencies",
        "current_cost",
        "share_pct",
    ]
    st.dataframe(
        in_period[columns],
        hide_index=True,
        key="allocation_accounts_table",
        column_config={
            "provider_name": "Cloud",
            "sub_account_name": "Account",
            "sub_account_id": "Account id",
            "billing_currencies": "Billed in",
            "current_cost": ui.money_column("Cost", currency),
            "share_pct": ui.share_column(),
        },
    )
    ui.csv_button(
        "Showback by account (CSV)",
        costs.to_csv(in_period[columns].assign(reporting_currency=currency)),
        f"showback_accounts_{tag}.csv",
        key="download_showback_accounts",
    )


if not allocation.available(source, summary):
    st.info(
        "This serving copy has no allocation marts yet (or older ones): run the pipeline. "
        "Until then, the showback by account.",
        icon=":material/info:",
    )
    showback_by_account()
    st.stop()
if not any(allocation.row_counts(source).values()):
    st.info(
        f"{NO_KEYS}: nothing is allocated by tag. Set `FINOPS_ALLOCATION_TAGS` to the tag "
        "keys to allocate by (e.g. `team,cost-center`) and, for untagged and shared costs, "
        "`FINOPS_ALLOCATION_RULES` to a rules file (account maps, shared-cost rules), then "
        "run the pipeline: see docs/allocation.md. Until then, the showback by account.",
        icon=":material/info:",
    )
    showback_by_account()
    st.stop()

st.caption(
    f"Period {selection.start:%Y-%m-%d} to {selection.end:%Y-%m-%d} · amounts in "
    f"**{currency}** ({filters.BASIS_LABELS[basis].lower()} cost, "
    f"{filters.CHARGES_LABELS[selection.charges].lower()}) · every key allocates the whole "
    "cost once, so amounts are never added across keys."
)
filters.tag_filter_not_applied(
    view, "this page (it splits the whole cost over every value of the key chosen below)"
)

# The keys as configured for this dashboard first (its settings may name none), then the rest
built = allocation.keys(source)
configured = [k for k in load_settings().allocation_tags if k in built]
keys = [*configured, *(k for k in built if k not in configured)]
key = st.selectbox(
    "Allocation key",
    keys,
    key="allocation_key",
    help="A tag key of FINOPS_ALLOCATION_TAGS: every cost gets one value of it.",
)
params = (source, selection, basis, key)
totals = allocation.totals(*params)

if totals.empty:
    st.info(f"No cost allocated by `{key}` in this selection.", icon=":material/info:")
else:
    total = totals.iloc[0]
    with st.container(horizontal=True):
        st.metric(
            "Total cost",
            charts.format_money(total["total_cost"], currency),
            border=True,
            help=f"Every cost in the filters, once, split over the values of {key}.",
        )
        st.metric(
            "Allocated",
            pct(total["allocated_share"]),
            delta=f"{charts.format_money(total['allocated_cost'], currency)} to a value",
            delta_color="off",
            delta_arrow="off",
            border=True,
            help="Share of the cost with a value: by tag, account map or shared rule.",
        )
        st.metric(
            "Unallocated",
            charts.format_money(total["total_cost"] - total["allocated_cost"], currency),
            border=True,
            help=f"Cost with the value {ac.UNALLOCATED}: no tag, account map or rule gave one.",
        )
        st.metric(
            "Untagged taggable cost",
            charts.format_money(total["untagged_cost"], currency),
            delta=f"{pct(total['untagged_share'])} of taggable cost",
            delta_color="off",
            delta_arrow="off",
            border=True,
            help="Taggable cost (all but tax, credits, commitment purchases and unused "
            "commitments) whose value did not come from its tag.",
        )
        st.metric(
            "Values",
            f"{int(total['values_allocated']):,}",
            border=True,
            help=f"Values of {key} with cost in the selection.",
        )

    # ---------- showback by value
    st.subheader(f"Showback by {key}")
    shown = allocation.showback(*params)
    by_value = shown[shown["level"] == "value"].reset_index(drop=True)
    by_method = shown[shown["level"] == "method"].reset_index(drop=True)
    st.plotly_chart(ac.showback_bars(by_method, key, currency), key="chart_showback")
    split = by_method.pivot(index="allocation_value", columns="allocation_method", values="cost")
    showback_table = by_value[["allocation_value", "cost", "share_pct"]].merge(
        split.reindex(columns=list(METHOD_LABELS)).reset_index(), on="allocation_value"
    )
    st.dataframe(
        showback_table,
        hide_index=True,
        key="showback_table",
        column_config={
            "allocation_value": key,
            "cost": ui.money_column("Cost", currency),
            "share_pct": ui.share_column(),
            **{m: ui.money_column(label, currency) for m, label in METHOD_LABELS.items()},
        },
    )

    # ---------- month over month
    st.subheader("Month over month")
    months = allocation.monthly(*params)
    first, last = summary.first_date, summary.last_date
    partial = [
        *([f"{first:%B %Y} from {first:%Y-%m-%d}"] if first and first.day != 1 else []),
        *(
            [f"{last:%B %Y} to {last:%Y-%m-%d}"]
            if last and (last + timedelta(days=1)).day != 1
            else []
        ),
    ]
    st.caption(
        "Whole months the period overlaps, each against the month before (same filters; no "
        "change where the month before has no data)."
        + (f" Months with data on part of their days: {', '.join(partial)}." if partial else "")
    )
    st.plotly_chart(ac.monthly_showback(months, key, currency), key="chart_showback_monthly")
    st.dataframe(
        months,
        hide_index=True,
        key="showback_monthly_table",
        column_config={
            "billing_month": st.column_config.DateColumn("Month", format="YYYY-MM"),
            "allocation_value": key,
            "cost": ui.money_column("Cost", currency),
            "previous_cost": ui.money_column("Month before", currency),
            "change": ui.money_column("Change", currency, signed=True),
            "change_pct": ui.percent_column("Change %"),
        },
    )

    # ---------- allocated vs unallocated over time
    st.subheader("Allocated vs unallocated")
    st.plotly_chart(
        ac.allocated_over_time(allocation.daily(*params), currency), key="chart_allocated"
    )
    measured = allocation.kpis(source, selection, key)
    st.caption(
        "Tagging KPIs per whole month, cloud and billing currency (fct_allocation_kpis: "
        "effective cost in the billing currency; the cloud filter applies)."
    )
    st.dataframe(
        measured[
            [
                "billing_month",
                "provider_name",
                "billing_currency",
                "total_cost",
                "tagged_cost",
                "untagged_cost",
                "untaggable_cost",
                "untagged_share",
                "allocated_share",
            ]
        ],
        hide_index=True,
        key="allocation_kpis_table",
        column_config={
            "billing_month": st.column_config.DateColumn("Month", format="YYYY-MM"),
            "provider_name": "Cloud",
            "billing_currency": "Currency",
            "total_cost": st.column_config.NumberColumn("Total", format="%.2f"),
            "tagged_cost": st.column_config.NumberColumn("Tagged", format="%.2f"),
            "untagged_cost": st.column_config.NumberColumn("Untagged", format="%.2f"),
            "untaggable_cost": st.column_config.NumberColumn("Untaggable", format="%.2f"),
            "untagged_share": st.column_config.NumberColumn("Untagged share", format="percent"),
            "allocated_share": st.column_config.ProgressColumn(
                "Allocated", format="percent", min_value=0.0, max_value=1.0
            ),
        },
    )

    # ---------- what to tag first
    st.subheader("What to tag first")
    st.caption(
        f"Taggable cost whose {key} value did not come from its tag (an account map, a "
        "shared rule or nothing gave it), largest first: tagging these moves the most cost "
        "onto tags."
    )
    missing = allocation.untagged(*params)
    services = missing[missing["level"] == "service"].reset_index(drop=True)
    accounts = missing[missing["level"] == "account"].reset_index(drop=True)
    accounts = accounts.assign(
        account=charts.account_label(accounts) if len(accounts) else pd.Series(dtype=str)
    )
    left, right = st.columns(2)
    left.plotly_chart(
        ac.untagged_bars(services.head(TOP), "service_name", "Untagged by service", currency),
        key="chart_untagged_services",
    )
    right.plotly_chart(
        ac.untagged_bars(accounts.head(TOP), "account", "Untagged by account", currency),
        key="chart_untagged_accounts",
    )
    untagged_columns = {
        "provider_name": "Cloud",
        "service_name": "Service",
        "sub_account_name": "Account",
        "sub_account_id": "Account id",
        "untagged_cost": ui.money_column("Untagged", currency),
        "taggable_cost": ui.money_column("Taggable", currency),
        "untagged_pct": ui.share_column("Untagged share"),
    }
    amounts = ["untagged_cost", "taggable_cost", "untagged_pct"]
    st.dataframe(
        services[["provider_name", "service_name", *amounts]],
        hide_index=True,
        key="untagged_services_table",
        column_config=untagged_columns,
    )
    st.dataframe(
        accounts[["provider_name", "sub_account_name", "sub_account_id", *amounts]],
        hide_index=True,
        key="untagged_accounts_table",
        column_config=untagged_columns,
    )

# ---------- chargeback (per month, every cloud: the file finance books)
st.subheader("Chargeback")
months_built = allocation.chargeback_months(source, key)
if not months_built:
    st.info(f"No chargeback for `{key}` yet.", icon=":material/info:")
else:
    in_period = [m for m in months_built if m <= selection.end]
    month: date = st.selectbox(
        "Month",
        months_built,
        index=months_built.index(in_period[0]) if in_period else 0,
        format_func=lambda m: f"{m:%B %Y}",
        key="allocation_chargeback_month",
    )
    st.caption(
        f"What each value of {key} owes for the whole month, every cloud together, per "
        "billing currency, with the amounts in the reporting currency at each day's rate "
        "(fct_allocation_chargeback: the sidebar filters do not apply)."
    )
    owed = allocation.chargeback(source, key, month)
    st.dataframe(
        owed[
            [
                "allocation_value",
                "billing_currency",
                "billed_cost",
                "effective_cost",
                "billed_cost_reporting",
                "effective_cost_reporting",
            ]
        ],
        hide_index=True,
        key="chargeback_table",
        column_config={
            "allocation_value": key,
            "billing_currency": "Currency",
            "billed_cost": st.column_config.NumberColumn("Billed", format="%.2f"),
            "effective_cost": st.column_config.NumberColumn("Effective", format="%.2f"),
            "billed_cost_reporting": ui.money_column("Billed", currency),
            "effective_cost_reporting": ui.money_column("Effective", currency),
        },
    )
    ui.csv_button(
        f"Chargeback {month:%B %Y} (CSV)",
        lambda: allocation.chargeback_csv(source, key, month),
        f"chargeback_{file_part(key)}_{month:%Y-%m}.csv",
        key="download_chargeback",
    )

# ---------- exports
if not totals.empty:
    st.subheader("Export")
    name = file_part(key)
    with st.container(horizontal=True):
        ui.csv_button(
            "Allocated cost rows (CSV)",
            lambda: allocation.allocation_rows_csv(source, selection, key),
            f"allocation_{name}_{tag}.csv",
            key="download_allocation_rows",
        )
        ui.csv_button(
            f"Showback by {key} (CSV)",
            costs.to_csv(showback_table.assign(reporting_currency=currency)),
            f"showback_{name}_{tag}.csv",
            key="download_showback",
        )
        ui.csv_button(
            "Showback per month (CSV)",
            costs.to_csv(months.assign(reporting_currency=currency)),
            f"showback_monthly_{name}_{tag}.csv",
            key="download_showback_monthly",
        )
        ui.csv_button(
            "What to tag first (CSV)",
            costs.to_csv(
                missing.drop(columns=["untagged_rank"]).assign(reporting_currency=currency)
            ),
            f"untagged_{name}_{tag}.csv",
            key="download_untagged",
        )
    st.caption(
        f"Allocated cost rows: every row of fct_cost_allocation for {key} in the period, cloud, "
        "account, category and charges filters, all columns (billing and reporting currency); "
        "the others: the tables above."
    )
