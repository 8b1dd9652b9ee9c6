"""FOCUS export files source: FOCUS 1.0-1.3 CSV, CSV.gz and Parquet files, from a file, a
local folder (recursive) or `s3://bucket/prefix`, rolled up to days in `raw.focus_costs`.

    python -c "from pathlib import Path; from loaders import focus_files as f; \\
print(f.load(Path('data/finops.duckdb'), 's3://my-bucket/focus/'))"

`load(db_path, location)` imports every file at `location`; `load_for_run(config,
window, attempt)` does the same with FINOPS_FOCUS_PATH (a run date does not change what a file set
holds). See docs/focus_files.md.

What is replaced. A load's scope is one billing period of one billing account,
`<ProviderName>/<BillingAccountId>@<BillingPeriodStart>`: the rows of a (provider, billing
account, billing period) in an import replace everything an earlier import landed for it,
in one `replace_window` transaction (the warehouse's only write path). Billing periods the
import does not contain are left as they are. A restated export of a period (AWS and Azure
rewrite a period's files until it closes) therefore replaces it, never adds to it.

Idempotency. Two fingerprints per (billing account, period), recorded in
`raw.focus_imports`: the SHA-256 of the contents of the files that hold its rows, and the
SHA-256 of the daily rows themselves. Files are known by their contents: only files no
landed period came from are read, plus every file of the periods those new files add rows
to and of the periods one of whose files changed or went missing; the other landed periods
are kept without reading anything (a re-import of the same files reads nothing). A period
that was read and whose daily rows are the same as the landed ones is not written again (a
restated export that changed one period re-lands that period only; the same data in
another format, Parquet instead of CSV, is also unchanged). Unchanged periods get no ledger
row and no row rewritten; the import record says `unchanged`. Two files with the same
contents in one location are refused (their rows would count twice).

All or nothing. Every file the import reads is typed and checked (and rolled up) in a
scratch DuckDB before the first write: a malformed file (missing mandatory column, wrong
header, bad number, unparseable date, empty mandatory value, unknown FOCUS version) fails
the import with the file, line (or Parquet row) and column, and nothing of it is landed -
not even a ledger row: the raw tables and the ledger are unchanged (the run's failure record
and log carry the error). Landing is then one transaction: every (billing account, period)
replaced with its own ledger row, and the import records; should the warehouse refuse one
(disk full, killed process), none is landed and a rerun lands them all. The warehouse is
attached to the scratch database for the landing (`LoadAttempt.writing(via=...,
together=True)`): each period's daily rows go to the raw table with `insert ... select`
(`StagedRows`, checked by the writer in SQL), never through Python.
"""

from __future__ import annotations

import json
import logging
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from loaders import warehouse
from loaders.focus_files import files as focus_file_sources
from loaders.focus_files import mapping, reader
from loaders.focus_files.files import FileSet, FocusSourceError
from loaders.focus_files.mapping import FocusFormatError
from loaders.focus_files.reader import DEFAULT_MEMORY_LIMIT, ScopeRollup
from loaders.focus_files.source import (
    FOCUS_COSTS,
    FOCUS_RESOURCE_COSTS,
    FOCUS_SNAPSHOT_SPANS,
    FocusFilesConfig,
)
from loaders.focus_files.source import SOURCE as SPEC

if TYPE_CHECKING:
    from loaders.registry import RunWindow

__all__ = [
    "IMPORTS_TABLE",
    "RAW_TABLE",
    "SOURCE",
    "FocusFormatError",
    "FocusImport",
    "FocusImportError",
    "FocusSourceError",
    "load",
    "load_for_run",
]

log = logging.getLogger("finops.loaders.focus_files")

SOURCE = SPEC.ledger_source
RAW_TABLE = FOCUS_COSTS.name
IMPORTS_TABLE = "raw.focus_imports"

