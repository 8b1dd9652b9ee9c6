"""The daily pipeline: load -> dbt build -> export -> prune -> report.

    luigi --module pipelines DailyPipeline --date 2026-01-31 --local-scheduler
    luigi --module pipelines DailyPipeline --date 2026-02-01 --since 2025-08-01 --local-scheduler
    luigi --module pipelines RangeDaily --of DailyPipeline \
        --start 2026-01-01 --stop 2026-02-01 --days-back 3650 --local-scheduler

`--since` makes a backfill: every source loads `[since, date)` in one window (one set of API
requests, checked against the request budget) instead of its usual daily window.

Every task writes a marker (or its real output) under FINOPS_HOME with the date in the path,
atomically; a completed date is therefore a no-op when run again. Tasks that write the
warehouse take the `warehouse_writer` resource (DuckDB allows one writing process) and the
file lock in `loaders.warehouse`.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import luigi

from finops.settings import DBT_PROFILES_DIR, DBT_PROJECT_DIR, Settings, load_settings
from loaders import warehouse
from pipelines import history, reporting
from pipelines.exports import export_store
from pipelines.sources import load_source

log = logging.getLogger("finops.pipeline")


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def marker_path(settings: Settings, run_date: date, name: str) -> Path:
    return settings.markers_dir / run_date.isoformat() / f"{name}.json"


def read_marker(settings: Settings, run_date: date, name: str) -> dict[str, Any]:
    return json.loads(marker_path(settings, run_date, name).read_text())


def write_json_target(target: luigi.LocalTarget, payload: dict[str, Any]) -> None:
    with target.temporary_path() as tmp:
        Path(tmp).write_text(json.dumps(payload, indent=2, default=str))


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
    """The run date, and for a backfill the first day to load (`since`)."""

    date = luigi.DateParameter()
    since = OptionalDateParameter(
        default=None, description="backfill: load [since, date) instead of the daily window"
    )

    @property
    def run_suffix(self) -> str:
        """Keeps a backfill's outputs apart from the plain daily run of the same date."""
        return f"_since_{self.since:%Y%m%d}" if self.since else ""

    def run_params(self) -> dict[str, Any]:
        return {"date": self.date, "since": self.since}


class FinopsTask(RunParameters):
    """Shared plumbing: settings read at run time, a dated marker target, timing."""

    marker_name: str = ""

    @property
    def settings(self) -> Settings:
        return load_settings()

    def output(self) -> luigi.LocalTarget:
        name = self.marker_name + self.run_suffix
        return luigi.LocalTarget(str(marker_path(self.settings, self.date, name)))

    def run(self) -> None:
        settings = self.settings
        configure_logging(settings)
        started = time.monotonic()
        log.info("%s %s: started", self.marker_name, self.date)
        payload = self.work(settings)
        payload.update(
            task=self.marker_name,
            run_date=self.date.isoformat(),
            since=self.since.isoformat() if self.since else None,
            finished_at=now_iso(),
            duration_s=round(time.monotonic() - started, 2),
        )
        write_json_target(self.output(), payload)
        log.info("%s %s: done in %.1fs", self.marker_name, self.date, payload["duration_s"])

    def work(self, settings: Settings) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError


class LoadSource(FinopsTask):
    """Land one source's costs for the run date (replace-by-window, idempotent)."""

    source = luigi.Parameter()
    resources = {"warehouse_writer": 1}  # noqa: RUF012 - Luigi's own class attribute

    @property
    def marker_name(self) -> str:  # type: ignore[override]
        return f"load_{self.source}"

    def work(self, settings: Settings) -> dict[str, Any]:
        results = load_source(self.source, settings, self.date, since=self.since)
        return {"source": self.source, "loads": [r.as_dict() for r in results]}


def enabled_loads(task: RunParameters) -> list[LoadSource]:
    return [LoadSource(source=s, **task.run_params()) for s in load_settings().sources]


