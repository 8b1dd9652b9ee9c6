"""The daily pipeline: load -> dbt build -> raw extract -> export -> prune -> report.

    luigi --module pipelines DailyPipeline --date 2026-01-31 --local-scheduler
    luigi --module pipelines DailyPipeline --date 2026-02-01 --since 2025-08-01 --local-scheduler
    luigi --module pipelines RangeDaily --of DailyPipeline \
        --start 2026-01-01 --stop 2026-02-01 --days-back 3650 --local-scheduler

`--since` makes a backfill: every source loads `[since, date)` in one window (one set of API
requests, checked against the request budget) instead of its usual daily window.

Completion follows the warehouse (pipelines/state.py). Every task records what it did in
`pipeline.task_markers` of the run's own warehouse and is complete only when that record
agrees with the warehouse: a load when the ledger holds its succeeded loads of the run's
window (a FOCUS load also when the file listing at FINOPS_FOCUS_PATH is the one it imported),
the raw extract and the build when they were made from the loads the inputs name now, the
export when the manifest at its destination names the run's build, prune and report when
they followed that build. A completed date is a no-op when run again; another warehouse path,
new or changed FOCUS files, or `force` (`finops run --force`: every load runs again, then
build, export, prune and report follow) make it run. Tasks that write the warehouse take the
`warehouse_writer` resource (DuckDB allows one writing process) and the file lock in
`loaders.warehouse`.

Failure isolation. With more than one source, a source whose load fails (API down, a
persistent 5xx, an auth error) does not stop the others: its LoadSource records the failure
(the load attempt's `failed` rows in raw.load_ledger, written by the warehouse;
`data/markers/<date>/load_<source>.failed.json`; the error with credentials scrubbed) and returns without writing its record. That LoadSource instance
counts as complete for the rest of this worker's run (it ran, and its failure is recorded),
so DbtBuild, Export, Prune and Report go ahead on what is there and the run is `partial`.
(No Luigi completion cache is needed for it: `cache_task_completion` would start a
multiprocessing manager process that a killed run leaves behind.) Because the
failed load is not complete, and every downstream task counts as complete only when its
inputs are complete (`CompleteWithInputs`), the partial date is not complete: running it
again retries the failed load (not the ones that landed) and rebuilds, exports and reports
the day. A single source that fails, or every source failing, fails the run as before.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import luigi

from finops.dbt_runner import run_dbt
from finops.settings import Settings, load_settings
from loaders import redaction, registry, warehouse
from pipelines import history, notify, reporting, state
from pipelines.exports import export_store
from pipelines.sources import demo_rows_left, load_source, purge_demo_sources, run_window
from pipelines.state import RunState

log = logging.getLogger("finops.pipeline")

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
        return state.read_run_state(load_settings().duckdb_path, self.run_key)


class CompleteWithInputs(luigi.Task):
    """Complete when its own record holds *and* every input is complete.

    After a partial run the failed load is not complete, so everything downstream of it is
    incomplete again although its own record exists: the next run of the date retries the
    load and rebuilds, re-exports and re-reports the day (each run() replaces its record).
    """

    def complete(self) -> bool:
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
        build = run_state.marker(DbtBuild.marker_name)
        return build.get("build_id") if build else None


class RetireDemoSources(RunParameters):
    """Remove a demo source's raw rows once real sources are enabled: demo costs are never
    added to real ones. Once per run, before its loads of real sources; complete while no
    demo row is left (a read of the raw tables)."""

    resources = {"warehouse_writer": 1}  # noqa: RUF012 - Luigi's own class attribute

    def complete(self) -> bool:
        return not demo_rows_left(load_settings())

    def run(self) -> None:
        purge_demo_sources(load_settings())


class LoadSource(FinopsTask):
    """Land one source's costs for the run date (replace-by-window, idempotent).

    The record is written only when the load landed. With several sources a failed load is
    recorded instead of raised (see the module docstring): the run goes on and is partial.
    With `force` the load is incomplete until this instance has run (Luigi keeps one
    instance per parameters and process: one forced run per date and process).
    """

    source = luigi.Parameter()
    resources = {"warehouse_writer": 1}  # noqa: RUF012 - Luigi's own class attribute
    _ran = False  # set once this instance ran: a forced load is complete only after that

    @property
    def marker_name(self) -> str:  # type: ignore[override]
        return f"load_{self.source}"

    def requires(self) -> list[RetireDemoSources]:
        return [] if self.spec.demo else [RetireDemoSources(**self.run_params())]

    def complete(self) -> bool:
        if self._ran:
            # ran in this worker: landed, or failed and recorded (failure isolation: the run
            # goes on, partial); the next run checks the facts again and retries a failure
            return super().complete() or self.recorded_failure() is not None
        if self.force:
            return False
        return super().complete()

    def holds(self, payload: dict[str, Any], run_state: RunState) -> bool:
        """The ledger holds the recorded loads of this window and nothing came after them;
        for a 'files' source, its input (the listing at FINOPS_FOCUS_PATH) is the one imported."""
        settings = self.settings
        if self.spec.input_signature:
            listing = self.spec.signature_of_input(self.spec.config(settings))
            if listing is None or payload.get("listing") != listing:
                return False
        else:
            start, end = self.window(settings)
            recorded = (payload.get("window_start"), payload.get("window_end"))
            if recorded != (start.isoformat(), end.isoformat()):
                return False
        return run_state.loads_hold(payload)

    def outcome(self, payload: dict[str, Any]) -> str:
        loads = payload.get("loads", [])
        rows = sum(int(load["row_count"]) for load in loads)
        if imported := payload.get("focus_import"):
            files, read = imported["file_count"], len(imported["files_read"])
            kept = len(imported["unchanged"])
            if loads:
                return (
                    f"loaded {rows:,} rows: {len(loads)} billing period(s) landed, {kept} "
                    f"unchanged ({read} of {files} file(s) read)"
                )
            return (
                f"unchanged: the {files} file(s) at {payload.get('location')} hold the "
                f"{kept} billing period(s) already landed ({read} file(s) read)"
            )
        requests = sum(int(load["api_requests"]) for load in loads)
        cost = sum((Decimal(load["api_cost_usd"]) for load in loads), Decimal("0"))
        api = f", {requests} API request(s), USD {cost.quantize(CENT)}" if requests else ""
        return (
            f"loaded {rows:,} rows in {len(loads)} load(s) of "
            f"[{payload.get('window_start')}, {payload.get('window_end')}){api}"
        )

    def failure_target(self) -> luigi.LocalTarget:
        """`load_<source>.failed.json`: the record of this load's last isolated failure."""
        name = self.marker_name + self.run_suffix + FAILED_SUFFIX
        return luigi.LocalTarget(str(marker_path(self.settings, self.date, name)))

    def recorded_failure(self) -> dict[str, Any] | None:
        """The recorded failure, when the load has not landed since (else None)."""
        failure = self.failure_target()
        if not failure.exists() or FinopsTask.complete(self):
            return None
        return json.loads(Path(failure.path).read_text())

    @property
    def spec(self) -> registry.SourceSpec:
        return registry.source(self.source)

    def window(self, settings: Settings) -> tuple[date, date] | tuple[None, None]:
        """The source's window for this run (pipelines/sources.py); none for files."""
        return run_window(self.spec, settings, self.date, self.since) or (None, None)

    def work(self, settings: Settings) -> dict[str, Any]:
        listing = self.spec.signature_of_input(self.spec.config(settings))
        loaded = load_source(self.source, settings, self.date, since=self.since, force=self.force)
        start, end = self.window(settings)
        payload: dict[str, Any] = {
            "source": self.source,
            "window_start": start.isoformat() if start else None,
            "window_end": end.isoformat() if end else None,
            "forced": self.force,
            "loads": [r.as_dict() for r in loaded.results],
        }
        if loaded.focus_import is not None:
            imported = {k: v for k, v in loaded.focus_import.items() if k != "loads"}
            payload.update(
                location=imported.get("location"),
                listing=listing,
                focus_import=imported,
                current_load_ids=imported["current_load_ids"],
            )
        return payload

    def run(self) -> None:
        try:
            self._run()
        finally:
            self._ran = True

    def _run(self) -> None:
        settings = self.settings
        configure_logging(settings)
        started = time.monotonic()
        attempt_at = utc_naive_now()
        log.info("%s %s: started", self.marker_name, self.date)
        try:
            payload = self.work(settings)
        except Exception as exc:
            error = history.failure_text(exc)
            ledger = self.failed_ledger_rows(settings, attempt_at)
            if len(settings.sources) < 2:
                raise  # nothing to isolate: the run fails (recorded by _record_failure)
            self.record_failure(settings, error, ledger, started)
            return
        self.finish(payload, started)
        discard_stale(self.failure_target())

    def failed_ledger_rows(self, settings: Settings, attempt_at: datetime) -> list[dict[str, Any]]:
        """The `failed` ledger rows the warehouse wrote for this attempt (its load attempt
        records every failure before the error reaches here). Never raises: the load's own
        error matters more."""
        try:
            return failed_ledger_rows(settings.duckdb_path, self.spec.ledger_source, attempt_at)
        except Exception as exc:
            log.error(
                "%s %s: could not read the failed load from the ledger: %s",
                self.marker_name,
                self.date,
                redaction.scrub(f"{type(exc).__name__}: {exc}"),
            )
            return []

    def record_failure(
        self, settings: Settings, error: str, ledger: list[dict[str, Any]], started: float
    ) -> None:
        start, end = self.window(settings)
        record = {
            "task": self.marker_name,
            "source": self.source,
            "status": "failed",
            "run_date": self.date.isoformat(),
            "since": self.since.isoformat() if self.since else None,
            "window_start": start.isoformat() if start else None,
            "window_end": end.isoformat() if end else None,
            "error": error,
            "failed_at": now_iso(),
            "duration_s": round(time.monotonic() - started, 2),
            "ledger_load_ids": [row["load_id"] for row in ledger],
            "api_requests": sum(row["api_requests"] for row in ledger),
            "api_cost_usd": str(
                sum((row["api_cost_usd"] for row in ledger), Decimal("0")).quantize(CENT)
            ),
        }
        write_json_target(self.failure_target(), record)
        log.error(
            "%s %s: load FAILED, the other sources go on and the run will be partial "
            "(rerun the date once the fault is fixed): %s",
            self.marker_name,
            self.date,
            error,
        )
        if callable(getattr(self, "set_status_message", None)):
            self.set_status_message(f"FAILED (isolated; run is partial): {error[:500]}")


