"""Cost Explorer `GetCostAndUsage` pages -> rows of `raw.aws_cost_explorer` (pure, no I/O).

The query scheme
----------------
GetCostAndUsage groups by at most two dimensions, but the raw grain is
day x linked account x service x region x record type, so every full-grain query pins two of
the four dimensions with its `Filter` and groups by the other two. The loader's scheme - a
totals pass, then one query per changed (record type, region) slice grouped by
LINKED_ACCOUNT and SERVICE - is in `changes` (issue #20); `to_rows` maps a page of any
such query, whichever two dimensions it pins and groups by. `Metrics` are always
UnblendedCost (billed), AmortizedCost (effective) and UsageQuantity (`QUERY_METRICS`).

`to_rows` maps one response page. The page does not repeat which dimensions its group keys
belong to in a way we can rely on (`GroupDefinitions` is optional), nor the values the
`Filter` pinned, so the caller passes both: `group_by` (the request's GroupBy keys, in
order) and `fixed` (see `fixed_dimensions`, which reads them from the request's Filter).

Tag queries (`tag_request`, `tag_rows`): with allocation tag keys configured
(FINOPS_ALLOCATION_TAGS), one more DAILY query per key and linked account over the window,
`Filter` LINKED_ACCOUNT = the account, `GroupBy` TAG <key> and SERVICE, `Metrics`
UnblendedCost and AmortizedCost. Cost Explorer writes a tag group's key as `<key>$<value>`,
and `<key>$` for the costs without the tag; so one key's groups of an account add up to
that account's costs. The request names the key as configured: Cost Explorer's tag keys
are case-sensitive (`Team` and `team` are two cost allocation tags), so the configured
spelling must be the one activated in AWS Billing; a resource tagged in another case shows
as untagged. An answered key that differs from the requested one in more than case is
refused (a mix-up of answers, not a tag). A tag whose value is empty is answered as `<key>$`
too: Cost Explorer cannot tell it from no tag.

Values are kept as the API wrote them ("NoRegion", "global", negative credits, the
`Estimated` flag); cleaning them is dbt's job. Amounts are parsed from the API's decimal
strings into `Decimal` - never through float - and held at the raw column's scale
(10 decimal places, which is what Cost Explorer returns).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

QUERY_METRICS = ("UnblendedCost", "AmortizedCost", "UsageQuantity")
TAG_QUERY_METRICS = ("UnblendedCost", "AmortizedCost")
TAG_SEPARATOR = "$"

# The dimensions that together give a row its raw grain (besides the day).
REQUIRED_DIMENSIONS = ("LINKED_ACCOUNT", "SERVICE", "REGION", "RECORD_TYPE")

# decimal(38, 10) in the warehouse.
AMOUNT_QUANTUM = Decimal("1e-10")


def _time_period(start: date, end: date) -> dict[str, str]:
    return {"Start": start.isoformat(), "End": end.isoformat()}


def tag_request(start: date, end: date, linked_account_id: str, tag_key: str) -> dict[str, Any]:
    """The DAILY GetCostAndUsage request of one allocation tag key in one linked account,
    grouped by the tag (the key as configured: Cost Explorer's keys are case-sensitive) and
    SERVICE."""
    return {
        "TimePeriod": _time_period(start, end),
        "Granularity": "DAILY",
        "Filter": {
            "Dimensions": {
                "Key": "LINKED_ACCOUNT",
                "Values": [linked_account_id],
                "MatchOptions": ["EQUALS"],
            }
        },
        "Metrics": list(TAG_QUERY_METRICS),
        "GroupBy": [{"Type": "TAG", "Key": tag_key}, {"Type": "DIMENSION", "Key": "SERVICE"}],
    }


def page_account_names(page: Mapping[str, Any]) -> dict[str, str]:
    """Linked account id -> name, from a page's `DimensionValueAttributes` (description)."""
    names: dict[str, str] = {}
    for attribute in page.get("DimensionValueAttributes") or []:
        description = (attribute.get("Attributes") or {}).get("description")
        if attribute.get("Value") and description:
            names[str(attribute["Value"])] = str(description)
    return names


def fixed_dimensions(expression: Mapping[str, Any] | None) -> dict[str, str]:
    """The dimensions a request `Filter` pins to a single value (EQUALS), e.g. for `to_rows`.

    Reads a lone `Dimensions` expression or an `And` of them; anything else (Or, Not, tags,
    several values) pins nothing and is ignored, so the caller's check of the required
    dimensions reports what is missing.
    """
    if not expression:
        return {}
    parts = expression.get("And") or [expression]
    fixed: dict[str, str] = {}
    for part in parts:
        dims = part.get("Dimensions")
        if not dims:
            continue
        values = dims.get("Values") or []
        options = dims.get("MatchOptions") or ["EQUALS"]
        if len(values) == 1 and options == ["EQUALS"]:
            fixed[str(dims["Key"])] = str(values[0])
    return fixed


def _parse_amount(value: Any, where: str) -> Decimal:
    if value is None or isinstance(value, bool):
        raise ValueError(f"{where}: Amount is missing")
    try:
        # A str from the API; str() also keeps an int exact. A float (never sent by the API,
        # sometimes produced by hand-made JSON) goes through its shortest repr, not binary.
        amount = Decimal(value if isinstance(value, str) else str(value))
    except InvalidOperation:
        raise ValueError(f"{where}: Amount {value!r} is not a decimal number") from None
    if not amount.is_finite():
        raise ValueError(f"{where}: Amount {value!r} is not a finite number")
    return amount.quantize(AMOUNT_QUANTUM, rounding=ROUND_HALF_EVEN)


def _parse_day(value: Any, where: str) -> date:
    try:
        return date.fromisoformat(str(value)[:10])
    except (TypeError, ValueError):
        raise ValueError(f"{where}: {value!r} is not a YYYY-MM-DD date") from None


def _metric(
    metrics: Mapping[str, Any], name: str, where: str, *, required: bool
) -> tuple[Decimal | None, str | None]:
    metric = metrics.get(name)
    if metric is None:
        if required:
            raise ValueError(f"{where}: metric {name} is missing")
        return None, None
    amount = _parse_amount(metric.get("Amount"), f"{where}: metric {name}")
    unit = metric.get("Unit")
    if required and not unit:
        raise ValueError(f"{where}: metric {name} has no Unit")
    return amount, unit


def to_rows(
    page: Mapping[str, Any],
    *,
    group_by: Sequence[str],
    fixed: Mapping[str, str],
    account_names: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Map one GetCostAndUsage response page to `raw.aws_cost_explorer` rows.

    `group_by` are the request's GroupBy dimension keys in order, `fixed` the dimension
    values its Filter pins; together they must name LINKED_ACCOUNT, SERVICE, REGION and
    RECORD_TYPE. A group key wins over a fixed value of the same dimension. Account names
    come from `account_names`, else from the page's DimensionValueAttributes, else None.
    Raises ValueError naming the ResultsByTime index, group Keys and metric of a bad amount.
    """
    group_by = [str(key) for key in group_by]
    known = set(group_by) | set(fixed)
    missing = [dim for dim in REQUIRED_DIMENSIONS if dim not in known]
    if missing:
        raise ValueError(
            f"GetCostAndUsage page: dimension(s) {', '.join(missing)} are neither grouped by "
            f"(group_by={group_by}) nor pinned by the filter (fixed={sorted(fixed)})"
        )
    definitions = page.get("GroupDefinitions")
    if definitions:
        page_keys = [str(d.get("Key")) for d in definitions]
        if page_keys != group_by:
            raise ValueError(
                f"GetCostAndUsage page is grouped by {page_keys}, the caller said {group_by}"
            )

    names = page_account_names(page)
    if account_names:
        names.update(account_names)

    rows: list[dict[str, Any]] = []
    for index, result in enumerate(page.get("ResultsByTime") or []):
        where_day = f"ResultsByTime[{index}]"
        period = result.get("TimePeriod") or {}
        start = _parse_day(period.get("Start"), f"{where_day}.TimePeriod.Start")
        end = _parse_day(period.get("End"), f"{where_day}.TimePeriod.End")
        estimated = bool(result.get("Estimated", False))
        groups = result.get("Groups") or []
        if not group_by:
            # Nothing grouped: the day's single value is in Total.
            groups = (
                [{"Keys": [], "Metrics": result.get("Total") or {}}] if result.get("Total") else []
            )
        for group in groups:
            keys = list(group.get("Keys") or [])
            where = f"{where_day} group Keys={keys}"
            if len(keys) != len(group_by):
                raise ValueError(f"{where}: expected {len(group_by)} key(s) for {group_by}")
            dims = {**fixed, **dict(zip(group_by, keys, strict=True))}
            metrics = group.get("Metrics") or {}
            unblended, unblended_unit = _metric(metrics, "UnblendedCost", where, required=True)
            amortized, amortized_unit = _metric(metrics, "AmortizedCost", where, required=True)
            quantity, quantity_unit = _metric(metrics, "UsageQuantity", where, required=False)
            account_id = str(dims["LINKED_ACCOUNT"])
            rows.append(
                {
                    "time_period_start": start,
                    "time_period_end": end,
                    "estimated": estimated,
                    "linked_account_id": account_id,
                    "linked_account_name": names.get(account_id),
                    "service": str(dims["SERVICE"]),
                    "region": str(dims["REGION"]),
                    "record_type": str(dims["RECORD_TYPE"]),
                    "unblended_cost": unblended,
                    "unblended_cost_unit": unblended_unit,
                    "amortized_cost": amortized,
                    "amortized_cost_unit": amortized_unit,
                    "usage_quantity": quantity,
                    "usage_quantity_unit": quantity_unit,
                }
            )
    return rows


def _split_tag(group_key: str, tag_key: str, where: str) -> tuple[str, str]:
    """(key as answered, value) of a tag group key `<key>$<value>`; value '' for `<key>$`
    (no tag). Tag keys and values cannot contain `$`, so the first one separates them."""
    answered, separator, value = group_key.partition(TAG_SEPARATOR)
    if not separator:
        raise ValueError(f"{where}: tag group key {group_key!r} has no {TAG_SEPARATOR!r}")
    if answered.casefold() != tag_key.casefold():
        raise ValueError(
            f"{where}: tag group key {group_key!r} is not of the requested tag key {tag_key!r}"
        )
    return answered, value


def tag_rows(
    page: Mapping[str, Any], *, tag_key: str, linked_account_id: str
) -> list[dict[str, Any]]:
    """Map one page of a tag query (`tag_request`) to `raw.aws_cost_explorer_tags` rows.

    `tag_key` is the requested key, `linked_account_id` the account the request's Filter
    pinned. Raises ValueError naming the tag key, account, ResultsByTime index and day, group
    Keys and metric of a bad amount, or a group key that is not `<tag_key>$<value>`.
    """
    definitions = page.get("GroupDefinitions")
    if definitions:
        kinds = [(str(d.get("Type")), str(d.get("Key"))) for d in definitions]
        if (
            len(kinds) != 2
            or kinds[0][0] != "TAG"
            or kinds[0][1].casefold() != tag_key.casefold()
            or kinds[1] != ("DIMENSION", "SERVICE")
        ):
            raise ValueError(
                f"GetCostAndUsage tag page is grouped by {kinds}, expected "
                f"[('TAG', {tag_key!r}), ('DIMENSION', 'SERVICE')]"
            )
    rows: list[dict[str, Any]] = []
    for index, result in enumerate(page.get("ResultsByTime") or []):
        where_day = f"tag {tag_key!r} account {linked_account_id} ResultsByTime[{index}]"
        period = result.get("TimePeriod") or {}
        start = _parse_day(period.get("Start"), f"{where_day}.TimePeriod.Start")
        end = _parse_day(period.get("End"), f"{where_day}.TimePeriod.End")
        where_day = f"{where_day} ({start})"
        estimated = bool(result.get("Estimated", False))
        for group in result.get("Groups") or []:
            keys = [str(key) for key in group.get("Keys") or []]
            where = f"{where_day} group Keys={keys}"
            if len(keys) != 2:
                raise ValueError(f"{where}: expected 2 keys (TAG {tag_key!r}, SERVICE)")
            answered, value = _split_tag(keys[0], tag_key, where)
            metrics = group.get("Metrics") or {}
            unblended, unblended_unit = _metric(metrics, "UnblendedCost", where, required=True)
            amortized, amortized_unit = _metric(metrics, "AmortizedCost", where, required=True)
            rows.append(
                {
                    "time_period_start": start,
                    "time_period_end": end,
                    "estimated": estimated,
                    "linked_account_id": linked_account_id,
                    "service": keys[1],
                    "tag_key": answered,
                    "tag_value": value,
                    "unblended_cost": unblended,
                    "unblended_cost_unit": unblended_unit,
                    "amortized_cost": amortized,
                    "amortized_cost_unit": amortized_unit,
                }
            )
    return rows
