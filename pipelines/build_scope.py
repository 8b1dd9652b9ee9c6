"""Which nodes a daily `dbt build` runs: those the loads since the last build reach.

A daily build already rebuilds and tests only the days loads changed (build_window.py). It
still ran every node of the project, so a user of one source paid, every morning, for the
staging models, intermediate models and data tests of the sources that landed nothing - and
dbt's fixed cost per node (about 30 ms of Python each, over 300 nodes) is most of a small
daily build. This module leaves those nodes out when that cannot change any table:

    kept      a node with a raw table upstream that a load or purge (succeeded or failed:
              fct_load_freshness reports failures; a load writes every raw table of its
              source in one transaction) was ledgered for since the last
              successful build; a node whose only raw inputs are the ledgers themselves
              (they change with every load: stg_finops__load_ledger, fct_cost_restatements)
    left out  every other node: the models and tests of sources that landed nothing, and the
              seeds and what reads only seeds (they change with the project only); with no
              allocation key configured, the allocation models and their tests as well
              (they hold no row whatever the costs are; models tagged `allocation`)

Each table left out holds what the same build would have written: its inputs did not
change, nor did the code that computes it. That is checked, not assumed: the plan applies
only when the project's files, dbt's version and every setting the build hands to dbt are
the ones of the last successful build (a fingerprint in data/dbt/build_scope.json, written
after each successful build with the node -> raw tables map of its manifest); otherwise,
on a first build, and after a ledger that went back in time (a restored warehouse), every
node runs. A table left out keeps its own watermark, so it rebuilds the right days the day
its source lands again; build_window.py does not count it when it names the window.

`finops verify` and `dbt build --full-refresh` are not concerned: they run everything.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import duckdb

from finops.settings import DBT_PROFILES_DIR, DBT_PROJECT_DIR, Settings
from loaders import registry
from pipelines.build_window import has_ledger

log = logging.getLogger("finops.pipeline")

STATE_VERSION = 1
# The dbt source of the warehouse's own bookkeeping (the ledger and the restatement ledger).
LEDGER_SOURCE = "finops"
ALLOCATION_TAG = "allocation"
_PROJECT_PARTS = ("dbt_project.yml", "models", "macros", "seeds", "tests", "analyses")
_SKIPPED_DIRS = {"target", "logs", "dbt_packages"}
# Settings handed to dbt that say where and with how much memory it works, not what it
# computes (the profile's own text is in the fingerprint)
_WHERE_NOT_WHAT = {
    "FINOPS_DUCKDB_PATH",
    "FINOPS_DUCKDB_MEMORY_LIMIT",
    "FINOPS_DUCKDB_TEMP_DIR",
    "DBT_PROFILES_DIR",
}


def state_path(settings: Settings) -> Path:
    return settings.data_dir / "dbt" / "build_scope.json"


def project_fingerprint(settings: Settings) -> str:
    """sha256 of what decides what a build writes besides the raw data: the dbt project's
    files, the profile, dbt's and DuckDB's versions, and the settings handed to dbt that
    shape the results (the reporting currency, the allocation configuration, ...)."""
    digest = hashlib.sha256()
    files = [DBT_PROFILES_DIR / "profiles.yml"]
    for part in _PROJECT_PARTS:
        path = DBT_PROJECT_DIR / part
        if path.is_file():
            files.append(path)
        elif path.is_dir():
            files.extend(
                p
                for p in path.rglob("*")
                if p.is_file() and not _SKIPPED_DIRS.intersection(p.relative_to(path).parts)
            )
    for path in sorted(files):
        digest.update(str(path.relative_to(DBT_PROJECT_DIR.parent)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    versions = {name: metadata.version(name) for name in ("dbt-core", "dbt-duckdb", "duckdb")}
    shaping = {k: v for k, v in settings.dbt_env().items() if k not in _WHERE_NOT_WHAT}
    digest.update(json.dumps([versions, shaping], sort_keys=True).encode())
    return digest.hexdigest()


def node_inputs(manifest: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per seed, model and data test of a dbt manifest (by unique id): its selector (the
    dotted fqn, which selects that node only), the raw relations ("schema.table") upstream of
    it, whether the ledger is its only raw input, and whether it is or reads a model tagged
    `allocation`; for incremental models also their relation."""
    nodes = manifest["nodes"]
    sources = manifest["sources"]
    ledger = {uid for uid, source in sources.items() if source["source_name"] == LEDGER_SOURCE}
    memo: dict[str, tuple[frozenset[str], frozenset[str], bool]] = {}

    def upstream(uid: str) -> tuple[frozenset[str], frozenset[str], bool]:
        """(raw relations, ledger relations, allocation) upstream of uid, itself included."""
        if uid in memo:
            return memo[uid]
        if uid in sources:
            relation = f"{sources[uid]['schema']}.{sources[uid]['identifier']}".lower()
            found = (frozenset(), frozenset([relation]), False)
            if uid not in ledger:
                found = (frozenset([relation]), frozenset(), False)
            memo[uid] = found
            return found
        node = nodes.get(uid)
        if node is None:
            return frozenset(), frozenset(), False
        raw: set[str] = set()
        ledgers: set[str] = set()
        allocation = ALLOCATION_TAG in node.get("tags", [])
        for parent in node.get("depends_on", {}).get("nodes", []):
            parent_raw, parent_ledgers, parent_allocation = upstream(parent)
            raw |= parent_raw
            ledgers |= parent_ledgers
            allocation = allocation or parent_allocation
        memo[uid] = (frozenset(raw), frozenset(ledgers), allocation)
        return memo[uid]

    result: dict[str, dict[str, Any]] = {}
    for uid, node in nodes.items():
        if node["resource_type"] not in ("seed", "model", "test", "snapshot"):
            continue
        raw, ledgers, allocation = upstream(uid)
        entry: dict[str, Any] = {
            "selector": ".".join(node["fqn"]),
            "raw": sorted(raw),
            "ledger_only": not raw and bool(ledgers),
            "allocation": allocation,
        }
        if node["resource_type"] == "model" and node["config"].get("materialized") == "incremental":
            entry["relation"] = f"{node['schema']}.{node['alias']}".lower()
        result[uid] = entry
    return result


