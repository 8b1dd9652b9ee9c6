"""Cost Management Query API answers -> rows of `raw.azure_cost_management` (pure, no I/O).

The query scheme
----------------
Per subscription scope (`/subscriptions/{id}`), per query type (`QUERY_TYPES`: ActualCost =
billed, AmortizedCost = effective) and per charge type (`CHARGE_TYPES`, pinned by a
`dataset.filter` on the ChargeType dimension, because `grouping` takes at most two
columns), one query with

* `timeframe` Custom, `timePeriod` = the load window,
* `dataset.granularity` Daily,
* `dataset.aggregation` `{"totalCost": {"name": "Cost", "function": "Sum"}}`,
* `dataset.grouping` ServiceName and ResourceLocation (`QUERY_GROUPING`).

The answer has a `Cost`, `UsageDate`, `ServiceName`, `ResourceLocation` and `Currency` column;
the subscription and the charge type are not columns, the caller passes them in `fixed`.
Answers come in pages of up to 5,000 rows linked by `properties.nextLink`; the SDK does not
follow it, the client must POST the same body to it until it is null.

`to_rows` maps one page. Columns are found by name (case-insensitive), never by position:
the service orders them aggregation first, then UsageDate, groupings, Currency, but that is
not a contract. Costs arrive as JSON numbers (binary floats); they become
`Decimal(str(value))` held at the raw column's scale (10 decimal places).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

QUERY_GROUPING = ("ServiceName", "ResourceLocation")
QUERY_TYPES = ("ActualCost", "AmortizedCost")
CHARGE_TYPES = ("Usage", "Purchase", "UnusedReservation", "Refund", "Adjustment")
PAGE_ROWS = 5000

# Billing-currency cost columns first; CostUSD only when nothing else is there.
COST_COLUMNS = ("Cost", "PreTaxCost", "CostUSD")

# decimal(38, 10) in the warehouse.
AMOUNT_QUANTUM = Decimal("1e-10")

# Output column -> (Query API column, may be null).
_TEXT_COLUMNS = {
    "subscription_id": ("SubscriptionId", False),
    "subscription_name": ("SubscriptionName", True),
    "service_name": ("ServiceName", False),
    "resource_location": ("ResourceLocation", False),
    "charge_type": ("ChargeType", False),
}


def query_definition(query_type: str, start: date, end: date, charge_type: str) -> dict[str, Any]:
    """The request body of one query of the scheme, for the half-open window [start, end)."""
    return {
        "type": query_type,
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{start.isoformat()}T00:00:00+00:00",
            # The API's `to` is inclusive: the last second of the window's last day.
            "to": f"{date.fromordinal(end.toordinal() - 1).isoformat()}T23:59:59+00:00",
        },
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": name} for name in QUERY_GROUPING],
            "filter": {
                "dimensions": {"name": "ChargeType", "operator": "In", "values": [charge_type]}
            },
        },
    }


def result_properties(result: Mapping[str, Any]) -> Mapping[str, Any]:
    """The part holding columns/rows/nextLink: `properties` (REST body, SDK >= 5 `as_dict()`)
    or the top level (older SDKs' flattened `QueryResult.as_dict()`)."""
    properties = result.get("properties")
    if isinstance(properties, Mapping) and "columns" in properties:
        return properties
    if "columns" in result:
        return result
    raise ValueError("Query API result has no columns (neither properties.columns nor columns)")


def next_link(result: Mapping[str, Any]) -> str | None:
    """The URL of the next page, or None on the last page."""
    properties = result_properties(result)
    return properties.get("nextLink") or properties.get("next_link") or None


def parse_usage_date(value: Any) -> int:
    """UsageDate as an int YYYYMMDD, from 20260131, 20260131.0, "20260131" or
    "2026-01-31T00:00:00"; ValueError if it is not a real calendar day."""
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not a date")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"{value!r} is not a YYYYMMDD date")
        value = int(value)
    if isinstance(value, int):
        text = str(value)
        if len(text) != 8:
            raise ValueError(f"{value!r} is not a YYYYMMDD date")
        day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
    elif isinstance(value, str):
        text = value.strip()
        if text.isdigit() and len(text) == 8:
            day = date(int(text[:4]), int(text[4:6]), int(text[6:]))
        else:
            day = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    else:
        raise ValueError(f"{value!r} is not a date")
    return day.year * 10000 + day.month * 100 + day.day


def _parse_cost(value: Any) -> Decimal:
    if value is None or isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number")
    try:
        cost = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not cost.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return cost.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN)


