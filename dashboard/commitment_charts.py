"""Pure builders for the commitments page: a query result (DataFrame) in, a Plotly figure or
a label out (no Streamlit, no I/O), like dashboard/charts.py.

Ratios (utilization, coverage, savings rates) are drawn in percent and are the ones the
query recomputed from its sums; amounts of different billing currencies never share an axis:
coverage and savings are drawn as rates per cloud and billing currency, with their amounts
in the hover text.
"""

from __future__ import annotations

from datetime import date

import pandas as pd
import plotly.graph_objects as go

from dashboard.charts import PALETTE, bar_height, empty_figure, provider_colors, titled

USED_COLOR = "#107C10"
UNUSED_COLOR = "#D13438"
# Expiry buckets, soonest first: (label, at most this many days left, colour)
EXPIRY_BUCKETS = (
    ("Expired", -1, "#8A8886"),
    ("Within 30 days", 30, "#D13438"),
    ("Within 90 days", 90, "#FF8C00"),
    ("Within a year", 365, "#0078D4"),
    ("Later", None, "#107C10"),
)


def _rate_axis(fig: go.Figure, title: str) -> None:
    """A percent axis from 0 with headroom above the highest point (a lone month's marker
    would otherwise sit on the top edge)."""
    values = [y for trace in fig.data for y in trace.y if y is not None]
    top = max(values, default=0)
    fig.update_yaxes(title_text=title, ticksuffix="%", range=[0, top * 1.15] if top > 0 else None)
    if top <= 0:
        fig.update_yaxes(rangemode="tozero")


def _percent(values: pd.Series) -> list[float | None]:
    """Ratios as percents; a null ratio (nothing to divide) stays a gap, never 0 %."""
    return [None if pd.isna(v) else float(v) * 100 for v in values]


def commitment_label(commitments: pd.DataFrame) -> pd.Series:
    """The commitment's name, else the last part of its id (an ARN or a reservation path is
    long); the full id is added where two commitments would read the same."""
    ids = commitments["commitment_discount_id"].astype(str)
    tails = ids.str.rsplit("/", n=1).str[-1].str.rsplit(":", n=1).str[-1]
    names = commitments["commitment_discount_name"].fillna(tails)
    labels = commitments["provider_name"] + " · " + names
    shared = labels.duplicated(keep=False) & ~ids.duplicated(keep=False)
    return labels.where(~shared, labels + " (" + ids + ")")


def _groups(frame: pd.DataFrame) -> list[tuple[str, str, str, pd.DataFrame]]:
    """(`AWS (USD)`, currency, colour, rows) per cloud x billing currency, in a stable order: amounts of
    one group are in one currency, so a group's hover can name it."""
    keys = (
        frame[["provider_name", "billing_currency"]]
        .drop_duplicates()
        .sort_values(["provider_name", "billing_currency"])
    )
    colors = provider_colors(sorted(keys["provider_name"].unique()))
    result = []
    seen: dict[str, int] = {}
    for provider, currency in keys.itertuples(index=False):
        # a second currency of the same cloud gets a fallback colour, not the same one
        nth = seen.get(provider, 0)
        seen[provider] = nth + 1
        color = colors[provider] if nth == 0 else PALETTE[(nth + 3) % len(PALETTE)]
        rows = frame[(frame["provider_name"] == provider) & (frame["billing_currency"] == currency)]
        result.append((f"{provider} ({currency})", currency, color, rows))
    return result


# ---------------------------------------------------------------- utilization


def utilization_trend(daily: pd.DataFrame, currency: str) -> go.Figure:
    """Utilization per commitment and day, one line each (`charge_date`, `provider_name`,
    `commitment_discount_id`, `commitment_discount_name`, `used_cost`, `unused_cost`,
    `utilization`); used and unused amounts (reporting currency) in the hover."""
    title = "Utilization per commitment, per day"
    if daily.empty:
        return empty_figure(title, "No commitment use in this selection")
    frame = daily.assign(
        label=commitment_label(daily), charge_date=pd.to_datetime(daily["charge_date"])
    )
    fig = go.Figure(
        [
            go.Scatter(
                x=rows["charge_date"],
                y=_percent(rows["utilization"]),
                name=label,
                mode="lines+markers",
                line_color=PALETTE[i % len(PALETTE)],
                customdata=rows[["used_cost", "unused_cost"]].to_numpy(),
                hovertemplate=(
                    f"%{{x|%Y-%m-%d}}<br>utilization %{{y:.1f}}%<br>used {currency} "
                    f"%{{customdata[0]:,.2f}}<br>unused {currency} %{{customdata[1]:,.2f}}"
                ),
            )
            for i, (label, rows) in enumerate(frame.groupby("label", sort=True))
        ]
    )
    fig.update_yaxes(title_text="Utilization (%)", range=[0, 105], dtick=20, ticksuffix="%")
    fig.update_layout(xaxis_title_text="", hovermode="x unified")
    return titled(fig, title)


