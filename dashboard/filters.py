"""The sidebar selection every page shares: period, clouds, accounts, categories, cost basis
and charges.

The entrypoint (streamlit_app.py) draws these widgets on every run, before it runs the
chosen page, so they are the same widgets on every page and keep their values across page
switches (they also persist for the session, `persist_state="session"`). Values live in
`st.session_state` under the `*_KEY` names below; the page reads the resulting `View` with
`current()`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
import streamlit as st

from dashboard.data.serving import category_options, filter_options
from dashboard.data.types import CostBasis, CostFilter, Source, Summary

PERIOD_KEY = "filter_period"
PROVIDERS_KEY = "filter_providers"
ACCOUNTS_KEY = "filter_accounts"
CATEGORIES_KEY = "filter_categories"
BASIS_KEY = "filter_cost_basis"
CHARGES_KEY = "filter_charges"
VIEW_KEY = "_finops_view"
DEFAULT_PERIOD_KEY = "_finops_default_period"

DEFAULT_PERIOD_DAYS = 30
BASIS_LABELS: dict[str, str] = {"billed": "Billed", "effective": "Effective (amortized)"}
CHARGES_LABELS: dict[str, str] = {
    "all": "All charges (net of credits)",
    "usage": "Usage only",
}


@dataclass(frozen=True)
class View:
    """Everything a page needs to query: the file, what it holds, and the selection."""

    source: Source
    summary: Summary
    selection: CostFilter
    basis: CostBasis

    @property
    def currency(self) -> str:
        return self.selection.currency

    @property
    def previous_covered(self) -> bool:
        """True when the previous period of the same length lies inside the data."""
        first = self.summary.first_date
        return first is not None and self.selection.previous_start >= first

    @property
    def scopes(self) -> tuple[str, ...]:
        """Provider scopes (`All`, `AWS`, `Azure`) of the per-scope marts the clouds cover."""
        return self.selection.scopes(self.summary.providers)

    @property
    def scope(self) -> str:
        """The one provider scope that matches the cloud filter: a single cloud, else `All`."""
        scopes = self.scopes
        return scopes[0] if len(scopes) == 1 else "All"

    def describe(self) -> str:
        """One line saying what the numbers on the page are."""
        sel = self.selection
        return (
            f"Data as of **{self.summary.as_of_date:%Y-%m-%d}** · amounts in **{self.currency}** "
            f"({BASIS_LABELS[self.basis].lower()} cost, {CHARGES_LABELS[sel.charges].lower()}) · "
            f"period {sel.start:%Y-%m-%d} to {sel.end:%Y-%m-%d} ({sel.days} days)"
        )


def default_period(first: date, last: date, days: int = DEFAULT_PERIOD_DAYS) -> tuple[date, date]:
    """The last `days` days of data, not starting before the first day of data."""
    return max(first, last - timedelta(days=days - 1)), last


def _valid_period(value: object, first: date, last: date) -> bool:
    return (
        isinstance(value, (tuple, list))
        and len(value) in (1, 2)
        and all(isinstance(d, date) and first <= d <= last for d in value)
    )


def _account_label(options: pd.DataFrame) -> dict[str, str]:
    accounts = options.drop_duplicates("sub_account_id")
    return {
        row.sub_account_id: f"{row.provider_name} · {row.sub_account_name} ({row.sub_account_id})"
        for row in accounts.itertuples()
    }


def _keep_valid(key: str, allowed: list[str]) -> None:
    """Drop stored choices that are no longer options (a cloud was unselected, a re-publish)."""
    stored = st.session_state.get(key)
    if stored and any(value not in allowed for value in stored):
        st.session_state[key] = [value for value in stored if value in allowed]


def sidebar(source: Source, summary: Summary) -> View:
    """Draw the filters in the sidebar, store the resulting `View` for the page, return it."""
    assert summary.first_date is not None and summary.last_date is not None
    first, last = summary.first_date, summary.last_date
    options = filter_options(source)

    # A stored period outside the data (e.g. after a re-publish) falls back to the default,
    # and a default the user never changed follows the data ("the last 30 days" moves on
    # when a new day is published); a period the user picked stays as picked.
    default = default_period(first, last)
    stored = st.session_state.get(PERIOD_KEY)
    if stored is not None and (
        not _valid_period(stored, first, last)
        or tuple(stored) == st.session_state.get(DEFAULT_PERIOD_KEY, default)
    ):
        del st.session_state[PERIOD_KEY]  # the widget starts again from `value=default`
    st.session_state[DEFAULT_PERIOD_KEY] = default

    with st.sidebar:
        st.header("Filters")
        period = st.date_input(
            "Period",
            value=default,
            min_value=first,
            max_value=last,
            key=PERIOD_KEY,
            persist_state="session",
            help=f"Data from {first:%Y-%m-%d} to {last:%Y-%m-%d}.",
        )
        clouds = sorted(options["provider_name"].unique())
        _keep_valid(PROVIDERS_KEY, clouds)
        providers = st.multiselect(
            "Cloud",
            clouds,
            key=PROVIDERS_KEY,
            persist_state="session",
            placeholder="All clouds",
        )
        in_clouds = options[options["provider_name"].isin(providers)] if providers else options
        labels = _account_label(in_clouds)
        _keep_valid(ACCOUNTS_KEY, list(labels))
        accounts = st.multiselect(
            "Account",
            list(labels),
            format_func=labels.get,
            key=ACCOUNTS_KEY,
            persist_state="session",
            placeholder="All accounts",
        )
        categories_offered = category_options(source)
        _keep_valid(CATEGORIES_KEY, categories_offered)
        categories = st.multiselect(
            "Category",
            categories_offered,
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
        charges = st.radio(
            "Charges",
            list(CHARGES_LABELS),
            format_func=CHARGES_LABELS.get,
            key=CHARGES_KEY,
            persist_state="session",
            help="All charges: usage, purchases, tax, and credits and refunds (negative) "
            "netted in, as the invoice adds them up. Usage only: charge category Usage.",
        )

    # While a range is being picked the widget holds one date: treat it as a one-day period.
    start, end = (period[0], period[-1]) if period else default
    view = View(
        source=source,
        summary=summary,
        selection=CostFilter(
            start=start,
            end=end,
            currency=summary.reporting_currency,
            providers=tuple(providers),
            accounts=tuple(accounts),
            categories=tuple(categories),
            charges=charges,
        ),
        basis=basis,
    )
    st.session_state[VIEW_KEY] = view
    return view


def current() -> View:
    """The view the entrypoint built for this run, before it ran the page."""
    return st.session_state[VIEW_KEY]
