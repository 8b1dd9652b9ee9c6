"""The sidebar selection every page shares: period, clouds, accounts, categories, cost basis.

Values live in `st.session_state` under the `*_KEY` names below, and the widgets persist
them for the whole session (`persist_state="session"`), so a page that draws only some of
the filters, or none, keeps what the user chose elsewhere.
"""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboard.data import CostBasis, CostFilter, Source, Summary, filter_options

PERIOD_KEY = "filter_period"
PROVIDERS_KEY = "filter_providers"
ACCOUNTS_KEY = "filter_accounts"
CATEGORIES_KEY = "filter_categories"
BASIS_KEY = "filter_cost_basis"

DEFAULT_PERIOD_DAYS = 30
BASIS_LABELS: dict[str, str] = {"billed": "Billed", "effective": "Effective (amortized)"}


def default_period(first: date, last: date, days: int = DEFAULT_PERIOD_DAYS) -> tuple[date, date]:
    """The last `days` days of data, not starting before the first day of data."""
    return max(first, last - timedelta(days=days - 1)), last


def _valid_period(value: object, first: date, last: date) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) in (1, 2)
        and all(first <= d <= last for d in value)
    )


def _account_label(options: pd.DataFrame) -> dict[str, str]:
    accounts = options.drop_duplicates("sub_account_id")
    return {
        row.sub_account_id: f"{row.provider_name} · {row.sub_account_name} ({row.sub_account_id})"
        for row in accounts.itertuples()
    }


def sidebar(source: Source, summary: Summary) -> tuple[CostFilter, CostBasis]:
    """Draw the filters in the sidebar and return the selection (empty lists mean all)."""
    assert summary.first_date is not None and summary.last_date is not None
    first, last = summary.first_date, summary.last_date
    options = filter_options(source)

    # A stored period outside the data (e.g. after a re-publish) falls back to the default.
    if PERIOD_KEY in st.session_state and not _valid_period(
        st.session_state[PERIOD_KEY], first, last
    ):
        del st.session_state[PERIOD_KEY]

    with st.sidebar:
        st.header("Filters")
        period = st.date_input(
            "Period",
            value=default_period(first, last),
            min_value=first,
            max_value=last,
            key=PERIOD_KEY,
            persist_state="session",
            help=f"Data from {first:%Y-%m-%d} to {last:%Y-%m-%d}.",
        )
        providers = st.multiselect(
            "Cloud",
            sorted(options["provider_name"].unique()),
            key=PROVIDERS_KEY,
            persist_state="session",
            placeholder="All clouds",
        )
        in_clouds = options[options["provider_name"].isin(providers)] if providers else options
        labels = _account_label(in_clouds)
        accounts = st.multiselect(
            "Account",
            list(labels),
            format_func=labels.get,
            key=ACCOUNTS_KEY,
            persist_state="session",
            placeholder="All accounts",
        )
        categories = st.multiselect(
            "Category",
            sorted(options["service_category"].dropna().unique()),
            key=CATEGORIES_KEY,
            persist_state="session",
            placeholder="All categories",
        )
        basis = st.radio(
            "Cost basis",
            list(BASIS_LABELS),
            format_func=BASIS_LABELS.get,
            key=BASIS_KEY,
            persist_state="session",
            horizontal=True,
            help="Billed: as invoiced. Effective: with commitments (RIs, savings plans) "
            "amortized over the days they cover.",
        )

    # While a range is being picked the widget holds one date: treat it as a one-day period.
    start, end = (period[0], period[-1]) if period else default_period(first, last)
    return (
        CostFilter(
            start=start,
            end=end,
            providers=tuple(providers),
            accounts=tuple(accounts),
            categories=tuple(categories),
        ),
        basis,
    )
