"""Read the tables `finops spark` built (importable as `spark_sql`).

The Spark target writes every model as a plain Parquet table under
`<FINOPS_SPARK_DIR>/warehouse/<schema>.db/<table>/` (`file_format: parquet`; the incremental
ones partitioned by day, `charge_date=YYYY-MM-DD/`), "readable by any engine" as
dbt_project.yml says. `SparkTables(spark_dir, relations)` takes them at their word: an
in-memory DuckDB with one view per relation over the files Spark wrote, so a test reads
Spark's output with the same SQL it runs on DuckDB's warehouse, without starting another
JVM (a Spark session costs 20-40 s on 2 cores, and the embedded Derby metastore admits one
JVM at a time). A table Spark built but left empty has a folder and no file: no row.

Values are compared through `plain()`, applied to both engines' rows alike.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

# The suite's Spark settings (spark-defaults.conf there says why), for every Spark JVM a test
# starts (dbt's, in `finops spark`).
SPARK_CONF_DIR = Path(__file__).parent / "fixtures" / "spark-conf"


def plain(value: Any, places: int = 6, digits: int = 12) -> Any:
    """A JSON-able value both engines' rows compare by: numbers rounded to `places` decimals,
    and to `digits` significant digits above 10^6 (float sums differ in the last digits
    between engines and runs, and exp() of a large argument in the 16th: an anomaly band's
    edge of 1.5e12 came out ...626.323 on DuckDB and ...626.3287 on Spark), dates as ISO
    text."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, (Decimal, float)):
        number = Decimal(str(value))
        integer_digits = number.adjusted() + 1 if number else 0
        rounded = round(number, min(places, digits - integer_digits))
        return "0" if rounded == 0 else format(rounded.normalize(), "f")
    if isinstance(value, (date, datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


class SparkTables:
    """An in-memory DuckDB where each relation ("schema.table") is a view over the Parquet
    files Spark wrote for it (partition folders read as columns)."""

    def __init__(self, spark_dir: Path, relations: list[str]) -> None:
        self.spark_dir = spark_dir
        self.con = duckdb.connect()
        self.empty: set[str] = set()
        for relation in relations:
            files = self.files(relation)
            if not files:
                self.empty.add(relation)
                continue
            self.con.execute(f"create schema if not exists {relation.split('.')[0]}")
            listed = ", ".join("'" + str(f).replace("'", "''") + "'" for f in files)
            self.con.execute(
                f"create view {relation} as select * "
                f"from read_parquet([{listed}], hive_partitioning = true)"
            )

    def folder(self, relation: str) -> Path:
        schema, table = relation.split(".")
        return self.spark_dir / "warehouse" / f"{schema}.db" / table

    def files(self, relation: str) -> list[Path]:
        """The table's Parquet files, partitions included; its folder must exist (Spark
        created the table)."""
        folder = self.folder(relation)
        assert folder.is_dir(), f"Spark has no table {relation} ({folder})"
        return sorted(p for p in folder.rglob("*.parquet") if not p.name.startswith("."))

    def rows(self, relation: str, sql: str) -> list[list[Any]]:
        """`sql`'s rows as plain values; none for a table Spark left empty (no file)."""
        if relation in self.empty:
            return []
        return [[plain(v) for v in row] for row in self.con.execute(sql).fetchall()]

    def partitions(self, relation: str) -> list[str]:
        """The partition folders holding data ("charge_date=2024-09-01"), sorted."""
        return sorted({p.parent.name for p in self.files(relation) if "=" in p.parent.name})
