"""Commitments and savings: how much of each savings plan and reservation was used and what
was paid for and left unused, how much of the usage commitments could cover they covered,
what commitments and negotiated prices saved (the Effective Savings Rate), and when the
commitments expire."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import charts, filters, ui
from dashboard import commitment_charts as cc
from dashboard.data import commitments, costs

EXPIRY_SOON_DAYS = 90
ALL_COMMITMENTS = "all"
NO_COMMITMENTS = "No commitment discounts in the loaded data"

view = filters.current()
source, selection, currency, summary = view.source, view.selection, view.currency, view.summary
st.caption(
    f"Period {selection.start:%Y-%m-%d} to {selection.end:%Y-%m-%d} · utilization amounts in "
    f"**{currency}**; coverage and savings amounts in their **billing currency**, one figure "
    "per cloud and currency (never added across currencies). Every figure is on the "
    "effective (amortized) cost of usage, so the cost-basis and charges filters do not "
    "change them."
)
filters.tag_filter_not_applied(
    view, "this page (commitments are bought, used and covered per account, not per tag)"
)
if not set(commitments.COMMITMENT_MARTS) <= summary.tables:
    st.info(
        "This serving copy has no commitment marts yet: run the pipeline.", icon=":material/info:"
    )
    st.stop()

counts = commitments.row_counts(source)
if not any(counts.values()):
    st.info(
        f"{NO_COMMITMENTS}: no savings plan, reservation or list price has been loaded yet. "
        "They come from the commitment columns of the cost sources (docs/commitments.md).",
        icon=":material/info:",
    )
    st.stop()
ignored = [
    name
    for name, applies in [
        ("account", bool(selection.accounts)),
        ("category", bool(selection.categories)),
    ]
    if applies
]
if ignored:
    st.caption(
        f"The {' and '.join(ignored)} filter applies to coverage only: a commitment is bought "
        "for a billing account and covers any category, and savings are per cloud."
    )


def pct(value: object) -> str:
    """`70.0%` for a ratio; `n/a` when there was nothing to divide (never shown as 0 %)."""
    return "n/a" if value is None or pd.isna(value) else f"{float(value) * 100:.1f}%"


def rows(frame: pd.DataFrame, level: str) -> pd.DataFrame:
    return frame[frame["level"] == level].reset_index(drop=True)


def group_label(provider: str, currency_code: str, groups: pd.DataFrame) -> str:
    """`AWS`, or `AWS, EUR` when the cloud has amounts in several billing currencies."""
    several = (groups["provider_name"] == provider).sum() > 1
    return f"{provider}, {currency_code}" if several else provider


used = commitments.utilization(source, selection)
known = commitments.commitments(source, selection.providers)
total = rows(used, "total")
by_commitment = rows(used, "commitment").assign(
    commitment=lambda f: cc.commitment_label(f) if len(f) else pd.Series(dtype=str)
)
expiring = known["days_to_expiry"].between(0, EXPIRY_SOON_DAYS).sum()

# ---------- headline: every commitment of the chosen clouds, reporting currency
with st.container(horizontal=True):
    st.metric(
        "Utilization",
        pct(total["utilization"].iloc[0]) if len(total) else "n/a",
        border=True,
        help="Used / (used + unused) commitment in the period, over every commitment of the "
        f"chosen clouds, in {currency}.",
    )
    st.metric(
        "Unused commitment",
        charts.format_money(total["unused_cost"].sum(), currency),
        border=True,
        help="Paid for and not used in the period (the Unused rows of the commitments).",
    )
    st.metric(
        "Used commitment",
        charts.format_money(total["used_cost"].sum(), currency),
        border=True,
        help="Amortized commitment that covered usage in the period.",
    )
    st.metric(
        "Commitments",
        f"{len(by_commitment):,}",
        border=True,
        help="Savings plans and reservations with a row in the period.",
    )
    st.metric(
        f"Expiring within {EXPIRY_SOON_DAYS} days",
        f"{expiring:,}" if known["end_date"].notna().any() else "unknown",
        border=True,
        help="Commitments whose end date is at most this many days after the last day of "
        "data; unknown until a commitment API source gives end dates.",
    )

# ---------- utilization
st.subheader("Utilization")
if used.empty:
    st.info(
        f"{NO_COMMITMENTS}."
        if counts["fct_commitment_utilization"] == 0
        else "No commitment was used or left unused in this selection.",
        icon=":material/info:",
    )
else:
    with st.container(horizontal=True):
        for row in rows(used, "provider").itertuples():
            st.metric(
                f"{row.provider_name} utilization",
                pct(row.utilization),
                delta=f"{charts.format_money(row.unused_cost, currency)} unused",
                delta_color="off",
                delta_arrow="off",
                border=True,
                help=f"{row.commitments} commitment(s), billed in {row.billing_currencies}; "
                f"amounts in {currency}.",
            )
    daily = rows(used, "day_commitment")
    choices = {ALL_COMMITMENTS: "All commitments"} | {
        f"{r.provider_name}|{r.commitment_discount_id}": r.commitment
        for r in by_commitment.itertuples()
    }
    picked = st.selectbox(
        "Commitment", list(choices), format_func=choices.get, key="commitments_pick"
    )
    if picked == ALL_COMMITMENTS:
        picked_daily = rows(used, "day")
    else:
        provider, commitment_id = picked.split("|", 1)
        picked_daily = daily[
            (daily["provider_name"] == provider)
            & (daily["commitment_discount_id"] == commitment_id)
        ]
    st.plotly_chart(
        cc.used_and_unused(picked_daily, currency, title=f"{choices[picked]}: used and unused"),
        key="chart_commitment_use",
    )
    st.plotly_chart(cc.utilization_trend(daily, currency), key="chart_commitment_utilization")
    st.dataframe(
        by_commitment[
            [
                "provider_name",
                "commitment",
                "commitment_discount_type",
                "commitment_discount_category",
                "billing_account_id",
                "billing_currencies",
                "used_cost",
                "unused_cost",
                "utilization",
                "days",
                "end_date",
                "days_to_expiry",
                "commitment_discount_id",
            ]
        ],
        hide_index=True,
        key="commitments_table",
        column_config={
            "provider_name": "Cloud",
            "commitment": "Commitment",
            "commitment_discount_type": "Type",
            "commitment_discount_category": "Category",
            "billing_account_id": "Billing account",
            "billing_currencies": st.column_config.TextColumn(
                "Billed in", help=f"Billing currency; the amounts here are in {currency}."
            ),
            "used_cost": ui.money_column("Used", currency),
            "unused_cost": ui.money_column("Unused", currency),
            "utilization": st.column_config.ProgressColumn(
                "Utilization", format="percent", min_value=0.0, max_value=1.0
            ),
            "days": "Days",
            "end_date": st.column_config.DateColumn("Ends", format="YYYY-MM-DD"),
            "days_to_expiry": "Days to expiry",
            "commitment_discount_id": "Id",
        },
    )

# ---------- coverage
st.subheader("Coverage")
covered = commitments.coverage(source, selection)
if covered.empty:
    st.info(
        "No usage a commitment could cover in this selection.",
        icon=":material/info:",
    )
else:
    st.caption(
        "Committed / (committed + on-demand) usage of the services a commitment can cover "
        "(seed `commitment_eligible_services`), per cloud and billing currency."
    )
    by_provider = rows(covered, "provider")
    with st.container(horizontal=True):
        for row in by_provider.itertuples():
            st.metric(
                f"{group_label(row.provider_name, row.billing_currency, by_provider)} coverage",
                pct(row.coverage),
                delta=(
                    f"{charts.format_money(row.committed_cost, row.billing_currency)} of "
                    f"{charts.format_money(row.eligible_cost, row.billing_currency)} covered"
                ),
                delta_color="off",
                delta_arrow="off",
                border=True,
                help=f"Amounts in {row.billing_currency}, the billing currency.",
            )
    categories = rows(covered, "category")
    accounts = rows(covered, "account")
    accounts = accounts.assign(
        account=charts.account_label(accounts) if len(accounts) else pd.Series(dtype=str)
    )
    left, right = st.columns(2)
    left.plotly_chart(
        cc.coverage_bars(categories, "service_category", "Coverage by service category"),
        key="chart_coverage_categories",
    )
    right.plotly_chart(
        cc.coverage_bars(accounts, "account", "Coverage by account"),
        key="chart_coverage_accounts",
    )
    coverage_columns = {
        "provider_name": "Cloud",
        "service_category": "Category",
        "sub_account_name": "Account",
        "sub_account_id": "Account id",
        "billing_currency": "Currency",
        "committed_cost": st.column_config.NumberColumn("Committed", format="%.2f"),
        "on_demand_cost": st.column_config.NumberColumn("On demand", format="%.2f"),
        "eligible_cost": st.column_config.NumberColumn("Eligible usage", format="%.2f"),
        "coverage": st.column_config.ProgressColumn(
            "Coverage", format="percent", min_value=0.0, max_value=1.0
        ),
    }
    amounts = ["billing_currency", "committed_cost", "on_demand_cost", "eligible_cost", "coverage"]
    st.dataframe(
        accounts[["provider_name", "sub_account_name", "sub_account_id", *amounts]],
        hide_index=True,
        key="coverage_accounts_table",
        column_config=coverage_columns,
    )
    st.dataframe(
        categories[["provider_name", "service_category", *amounts]],
        hide_index=True,
        key="coverage_categories_table",
        column_config=coverage_columns,
    )

# ---------- savings
st.subheader("Effective Savings Rate")
saved = commitments.savings(source, selection)
if saved.empty:
    st.info("No usage with a list price in this selection.", icon=":material/info:")
else:
    months = rows(saved, "month")
    first_month, last_month = months["billing_month"].min(), months["billing_month"].max()
    st.caption(
        f"Whole months {first_month:%B %Y} to {last_month:%B %Y} (those the period overlaps). "
        "ESR = total savings / list cost; negotiated savings = list - contracted price, "
        "commitment savings = contracted price - effective cost, each per usage row and "
        "never below 0 (docs/commitments.md), so the two need not add up to the total."
    )
    by_provider = rows(saved, "provider")
    with st.container(horizontal=True):
        for row in by_provider.itertuples():
            name = group_label(row.provider_name, row.billing_currency, by_provider)
            st.metric(
                f"{name} ESR",
                pct(row.effective_savings_rate),
                delta=f"{charts.format_money(row.total_savings, row.billing_currency)} saved",
                delta_color="off",
                delta_arrow="off",
                border=True,
                help=(
                    f"{charts.format_money(row.total_savings, row.billing_currency)} saved of "
                    f"{charts.format_money(row.list_cost, row.billing_currency)} at list prices: "
                    f"negotiated {charts.format_money(row.negotiated_savings, row.billing_currency)}"
                    f", commitments {charts.format_money(row.commitment_savings, row.billing_currency)}."
                    f" {pct(row.list_cost_missing_share)} of the effective cost has no list price "
                    "(no saving is known for it: the rate understates)."
                ),
            )
    left, right = st.columns(2)
    left.plotly_chart(cc.savings_rate_trend(months), key="chart_savings_rate")
    right.plotly_chart(cc.savings_split(months), key="chart_savings_split")
    st.dataframe(
        months[
            [
                "billing_month",
                "provider_name",
                "billing_currency",
                "list_cost",
                "contracted_cost",
                "effective_cost",
                "negotiated_savings",
                "commitment_savings",
                "total_savings",
                "effective_savings_rate",
                "list_cost_missing_share",
            ]
        ],
        hide_index=True,
        key="savings_table",
        column_config={
            "billing_month": st.column_config.DateColumn("Month", format="YYYY-MM"),
            "provider_name": "Cloud",
            "billing_currency": "Currency",
            "list_cost": st.column_config.NumberColumn("List cost", format="%.2f"),
            "contracted_cost": st.column_config.NumberColumn("Contracted", format="%.2f"),
            "effective_cost": st.column_config.NumberColumn("Effective", format="%.2f"),
            "negotiated_savings": st.column_config.NumberColumn("Negotiated", format="%.2f"),
            "commitment_savings": st.column_config.NumberColumn("Commitment", format="%.2f"),
            "total_savings": st.column_config.NumberColumn("Total saved", format="%.2f"),
            "effective_savings_rate": st.column_config.NumberColumn("ESR", format="percent"),
            "list_cost_missing_share": st.column_config.NumberColumn(
                "No list price", format="percent", help="Share of the effective cost."
            ),
        },
    )

# ---------- expiry calendar (the cloud filter applies; the period does not)
st.subheader("Expiry calendar")
if known.empty:
    st.info(f"{NO_COMMITMENTS}.", icon=":material/info:")
else:
    if known["end_date"].isna().all():
        st.info(
            "No end dates known yet: start and end dates, term and payment option come from "
            "the providers' commitment APIs, which are not loaded yet (issue #17). The "
            "commitments seen in the cost rows are listed with the days they were charged.",
            icon=":material/event_busy:",
        )
    else:
        st.caption(
            f"Commitments of the chosen clouds by end date; days to expiry are counted from "
            f"the last day of data ({summary.last_date:%Y-%m-%d})."
        )
        st.plotly_chart(cc.expiry_calendar(known, summary.last_date), key="chart_commitment_expiry")
    calendar = known.assign(
        commitment=cc.commitment_label(known),
        expires=[cc.expiry_bucket(d) or "unknown" for d in known["days_to_expiry"]],
    )
    st.dataframe(
        calendar[
            [
                "provider_name",
                "commitment",
                "commitment_discount_type",
                "start_date",
                "end_date",
                "days_to_expiry",
                "expires",
                "term",
                "payment_option",
                "first_charge_date",
                "last_charge_date",
                "commitment_discount_id",
            ]
        ],
        hide_index=True,
        key="expiry_table",
        column_config={
            "provider_name": "Cloud",
            "commitment": "Commitment",
            "commitment_discount_type": "Type",
            "start_date": st.column_config.DateColumn("Starts", format="YYYY-MM-DD"),
            "end_date": st.column_config.DateColumn("Ends", format="YYYY-MM-DD"),
            "days_to_expiry": "Days to expiry",
            "expires": "Expires",
            "term": "Term",
            "payment_option": "Payment",
            "first_charge_date": st.column_config.DateColumn("First charged", format="YYYY-MM-DD"),
            "last_charge_date": st.column_config.DateColumn("Last charged", format="YYYY-MM-DD"),
            "commitment_discount_id": "Id",
        },
    )

# ---------- exports: the marts' rows in the filters, written by DuckDB when clicked
st.subheader("Export")
tag = ui.period_tag(selection)
with st.container(horizontal=True):
    for export, label in (
        ("utilization", "Commitment utilization (CSV)"),
        ("coverage", "Commitment coverage (CSV)"),
        ("savings", "Effective savings (CSV)"),
        ("commitments", "Commitments (CSV)"),
    ):
        ui.csv_button(
            label,
            lambda export=export: commitments.mart_rows_csv(source, export, selection),
            f"commitment_{export}_{tag}.csv",
            key=f"download_commitment_{export}",
        )
    ui.csv_button(
        "Utilization per commitment (CSV)",
        costs.to_csv(
            by_commitment.drop(columns=["level", "charge_date"]).assign(reporting_currency=currency)
        ),
        f"commitment_summary_{tag}.csv",
        key="download_commitment_summary",
    )
st.caption(
    "Utilization, coverage, savings: every row of fct_commitment_utilization (period, cloud; "
    "amounts in the billing and the reporting currency), fct_commitment_coverage (period, "
    "cloud, account, category) and fct_effective_savings (the months the period overlaps, "
    "cloud) with all their columns; Commitments: dim_commitment_discounts of the chosen "
    "clouds; Utilization per commitment: the table above."
)
