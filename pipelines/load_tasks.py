"""Loading: one LoadSource per enabled source (with failure isolation, see pipelines/tasks.py),
the demo source retired once real sources are enabled, and what the loads' records say."""

from __future__ import annotations

import json
import logging
import multiprocessing
import time
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import luigi

from finops import dbt_runner
from finops.settings import Settings, load_settings
from loaders import redaction, registry, warehouse
from pipelines import history
from pipelines.base import FinopsTask, RunParameters
from pipelines.records import (
    CENT,
    FAILED_SUFFIX,
    configure_logging,
    discard_stale,
    marker_path,
    now_iso,
    utc_naive_now,
    write_json_target,
)
from pipelines.sources import demo_rows_left, load_source, purge_demo_sources, run_window
from pipelines.state import RunState

log = logging.getLogger("finops.pipeline")


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
        if multiprocessing.parent_process() is None:
            # the build's dbt starts and parses the project while this load runs; in a
            # Luigi worker process of its own (workers > 1) the build would not find it
            dbt_runner.start_run_dbt_ahead(settings)
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


def ledger_query(db_path: Path, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    """Rows of a read-only query over raw.load_ledger (none when the warehouse or its ledger
    does not exist yet), read under the writer's lock."""
    if not Path(db_path).exists():
        return []
    with warehouse.writer_lock(Path(db_path), timeout_s=120):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            exists = con.execute(
                "select count(*) from information_schema.tables "
                "where table_schema = 'raw' and table_name = 'load_ledger'"
            ).fetchall()[0][0]
            if not exists:
                return []
            cursor = con.execute(sql, params)
            columns = [d[0] for d in cursor.description]
            return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            con.close()


def failed_ledger_rows(db_path: Path, source: str, since: datetime) -> list[dict[str, Any]]:
    """`failed` rows of raw.load_ledger for `source` that started at or after `since`."""
    return ledger_query(
        db_path,
        "select load_id, scope, api_requests, api_cost_usd, error from raw.load_ledger "
        "where source = ? and status = 'failed' and started_at >= ? order by started_at",
        [source, since],
    )


def api_month_to_date(db_path: Path, now: datetime) -> list[dict[str, Any]]:
    """Per ledger source, the API requests and their cost the load ledger recorded since the
    1st of `now`'s month (UTC), failed loads included: what the report and the execution
    history show next to the run's own (issue #20)."""
    counted = ledger_query(  # a ledger no load has written to since before #20 lacks it
        db_path,
        "select 1 from information_schema.columns where table_schema = 'raw' "
        "and table_name = 'load_ledger' and column_name = 'api_retries'",
        [],
    )
    retries = "sum(api_retries)" if counted else "0"
    rows = ledger_query(
        db_path,
        "select source, count(distinct load_id) as loads, sum(api_requests) as requests, "
        f"sum(api_cost_usd) as cost, {retries} as retries from raw.load_ledger "
        "where started_at >= ? and api_requests > 0 group by source order by source",
        [datetime(now.year, now.month, 1)],
    )
    return [
        {
            "month": f"{now:%Y-%m}",
            "source": row["source"],
            "loads": int(row["loads"]),
            "api_requests": int(row["requests"]),
            "api_cost_usd": str(Decimal(row["cost"]).quantize(Decimal("0.01"))),
            "api_retries": int(row["retries"] or 0),
        }
        for row in rows
    ]


def monthly_api_budget(settings: Settings) -> dict[str, str] | None:
    """The monthly Cost Explorer budget (FINOPS_AWS_MONTHLY_API_BUDGET_USD) with what this
    month's loads of the sources it covers spent (the AWS loader's own reckoning), or None."""
    if settings.aws_monthly_api_budget_usd is None:
        return None
    from loaders.aws_cost_explorer.budget import MONTHLY_BUDGET_SETTING, month_to_date_cost

    budget = settings.aws_monthly_api_budget_usd
    spent = month_to_date_cost(settings.duckdb_path, datetime.now(UTC))
    return {
        "setting": MONTHLY_BUDGET_SETTING,
        "budget_usd": str(budget),
        "spent_usd": str(spent.quantize(Decimal("0.01"))),
        "left_usd": str(max(budget - spent, Decimal(0)).quantize(Decimal("0.01"))),
    }


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
