"""Pure builders: a query result (DataFrame) in, a Plotly figure or a label out.

No Streamlit and no I/O here, so tests can call every builder directly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px  # only for its colour sequences
import plotly.graph_objects as go

PROVIDER_COLORS = {"AWS": "#FF9900", "Azure": "#0078D4"}
_FALLBACK_COLORS = px.colors.qualitative.Safe


def format_money(value: Decimal | float | int, currency: str) -> str:
    """`USD 12,345.67`: amounts are always shown with the currency they are in."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return f"{currency} {amount:,.2f}"


def format_money_change(change: Decimal | float, currency: str) -> str:
    """`+USD 1,234.50`: the sign first, which is how st.metric picks the arrow."""
    amount = change if isinstance(change, Decimal) else Decimal(str(change))
    return f"{'-' if amount < 0 else '+'}{currency} {abs(amount):,.2f}"


def format_change(current: Decimal, previous: Decimal) -> str | None:
    """`+12.3%` against the previous period, or None when there is nothing to compare to."""
    if previous == 0:
        return None
    return f"{(current - previous) / abs(previous) * 100:+.1f}%"


def provider_colors(providers: list[str]) -> dict[str, str]:
    """Same colour for a provider in every chart; unknown providers get a fallback colour."""
    unknown = [p for p in providers if p not in PROVIDER_COLORS]
    return PROVIDER_COLORS | dict(zip(unknown, _FALLBACK_COLORS, strict=False))


# Shared by the page chart modules (commitment_charts, allocation_charts).
PALETTE = px.colors.qualitative.Safe


def empty_figure(title: str, text: str) -> go.Figure:
    """A titled figure without axes that says `text` (no data for the chart)."""
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False)
    fig.add_annotation(text=text, showarrow=False, font_size=14)
    return fig


def titled(fig: go.Figure, title: str) -> go.Figure:
    """`fig` with its title, no legend title and tight margins."""
    fig.update_layout(
        title=title, legend_title_text="", margin={"l": 10, "r": 10, "t": 50, "b": 10}
    )
    return fig


def bar_height(bars: int) -> int:
    """Pixels for a horizontal bar chart: thin bars for a few, no squeeze for many."""
    return max(260, min(900, 120 + 36 * bars))


def _by_provider(frame: pd.DataFrame) -> list[tuple[str, str, pd.DataFrame]]:
    """(provider, colour, rows) in the same (sorted) legend order in every chart."""
    providers = sorted(frame["provider_name"].dropna().unique())
    colors = provider_colors(providers)
    return [(p, colors[p], frame[frame["provider_name"] == p]) for p in providers]


def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False)
    fig.add_annotation(text="No cost in this selection", showarrow=False, font_size=14)
    return fig


def _finish(
    fig: go.Figure, title: str, currency: str, *, value_axis: str, value_title: str = "Cost"
) -> go.Figure:
    fig.update_layout(
        title=title,
        legend_title_text="",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    axis = {"title_text": f"{value_title} ({currency})", "tickformat": ",.0f"}
    if value_axis == "y":
        fig.update_yaxes(**axis)
    else:
        fig.update_xaxes(**axis)
    return fig


# Figures are built with plotly.graph_objects, not plotly.express: express takes ~80 ms a
# figure, which a page with several charts would pay on every filter change.


def daily_evolution(daily: pd.DataFrame, currency: str) -> go.Figure:
    """Stacked daily bars by provider (`charge_date`, `provider_name`, `cost`)."""
    title = "Daily cost by cloud"
    if daily.empty:
        return _empty(title)
    fig = go.Figure(
        [
            go.Bar(
                x=rows["charge_date"],
                y=rows["cost"],
                name=provider,
                marker_color=color,
                hovertemplate=f"%{{x|%Y-%m-%d}}<br>{currency} %{{y:,.2f}}",
            )
            for provider, color, rows in _by_provider(daily)
        ]
    )
    fig.update_layout(barmode="relative", xaxis_title_text="")
    return _finish(fig, title, currency, value_axis="y")


def provider_comparison(daily: pd.DataFrame, currency: str) -> go.Figure:
    """AWS vs Azure: one daily line per provider (`charge_date`, `provider_name`, `cost`)."""
    title = "AWS vs Azure, per day"
    if daily.empty:
        return _empty(title)
    fig = go.Figure(
        [
            go.Scatter(
                x=rows["charge_date"],
                y=rows["cost"],
                name=provider,
                mode="lines+markers",
                line_color=color,
                hovertemplate=f"%{{x|%Y-%m-%d}}<br>{currency} %{{y:,.2f}}",
            )
            for provider, color, rows in _by_provider(daily)
        ]
    )
    fig.update_layout(xaxis_title_text="", hovermode="x unified")
    return _finish(fig, title, currency, value_axis="y")


def horizontal_bars(
    frame: pd.DataFrame,
    label: str,
    title: str,
    currency: str,
    *,
    value: str = "cost",
    value_title: str = "Cost",
    order: list[str] | None = None,
    hover: str | None = None,
    custom: list[str] | None = None,
) -> go.Figure:
    """Bars of `value` per `label`, first of `order` on top (default: largest total first),
    coloured (and stacked) by provider; the value axis says `value_title (currency)`.

    Stacking is "relative" so a negative amount (a credit, a decrease) is drawn left of zero.
    `custom` names columns the `hover` template reads as %{customdata[i]}.
    """
    if order is None:
        order = frame.groupby(label)[value].sum().sort_values(ascending=False).index.tolist()
    order = list(dict.fromkeys(order))  # a label shared by two providers is one category
    template = hover or f"%{{y}}<br>{currency} %{{x:,.2f}}"
    fig = go.Figure(
        [
            go.Bar(
                x=rows[value],
                y=rows[label],
                orientation="h",
                name=provider,
                marker_color=color,
                customdata=rows[custom].to_numpy() if custom else None,
                hovertemplate=template,
            )
            for provider, color, rows in _by_provider(frame)
        ]
    )
    fig.update_layout(barmode="relative")
    # plotly lists categories bottom-up: reverse so the first of `order` is on top
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(order)))
    return _finish(fig, title, currency, value_axis="x", value_title=value_title)


