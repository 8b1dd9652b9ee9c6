"""Cost Management Query API answers -> rows of the Azure raw tables (pure, no I/O).

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

A load of a scope the warehouse already holds rows of asks less (`changes`): per month and
query type a Daily *totals* query (`totals_definition`, the discovery grouping) in place of
discovery, then the queries below only for the (pair, days) whose totals moved - or, by
default, one Cost Details report per query type for them ("details from reports" below).
By default the totals queries are themselves preceded by a *window check* per query type
(`window_totals_definition`: the discovery query over the whole window), which on a day
when nothing but the new days changed is all the load asks of the Query API (`changes`,
"The window check").

The answer of a detail query has a `Cost`, `UsageDate`, `ServiceName`, `ResourceLocation` and
`Currency` column; the subscription and the charge type are not columns, the caller passes
them in `fixed`.

Commitments
-----------
Nothing above says which reservation or savings plan ("benefit") a row belongs to, nor how a
Usage row was priced (PricingModel: OnDemand, Reservation, SavingsPlan, Spot). No charge
type tells either: a reservation bought upfront and fully used shows no UnusedReservation
and, after its first month, no Purchase; one shared with other subscriptions puts covered
usage in subscriptions with Usage rows only. So, per scope and month, after the detail
queries:

3. one *pricing* query per subscription with an AmortizedCost Usage pair
   (`pricing_definition`): AmortizedCost, Daily, grouping ServiceName and PricingModel
   (`PRICING_GROUPING`), filtered on the subscription and ChargeType Usage. It is the
   pricing-model discovery and at once the coverage detail (on-demand, spot and committed
   usage per day x subscription x service). One query per subscription: a scope-level
   SubscriptionId x PricingModel discovery costs the same at a subscription scope (the
   default) and would still need this query for the service split. At a scope spanning N
   subscriptions it is N queries a month, where that discovery, one scope-level on-demand
   query (SubscriptionId x ServiceName, PricingModel OnDemand) and this query only for the
   subscriptions with committed or spot usage would be fewer - a second code path, not
   built;
4. one *benefit* query (`benefit_definition`) per pair that `benefit_queries` picks:
   Daily, grouping ServiceName and BenefitId (`BENEFIT_GROUPING`), filtered on the
   subscription and charge type - the AmortizedCost Usage of a subscription whose pricing
   answer has Reservation / SavingsPlan rows (also filtered on those pricing models), the
   AmortizedCost UnusedReservation / UnusedSavingsPlan pairs and the ActualCost Purchase
   pairs discovery found (`BENEFIT_CHARGE_TYPES`);
5. once per load, only when some benefit query answered a benefit: GET the reservations
   and the savings plans lists (`BENEFIT_LISTS`, each paged by nextLink) for the terms and
   display names; and per scope one `benefit_names_definition` query (BenefitId x
   BenefitName over the window) only when a benefit id is not in those lists (a credential
   without the Reservations Reader role gets HTTP 403 from them; the load goes on).

Extra calls of a scope = sum over its months of (subscriptions with amortized Usage +
benefit queries) pages, + names query pages, + the lists' pages on the first scope's row.
A subscription without commitments: +1 a month (5 instead of 4); one that buys a monthly
reservation and uses part of it: +4 a month (pricing, committed Usage, UnusedReservation,
Purchase: 12 instead of 8 with a Refund pair); a load that saw a benefit: + 2 list calls
(+ 1 a further page of a list).
Pricing rows land with `breakdown` 'PricingModel', benefit rows with 'BenefitId', in
`raw.azure_commitment_costs` (`commitment_rows`); the terms in `raw.azure_commitments`
(`benefit_row`).

Tags
----
Only with allocation keys configured (FINOPS_ALLOCATION_TAGS, issue #18); none: none of
these queries. Per scope, month, query type, subscription the discovery query found for that
query type, and configured key, after the detail queries:

6. one *tag* query (`tag_definition`): Daily, aggregation Cost Sum, grouping
   `{"type": "TagKey", "name": <key>}` and ServiceName (`TAG_GROUPING`), filtered on the
   subscription. The Query API takes at most two groupings, so the subscription cannot be a
   third one: it is pinned by the filter, as in the detail queries. No ChargeType filter:
   a key's rows of a day x subscription x service sum to the cost of all its charge types
   and locations, the tagged and the untagged alike.

The answer assumed (Query API, grouping type TagKey): the grouping adds two columns,
`TagKey` and `TagValue`. A row of resources with the tag has TagKey = the key (Azure tag
keys are case-insensitive: it is compared with the configured key without case, and any
other key is refused) and TagValue = the value ('' or null for a key-only tag); a row of
resources without the tag has TagKey null or '' and TagValue null or ''. `tag_rows` keeps
the configured spelling (`allocation_key`), the answered one (`tag_key`, null when
untagged) and the value (`tag_value`: null when untagged, '' for a key-only tag) in
`raw.azure_cost_management_tags`; dbt turns '' into 'true'.

Extra calls of a scope = sum over its months, query types and keys of the tag queries' pages:
at least (subscriptions with cost of that query type in that month) each. A subscription
scope with costs in both months of a two-month window and two keys: 2 x 2 x 2 = +8.

Price details
-------------
Once per scope and month, when FINOPS_AZURE_PRICE_DETAILS is on: one Cost Details report
(`cost_details_definition`; see "price details" below) for the list and contracted prices the
Query API does not aggregate, summed by `PriceDetails` into `raw.azure_price_details`. Calls:
1 POST + its polls (1 at least) + 1 GET per CSV blob, a month.

`to_rows` maps one page. Columns are found by name (case-insensitive), never by position:
the service orders them aggregation first, then UsageDate, groupings, Currency, but that is
not a contract. Costs arrive as JSON numbers; they become `Decimal(str(value))` held at the
raw column's scale (10 decimal places) - exact when the JSON was parsed with
`parse_float=Decimal`, as the client does.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

QUERY_GROUPING = ("ServiceName", "ResourceLocation")
DISCOVERY_GROUPING = ("SubscriptionId", "ChargeType")
QUERY_TYPES = ("ActualCost", "AmortizedCost")
# The charge types the simulated source produces (one query each there); the real loader
# does not use a fixed list, its discovery query finds the charge types that have cost.
CHARGE_TYPES = ("Usage", "Purchase", "UnusedReservation", "Refund", "Adjustment")
PAGE_ROWS = 5000

# Commitments (see "Commitments" above).
PRICING_GROUPING = ("ServiceName", "PricingModel")
BENEFIT_GROUPING = ("ServiceName", "BenefitId")
BENEFIT_NAMES_GROUPING = ("BenefitId", "BenefitName")
COMMITTED_PRICING_MODELS = ("Reservation", "SavingsPlan")
# The charge types whose rows all belong to a reservation or savings plan (or, Purchase, may).
BENEFIT_CHARGE_TYPES = {
    "ActualCost": ("Purchase",),
    "AmortizedCost": ("UnusedReservation", "UnusedSavingsPlan"),
}
BREAKDOWN_PRICING, BREAKDOWN_BENEFIT = "PricingModel", "BenefitId"
# Tags (see "Tags" above): the dimension grouped by besides the tag key.
TAG_GROUPING = ("ServiceName",)
BREAKDOWNS = (BREAKDOWN_PRICING, BREAKDOWN_BENEFIT)
# The benefits lists: kind -> (ARM path, api-version); GET, paged by nextLink.
BENEFIT_LISTS = {
    "Reservation": ("/providers/Microsoft.Capacity/reservations", "2022-11-01"),
    "SavingsPlan": ("/providers/Microsoft.BillingBenefits/savingsPlans", "2022-11-01"),
}

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


def _query_definition(
    query_type: str,
    start: date,
    end: date,
    grouping: Sequence[str],
    *,
    daily: bool = False,
    where: dict[str, Any] | None = None,
    tag_key: str | None = None,
) -> dict[str, Any]:
    """A Query API request body over the half-open window [start, end): Cost summed,
    grouped by the tag `tag_key` (when given) and the `grouping` dimensions, Daily when
    `daily` (else one total per group), filtered by `where` (the body's `filter`) when given.
    Every query of the scheme is one of these."""
    dataset: dict[str, Any] = {}
    if daily:
        dataset["granularity"] = "Daily"
    dataset["aggregation"] = {"totalCost": {"name": "Cost", "function": "Sum"}}
    tags = [{"type": "TagKey", "name": tag_key}] if tag_key is not None else []
    dataset["grouping"] = tags + [{"type": "Dimension", "name": name} for name in grouping]
    if where is not None:
        dataset["filter"] = where
    return {
        "type": query_type,
        "timeframe": "Custom",
        "timePeriod": _time_period(start, end),
        "dataset": dataset,
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
    return _query_definition(
        query_type,
        start,
        end,
        QUERY_GROUPING,
        daily=True,
        where=(
            _and(_dimension_filter("SubscriptionId", subscription_id), charge_filter)
            if subscription_id is not None
            else charge_filter
        ),
    )


def discovery_definition(query_type: str, start: date, end: date) -> dict[str, Any]:
    """The request body of the discovery query: cost per SubscriptionId x ChargeType over
    [start, end), no date breakdown."""
    return _query_definition(query_type, start, end, DISCOVERY_GROUPING)


def totals_definition(query_type: str, start: date, end: date) -> dict[str, Any]:
    """The request body of a change-detecting load's totals query (`changes`): the discovery
    query's grouping (SubscriptionId x ChargeType), Daily over [start, end)."""
    return _query_definition(query_type, start, end, DISCOVERY_GROUPING, daily=True)


def window_totals_definition(query_type: str, start: date, end: date) -> dict[str, Any]:
    """The request body of a change-detecting load's window check (`changes`, "The window
    check"): the discovery query's grouping (SubscriptionId x ChargeType), one total per
    group over the whole window [start, end). Without granularity it is not held to the 31
    days of a Daily query, so one query per query type covers the previous month and the
    current one."""
    return _query_definition(query_type, start, end, DISCOVERY_GROUPING)


def subscription_names_definition(start: date, end: date) -> dict[str, Any]:
    """Cost per SubscriptionId x SubscriptionName over [start, end): names of subscriptions
    the credential cannot list through ARM (e.g. a billing-account reader)."""
    return _query_definition("ActualCost", start, end, ("SubscriptionId", "SubscriptionName"))


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


def _totals_columns(
    properties: Mapping[str, Any], answer: str, grouped: Sequence[str]
) -> tuple[dict[str, int], str, int | None]:
    """The columns of a totals or window totals answer, each checked: positions by
    lower-cased name, the cost column's name and the Currency column's position (None for
    CostUSD, in USD). A missing one is a ValueError naming the `answer` kind."""
    positions = _column_positions(properties)
    for name in grouped:
        if name.lower() not in positions:
            raise ValueError(f"{answer} answer has no {name} column")
    cost_column = next((c for c in COST_COLUMNS if c.lower() in positions), None)
    if cost_column is None:
        raise ValueError(f"{answer} answer has none of the cost columns {COST_COLUMNS}")
    if cost_column == "CostUSD":
        return positions, cost_column, None
    if "currency" not in positions:
        raise ValueError(f"{answer} answer has no Currency column")
    return positions, cost_column, positions["currency"]


def totals_cells(
    result: Mapping[str, Any], *, query_type: str
) -> dict[tuple[str, int, str, str, str], Decimal]:
    """One `totals_definition` answer page as (query type, usage date, subscription, charge
    type, currency) -> cost (a cell answered twice is summed). Raises ValueError naming the
    row and column of a value it cannot use."""
    properties = result_properties(result)
    positions, cost_column, currency_at = _totals_columns(
        properties, "totals", (*DISCOVERY_GROUPING, "UsageDate")
    )
    in_usd = currency_at is None
    sub_at, charge_at = positions["subscriptionid"], positions["chargetype"]
    cells: dict[tuple[str, int, str, str, str], Decimal] = {}
    for index, values in _checked_rows(properties):
        cost, usage_date, currency = _cost_day_currency(
            index,
            values,
            (cost_column, positions[cost_column.lower()]),
            positions["usagedate"],
            currency_at,
            "USD" if in_usd else None,
        )
        subscription, charge_type = values[sub_at], values[charge_at]
        if not subscription or not charge_type:
            raise ValueError(f"row {index}: empty SubscriptionId or ChargeType")
        cell = (query_type, usage_date, str(subscription), str(charge_type), currency)
        cells[cell] = cells.get(cell, Decimal(0)) + cost
    return cells


def window_totals(
    result: Mapping[str, Any], *, query_type: str
) -> dict[tuple[str, str, str, str], Decimal]:
    """One `window_totals_definition` answer page as (query type, subscription, charge type,
    currency) -> cost, spelled as answered (a group answered twice is summed). Raises
    ValueError naming the row and column of a value it cannot use."""
    properties = result_properties(result)
    positions, cost_column, currency_at = _totals_columns(
        properties, "window totals", DISCOVERY_GROUPING
    )
    cost_at = positions[cost_column.lower()]
    sub_at, charge_at = positions["subscriptionid"], positions["chargetype"]
    totals: dict[tuple[str, str, str, str], Decimal] = {}
    for index, values in _checked_rows(properties):
        try:
            cost = _parse_cost(values[cost_at])
        except ValueError as exc:
            raise ValueError(f"row {index}, column {cost_column}: {exc}") from None
        currency = "USD" if currency_at is None else values[currency_at]
        if not currency or not isinstance(currency, str):
            raise ValueError(f"row {index}, column Currency: {currency!r} is not a currency")
        subscription, charge_type = values[sub_at], values[charge_at]
        if not subscription or not charge_type:
            raise ValueError(f"row {index}: empty SubscriptionId or ChargeType")
        key = (query_type, str(subscription), str(charge_type), currency)
        totals[key] = totals.get(key, Decimal(0)) + cost
    return totals


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


def _checked_rows(properties: Mapping[str, Any]) -> Iterator[tuple[int, list[Any]]]:
    """(index, values) of an answer's rows, each as wide as its columns (else a ValueError)."""
    width = len(properties.get("columns") or [])
    for index, values in enumerate(properties.get("rows") or []):
        if len(values) != width:
            raise ValueError(f"row {index}: has {len(values)} values for {width} columns")
        yield index, values


def _grouped_columns(
    properties: Mapping[str, Any], answer: str, *grouped: str
) -> tuple[dict[str, int], str, int | None]:
    """The columns of a commitment or tag answer, each checked: positions by lower-cased
    name, the cost column's name and the Currency column's position (None for CostUSD, in
    USD whatever the currency column says). Every such answer has UsageDate, ServiceName
    and its `grouped` columns; a missing one is a ValueError naming the `answer` kind."""
    positions = _column_positions(properties)
    cost_column = next((c for c in COST_COLUMNS if c.lower() in positions), None)
    if cost_column is None:
        raise ValueError(f"Query API result has none of the cost columns {COST_COLUMNS}")
    for name in ("UsageDate", "ServiceName", *grouped):
        if name.lower() not in positions:
            raise ValueError(f"{answer} answer has no {name} column")
    currency_at = None if cost_column == "CostUSD" else positions.get("currency")
    if cost_column != "CostUSD" and currency_at is None:
        raise ValueError("Query API result has no Currency column")
    return positions, cost_column, currency_at


def _cost_day_currency(
    index: int,
    values: Sequence[Any],
    cost: tuple[str, int],
    date_at: int,
    currency_at: int | None,
    currency_otherwise: str | None,
) -> tuple[Decimal, int, str]:
    """A row's cost (column name, position), UsageDate and currency (its column, else
    `currency_otherwise`), each checked; a ValueError names the row, the column and the value."""
    cost_column, cost_at = cost
    try:
        amount = _parse_cost(values[cost_at])
    except ValueError as exc:
        raise ValueError(f"row {index}, column {cost_column}: {exc}") from None
    try:
        usage_date = parse_usage_date(values[date_at])
    except ValueError as exc:
        raise ValueError(f"row {index}, column UsageDate: {values[date_at]!r}: {exc}") from None
    currency = values[currency_at] if currency_at is not None else currency_otherwise
    if not currency or not isinstance(currency, str):
        raise ValueError(f"row {index}, column Currency: {currency!r} is not a currency")
    return amount, usage_date, currency


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

    rows: list[dict[str, Any]] = []
    for index, values in _checked_rows(properties):
        cost, usage_date, currency = _cost_day_currency(
            index, values, (cost_column, cost_at), date_at, currency_at, currency_fixed
        )
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


# ---------------------------------------------------------------------- commitments


def _and(*filters: dict[str, Any]) -> dict[str, Any]:
    return filters[0] if len(filters) == 1 else {"and": list(filters)}


def _dimension_in(name: str, values: Sequence[str]) -> dict[str, Any]:
    return {"dimensions": {"name": name, "operator": "In", "values": list(values)}}


def pricing_definition(start: date, end: date, subscription_id: str) -> dict[str, Any]:
    """The pricing query of one subscription and month: AmortizedCost Usage, Daily, grouped
    by ServiceName and PricingModel (`PRICING_GROUPING`)."""
    return _query_definition(
        "AmortizedCost",
        start,
        end,
        PRICING_GROUPING,
        daily=True,
        where=_and(
            _dimension_filter("SubscriptionId", subscription_id),
            _dimension_filter("ChargeType", "Usage"),
        ),
    )


def benefit_definition(
    query_type: str, start: date, end: date, subscription_id: str, charge_type: str
) -> dict[str, Any]:
    """The benefit query of one (subscription, charge type) pair and month: Daily, grouped by
    ServiceName and BenefitId (`BENEFIT_GROUPING`); for Usage only the rows a reservation or
    savings plan priced (PricingModel In `COMMITTED_PRICING_MODELS`)."""
    filters = [
        _dimension_filter("SubscriptionId", subscription_id),
        _dimension_filter("ChargeType", charge_type),
    ]
    if charge_type == "Usage":
        filters.append(_dimension_in("PricingModel", COMMITTED_PRICING_MODELS))
    return _query_definition(
        query_type, start, end, BENEFIT_GROUPING, daily=True, where=_and(*filters)
    )


def benefit_names_definition(start: date, end: date) -> dict[str, Any]:
    """Cost per BenefitId x BenefitName over [start, end) of the reservation and savings plan
    rows: names of benefits the benefits lists did not name (no Reservations Reader role)."""
    return _query_definition(
        "AmortizedCost",
        start,
        end,
        BENEFIT_NAMES_GROUPING,
        where=_dimension_in("PricingModel", COMMITTED_PRICING_MODELS),
    )


def benefit_queries(
    pairs: Sequence[tuple[str, str]], query_type: str, committed_subscriptions: Sequence[str]
) -> list[tuple[str, str]]:
    """The (subscription, charge type) pairs of one month and query type that get a benefit
    query: the discovered pairs of a benefit charge type (`BENEFIT_CHARGE_TYPES`), and the
    Usage of the subscriptions whose pricing answer has a committed pricing model."""
    wanted = [(s, c) for s, c in pairs if c in BENEFIT_CHARGE_TYPES.get(query_type, ())]
    if query_type == "AmortizedCost":
        wanted += [(s, "Usage") for s in committed_subscriptions]
    return list(dict.fromkeys(wanted))


def _text_value(value: Any) -> str | None:
    """A grouping value as text; '' and null (the API's "no value") as None."""
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def pricing_models(result: Mapping[str, Any]) -> set[str]:
    """The PricingModel values (committed or not) of one pricing answer page."""
    properties = result_properties(result)
    positions = _column_positions(properties)
    if "pricingmodel" not in positions:
        raise ValueError("pricing answer has no PricingModel column")
    at = positions["pricingmodel"]
    return {text for values in properties.get("rows") or [] if (text := _text_value(values[at]))}


def is_committed(pricing_model: str | None) -> bool:
    """Whether a PricingModel value is a reservation's or savings plan's (any spelling)."""
    normal = (pricing_model or "").replace(" ", "").lower()
    return normal in {m.lower() for m in COMMITTED_PRICING_MODELS}


def commitment_rows(
    result: Mapping[str, Any],
    *,
    query_type: str,
    breakdown: str,
    fixed: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Map one pricing or benefit answer page to `raw.azure_commitment_costs` rows.

    `breakdown` is the grouping besides ServiceName: 'PricingModel' (`pricing_definition`)
    or 'BenefitId' (`benefit_definition`). `fixed` gives SubscriptionId, ChargeType and
    optionally SubscriptionName (the query's filter pins them). An empty BenefitId is kept
    as null on a Purchase row (a purchase of no reservation or savings plan, e.g. a
    Marketplace one) and refused on the other charge types, whose query only has rows of a
    benefit. Raises ValueError naming the row index, the column and the value it cannot use.
    """
    if query_type not in QUERY_TYPES:
        raise ValueError(f"query_type must be one of {QUERY_TYPES}, got {query_type!r}")
    if breakdown not in BREAKDOWNS:
        raise ValueError(f"breakdown must be one of {BREAKDOWNS}, got {breakdown!r}")
    fixed_by_name = {str(k).lower(): v for k, v in fixed.items()}
    subscription = _text_value(fixed_by_name.get("subscriptionid"))
    charge_type = _text_value(fixed_by_name.get("chargetype"))
    if subscription is None or charge_type is None:
        raise ValueError("fixed must give the SubscriptionId and ChargeType the query filtered on")
    properties = result_properties(result)
    positions, cost_column, currency_at = _grouped_columns(properties, breakdown, breakdown)
    cost_at, date_at = positions[cost_column.lower()], positions["usagedate"]
    service_at, key_at = positions["servicename"], positions[breakdown.lower()]
    name_at = positions.get("benefitname")
    benefit_required = breakdown == BREAKDOWN_BENEFIT and charge_type != "Purchase"
    rows: list[dict[str, Any]] = []
    for index, values in _checked_rows(properties):
        cost, usage_date, currency = _cost_day_currency(
            index, values, (cost_column, cost_at), date_at, currency_at, "USD"
        )
        service = values[service_at]
        if service is None:
            raise ValueError(f"row {index}, column ServiceName: value is null")
        key = _text_value(values[key_at])
        if key is None and benefit_required:
            raise ValueError(
                f"row {index}, column BenefitId: {values[key_at]!r} on a {charge_type} row "
                "of a benefit query, which only has rows of a reservation or savings plan"
            )
        rows.append(
            {
                "usage_date": usage_date,
                "query_type": query_type,
                "breakdown": breakdown,
                "subscription_id": subscription,
                "subscription_name": _text_value(fixed_by_name.get("subscriptionname")),
                "service_name": str(service),
                "charge_type": charge_type,
                "pricing_model": key if breakdown == BREAKDOWN_PRICING else None,
                "benefit_id": key if breakdown == BREAKDOWN_BENEFIT else None,
                "benefit_name": None if name_at is None else _text_value(values[name_at]),
                "cost": cost,
                "currency": currency,
            }
        )
    return rows


def benefit_names(result: Mapping[str, Any]) -> dict[str, str]:
    """Lower-cased BenefitId -> BenefitName of one `benefit_names_definition` answer page
    (empty ids and names left out)."""
    properties = result_properties(result)
    positions = _column_positions(properties)
    if "benefitid" not in positions or "benefitname" not in positions:
        raise ValueError("answer has no BenefitId / BenefitName column")
    names = {}
    for values in properties.get("rows") or []:
        benefit = _text_value(values[positions["benefitid"]])
        name = _text_value(values[positions["benefitname"]])
        if benefit and name:
            names[benefit.lower()] = name
    return names


# ---------------------------------------------------------------------- tags


def tag_definition(
    query_type: str, start: date, end: date, subscription_id: str, tag_key: str
) -> dict[str, Any]:
    """The tag query of one subscription, month, query type and allocation key: Daily,
    grouped by the tag `tag_key` (TagKey) and ServiceName (`TAG_GROUPING`), filtered on the
    subscription (see "Tags" above)."""
    if not tag_key.strip():
        raise ValueError("tag_key is empty")
    return _query_definition(
        query_type,
        start,
        end,
        TAG_GROUPING,
        daily=True,
        where=_dimension_filter("SubscriptionId", subscription_id),
        tag_key=tag_key,
    )


def tag_rows(
    result: Mapping[str, Any],
    *,
    query_type: str,
    allocation_key: str,
    fixed: Mapping[str, str],
) -> list[dict[str, Any]]:
    """Map one tag answer page to `raw.azure_cost_management_tags` rows.

    `allocation_key` is the key the query grouped by, as configured; `fixed` gives the
    SubscriptionId the query filtered on. Columns read: the cost column (`COST_COLUMNS`),
    UsageDate, ServiceName, TagKey, TagValue and Currency (see "Tags" above). Raises
    ValueError naming the row index, the column and the value it cannot use: a TagKey that
    is not `allocation_key` (in any case), a TagValue without a TagKey, a null ServiceName.
    """
    if query_type not in QUERY_TYPES:
        raise ValueError(f"query_type must be one of {QUERY_TYPES}, got {query_type!r}")
    fixed_by_name = {str(k).lower(): v for k, v in fixed.items()}
    subscription = _text_value(fixed_by_name.get("subscriptionid"))
    if subscription is None:
        raise ValueError("fixed must give the SubscriptionId the query filtered on")
    properties = result_properties(result)
    positions, cost_column, currency_at = _grouped_columns(properties, "tag", "TagKey", "TagValue")
    cost_at, date_at = positions[cost_column.lower()], positions["usagedate"]
    service_at = positions["servicename"]
    key_at, value_at = positions["tagkey"], positions["tagvalue"]
    wanted = allocation_key.lower()
    rows: list[dict[str, Any]] = []
    for index, values in _checked_rows(properties):
        cost, usage_date, currency = _cost_day_currency(
            index, values, (cost_column, cost_at), date_at, currency_at, "USD"
        )
        service = values[service_at]
        if service is None:
            raise ValueError(f"row {index}, column ServiceName: value is null")
        answered, value = values[key_at], values[value_at]
        tag_key = _text_value(answered)
        if tag_key is None:
            if _text_value(value) is not None:
                raise ValueError(
                    f"row {index}, column TagValue: {value!r} on a row without a TagKey"
                )
            tag_value = None
        elif tag_key.lower() != wanted:
            raise ValueError(
                f"row {index}, column TagKey: {answered!r} is not the key the query grouped "
                f"by ({allocation_key!r})"
            )
        else:
            tag_value = "" if value is None else str(value)
        rows.append(
            {
                "usage_date": usage_date,
                "query_type": query_type,
                "subscription_id": subscription,
                "service_name": str(service),
                "allocation_key": allocation_key,
                "tag_key": tag_key,
                "tag_value": tag_value,
                "cost": cost,
                "currency": currency,
            }
        )
    return rows


def _timestamp(value: Any, where: str) -> datetime | None:
    """An ISO 8601 date or date-time (any fraction digits, 'Z') as naive UTC; None if empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise ValueError(f"{where}: {value!r} is not a date-time")
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{where}: {value!r} is not a date-time") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment


def benefit_row(item: Mapping[str, Any], *, kind: str, as_of: date, index: int) -> dict[str, Any]:
    """One `raw.azure_commitments` row from one item of the reservations (`kind`
    'Reservation') or savings plans ('SavingsPlan') list, as of `as_of` (the last day of the
    load window). Fields read: id, sku.name and properties.displayName, term, billingPlan,
    userFriendlyAppliedScopeType (else appliedScopeType), reservedResourceType,
    displayProvisioningState (else provisioningState), commitment {amount, currencyCode,
    grain}, purchaseDateTime (else purchaseDate), benefitStartTime, effectiveDateTime,
    expiryDateTime (else expiryDate). Raises ValueError naming the item and the field."""
    if kind not in BENEFIT_LISTS:
        raise ValueError(f"kind must be one of {tuple(BENEFIT_LISTS)}, got {kind!r}")
    where = f"{kind} list item {index}"
    benefit_id = _text_value(item.get("id"))
    if benefit_id is None:
        raise ValueError(f"{where}: no id")
    where = f"{where} ({benefit_id})"
    props = item.get("properties") or {}
    sku = item.get("sku") or {}
    commitment = props.get("commitment") or {}
    amount = commitment.get("amount")
    if amount is not None:
        try:
            amount = _parse_cost(amount)
        except ValueError as exc:
            raise ValueError(f"{where}: commitment.amount: {exc}") from None

    def text(name: str) -> str | None:
        return _text_value(props.get(name))

    def moment(*names: str) -> datetime | None:
        for name in names:
            if (value := _timestamp(props.get(name), f"{where}: {name}")) is not None:
                return value
        return None

    return {
        "as_of_date": as_of,
        "benefit_kind": kind,
        "benefit_id": benefit_id,
        "display_name": text("displayName"),
        "sku_name": _text_value(sku.get("name")),
        "term": text("term"),
        "billing_plan": text("billingPlan"),
        "applied_scope_type": text("userFriendlyAppliedScopeType") or text("appliedScopeType"),
        "reserved_resource_type": text("reservedResourceType"),
        "provisioning_state": text("displayProvisioningState") or text("provisioningState"),
        "commitment_amount": amount,
        "commitment_currency": _text_value(commitment.get("currencyCode")),
        "commitment_grain": _text_value(commitment.get("grain")),
        "purchase_time": moment("purchaseDateTime", "purchaseDate"),
        "benefit_start_time": moment("benefitStartTime"),
        "effective_time": moment("effectiveDateTime"),
        "expiry_time": moment("expiryDateTime", "expiryDate"),
    }


# ---------------------------------------------------------------------- price details
#
# The Query API aggregates Cost only: no list (pay-as-you-go) or contracted (negotiated)
# price. The Cost Details API (`generateCostDetailsReport`, an asynchronous report of the
# unaggregated cost details rows as CSV) has them per row. Per scope and calendar month (the
# API takes a `timePeriod` of one month or less) the client requests one AmortizedCost
# report, polls it, downloads its CSV blob(s) and feeds their rows to `PriceDetails`, which
# sums them to the grain of `raw.azure_commitment_costs` (day x subscription x service x
# charge type x pricing model x benefit x currency). Columns are found by name, case- and
# space-insensitively, because EA and MCA files spell them differently (`PRICE_COLUMNS`):
#
#   list cost       = paygCostInBillingCurrency where the file has it (MCA), else
#                     PayGPrice x Quantity x exchangeRatePricingToBilling (1 without one: EA)
#   contracted cost = UnitPrice x Quantity x exchangeRatePricingToBilling
#   effective cost  = CostInBillingCurrency (the AmortizedCost report: amortized)
#
# An empty price or quantity counts as 0 - Microsoft leaves PayGPrice empty on EA rows priced
# by a reservation, savings plan, spot or Marketplace ("understand cost details fields"), and a
# 0 list price is what the marts count as a missing one. Anything else that is not a number,
# a missing column, an unusable date or an empty subscription / charge type / currency is a
# ValueError naming the blob, the row and the field.

PRICE_DETAILS_METRIC = "AmortizedCost"
# Output field -> the CSV column names that may hold it (first present wins), lower-cased
# without spaces: EA files write PascalCase (Date, SubscriptionId, MeterCategory, ChargeType,
# PricingModel, BenefitId, BillingCurrencyCode, Quantity, PayGPrice, UnitPrice,
# CostInBillingCurrency), MCA files camelCase (date, subscriptionId, meterCategory, chargeType,
# pricingModel, benefitId, billingCurrency, quantity, payGPrice, unitPrice,
# costInBillingCurrency, paygCostInBillingCurrency, exchangeRatePricingToBilling).
# MeterCategory is what the Query API's ServiceName dimension groups by, so it comes first.
PRICE_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": ("date", "usagedate"),
    "subscription_id": ("subscriptionid", "subscriptionguid"),
    "service_name": ("metercategory", "servicename"),
    "charge_type": ("chargetype",),
    "pricing_model": ("pricingmodel",),
    "benefit_id": ("benefitid", "reservationid"),
    "currency": ("billingcurrency", "billingcurrencycode"),
    "quantity": ("quantity",),
    "payg_price": ("paygprice",),
    "payg_cost": ("paygcostinbillingcurrency",),
    "unit_price": ("unitprice",),
    "exchange_rate": ("exchangeratepricingtobilling",),
    "effective_cost": ("costinbillingcurrency", "cost"),
}
# Columns a file must have; the others are optional (see above).
REQUIRED_PRICE_COLUMNS = (
    "date",
    "subscription_id",
    "service_name",
    "charge_type",
    "currency",
    "quantity",
    "unit_price",
    "effective_cost",
)
PRICE_KEY = (
    "usage_date",
    "subscription_id",
    "service_name",
    "charge_type",
    "pricing_model",
    "benefit_id",
    "currency",
)


def cost_details_definition(
    start: date, end: date, metric: str = PRICE_DETAILS_METRIC
) -> dict[str, Any]:
    """The generateCostDetailsReport request body for the half-open window [start, end) of
    at most one month: the metric (AmortizedCost for prices; ActualCost too for details from
    reports), `timePeriod` start and (inclusive) end dates."""
    if metric not in QUERY_TYPES:
        raise ValueError(f"metric must be one of {QUERY_TYPES}, got {metric!r}")
    last = date.fromordinal(end.toordinal() - 1)
    if last < start:
        raise ValueError(f"empty window [{start}, {end})")
    return {
        "metric": metric,
        "timePeriod": {"start": start.isoformat(), "end": last.isoformat()},
    }


def parse_cost_details_date(value: str) -> int:
    """A cost details Date (MM/DD/YYYY as the files write it, or ISO 8601) as YYYYMMDD."""
    text = value.strip()
    if "/" in text:
        month, day, year = text.split(" ")[0].split("/")
        moment = date(int(year), int(month), int(day))
    else:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00")).date()
    return moment.year * 10000 + moment.month * 100 + moment.day


def _csv_number(value: str | None) -> Decimal:
    """A CSV number; empty counts as 0 (see above)."""
    if value is None or not value.strip():
        return Decimal(0)
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise ValueError(f"{value!r} is not a finite number")
    return number


def report_csv(
    rows: Iterable[Sequence[str]],
    blob: str,
    columns: Mapping[str, tuple[str, ...]],
    required: Sequence[str],
) -> tuple[dict[str, int | None], Iterator[tuple[str, Sequence[str]]]]:
    """A Cost Details CSV (`rows`, the first its header): the position of each of `columns`
    (field -> the column names that may hold it, lower-cased without spaces, first present
    wins; None when absent) and its data lines as (where, values), blank lines skipped.
    ValueError naming `blob` (and the row: 1 = the first data row) for an empty file, a
    missing `required` column or a line with the wrong number of fields."""
    iterator = iter(rows)
    header = next(iterator, None)
    if header is None:
        raise ValueError(f"{blob}: empty file (no header)")
    positions = {
        str(name).lstrip("\ufeff").replace(" ", "").lower(): at for at, name in enumerate(header)
    }
    at = {
        name: next((positions[n] for n in names if n in positions), None)
        for name, names in columns.items()
    }
    missing = [" / ".join(columns[name]) for name in required if at[name] is None]
    if missing:
        raise ValueError(f"{blob}: no column {', '.join(missing)} in the header")

    def lines() -> Iterator[tuple[str, Sequence[str]]]:
        for number, values in enumerate(iterator, start=1):
            if not any(v.strip() for v in values):
                continue  # a blank line (e.g. at the end of the file)
            if len(values) != len(header):
                raise ValueError(
                    f"{blob}, row {number}: has {len(values)} fields for {len(header)} columns"
                )
            yield f"{blob}, row {number}", values

    return at, lines()


class PriceDetails:
    """Cost details CSV rows summed to the `raw.azure_price_details` grain (pure: it is
    fed rows, it reads nothing). `add_csv` once per blob, then `rows()`."""

    def __init__(self, window: tuple[date, date] | None = None) -> None:
        self._sums: dict[tuple[Any, ...], list[Any]] = {}
        self._window = window
        self._skipped: tuple[int, int] | None = None
        self.csv_rows = 0

    def skip_outside_window(self, period: tuple[date, date]) -> None:
        """Lines of `period` outside the window are skipped, not refused: a report of that
        period read earlier and fed again (the window check's), whose other days are not
        this report's."""
        self._skipped = (
            int(period[0].strftime("%Y%m%d")),
            int(period[1].strftime("%Y%m%d")),
        )

    def add_csv(self, rows: Iterable[Sequence[str]], *, blob: str) -> int:
        """Sum one CSV's rows (the first is the header); returns its data rows. Raises
        ValueError naming `blob`, the row number (1 = the first data row) and the field."""
        at, lines = report_csv(rows, blob, PRICE_COLUMNS, REQUIRED_PRICE_COLUMNS)
        lo = hi = None
        if self._window is not None:
            lo = int(self._window[0].strftime("%Y%m%d"))
            hi = int(self._window[1].strftime("%Y%m%d"))
        count = 0
        for where, values in lines:
            self._add(values, at, where, lo, hi)
            count += 1
        self.csv_rows += count
        return count

    def _add(
        self,
        values: Sequence[str],
        at: Mapping[str, int | None],
        where: str,
        lo: int | None,
        hi: int | None,
    ) -> None:
        def text(name: str) -> str:
            position = at[name]
            return "" if position is None else values[position].strip()

        def number(name: str) -> Decimal:
            position = at[name]
            try:
                return _csv_number(None if position is None else values[position])
            except ValueError as exc:
                raise ValueError(f"{where}, field {name}: {exc}") from None

        try:
            usage_date = parse_cost_details_date(text("date"))
        except (ValueError, IndexError):
            raise ValueError(f"{where}, field date: {text('date')!r} is not a date") from None
        if lo is not None and hi is not None and not lo <= usage_date < hi:
            if self._skipped is not None and self._skipped[0] <= usage_date < self._skipped[1]:
                return
            raise ValueError(
                f"{where}, field date: {text('date')!r} is outside the report's period"
            )
        for name in ("subscription_id", "charge_type", "currency"):
            if not text(name):
                raise ValueError(f"{where}, field {name}: empty")
        quantity = number("quantity")
        rate = number("exchange_rate") if text("exchange_rate") else Decimal(1)
        if at["payg_cost"] is not None and text("payg_cost"):
            list_cost = number("payg_cost")
        else:
            list_cost = number("payg_price") * quantity * rate
        contracted = number("unit_price") * quantity * rate
        effective = number("effective_cost")
        key = (
            usage_date,
            text("subscription_id"),
            text("service_name"),
            text("charge_type"),
            text("pricing_model") or None,
            text("benefit_id") or None,
            text("currency"),
        )
        sums = self._sums.setdefault(key, [Decimal(0), Decimal(0), Decimal(0), 0])
        sums[0] += list_cost
        sums[1] += contracted
        sums[2] += effective
        sums[3] += 1

    def rows(self) -> list[dict[str, Any]]:
        """`raw.azure_price_details` rows, amounts at the raw column's scale."""
        out = []
        for key, (list_cost, contracted, effective, count) in self._sums.items():
            out.append(
                {
                    **dict(zip(PRICE_KEY, key, strict=True)),
                    "list_cost": list_cost.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN),
                    "contracted_cost": contracted.quantize(
                        AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN
                    ),
                    "effective_cost": effective.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN),
                    "detail_rows": count,
                }
            )
        return out


