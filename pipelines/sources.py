"""Which loader lands which source, over which window: the registry's declarations
(loaders/registry.py) applied to a run.

A daily run on date D loads data up to the day before D. A 'history' source (the simulated
one) re-lands its whole history window `[D - FINOPS_HISTORY_DAYS, D)`, which replaces the
previous run's rows for those days (restated estimates included) and never adds to them; a
'restatement' source (a cost API) its restatement window; a 'files' source (FOCUS files)
imports FINOPS_FOCUS_PATH whatever the date: each billing period in the files replaces its
earlier import, and an unchanged file set is a no-op; a 'snapshot' source (provider
recommendations) lands what its API says now as the snapshot of `[D, D + 1)`, replacing an
earlier snapshot of the same date. A backfill from `since` loads `[since, D)` in one window
(a snapshot source: its snapshot of D, as on any run).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import duckdb

from finops.settings import Settings
from loaders import registry, warehouse
from loaders.registry import RunWindow
from loaders.warehouse import LoadResult

log = logging.getLogger("finops.sources")


@dataclass(frozen=True)
class SourceLoad:
    """What one source's load did: a result per scope landed, and for a 'files' source the
    import's own record (files read, periods unchanged, the loads the file set holds)."""

    results: list[LoadResult]
    focus_import: dict[str, Any] | None = None


def run_window(
    spec: registry.SourceSpec, settings: Settings, run_date: date, since: date | None = None
) -> tuple[date, date] | None:
    """The window a run of `run_date` (a backfill from `since`) loads for the source: the one
    place of that rule. None for a 'files' source (it has no window)."""
    if since is not None and since >= run_date:
        raise ValueError(f"backfill start {since} must be before the run date {run_date}")
    if spec.window == "files":
        return None
    if spec.window == "snapshot":
        return run_date, run_date + timedelta(days=1)
    if since is not None:
        return since, run_date
    if spec.window == "history":
        return settings.history_window(run_date)
    return settings.restatement_window(run_date)


def load_source(
    source: str, settings: Settings, run_date: date, since: date | None = None, force: bool = False
) -> SourceLoad:
    """Land one source for the run of `run_date`.

    `since` (a backfill) replaces the source's daily window with `[since, run_date)`. `force`
    only matters to a 'files' source (every file re-read and re-landed); the others replace
    their window whenever they load.
    """
    spec = registry.source(source)
    start, end = run_window(spec, settings, run_date, since) or (None, None)
    if since is not None and spec.window == "files":
        log.info("%s: a backfill since %s imports the whole file set as usual", source, since)
    config = spec.config(settings)
    # The warehouse records the attempt whatever happens, even a loader that fails before
    # it names its scopes (then the scopes its failure covers get the `failed` rows).
    attempt = warehouse.LoadAttempt(
        settings.duckdb_path,
        source=spec.ledger_source,
        raw_table=spec.raw_tables[0].name,
        window_start=start,
        window_end=end,
        scopes=spec.scopes_of_failure(config),
    )
    with attempt:
        landed = spec.load(
            config, RunWindow(settings.duckdb_path, start, end, run_date, force), attempt
        )
    if isinstance(landed, list):
        return SourceLoad(landed)
    return SourceLoad(landed.loads, landed.as_dict())


def purge_demo_sources(settings: Settings) -> None:
    """Real sources took over: demo rows of an earlier run must not be added to real costs
    in the marts. Once per run, before its loads."""
    if not any(name in registry.REAL for name in settings.sources):
        return
    for spec in registry.SOURCES:
        if spec.demo and spec.name not in settings.sources:
            purged = warehouse.purge_source(settings.duckdb_path, spec.ledger_source)
            if purged:
                log.warning("removed %d %s raw rows: real sources are enabled", purged, spec.name)


def demo_rows_left(settings: Settings) -> bool:
    """Whether real sources are enabled and a demo source's rows are still in the warehouse."""
    if not any(name in registry.REAL for name in settings.sources):
        return False
    db_path = settings.duckdb_path
    demo = [spec for spec in registry.SOURCES if spec.demo and spec.name not in settings.sources]
    if not demo or not db_path.exists():
        return False
    with warehouse.writer_lock(db_path, timeout_s=120):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            for spec in demo:
                for table in spec.raw_tables:
                    schema, name = table.qualified.split(".")
                    if (
                        warehouse.table_exists(con, schema, name)
                        and con.execute(
                            f"select exists (select 1 from {table.qualified} where _source = ?)",
                            [spec.ledger_source],
                        ).fetchone()[0]
                    ):
                        return True
        finally:
            con.close()
    return False
