"""The dbt docs site a user opens for lineage: built by `finops docs`, nothing undocumented."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
from finops_testing import finops_env

FINOPS = str(Path(sys.executable).with_name("finops"))


def test_docs_site_is_built_and_every_model_seed_column_and_macro_is_described(built_home: Path):
    # GIVEN a warehouse the pipeline built
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}

    # WHEN the user builds the docs site
    proc = subprocess.run(
        [FINOPS, "docs"],
        env={**clean, **finops_env(built_home)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    # THEN one self-contained HTML file exists
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = built_home / "data" / "dbt" / "docs" / "index.html"
    assert site.stat().st_size > 100_000
    assert "fct_daily_costs" in site.read_text()

    # THEN every project model, seed and macro has a description, and so does every column
    # that exists in the built relations (from the catalog, not only the yml)
    target = built_home / "data" / "dbt" / "target"
    manifest = json.loads((target / "manifest.json").read_text())
    catalog = json.loads((target / "catalog.json").read_text())
    undocumented = []
    for unique_id, node in manifest["nodes"].items():
        if node["package_name"] != "finops" or node["resource_type"] not in ("model", "seed"):
            continue
        if not node["description"].strip():
            undocumented.append(unique_id)
        documented = {name.lower() for name, col in node["columns"].items() if col["description"]}
        built = catalog["nodes"].get(unique_id, {}).get("columns", {})
        assert built, f"{unique_id} is missing from the catalog"
        undocumented += [f"{unique_id}.{c}" for c in built if c.lower() not in documented]
    for unique_id, macro in manifest["macros"].items():
        if macro["package_name"] == "finops" and not macro["description"].strip():
            undocumented.append(unique_id)
    assert undocumented == []

    # THEN the dashboard is declared as an exposure on the three marts
    [exposure] = manifest["exposures"].values()
    assert exposure["type"] == "dashboard"
    assert {n.split(".")[-1] for n in exposure["depends_on"]["nodes"]} >= {
        "fct_daily_costs",
        "fct_cost_kpis",
        "fct_cost_anomalies",
    }


def test_the_serving_copy_carries_the_marts_docs_and_only_theirs(built_home: Path):
    # GIVEN the warehouse and serving copy the pipeline built and published
    manifest = json.loads((built_home / "data" / "dbt" / "target" / "manifest.json").read_text())
    daily = manifest["nodes"]["model.finops.fct_daily_costs"]
    with duckdb.connect(str(built_home / "data" / "finops_serving.duckdb"), read_only=True) as con:
        # THEN a mart's table and column comments are its dbt descriptions
        [(table_comment,)] = con.execute(
            "select comment from duckdb_tables() where table_name = 'fct_daily_costs'"
        ).fetchall()
        columns = dict(
            con.execute(
                "select column_name, comment from duckdb_columns() "
                "where table_name = 'fct_daily_costs'"
            ).fetchall()
        )
    assert table_comment == daily["description"]
    assert columns["billed_cost"] == daily["columns"]["billed_cost"]["description"]
    # ... while the layers only dbt reads carry none (persist_docs is set on the marts only)
    with duckdb.connect(str(built_home / "data" / "finops.duckdb"), read_only=True) as con:
        [(commented,)] = con.execute(
            "select count(*) from duckdb_columns() "
            "where schema_name in ('staging', 'intermediate') and comment is not null"
        ).fetchall()
    assert commented == 0
