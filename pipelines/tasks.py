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

Failure isolation. With more than one source, a source whose load fails (API down, a
persistent 5xx, an auth error) does not stop the others: its LoadSource records the failure
(a `failed` row in raw.load_ledger, `load_<source>.failed.json` beside the markers, the error
with credentials scrubbed) and returns without writing its target. The worker remembers that
the task ran (`[worker] cache_task_completion`, set below and in luigi.cfg), so DbtBuild,
Export, Prune and Report go ahead on what is there and the run is `partial`. Because the
failed load has no target, and every downstream task counts as complete only when its
inputs are complete (`CompleteWithInputs`), the partial date is not complete: running it
again retries the failed load (not the ones that landed) and rebuilds, exports and reports
the day. A single source that fails, or every source failing, fails the run as before.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import luigi

from finops.settings import DBT_PROFILES_DIR, DBT_PROJECT_DIR, Settings, load_settings
from loaders import warehouse
from pipelines import history, notify, redaction, reporting
from pipelines.exports import export_store
from pipelines.sources import load_source

log = logging.getLogger("finops.pipeline")

CENT = Decimal("0.01")
FAILED_SUFFIX = ".failed"  # load_<source>.failed.json: the record of an isolated failure
# Ledger source and raw table of each real source, for the failed row a load must leave.
LEDGER_OF_SOURCE = {
    "aws": ("aws_cost_explorer", "aws_cost_explorer"),
    "azure": ("azure_cost_management", "azure_cost_management"),
}


def _enable_completion_cache() -> None:
    """Failure isolation needs the worker's completion cache (see the module docstring).

    luigi.cfg sets it; this covers a run started from another directory. An explicit
    `cache_task_completion = false` is respected: a failed load then fails the run.
    """
    config = luigi.configuration.get_config()
    try:
        if not config.has_option("worker", "cache_task_completion"):
            if not config.has_section("worker"):
                config.add_section("worker")
            config.set("worker", "cache_task_completion", "true")
    except (AttributeError, TypeError) as exc:  # a TOML config parser: luigi.cfg has to say it
        log.debug("could not default worker.cache_task_completion: %s", exc)


_enable_completion_cache()


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def marker_path(settings: Settings, run_date: date, name: str) -> Path:
    return settings.markers_dir / run_date.isoformat() / f"{name}.json"


def read_marker(settings: Settings, run_date: date, name: str) -> dict[str, Any]:
    return json.loads(marker_path(settings, run_date, name).read_text())


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


class CompleteWithInputs(luigi.Task):
    """Complete when the output exists *and* every input is complete.

    After a partial run the failed load has no target, so everything downstream of it is
    incomplete again although its own output exists: the next run of the date retries the
    load and rebuilds, re-exports and re-reports the day (each run() first discards its
    stale output).
    """

    def complete(self) -> bool:
        return super().complete() and all(
            task.complete() for task in luigi.task.flatten(self.requires())
        )


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
        self.finish(self.work(settings), started)

    def finish(self, payload: dict[str, Any], started: float) -> None:
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
    """Land one source's costs for the run date (replace-by-window, idempotent).

    The target is written only when the load landed. With several sources a failed load is
    recorded instead of raised (see the module docstring): the run goes on and is partial.
    """

    source = luigi.Parameter()
    resources = {"warehouse_writer": 1}  # noqa: RUF012 - Luigi's own class attribute

    @property
    def marker_name(self) -> str:  # type: ignore[override]
        return f"load_{self.source}"

    def failure_target(self) -> luigi.LocalTarget:
        """`load_<source>.failed.json`: the record of this load's last isolated failure."""
        name = self.marker_name + self.run_suffix + FAILED_SUFFIX
        return luigi.LocalTarget(str(marker_path(self.settings, self.date, name)))

    def recorded_failure(self) -> dict[str, Any] | None:
        """The recorded failure, when the load has not landed since (else None)."""
        failure = self.failure_target()
        if self.output().exists() or not failure.exists():
            return None
        return json.loads(Path(failure.path).read_text())

    def window(self, settings: Settings) -> tuple[date, date]:
        if self.since:
            return self.since, self.date
        if self.source == "simulated":
            return settings.history_window(self.date)
        return settings.restatement_window(self.date)

    def work(self, settings: Settings) -> dict[str, Any]:
        results = load_source(self.source, settings, self.date, since=self.since)
        return {"source": self.source, "loads": [r.as_dict() for r in results]}

    def run(self) -> None:
        settings = self.settings
        configure_logging(settings)
        started = time.monotonic()
        attempt_at = utc_naive_now()
        log.info("%s %s: started", self.marker_name, self.date)
        try:
            payload = self.work(settings)
        except Exception as exc:
            error = history.failure_text(exc)
            ledger = self.ensure_failed_ledger_rows(settings, attempt_at, error)
            if len(settings.sources) < 2:
                raise  # nothing to isolate: the run fails (recorded by _record_failure)
            self.record_failure(settings, error, ledger, started)
            return
        self.finish(payload, started)
        discard_stale(self.failure_target())

    def ensure_failed_ledger_rows(
        self, settings: Settings, attempt_at: datetime, error: str
    ) -> list[dict[str, Any]]:
        """The `failed` ledger rows of this attempt; writes one if the loader could not.

        The dashboard's freshness mart reads the ledger: every failed load must be there
        before DbtBuild runs. Never raises (the load's own error matters more).
        """
        if self.source not in LEDGER_OF_SOURCE:
            return []
        ledger_source, raw_table = LEDGER_OF_SOURCE[self.source]
        try:
            rows = failed_ledger_rows(settings.duckdb_path, ledger_source, attempt_at)
            if rows:
                return rows
            start, end = self.window(settings)
            scopes = self.failure_scopes(settings)
            for scope in scopes:
                warehouse.record_failed_load(
                    settings.duckdb_path,
                    raw_table=raw_table,
                    source=ledger_source,
                    scope=scope,
                    window_start=start,
                    window_end=end,
                    error=error,
                )
            return failed_ledger_rows(settings.duckdb_path, ledger_source, attempt_at)
        except Exception as exc:
            log.error(
                "%s %s: could not record the failed load in the ledger: %s",
                self.marker_name,
                self.date,
                redaction.scrub(f"{type(exc).__name__}: {exc}"),
            )
            return []

    def failure_scopes(self, settings: Settings) -> list[str]:
        """Scopes for a ledger row the loader did not write (it failed before knowing them)."""
        if self.source == "azure":
            from loaders.azure_cost_management import SUBSCRIPTIONS_SCOPE

            return list(settings.azure_scopes) or [SUBSCRIPTIONS_SCOPE]
        from loaders.aws_cost_explorer import UNKNOWN_SCOPE

        return [UNKNOWN_SCOPE]

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
            "window_start": start.isoformat(),
            "window_end": end.isoformat(),
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


