"""Building: `dbt build` and the published marts, then the run's raw audit extract."""

from __future__ import annotations

import json
import logging
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import luigi

from finops.dbt_runner import run_dbt
from finops.settings import Settings
from loaders import registry, warehouse
from pipelines import build_scope, reporting
from pipelines.base import BUILD_MARKER, CompleteWithInputs, FinopsTask
from pipelines.build_window import rebuilt_window_start
from pipelines.load_tasks import NoSourceLoadedError, current_load_ids, enabled_loads, load_outcomes
from pipelines.records import discard_stale, file_stamp
from pipelines.state import RunState

log = logging.getLogger("finops.pipeline")


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
    """`dbt build` (seeds, models, data tests) and the source-freshness check in one dbt
    process (`build`), then publish the marts for readers.

    A daily build (incremental tables exist) rebuilds the days from the first one a load
    changed and tests those days only (pipelines/build_window.py); the first build tests all
    days. No pipeline build runs the unit tests (code, not data); `finops verify` runs them
    and tests all history.

    Runs on whatever landed: a source whose load failed keeps its last good data in raw, so
    the marts keep it too. Refuses only when no source landed at all.
    """

    marker_name = BUILD_MARKER
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
        summary = build(settings)
        summary["build_id"] = build_id
        summary["built_on_load_ids"] = built_on
        summary["failed_sources"] = [f["source"] for f in failed]
        tables = warehouse.publish_serving_copy(settings.duckdb_path, settings.serving_path)
        summary["published_tables"] = tables
        summary["serving_path"] = str(settings.serving_path)
        return summary

    def outcome(self, payload: dict[str, Any]) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(payload.get("counts", {}).items()))
        window = payload.get("window_start")
        tested = f"days from {window} rebuilt and tested" if window else "all days tested"
        if payload.get("nodes_left_out"):
            tested += f", {payload['nodes_left_out']} nodes no load reached left out"
        return (
            f"{payload.get('build_id')} from {len(payload.get('built_on_load_ids', []))} "
            f"load(s) ({counts}; {tested}); {payload.get('published_tables')} marts published"
        )


def build(settings: Settings) -> dict[str, Any]:
    """`dbt build`, then `dbt source freshness` in the same dbt process (one start-up).

    A daily build (incremental tables exist) rebuilds the days from the first one a load
    changed and tests those days only, and runs only the nodes the loads since the last
    build reach (pipelines/build_scope.py); the first build tests all days. Neither runs the dbt
    unit tests: they test the SQL on fixed rows, not the data, so they belong to development
    and CI (dbt's own advice), and `finops verify` runs them on the installed project.
    Freshness is reported, never fatal: stale raw data is worth a line in the report, not a
    reason to withhold today's marts."""
    window_start, scope = plan_build(settings)
    if scope.left_out:
        log.info(
            "dbt build: %d seeds, models and tests left out, the loads since the last build "
            "do not reach them (pipelines/build_scope.py)",
            len(scope.left_out),
        )
    elif window_start is not None:
        log.info("dbt build: every node runs (%s)", scope.reason or "the loads reach them all")
    args = [
        "build",
        "--exclude-resource-type",
        "unit_test",
        *scope.exclude_args(),
        *scope.write_json_args(),
    ]
    freshness_results_path(settings).unlink(missing_ok=True)
    summary = run_dbt(settings, args, window_start=window_start, then=[freshness_args(settings)])
    build_scope.record(settings, scope)
    if summary.pop("then_returncodes", None) != [0]:
        log.warning(
            "source freshness: dbt did not pass, see %s", settings.log_dir / "dbt_output.log"
        )
    # the run record names what was left out by count (the list is in logs/dbt_output.log)
    summary["dbt_args"] = args[:3]
    summary["window_start"] = window_start
    summary["nodes_left_out"] = len(scope.left_out)
    summary["source_freshness"] = freshness_statuses(settings)
    return summary


def plan_build(settings: Settings) -> tuple[str | None, build_scope.BuildScope]:
    """The first charge date this build rebuilds (pipelines/build_window.py; None: all) and
    the nodes it leaves out (pipelines/build_scope.py), read under the writer lock."""
    if not settings.duckdb_path.exists():
        return None, build_scope.BuildScope(
            ledger_mark=None, fingerprint=build_scope.project_fingerprint(settings)
        )
    with warehouse.writer_lock(settings.duckdb_path):
        con = warehouse.connect_writer(settings.duckdb_path)
        try:
            window_start = rebuilt_window_start(con)
            scope = build_scope.plan(settings, con, daily=window_start is not None)
            if scope.left_out_relations:  # their watermarks do not name the window
                window_start = rebuilt_window_start(con, scope.left_out_relations)
            return window_start, scope
        finally:
            con.close()


def freshness_args(settings: Settings) -> list[str]:
    """`dbt source freshness` of the enabled sources only, and of the warehouse's own
    ledger (`finops`)."""
    dbt_sources = (n for s in settings.sources for n in registry.source(s).dbt_sources)
    selected = sorted({"finops", *dbt_sources})
    return ["source", "freshness", "--select", *(f"source:{name}" for name in selected)]


def freshness_results_path(settings: Settings) -> Path:
    return settings.data_dir / "dbt" / "target" / "sources.json"


def freshness_statuses(settings: Settings) -> dict[str, str]:
    """Source name -> pass / warn / error from dbt's sources.json; {} when dbt wrote none."""
    path = freshness_results_path(settings)
    if not path.exists():
        return {}
    results = json.loads(path.read_text()).get("results", [])
    return {r["unique_id"].removeprefix("source.finops."): r["status"] for r in results}