# One row per import x (billing account, billing period) it held: what was landed, or that
# the period was unchanged and kept (`load_id` = the load whose rows are current). Written by
# this loader after its loads; the fingerprints make the next import of the same data a
# no-op.
IMPORTS_DDL = """
create table if not exists raw.focus_imports (
    import_id varchar not null,
    imported_at timestamp not null,
    location varchar not null,
    scope varchar not null,
    billing_period_start date not null,
    billing_period_end date not null,
    action varchar not null,
    load_id varchar not null,
    file_set_sha256 varchar not null,
    rows_sha256 varchar not null,
    focus_version varchar not null,
    files varchar not null,
    source_rows bigint not null,
    row_count bigint not null,
    primary key (import_id, scope)
)
"""


class FocusImportError(RuntimeError):
    """The import failed; the message says what was (not) landed and why."""


@dataclass(frozen=True)
class _Landed:
    """What the warehouse holds for a scope: its charge-day span and, when its rows are the
    ones the last recorded import of the scope names, that record."""

    first_day: date
    last_day: date
    record: dict[str, Any] | None = None

    @property
    def shas(self) -> set[str]:
        if self.record is None:
            return set()
        return {f["sha256"] for f in json.loads(self.record["files"])}


@dataclass(frozen=True)
class FocusImport:
    """The outcome of one import."""

    import_id: str
    location: str
    file_count: int
    loads: list[warehouse.LoadResult] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)  # scopes kept as they were
    files_read: list[str] = field(default_factory=list)  # the others were known: not read
    # the loads whose rows every billing period of the file set holds now (landed or kept)
    current_load_ids: list[str] = field(default_factory=list)

    @property
    def read_files(self) -> bool:
        return bool(self.files_read)

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "location": self.location,
            "file_count": self.file_count,
            "files_read": self.files_read,
            "loads": [load.as_dict() for load in self.loads],
            "unchanged": self.unchanged,
            "current_load_ids": self.current_load_ids,
        }


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def landed_state(db_path: Path) -> dict[str, _Landed]:
    """Per scope: the charge days raw.focus_costs holds, and the import record of the load
    whose rows they are (none when the rows are not the last recorded import's)."""
    if not Path(db_path).exists():
        return {}
    with warehouse.writer_lock(Path(db_path), timeout_s=600):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            if not warehouse.table_exists(con, "raw", RAW_TABLE):
                return {}
            spans = con.execute(
                f"select _scope, _load_id, min(charge_date), max(charge_date) "
                f"from raw.{RAW_TABLE} where _source = ? group by all",
                [SOURCE],
            ).fetchall()
            records: dict[tuple[str, str], dict[str, Any]] = {}
            if warehouse.table_exists(con, *IMPORTS_TABLE.split(".")):
                cursor = con.execute(
                    f"""
                    select * from {IMPORTS_TABLE}
                    qualify row_number() over (partition by scope order by imported_at desc) = 1
                    """
                )
                names = [d[0] for d in cursor.description]
                for row in cursor.fetchall():
                    record = dict(zip(names, row, strict=True))
                    records[(record["scope"], record["load_id"])] = record
        finally:
            con.close()
    state: dict[str, _Landed] = {}
    for scope, load_id, first, last in spans:
        previous = state.get(scope)
        if previous is not None:  # a scope's rows come from one load; be safe if not
            state[scope] = _Landed(
                min(first, previous.first_day), max(last, previous.last_day), None
            )
            continue
        state[scope] = _Landed(first, last, records.get((scope, load_id)))
    return state


@dataclass(frozen=True)
class _Plan:
    """Which files an import must read, and which landed periods it keeps untouched."""

    unknown: list[focus_file_sources.FocusFile]  # not behind any landed period: read first
    stale: set[str]  # landed periods whose files changed, went missing or are read anew
    files_of: dict[str, set[str]]  # landed period -> SHA-256 of its files still present
    kept: list[str]  # landed periods whose files are all present and unchanged


