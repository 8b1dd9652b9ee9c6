"""How the dashboard reads: each published version of the serving copy attached read-only
to one in-memory DuckDB instance shared by every session, a cursor per query, bound
parameters only, and the cache settings of every query function."""

from __future__ import annotations

import re
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import streamlit as st

from dashboard.data.types import MartsUnavailable, Source, WarehouseBusy
from finops.settings import load_settings

CACHE_TTL = timedelta(minutes=10)
CACHE_ENTRIES = 64
LOCK_RETRIES = 5
LOCK_BACKOFF_SECONDS = 0.2
SNAPSHOTS_KEPT = 2  # the current version, and the previous one while its queries finish

_PARAM = re.compile(r"\$([a-z_]+)")


def current_source() -> Source:
    """The serving copy named by the settings; `MartsUnavailable` when it does not exist."""
    path = load_settings().serving_path
    try:
        version = path.stat().st_mtime_ns
    except FileNotFoundError:
        raise MartsUnavailable(str(path)) from None
    return Source(str(path), version)


@st.cache_resource(max_entries=SNAPSHOTS_KEPT, show_spinner=False)
def version_snapshot(source: Source) -> duckdb.DuckDBPyConnection:
    """This version of the serving copy, attached read-only to an in-memory DuckDB instance.

    One instance per published version, shared by every session: queries run on cursors of
    it, so they share its buffer pool instead of re-reading the file for each query. A fresh
    instance is needed for each version: `duckdb.connect(path)` would hand back an instance
    still open on the previous file (DuckDB caches instances by path), whereas ATTACH opens
    the file the path names now. The pipeline never writes the serving copy in place (it
    renames a new file over it), so holding it open blocks nothing; an evicted version is
    released when its last query has finished.
    """
    con = duckdb.connect(":memory:")
    quoted = source.path.replace("'", "''")
    for attempt in range(LOCK_RETRIES):
        try:
            con.execute(f"attach '{quoted}' as serving (read_only)")
            break
        except duckdb.IOException as exc:
            if not Path(source.path).exists():
                con.close()
                raise MartsUnavailable(source.path) from exc
            if attempt == LOCK_RETRIES - 1:
                con.close()
                raise WarehouseBusy(str(exc)) from exc
            time.sleep(LOCK_BACKOFF_SECONDS * (attempt + 1))
    return con


_CURSOR_LOCK = threading.Lock()


@contextmanager
def read_only_cursor(source: Source) -> Iterator[duckdb.DuckDBPyConnection]:
    """A cursor on the version's snapshot, whose default catalog is the serving copy."""
    snapshot = version_snapshot(source)  # held until the query is done: keeps the instance alive
    with _CURSOR_LOCK:
        cursor = snapshot.cursor()
    try:
        cursor.execute("use serving")
        yield cursor
    finally:
        cursor.close()
        del snapshot


def bind_params(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters the SQL text names (DuckDB rejects unused named parameters)."""
    names = set(_PARAM.findall(sql))
    return {name: value for name, value in params.items() if name in names}


def query_frame(source: Source, sql: str, params: dict[str, Any]) -> pd.DataFrame:
    try:
        with read_only_cursor(source) as con:
            return con.execute(sql, bind_params(sql, params)).df()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc


def query_rows(source: Source, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Rows as Python values: DECIMAL stays Decimal (exact KPIs), DATE stays date."""
    try:
        with read_only_cursor(source) as con:
            return con.execute(sql, bind_params(sql, params)).fetchall()
    except duckdb.CatalogException as exc:
        raise MartsUnavailable(source.path) from exc


def as_decimal(value: Any) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


def copy_csv(source: Source, sql: str, params: dict[str, Any], name: str) -> bytes:
    """The rows of `sql` (bound `params`) as CSV, written by DuckDB itself (exact decimals,
    ISO dates) into a temporary file; MartsUnavailable when a mart is missing. For the
    download buttons: not cached, it runs when one is clicked."""
    with tempfile.TemporaryDirectory(prefix="finops_export_") as folder:
        target = Path(folder) / f"{name}.csv"
        try:
            with read_only_cursor(source) as con:
                con.execute(
                    f"copy ({sql}) to '{target}' (header, delimiter ',')",
                    bind_params(sql, params),
                )
        except duckdb.CatalogException as exc:
            raise MartsUnavailable(source.path) from exc
        return target.read_bytes()