def top_services(services: pd.DataFrame, currency: str) -> go.Figure:
    """Horizontal bars, costliest first (`service_name`, `provider_name`, `cost`)."""
    title = f"Top {len(services)} services" if len(services) else "Top services"
    if services.empty:
        return _empty(title)
    return horizontal_bars(services, "service_name", title, currency)


def cost_by_category(categories: pd.DataFrame, currency: str) -> go.Figure:
    """Category bars stacked by provider (`service_category`, `provider_name`, `cost`)."""
    title = "Cost by service category"
    if categories.empty:
        return _empty(title)
    frame = categories.assign(service_category=categories["service_category"].fillna("Other"))
    return horizontal_bars(frame, "service_category", title, currency)


def account_label(accounts: pd.DataFrame) -> pd.Series:
    """The account name, with its id only where two accounts share a name (ids can be GUIDs)."""
    names = accounts["sub_account_name"].fillna(accounts["sub_account_id"])
    shared = names.duplicated(keep=False)
    return names.where(~shared, names + " (" + accounts["sub_account_id"] + ")")


def cost_by_account(accounts: pd.DataFrame, currency: str) -> go.Figure:
    """Bars per account (`provider_name`, `sub_account_id`, `sub_account_name`, `cost`)."""
    title = "Cost by account"
    if accounts.empty:
        return _empty(title)
    frame = accounts.assign(account=account_label(accounts))
    return horizontal_bars(
        frame,
        "account",
        title,
        currency,
        custom=["sub_account_id"],
        hover=f"%{{y}} (%{{customdata[0]}})<br>{currency} %{{x:,.2f}}",
    )


def movers(changes: pd.DataFrame, label: str, title: str, currency: str) -> go.Figure:
    """Change vs the previous period per item (`label`, `provider_name`, `change`,
    `previous_cost`, `current_cost`), in the frame's order from the top; increases and
    decreases on either side of zero."""
    if changes.empty:
        return _empty(title)
    fig = horizontal_bars(
        changes,
        label,
        title,
        currency,
        value="change",
        order=changes[label].tolist(),
        custom=["previous_cost", "current_cost"],
        hover=(
            f"%{{y}}<br>{currency} %{{customdata[0]:,.2f}} → {currency} %{{customdata[1]:,.2f}}"
            f"<br>change {currency} %{{x:+,.2f}}"
        ),
    )
    fig.update_xaxes(title_text=f"Change ({currency})", tickformat="+,.0f")
    return fig


