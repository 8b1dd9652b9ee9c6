"""What a run did, kept in the warehouse it did it to: completion follows the warehouse.

Every task of a daily run records what it did in `pipeline.task_markers` of the run's own
warehouse (one row per run key x task: the JSON payload a file marker used to hold), and
counts as complete only when that record agrees with the warehouse's facts:

- a load: its record names succeeded rows of `raw.load_ledger` for the run's window, and no
  later attempt of that window (or purge of the source) came after them; a FOCUS load also
  needs the file listing at FINOPS_FOCUS_PATH to be the one it imported;
- the raw extract and the build: they were made from the loads the inputs' records name now;
- the export: the build it exported is the run's build, and the manifest at the
  destination names it; prune and report: they followed that export's build.

A new warehouse (another FINOPS_DUCKDB_PATH, a deleted file) therefore holds no record and
the whole date runs, whatever FINOPS_HOME already holds; a record whose loads the ledger does
not know (a restored or copied file) loses to the ledger. The schema is outside `raw` and
`marts`: neither exported to Spark nor published.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb

from loaders import warehouse

SCHEMA = "pipeline"
MARKERS_TABLE = f"{SCHEMA}.task_markers"
MARKERS_DDL = f"""
create table if not exists {MARKERS_TABLE} (
    run_key varchar not null,
    task varchar not null,
    run_date date not null,
    written_at timestamp not null,
    payload varchar not null,
    primary key (run_key, task)
)
"""
# How long a completion check waits for a writer (a load or a dbt build of another run).
READ_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class LedgerRow:
    load_id: str
    source: str
    scope: str
    window_start: date
    window_end: date
    started_at: datetime
    finished_at: datetime | None
    status: str


@dataclass
class RunState:
    """One read of a run's records and the ledger rows they name (or that follow them)."""

    markers: dict[str, dict[str, Any]] = field(default_factory=dict)
    ledger: dict[str, LedgerRow] = field(default_factory=dict)  # load_id -> row
    # (ledger source, window_start, window_end) -> every attempt of that window, and
    # ledger source -> every purge of it; newest last
    attempts: dict[tuple[str, date, date], list[LedgerRow]] = field(default_factory=dict)
    purges: dict[str, list[LedgerRow]] = field(default_factory=dict)

    def marker(self, task: str) -> dict[str, Any] | None:
        return self.markers.get(task)

    def loads_hold(self, payload: dict[str, Any]) -> bool:
        """Every load the record names succeeded here, and nothing came after them for the
        same window (a failed or newer attempt) or the same source (a purge)."""
        loads = payload.get("loads", [])
        for load in loads:
            row = self.ledger.get(load["load_id"])
            if row is None or row.status != "succeeded":
                return False
        if not loads:
            return True
        named = {load["load_id"] for load in loads}
        newest = max(self.ledger[load_id].started_at for load_id in named)
        for load in loads:
            row = self.ledger[load["load_id"]]
            key = (row.source, row.window_start, row.window_end)
            later = [
                a
                for a in self.attempts.get(key, []) + self.purges.get(row.source, [])
                if a.load_id not in named and a.started_at >= newest
            ]
            if later:
                return False
        return True


def _ledger_rows(con: duckdb.DuckDBPyConnection, where: str, params: list[Any]) -> list[LedgerRow]:
    cursor = con.execute(
        "select load_id, source, scope, window_start, window_end, started_at, finished_at, "
        f"status from raw.load_ledger where {where} order by started_at, load_id",
        params,
    )
    return [LedgerRow(*row) for row in cursor.fetchall()]


def read_run_state(db_path: Path, run_key: str) -> RunState | None:
    """The run's records in this warehouse and the ledger facts they rest on; None when the
    warehouse does not exist (nothing of any run is complete there)."""
    db_path = Path(db_path)
    if not db_path.exists():
        return None
    state = RunState()
    with warehouse.writer_lock(db_path, timeout_s=READ_TIMEOUT_S):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            if not warehouse.table_exists(con, SCHEMA, "task_markers"):
                return state
            for task, payload in con.execute(
                f"select task, payload from {MARKERS_TABLE} where run_key = ?", [run_key]
            ).fetchall():
                state.markers[task] = json.loads(payload)
            if not warehouse.table_exists(con, "raw", "load_ledger"):
                return state
            load_ids = sorted(
                {
                    load["load_id"]
                    for payload in state.markers.values()
                    for load in payload.get("loads", [])
                    if isinstance(load, dict) and "load_id" in load
                }
            )
            if not load_ids:
                return state
            for row in _ledger_rows(con, "load_id in (select unnest(?))", [load_ids]):
                state.ledger[row.load_id] = row
            for source, start, end in {
                (r.source, r.window_start, r.window_end) for r in state.ledger.values()
            }:
                state.attempts[(source, start, end)] = _ledger_rows(
                    con,
                    "source = ? and window_start = ? and window_end = ? and scope <> '*'",
                    [source, start, end],
                )
            for source in {r.source for r in state.ledger.values()}:
                state.purges[source] = _ledger_rows(con, "source = ? and scope = '*'", [source])
        finally:
            con.close()
    return state


def write_marker(
    db_path: Path, run_key: str, task: str, run_date: date, payload: dict[str, Any]
) -> None:
    """Record what `task` did for the run (replacing its earlier record), in one transaction."""
    text = json.dumps(payload, default=str, sort_keys=True)
    now = datetime.now(UTC).replace(tzinfo=None)
    with warehouse.writer_lock(Path(db_path)):
        con = warehouse.connect_writer(Path(db_path))
        try:
            con.execute(f"create schema if not exists {SCHEMA}")
            con.execute(MARKERS_DDL)
            con.execute("begin transaction")
            try:
                con.execute(
                    f"delete from {MARKERS_TABLE} where run_key = ? and task = ?", [run_key, task]
                )
                con.execute(
                    f"insert into {MARKERS_TABLE} values (?, ?, ?, ?, ?)",
                    [run_key, task, run_date, now, text],
                )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        finally:
            con.close()


class RunBusyError(RuntimeError):
    """Another run held the warehouse longer than this one was willing to wait."""


@contextmanager
def run_lock(
    db_path: Path,
    holder: str,
    wait_s: float,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[None]:
    """One run at a time per warehouse, for the whole run (load, build, publish, export,
    report): `<warehouse>.run.lock`, an flock the kernel releases when the process dies (a
    killed run never leaves a stale lock). A second run waits up to `wait_s` seconds, saying
    once who holds it (`on_wait`), then raises RunBusyError."""
    path = Path(str(db_path) + ".run.lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        deadline = time.monotonic() + wait_s
        told = False
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                handle.seek(0)
                current = handle.read().strip() or "another finops run"
                if time.monotonic() >= deadline:
                    raise RunBusyError(
                        f"{db_path} is busy: {current} has held it for more than "
                        f"{wait_s:.0f} s (FINOPS_RUN_WAIT_SECONDS); try again later"
                    ) from None
                if not told and on_wait is not None:
                    on_wait(current)
                    told = True
                time.sleep(0.5)
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{holder} (pid {os.getpid()})")
            handle.flush()
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
