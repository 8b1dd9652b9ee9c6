"""The daily pipeline: load -> dbt build -> raw extract -> export -> prune -> report.

This module holds the run as a whole (DailyPipeline, its steps' end-of-run lines, the
failure handler); the steps live in load_tasks.py, build_tasks.py and delivery_tasks.py,
on the plumbing of base.py and records.py.

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

import logging
from datetime import date
from typing import Any

import luigi

from finops.settings import load_settings
from pipelines import history, notify
from pipelines.base import FinopsTask, RunParameters, one_run_state
from pipelines.build_tasks import ArchiveRawExtract, DbtBuild
from pipelines.delivery_tasks import Export, Prune, PruneExports, Report
from pipelines.load_tasks import LoadSource, RetireDemoSources, load_outcomes
from pipelines.records import WarehouseRecord, configure_logging

# The tasks and helpers callers (`luigi --module pipelines.tasks`, the CLI, tests) import
# from here; each lives in the module of its step.
__all__ = [
    "ArchiveRawExtract",
    "DailyPipeline",
    "DbtBuild",
    "Export",
    "LoadSource",
    "Prune",
    "PruneExports",
    "Report",
    "RetireDemoSources",
    "WarehouseRecord",
    "configure_logging",
    "run_status",
    "run_steps",
    "step_lines",
]

log = logging.getLogger("finops.pipeline")


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
    with one_run_state():
        return _step_lines(root, ran, failed)


def _step_lines(root: RunParameters, ran: set[str], failed: set[str]) -> list[str]:
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
