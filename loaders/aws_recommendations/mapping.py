"""Pure mapping of Cost Optimization Hub and Cost Explorer recommendation answers to raw rows
(no I/O).

* Cost Optimization Hub ListRecommendations (2022-07-26): `items[]` of `{recommendationId,
  accountId, region, resourceId, resourceArn, currentResourceType, recommendedResourceType,
  estimatedMonthlySavings, estimatedSavingsPercentage, estimatedMonthlyCost, currencyCode,
  implementationEffort, restartNeeded, actionType, rollbackPossible, currentResourceSummary,
  recommendedResourceSummary, lastRefreshTimestamp, recommendationLookbackPeriodInDays,
  source, tags}`; amounts are numbers, the timestamp epoch seconds (boto3 hands a datetime).
* GetSavingsPlansPurchaseRecommendation: `SavingsPlansPurchaseRecommendation` with the
  query's type, term, payment option, look-back and account scope, and
  `SavingsPlansPurchaseRecommendationDetails[]` of `{SavingsPlansDetails: {Region,
  InstanceFamily, OfferingId}, AccountId, UpfrontCost, CurrencyCode, EstimatedSavingsPercentage,
  HourlyCommitmentToPurchase, EstimatedAverageUtilization, EstimatedMonthlySavingsAmount,
  RecommendationDetailId}`; amounts are strings.
* GetReservationPurchaseRecommendation: `Recommendations[]` with term, payment option,
  look-back and account scope, each with `RecommendationDetails[]` of `{AccountId,
  InstanceDetails: {EC2InstanceDetails | RDSInstanceDetails | ...: {InstanceType, Region,
  ...}}, RecommendedNumberOfInstancesToPurchase, UpfrontCost, CurrencyCode,
  EstimatedMonthlySavingsAmount, EstimatedMonthlySavingsPercentage,
  EstimatedMonthlyOnDemandCost}`; amounts are strings.

Every row keeps its item (a hub recommendation, a Savings Plans or reservation detail) as
JSON text, `item_json`: what the columns leave out (tags, instance details) stays readable.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from loaders.answer_fields import text as _text
from loaders.answer_fields import timestamp as _timestamp

SCALE = Decimal("0.0000000001")  # the raw tables' amounts: decimal(38, 10)


def amount(value: Any, field: str) -> Decimal | None:
    """An amount (number or numeric string) as an exact decimal at the raw tables' scale; None
    when absent; ValueError naming the field when it is not a number."""
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValueError(f"{field} is not a finite number: {value!r}")
    return number.quantize(SCALE)


def _required(item: dict[str, Any], key: str) -> str:
    value = _text(item.get(key))
    if value is None:
        raise ValueError(f"{key} is missing")
    return value


def hub_row(item: dict[str, Any], *, payer: str, snapshot: date) -> dict[str, Any]:
    """One Cost Optimization Hub recommendation as a raw row."""
    lookback = item.get("recommendationLookbackPeriodInDays")
    return {
        "snapshot_date": snapshot,
        "payer_account_id": payer,
        "recommendation_id": _required(item, "recommendationId"),
        "account_id": _text(item.get("accountId")),
        "region": _text(item.get("region")),
        "resource_id": _text(item.get("resourceId")),
        "resource_arn": _text(item.get("resourceArn")),
        "current_resource_type": _text(item.get("currentResourceType")),
        "recommended_resource_type": _text(item.get("recommendedResourceType")),
        "action_type": _text(item.get("actionType")),
        "estimated_monthly_savings": amount(
            item.get("estimatedMonthlySavings"), "estimatedMonthlySavings"
        ),
        "estimated_monthly_cost": amount(item.get("estimatedMonthlyCost"), "estimatedMonthlyCost"),
        "estimated_savings_percentage": amount(
            item.get("estimatedSavingsPercentage"), "estimatedSavingsPercentage"
        ),
        "currency_code": _text(item.get("currencyCode")),
        "implementation_effort": _text(item.get("implementationEffort")),
        "restart_needed": item.get("restartNeeded"),
        "rollback_possible": item.get("rollbackPossible"),
        "current_resource_summary": _text(item.get("currentResourceSummary")),
        "recommended_resource_summary": _text(item.get("recommendedResourceSummary")),
        "last_refresh_timestamp": _timestamp(
            item.get("lastRefreshTimestamp"), "lastRefreshTimestamp"
        ),
        "lookback_days": int(lookback) if lookback is not None else None,
        "recommendation_source": _text(item.get("source")),
        "item_json": as_json(item),
    }


def as_json(value: dict[str, Any]) -> str:
    """An answered item as JSON text, keys sorted (timestamps as boto3 hands them, in ISO)."""
    return json.dumps(value, sort_keys=True, default=_json_default)


def _json_default(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _digest(*parts: Any) -> str:
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def sp_rows(answer: dict[str, Any], *, payer: str, snapshot: date) -> list[dict[str, Any]]:
    """The details of one GetSavingsPlansPurchaseRecommendation page as raw rows."""
    recommendation = answer.get("SavingsPlansPurchaseRecommendation") or {}
    kind = _text(recommendation.get("SavingsPlansType"))
    rows = []
    for detail in recommendation.get("SavingsPlansPurchaseRecommendationDetails") or []:
        plan = detail.get("SavingsPlansDetails") or {}
        if kind is None:
            raise ValueError("SavingsPlansType is missing")
        rows.append(
            {
                "snapshot_date": snapshot,
                "payer_account_id": payer,
                "savings_plans_type": kind,
                "recommendation_id": _text(detail.get("RecommendationDetailId"))
                or _digest(detail.get("AccountId"), plan),
                "term_in_years": _text(recommendation.get("TermInYears")),
                "payment_option": _text(recommendation.get("PaymentOption")),
                "lookback_period": _text(recommendation.get("LookbackPeriodInDays")),
                "account_scope": _text(recommendation.get("AccountScope")),
                "account_id": _text(detail.get("AccountId")),
                "region": _text(plan.get("Region")),
                "instance_family": _text(plan.get("InstanceFamily")),
                "offering_id": _text(plan.get("OfferingId")),
                "hourly_commitment": amount(
                    detail.get("HourlyCommitmentToPurchase"), "HourlyCommitmentToPurchase"
                ),
                "upfront_cost": amount(detail.get("UpfrontCost"), "UpfrontCost"),
                "estimated_monthly_savings": amount(
                    detail.get("EstimatedMonthlySavingsAmount"), "EstimatedMonthlySavingsAmount"
                ),
                "estimated_savings_percentage": amount(
                    detail.get("EstimatedSavingsPercentage"), "EstimatedSavingsPercentage"
                ),
                "estimated_average_utilization": amount(
                    detail.get("EstimatedAverageUtilization"), "EstimatedAverageUtilization"
                ),
                "currency_code": _text(detail.get("CurrencyCode")),
                "item_json": as_json(detail),
            }
        )
    return rows


def _instance(details: dict[str, Any]) -> dict[str, Any]:
    """The one `<Service>InstanceDetails` object of an InstanceDetails."""
    found = [value for value in details.values() if isinstance(value, dict)]
    return found[0] if found else {}


def ri_rows(
    answer: dict[str, Any], *, service: str, payer: str, snapshot: date
) -> list[dict[str, Any]]:
    """The details of one GetReservationPurchaseRecommendation page as raw rows."""
    rows = []
    for recommendation in answer.get("Recommendations") or []:
        for detail in recommendation.get("RecommendationDetails") or []:
            details = detail.get("InstanceDetails") or {}
            instance = _instance(details)
            rows.append(
                {
                    "snapshot_date": snapshot,
                    "payer_account_id": payer,
                    "service": service,
                    "recommendation_id": _digest(
                        detail.get("AccountId"),
                        details,
                        recommendation.get("TermInYears"),
                        recommendation.get("PaymentOption"),
                    ),
                    "term_in_years": _text(recommendation.get("TermInYears")),
                    "payment_option": _text(recommendation.get("PaymentOption")),
                    "lookback_period": _text(recommendation.get("LookbackPeriodInDays")),
                    "account_scope": _text(recommendation.get("AccountScope")),
                    "account_id": _text(detail.get("AccountId")),
                    "region": _text(instance.get("Region")),
                    "instance_type": _text(
                        instance.get("InstanceType") or instance.get("NodeType")
                    ),
                    "instance_details": json.dumps(details, sort_keys=True) if details else None,
                    "recommended_instances": amount(
                        detail.get("RecommendedNumberOfInstancesToPurchase"),
                        "RecommendedNumberOfInstancesToPurchase",
                    ),
                    "upfront_cost": amount(detail.get("UpfrontCost"), "UpfrontCost"),
                    "estimated_monthly_savings": amount(
                        detail.get("EstimatedMonthlySavingsAmount"),
                        "EstimatedMonthlySavingsAmount",
                    ),
                    "estimated_monthly_savings_percentage": amount(
                        detail.get("EstimatedMonthlySavingsPercentage"),
                        "EstimatedMonthlySavingsPercentage",
                    ),
                    "estimated_monthly_on_demand_cost": amount(
                        detail.get("EstimatedMonthlyOnDemandCost"), "EstimatedMonthlyOnDemandCost"
                    ),
                    "currency_code": _text(detail.get("CurrencyCode")),
                    "item_json": as_json(detail),
                }
            )
    return rows
