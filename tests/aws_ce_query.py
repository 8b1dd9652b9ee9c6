"""GetCostAndUsage evaluated from a list of charges, as the public API reference describes it.

`CostAndUsageQuery.parse(body)` checks a request (HTTP 400 `ValidationException` for what the
service refuses) and `answer(...)` sums the charges it selects into the periods and groups of
the answer; `pages(...)` cuts that answer into pages bound to the request body. Used by
`aws_ce_emulator.Estate.answer_query` (the proxy's query-answering mode); pure, no I/O.

What is evaluated (GetCostAndUsage, API version 2017-10-25):

* `TimePeriod` Start inclusive, End exclusive (YYYY-MM-DD, Start < End);
  `Granularity` DAILY or MONTHLY (MONTHLY periods cut at month boundaries and at the
  window's edges; HOURLY is refused: it needs an opt-in the emulator does not have). Every
  period of the window is in `ResultsByTime`, empty or not; `Estimated` is true for a period
  that holds a day on or after the estate's `estimated_from`.
* `Metrics` UnblendedCost, AmortizedCost, UsageQuantity; NetUnblendedCost and BlendedCost
  answer the unblended amount, NetAmortizedCost the amortized one (the emulated estate has no
  discounts and one payer, so they coincide); NormalizedUsageAmount is refused. Amounts are
  decimal strings summed exactly; Unit "USD", UsageQuantity's the charges' unit, "N/A" when
  they mix units or there is none.
* `GroupBy` 0 to 2 of DIMENSION LINKED_ACCOUNT, RECORD_TYPE, SERVICE, REGION and TAG <key>;
  a tag group key is `<key>$<value>`, `<key>$` when untagged (keys case-sensitive). Without
  GroupBy, `Total` holds the metrics and `Groups` is empty; with it, `Total` is {}.
* `Filter` Expression: `Dimensions` {Key, Values, MatchOptions} (EQUALS by default;
  also ABSENT, STARTS_WITH, ENDS_WITH, CONTAINS, CASE_SENSITIVE, CASE_INSENSITIVE), `Tags`
  {Key, Values, MatchOptions} (an empty value, or ABSENT, selects the untagged), `And`, `Or`,
  `Not`, nested. An expression must hold exactly one of them.
* `DimensionValueAttributes`: when grouped by LINKED_ACCOUNT, the accounts of each page's
  groups with {"description": name}.
* Paging: `groups_per_page` groups a page (a period without groups counts as one entry);
  `NextPageToken` is opaque and names the request body it belongs to: used with another body
  it gets `InvalidNextTokenException`. Cost Explorer does not publish its page size; the
  default `DEFAULT_GROUPS_PER_PAGE` is this emulator's choice (a parameter of the proxy).
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aws_ce_emulator import Charge

# Not published by AWS: a parameter (CostExplorerProxy(groups_per_page=...)). 1,000 groups
# keep a pair's daily query of one month (a few dozen service x region groups a day) on one
# or two pages, which is what the loader's own estimate (one page per month of days) assumes.
DEFAULT_GROUPS_PER_PAGE = 1000
DIMENSIONS = {
    "LINKED_ACCOUNT": "account",
    "RECORD_TYPE": "record_type",
    "SERVICE": "service",
    "REGION": "region",
}
# metric -> (Charge attribute, is a cost in USD)
METRICS = {
    "UnblendedCost": ("unblended", True),
    "NetUnblendedCost": ("unblended", True),
    "BlendedCost": ("unblended", True),
    "AmortizedCost": ("effective", True),
    "NetAmortizedCost": ("effective", True),
    "UsageQuantity": ("quantity", False),
}
MATCH_OPTIONS = {
    "EQUALS",
    "ABSENT",
    "STARTS_WITH",
    "ENDS_WITH",
    "CONTAINS",
    "CASE_SENSITIVE",
    "CASE_INSENSITIVE",
}
TAG_SEPARATOR = "$"


class CostExplorerError(Exception):
    """A Cost Explorer error answer: HTTP status, `__type` and message (JSON 1.1 shape)."""

    def __init__(self, error_type: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.status = status

    def payload(self) -> dict[str, str]:
        return {"__type": self.error_type, "Message": self.message}


def validation(message: str) -> CostExplorerError:
    return CostExplorerError("ValidationException", message)


def _day(value: Any, name: str) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise validation(f"{name} {value!r} is not a valid date (yyyy-MM-dd)") from None


def periods(start: date, end: date, granularity: str) -> list[tuple[date, date]]:
    """The [lo, hi) periods of a window: days, or months cut at the window's edges."""
    if granularity == "DAILY":
        return [(start + timedelta(n), start + timedelta(n + 1)) for n in range((end - start).days)]
    out, cursor = [], start
    while cursor < end:
        next_month = (cursor.replace(day=1) + timedelta(days=32)).replace(day=1)
        out.append((cursor, min(next_month, end)))
        cursor = next_month
    return out