@dataclass
class BuildScope:
    """The nodes a daily build leaves out (none: every node runs) and the ledger's high-water
    mark the next build compares with."""

    ledger_mark: str | None
    fingerprint: str
    left_out: list[str] = field(default_factory=list)
    left_out_relations: set[str] = field(default_factory=set)
    reason: str = ""
    # the last build's node map when it is of this very project (same fingerprint): the
    # build then need not write its manifest again (finops/dbt_child.py), record() keeps it
    node_map: dict[str, dict[str, Any]] | None = None

    def exclude_args(self) -> list[str]:
        return ["--exclude", *self.left_out] if self.left_out else []

    def write_json_args(self) -> list[str]:
        """dbt's manifest.json is written (about 1 s) only when the recorded node map is not
        of this project; the results are written either way."""
        return ["--no-write-json"] if self.node_map is not None else []


def _ledger_mark(con: duckdb.DuckDBPyConnection) -> datetime | None:
    if not has_ledger(con):
        return None
    return con.execute("select max(finished_at) from raw.load_ledger").fetchone()[0]


def plan(settings: Settings, con: duckdb.DuckDBPyConnection, *, daily: bool) -> BuildScope:
    """What the next build leaves out (under the caller's writer lock). `daily`: incremental
    tables exist, so this is not a first build."""
    mark = _ledger_mark(con)
    scope = BuildScope(
        ledger_mark=mark.isoformat() if mark else None, fingerprint=project_fingerprint(settings)
    )
    path = state_path(settings)
    state = json.loads(path.read_text()) if path.exists() else None
    recorded = state is not None and state.get("version") == STATE_VERSION
    if recorded and state.get("fingerprint") == scope.fingerprint:
        scope.node_map = state["nodes"]
    if not daily:
        scope.reason = "first build"
    elif not recorded:
        scope.reason = "no record of the last build"
    elif state.get("fingerprint") != scope.fingerprint:
        scope.reason = "the project, dbt or its settings changed since the last build"
    elif state.get("ledger_mark") and (
        mark is None or mark < datetime.fromisoformat(state["ledger_mark"])
    ):
        scope.reason = "the load ledger is older than at the last build"
    if scope.reason:
        return scope

    since = datetime.fromisoformat(state["ledger_mark"]) if state.get("ledger_mark") else None
    # a load writes its ledger row's raw table and, in the same transaction, the source's
    # other raw tables (`with_tables`: commitments, tags, the FOCUS resource grain): every
    # raw table of a source that was ledgered counts as changed
    tables_of = {
        spec.ledger_source: {table.qualified.lower() for table in spec.raw_tables}
        for spec in registry.SOURCES
    }
    changed: set[str] = set()
    for source, relation in con.execute(
        "select distinct source, raw_table from raw.load_ledger where ? is null or finished_at > ?",
        [since, since],
    ).fetchall():
        if relation:
            changed.add(relation.lower())
        changed |= tables_of.get(source, set())
    no_keys = not json.loads(settings.allocation_config).get("keys")
    for entry in sorted(state["nodes"].values(), key=lambda e: e["selector"]):
        reached = entry["ledger_only"] or bool(changed.intersection(entry["raw"]))
        if reached and not (no_keys and entry["allocation"]):
            continue
        scope.left_out.append(entry["selector"])
        if "relation" in entry:
            scope.left_out_relations.add(entry["relation"])
    return scope


def record(settings: Settings, scope: BuildScope) -> None:
    """After a successful build: its fingerprint, the ledger mark it was planned at, and the
    node map of the manifest it ran (data/dbt/target/manifest.json; the recorded one when it
    is of the same project, and the build then wrote no manifest)."""
    nodes = scope.node_map
    if nodes is None:
        target = settings.data_dir / "dbt" / "target"
        nodes = node_inputs(json.loads((target / "manifest.json").read_text()))
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(
        json.dumps(
            {
                "version": STATE_VERSION,
                "fingerprint": scope.fingerprint,
                "ledger_mark": scope.ledger_mark,
                "nodes": nodes,
            },
            indent=1,
            sort_keys=True,
        )
    )
    tmp.replace(path)
