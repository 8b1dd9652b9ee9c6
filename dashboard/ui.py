"""Small Streamlit helpers the pages share: money columns, change labels, CSV buttons."""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from dashboard.data.types import CostFilter

# Columns that compare with the previous period (left out when it is not in the data).
COMPARISON_COLUMNS = ("previous_cost", "change", "change_pct")


def money_column(label: str, currency: str, *, signed: bool = False) -> st.column_config.Column:
    """A number column whose header names the currency (`Cost (USD)`)."""
    return st.column_config.NumberColumn(
        f"{label} ({currency})", format="%+.2f" if signed else "%.2f"
    )


def percent_column(label: str) -> st.column_config.Column:
    return st.column_config.NumberColumn(label, format="%+.1f%%")


def share_column(label: str = "Share") -> st.column_config.Column:
    return st.column_config.NumberColumn(label, format="%.1f%%")


def period_tag(selection: CostFilter) -> str:
    return f"{selection.start:%Y%m%d}_{selection.end:%Y%m%d}"


def csv_button(label: str, data: bytes | Callable[[], bytes], file_name: str, *, key: str) -> None:
    """A CSV download; `data` may be a callable, run only when the button is clicked."""
    st.download_button(
        label,
        data,
        file_name=file_name,
        mime="text/csv",
        on_click="ignore",
        icon=":material/download:",
        key=key,
    )
