"""Which loader lands which source, over which window: the registry's declarations
(loaders/registry.py) applied to a run.

A daily run on date D loads data up to the day before D. A 'history' source (the simulated
one) re-lands its whole history window `[D - FINOPS_HISTORY_DAYS, D)`, which replaces the
previous run's rows for those days (restated estimates included) and never adds to them; a
'restatement' source (a cost API) its restatement window; a 'files' source (FOCUS files)
imports FINOPS_FOCUS_PATH whatever the date: each billing period in the files replaces its
earlier import, and an unchanged file set is a no-op. A backfill from `since` loads
`[since, D)` in one window.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

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
    if not spec.demo:
        _purge_demo_sources(settings)
    if since is not None and spec.window == "files":
        log.info("%s: a backfill since %s imports the whole file set as usual", source, since)
    landed = spec.load(settings, RunWindow(settings.duckdb_path, start, end, run_date, force))
    if isinstance(landed, list):
        return SourceLoad(landed)
    return SourceLoad(landed.loads, landed.as_dict())


def _purge_demo_sources(settings: Settings) -> None:
    """Real sources took over: demo rows of an earlier run must not be added to real costs
    in the marts."""
    for spec in registry.SOURCES:
        if spec.demo and spec.name not in settings.sources:
            purged = warehouse.purge_source(settings.duckdb_path, spec.ledger_source)
            if purged:
                log.warning("removed %d %s raw rows: real sources are enabled", purged, spec.name)