def used_and_unused(daily: pd.DataFrame, currency: str, *, title: str) -> go.Figure:
    """Per day, what was used of the commitment(s) and what was paid for and left unused
    (stacked bars, reporting currency), with the day's utilization on the right axis
    (`charge_date`, `used_cost`, `unused_cost`, `utilization`)."""
    if daily.empty:
        return empty_figure(title, "No commitment use in this selection")
    frame = daily.assign(charge_date=pd.to_datetime(daily["charge_date"]))
    x = frame["charge_date"]
    fig = go.Figure(
        [
            go.Bar(
                x=x,
                y=frame["used_cost"],
                name="Used",
                marker_color=USED_COLOR,
                hovertemplate=f"used {currency} %{{y:,.2f}}<extra></extra>",
            ),
            go.Bar(
                x=x,
                y=frame["unused_cost"],
                name="Unused",
                marker_color=UNUSED_COLOR,
                hovertemplate=f"unused {currency} %{{y:,.2f}}<extra></extra>",
            ),
            go.Scatter(
                x=x,
                y=_percent(frame["utilization"]),
                name="Utilization",
                mode="lines+markers",
                line_color="#333333",
                yaxis="y2",
                hovertemplate="utilization %{y:.1f}%<extra></extra>",
            ),
        ]
    )
    fig.update_layout(
        barmode="relative",
        xaxis_title_text="",
        hovermode="x unified",
        # above the plot: at the right it would cover the utilization axis
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "right", "x": 1},
        yaxis={"title_text": f"Commitment ({currency})", "tickformat": ",.0f"},
        yaxis2={
            "title_text": "Utilization (%)",
            "overlaying": "y",
            "side": "right",
            "range": [0, 105],
            "dtick": 20,
            "ticksuffix": "%",
            "showgrid": False,
        },
    )
    return titled(fig, title)


# ---------------------------------------------------------------- coverage


def coverage_bars(frame: pd.DataFrame, label: str, title: str) -> go.Figure:
    """Coverage per `label` (a service category, an account), one bar per cloud x billing
    currency (`provider_name`, `billing_currency`, `committed_cost`, `on_demand_cost`,
    `eligible_cost`, `coverage`), largest eligible usage on top; amounts in the hover in
    the group's own currency."""
    if frame.empty:
        return empty_figure(title, "No usage a commitment could cover in this selection")
    order = frame.groupby(label)["eligible_cost"].max().sort_values(ascending=False).index
    order = list(dict.fromkeys(order))
    fig = go.Figure(
        [
            go.Bar(
                x=_percent(rows["coverage"]),
                y=rows[label],
                orientation="h",
                name=name,
                marker_color=color,
                customdata=rows[["committed_cost", "on_demand_cost"]].to_numpy(),
                texttemplate="%{x:.1f}%",  # a 0 % bar has no length: its label says 0 %
                textposition="outside",
                cliponaxis=False,
                hovertemplate=(
                    f"%{{y}}<br>coverage %{{x:.1f}}%<br>committed {currency} "
                    f"%{{customdata[0]:,.2f}}<br>on demand {currency} "
                    f"%{{customdata[1]:,.2f}}<extra>{name}</extra>"
                ),
            )
            for name, currency, color, rows in _groups(frame)
        ]
    )
    fig.update_layout(barmode="group", height=bar_height(len(order) * len(fig.data)))
    fig.update_xaxes(title_text="Coverage (%)", range=[0, 100], ticksuffix="%")
    fig.update_yaxes(categoryorder="array", categoryarray=list(reversed(order)))
    return titled(fig, title)


# ---------------------------------------------------------------- savings


