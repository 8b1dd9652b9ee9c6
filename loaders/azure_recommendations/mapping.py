"""Pure mapping of Advisor and Consumption answers to raw rows (no I/O).

Advisor (Recommendations - List, api-version 2023-01-01): an item is `{id, name, type,
properties: {category, impact, impactedField, impactedValue, lastUpdated,
recommendationTypeId, shortDescription: {problem, solution}, resourceMetadata: {resourceId},
extendedProperties: {savingsAmount, annualSavingsAmount, savingsCurrency, currentSku,
targetSku, term, region, ...}}}`; extendedProperties values are strings.

Reservation Recommendations - List (Microsoft.Consumption, api-version 2023-05-01): `kind`
'legacy' (amounts are numbers, `sku` and `location` at the top) or 'modern' (amounts are
`{currency, value}` objects, `skuName` and `location` in properties, `currencyCode`).
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from loaders.answer_fields import text as _text
from loaders.answer_fields import timestamp as _timestamp
from loaders.azure_cost_management.mapping import _parse_cost as parse_cost

ADVISOR_ACTION_FIELDS = {
    "current_sku": ("currentSku", "currentSkuName"),
    "target_sku": ("targetSku", "recommendedSku", "targetSkuName"),
    "term": ("term",),
    "region": ("region", "location"),
}


def _amount(value: Any, field: str) -> Decimal | None:
    """An amount as an exact decimal at the raw tables' scale (the cost mapping's rule), a
    `{currency, value}` object's value; None when absent; ValueError naming the field."""
    if isinstance(value, dict):
        value = value.get("value")
    if value is None or value == "":
        return None
    try:
        return parse_cost(value)
    except ValueError as exc:
        raise ValueError(f"{field}: {exc}") from None


def advisor_row(item: dict[str, Any], *, subscription_id: str, snapshot: date) -> dict[str, Any]:
    """One raw.azure_advisor_recommendations row; ValueError naming the field otherwise."""
    if not isinstance(item, dict) or not item.get("id"):
        raise ValueError("an Advisor recommendation without an id")
    props = item.get("properties") or {}
    extended = props.get("extendedProperties") or {}
    if not isinstance(extended, dict):
        raise ValueError(f"{item['id']}: extendedProperties is not an object")
    short = props.get("shortDescription") or {}
    row: dict[str, Any] = {
        "snapshot_date": snapshot,
        "subscription_id": subscription_id,
        "recommendation_id": str(item["id"]),
        "recommendation_name": _text(item.get("name")),
        "recommendation_type_id": _text(props.get("recommendationTypeId")),
        "category": _text(props.get("category")),
        "impact": _text(props.get("impact")),
        "impacted_field": _text(props.get("impactedField")),
        "impacted_value": _text(props.get("impactedValue")),
        "last_updated": _timestamp(props.get("lastUpdated"), "lastUpdated"),
        "problem": _text(short.get("problem")),
        "solution": _text(short.get("solution")),
        "resource_id": _text((props.get("resourceMetadata") or {}).get("resourceId")),
        "savings_amount": _amount(extended.get("savingsAmount"), "savingsAmount"),
        "annual_savings_amount": _amount(
            extended.get("annualSavingsAmount"), "annualSavingsAmount"
        ),
        "savings_currency": _text(extended.get("savingsCurrency")),
        "extended_properties": json.dumps(extended, sort_keys=True, default=str),
    }
    for column, names in ADVISOR_ACTION_FIELDS.items():
        row[column] = next((_text(extended[n]) for n in names if extended.get(n)), None)
    return row


def lookback_days(period: Any) -> int | None:
    """Days of a look-back period: 'Last7Days' -> 7, or a number of days as answered."""
    text = str(period or "").strip()
    if text.lower().startswith("last") and text.lower().endswith("days"):
        text = text[4:-4]
    return int(text) if text.isdigit() else None


def reservation_row(item: dict[str, Any], *, scope: str, snapshot: date) -> dict[str, Any]:
    """One raw.azure_reservation_recommendations row (legacy or modern answer)."""
    if not isinstance(item, dict) or not item.get("id"):
        raise ValueError("a reservation recommendation without an id")
    kind = str(item.get("kind") or "")
    if kind not in ("legacy", "modern"):
        raise ValueError(f"{item['id']}: kind must be legacy or modern, got {kind!r}")
    props = item.get("properties") or {}
    amounts = {
        column: props.get(name)
        for column, name in (
            ("cost_with_no_reserved_instances", "costWithNoReservedInstances"),
            ("total_cost_with_reserved_instances", "totalCostWithReservedInstances"),
            ("net_savings", "netSavings"),
        )
    }
    currencies = {v.get("currency") for v in amounts.values() if isinstance(v, dict)}
    currencies.discard(None)
    if len(currencies) > 1:
        raise ValueError(f"{item['id']}: amounts in several currencies {sorted(currencies)}")
    currency = next(iter(currencies), None) or props.get("currencyCode")
    return {
        "snapshot_date": snapshot,
        "scope": scope,
        "subscription_id": _text(props.get("subscriptionId")),
        "recommendation_id": str(item["id"]),
        "kind": kind,
        "location": _text(props.get("location") or item.get("location")),
        "sku_name": _text(props.get("skuName") or item.get("sku")),
        "normalized_size": _text(props.get("normalizedSize")),
        "resource_type": _text(props.get("resourceType")),
        "recommendation_scope": _text(props.get("scope")),
        "term": _text(props.get("term")),
        "look_back_period": _text(props.get("lookBackPeriod")),
        "recommended_quantity": _amount(props.get("recommendedQuantity"), "recommendedQuantity"),
        "meter_id": _text(props.get("meterId")),
        **{column: _amount(value, column) for column, value in amounts.items()},
        "currency": _text(currency),
        "first_usage_date": _timestamp(props.get("firstUsageDate"), "firstUsageDate"),
        "instance_flexibility_ratio": _amount(
            props.get("instanceFlexibilityRatio"), "instanceFlexibilityRatio"
        ),
        "instance_flexibility_group": _text(props.get("instanceFlexibilityGroup")),
    }
