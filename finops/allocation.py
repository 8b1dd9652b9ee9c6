"""Cost allocation settings (issue #18): the tag keys to allocate by and the rules file.

`FINOPS_ALLOCATION_TAGS` names the tag keys (`team,cost-center`); `FINOPS_ALLOCATION_RULES`
a YAML file (allocation.example.yml) that gives, per key, a fallback from sub account to value
for untagged rows and the rules that share common costs (support, tax, a shared workspace)
between values. This module only reads and checks that file - every error names the file and
line - and hands it to dbt as one JSON document (`dbt_config`, the environment variable
FINOPS_ALLOCATION_CONFIG); dbt does the allocation itself (docs/allocation.md). Check a rules
file before a run:

    .venv/bin/python -m finops.allocation allocation.example.yml team,cost-center
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Literal

import yaml

TAGS_SETTING = "FINOPS_ALLOCATION_TAGS"
RULES_SETTING = "FINOPS_ALLOCATION_RULES"

SplitMethod = Literal["even", "percentages", "proportional"]
SPLIT_METHODS: tuple[str, ...] = ("even", "percentages", "proportional")
# The columns of a cost row a shared rule can match on (FOCUS names, as in fct_daily_costs).
MATCH_COLUMNS: tuple[str, ...] = ("service_name", "charge_category", "sub_account_id")
# FOCUS ChargeCategory values (fct_daily_costs accepts only these).
CHARGE_CATEGORIES: tuple[str, ...] = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")
# A percentage has at most 4 decimals, so its share (percentage / 100) is exact in 6.
PERCENTAGE_DECIMALS = 4

_TOP_FIELDS = ("keys",)
_KEY_FIELDS = ("account_map", "shared_rules")
_RULE_FIELDS = ("name", "match", "split", "to", "percentages")
_REQUIRED_RULE_FIELDS = ("name", "match", "split", "to")

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_YAML_KINDS = {"int": "number", "float": "number", "bool": "boolean", "timestamp": "date"}
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")
_AZURE_SUBSCRIPTION = re.compile(r"^/subscriptions/([^/]+)/?$", re.IGNORECASE)
_GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class AllocationRulesError(ValueError):
    """A rules file that cannot be used; the message starts with `<file>:<line>:`."""


def parse_tag_keys(raw: str | None) -> tuple[str, ...]:
    """FINOPS_ALLOCATION_TAGS as a tuple of keys, in the configured order and spelling.

    Cloud tag keys are compared without case (Azure's are case-insensitive, and one key
    spelled `Team` on some resources and `team` on others is one key to a person), so two
    spellings of one key would allocate the same rows twice: refused.
    """
    keys = tuple(part.strip() for part in (raw or "").split(",") if part.strip())
    seen: dict[str, str] = {}
    for key in keys:
        if (earlier := seen.get(key.casefold())) is not None:
            raise ValueError(
                f"{TAGS_SETTING} names the tag key {key!r} twice ({earlier!r} and {key!r}): "
                "tag keys are compared without case; keep one"
            )
        seen[key.casefold()] = key
    return keys


@dataclass(frozen=True)
class RuleMatch:
    """Which cost rows a shared rule takes: a row matches when, for every column given, its
    value is one of the listed ones (columns AND, values OR)."""

    service_name: tuple[str, ...] = ()
    charge_category: tuple[str, ...] = ()
    sub_account_id: tuple[str, ...] = ()

    def columns(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        """(match column, values) for each column the rule constrains, in MATCH_COLUMNS order."""
        for column in MATCH_COLUMNS:
            if values := getattr(self, column):
                yield column, values


@dataclass(frozen=True)
class SharedRule:
    """A shared cost: the rows `match` takes are split between the values `to`."""

    name: str
    match: RuleMatch
    split: SplitMethod
    to: tuple[str, ...]
    # value -> percentage (summing to exactly 100) for split `percentages`, else None
    percentages: dict[str, Decimal] | None = None
    line: int = field(default=0, compare=False)

    def target_shares(self) -> dict[str, Decimal | None]:
        """Each target value's fixed share (percentage / 100), None when the split decides
        it per day (even, proportional)."""
        return {
            value: (self.percentages[value] / 100 if self.percentages else None)
            for value in self.to
        }


@dataclass(frozen=True)
class KeyRules:
    """The rules of one allocation key."""

    # sub account id (as the marts spell it) -> value, for rows without the tag
    account_map: dict[str, str] = field(default_factory=dict)
    # in the order written: the first rule that matches a row takes it
    shared_rules: list[SharedRule] = field(default_factory=list)


@dataclass(frozen=True)
class AllocationRules:
    """The rules file, per allocation key (the configured spelling, in the configured order)."""

    by_key: dict[str, KeyRules] = field(default_factory=dict)
    path: Path | None = field(default=None, compare=False)


def load_rules(path: Path, keys: tuple[str, ...]) -> AllocationRules:
    """Read and check the rules file at `path` for the configured tag `keys`.

    Raises AllocationRulesError (a ValueError) saying `<file>:<line>: <what is wrong>`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise AllocationRulesError(
            f"{RULES_SETTING} names {path}, which does not exist (unset it to allocate by tags "
            "and sub account only, or see allocation.example.yml)"
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise AllocationRulesError(f"{RULES_SETTING}: cannot read {path}: {exc}") from None
    return _RulesReader(path, keys).read(text)


class _RulesReader:
    """Walks the composed YAML nodes (not the loaded values) so every error has a line and
    no value is what YAML guessed (a float for 33.34, an int for an account id)."""

    def __init__(self, path: Path, keys: tuple[str, ...]) -> None:
        self.path = path
        self.keys = keys

    def fail(self, node: yaml.Node | None, message: str) -> AllocationRulesError:
        line = node.start_mark.line + 1 if node is not None else 1
        return AllocationRulesError(f"{self.path}:{line}: {message}")

    def read(self, text: str) -> AllocationRules:
        try:
            root = yaml.compose(text, Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 1
            what = exc.problem or exc.context or "cannot be parsed"
            if exc.context and exc.problem:
                where = f" started on line {exc.context_mark.line + 1}" if exc.context_mark else ""
                what += f" ({exc.context}{where})"
            raise AllocationRulesError(f"{self.path}:{line}: malformed YAML: {what}") from None
        except yaml.YAMLError as exc:
            raise AllocationRulesError(f"{self.path}:1: malformed YAML: {exc}") from None
        if root is None:
            raise self.fail(None, "the file is empty; expected a `keys:` mapping")
        fields = self.fields(root, "the file", _TOP_FIELDS)
        if "keys" not in fields:
            raise self.fail(root, "no `keys:` mapping (the allocation keys and their rules)")
        by_key: dict[str, KeyRules] = {}
        lines: dict[str, int] = {}
        for name, name_node, rules_node in self.mapping(fields["keys"][1], "keys"):
            key = self.configured_key(name, name_node)
            if key in by_key:
                raise self.fail(
                    name_node,
                    f"key {name!r} is given twice (also line {lines[key]}); keys are compared "
                    "without case",
                )
            lines[key] = name_node.start_mark.line + 1
            by_key[key] = self.key_rules(key, rules_node)
        ordered = {key: by_key[key] for key in self.keys if key in by_key}
        return AllocationRules(by_key=ordered, path=self.path)

    def configured_key(self, name: str, node: yaml.Node) -> str:
        for key in self.keys:
            if key.casefold() == name.casefold():
                return key
        configured = ", ".join(self.keys) if self.keys else "none: it is not set"
        raise self.fail(
            node, f"key {name!r} is not one of {TAGS_SETTING} (configured: {configured})"
        )

    def key_rules(self, key: str, node: yaml.Node) -> KeyRules:
        fields = self.fields(node, f"key {key!r}", _KEY_FIELDS)
        if not fields:
            raise self.fail(node, f"key {key!r} has neither `account_map` nor `shared_rules`")
        account_map: dict[str, str] = {}
        if "account_map" in fields:
            lines: dict[str, int] = {}
            entries = self.mapping(fields["account_map"][1], f"account_map of {key!r}")
            for _, account_node, value_node in entries:
                account = self.sub_account(account_node)
                if account in account_map:
                    raise self.fail(
                        account_node,
                        f"sub account {account!r} is mapped twice in account_map of {key!r} "
                        f"(also line {lines[account]})",
                    )
                lines[account] = account_node.start_mark.line + 1
                account_map[account] = self.text(value_node, f"the value of {account!r}")
        rules: list[SharedRule] = []
        if "shared_rules" in fields:
            names: dict[str, int] = {}
            for rule_node in self.sequence(fields["shared_rules"][1], f"shared_rules of {key!r}"):
                rule = self.shared_rule(key, rule_node)
                if (line := names.get(rule.name.casefold())) is not None:
                    raise self.fail(
                        self.fields(rule_node, "", _RULE_FIELDS)["name"][1],
                        f"rule name {rule.name!r} is used twice in key {key!r} (also line {line})",
                    )
                names[rule.name.casefold()] = rule.line
                rules.append(rule)
        return KeyRules(account_map=account_map, shared_rules=rules)

    def shared_rule(self, key: str, node: yaml.Node) -> SharedRule:
        fields = self.fields(node, f"a shared rule of {key!r}", _RULE_FIELDS)
        missing = [name for name in _REQUIRED_RULE_FIELDS if name not in fields]
        if missing:
            raise self.fail(
                node,
                f"shared rule of {key!r} lacks {', '.join(f'`{m}`' for m in missing)} "
                f"(a rule has {', '.join(_REQUIRED_RULE_FIELDS)}, and percentages for split "
                "`percentages`)",
            )
        name = self.text(fields["name"][1], "the rule name")
        what = f"rule {name!r}"
        match = self.rule_match(fields["match"][1], what)
        split_node = fields["split"][1]
        split = self.text(split_node, f"the split of {what}")
        if split not in SPLIT_METHODS:
            raise self.fail(
                split_node,
                f"split {split!r} of {what} is not one of {', '.join(SPLIT_METHODS)}",
            )
        to_node = fields["to"][1]
        to = self.texts(to_node, f"`to` of {what}")
        percentages = None
        if split == "percentages":
            if "percentages" not in fields:
                raise self.fail(
                    split_node,
                    f"{what} splits by percentages but has no `percentages:` (value: percent)",
                )
            percentages = self.percentages(*fields["percentages"], to, what)
        elif "percentages" in fields:
            raise self.fail(
                fields["percentages"][0],
                f"{what} splits {split} and cannot have `percentages` (only split "
                "`percentages` uses them)",
            )
        return SharedRule(
            name=name,
            match=match,
            split=split,  # type: ignore[arg-type]  # checked against SPLIT_METHODS above
            to=to,
            percentages=percentages,
            line=node.start_mark.line + 1,
        )

    def rule_match(self, node: yaml.Node, what: str) -> RuleMatch:
        fields = self.fields(node, f"`match` of {what}", MATCH_COLUMNS)
        if not fields:
            raise self.fail(
                node, f"`match` of {what} names no column (one of {', '.join(MATCH_COLUMNS)})"
            )
        found: dict[str, tuple[str, ...]] = {}
        for column, (_, values_node) in fields.items():
            if column == "sub_account_id":
                values = self.items(values_node, f"match.{column} of {what}", self.sub_account)
            else:
                values = self.texts(values_node, f"match.{column} of {what}")
            if column == "charge_category":
                for value in values:
                    if value not in CHARGE_CATEGORIES:
                        spelled = [c for c in CHARGE_CATEGORIES if c.casefold() == value.casefold()]
                        hint = (
                            f"write it {spelled[0]!r}"
                            if spelled
                            else f"FOCUS has {', '.join(CHARGE_CATEGORIES)}"
                        )
                        raise self.fail(values_node, f"charge category {value!r} of {what}: {hint}")
            found[column] = values
        return RuleMatch(**found)

    def percentages(
        self, name_node: yaml.Node, node: yaml.Node, to: tuple[str, ...], what: str
    ) -> dict[str, Decimal]:
        """value -> percentage; errors about the whole map name the `percentages:` line (a
        block mapping starts on the line of its first entry)."""
        result: dict[str, Decimal] = {}
        for _, value_node, percent_node in self.mapping(node, f"percentages of {what}"):
            value = self.text(value_node, f"a value in the percentages of {what}")
            if value not in to:
                raise self.fail(
                    value_node,
                    f"percentages of {what} name {value!r}, which is not in its `to` "
                    f"({', '.join(to)})",
                )
            result[value] = self.percent(percent_node, f"the percentage of {value!r} in {what}")
        if missing := [value for value in to if value not in result]:
            raise self.fail(
                name_node,
                f"percentages of {what} give no percentage for {', '.join(map(repr, missing))} "
                "(every `to` value needs one)",
            )
        total = sum(result.values(), Decimal(0))
        if total != 100:
            raise self.fail(name_node, f"percentages of {what} sum to {total}, not 100")
        return {value: result[value] for value in to}

    def percent(self, node: yaml.Node, what: str) -> Decimal:
        example = "a number such as 50 or 33.34, without %"
        if not isinstance(node, yaml.ScalarNode) or node.tag not in _NUMBER_TAGS:
            shown = f" {node.value!r}" if isinstance(node, yaml.ScalarNode) else ""
            raise self.fail(node, f"{what}{shown} must be {example}")
        try:
            percent = Decimal(node.value.replace("_", ""))  # the text, never YAML's float
        except InvalidOperation:
            raise self.fail(node, f"{what} {node.value!r} must be {example}") from None
        if not percent.is_finite() or percent <= 0:
            raise self.fail(node, f"{what} must be more than 0, got {node.value}")
        if percent.as_tuple().exponent < -PERCENTAGE_DECIMALS:  # type: ignore[operator]
            raise self.fail(
                node, f"{what} has more than {PERCENTAGE_DECIMALS} decimals: {node.value}"
            )
        return percent

    # ---- the node shapes

    def fields(
        self, node: yaml.Node, what: str, allowed: Sequence[str]
    ) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        """A mapping of known field names: name -> (name node, value node)."""
        found: dict[str, tuple[yaml.Node, yaml.Node]] = {}
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            return found
        for name, name_node, value_node in self.mapping(node, what, allow_empty=True):
            if name not in allowed:
                raise self.fail(
                    name_node,
                    f"unknown field {name!r} in {what} (allowed: {', '.join(allowed)})",
                )
            found[name] = (name_node, value_node)
        return found

    def mapping(
        self, node: yaml.Node, what: str, allow_empty: bool = False
    ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        """(key text, key node, value node) of a mapping; duplicate keys refused (PyYAML
        would silently keep the last one)."""
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL and not allow_empty:
            raise self.fail(node, f"{what} is empty")
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (name: value lines)")
        if not node.value and not allow_empty:
            raise self.fail(node, f"{what} is empty")
        entries: list[tuple[str, yaml.Node, yaml.Node]] = []
        lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail(key_node, f"a name in {what} must be a text, not a list/mapping")
            name = key_node.value
            if name in lines:
                raise self.fail(
                    key_node, f"{name!r} is given twice in {what} (also line {lines[name]})"
                )
            lines[name] = key_node.start_mark.line + 1
            entries.append((name, key_node, value_node))
        return entries

    def sequence(self, node: yaml.Node, what: str) -> list[yaml.Node]:
        if isinstance(node, yaml.ScalarNode) and node.tag == _NULL:
            raise self.fail(node, f"{what} is empty")
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list (`- ` items)")
        if not node.value:
            raise self.fail(node, f"{what} is empty")
        return list(node.value)

    def items(self, node: yaml.Node, what: str, parse: Any) -> tuple[str, ...]:
        """A list of texts (a single text is a list of one); duplicates refused: a
        duplicate match or target row would count a cost twice in a join."""
        nodes = [node] if isinstance(node, yaml.ScalarNode) and node.tag != _NULL else None
        values: list[str] = []
        for item in nodes or self.sequence(node, what):
            value = parse(item) if parse is not None else self.text(item, f"a value of {what}")
            if value in values:
                raise self.fail(item, f"{value!r} is listed twice in {what}")
            values.append(value)
        return tuple(values)

    def texts(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        return self.items(node, what, None)

    def text(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(node, f"{what} must be a text, not a list/mapping")
        if node.tag == _NULL or not node.value.strip():
            raise self.fail(node, f"{what} is empty")
        if node.tag != _STR:
            kind = _YAML_KINDS.get(node.tag.rsplit(":", 1)[-1], "non-text value")
            raise self.fail(
                node,
                f'{what} must be quoted ("{node.value}"): YAML reads {node.value} as a '
                f"{kind}, not as text",
            )
        return node.value.strip()

    def sub_account(self, node: yaml.Node) -> str:
        """A sub account id as the marts spell it: an AWS account id as written (quoted), an
        Azure subscription (`/subscriptions/<guid>` or the guid) as its lower-case guid."""
        if isinstance(node, yaml.ScalarNode) and node.style is None and node.value.isdigit():
            raise self.fail(
                node,
                f'sub account id {node.value} must be quoted ("{node.value}"): YAML reads '
                "an unquoted number as a number, and an AWS account id like 012345678901 "
                "would lose its leading zero",
            )
        account = self.text(node, "the sub account id")
        if account.casefold().startswith("/subscriptions/"):
            if not (azure := _AZURE_SUBSCRIPTION.match(account)):
                raise self.fail(
                    node,
                    f"sub account {account!r}: an Azure subscription is /subscriptions/<id>, "
                    "without a resource group or resource",
                )
            return azure.group(1).lower()
        return account.lower() if _GUID.match(account) else account


# ---- the document dbt reads


def _decimal_text(value: Decimal) -> str:
    """`0.5`, `0.3334`, `1`: plain decimal text (never `5E-1`, never trailing zeros), so one
    configuration always gives one document - and one fingerprint in the models."""
    return format(value.normalize(), "f")


def dbt_config(rules: AllocationRules | None, keys: tuple[str, ...]) -> str:
    """The keys and rules as the one JSON document dbt_project/macros/allocation.sql reads
    from FINOPS_ALLOCATION_CONFIG (finops/settings.py puts it in dbt's environment).

    Always the whole shape - `{"keys": [], "account_map": [], "rules": []}` when nothing is
    configured. Shares are decimal text (percentage / 100), null for the splits dbt decides
    per day (even, proportional); rule `order` counts from 1 within a key.
    """
    by_key = rules.by_key if rules else {}
    if unknown := [key for key in by_key if key not in keys]:
        raise ValueError(f"allocation rules for {unknown} but {TAGS_SETTING} is {list(keys)}")
    document = {
        "keys": list(keys),
        "account_map": [
            {"key": key, "sub_account_id": account, "value": value}
            for key, key_rules in by_key.items()
            for account, value in key_rules.account_map.items()
        ],
        "rules": [
            {
                "key": key,
                "name": rule.name,
                "order": order,
                "method": rule.split,
                "match": {column: list(values) for column, values in rule.match.columns()},
                "targets": [
                    {"value": value, "share": None if share is None else _decimal_text(share)}
                    for value, share in rule.target_shares().items()
                ],
            }
            for key, key_rules in by_key.items()
            for order, rule in enumerate(key_rules.shared_rules, start=1)
        ],
    }
    return json.dumps(document, separators=(",", ":"))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m finops.allocation RULES_FILE [KEYS]`: check a rules file (KEYS defaults to
    FINOPS_ALLOCATION_TAGS) and print what it allocates; exit 2 on an error."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not 1 <= len(args) <= 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    try:
        keys = parse_tag_keys(args[1] if len(args) == 2 else os.environ.get(TAGS_SETTING))
        rules = load_rules(Path(args[0]), keys)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    for key in keys:
        key_rules = rules.by_key.get(key, KeyRules())
        print(
            f"{key}: {len(key_rules.account_map)} sub account(s) mapped, shared rules: "
            f"{', '.join(f'{r.name} ({r.split})' for r in key_rules.shared_rules) or 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
