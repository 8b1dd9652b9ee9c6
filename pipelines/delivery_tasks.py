"""Delivering a build: exports (Parquet, CSV, KPIs; local or S3), pruning old exports, the
run report and its notification."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import luigi

from finops.settings import Settings, load_settings
from pipelines import history, notify, reporting
from pipelines.base import CompleteWithInputs, FinopsTask
from pipelines.build_tasks import ArchiveRawExtract, DbtBuild
from pipelines.exports import export_store
from pipelines.load_tasks import api_month_to_date, load_outcomes, monthly_api_budget
from pipelines.records import (
    configure_logging,
    discard_stale,
    file_stamp,
    marker_path,
    now_iso,
    write_json_target,
)
from pipelines.state import RunState

log = logging.getLogger("finops.pipeline")


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
            facts = reporting.gather_facts(
                con,
                settings.reporting_currency,
                settings.utilization_alert,
                settings.opportunity_min_savings,
            )
        finally:
            con.close()
        summary = reporting.run_summary(self.date, settings, markers, facts, failed)
        summary["api_month_to_date"] = api_month_to_date(settings.duckdb_path, datetime.now(UTC))
        summary["monthly_api_budget"] = monthly_api_budget(settings)
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
