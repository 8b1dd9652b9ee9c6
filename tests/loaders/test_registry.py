"""The source registry: one loader package (+ one staging folder) per source, and nothing
else names a source."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import yaml

from loaders import registry

REPO = Path(__file__).resolve().parents[2]
STAGING = REPO / "dbt_project" / "models" / "staging"


def test_every_source_is_declared_by_its_package_with_its_tables_and_staging():
    # GIVEN the registry, WHEN its sources are read
    assert [spec.name for spec in registry.SOURCES] == [
        "simulated",
        "aws",
        "aws_recommendations",
        "azure",
        "azure_recommendations",
        "focus",
    ]
    dbt_sources = {
        source["name"]
        for path in STAGING.glob("*/_*__sources.yml")
        for source in yaml.safe_load(path.read_text())["sources"]
    }
    for spec in registry.SOURCES:
        # THEN each is declared by a loader package's source module
        module = registry._resolve(spec.loader)
        assert module.__module__.startswith("loaders."), spec.name
        # AND its raw tables are the warehouse's catalogue, its dbt sources staged in a
        # folder of their own name
        for table in spec.raw_tables:
            assert registry.raw_tables()[table.name] is table
        for name in spec.dbt_sources:
            assert name in dbt_sources and (STAGING / name).is_dir(), (spec.name, name)
    # AND the simulated source is registered like any other, only marked as the demo
    assert [spec.name for spec in registry.SOURCES if spec.demo] == ["simulated"]
    # AND every raw table belongs to some source
    declared = {t.name for spec in registry.SOURCES for t in spec.raw_tables}
    assert set(registry.raw_tables()) == declared


def test_no_module_of_the_pipeline_cli_or_dashboard_names_a_source():
    names = {n for spec in registry.SOURCES for n in (spec.name, spec.ledger_source)}
    alternatives = "|".join(map(re.escape, sorted(names)))
    literal = re.compile(rf"""["']({alternatives})["']""")
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for folder in ("pipelines", "finops", "dashboard")
        for path in sorted((REPO / folder).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if literal.search(line)
    ]
    assert found == []


TOY_SOURCE = """
from loaders.catalogue import AMOUNT, AMOUNT_SQL, CostMeasure, RawTable
from loaders.registry import SourceSpec

TOY_COSTS = RawTable(
    name="toy_costs",
    columns=(
        ("usage_day", "date not null", __import__("pyarrow").date32()),
        ("account", "varchar not null", __import__("pyarrow").string()),
        ("cost", AMOUNT_SQL + " not null", AMOUNT),
        ("currency", "varchar not null", __import__("pyarrow").string()),
    ),
    date_column="usage_day",
    charge_date_sql="usage_day",
    account_sql="account",
    measures=(CostMeasure("billed", "cost", "currency"),),
    key_columns=("usage_day", "account", "currency"),
    provider_name="Toy Cloud",
)

SOURCE = SourceSpec(
    name="toy",
    ledger_source="toy_billing",
    raw_tables=(TOY_COSTS,),
    dbt_sources=(),
    providers=("Toy Cloud",),
    window="restatement",
    loader="loaders.toy.loader:load_for_run",
    rank=99,
    summary="a toy source",
    detect=lambda: True,
)
"""

TOY_LOADER = """
from datetime import timedelta
from decimal import Decimal


def load_for_run(config, window, attempt):
    days = (window.end - window.start).days
    rows = [
        {"usage_day": window.start + timedelta(days=i), "account": "a1",
         "cost": Decimal("1.25"), "currency": "USD"}
        for i in range(days)
    ]
    return [attempt.land("a1", rows)]
"""

TOY_RUN = """
import json, sys
from datetime import date
from pathlib import Path

import loaders
loaders.__path__.append(sys.argv[1])  # a package outside the repository, like a plugin

from finops.settings import load_settings, resolve_sources
from pipelines.sources import load_source

settings = load_settings()
[result] = load_source("toy", settings, date(2026, 3, 10)).results
import duckdb
con = duckdb.connect(str(settings.duckdb_path), read_only=True)
print(json.dumps({
    "auto": resolve_sources("auto"),
    "named": resolve_sources("toy,aws"),
    "window": [str(result.window_start), str(result.window_end)],
    "rows": con.execute("select count(*), sum(cost) from raw.toy_costs").fetchone()[0],
    "ledger": con.execute(
        "select source, raw_table, provider_name from raw.load_ledger"
    ).fetchall(),
}, default=str))
"""


def test_a_new_source_is_one_package(tmp_path: Path):
    # GIVEN a loader package `toy` (its source module and its loader), nowhere else named
    package = tmp_path / "plugins" / "toy"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "source.py").write_text(textwrap.dedent(TOY_SOURCE))
    (package / "loader.py").write_text(textwrap.dedent(TOY_LOADER))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "AWS_", "AZURE_"))},
        "FINOPS_HOME": str(tmp_path),
        "FINOPS_SOURCES": "toy",
        "FINOPS_RESTATEMENT_DAYS": "3",
    }

    # WHEN a run loads it
    proc = subprocess.run(
        [sys.executable, "-c", TOY_RUN, str(tmp_path / "plugins")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout)

    # THEN settings know it (`auto` picks it when detected, and it mixes with real sources),
    # the window policy gave it the restatement window, and the one writer landed and
    # ledgered it with its provider
    assert seen["auto"] == ["toy"]
    assert seen["named"] == ["toy", "aws"]
    assert seen["window"] == ["2026-03-07", "2026-03-10"]
    assert seen["rows"] == 3
    assert seen["ledger"] == [["toy_billing", "raw.toy_costs", "Toy Cloud"]]
