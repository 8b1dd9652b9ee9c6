"""The dbt project's layer rules, read from the manifest `dbt parse` writes: they stay true
without a reviewer. A new model in the wrong folder, an intermediate model on a mart, a mart
without its contract or docs, a model without a primary-key test, a mart the dashboard reads
but the exposure does not name: each fails here with the model's name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from finops_testing import PARSE_OUTPUT

from pipelines.exports import MART_TABLES

REPO = Path(__file__).resolve().parents[2]

# folder under models/ -> the prefixes its models' names start with
PREFIXES = {"staging": ("stg_",), "intermediate": ("int_",), "marts": ("fct_", "dim_")}
# a layer may read models of these layers (and seeds); only staging reads sources
MAY_READ = {
    "staging": {"staging"},
    "intermediate": {"staging", "intermediate"},
    "marts": {"staging", "intermediate", "marts"},
}


@pytest.fixture(scope="module")
def manifest(shared_dbt_parse: Path | None) -> dict[str, Any]:
    """The manifest of the suite's one full parse of the project (tests/conftest.py)."""
    assert shared_dbt_parse is not None
    return json.loads((shared_dbt_parse.parent / "manifest.json").read_text())


def _models(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        uid: node
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] == "model" and node["package_name"] == "finops"
    }


def _layer(node: dict[str, Any]) -> str:
    return Path(node["original_file_path"]).parts[1]


def test_the_project_parses_without_warnings(shared_dbt_parse: Path | None):
    # GIVEN the suite's one full parse of the project (tests/conftest.py; the later parses
    # are partial and do not repeat its warnings)
    assert shared_dbt_parse is not None
    output = (shared_dbt_parse.parents[1] / PARSE_OUTPUT).read_text()
    plain = re.sub(r"\x1b\[[0-9;]*m", "", output)
    assert "Performance info" in plain, plain[-2000:]  # dbt's own last line of a parse
    # THEN dbt warned about nothing: docs or configs for a macro, model or column that does
    # not exist, a deprecated setting, ...
    warnings = [line for line in plain.splitlines() if "[WARNING]" in line]
    assert not warnings, warnings


def test_every_model_sits_in_a_layer_folder_with_its_prefix(manifest: dict[str, Any]):
    misplaced = []
    for node in _models(manifest).values():
        parts = Path(node["original_file_path"]).parts  # models/<layer>/<domain>/<file>
        layer = parts[1]
        if layer not in PREFIXES or len(parts) != 4:
            misplaced.append(
                f"{node['name']}: {node['original_file_path']} (not models/<layer>/<domain>/)"
            )
        elif not node["name"].startswith(PREFIXES[layer]):
            misplaced.append(
                f"{node['name']}: in {layer}/ but not named {' or '.join(PREFIXES[layer])}*"
            )
    assert misplaced == []


def test_sources_only_in_staging_and_no_layer_reads_a_later_one(manifest: dict[str, Any]):
    models = _models(manifest)
    wrong = []
    for node in models.values():
        layer = _layer(node)
        for parent in node["depends_on"]["nodes"]:
            if parent.startswith("source.") and layer != "staging":
                wrong.append(f"{node['name']} ({layer}) reads {parent}")
            elif parent in models and _layer(models[parent]) not in MAY_READ[layer]:
                parent_layer = _layer(models[parent])
                wrong.append(
                    f"{node['name']} ({layer}) reads {models[parent]['name']} ({parent_layer})"
                )
    assert wrong == []


def test_every_mart_is_public_with_an_enforced_contract_and_documented(manifest: dict[str, Any]):
    wrong = []
    for node in _models(manifest).values():
        if not node["description"].strip():
            wrong.append(f"{node['name']}: no description")
        wrong += [
            f"{node['name']}.{name}: no description"
            for name, column in node["columns"].items()
            if not column["description"].strip()
        ]
        if _layer(node) != "marts":
            continue
        if not node["config"]["contract"]["enforced"]:
            wrong.append(f"{node['name']}: contract not enforced")
        if node["access"] != "public":
            wrong.append(f"{node['name']}: access {node['access']}, not public")
        wrong += [
            f"{node['name']}.{name}: no data_type"
            for name, column in node["columns"].items()
            if not column.get("data_type")
        ]
    assert wrong == []