def failed_ledger_rows(db_path: Path, source: str, since: datetime) -> list[dict[str, Any]]:
    """`failed` rows of raw.load_ledger for `source` that started at or after `since`."""
    if not Path(db_path).exists():
        return []
    with warehouse.writer_lock(Path(db_path), timeout_s=120):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'raw' and table_name = 'load_ledger'"
            ).fetchone()[0]
            if not exists:
                return []
            cursor = con.execute(
                "select load_id, scope, api_requests, api_cost_usd, error from raw.load_ledger "
                "where source = ? and status = 'failed' and started_at >= ? order by started_at",
                [source, since],
            )
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            con.close()


def file_stamp(path: Path) -> list[int] | None:
    """(size, mtime in ns) of a file the run wrote: a record holds only while the file is
    still the one it wrote (another warehouse's run of the date rewrites the same path)."""
    try:
        stat = Path(path).stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def current_load_ids(payload: dict[str, Any]) -> set[str]:
    """The loads whose rows a load record stands for now (FOCUS: landed or kept)."""
    if "current_load_ids" in payload:
        return set(payload["current_load_ids"])
    return {load["load_id"] for load in payload.get("loads", [])}


def load_outcomes(task: RunParameters) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(records of the loads that landed, records of the loads that failed) for this run."""
    landed, failed = [], []
    run_state = task.run_state()
    for load in enabled_loads(task):
        if (failure := load.recorded_failure()) is not None:
            failed.append(failure)
        elif run_state is not None and (record := run_state.marker(load.marker_name)):
            landed.append(record)
    return landed, failed


class NoSourceLoadedError(RuntimeError):
    """Every enabled source failed: there is nothing new to build."""


def enabled_loads(task: RunParameters) -> list[LoadSource]:
    return [LoadSource(source=s, **task.run_params()) for s in load_settings().sources]


class ArchiveRawExtract(CompleteWithInputs, FinopsTask):
    """Keep the run's raw rows as data/raw/multicloud_costs_YYYYMMDD.csv for audit.

    The rows are the run's loads selected from the dbt model int_landed_cost_rows_unpivoted
    (a view over the raw tables): after the build, which creates it. Only loads that landed
    are archived; after a partial run the rerun rewrites the file with every source's rows.
    Complete while the file is there and archives the loads the loads' records name now.
    """

    marker_name = "raw_extract"
    resources = {"warehouse_writer": 1}  # noqa: RUF012

    def requires(self) -> DbtBuild:
        return DbtBuild(**self.run_params())

    def extract_path(self, settings: Settings) -> Path:
        return settings.raw_csv_dir / f"multicloud_costs_{self.date:%Y%m%d}{self.run_suffix}.csv"

    def landed_load_ids(self, run_state: RunState | None) -> list[str]:
        if run_state is None:
            return []
        return sorted(
            load["load_id"]
            for task in enabled_loads(self)
            if (record := run_state.marker(task.marker_name))
            for load in record.get("loads", [])
        )

    def holds(self, payload: dict[str, Any], run_state: RunState) -> bool:
        stamp = file_stamp(Path(payload.get("path", "")))
        return (
            stamp is not None
            and payload.get("stamp") == stamp
            and payload.get("archived_load_ids") == self.landed_load_ids(run_state)
        )

    def work(self, settings: Settings) -> dict[str, Any]:
        load_ids = self.landed_load_ids(self.run_state())
        target = luigi.LocalTarget(str(self.extract_path(settings)))
        discard_stale(target)
        with warehouse.writer_lock(settings.duckdb_path):
            con = warehouse.connect_writer(settings.duckdb_path)
            try:
                with target.temporary_path() as tmp:
                    reporting.copy_raw_extract(con, load_ids, Path(tmp))
            finally:
                con.close()
        log.info("raw extract %s: %d loads archived", target.path, len(load_ids))
        return {
            "path": target.path,
            "stamp": file_stamp(Path(target.path)),
            "archived_load_ids": load_ids,
        }

    def outcome(self, payload: dict[str, Any]) -> str:
        return f"{len(payload['archived_load_ids'])} load(s) in {payload['path']}"


class DbtBuild(CompleteWithInputs, FinopsTask):
    """`dbt build` (seeds, models, tests, unit tests), then publish the marts for readers.

    Runs on whatever landed: a source whose load failed keeps its last good data in raw, so
    the marts keep it too. Refuses only when no source landed at all.
    """

    marker_name = "dbt_build"
    resources = {"warehouse_writer": 1}  # noqa: RUF012

    def requires(self) -> list[luigi.Task]:
        return enabled_loads(self)

    def holds(self, payload: dict[str, Any], run_state: RunState) -> bool:
        """The published marts were built from every load the inputs' records name now."""
        built_on = set(payload.get("built_on_load_ids", []))
        return self.settings.serving_path.exists() and all(
            current_load_ids(record) <= built_on
            for task in enabled_loads(self)
            if (record := run_state.marker(task.marker_name))
        )

    def work(self, settings: Settings) -> dict[str, Any]:
        landed, failed = load_outcomes(self)
        if failed and not landed:
            raise NoSourceLoadedError(
                "every source failed, nothing new to build (the marts keep their data): "
                + "; ".join(f"{f['source']}: {f['error']}" for f in failed)
            )
        build_id = f"build-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
        built_on = sorted(set().union(*(current_load_ids(record) for record in landed)))
        summary = run_dbt(settings, ["build"])
        summary["build_id"] = build_id
        summary["built_on_load_ids"] = built_on
        summary["failed_sources"] = [f["source"] for f in failed]
        summary["source_freshness"] = source_freshness(settings)
        tables = warehouse.publish_serving_copy(settings.duckdb_path, settings.serving_path)
        summary["published_tables"] = tables
        summary["serving_path"] = str(settings.serving_path)
        return summary

    def outcome(self, payload: dict[str, Any]) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(payload.get("counts", {}).items()))
        return (
            f"{payload.get('build_id')} from {len(payload.get('built_on_load_ids', []))} "
            f"load(s) ({counts}); {payload.get('published_tables')} marts published"
        )


