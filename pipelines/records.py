"""What a run leaves besides the warehouse's records: marker files (failure records),
JSON outputs written atomically, file stamps, timestamps, and the pipeline log."""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import luigi

from finops.settings import Settings
from pipelines import state

CENT = Decimal("0.01")
FAILED_SUFFIX = ".failed"  # load_<source>.failed.json: the record of an isolated failure


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def marker_path(settings: Settings, run_date: date, name: str) -> Path:
    """A file under data/markers/<date>/: failure records and the cleanup job's record (a
    task's completion is recorded in its warehouse, pipelines/state.py)."""
    return settings.markers_dir / run_date.isoformat() / f"{name}.json"


class WarehouseRecord(luigi.Target):
    """A task's record in `pipeline.task_markers` of the warehouse (its Luigi output).

    `exists()` says the record is there; whether it still agrees with the warehouse is the
    task's `complete()`.
    """

    def __init__(self, db_path: Path, run_key: str, task: str) -> None:
        self.db_path, self.run_key, self.task = Path(db_path), run_key, task

    def read(self) -> dict[str, Any] | None:
        run_state = state.read_run_state(self.db_path, self.run_key)
        return run_state.marker(self.task) if run_state is not None else None

    def exists(self) -> bool:
        return self.read() is not None

    def __str__(self) -> str:
        return f"{self.db_path}#pipeline.task_markers[{self.run_key}/{self.task}]"


def discard_stale(target: luigi.LocalTarget) -> None:
    """Remove the output an earlier (partial) run left, before a rerun writes it again.

    LocalTarget.temporary_path refuses to rename over an existing file.
    """
    if target.exists():
        target.remove()


def write_json_target(target: luigi.LocalTarget, payload: dict[str, Any]) -> None:
    discard_stale(target)
    with target.temporary_path() as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2, default=str))


def utc_naive_now() -> datetime:
    """Now in UTC without tzinfo: how raw.load_ledger stores its timestamps."""
    return datetime.now(UTC).replace(tzinfo=None)


def configure_logging(settings: Settings) -> None:
    """Send our and Luigi's log records to logs/pipeline.log (once per process and file)."""
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    log_file = str(settings.log_dir / "pipeline.log")
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler, logging.FileHandler) and handler.baseFilename == log_file:
            return
    for handler in list(root.handlers):
        if getattr(handler, "_finops", False):  # a previous FINOPS_HOME in this process
            root.removeHandler(handler)
            handler.close()
    handler = logging.FileHandler(log_file)
    handler._finops = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.INFO, logging.INFO))
    for name in ("finops", "luigi-interface", "luigi"):
        logging.getLogger(name).setLevel(logging.INFO)


def file_stamp(path: Path) -> list[int] | None:
    """(size, mtime in ns) of a file the run wrote: a record holds only while the file is
    still the one it wrote (another warehouse's run of the date rewrites the same path)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]