def savings_rate_trend(months: pd.DataFrame) -> go.Figure:
    """The Effective Savings Rate per month, one line per cloud x billing currency
    (`billing_month`, `provider_name`, `billing_currency`, `effective_savings_rate`,
    `total_savings`, `list_cost`)."""
    title = "Effective Savings Rate per month"
    if months.empty:
        return empty_figure(title, "No usage with a list price in this selection")
    fig = go.Figure(
        [
            go.Scatter(
                x=pd.to_datetime(rows["billing_month"]),
                y=_percent(rows["effective_savings_rate"]),
                name=name,
                mode="lines+markers",
                line_color=color,
                customdata=rows[["total_savings", "list_cost"]].to_numpy(),
                hovertemplate=(
                    f"%{{x|%B %Y}}<br>ESR %{{y:.1f}}%<br>saved {currency} "
                    f"%{{customdata[0]:,.2f}} of {currency} %{{customdata[1]:,.2f}} list"
                    f"<extra>{name}</extra>"
                ),
            )
            for name, currency, color, rows in _groups(months)
        ]
    )
    _rate_axis(fig, "ESR (% of list cost)")
    fig.update_xaxes(title_text="", dtick="M1", tickformat="%b %Y")
    return titled(fig, title)


def savings_split(months: pd.DataFrame) -> go.Figure:
    """Negotiated vs commitment savings per month as shares of the list cost, side by side
    per cloud x billing currency (`billing_month`, `provider_name`, `billing_currency`,
    `negotiated_rate`, `commitment_rate`, `negotiated_savings`, `commitment_savings`)."""
    title = "Negotiated vs commitment savings (% of list cost)"
    if months.empty:
        return empty_figure(title, "No usage with a list price in this selection")
    traces = []
    for name, currency, color, rows in _groups(months):
        x = pd.to_datetime(rows["billing_month"])
        for kind, pattern in (("negotiated", "/"), ("commitment", "")):
            traces.append(
                go.Bar(
                    x=x,
                    y=_percent(rows[f"{kind}_rate"]),
                    name=f"{name} {kind}",
                    offsetgroup=f"{name} {kind}",
                    marker={"color": color, "pattern": {"shape": pattern}},
                    customdata=rows[[f"{kind}_savings"]].to_numpy(),
                    hovertemplate=(
                        f"%{{x|%B %Y}}<br>{kind} %{{y:.1f}}% of list<br>{currency} "
                        f"%{{customdata[0]:,.2f}}<extra>{name}</extra>"
                    ),
                )
            )
    fig = go.Figure(traces)
    fig.update_layout(barmode="group")
    _rate_axis(fig, "Saved (% of list cost)")
    fig.update_xaxes(title_text="", dtick="M1", tickformat="%b %Y")
    return titled(fig, title)


# ---------------------------------------------------------------- expiry


def expiry_bucket(days_to_expiry: float | None) -> str | None:
    """The EXPIRY_BUCKETS label of a number of days left; None when the end is unknown."""
    if days_to_expiry is None or pd.isna(days_to_expiry):
        return None
    for label, limit, _ in EXPIRY_BUCKETS:
        if limit is None or days_to_expiry <= limit:
            return label
    raise AssertionError("unreachable: the last bucket has no limit")


def expiry_calendar(commitments: pd.DataFrame, as_of: date | None) -> go.Figure:
    """Each commitment with a known end date as a bar from its start (or first charge) to its
    end, soonest end on top, coloured by how soon it expires; a line at the data's as-of day
    (dim_commitment_discounts rows)."""
    title = "Commitment terms and expiry"
    known = commitments[commitments["end_date"].notna()]
    if known.empty:
        return empty_figure(title, "No end date known for these commitments")
    frame = known.assign(
        label=commitment_label(known),
        start=pd.to_datetime(known["start_date"].fillna(known["first_charge_date"])),
        end=pd.to_datetime(known["end_date"]),
        bucket=[expiry_bucket(d) for d in known["days_to_expiry"]],
    ).sort_values(["end", "label"])
    fig = go.Figure()
    for bucket, _, color in EXPIRY_BUCKETS:
        rows = frame[frame["bucket"] == bucket]
        if rows.empty:
            continue
        fig.add_trace(
            go.Bar(
                base=rows["start"],
                x=(rows["end"] - rows["start"]).dt.total_seconds() * 1000,
                y=rows["label"],
                orientation="h",
                name=bucket,
                marker_color=color,
                customdata=list(
                    zip(rows["end"].dt.strftime("%Y-%m-%d"), rows["days_to_expiry"], strict=True)
                ),
                hovertemplate="%{y}<br>ends %{customdata[0]} (%{customdata[1]} days)"
                "<extra></extra>",
            )
        )
    fig.update_layout(height=bar_height(len(frame)))
    fig.update_xaxes(type="date", title_text="")
    fig.update_yaxes(categoryorder="array", categoryarray=frame["label"].tolist()[::-1])
    if as_of is not None:
        fig.add_vline(x=pd.Timestamp(as_of), line={"color": "#333333", "dash": "dot"})
    return titled(fig, title)
