"""Cost Management Query API answers -> rows of `raw.azure_cost_management` (pure, no I/O).

The query scheme
----------------
`grouping` takes at most two columns, but a raw row is day x subscription x service x
location x charge type. For every configured scope (a subscription, a billing account, a
management group, ...), every calendar-month chunk of the load window (`month_chunks`: a
Daily query covers at most about a month) and each query type (`QUERY_TYPES`: ActualCost =
billed, AmortizedCost = effective):

1. one *discovery* query (`discovery_definition`): no granularity, aggregation Cost Sum,
   grouping SubscriptionId and ChargeType (`DISCOVERY_GROUPING`). Its rows are the
   (subscription, charge type) pairs that have cost in that month at that scope, whatever
   the charge type is called (Usage, Purchase, Refund, UnusedReservation, Tax, ...): no
   charge type is lost to a fixed list;
2. one *detail* query per discovered pair (`query_definition(..., subscription_id=...)`):
   granularity Daily, aggregation Cost Sum, grouping ServiceName and ResourceLocation
   (`QUERY_GROUPING`), `dataset.filter` pinning SubscriptionId and ChargeType.

All queries go to the configured scope itself, so a billing-account or management-group
scope spanning many subscriptions needs no role on the subscriptions. Each query is followed
through `properties.nextLink` (pages of up to `PAGE_ROWS` rows); the SDK does not do this.

Query calls of a scope = sum over its months m and the two query types t of
(discovery pages + the pages of the P(m, t) detail queries), at least
sum(1 + P(m, t)); plus one `subscription_names_definition` query when the subscription list
did not name every subscription found. A subscription with only Usage costs needs 4 calls
per month, one that also has a reservation (Purchase billed, UnusedReservation amortized) 6.

The answer of a detail query has a `Cost`, `UsageDate`, `ServiceName`, `ResourceLocation` and
`Currency` column; the subscription and the charge type are not columns, the caller passes
them in `fixed`.

`to_rows` maps one page. Columns are found by name (case-insensitive), never by position:
the service orders them aggregation first, then UsageDate, groupings, Currency, but that is
not a contract. Costs arrive as JSON numbers; they become `Decimal(str(value))` held at the
raw column's scale (10 decimal places) - exact when the JSON was parsed with
`parse_float=Decimal`, as the client does.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

QUERY_GROUPING = ("ServiceName", "ResourceLocation")
DISCOVERY_GROUPING = ("SubscriptionId", "ChargeType")
QUERY_TYPES = ("ActualCost", "AmortizedCost")
# The charge types the simulated source produces (one query each there); the real loader
# does not use a fixed list, its discovery query finds the charge types that have cost.
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


def _time_period(start: date, end: date) -> dict[str, str]:
    return {
        "from": f"{start.isoformat()}T00:00:00+00:00",
        # The API's `to` is inclusive: the last second of the window's last day.
        "to": f"{date.fromordinal(end.toordinal() - 1).isoformat()}T23:59:59+00:00",
    }


def _dimension_filter(name: str, value: str) -> dict[str, Any]:
    return {"dimensions": {"name": name, "operator": "In", "values": [value]}}


def query_definition(
    query_type: str,
    start: date,
    end: date,
    charge_type: str,
    *,
    subscription_id: str | None = None,
) -> dict[str, Any]:
    """The request body of one detail query of the scheme, for the half-open window
    [start, end): Daily, grouped by ServiceName and ResourceLocation, filtered on the charge
    type (and the subscription, when given: needed at scopes spanning subscriptions)."""
    charge_filter = _dimension_filter("ChargeType", charge_type)
    return {
        "type": query_type,
        "timeframe": "Custom",
        "timePeriod": _time_period(start, end),
        "dataset": {
            "granularity": "Daily",
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": name} for name in QUERY_GROUPING],
            "filter": (
                {"and": [_dimension_filter("SubscriptionId", subscription_id), charge_filter]}
                if subscription_id is not None
                else charge_filter
            ),
        },
    }


def discovery_definition(query_type: str, start: date, end: date) -> dict[str, Any]:
    """The request body of the discovery query: cost per SubscriptionId x ChargeType over
    [start, end), no date breakdown."""
    return {
        "type": query_type,
        "timeframe": "Custom",
        "timePeriod": _time_period(start, end),
        "dataset": {
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": name} for name in DISCOVERY_GROUPING],
        },
    }


def subscription_names_definition(start: date, end: date) -> dict[str, Any]:
    """Cost per SubscriptionId x SubscriptionName over [start, end): names of subscriptions
    the credential cannot list through ARM (e.g. a billing-account reader)."""
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": _time_period(start, end),
        "dataset": {
            "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
            "grouping": [
                {"type": "Dimension", "name": "SubscriptionId"},
                {"type": "Dimension", "name": "SubscriptionName"},
            ],
        },
    }


def month_chunks(start: date, end: date) -> list[tuple[date, date]]:
    """[start, end) cut at calendar-month boundaries: a Daily query covers at most about one
    month (longer periods are truncated or refused by the service)."""
    if end <= start:
        raise ValueError(f"empty window [{start}, {end})")
    chunks = []
    lo = start
    while lo < end:
        next_month = date(lo.year + lo.month // 12, lo.month % 12 + 1, 1)
        hi = min(next_month, end)
        chunks.append((lo, hi))
        lo = hi
    return chunks


def _column_positions(properties: Mapping[str, Any]) -> dict[str, int]:
    positions: dict[str, int] = {}
    for position, column in enumerate(properties.get("columns") or []):
        positions.setdefault(str(column["name"]).lower(), position)
    return positions


def discovered_pairs(result: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(SubscriptionId, ChargeType) pairs of one discovery answer page, in answer order,
    without duplicates (one pair can come once per currency)."""
    properties = result_properties(result)
    positions = _column_positions(properties)
    for name in DISCOVERY_GROUPING:
        if name.lower() not in positions:
            raise ValueError(f"discovery answer has no {name} column")
    sub_at, charge_at = positions["subscriptionid"], positions["chargetype"]
    pairs: dict[tuple[str, str], None] = {}
    for index, values in enumerate(properties.get("rows") or []):
        subscription, charge_type = values[sub_at], values[charge_at]
        if not subscription or not charge_type:
            raise ValueError(f"discovery row {index}: empty SubscriptionId or ChargeType")
        pairs[(str(subscription), str(charge_type))] = None
    return list(pairs)


def subscription_names(result: Mapping[str, Any]) -> dict[str, str]:
    """SubscriptionId -> SubscriptionName of one `subscription_names_definition` answer page
    (ids lower-cased; empty names left out)."""
    properties = result_properties(result)
    positions = _column_positions(properties)
    if "subscriptionid" not in positions or "subscriptionname" not in positions:
        raise ValueError("answer has no SubscriptionId / SubscriptionName column")
    names = {}
    for values in properties.get("rows") or []:
        subscription = values[positions["subscriptionid"]]
        name = values[positions["subscriptionname"]]
        if subscription and name:
            names[str(subscription).lower()] = str(name)
    return names


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
    positions = _column_positions(properties)
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