def source_freshness(settings: Settings) -> dict[str, str]:
    """`dbt source freshness` of the enabled sources only: source name -> pass / warn /
    error. Reported, never fatal: stale raw data is worth a line in the report, not a reason
    to withhold today's marts."""
    target_path = settings.data_dir / "dbt" / "target"
    # the dbt sources the enabled sources land in, and the warehouse's own ledger (`finops`)
    dbt_sources = (n for s in settings.sources for n in registry.source(s).dbt_sources)
    selected = sorted({"finops", *dbt_sources})
    try:
        run_dbt(
            settings,
            ["source", "freshness", "--select", *(f"source:{name}" for name in selected)],
        )
    except RuntimeError as exc:
        log.warning("source freshness: %s", exc)
    path = target_path / "sources.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text()).get("results", [])
    return {r["unique_id"].removeprefix("source.finops."): r["status"] for r in results}


class Export(CompleteWithInputs, FinopsTask):
    """Write the marts (Parquet + CSV) and KPIs (JSON) to the export location."""

    marker_name = "export"

    def requires(self) -> list[FinopsTask]:
        return [DbtBuild(**self.run_params()), ArchiveRawExtract(**self.run_params())]

    def holds(self, payload: dict[str, Any], run_state: RunState) -> bool:
        """The run's build is the one exported, and the manifest at the destination says so
        (another warehouse's run of the date, or a deleted folder, makes it run again)."""
        build_id = self.build_id(run_state)
        store = export_store(self.settings)
        if build_id is None or payload.get("build_id") != build_id:
            return False
        if payload.get("destination") != store.destination:
            return False
        manifest = store.read_manifest(self.date)
        return manifest is not None and manifest.get("build_id") == build_id

    def work(self, settings: Settings) -> dict[str, Any]:
        run_state = self.run_state()
        build_id = self.build_id(run_state) if run_state is not None else None
        store = export_store(settings)
        keys = store.export_marts(settings.serving_path, self.date)
        manifest = store.write_manifest(self.date, keys, build_id)
        return {
            "destination": store.destination,
            "files": keys,
            "manifest": manifest,
            "build_id": build_id,
        }

    def outcome(self, payload: dict[str, Any]) -> str:
        return (
            f"{len(payload['files'])} file(s) of {payload.get('build_id')} to "
            f"{payload['destination']}"
        )