class ArchiveRawExtract(RunParameters):
    """Keep the run's raw rows as data/raw/multicloud_costs_YYYYMMDD.csv for audit."""

    resources = {"warehouse_writer": 1}  # noqa: RUF012

    def requires(self) -> list[LoadSource]:
        return enabled_loads(self)

    def output(self) -> luigi.LocalTarget:
        settings = load_settings()
        return luigi.LocalTarget(
            str(settings.raw_csv_dir / f"multicloud_costs_{self.date:%Y%m%d}{self.run_suffix}.csv")
        )

    def run(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        load_ids = [
            load["load_id"]
            for target in self.input()
            for load in json.loads(Path(target.path).read_text())["loads"]
        ]
        with warehouse.writer_lock(settings.duckdb_path):
            con = warehouse.connect_writer(settings.duckdb_path)
            try:
                warehouse.ensure_raw_schema(con)
                with self.output().temporary_path() as tmp:
                    reporting.copy_raw_extract(con, load_ids, Path(tmp))
            finally:
                con.close()
        log.info("raw extract %s: %d loads archived", self.output().path, len(load_ids))


class DbtBuild(FinopsTask):
    """`dbt build` (seeds, models, tests, unit tests), then publish the marts for readers."""

    marker_name = "dbt_build"
    resources = {"warehouse_writer": 1}  # noqa: RUF012

    def requires(self) -> list[luigi.Task]:
        return [*enabled_loads(self), ArchiveRawExtract(**self.run_params())]

    def work(self, settings: Settings) -> dict[str, Any]:
        summary = run_dbt(settings, ["build"])
        summary["source_freshness"] = source_freshness(settings)
        tables = warehouse.publish_serving_copy(settings.duckdb_path, settings.serving_path)
        summary["published_tables"] = tables
        summary["serving_path"] = str(settings.serving_path)
        return summary


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


def run_dbt(settings: Settings, args: list[str]) -> dict[str, Any]:
    """Run dbt as a subprocess against this FINOPS_HOME's warehouse; raise on failure."""
    target_path = settings.data_dir / "dbt" / "target"
    log_path = settings.log_dir / "dbt"
    cmd = [
        dbt_executable(),
        *args,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
    ]
    env = {**os.environ, **settings.dbt_env()}
    log.info("running %s", " ".join(cmd[:2]))
    with warehouse.writer_lock(settings.duckdb_path):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    (settings.log_dir).mkdir(parents=True, exist_ok=True)
    with open(settings.log_dir / "dbt_output.log", "a") as out:
        out.write(f"\n===== {now_iso()} dbt {' '.join(args)}\n{proc.stdout}{proc.stderr}")
    results = _dbt_run_results(target_path / "run_results.json")
    if proc.returncode != 0:
        failed = [r for r in results.get("nodes", []) if r["status"] in ("error", "fail")]
        detail = "; ".join(
            f"{r['node']}: {r['status']} {r['message'] or ''}".strip() for r in failed[:5]
        )
        raise RuntimeError(
            f"dbt {' '.join(args)} failed (exit {proc.returncode}). {detail or proc.stdout[-2000:]}"
            f" Full output: {settings.log_dir / 'dbt_output.log'}"
        )
    return {
        "dbt_args": args,
        "counts": results.get("counts", {}),
        "elapsed_s": results.get("elapsed_s"),
    }


def source_freshness(settings: Settings) -> dict[str, str]:
    """`dbt source freshness`: source name -> pass / warn / error. Reported, never fatal:
    stale raw data is worth a line in the report, not a reason to withhold today's marts."""
    target_path = settings.data_dir / "dbt" / "target"
    try:
        run_dbt(settings, ["source", "freshness"])
    except RuntimeError as exc:
        log.warning("source freshness: %s", exc)
    path = target_path / "sources.json"
    if not path.exists():
        return {}
    results = json.loads(path.read_text()).get("results", [])
    return {r["unique_id"].removeprefix("source.finops."): r["status"] for r in results}


def _dbt_run_results(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    nodes = [
        {"node": r["unique_id"], "status": r["status"], "message": r.get("message")}
        for r in data.get("results", [])
    ]
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    return {"nodes": nodes, "counts": counts, "elapsed_s": round(data.get("elapsed_time", 0.0), 2)}


class Export(FinopsTask):
    """Write the marts (Parquet + CSV) and KPIs (JSON) to the export location."""

    marker_name = "export"

    def requires(self) -> DbtBuild:
        return DbtBuild(**self.run_params())

    def work(self, settings: Settings) -> dict[str, Any]:
        store = export_store(settings)
        keys = store.export_marts(settings.serving_path, self.date)
        manifest = store.write_manifest(self.date, keys)
        return {"destination": store.destination, "files": keys, "manifest": manifest}


class Prune(FinopsTask):
    """Delete exports older than FINOPS_RETENTION_DAYS, with the run date as the clock."""

    marker_name = "prune"

    def requires(self) -> Export:
        return Export(**self.run_params())

    def work(self, settings: Settings) -> dict[str, Any]:
        store = export_store(settings)
        removed = store.prune(self.date, settings.retention_days)
        return {"retention_days": settings.retention_days, "removed": removed}


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


class Report(RunParameters):
    """logs/report_YYYYMMDD.txt, a copy under reports/, and one execution-history entry."""

    def requires(self) -> Prune:
        return Prune(**self.run_params())

    def output(self) -> luigi.LocalTarget:
        settings = load_settings()
        return luigi.LocalTarget(
            str(settings.log_dir / f"report_{self.date:%Y%m%d}{self.run_suffix}.txt")
        )

    def run(self) -> None:
        settings = load_settings()
        configure_logging(settings)
        markers = {
            name: read_marker(settings, self.date, name + self.run_suffix)
            for name in ("dbt_build", "export", "prune")
        }
        markers["loads"] = [
            read_marker(settings, self.date, f"load_{source}{self.run_suffix}")
            for source in settings.sources
        ]
        con = duckdb.connect(str(settings.serving_path), read_only=True)
        try:
            facts = reporting.gather_facts(con, settings.reporting_currency)
        finally:
            con.close()
        text = reporting.render_report(self.date, settings, markers, facts)
        store = export_store(settings)
        store.put_text("reports", self.date, f"report{self.run_suffix}.txt", text)
        with self.output().temporary_path() as tmp:
            Path(tmp).write_text(text)
        history.append(settings, history.success_entry(self.date, settings, markers, facts))
        log.info("report written to %s", self.output().path)


class DailyPipeline(RunParameters, luigi.WrapperTask):
    """One day's run: every enabled source loaded, marts built, exported, pruned, reported.

    `date` stays the first parameter, which is the one RangeDaily fills in.
    """

    def requires(self) -> Report:
        return Report(**self.run_params())


@luigi.Task.event_handler(luigi.Event.FAILURE)
def _record_failure(task: luigi.Task, exception: BaseException) -> None:
    """A failed task leaves a line in the execution history and the log, never a secret."""
    run_date = getattr(task, "date", None)
    if not isinstance(run_date, date):
        return
    settings = load_settings()
    configure_logging(settings)
    log.error("%s failed: %s", task.task_id, exception)
    history.append(settings, history.failure_entry(run_date, task.task_id, exception))