def anomaly_band(
    series: pd.DataFrame, currency: str, *, title: str, highlight: Any = None
) -> go.Figure:
    """A usage series with its expected band (fct_anomaly_series rows, one per day).

    The band (expected_low .. expected_high) is where a day is not flagged; flagged days are
    marked, and `highlight` (a date) is the anomaly being looked at.
    """
    if series.empty:
        return _empty(title)
    frame = series.assign(charge_date=pd.to_datetime(series["charge_date"]))
    x = frame["charge_date"]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=x,
            y=frame["expected_high"],
            mode="lines",
            line={"width": 0},
            name="Expected band",
            legendgroup="band",
            showlegend=False,
            hoverinfo="skip",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=frame["expected_low"],
            mode="lines",
            line={"width": 0},
            fill="tonexty",
            fillcolor="rgba(0, 120, 212, 0.15)",
            name="Expected band",
            legendgroup="band",
            hovertemplate=f"band low {currency} %{{y:,.2f}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=frame["expected_cost"],
            mode="lines",
            line={"dash": "dash", "color": "#0078D4"},
            name="Expected",
            hovertemplate=f"expected {currency} %{{y:,.2f}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=x,
            y=frame["actual_cost"],
            mode="lines+markers",
            line={"color": "#333333"},
            marker={"size": 4},
            name="Actual",
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>actual {currency} %{{y:,.2f}}<extra></extra>",
        )
    )
    flagged = frame[frame["is_anomaly"].astype(bool)]
    fig.add_trace(
        go.Scatter(
            x=flagged["charge_date"],
            y=flagged["actual_cost"],
            mode="markers",
            marker={"color": "#D13438", "size": 11, "symbol": "circle-open", "line": {"width": 2}},
            name="Flagged",
            hovertemplate=f"flagged {currency} %{{y:,.2f}}<extra></extra>",
        )
    )
    if highlight is not None:
        fig.add_vline(x=pd.Timestamp(highlight), line={"color": "#D13438", "dash": "dot"})
    fig.update_layout(xaxis_title_text="", hovermode="x unified")
    return _finish(fig, title, currency, value_axis="y")


def contributions(causes: pd.DataFrame, title: str, currency: str) -> go.Figure:
    """Contribution of each item to an anomaly's impact (`label`, `provider_name`,
    `contribution`), in the frame's order from the top."""
    if causes.empty:
        return _empty(title)
    fig = horizontal_bars(
        causes,
        "label",
        title,
        currency,
        value="contribution",
        order=causes["label"].tolist(),
        hover=f"%{{y}}<br>{currency} %{{x:+,.2f}}",
    )
    fig.update_layout(showlegend=False)
    fig.update_xaxes(title_text=f"Contribution ({currency})", tickformat="+,.0f")
    return fig


def budget_burn(
    month: pd.DataFrame,
    currency: str,
    *,
    month_start: Any,
    month_end: Any,
    forecast: float,
    budget: float | None,
) -> go.Figure:
    """Cumulative cost of the month so far (`charge_date`, `cumulative_cost`), the forecast
    to month end, and the budget with its even-pace line."""
    title = f"{pd.Timestamp(month_start):%B %Y}: month so far and forecast"
    if month.empty:
        return _empty(title)
    frame = month.assign(charge_date=pd.to_datetime(month["charge_date"]))
    start, end = pd.Timestamp(month_start), pd.Timestamp(month_end)
    last = frame.iloc[-1]
    fig = go.Figure()
    fig.add_trace(
        go.Scatter(
            x=frame["charge_date"],
            y=frame["cumulative_cost"],
            mode="lines+markers",
            name="Month so far",
            line={"color": "#333333"},
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>{currency} %{{y:,.2f}}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=[last["charge_date"], end],
            y=[last["cumulative_cost"], forecast],
            mode="lines+markers",
            name="Forecast",
            line={"dash": "dash", "color": "#0078D4"},
            hovertemplate=f"%{{x|%Y-%m-%d}}<br>forecast {currency} %{{y:,.2f}}<extra></extra>",
        )
    )
    if budget:
        fig.add_trace(
            go.Scatter(
                x=[start - pd.Timedelta(days=1), end],
                y=[0, budget],
                mode="lines",
                name="Even budget pace",
                line={"dash": "dot", "color": "#8A8886"},
                hoverinfo="skip",
            )
        )
        fig.add_hline(
            y=budget,
            line={"color": "#D13438"},
            annotation_text=f"Budget {currency} {budget:,.0f}",
            annotation_position="top left",
        )
    fig.update_layout(xaxis_title_text="", hovermode="x unified")
    return _finish(fig, title, currency, value_axis="y")


def api_requests(usage: pd.DataFrame) -> go.Figure:
    """Stacked daily bars of API requests by source (`load_date`, `source_name`,
    `api_requests`, `api_cost_usd`): what the loaders asked of the cloud APIs."""
    title = "API requests per day by source"
    if usage.empty:
        return empty_figure(title, "No load recorded")
    sources = sorted(usage["source_name"].unique())
    fig = go.Figure(
        [
            go.Bar(
                x=rows["load_date"],
                y=rows["api_requests"],
                name=name,
                marker_color=PALETTE[index % len(PALETTE)],
                customdata=rows["api_cost_usd"].astype(float),
                hovertemplate="%{x|%Y-%m-%d}<br>%{y:,} requests, USD %{customdata:,.2f}",
            )
            for index, name in enumerate(sources)
            for rows in [usage[usage["source_name"] == name]]
        ]
    )
    fig.update_layout(barmode="relative", xaxis_title_text="", yaxis_title_text="Requests")
    return titled(fig, title)
