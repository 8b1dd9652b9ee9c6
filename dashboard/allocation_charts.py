"""Pure builders for the allocation page: a query result (DataFrame) in, a Plotly figure out
(no Streamlit, no I/O), like dashboard/charts.py. Every amount is in the reporting currency:
the allocation queries never add billing currencies.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import PALETTE, bar_height, empty_figure, provider_colors, titled

UNALLOCATED = "(unallocated)"
UNALLOCATED_COLOR = "#8A8886"
# How a value was found (allocation_method), in the order docs/allocation.md looks for it
METHODS = {
    "tag": ("Tag", "#107C10"),
    "account_map": ("Account map", "#0078D4"),
    "shared_rule": ("Shared rule", "#8764B8"),
    "unallocated": ("Unallocated", UNALLOCATED_COLOR),
}


def value_colors(values: list[str]) -> dict[str, str]:
    """One colour per value of a key, in the given order; `(unallocated)` always grey."""
    named = [v for v in values if v != UNALLOCATED]
    colors = {v: PALETTE[i % len(PALETTE)] for i, v in enumerate(named)}
    return colors | {UNALLOCATED: UNALLOCATED_COLOR}


def showback_bars(by_method: pd.DataFrame, key: str, currency: str) -> go.Figure:
    """Cost per value of the key, costliest on top, each bar split by how the value got
    its cost (`allocation_value`, `allocation_method`, `cost`; the frame's order of values
    is kept)."""
    title = f"Cost by {key}"
    if by_method.empty:
        return empty_figure(title, "No cost in this selection")
    order = list(dict.fromkeys(by_method["allocation_value"]))
    fig = go.Figure(
        [
            go.Bar(
                x=rows["cost"],
                y=rows["allocation_value"],
                orientation="h",
                name=label,
                marker_color=color,
                hovertemplate=f"%{{y}}<br>{label}: {currency} %{{x:,.2f}}<extra></extra>",
            )
            for method, (label, color) in METHODS.items()
            if not (rows := by_method[by_method["allocation_method"] == method]).empty
        ]
    )
    fig.update_layout(barmode="relative", height=bar_height(len(order)))
    fig.update_xaxes(title_text=f"Cost ({currency})", tickformat=",.0f")
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(order)))
    return titled(fig, title)


def monthly_showback(months: pd.DataFrame, key: str, currency: str) -> go.Figure:
    """Cost per whole month, stacked by value of the key (`billing_month`,
    `allocation_value`, `cost`, `previous_cost`, `change`); the change against the month
    before in the hover."""
    title = f"Cost by {key}, per month"
    if months.empty:
        return empty_figure(title, "No cost in this selection")
    totals = months.groupby("allocation_value", sort=False)["cost"].sum()
    values = totals.sort_values(ascending=False, kind="stable").index.tolist()
    colors = value_colors(values)
    fig = go.Figure()
    for value in values:
        rows = months[months["allocation_value"] == value]
        fig.add_trace(
            go.Bar(
                x=pd.to_datetime(rows["billing_month"]),
                y=rows["cost"],
                name=value,
                marker_color=colors[value],
                customdata=rows[["change"]].to_numpy(),
                hovertemplate=(
                    f"%{{x|%B %Y}}<br>{value}: {currency} %{{y:,.2f}}"
                    f"<br>vs month before {currency} %{{customdata[0]:+,.2f}}<extra></extra>"
                ),
            )
        )
    fig.update_layout(barmode="relative")
    fig.update_xaxes(title_text="", dtick="M1", tickformat="%b %Y")
    fig.update_yaxes(title_text=f"Cost ({currency})", tickformat=",.0f")
    return titled(fig, title)


def allocated_over_time(daily: pd.DataFrame, currency: str) -> go.Figure:
    """Per day, the key's cost stacked by how it was allocated, the unallocated part on top
    in grey (`charge_date`, `allocation_method`, `cost`)."""
    title = "Allocated vs unallocated, per day"
    if daily.empty:
        return empty_figure(title, "No cost in this selection")
    fig = go.Figure(
        [
            go.Bar(
                x=pd.to_datetime(rows["charge_date"]),
                y=rows["cost"],
                name=label,
                marker_color=color,
                hovertemplate=f"%{{x|%Y-%m-%d}}<br>{label}: {currency} %{{y:,.2f}}<extra></extra>",
            )
            for method, (label, color) in METHODS.items()
            if not (rows := daily[daily["allocation_method"] == method]).empty
        ]
    )
    fig.update_layout(barmode="relative", hovermode="x unified")
    fig.update_xaxes(title_text="")
    fig.update_yaxes(title_text=f"Cost ({currency})", tickformat=",.0f")
    return titled(fig, title)


def untagged_bars(items: pd.DataFrame, label: str, title: str, currency: str) -> go.Figure:
    """Untagged taggable cost per item (`label`: a service, an account), largest on top,
    coloured by cloud (`provider_name`, `untagged_cost`, `untagged_pct`; the frame's order)."""
    if items.empty:
        return empty_figure(title, "No untagged taggable cost in this selection")
    order = list(dict.fromkeys(items[label]))
    colors = provider_colors(sorted(items["provider_name"].unique()))
    fig = go.Figure(
        [
            go.Bar(
                x=rows["untagged_cost"],
                y=rows[label],
                orientation="h",
                name=provider,
                marker_color=colors[provider],
                customdata=rows[["untagged_pct"]].to_numpy(),
                hovertemplate=(
                    f"%{{y}}<br>{currency} %{{x:,.2f}} untagged "
                    "(%{customdata[0]:.1f}% of its taggable cost)<extra></extra>"
                ),
            )
            for provider, rows in items.groupby("provider_name", sort=True)
        ]
    )
    fig.update_layout(barmode="relative", height=bar_height(len(order)))
    fig.update_xaxes(title_text=f"Untagged cost ({currency})", tickformat=",.0f")
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(order)))
    return titled(fig, title)
