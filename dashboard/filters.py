"""The sidebar selection every page shares: period, clouds, accounts, categories, the tag
filter (when the serving copy has allocation rows), cost basis and charges.

The entrypoint (streamlit_app.py) draws these widgets on every run, before it runs the
chosen page, so they are the same widgets on every page and keep their values across page
switches (they also persist for the session, `persist_state="session"`). Values live in
`st.session_state` under the `*_KEY` names below; the page reads the resulting `View` with
`current()`.

The tag filter (a key of FINOPS_ALLOCATION_TAGS and some of its values) applies where the
cost is read from fct_cost_allocation (dashboard/data/costs.py: Overview, Services and
categories, Accounts); a page or section reading a mart without tags says so with
`tag_filter_not_applied`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pandas as pd
import streamlit as st

from dashboard.data import allocation
from dashboard.data.serving import category_options, filter_options
from dashboard.data.types import CostBasis, CostFilter, Source, Summary

PERIOD_KEY = "filter_period"
PROVIDERS_KEY = "filter_providers"
ACCOUNTS_KEY = "filter_accounts"
CATEGORIES_KEY = "filter_categories"
TAG_KEY = "filter_tag_key"
TAG_VALUES_KEY = "filter_tag_values"
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
        tagged = f" · tag filter **{sel.tag_label}**" if sel.tagged else ""
        return (
            f"Data as of **{self.summary.as_of_date:%Y-%m-%d}** · amounts in **{self.currency}** "
            f"({BASIS_LABELS[self.basis].lower()} cost, {CHARGES_LABELS[sel.charges].lower()}) · "
            f"period {sel.start:%Y-%m-%d} to {sel.end:%Y-%m-%d} ({sel.days} days){tagged}"
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


def _allow_list(label: str, options: list[str], key: str, **kwargs: Any) -> list[str]:
    """A multiselect of `options` kept for the session, its stored choices that are no
    longer options dropped first (empty = no filter)."""
    _keep_valid(key, options)
    return st.multiselect(label, options, key=key, persist_state="session", **kwargs)


def _tag_filter(source: Source, summary: Summary) -> tuple[str | None, list[str]]:
    """The tag key and values chosen; no widget when the serving copy has no allocation rows
    (no FINOPS_ALLOCATION_TAGS, or marts published before allocation or its filter columns)."""
    options = allocation.tag_options(source) if allocation.available(source, summary) else None
    if options is None or options.empty:
        return None, []
    keys = list(options["allocation_key"].unique())
    if st.session_state.get(TAG_KEY) not in (None, *keys):
        del st.session_state[TAG_KEY]  # a key no longer built: back to no tag filter
    key = st.selectbox(
        "Tag",
        keys,
        index=None,
        key=TAG_KEY,
        persist_state="session",
        placeholder="No tag filter",
        help="Only the cost allocated to the chosen values of a tag key of "
        "FINOPS_ALLOCATION_TAGS (by tag, account map or shared-cost rule), on the Overview, "
        "Services and categories and Accounts pages. Pages and sections without tags say "
        "that it does not apply to them.",
    )
    chosen = _allow_list(
        "Tag value",
        options.loc[options["allocation_key"] == key, "allocation_value"].tolist(),
        TAG_VALUES_KEY,
        disabled=key is None,
        placeholder="Choose a tag first" if key is None else "Choose values",
    )
    return key, chosen


def tag_filter_not_applied(view: View, what: str) -> None:
    """Under a page or section whose figures come from marts without tags: a caption saying
    the tag filter does not apply to `what`, so they are never taken for filtered ones."""
    if view.selection.tagged:
        st.caption(
            f":material/sell: The tag filter ({view.selection.tag_label}) does not apply to {what}."
        )


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
        providers = _allow_list("Cloud", clouds, PROVIDERS_KEY, placeholder="All clouds")
        in_clouds = options[options["provider_name"].isin(providers)] if providers else options
        labels = _account_label(in_clouds)
        accounts = _allow_list(
            "Account",
            list(labels),
            ACCOUNTS_KEY,
            format_func=labels.get,
            placeholder="All accounts",
        )
        categories = _allow_list(
            "Category", category_options(source), CATEGORIES_KEY, placeholder="All categories"
        )
        tag_key, tag_values = _tag_filter(source, summary)
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
            tag_key=tag_key,
            tag_values=tuple(tag_values),
        ),
        basis=basis,
    )
    st.session_state[VIEW_KEY] = view
    return view


def current() -> View:
    """The view the entrypoint built for this run, before it ran the page."""
    return st.session_state[VIEW_KEY]