def _charge_tag(charge: Charge, key: str) -> str:
    return (charge.tags or {}).get(key) or ""


def _value_matches(value: str, wanted: Sequence[str], options: set[str]) -> bool:
    if "CASE_INSENSITIVE" in options:
        value, wanted = value.casefold(), [w.casefold() for w in wanted]
    if "STARTS_WITH" in options:
        return any(value.startswith(w) for w in wanted)
    if "ENDS_WITH" in options:
        return any(value.endswith(w) for w in wanted)
    if "CONTAINS" in options:
        return any(w in value for w in wanted)
    return value in wanted


def _options(spec: Mapping[str, Any]) -> set[str]:
    options = set(spec.get("MatchOptions") or ["EQUALS"])
    unknown = options - MATCH_OPTIONS
    if unknown:
        raise validation(f"MatchOptions {sorted(unknown)} are not valid")
    return options


Predicate = Callable[["Charge"], bool]


def compile_filter(expression: Mapping[str, Any] | None) -> Predicate:
    """A predicate on charges for a Filter Expression (see the module docstring)."""
    if not expression:
        return lambda _c: True
    parts = [
        k for k in ("And", "Or", "Not", "Dimensions", "Tags", "CostCategories") if k in expression
    ]
    if len(parts) != 1:
        raise validation(
            f"an Expression must hold exactly one of And, Or, Not, Dimensions, Tags, CostCategories; got {sorted(expression)}"
        )
    kind = parts[0]
    if kind in ("And", "Or"):
        operands = expression[kind]
        if not isinstance(operands, list) or len(operands) < 2:
            raise validation(f"{kind} needs a list of at least 2 expressions")
        compiled = [compile_filter(e) for e in operands]
        if kind == "And":
            return lambda c: all(p(c) for p in compiled)
        return lambda c: any(p(c) for p in compiled)
    if kind == "Not":
        inner = compile_filter(expression["Not"])
        return lambda c: not inner(c)
    if kind == "CostCategories":
        raise validation("the emulated estate has no cost categories")
    spec = expression[kind]
    options = _options(spec)
    values = [str(v) for v in spec.get("Values") or []]
    if kind == "Dimensions":
        key = str(spec.get("Key"))
        if key not in DIMENSIONS:
            raise validation(
                f"Dimension {key} is not supported by this emulator: {sorted(DIMENSIONS)}"
            )
        attribute = DIMENSIONS[key]
        if "ABSENT" in options:
            return lambda c: not getattr(c, attribute)
        if not values:
            raise validation(f"Dimensions {key} needs Values")
        return lambda c: _value_matches(getattr(c, attribute), values, options)
    key = str(spec.get("Key") or "")
    if not key:
        raise validation("Tags needs a Key")
    if "ABSENT" in options:
        return lambda c: _charge_tag(c, key) == ""
    if not values:
        raise validation(f"Tags {key} needs Values")
    return lambda c: _value_matches(_charge_tag(c, key), values, options)