def test_every_model_has_a_primary_key_test(manifest: dict[str, Any]):
    # A key column (`config: meta: primary_key: true`, unique and not null) or a key of
    # several columns (the model's `config: meta: grain: [...]`), checked by the model's
    # column_values test
    keyed: set[str] = set()
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata") or {}
        if node["resource_type"] != "test" or metadata.get("name") != "column_values":
            continue
        model = manifest["nodes"].get(node.get("attached_node"))
        if model and (
            model["config"]["meta"].get("grain")
            or any(
                (c.get("config", {}).get("meta") or {}).get("primary_key")
                for c in model["columns"].values()
            )
        ):
            keyed.add(node["attached_node"])
    assert keyed, "no key checked"
    missing = [node["name"] for uid, node in _models(manifest).items() if uid not in keyed]
    assert missing == []


def test_keys_and_not_nulls_have_no_test_node_of_their_own(manifest: dict[str, Any]):
    # A key (one column's, or a grain of several) and a not-null column are declared in the
    # yml and checked by the relation's column_values test: dbt's unique / not_null, or a
    # test of a key of several columns, would each add a node to every build
    # (tests/generic/column_values.sql says what a node costs)
    separate = sorted(
        node["name"]
        for node in manifest["nodes"].values()
        if node["resource_type"] == "test"
        and (node.get("test_metadata") or {}).get("name")
        in ("unique", "not_null", "unique_combination_of_columns")
    )
    assert separate == []


def test_the_exports_are_the_public_marts(manifest: dict[str, Any]):
    public = {n["name"] for n in _models(manifest).values() if n["access"] == "public"}
    assert set(MART_TABLES) == public


def test_every_mart_the_dashboard_reads_is_in_its_exposure(manifest: dict[str, Any]):
    read = set()
    for path in (REPO / "dashboard").rglob("*.py"):
        read |= set(re.findall(r"\bmarts\.((?:fct|dim)_[a-z_]+)", path.read_text()))
    assert read, "no mart found in the dashboard's queries"
    [exposure] = [e for e in manifest["exposures"].values() if e["type"] == "dashboard"]
    declared = {uid.split(".")[-1] for uid in exposure["depends_on"]["nodes"]}
    assert read - declared == set()
    assert declared - read == set(), "the exposure names marts the dashboard does not read"


def test_every_declared_column_rule_is_tested(manifest: dict[str, Any]):
    # A column's `constraints: - type: not_null` and its meta accepted_values / provider_name,
    # and the node's meta grain, are checked by its model's (seed's, source's) one
    # column_values test; DuckDB also enforces not_null on contracted marts, Spark does not.
    tested = set()
    for node in manifest["nodes"].values():
        metadata = node.get("test_metadata") or {}
        if node["resource_type"] == "test" and metadata.get("name") == "column_values":
            tested.add(node.get("attached_node") or node["depends_on"]["nodes"][0])
    rules = ("not_null", "accepted_values", "provider_name", "grain")
    declared: dict[str, set[str]] = {rule: set() for rule in rules}
    for uid, node in [*manifest["nodes"].items(), *manifest["sources"].items()]:
        if (node.get("config", {}).get("meta") or node.get("meta") or {}).get("grain"):
            declared["grain"].add(uid)
        for column in node.get("columns", {}).values():
            if any(c["type"] == "not_null" for c in column.get("constraints", [])):
                declared["not_null"].add(uid)
            meta = column.get("config", {}).get("meta") or column.get("meta") or {}
            for rule in ("accepted_values", "provider_name"):
                if rule in meta:
                    declared[rule].add(uid)
    assert all(declared.values()), f"a rule no column declares: {declared}"
    assert {rule: uids - tested for rule, uids in declared.items()} == {
        rule: set() for rule in rules
    }
    # ... and no column-level accepted_values test: each would be one more node per build
    assert not [
        node["name"]
        for node in manifest["nodes"].values()
        if (node.get("test_metadata") or {}).get("name") == "accepted_values"
    ]