def _plan(file_set: FileSet, declared: str | None, state: dict[str, _Landed], rollup: str) -> _Plan:
    """Compare the file set with what the landed periods were built from.

    A landed period is *relevant* when some of its files are here. It is stale when one of
    its files is missing (changed or gone) or its file-set fingerprint no longer matches (a
    new rollup or declared FOCUS version); else it is kept - unless a new file turns out to
    hold rows of it too (the caller adds those after reading the new files).
    """
    present = {f.sha256 for f in file_set.files}
    files_of: dict[str, set[str]] = {}
    stale: set[str] = set()
    for scope, landed in state.items():
        shas = landed.shas
        if not shas & present:
            continue  # not this location's (or every file of it is gone): left as it is
        files_of[scope] = shas & present
        record = landed.record or {}
        version = declared or record.get("focus_version") or ""
        fingerprint = reader.file_set_sha256(shas, version, rollup)
        if not shas <= present or record.get("file_set_sha256") != fingerprint:
            stale.add(scope)
    known = set().union(*files_of.values()) if files_of else set()
    unknown = [f for f in file_set.files if f.sha256 not in known]
    kept = sorted(set(files_of) - stale)
    return _Plan(unknown, stale, files_of, kept)


def _window(rollup: ScopeRollup, landed: _Landed | None) -> tuple[date, date]:
    """The billing period, widened to every charge day the period's rows had and have, so
    the incremental marts rebuild each day the load can change (a late or corrected charge
    can be dated outside its billing period)."""
    start = min(rollup.billing_period_start, rollup.first_charge_date)
    end = max(rollup.billing_period_end, rollup.last_charge_date + timedelta(days=1))
    if landed is not None:
        start = min(start, landed.first_day)
        end = max(end, landed.last_day + timedelta(days=1))
    return start, end


def _record(con: duckdb.DuckDBPyConnection, rows: list[dict[str, Any]]) -> None:
    """The import's records, on the writer's connection in the landing's transaction."""
    if not rows:
        return
    con.execute(IMPORTS_DDL)
    columns = list(rows[0])
    con.executemany(
        f"insert into {IMPORTS_TABLE} ({', '.join(columns)}) "
        f"values ({', '.join('?' * len(columns))})",
        [[row[c] for c in columns] for row in rows],
    )