def filter_accounts(expression: Mapping[str, Any] | None) -> set[str] | None:
    """The linked accounts an expression can select (None: any); only an index, the
    predicate still decides."""
    if not expression:
        return None
    if "And" in expression:
        found = [filter_accounts(e) for e in expression["And"]]
        known = [f for f in found if f is not None]
        return set.intersection(*known) if known else None
    if "Or" in expression:
        found = [filter_accounts(e) for e in expression["Or"]]
        return None if any(f is None for f in found) else set().union(*found)
    spec = expression.get("Dimensions")
    if (
        spec
        and spec.get("Key") == "LINKED_ACCOUNT"
        and set(spec.get("MatchOptions") or ["EQUALS"]) <= {"EQUALS", "CASE_SENSITIVE"}
    ):
        return {str(v) for v in spec.get("Values") or []}
    return None


def fingerprint(body: Mapping[str, Any]) -> str:
    """What a NextPageToken is bound to: the request body without its token."""
    rest = {k: v for k, v in body.items() if k != "NextPageToken"}
    return hashlib.sha256(json.dumps(rest, sort_keys=True).encode()).hexdigest()[:24]


def page_token(body_fingerprint: str, offset: int) -> str:
    raw = json.dumps({"b": body_fingerprint, "o": offset}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def token_offset(token: str, body_fingerprint: str) -> int:
    """The entry a token points at; InvalidNextTokenException unless it is one of this body's."""
    try:
        padded = token + "=" * (-len(token) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded))
        if decoded["b"] == body_fingerprint and int(decoded["o"]) > 0:
            return int(decoded["o"])
    except (ValueError, KeyError, TypeError):
        pass
    raise CostExplorerError(
        "InvalidNextTokenException",
        "The pagination token is invalid. Try again without a pagination token.",
    )