def load_outcomes(task: RunParameters) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(markers of the loads that landed, records of the loads that failed) for this run."""
    landed, failed = [], []
    for load in enabled_loads(task):
        if load.output().exists():
            landed.append(json.loads(Path(load.output().path).read_text()))
        elif (failure := load.recorded_failure()) is not None:
            failed.append(failure)
    return landed, failed


class NoSourceLoadedError(RuntimeError):
    """Every enabled source failed: there is nothing new to build."""


def enabled_loads(task: RunParameters) -> list[LoadSource]:
    return [LoadSource(source=s, **task.run_params()) for s in load_settings().sources]


class ArchiveRawExtract(CompleteWithInputs, RunParameters):
    """Keep the run's raw rows as data/raw/multicloud_costs_YYYYMMDD.csv for audit.

    Only loads that landed are archived; after a partial run the rerun rewrites the file with
    every source's rows.
    """

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
            if target.exists()  # a failed load (isolated) has no target
            for load in json.loads(Path(target.path).read_text())["loads"]
        ]
        discard_stale(self.output())
        with warehouse.writer_lock(settings.duckdb_path):
            con = warehouse.connect_writer(settings.duckdb_path)
            try:
                warehouse.ensure_raw_schema(con)
                with self.output().temporary_path() as tmp:
                    reporting.copy_raw_extract(con, load_ids, Path(tmp))
            finally:
                con.close()
        log.info("raw extract %s: %d loads archived", self.output().path, len(load_ids))


class DbtBuild(CompleteWithInputs, FinopsTask):
    """`dbt build` (seeds, models, tests, unit tests), then publish the marts for readers.

    Runs on whatever landed: a source whose load failed keeps its last good data in raw, so
    the marts keep it too. Refuses only when no source landed at all.
    """

    marker_name = "dbt_build"
    resources = {"warehouse_writer": 1}  # noqa: RUF012

    def requires(self) -> list[luigi.Task]:
        return [*enabled_loads(self), ArchiveRawExtract(**self.run_params())]

    def work(self, settings: Settings) -> dict[str, Any]:
        landed, failed = load_outcomes(self)
        if failed and not landed:
            raise NoSourceLoadedError(
                "every source failed, nothing new to build (the marts keep their data): "
                + "; ".join(f"{f['source']}: {f['error']}" for f in failed)
            )
        summary = run_dbt(settings, ["build"])
        summary["failed_sources"] = [f["source"] for f in failed]
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
    env = {**redaction.without_secrets(os.environ), **settings.dbt_env()}
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


class Export(CompleteWithInputs, FinopsTask):
    """Write the marts (Parquet + CSV) and KPIs (JSON) to the export location."""

    marker_name = "export"

    def requires(self) -> DbtBuild:
        return DbtBuild(**self.run_params())

    def work(self, settings: Settings) -> dict[str, Any]:
        store = export_store(settings)
        keys = store.export_marts(settings.serving_path, self.date)
        manifest = store.write_manifest(self.date, keys)
        return {"destination": store.destination, "files": keys, "manifest": manifest}


class Prune(CompleteWithInputs, FinopsTask):
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


class Report(CompleteWithInputs, RunParameters):
    """logs/report_YYYYMMDD.txt, a copy under reports/, one execution-history entry, and the
    webhook (FINOPS_WEBHOOK_URL). Status `partial` when a source's load failed."""

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
        started = time.monotonic()
        markers = {
            name: read_marker(settings, self.date, name + self.run_suffix)
            for name in ("dbt_build", "export", "prune")
        }
        markers["loads"], failed = load_outcomes(self)
        con = duckdb.connect(str(settings.serving_path), read_only=True)
        try:
            facts = reporting.gather_facts(con, settings.reporting_currency)
        finally:
            con.close()
        summary = reporting.run_summary(self.date, settings, markers, facts, failed)
        summary["durations_s"]["report"] = round(time.monotonic() - started, 2)
        summary["duration_s"] = round(sum(summary["durations_s"].values()), 2)
        summary["report"] = self.output().path
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
        discard_stale(self.output())
        with self.output().temporary_path() as tmp:  # written last: the day's completion
            Path(tmp).write_text(text)
        log.info("report (%s) written to %s", summary["status"], self.output().path)


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
