"""Notices shown above every page: a provider whose last load failed, mixed currencies."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from dashboard.data import operations
from dashboard.filters import View

FRESHNESS_MART = "fct_load_freshness"
ERROR_PREVIEW_CHARS = 300


def utc(value: object) -> str:
    """`2026-07-01 08:00 UTC` for a (naive, UTC) timestamp; `never` for a missing one."""
    if value is None or pd.isna(value):
        return "never"
    stamp = pd.Timestamp(value)
    return f"{stamp:%Y-%m-%d %H:%M} UTC"


def day(value: object) -> str:
    if value is None or pd.isna(value):
        return "none"
    return f"{pd.Timestamp(value):%Y-%m-%d}"


def _code(text: object) -> str:
    """A one-line code span that Markdown cannot break out of."""
    flat = " ".join(str(text or "no error message").split())
    if len(flat) > ERROR_PREVIEW_CHARS:
        flat = flat[: ERROR_PREVIEW_CHARS - 1] + "…"
    return "`" + flat.replace("`", "'") + "`"


def failed_load_messages(failed: pd.DataFrame) -> list[str]:
    """One Markdown message per provider whose last load attempt failed in some scope."""
    messages = []
    for provider, rows in failed.groupby("provider_name", sort=True):
        lines = [
            f"**{provider} data is stale: its last load failed.** {provider} figures are those "
            "of the last successful load; see *Data freshness*."
        ]
        for row in rows.itertuples():
            lines.append(
                f"- scope `{row.scope}` ({row.source_name}): failed at {utc(row.last_attempt_at)}"
                f" with {_code(row.last_error_message)}; last success "
                f"{utc(row.last_succeeded_at)}, charges through {day(row.latest_charge_date)}"
            )
        messages.append("\n".join(lines))
    return messages


def show(view: View) -> None:
    summary = view.summary
    if FRESHNESS_MART in summary.tables:
        for message in failed_load_messages(operations.failed_loads(view.source)):
            st.error(message, icon=":material/cloud_off:")
    if summary.mixed_currencies:
        st.warning(
            f"The marts hold amounts in several reporting currencies "
            f"({', '.join(summary.currencies)}): the reporting currency changed without a "
            f"full rebuild. Only the **{view.currency}** amounts (those of the latest day) are "
            "shown; rebuild the marts with `dbt build --full-refresh` to convert all of them.",
            icon=":material/currency_exchange:",
        )


def published(view: View) -> str:
    stamp = view.summary.published_at
    return f"{stamp:%Y-%m-%d %H:%M %Z}" if isinstance(stamp, datetime) else "unknown"