def to_rows(
    result: Mapping[str, Any],
    *,
    query_type: str,
    fixed: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Map one Query API answer page to `raw.azure_cost_management` rows.

    `fixed` supplies columns the query did not group by (SubscriptionId, SubscriptionName,
    ChargeType, ...), matched by name case-insensitively; a column in the answer wins.
    Raises ValueError naming the row index and column of a value it cannot use.
    """
    if query_type not in QUERY_TYPES:
        raise ValueError(f"query_type must be one of {QUERY_TYPES}, got {query_type!r}")
    properties = result_properties(result)
    positions: dict[str, int] = {}
    for position, column in enumerate(properties.get("columns") or []):
        positions.setdefault(str(column["name"]).lower(), position)
    fixed_by_name = {str(k).lower(): v for k, v in (fixed or {}).items()}

    cost_column = next((c for c in COST_COLUMNS if c.lower() in positions), None)
    if cost_column is None:
        raise ValueError(f"Query API result has none of the cost columns {COST_COLUMNS}")
    cost_at = positions[cost_column.lower()]
    if "usagedate" not in positions:
        raise ValueError("Query API result has no UsageDate column (granularity must be Daily)")
    date_at = positions["usagedate"]
    currency_at = positions.get("currency")
    # CostUSD is in USD whatever the billing currency column says.
    currency_fixed = "USD" if cost_column == "CostUSD" else fixed_by_name.get("currency")
    if cost_column == "CostUSD":
        currency_at = None
    elif currency_at is None and currency_fixed is None:
        raise ValueError("Query API result has no Currency column and none was given in fixed")

    text_sources: dict[str, tuple[int | None, Any, bool]] = {}
    for out, (name, nullable) in _TEXT_COLUMNS.items():
        at = positions.get(name.lower())
        if at is None and name.lower() not in fixed_by_name and not nullable:
            raise ValueError(f"column {name} is neither in the Query API result nor in fixed")
        text_sources[out] = (at, fixed_by_name.get(name.lower()), nullable)

    width = len(properties.get("columns") or [])
    rows: list[dict[str, Any]] = []
    for index, values in enumerate(properties.get("rows") or []):
        if len(values) != width:
            raise ValueError(f"row {index}: has {len(values)} values for {width} columns")
        try:
            cost = _parse_cost(values[cost_at])
        except ValueError as exc:
            raise ValueError(f"row {index}, column {cost_column}: {exc}") from None
        try:
            usage_date = parse_usage_date(values[date_at])
        except ValueError as exc:
            raise ValueError(f"row {index}, column UsageDate: {exc}") from None
        currency = values[currency_at] if currency_at is not None else currency_fixed
        if not currency or not isinstance(currency, str):
            raise ValueError(f"row {index}, column Currency: {currency!r} is not a currency")
        text: dict[str, str | None] = {}
        for out, (at, default, nullable) in text_sources.items():
            value = values[at] if at is not None else default
            if value is None and not nullable:
                raise ValueError(f"row {index}, column {_TEXT_COLUMNS[out][0]}: value is null")
            text[out] = None if value is None else str(value)
        rows.append(
            {
                "usage_date": usage_date,
                "query_type": query_type,
                **text,
                "cost": cost,
                "currency": currency,
            }
        )
    return rows
