"""Pure builders: a query result (DataFrame) in, a Plotly figure or a label out.

No Streamlit and no I/O here, so tests can call every builder directly.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

PROVIDER_COLORS = {"AWS": "#FF9900", "Azure": "#0078D4"}
_FALLBACK_COLORS = px.colors.qualitative.Safe


def format_money(value: Decimal | float | int, currency: str) -> str:
    """`USD 12,345.67`: amounts are always shown with the currency they are in."""
    amount = value if isinstance(value, Decimal) else Decimal(str(value))
    return f"{currency} {amount:,.2f}"


def format_money_change(change: Decimal, currency: str) -> str:
    """`+USD 1,234.50`: the sign first, which is how st.metric picks the arrow."""
    return f"{'-' if change < 0 else '+'}{currency} {abs(change):,.2f}"


def format_change(current: Decimal, previous: Decimal) -> str | None:
    """`+12.3%` against the previous period, or None when there is nothing to compare to."""
    if previous == 0:
        return None
    return f"{(current - previous) / abs(previous) * 100:+.1f}%"


def _providers(frame: pd.DataFrame, **orders: list[str]) -> dict[str, Any]:
    """Same colour and legend order for a provider in every chart."""
    providers = sorted(frame["provider_name"].dropna().unique())
    unknown = [p for p in providers if p not in PROVIDER_COLORS]
    return {
        "color": "provider_name",
        "color_discrete_map": PROVIDER_COLORS | dict(zip(unknown, _FALLBACK_COLORS, strict=False)),
        "category_orders": {"provider_name": providers, **orders},
    }


def _empty(title: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_visible=False, yaxis_visible=False)
    fig.add_annotation(text="No cost in this selection", showarrow=False, font_size=14)
    return fig


def _finish(fig: go.Figure, title: str, currency: str, *, value_axis: str) -> go.Figure:
    fig.update_layout(
        title=title,
        legend_title_text="",
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
    )
    axis = {"title_text": f"Cost ({currency})", "tickformat": ",.0f"}
    if value_axis == "y":
        fig.update_yaxes(**axis)
    else:
        fig.update_xaxes(**axis)
    return fig


def daily_evolution(daily: pd.DataFrame, currency: str) -> go.Figure:
    """Stacked daily bars by provider (`charge_date`, `provider_name`, `cost`)."""
    title = "Daily cost by cloud"
    if daily.empty:
        return _empty(title)
    fig = px.bar(
        daily,
        x="charge_date",
        y="cost",
        **_providers(daily),
        labels={"charge_date": "Day", "provider_name": "Cloud", "cost": "Cost"},
    )
    fig.update_traces(hovertemplate=f"%{{x|%Y-%m-%d}}<br>{currency} %{{y:,.2f}}")
    fig.update_layout(barmode="relative", xaxis_title_text="")
    return _finish(fig, title, currency, value_axis="y")


def provider_comparison(daily: pd.DataFrame, currency: str) -> go.Figure:
    """AWS vs Azure: one daily line per provider (`charge_date`, `provider_name`, `cost`)."""
    title = "AWS vs Azure, per day"
    if daily.empty:
        return _empty(title)
    fig = px.line(
        daily,
        x="charge_date",
        y="cost",
        markers=True,
        **_providers(daily),
        labels={"charge_date": "Day", "provider_name": "Cloud", "cost": "Cost"},
    )
    fig.update_traces(hovertemplate=f"%{{x|%Y-%m-%d}}<br>{currency} %{{y:,.2f}}")
    fig.update_layout(xaxis_title_text="", hovermode="x unified")
    return _finish(fig, title, currency, value_axis="y")


def _horizontal_bars(
    frame: pd.DataFrame,
    label: str,
    title: str,
    currency: str,
    *,
    detail: str | None = None,
) -> go.Figure:
    """Bars of `cost` per `label`, costliest on top, coloured (and stacked) by provider.

    Stacking is "relative" so a negative amount (a credit) is drawn left of zero.
    `detail` names a column shown in the hover after the label (e.g. the account id).
    """
    order = frame.groupby(label)["cost"].sum().sort_values(ascending=False).index.tolist()
    fig = px.bar(
        frame,
        x="cost",
        y=label,
        orientation="h",
        **_providers(frame, **{label: order}),
        custom_data=[detail] if detail else None,
        labels={"provider_name": "Cloud", "cost": "Cost", label: ""},
    )
    suffix = " (%{customdata[0]})" if detail else ""
    fig.update_traces(hovertemplate=f"%{{y}}{suffix}<br>{currency} %{{x:,.2f}}")
    fig.update_layout(barmode="relative")
    return _finish(fig, title, currency, value_axis="x")


def top_services(services: pd.DataFrame, currency: str) -> go.Figure:
    """Horizontal bars, costliest first (`service_name`, `provider_name`, `cost`)."""
    title = f"Top {len(services)} services" if len(services) else "Top services"
    if services.empty:
        return _empty(title)
    return _horizontal_bars(services, "service_name", title, currency)


def cost_by_category(categories: pd.DataFrame, currency: str) -> go.Figure:
    """Category bars stacked by provider (`service_category`, `provider_name`, `cost`)."""
    title = "Cost by service category"
    if categories.empty:
        return _empty(title)
    frame = categories.assign(service_category=categories["service_category"].fillna("Other"))
    return _horizontal_bars(frame, "service_category", title, currency)


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
    return _horizontal_bars(frame, "account", title, currency, detail="sub_account_id")
