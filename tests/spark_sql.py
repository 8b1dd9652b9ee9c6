"""Query the tables `finops spark` built, through Spark SQL (importable as `spark_sql`).

`query(spark_dir, sqls)` runs this file in a child Python: it starts a local pyspark session on
the same warehouse folder and Hive metastore as the `spark` target of profiles.yml, runs each
statement and prints the rows as JSON. A child process, because the metastore is an embedded
Derby database that one JVM at a time may open: the test's own process never holds it, so the
next `finops spark` (its own JVM, inside dbt) can.

Values come back normalised by `plain()`, the same function the tests apply to DuckDB's rows.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

# The suite's Spark settings (spark-defaults.conf there says why), for every Spark JVM a test
# starts: dbt's (`finops spark`) and the query child below.
SPARK_CONF_DIR = Path(__file__).parent / "fixtures" / "spark-conf"


def plain(value: Any, places: int = 6) -> Any:
    """A JSON-able value both engines' rows compare by: numbers rounded to `places` decimals
    (float sums differ in the last digits between engines and runs), dates as ISO text."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, (Decimal, float)):
        rounded = round(Decimal(str(value)), places)
        return "0" if rounded == 0 else format(rounded.normalize(), "f")
    if isinstance(value, (date, datetime)):
        return value.isoformat(sep=" ") if isinstance(value, datetime) else value.isoformat()
    return str(value)


def query(spark_dir: Path, sqls: list[str], timeout: float = 600) -> list[list[list[Any]]]:
    """Rows of each statement, in order, from a fresh Spark session on `spark_dir`."""
    proc = subprocess.run(
        [sys.executable, __file__, str(spark_dir)],
        input=json.dumps(sqls),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, "SPARK_CONF_DIR": str(SPARK_CONF_DIR)},
    )
    if proc.returncode != 0:
        raise AssertionError(f"spark query failed: {proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _main(spark_dir: str) -> None:
    from pyspark.sql import SparkSession

    base = Path(spark_dir)
    os.chdir(base)
    session = (
        SparkSession.builder.enableHiveSupport()
        .config("spark.master", "local[2]")
        .config("spark.sql.warehouse.dir", f"{base}/warehouse")
        .config(
            "spark.hadoop.javax.jdo.option.ConnectionURL",
            f"jdbc:derby:;databaseName={base}/metastore_db;create=true",
        )
        .config("spark.driver.extraJavaOptions", f"-Dderby.system.home={base}")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.ansi.enabled", "false")
        .config("spark.ui.enabled", "false")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    results = [
        [[plain(v) for v in row] for row in session.sql(sql).collect()]
        for sql in json.loads(sys.stdin.read())
    ]
    session.stop()
    print(json.dumps(results))


if __name__ == "__main__":
    _main(sys.argv[1])