@dataclass(frozen=True)
class CostAndUsageQuery:
    start: date
    end: date
    granularity: str
    metrics: tuple[str, ...]
    group_by: tuple[tuple[str, str], ...]  # (Type, Key)
    filter: Mapping[str, Any] | None
    predicate: Predicate
    accounts: set[str] | None  # the filter's accounts (an index), None: any

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CostAndUsageQuery:
        period = body.get("TimePeriod") or {}
        if "Start" not in period or "End" not in period:
            raise validation("TimePeriod with Start and End is required")
        start = _day(period["Start"], "Start")
        end = _day(period["End"], "End")
        if start >= end:
            raise validation(f"Start date {start} must be before End date {end}")
        granularity = body.get("Granularity") or "MONTHLY"
        if granularity == "HOURLY":
            raise validation("Hourly granularity is only available with hourly data opted in")
        if granularity not in ("DAILY", "MONTHLY"):
            raise validation(f"Granularity {granularity!r} must be DAILY, MONTHLY or HOURLY")
        metrics = tuple(body.get("Metrics") or ())
        if not metrics:
            raise validation("Metrics is required")
        for metric in metrics:
            if metric not in METRICS:
                raise validation(
                    f"Metric {metric!r} is not supported by this emulator: {sorted(METRICS)}"
                )
        group_by: list[tuple[str, str]] = []
        for group in body.get("GroupBy") or []:
            kind, key = group.get("Type"), group.get("Key")
            if kind == "DIMENSION" and key not in DIMENSIONS:
                raise validation(
                    f"Group Definition dimension is invalid: {key} (valid here: {sorted(DIMENSIONS)})"
                )
            if kind == "TAG" and not key:
                raise validation("a TAG Group Definition needs a Key")
            if kind not in ("DIMENSION", "TAG"):
                raise validation(f"Group Definition type is invalid: {kind}")
            if (kind, key) in group_by:
                raise validation(f"Group Definition {kind} {key} is repeated")
            group_by.append((str(kind), str(key)))
        if len(group_by) > 2:
            raise validation("Only two group-bys are allowed")
        expression = body.get("Filter")
        return cls(
            start,
            end,
            granularity,
            metrics,
            tuple(group_by),
            expression,
            compile_filter(expression),
            filter_accounts(expression),
        )

    def _keys(self, charge: Charge) -> tuple[str, ...]:
        return tuple(
            getattr(charge, DIMENSIONS[key])
            if kind == "DIMENSION"
            else f"{key}{TAG_SEPARATOR}{_charge_tag(charge, key)}"
            for kind, key in self.group_by
        )

    def _metrics(self, selected: Sequence[Charge]) -> dict[str, dict[str, str]]:
        out = {}
        for metric in self.metrics:
            attribute, is_cost = METRICS[metric]
            amount = sum((Decimal(getattr(c, attribute)) for c in selected), Decimal(0))
            if is_cost:
                unit = "USD"
            else:
                units = {c.unit for c in selected}
                unit = units.pop() if len(units) == 1 else "N/A"
            out[metric] = {"Amount": format(amount, "f"), "Unit": unit}
        return out

    def answer(
        self,
        charges: Iterable[Charge],
        is_estimated: Callable[[date], bool],
    ) -> list[dict[str, Any]]:
        """Every ResultsByTime entry of the window (not paged): the charges selected, summed
        per period (and group)."""
        windows = periods(self.start, self.end, self.granularity)
        index = {
            lo + timedelta(days): n
            for n, (lo, hi) in enumerate(windows)
            for days in range((hi - lo).days)
        }
        buckets: list[dict[tuple[str, ...], list[Charge]]] = [{} for _ in windows]
        for charge in charges:
            if not self.start <= charge.day < self.end or not self.predicate(charge):
                continue
            buckets[index[charge.day]].setdefault(self._keys(charge), []).append(charge)
        results = []
        for (lo, hi), groups in zip(windows, buckets, strict=True):
            estimated = any(is_estimated(lo + timedelta(n)) for n in range((hi - lo).days))
            if self.group_by:
                total: dict[str, Any] = {}
                answer_groups = [
                    {"Keys": list(keys), "Metrics": self._metrics(selected)}
                    for keys, selected in sorted(groups.items())
                ]
            else:
                total = self._metrics([c for selected in groups.values() for c in selected])
                answer_groups = []
            results.append(
                {
                    "TimePeriod": {"Start": lo.isoformat(), "End": hi.isoformat()},
                    "Total": total,
                    "Groups": answer_groups,
                    "Estimated": estimated,
                }
            )
        return results

    def page(
        self,
        results: list[dict[str, Any]],
        body: Mapping[str, Any],
        names: Mapping[str, str],
        groups_per_page: int,
    ) -> dict[str, Any]:
        """The page of `results` the body's NextPageToken asks for (the first without one)."""
        entries: list[tuple[int, dict[str, Any] | None]] = []
        for n, result in enumerate(results):
            entries += [(n, g) for g in result["Groups"]] or [(n, None)]
        bound = fingerprint(body)
        token = body.get("NextPageToken")
        offset = token_offset(str(token), bound) if token else 0
        if offset >= len(entries) and entries:
            raise CostExplorerError(
                "InvalidNextTokenException",
                "The pagination token is invalid. Try again without a pagination token.",
            )
        chunk = entries[offset : offset + max(1, groups_per_page)]
        by_result: dict[int, list[dict[str, Any]]] = {}
        for n, group in chunk:
            by_result.setdefault(n, [])
            if group is not None:
                by_result[n].append(group)
        page: dict[str, Any] = {}
        if self.group_by:
            page["GroupDefinitions"] = [{"Type": t, "Key": k} for t, k in self.group_by]
        page["ResultsByTime"] = [
            {**results[n], "Groups": groups} for n, groups in sorted(by_result.items())
        ]
        accounts: set[str] = set()
        if ("DIMENSION", "LINKED_ACCOUNT") in self.group_by:
            position = self.group_by.index(("DIMENSION", "LINKED_ACCOUNT"))
            accounts = {g["Keys"][position] for _n, g in chunk if g is not None}
        page["DimensionValueAttributes"] = [
            {"Value": account, "Attributes": {"description": names[account]}}
            for account in sorted(accounts)
            if account in names
        ]
        if offset + len(chunk) < len(entries):
            page["NextPageToken"] = page_token(bound, offset + len(chunk))
        return page
