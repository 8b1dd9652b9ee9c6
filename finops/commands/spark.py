"""`finops spark`: the command around finops/spark.py, which exports the raw tables to
Parquet and builds the dbt project on Spark."""

from __future__ import annotations

import argparse
import sys

from finops.exit_codes import EXIT_FAILED, EXIT_OK
from finops.settings import load_settings


def cmd_spark(args: argparse.Namespace) -> int:
    """Export the raw tables to Parquet and build the dbt project on Spark (finops/spark.py)."""
    from finops import spark

    settings = load_settings()
    base = spark.spark_dir(settings)
    if args.raw_only:
        try:
            counts = spark.export_raw_parquet(settings, base / "raw")
        except FileNotFoundError as exc:
            print(f"finops spark: {exc}", file=sys.stderr)
            return EXIT_FAILED
        for table, rows in counts.items():
            print(f"  raw.{table}: {rows} rows")
        print(f"raw Parquet: {base / 'raw'} (one folder per table; see README, Spark)")
        return 0
    print(f"finops spark: dbt build --target spark in {base} (starts a local Spark)", flush=True)
    try:
        result = spark.build(settings, ["build", "--full-refresh"] if args.full_refresh else None)
    except (RuntimeError, FileNotFoundError) as exc:
        print(f"finops spark: {exc}", file=sys.stderr)
        return EXIT_FAILED
    counts = ", ".join(f"{n} {status}" for status, n in sorted(result["counts"].items()))
    print(f"built on Spark in {result['elapsed_s']} s: {counts}")
    print(f"tables: {base / 'warehouse'} (schemas staging, intermediate, marts, seeds)")
    return EXIT_OK
