"""The source registry: every source finops can load, declared by its loader package.

A loader package `loaders/<package>/` declares its source in `loaders/<package>/source.py`
as `SOURCE = SourceSpec(...)`: its name in FINOPS_SOURCES, the name its ledger rows and raw
rows carry, its raw tables (their shape, loaders/catalogue.py), the dbt sources its rows are
read through, the providers it stands for, its window policy and the function that lands it
for a run. Settings, the pipeline, the report, the CLI and the warehouse catalogue iterate
over `SOURCES`; none of them names a source. The `source` modules import no SDK (they are
read at every start); the loader function is imported when a run uses it.

Adding a source = one loader package with its `source` module + one staging folder in the
dbt project (docs/adding-a-source.md).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from loaders.catalogue import RawTable

if TYPE_CHECKING:
    from finops.settings import Settings
    from loaders.warehouse import LoadAttempt

# How a source's daily run window is chosen (pipelines/sources.py `run_window`):
# 'history'     - the whole history window [D - FINOPS_HISTORY_DAYS, D) (the simulation);
# 'restatement' - the restatement window of a cost API [D - FINOPS_RESTATEMENT_DAYS, D);
# 'files'       - no window: every billing period in the files is imported.
# 'snapshot'    - the run date alone, [D, D + 1): what an API says as of now (provider
#                 recommendations), landed as the run date's snapshot; a backfill too.
WindowPolicy = Literal["history", "restatement", "files", "snapshot"]


@dataclass(frozen=True)
class RunWindow:
    """What a run asks of a source: `[start, end)` (None for a 'files' source), the run
    date, and `force` (re-land even what is unchanged)."""

    db_path: Path
    start: date | None
    end: date | None
    run_date: date
    force: bool = False


@dataclass(frozen=True)
class SourceSpec:
    name: str  # in FINOPS_SOURCES and `finops purge --source`
    ledger_source: str  # `source` of its ledger rows, `_source` of its raw rows
    raw_tables: tuple[RawTable, ...]  # the raw tables it lands in
    dbt_sources: tuple[str, ...]  # dbt sources its rows are read through (freshness)
    providers: tuple[str, ...]  # providers of its rows; () = each load names its own
    window: WindowPolicy
    loader: str  # "module:function" (config, RunWindow, LoadAttempt) -> LoadResults / a record
    rank: int  # order in listings and error messages
    summary: str  # one line for `--help` and error messages
    # A demo source: never mixed with real ones, and its rows are purged once real
    # sources are enabled (so demo costs are never added to real ones).
    demo: bool = False
    # `FINOPS_SOURCES=auto` picks the source when this says it is configured.
    detect: Callable[[], bool] | None = None
    # When configured, `auto` means this source alone (FOCUS exports of a payer account
    # hold what its cost API would return).
    auto_alone: bool = False
    # Named in FINOPS_SOURCES while `detect` says it is not configured: this error (None =
    # it may still run, e.g. on an instance role the detection cannot see).
    unconfigured_error: str | None = None
    # The loader's configuration from the application's settings: a function of the source
    # module (it reads Settings; the loader takes only what this returns). None: no settings.
    configure: Callable[[Settings], Any] | None = None
    # "module:function" (config) -> the scopes a failure covers: the `failed` ledger rows a
    # load attempt writes when it fails before the loader names its scopes (none: nothing).
    failure_scopes: str | None = None
    # "module:function" (config) -> str | None: the signature of what a 'files' source
    # reads (its file listing); a run of it is complete only while the signature is the one
    # it imported (None: unlistable, never complete).
    input_signature: str | None = None
    # "module:function" (config, RunWindow) -> a plan with `lines()`: the API requests a run's
    # load would make and their cost, from the warehouse alone (`finops run --plan`). None:
    # `plan_note` says why there is nothing to plan.
    planner: str | None = None
    plan_note: str = "makes no paid API request"

    def config(self, settings: Settings) -> Any:
        """The loader's configuration for a run with `settings`."""
        return self.configure(settings) if self.configure else None

    def load(self, config: Any, window: RunWindow, attempt: LoadAttempt) -> Any:
        """Land the source for a run through `attempt` (its loader, imported now)."""
        return _resolve(self.loader)(config, window, attempt)

    def scopes_of_failure(self, config: Any) -> list[str]:
        return list(_resolve(self.failure_scopes)(config)) if self.failure_scopes else []

    def plan(self, config: Any, window: RunWindow) -> Any:
        """The source's request plan for a run (`finops run --plan`), or None."""
        return _resolve(self.planner)(config, window) if self.planner else None

    def signature_of_input(self, config: Any) -> str | None:
        return _resolve(self.input_signature)(config) if self.input_signature else None


def _resolve(target: str) -> Callable[..., Any]:
    module, _, function = target.partition(":")
    return getattr(importlib.import_module(module), function)


def lazy_attributes(module: str) -> Callable[[str], Any]:
    """A package's module `__getattr__` (PEP 562) that reads its names from `module`, imported
    on first use: a loader package's `__init__` stays light, so reading the registry (every
    `source` module) never imports an SDK or DuckDB (pyarrow only for the
    raw tables' column types)."""

    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        # import_module, not `from package import ...`: the latter asks this function again
        try:
            return getattr(importlib.import_module(module), name)
        except AttributeError:
            raise AttributeError(
                f"module {module.rpartition('.')[0]!r} has no attribute {name!r}"
            ) from None

    return __getattr__


def _discover() -> tuple[SourceSpec, ...]:
    """Every `loaders/<package>/source.py` SOURCE, by rank."""
    import loaders

    specs = []
    for info in pkgutil.iter_modules(loaders.__path__):
        # A package without a `source` module is a helper package (the warehouse): it is
        # not imported here (it may itself read the registry).
        if not info.ispkg or not Path(info.module_finder.path, info.name, "source.py").is_file():
            continue
        module = importlib.import_module(f"loaders.{info.name}.source")
        specs.append(module.SOURCE)
    return tuple(sorted(specs, key=lambda spec: spec.rank))


SOURCES: tuple[SourceSpec, ...] = _discover()
BY_NAME: dict[str, SourceSpec] = {spec.name: spec for spec in SOURCES}
NAMES: tuple[str, ...] = tuple(BY_NAME)
REAL: tuple[str, ...] = tuple(spec.name for spec in SOURCES if not spec.demo)


def source(name: str) -> SourceSpec:
    """The registered source `name` (KeyError with the known names otherwise)."""
    try:
        return BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown source {name!r}; known: {', '.join(NAMES)}") from None


def raw_tables() -> dict[str, RawTable]:
    """Every raw table of every source, by name (a table two sources share appears once)."""
    tables: dict[str, RawTable] = {}
    for spec in SOURCES:
        for table in spec.raw_tables:
            if tables.setdefault(table.name, table) is not table:
                raise ValueError(f"raw table {table.name} is declared twice")
    return tables
