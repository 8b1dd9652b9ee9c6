"""Every dbt unit test (the SQL rules on fixed rows: pivot, categories, FX, scoring,
forecast, root causes ...) on an empty warehouse: the raw tables created, every model built
with `--empty` (zero rows, right types), then the unit tests. Part of `make test-fast`
(tests/conftest.py FAST_PATHS).

    .venv/bin/pytest tests/dbt/test_unit_tests.py -q
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
from finops_testing import dbt

from loaders.warehouse import schema


def test_every_dbt_unit_test_passes_on_an_empty_warehouse(tmp_path: Path) -> None:
    db_path = tmp_path / "finops.duckdb"
    con = duckdb.connect(str(db_path))
    try:
        schema.ensure_raw_schema(con)
    finally:
        con.close()
    done = dbt(
        db_path, tmp_path, "build", "--empty", "--exclude-resource-type", "test"
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]

    results = json.loads((tmp_path / "target" / "run_results.json").read_text())["results"]
    unit_tests = {
        r["unique_id"]: r["status"] for r in results if r["unique_id"].startswith("unit_test.")
    }
    manifest = json.loads((tmp_path / "target" / "manifest.json").read_text())
    assert set(unit_tests) == set(manifest["unit_tests"])
    assert len(unit_tests) >= 18
    assert set(unit_tests.values()) == {"pass"}
    # ... with dbt's own fixture SQL on DuckDB (the COALESCE hint of
    # macros/spark_unit_test_fixtures.sql is Spark's only)
    [forecast_test] = (tmp_path / "target" / "run").rglob("int_month_end_forecasts_flat_series.sql")
    executed = forecast_test.read_text()
    assert "union all" in executed and "COALESCE" not in executed
