"""The tasks' shared parameters and plumbing: run date, backfill start and `force`; a record
in the warehouse as each task's output, complete only while it still holds; completion that
follows the inputs."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date
from pathlib import Path
from typing import Any

import luigi

from finops.settings import Settings, load_settings
from pipelines import state
from pipelines.records import WarehouseRecord, configure_logging, now_iso
from pipelines.state import RunState

log = logging.getLogger("finops.pipeline")


BUILD_MARKER = "dbt_build"  # DbtBuild's record: the build a later step follows

# The run states read so far in the current completeness check (see `one_run_state`)
_CHECKING: ContextVar[dict[tuple[Path, str], RunState | None] | None] = ContextVar(
    "finops_run_states", default=None
)


@contextmanager
def one_run_state() -> Iterator[None]:
    """Within: each run's records are read from the warehouse once, and every task asked
    sees that one reading. A task's completeness follows its inputs' (`CompleteWithInputs`),
    and Luigi asks every task before and after it runs: without this, one question about the
    last step opened the warehouse once per step upstream of it (some 40 opens of 20-50 ms
    in a daily run). One reading is also one point in time for the whole answer."""
    if _CHECKING.get() is not None:  # an outer check already holds the readings
        yield
        return
    token = _CHECKING.set({})
    try:
        yield
    finally:
        _CHECKING.reset(token)


class OptionalDateParameter(luigi.parameter.OptionalParameterMixin, luigi.DateParameter):
    """A date, or None (empty on the command line)."""

    expected_type = date


class RunParameters(luigi.Task):
    """The run date, for a backfill the first day to load (`since`), and `force`."""

    date = luigi.DateParameter()
    since = OptionalDateParameter(
        default=None, description="backfill: load [since, date) instead of the daily window"
    )
    # Not significant: a forced run is the same run (same task ids, same records), only
    # its loads do not count as complete until they have run again in this worker.
    force = luigi.BoolParameter(
        default=False,
        significant=False,
        description="rerun the date even if it is complete: reload its windows (FOCUS: "
        "re-import every file), rebuild, re-export, re-report",
    )

    @property
    def run_suffix(self) -> str:
        """Keeps a backfill's outputs apart from the plain daily run of the same date."""
        return f"_since_{self.since:%Y%m%d}" if self.since else ""

    @property
    def run_key(self) -> str:
        """The run's key in pipeline.task_markers: the date, and the backfill start."""
        return f"{self.date.isoformat()}{self.run_suffix}"

    def run_params(self) -> dict[str, Any]:
        return {"date": self.date, "since": self.since, "force": self.force}

    def run_state(self) -> RunState | None:
        key = (load_settings().duckdb_path, self.run_key)
        readings = _CHECKING.get()
        if readings is None:
            return state.read_run_state(*key)
        if key not in readings:
            readings[key] = state.read_run_state(*key)
        return readings[key]


class CompleteWithInputs(luigi.Task):
    """Complete when its own record holds *and* every input is complete.

    After a partial run the failed load is not complete, so everything downstream of it is
    incomplete again although its own record exists: the next run of the date retries the
    load and rebuilds, re-exports and re-reports the day (each run() replaces its record).
    """

    def complete(self) -> bool:
        with one_run_state():
            return super().complete() and all(
                task.complete() for task in luigi.task.flatten(self.requires())
            )


class FinopsTask(RunParameters):
    """Shared plumbing: settings read at run time, a record in the warehouse, timing."""

    marker_name: str = ""

    @property
    def settings(self) -> Settings:
        return load_settings()

    def output(self) -> WarehouseRecord:
        return WarehouseRecord(self.settings.duckdb_path, self.run_key, self.marker_name)

    def complete(self) -> bool:
        run_state = self.run_state()
        payload = run_state.marker(self.marker_name) if run_state is not None else None
        return payload is not None and self.holds(payload, run_state)

    def holds(self, payload: dict[str, Any], run_state: RunState) -> bool:
        """Whether the record still agrees with the warehouse (and the outside world)."""
        return True

    def run(self) -> None:
        settings = self.settings
        configure_logging(settings)
        started = time.monotonic()
        log.info("%s %s: started", self.marker_name, self.date)
        self.finish(self.work(settings), started)

    def finish(self, payload: dict[str, Any], started: float) -> None:
        payload.update(
            task=self.marker_name,
            run_date=self.date.isoformat(),
            since=self.since.isoformat() if self.since else None,
            finished_at=now_iso(),
            duration_s=round(time.monotonic() - started, 2),
        )
        settings = self.settings
        state.write_marker(settings.duckdb_path, self.run_key, self.marker_name, self.date, payload)
        log.info("%s %s: done in %.1fs", self.marker_name, self.date, payload["duration_s"])

    def work(self, settings: Settings) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def outcome(self, payload: dict[str, Any]) -> str:
        """What the recorded run of this task did, in a few words (the end-of-run lines)."""
        return f"done at {payload.get('finished_at')}"

    def build_id(self, run_state: RunState) -> str | None:
        build = run_state.marker(BUILD_MARKER)
        return build.get("build_id") if build else None
