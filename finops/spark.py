"""`finops spark`: the same dbt project built on Apache Spark (dbt-spark, target `spark`).

The loaders land raw costs in DuckDB; Spark reads them as Parquet. This module
1. exports every `raw.*` table of the warehouse to `<FINOPS_SPARK_DIR>/raw/<table>/` (Parquet,
   written by DuckDB into a new folder, then swapped in, so a build never reads a half-written
   table), and
2. runs `dbt build --target spark` with `raw_parquet_location` pointing there: the project's
   on-run-start hook registers those folders as external tables `raw.<table>`, then every
   staging, intermediate and mart model and every test runs on Spark.

With the default profile the Spark engine is a local pyspark session that dbt starts itself
(`method: session`, Java 17); its tables and Hive metastore live under FINOPS_SPARK_DIR. For a
cluster (Thrift server or Databricks) see "Spark" in the README: `--raw-only` writes the Parquet
you copy to the cluster's storage.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import duckdb

from finops import dbt_runner
from finops.settings import Settings
from loaders import warehouse

log = logging.getLogger(__name__)


def spark_dir(settings: Settings) -> Path:
    """FINOPS_SPARK_DIR (default `$FINOPS_HOME/data/spark`), absolute."""
    configured = os.environ.get("FINOPS_SPARK_DIR", "").strip()
    path = Path(configured).expanduser() if configured else settings.data_dir / "spark"
    if not path.is_absolute():
        path = settings.home / path
    return path.resolve()


def export_raw_parquet(settings: Settings, target: Path) -> dict[str, int]:
    """Every `raw.*` table of the warehouse -> `<target>/<table>/part-0.parquet`.

    The new files are written next to `target` and swapped in at the end; the warehouse is
    read under the writer lock, so the copy is one consistent state of raw. Returns the row
    count per table.
    """
    if not settings.duckdb_path.exists():
        raise FileNotFoundError(
            f"no warehouse at {settings.duckdb_path}: run `finops run` first (FINOPS_HOME, "
            "FINOPS_DUCKDB_PATH)"
        )
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".{target.name}.{uuid.uuid4().hex}"
    counts: dict[str, int] = {}
    try:
        with warehouse.writer_lock(settings.duckdb_path):
            con = duckdb.connect(str(settings.duckdb_path), read_only=True)
            try:
                tables = [
                    name
                    for (name,) in con.execute(
                        "select table_name from duckdb_tables() "
                        "where schema_name = 'raw' order by table_name"
                    ).fetchall()
                ]
                for table in tables:
                    folder = staging / table
                    folder.mkdir(parents=True)
                    out = (folder / "part-0.parquet").as_posix().replace("'", "''")
                    con.execute(
                        f"copy (select * from raw.\"{table}\") to '{out}' "
                        "(format parquet, compression zstd)"
                    )
                    (count,) = con.execute(f'select count(*) from raw."{table}"').fetchone()
                    counts[table] = int(count)
            finally:
                con.close()
        previous = target.parent / f".{target.name}.old-{uuid.uuid4().hex}"
        if target.exists():
            target.rename(previous)
        staging.rename(target)
        shutil.rmtree(previous, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return counts


def dbt_options(settings: Settings, raw_location: Path) -> list[str]:
    """What `finops spark` adds to a dbt command: the `spark` target and where raw lies."""
    return [
        "--target",
        "spark",
        "--vars",
        json.dumps({"raw_parquet_location": raw_location.as_posix()}),
    ]


def build(settings: Settings, dbt_args: list[str] | None = None) -> dict[str, Any]:
    """Export raw to Parquet and `dbt build --target spark`; raise with dbt's failures."""
    base = spark_dir(settings)
    raw_location = base / "raw"
    counts = export_raw_parquet(settings, raw_location)
    log.info("raw tables exported for Spark: %s", counts)
    args = dbt_args or ["build"]
    output_log = settings.log_dir / "dbt_spark_output.log"
    run = dbt_runner.invoke(
        args,
        options=dbt_options(settings, raw_location),
        target_path=base / "dbt" / "target",
        log_path=base / "dbt" / "logs",
        env=dbt_runner.dbt_env(settings, FINOPS_SPARK_DIR=str(base)),
        output_log=output_log,
        header=f"dbt {' '.join(args)} --target spark",
        cwd=base,
    )
    if run.returncode != 0:
        failed = [f"{n['node']}: {n['status']} {n['message'] or ''}" for n in run.failed_nodes]
        detail = "; ".join(failed[:5]) or run.stdout[-3000:] + run.stderr[-2000:]
        raise RuntimeError(
            f"dbt build on Spark failed (exit {run.returncode}): {detail} Full output: {output_log}"
        )
    return {
        "raw_rows": counts,
        "counts": run.counts,
        "elapsed_s": run.elapsed_s if run.elapsed_s is not None else 0.0,
        "spark_dir": str(base),
    }
