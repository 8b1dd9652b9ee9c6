"""FOCUS sample data for the tests (importable as `focus_testing`): the FinOps Foundation's
real, anonymized FOCUS 1.0 sample (CC BY 4.0), its own totals, and copies of it written by
DuckDB (Parquet, CSV.gz) or altered row by row (restated, corrupted). The sample is vendored
unchanged in tests/fixtures/focus-sample/ (with its licence) and only ever read; every copy
goes to the test's tmp folder.
"""

from __future__ import annotations

import csv
import gzip
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import duckdb
from finops_testing import dbt

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLE = REPO_ROOT / "tests" / "fixtures" / "focus-sample" / "focus_sample.csv"
# FOCUS ProviderName in the sample -> provider_name in the marts
PROVIDERS = {"AWS": "AWS", "Microsoft": "Azure", "Oracle": "Oracle"}
CENT = Decimal("0.01")
COSTS = ("BilledCost", "EffectiveCost", "ListCost", "ContractedCost")


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and records of a FOCUS CSV (plain or gzip)."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8-sig") as handle:
        header, *rows = list(csv.reader(handle))
    return header, rows


def write_rows(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        csv.writer(handle).writerows([header, *rows])
    return path


def amount(value: str) -> Decimal:
    return Decimal(0) if value in ("", "NULL") else Decimal(value)


def file_totals(path: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    """(marts provider, BillingCurrency) -> (sum of BilledCost, sum of EffectiveCost), exact,
    computed from the file with Python alone."""
    header, rows = read_rows(path)
    col = {name: i for i, name in enumerate(header)}
    totals: dict[tuple[str, str], tuple[Decimal, Decimal]] = {}
    for row in rows:
        key = (PROVIDERS[row[col["ProviderName"]]], row[col["BillingCurrency"]])
        billed, effective = totals.get(key, (Decimal(0), Decimal(0)))
        totals[key] = (
            billed + amount(row[col["BilledCost"]]),
            effective + amount(row[col["EffectiveCost"]]),
        )
    return totals


def cents(totals: dict) -> dict:
    return {key: tuple(v.quantize(CENT) for v in values) for key, values in totals.items()}


def copy_sample(folder: Path, name: str = "focus_sample.csv") -> Path:
    """The sample, byte for byte, in `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / name
    target.write_bytes(SAMPLE.read_bytes())
    return target


def parquet_copy(source: Path, target: Path) -> Path:
    """The CSV as AWS writes FOCUS Parquet: costs DOUBLE, periods TIMESTAMP, nulls real.
    Written by DuckDB (COPY ... TO ... (FORMAT parquet))."""
    target.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        header, _ = read_rows(source)
        casts = ", ".join(
            f'cast("{name}" as double) as "{name}"'
            if name in (*COSTS, "ConsumedQuantity", "PricingQuantity")
            else f'cast("{name}" as timestamp) as "{name}"'
            if name.endswith(("PeriodStart", "PeriodEnd"))
            else f'"{name}"'
            for name in header
        )
        con.execute(
            f"copy (select {casts} from read_csv('{source}', all_varchar = true, "
            f"nullstr = 'NULL')) to '{target}' (format parquet)"
        )
    finally:
        con.close()
    return target


def gzip_copy(source: Path, target: Path) -> Path:
    """The CSV's bytes gzip-compressed (how exports ship .csv.gz)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(target, "wb") as handle:
        handle.write(source.read_bytes())
    return target


def altered_copy(
    target: Path, change: Callable[[list[str], list[list[str]]], tuple[list[str], list[list[str]]]]
) -> Path:
    """The sample with `change(header, rows)` applied, written as CSV to `target`."""
    header, rows = read_rows(SAMPLE)
    header, rows = change(list(header), [list(r) for r in rows])
    return write_rows(target, header, rows)


def warehouse_state(db_path: Path) -> dict[str, list[tuple]]:
    """Every row of every raw table (ledger, restatements and import records included)."""
    if not db_path.exists():
        return {}
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        tables = [
            name
            for (name,) in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' "
                "order by 1"
            ).fetchall()
        ]
        return {
            t: sorted(con.execute(f"select * from raw.{t}").fetchall(), key=repr) for t in tables
        }
    finally:
        con.close()


def fetch(db_path: Path, sql: str, params: list | None = None) -> list[tuple]:
    """The rows of `sql` on the warehouse at `db_path`, opened read-only."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def dbt_build(db_path: Path, work_dir: Path, *args: str) -> str:
    """`dbt build [args]` of the project against `db_path` (`finops_testing.dbt`); fails on any
    error. Without the unit tests: they need no data and tests/dbt/test_unit_tests.py runs
    every one of them."""
    done = dbt(db_path, work_dir, "build", "--exclude-resource-type", "unit_test", *args)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    return done.stdout