def report_blobs(result: Mapping[str, Any]) -> tuple[list[str], bool]:
    """The blob links of a completed cost details operation (its `manifest.blobs[].blobLink`)
    and whether they are compressed (`manifest.compressData`); ValueError when it did not
    complete or names no usable link."""
    status = str(result.get("status") or "")
    if status.lower() != "completed":
        error = result.get("error") or {}
        raise ValueError(
            f"report status {status or 'missing'}"
            + (f": {error.get('code')} {error.get('message')}" if error else "")
        )
    manifest = result.get("manifest") or {}
    links = []
    for index, blob in enumerate(manifest.get("blobs") or []):
        link = (blob or {}).get("blobLink")
        if not link or not isinstance(link, str):
            raise ValueError(f"manifest blob {index} has no blobLink")
        links.append(link)
    return links, bool(manifest.get("compressData"))


# ---------------------------------------------------------------------- details from reports
#
# A change-detecting load asks, per changed (query type, subscription, charge type), a detail
# query, per subscription with amortized usage a pricing query and per committed pair a
# benefit query: about four Query API queries per subscription for a new day, which a scope
# spanning many subscriptions (a billing account, a billing profile, an EA enrollment or
# department) pays once per subscription. One Cost Details report per query type holds all
# of it: each of its lines names the subscription, MeterCategory (what the Query API's
# ServiceName groups by), ResourceLocation, ChargeType, PricingModel, BenefitId and
# CostInBillingCurrency. `ReportDetails` (FINOPS_AZURE_DETAILS_FROM_REPORTS) sums one
# report's lines to the rows those queries would have answered, for the given asks only:
#
#   costs       the detail queries: day x subscription x service x location x charge type
#               x currency, every line of an ask's (subscription, charge type) and days;
#   pricing     the pricing queries: AmortizedCost Usage lines by day x subscription x
#               service x pricing model x currency;
#   benefits    the benefit queries: the lines of a benefit charge type (ActualCost
#               Purchase, AmortizedCost UnusedReservation / UnusedSavingsPlan) and the
#               AmortizedCost Usage lines a reservation or savings plan priced, by day x
#               subscription x service x benefit x currency.
#
# The rows carry the ask's spelling of the subscription and charge type (what a query's
# filter would have pinned), no subscription or benefit name (named afterwards as the query
# rows are). `cells()` sums the same lines to the totals query's cells: the caller checks
# each ask against the totals it already has and asks the Query API for any ask whose
# report sums differ (a report cut before a late restatement, rounding of the line items).

