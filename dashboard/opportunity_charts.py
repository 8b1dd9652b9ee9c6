"""Figures of the "Savings opportunities" page: potential savings per category, account and
source, and realized savings over time (plotly graph_objects, like dashboard/charts.py)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import bar_height, empty_figure, horizontal_bars, provider_colors, titled


def savings_bars(items: pd.DataFrame, label: str, title: str, currency: str) -> go.Figure:
    """Open potential monthly savings per item (`label`, `provider_name`, `savings`,
    `opportunities`), the frame's order from the top, coloured by cloud."""
    if items.empty:
        return empty_figure(title, "No open opportunity in this selection")
    fig = horizontal_bars(
        items,
        label,
        title,
        currency,
        value="savings",
        value_title="Potential savings a month",
        order=list(items[label]),
        hover=(
            f"%{{y}}<br>{currency} %{{x:,.2f}} a month "
            "(%{customdata[0]} opportunities)<extra></extra>"
        ),
        custom=["opportunities"],
    )
    fig.update_layout(height=bar_height(items[label].nunique()))
    return fig


def realized_over_time(months: pd.DataFrame, currency: str) -> go.Figure:
    """Realized monthly savings of the opportunities gone in each month (`month`,
    `provider_name`, `realized`, `estimated`), stacked by cloud."""
    title = "Realized savings by the month opportunities went"
    if months.empty:
        return empty_figure(title, "No opportunity has gone with a measured saving yet")
    colors = provider_colors(sorted(months["provider_name"].unique()))
    fig = go.Figure(
        [
            go.Bar(
                x=rows["month"],
                y=rows["realized"],
                name=provider,
                marker_color=colors[provider],
                customdata=rows[["estimated"]].to_numpy(),
                hovertemplate=(
                    f"%{{x|%Y-%m}}<br>realized {currency} %{{y:,.2f}} a month "
                    f"(estimated {currency} %{{customdata[0]:,.2f}})<extra></extra>"
                ),
            )
            for provider, rows in months.groupby("provider_name", sort=True)
        ]
    )
    fig.update_layout(barmode="relative")
    fig.update_xaxes(dtick="M1", tickformat="%Y-%m")
    fig.update_yaxes(title_text=f"Realized savings a month ({currency})", tickformat=",.0f")
    return titled(fig, title)