def load(
    db_path: Path,
    location: str,
    *,
    memory_limit: str = DEFAULT_MEMORY_LIMIT,
    s3_client: Any | None = None,
    force: bool = False,
    attempt: warehouse.LoadAttempt | None = None,
    tag_keys: tuple[str, ...] = (),
    resource_days: int = 0,
) -> FocusImport:
    """Import the FOCUS files at `location` (a file, a folder, or s3://bucket/prefix).

    Raises FocusImportError (nothing landed) when the location cannot be read or a file is
    malformed. `memory_limit` bounds the scratch DuckDB that reads the files (it spills to
    a work folder beside the warehouse). `force` reads every file and re-lands every
    billing period in them, as if none had been imported (`finops run --force`). Each
    billing period lands through the load attempt (`attempt`, else one of its own).
    `tag_keys` (FINOPS_ALLOCATION_TAGS) are the Tags keys each row keeps, in
    `x_allocation_tags`; other keys re-land every period once. `resource_days`
    (FINOPS_FOCUS_RESOURCE_DAYS) keeps the last days of the files read per resource in
    raw.focus_resource_costs, landed with each period; after the import the table keeps only
    its last `resource_days` days (0: no resource grain; a change re-lands every period once).
    With the resource grain, every period also lands its storage snapshots' first and last
    charge days in raw.focus_snapshot_spans (all of them: a snapshot's age).
    """
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    import_id = f"{SOURCE}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    started = _utc_now()
    key = {"import_id": import_id, "imported_at": started, "location": location}
    landed: list[warehouse.LoadResult] = []
    if attempt is None:
        attempt = warehouse.LoadAttempt(db_path, source=SOURCE, raw_table=RAW_TABLE)
    with tempfile.TemporaryDirectory(prefix=".focus-import-", dir=db_path.parent) as tmp:
        work_dir = Path(tmp)
        try:
            file_set = focus_file_sources.collect(location, work_dir, s3_client)
            declared = reader.declared_version(file_set)
            state = landed_state(db_path)
            if force:  # forget the fingerprints: every file is read, every period re-landed
                state = {k: _Landed(v.first_day, v.last_day) for k, v in state.items()}
            plan = _plan(file_set, declared, state, mapping.rollup_version(tag_keys, resource_days))
            stage = reader.Stage(work_dir, memory_limit, tag_keys, resource_days)
            try:
                # New files first: they say which landed periods they add rows to; those
                # periods (and the stale ones) are read again from all their files.
                read = _read(stage, plan.unknown, declared)
                need = stage.scopes() | plan.stale
                by_sha = {f.sha256: f for f in file_set.files}
                again = sorted(
                    {sha for scope in need for sha in plan.files_of.get(scope, ())} - read,
                    key=lambda sha: by_sha[sha].name,
                )
                read |= _read(stage, [by_sha[sha] for sha in again], declared)
                kept = sorted(set(plan.files_of) - need)
                if not read:
                    log.info(
                        "focus_files %s: all %d file(s) already landed, %d billing period(s) "
                        "unchanged; nothing read",
                        location,
                        len(file_set.files),
                        len(kept),
                    )
                records = [_kept(key, state[scope].record) for scope in kept]
                unchanged = list(kept)
                rollups = stage.rollups(declared, only=need) if read else []
                if rollups:
                    stage.add_resources()
                # The warehouse attached to the stage, every billing period and the import
                # records in one transaction: the rows go from the stage's tables to the
                # raw table in SQL; all periods land, or none.
                with attempt.writing(via=stage.con, together=True):
                    for rollup in rollups:
                        previous = state.get(rollup.scope)
                        current = previous.record if previous is not None else None
                        if current is not None and current["rows_sha256"] == rollup.rows_sha256:
                            unchanged.append(rollup.scope)
                            records.append(
                                _import_row(key, rollup, "unchanged", current["load_id"])
                            )
                            continue
                        start, end = _window(rollup, previous)
                        resources = (
                            {
                                FOCUS_RESOURCE_COSTS.name: stage.resource_rows(rollup),
                                FOCUS_SNAPSHOT_SPANS.name: stage.span_rows(rollup),
                            }
                            if resource_days > 0
                            else None
                        )
                        result = attempt.land(
                            rollup.scope,
                            stage.staged_rows(rollup),
                            window_start=start,
                            window_end=end,
                            with_tables=resources,
                            provider_name=rollup.provider_name,
                            billing_account_id=rollup.billing_account_id,
                            billing_period_start=rollup.billing_period_start,
                        )
                        landed.append(result)
                        records.append(_import_row(key, rollup, "loaded", result.load_id))
                        log.info(
                            "focus_files %s: %d file row(s) -> %d daily row(s), replaced %d, "
                            "window [%s, %s)",
                            rollup.scope,
                            rollup.source_rows,
                            result.row_count,
                            result.replaced_row_count,
                            start,
                            end,
                        )
                    _record(attempt.connection, records)
                    if landed:
                        _keep_recent_resources(attempt.connection, resource_days)
            finally:
                stage.close()
        except (FocusFormatError, FocusSourceError, warehouse.LoadValidationError) as exc:
            raise FocusImportError(_failure(location, exc)) from None
        except (duckdb.Error, OSError) as exc:
            raise FocusImportError(_failure(location, f"{type(exc).__name__}: {exc}")) from None
    log.info(
        "focus_files %s: %d file(s), %d read, %d billing period(s) landed, %d unchanged",
        location,
        len(file_set.files),
        len(read),
        len(landed),
        len(unchanged),
    )
    names = sorted(f.name for f in file_set.files if f.sha256 in read)
    current = sorted({record["load_id"] for record in records})
    return FocusImport(
        import_id, location, len(file_set.files), landed, sorted(unchanged), names, current
    )