class Prune(CompleteWithInputs, FinopsTask):
    """Delete exports older than FINOPS_RETENTION_DAYS, with the run date as the clock."""

    marker_name = "prune"

    def requires(self) -> Export:
        return Export(**self.run_params())

    def holds(self, payload: dict[str, Any], run_state: RunState) -> bool:
        return payload.get("build_id") == self.build_id(run_state)

    def work(self, settings: Settings) -> dict[str, Any]:
        run_state = self.run_state()
        store = export_store(settings)
        removed = store.prune(self.date, settings.retention_days)
        return {
            "retention_days": settings.retention_days,
            "removed": removed,
            "build_id": self.build_id(run_state) if run_state is not None else None,
        }

    def outcome(self, payload: dict[str, Any]) -> str:
        return (
            f"{len(payload['removed'])} export folder(s) older than "
            f"{payload['retention_days']} days"
        )


class PruneExports(luigi.Task):
    """The separate cleanup job: only the retention prune, with `date` as the clock.

        luigi --module pipelines.tasks PruneExports --date 2026-01-31 --local-scheduler

    Needs no warehouse (no writer resource), so it can run beside the daily pipeline; a dry
    run writes its own marker and never stands in for the real prune of that date.
    """

    date = luigi.DateParameter()
    dry_run = luigi.BoolParameter(default=False, description="list what would go, delete nothing")

    def output(self) -> luigi.LocalTarget:
        name = "prune_exports" + ("_dry_run" if self.dry_run else "")
        return luigi.LocalTarget(str(marker_path(load_settings(), self.date, name)))

    def run(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        store = export_store(settings)
        removed = store.prune(self.date, settings.retention_days, dry_run=self.dry_run)
        log.info("prune_exports %s: %d removed from %s", self.date, len(removed), store.destination)
        payload = {
            "task": "prune_exports",
            "run_date": self.date.isoformat(),
            "destination": store.destination,
            "retention_days": settings.retention_days,
            "dry_run": self.dry_run,
            "removed": removed,
            "finished_at": now_iso(),
        }
        write_json_target(self.output(), payload)


class Report(CompleteWithInputs, FinopsTask):
    """logs/report_YYYYMMDD.txt, a copy under reports/, one execution-history entry, and the
    webhook (FINOPS_WEBHOOK_URL). Status `partial` when a source's load failed."""

    marker_name = "report"

    def requires(self) -> Prune:
        return Prune(**self.run_params())

    def report_path(self, settings: Settings) -> Path:
        return settings.log_dir / f"report_{self.date:%Y%m%d}{self.run_suffix}.txt"

    def holds(self, payload: dict[str, Any], run_state: RunState) -> bool:
        stamp = file_stamp(Path(payload.get("report", "")))
        return (
            payload.get("build_id") == self.build_id(run_state)
            and stamp is not None
            and payload.get("stamp") == stamp
        )

    def work(self, settings: Settings) -> dict[str, Any]:
        started = time.monotonic()
        run_state = self.run_state()
        assert run_state is not None  # the build before it wrote the warehouse
        markers = {name: run_state.marker(name) or {} for name in ("dbt_build", "export", "prune")}
        markers["loads"], failed = load_outcomes(self)
        con = duckdb.connect(str(settings.serving_path), read_only=True)
        try:
            facts = reporting.gather_facts(con, settings.reporting_currency)
        finally:
            con.close()
        summary = reporting.run_summary(self.date, settings, markers, facts, failed)
        summary["durations_s"]["report"] = round(time.monotonic() - started, 2)
        summary["duration_s"] = round(sum(summary["durations_s"].values()), 2)
        summary["report"] = str(self.report_path(settings))
        summary["build_id"] = markers["dbt_build"].get("build_id")
        text = reporting.render_report(summary, facts)
        store = export_store(settings)
        store.put_text("reports", self.date, f"report{self.run_suffix}.txt", text)
        webhook = None
        if settings.webhook_url:
            webhook = notify.send(
                settings.webhook_url,
                notify.run_message(summary, settings.webhook_min_impact),
                timeout_s=settings.webhook_timeout_s,
            )
        history.append(settings, history.run_entry(summary, webhook))
        target = luigi.LocalTarget(str(self.report_path(settings)))
        discard_stale(target)
        with target.temporary_path() as tmp:
            Path(tmp).write_text(text)
        log.info("report (%s) written to %s", summary["status"], target.path)
        # the record, written last by finish(), is the day's completion
        return {
            "report": target.path,
            "stamp": file_stamp(Path(target.path)),
            "status": summary["status"],
            "build_id": summary["build_id"],
        }

    def outcome(self, payload: dict[str, Any]) -> str:
        return f"{payload['report']} (run {payload['status']})"


STEP_LABELS = {
    "raw_extract": "raw extract",
    "dbt_build": "dbt build",
    "export": "export",
    "prune": "prune",
    "report": "report",
}
VERBS = {
    "raw_extract": "written",
    "dbt_build": "built",
    "export": "exported",
    "prune": "pruned",
    "report": "reported",
}


def run_steps(root: luigi.Task) -> list[FinopsTask]:
    """Every step of the run under `root`, inputs first, once each."""
    seen: dict[str, luigi.Task] = {}

    def visit(task: luigi.Task) -> None:
        if task.task_id in seen:
            return
        for dep in luigi.task.flatten(task.requires()):
            visit(dep)
        seen[task.task_id] = task

    visit(root)
    return [task for task in seen.values() if isinstance(task, FinopsTask)]


def step_lines(root: RunParameters, ran: set[str], failed: set[str]) -> list[str]:
    """One line per step: what it did in this run (loaded / unchanged / built ...), or why
    it did not run (already complete, and what the warehouse's record of it says)."""
    run_state = root.run_state()
    lines = []
    for task in run_steps(root):
        label = STEP_LABELS.get(task.marker_name) or task.marker_name.replace("_", " ")
        record = run_state.marker(task.marker_name) if run_state is not None else None
        failure = task.recorded_failure() if isinstance(task, LoadSource) else None
        if task.task_id in failed:
            text = "FAILED (see above and logs/pipeline.log)"
        elif failure is not None:
            text = f"FAILED (the run is partial): {failure['error']}"
        elif task.task_id in ran and record is not None:
            verb = VERBS.get(task.marker_name)
            text = f"{verb} {task.outcome(record)}" if verb else task.outcome(record)
        elif record is not None and task.complete():
            text = f"already complete ({task.outcome(record)}, at {record.get('finished_at')})"
        else:
            text = "not run (an earlier step failed)"
        lines.append(f"  {label:<16} {text}")
    return lines


def run_status(run_date: date, since: date | None = None) -> tuple[str, list[dict[str, Any]]]:
    """(`succeeded` | `partial`, failure records) of a date whose build went through.

    Partial when a source's load failed and has not landed since (its failure is recorded
    and its target is missing).
    """
    _, failed = load_outcomes(DailyPipeline(date=run_date, since=since))
    return ("partial" if failed else "succeeded"), failed


class DailyPipeline(RunParameters, luigi.WrapperTask):
    """One day's run: every enabled source loaded, marts built, exported, pruned, reported.

    `date` stays the first parameter, which is the one RangeDaily fills in.
    """

    def requires(self) -> Report:
        return Report(**self.run_params())

    @classmethod
    def bulk_complete(cls, parameter_tuples: Any) -> list[Any]:
        """The dates RangeDaily may skip: those whose warehouse holds every step complete
        (Luigi's fallback would look for output files, and completion is not in files)."""
        return [value for value in parameter_tuples if cls(value).complete()]


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _record_failure(task: luigi.Task, exception: BaseException) -> None:
    """A failed task leaves a line in the execution history and the log (and a webhook
    message, when configured), never a secret."""
    run_date = getattr(task, "date", None)
    if not isinstance(run_date, date):
        return
    settings = load_settings()
    configure_logging(settings)
    error = history.failure_text(exception)
    log.error("%s failed: %s", task.task_id, error)
    webhook = None
    if settings.webhook_url:
        webhook = notify.send(
            settings.webhook_url,
            notify.failure_message(run_date.isoformat(), task.task_id, error),
            timeout_s=settings.webhook_timeout_s,
        )
    history.append(settings, history.failure_entry(run_date, task.task_id, exception, webhook))
