"""Which loader lands which source, and over which window.

A daily run on date D loads data up to the day before D: the simulated source re-lands its
whole history window `[D - FINOPS_HISTORY_DAYS, D)`, which replaces the previous run's rows
for those days (restated estimates included) and never adds to them. The `focus` source
imports FINOPS_FOCUS_PATH whatever the date: each billing period in the files replaces its
earlier import, and an unchanged file set is a no-op (loaders/focus_files).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date
from typing import Any

from finops.settings import REAL_SOURCES_WITH_LOADERS, Settings, utc_today
from loaders import simulated, warehouse
from loaders.warehouse import LoadResult

log = logging.getLogger("finops.sources")


class SourceNotAvailableError(RuntimeError):
    """The configured source has no loader in this version."""


@dataclass(frozen=True)
class SourceLoad:
    """What one source's load did: a result per scope landed, and for the `focus` source
    the import's own record (files read, periods unchanged, the loads the file set holds)."""

    results: list[LoadResult]
    focus_import: dict[str, Any] | None = None


def load_source(
    source: str, settings: Settings, run_date: date, since: date | None = None, force: bool = False
) -> SourceLoad:
    """Land one source for the run of `run_date`.

    `since` (a backfill) replaces the source's daily window with `[since, run_date)`. `force`
    only matters to the `focus` source (every file re-read and re-landed); the others
    replace their window whenever they load.
    """
    results = _load(source, settings, run_date, since, force)
    if isinstance(results, list):
        return SourceLoad(results)
    return SourceLoad(results.loads, results.as_dict())


def _load(source: str, settings: Settings, run_date: date, since: date | None, force: bool) -> Any:
    if since is not None and since >= run_date:
        raise ValueError(f"backfill start {since} must be before the run date {run_date}")
    if source == "simulated":
        start, end = (since, run_date) if since else settings.history_window(run_date)
        # Like a real cost API, the simulation answers with what is known *now*: a backfill of
        # an old date must not bring back estimates that a later run already replaced.
        as_of = max(run_date, utc_today())
        return simulated.load(
            settings.duckdb_path, start, end, as_of=as_of, seed=settings.simulated_seed
        )
    if "simulated" not in settings.sources:
        # Real sources took over: demo rows of an earlier simulated run must not be added
        # to real costs in the marts.
        purged = warehouse.purge_source(settings.duckdb_path, "simulated")
        if purged:
            log.warning("removed %d simulated raw rows: real sources are enabled", purged)
    if source == "aws" and "aws" in REAL_SOURCES_WITH_LOADERS:
        from loaders import aws_cost_explorer

        return aws_cost_explorer.load_for_run(settings, run_date, since=since)
    if source == "azure" and "azure" in REAL_SOURCES_WITH_LOADERS:
        from loaders import azure_cost_management

        return azure_cost_management.load_for_run(settings, run_date, since=since)
    if source == "focus" and "focus" in REAL_SOURCES_WITH_LOADERS:
        from loaders import focus_files

        return focus_files.load_for_run(settings, run_date, since=since, force=force)
    raise SourceNotAvailableError(
        f"source {source!r} has no loader in this version; set FINOPS_SOURCES=simulated "
        "(or auto) to run on the simulated data"
    )