def _keep_recent_resources(con: duckdb.DuckDBPyConnection, days: int) -> None:
    """raw.focus_resource_costs keeps the last `days` days from its latest charge date (all
    of it with 0 days: none is landed then, and the rows of an earlier setting go): a first
    import and the daily imports that follow it hold the same rows. The snapshot spans are
    all kept (they are a snapshot's age), but none with 0 days."""
    table = FOCUS_RESOURCE_COSTS.qualified
    con.execute(
        f"delete from {table} where ? = 0 or charge_date < "
        f"(select max(charge_date) from {table}) - cast(? as integer) + 1",
        [days, days],
    )
    if days == 0:
        con.execute(f"delete from {FOCUS_SNAPSHOT_SPANS.qualified}")


def _read(
    stage: reader.Stage, files: list[focus_file_sources.FocusFile], declared: str | None
) -> set[str]:
    """Check and roll up `files` into the stage; returns their SHA-256."""
    for name, version in stage.add_all(files, declared).items():
        log.info("focus_files: %s read (FOCUS %s)", name, version)
    return {file.sha256 for file in files}


def _failure(location: str, error: object) -> str:
    # the periods land in one transaction: a failure before its commit lands none of them
    return f"FOCUS import of {location} failed; nothing was loaded: {error}"


def _import_row(
    key: dict[str, Any], rollup: ScopeRollup, action: str, load_id: str
) -> dict[str, Any]:
    """The import record of a period this import read: `loaded` by `load_id`, or
    `unchanged` (its rows are still those of `load_id`; the files are now these)."""
    return {
        **key,
        "scope": rollup.scope,
        "billing_period_start": rollup.billing_period_start,
        "billing_period_end": rollup.billing_period_end,
        "action": action,
        "load_id": load_id,
        "file_set_sha256": rollup.file_set_sha256,
        "rows_sha256": rollup.rows_sha256,
        "focus_version": rollup.focus_version,
        "files": json.dumps(
            [{"name": f.name, "sha256": f.sha256, "size": f.size} for f in rollup.files],
            sort_keys=True,
        ),
        "source_rows": rollup.source_rows,
        "row_count": rollup.row_count if action == "loaded" else 0,
    }


def _kept(key: dict[str, Any], record: dict[str, Any] | None) -> dict[str, Any]:
    """The import record of a period whose files were all known: nothing read or written."""
    assert record is not None
    return {**record, **key, "action": "unchanged", "source_rows": 0, "row_count": 0}


def load_for_run(
    config: FocusFilesConfig, window: RunWindow, attempt: warehouse.LoadAttempt
) -> FocusImport:
    """Import FINOPS_FOCUS_PATH for a run (no window: the run date does not change a file
    set, and a backfill imports every billing period in the files as usual); `force`
    re-lands every period (see `load`)."""
    if not config.path:
        raise FocusImportError("FINOPS_SOURCES includes focus but FINOPS_FOCUS_PATH is not set")
    result = load(
        window.db_path,
        config.path,
        force=window.force,
        attempt=attempt,
        tag_keys=config.allocation_tags,
        resource_days=config.resource_days,
    )
    log.info("focus_files run %s: %s", window.run_date, json.dumps(result.as_dict(), default=str))
    return result


def input_signature(config: FocusFilesConfig) -> str | None:
    """The listing signature of FINOPS_FOCUS_PATH (None when unset or unlistable): a run's
    import holds while the listing is the one it imported."""
    if not config.path:
        return None
    listing = focus_file_sources.listing_signature(config.path)
    rollup = mapping.rollup_version(config.allocation_tags, config.resource_days)
    if listing is None or rollup == mapping.ROLLUP_VERSION:
        return listing
    # other allocation keys (or resource days) make other rows of the same files
    return f"{listing}; rollup={rollup}"