REPORT_DETAIL_COLUMNS: dict[str, tuple[str, ...]] = {
    "date": PRICE_COLUMNS["date"],
    "subscription_id": PRICE_COLUMNS["subscription_id"],
    "service_name": PRICE_COLUMNS["service_name"],
    "resource_location": ("resourcelocation",),
    "charge_type": PRICE_COLUMNS["charge_type"],
    "pricing_model": PRICE_COLUMNS["pricing_model"],
    "benefit_id": PRICE_COLUMNS["benefit_id"],
    "currency": PRICE_COLUMNS["currency"],
    "cost": PRICE_COLUMNS["effective_cost"],
}
REQUIRED_REPORT_DETAIL_COLUMNS = (
    "date",
    "subscription_id",
    "service_name",
    "resource_location",
    "charge_type",
    "pricing_model",
    "currency",
    "cost",
)


class ReportDetails:
    """One Cost Details report of `query_type` (its metric) summed to the detail, pricing and
    benefit rows of `asks` (each with query_type, subscription_id, charge_type, start, end;
    the others are ignored). Pure: it is fed CSV rows, it reads nothing. `add_csv` once per
    blob, then `rows()`, `commitment_rows()` and `cells()`."""

    def __init__(self, query_type: str, asks: Iterable[Any]) -> None:
        if query_type not in QUERY_TYPES:
            raise ValueError(f"query_type must be one of {QUERY_TYPES}, got {query_type!r}")
        self.query_type = query_type
        # (lower-cased subscription, lower-cased charge type) -> [(lo, hi, ask)], YYYYMMDD
        self._asks: dict[tuple[str, str], list[tuple[int, int, Any]]] = {}
        for ask in asks:
            if ask.query_type != query_type:
                continue
            lo = ask.start.year * 10000 + ask.start.month * 100 + ask.start.day
            hi = ask.end.year * 10000 + ask.end.month * 100 + ask.end.day
            key = (ask.subscription_id.lower(), ask.charge_type.lower())
            self._asks.setdefault(key, []).append((lo, hi, ask))
        self._costs: dict[tuple[Any, ...], Decimal] = {}
        self._pricing: dict[tuple[Any, ...], Decimal] = {}
        self._benefits: dict[tuple[Any, ...], Decimal] = {}
        self.csv_rows = 0

    def ask_of(self, subscription_id: str, charge_type: str, usage_date: int) -> Any | None:
        """The ask a line of (subscription, charge type, day) belongs to, if any."""
        for lo, hi, ask in self._asks.get((subscription_id.lower(), charge_type.lower()), ()):
            if lo <= usage_date < hi:
                return ask
        return None

    def add_csv(self, rows: Iterable[Sequence[str]], *, blob: str) -> int:
        """Sum one CSV's rows (the first is the header); returns its data rows. Raises
        ValueError naming `blob`, the row number (1 = the first data row) and the field."""
        at, lines = report_csv(rows, blob, REPORT_DETAIL_COLUMNS, REQUIRED_REPORT_DETAIL_COLUMNS)
        count = 0
        for where, values in lines:
            self._add(values, at, where)
            count += 1
        self.csv_rows += count
        return count

    def _add(self, values: Sequence[str], at: Mapping[str, int | None], where: str) -> None:
        def text(name: str) -> str:
            position = at[name]
            return "" if position is None else values[position].strip()

        try:
            usage_date = parse_cost_details_date(text("date"))
        except (ValueError, IndexError):
            raise ValueError(f"{where}, field date: {text('date')!r} is not a date") from None
        for name in ("subscription_id", "service_name", "charge_type", "currency"):
            if not text(name):
                raise ValueError(f"{where}, field {name}: empty")
        ask = self.ask_of(text("subscription_id"), text("charge_type"), usage_date)
        if ask is None:
            return  # a line of a cell the load keeps as stored
        try:
            cost = _csv_number(values[at["cost"]])  # type: ignore[index]
        except ValueError as exc:
            raise ValueError(f"{where}, field cost: {exc}") from None
        sub, charge, service = ask.subscription_id, ask.charge_type, text("service_name")
        currency, pricing_model = text("currency"), text("pricing_model") or None
        benefit_id = text("benefit_id") or None
        key = (usage_date, sub, service, text("resource_location"), charge, currency)
        self._costs[key] = self._costs.get(key, Decimal(0)) + cost
        if self.query_type == "AmortizedCost" and charge == "Usage":
            key = (usage_date, sub, service, pricing_model, currency)
            self._pricing[key] = self._pricing.get(key, Decimal(0)) + cost
        benefit_charge = charge in BENEFIT_CHARGE_TYPES.get(self.query_type, ())
        committed_usage = (
            self.query_type == "AmortizedCost" and charge == "Usage" and is_committed(pricing_model)
        )
        if benefit_charge or committed_usage:
            if benefit_id is None and charge != "Purchase":
                raise ValueError(
                    f"{where}, field benefit_id: empty on a {charge} line priced by a "
                    "reservation or savings plan"
                )
            key = (usage_date, sub, service, charge, benefit_id, currency)
            self._benefits[key] = self._benefits.get(key, Decimal(0)) + cost

    @staticmethod
    def _amount(value: Decimal) -> Decimal:
        return value.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN)

    def rows(self) -> list[dict[str, Any]]:
        """`raw.azure_cost_management` rows, as the asks' detail queries answer them."""
        return [
            {
                "usage_date": day,
                "query_type": self.query_type,
                "subscription_id": sub,
                "subscription_name": None,
                "service_name": service,
                "resource_location": location,
                "charge_type": charge,
                "cost": self._amount(cost),
                "currency": currency,
            }
            for (day, sub, service, location, charge, currency), cost in self._costs.items()
        ]

    def commitment_rows(self) -> list[dict[str, Any]]:
        """`raw.azure_commitment_costs` rows, as the asks' pricing and benefit queries answer
        them."""
        common = {"query_type": self.query_type, "subscription_name": None, "benefit_name": None}
        pricing = [
            {
                **common,
                "usage_date": day,
                "breakdown": BREAKDOWN_PRICING,
                "subscription_id": sub,
                "service_name": service,
                "charge_type": "Usage",
                "pricing_model": model,
                "benefit_id": None,
                "cost": self._amount(cost),
                "currency": currency,
            }
            for (day, sub, service, model, currency), cost in self._pricing.items()
        ]
        benefits = [
            {
                **common,
                "usage_date": day,
                "breakdown": BREAKDOWN_BENEFIT,
                "subscription_id": sub,
                "service_name": service,
                "charge_type": charge,
                "pricing_model": None,
                "benefit_id": benefit,
                "cost": self._amount(cost),
                "currency": currency,
            }
            for (day, sub, service, charge, benefit, currency), cost in self._benefits.items()
        ]
        return pricing + benefits

    def cells(self) -> dict[tuple[str, int, str, str, str], Decimal]:
        """(query type, usage date, subscription, charge type, currency) -> cost: the sums a
        totals query answers, for the asks' lines."""
        cells: dict[tuple[str, int, str, str, str], Decimal] = {}
        for (day, sub, _, _, charge, currency), cost in self._costs.items():
            key = (self.query_type, day, sub, charge, currency)
            cells[key] = cells.get(key, Decimal(0)) + cost
        return cells

    def without(self, asks: Iterable[Any]) -> None:
        """Drop the sums of `asks` (asked of the Query API instead)."""
        dropped = {(a.subscription_id, a.charge_type, a.start, a.end) for a in asks}
        if not dropped:
            return

        def kept(sub: str, charge: str, day: int) -> bool:
            ask = self.ask_of(sub, charge, day)
            return ask is None or (
                (ask.subscription_id, ask.charge_type, ask.start, ask.end) not in dropped
            )

        self._costs = {k: v for k, v in self._costs.items() if kept(k[1], k[4], k[0])}
        self._pricing = {k: v for k, v in self._pricing.items() if kept(k[1], "Usage", k[0])}
        self._benefits = {k: v for k, v in self._benefits.items() if kept(k[1], k[3], k[0])}
