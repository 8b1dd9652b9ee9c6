"""Who may write the warehouse: one writer at a time across processes, and a connection
that waits out short-lived readers."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import duckdb

T = TypeVar("T")


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse for writing longer than we are willing to wait."""


@contextmanager
def writer_lock(db_path: Path, timeout_s: float = 600.0) -> Iterator[None]:
    """Serialise writers across processes (cron run, backfill, tests) on one warehouse."""
    lock_path = Path(str(db_path) + ".writer.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusyError(
                        f"another finops process is writing {db_path}; gave up after {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


# Row groups the checkpoint may merge ("vacuum") in a bulk landing session
# (`attached_writer`: the FOCUS import lands every billing period, each its own insert).
# With DuckDB's default (100) the session's checkpoint rewrote the whole raw table (10M
# FOCUS rows: 7-12 s, the file written twice over); with 1 it does not, and the file stays
# the same size under repeated re-imports (4 forced re-imports of 10M rows: 991-995 blocks
# used). Not 0: without any vacuum the space of partly deleted row groups is never reused
# (the API daily load grew the file 1.6 % a day). The writer's own connection keeps the
# default: its loads are smaller, and there 1 made the daily load slower (7.6 s, 4.7 s).
BULK_VACUUM_TASKS = "1"
# The WAL a bulk landing session lets grow before a commit checkpoints it. With DuckDB's
# default (16 MiB) every third billing period of a 1M-row FOCUS import paid a checkpoint
# at its commit (0.2-0.7 s each; 27 commits took 4.3 s): the session checkpoints once, when
# it detaches, unless its WAL outgrows this.
BULK_CHECKPOINT_THRESHOLD = "1GB"


def duckdb_config(db_path: Path) -> dict[str, str]:
    """DuckDB's memory limit and spill folder for the warehouse, as dbt's profile sets them:
    FINOPS_DUCKDB_MEMORY_LIMIT (default `80%` of RAM, DuckDB's own default) and
    FINOPS_DUCKDB_TEMP_DIR (default `<warehouse>.tmp`, DuckDB's own). finops.settings
    validates both and passes them to dbt (`Settings.dbt_env`)."""
    memory_limit = os.environ.get("FINOPS_DUCKDB_MEMORY_LIMIT", "").strip() or "80%"
    temp_dir = os.environ.get("FINOPS_DUCKDB_TEMP_DIR", "").strip() or f"{db_path}.tmp"
    return {"memory_limit": memory_limit, "temp_directory": temp_dir}


def _waiting_out_readers(open_once: Callable[[], T], retry_s: float = 30.0) -> T:
    """`open_once()` (opening the warehouse read-write), again every 0.25 s while a
    short-lived reader's lock refuses it, for up to `retry_s`."""
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return open_once()
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def connect_writer(db_path: Path, retry_s: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, waiting out short-lived readers' locks."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    return _waiting_out_readers(
        lambda: duckdb.connect(str(db_path), config=duckdb_config(db_path)), retry_s
    )


@contextmanager
def writer_connection(db_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """The writer's lock and a read-write connection, both let go on exit."""
    with writer_lock(db_path):
        con = connect_writer(db_path)
        try:
            yield con
        finally:
            con.close()


WAREHOUSE_ALIAS = "warehouse"


@contextmanager
def attached_writer(con: duckdb.DuckDBPyConnection, db_path: Path) -> Iterator[None]:
    """The writer's lock, and the warehouse attached read-write to `con` (a loader's own
    DuckDB, e.g. the FOCUS import's scratch database) as its default catalog, so rows staged
    there land with `insert ... select` without leaving DuckDB. Checkpointed once, when it
    is detached (BULK_CHECKPOINT_THRESHOLD, with a bounded vacuum: BULK_VACUUM_TASKS), and
    the lock let go on exit; `con` is back on its own catalog and settings."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(db_path):
        [(own,)] = con.execute("select current_database()").fetchall()
        con.execute(f"set max_vacuum_tasks = {BULK_VACUUM_TASKS}")
        con.execute(f"set checkpoint_threshold = '{BULK_CHECKPOINT_THRESHOLD}'")
        path = str(db_path).replace("'", "''")
        _waiting_out_readers(lambda: con.execute(f"attach '{path}' as {WAREHOUSE_ALIAS}"))
        try:
            con.execute(f"use {WAREHOUSE_ALIAS}")
            yield
        finally:
            con.execute(f'use "{own}"')
            con.execute(f"detach {WAREHOUSE_ALIAS}")
            con.execute("reset checkpoint_threshold")
            con.execute("reset max_vacuum_tasks")
