"""A load attempt: the warehouse's record of one load of a source, whatever happens.

Whoever starts a load (the pipeline for a run, a loader's own `load` when called directly)
opens a `LoadAttempt`; the loader tells it the scopes it is about to land (`expect`), how to
read what its API has spent so far (`meter`), the scope it is working on (`working_on`), and
lands each scope through it (`land`, the writer's `replace_window`). Otherwise a loader just
raises. When the attempt ends with an exception, every expected scope not landed gets one
`failed` ledger row - the error, scrubbed of secrets; the requests spent and not yet on a
landed row; when the attempt started - and the exception goes on unchanged.

Attempts nest: a loader's `load` entered inside the pipeline's attempt joins it, and only the
outermost exit writes the failure, once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import Any

import duckdb
import pyarrow as pa

from loaders.redaction import scrub
from loaders.warehouse.locking import attached_writer, writer_connection
from loaders.warehouse.schema import ensure_raw_schema
from loaders.warehouse.validation import StagedRows
from loaders.warehouse.writes import (
    DeferredInsert,
    LoadResult,
    insert_deferred,
    record_failed_load,
    replace_window,
    utc_now,
)

log = logging.getLogger("finops.warehouse")

# (requests, USD) spent by the attempt so far, or (requests, USD, retries): the requests the
# API refused (throttled, 5xx) and the client sent again
Meter = Callable[[], tuple[int, Decimal] | tuple[int, Decimal, int]]
Spend = tuple[int, Decimal, int]  # (requests, USD, retries)


class LoadAttempt:
    """One load of `source` into `raw_table` over `[window_start, window_end)` (None for a
    source whose scopes each have their own window)."""

    def __init__(
        self,
        db_path: Path,
        *,
        source: str,
        raw_table: str,
        window_start: date | None = None,
        window_end: date | None = None,
        scopes: Iterable[str] = (),
    ) -> None:
        self.db_path = Path(db_path)
        self.source = source
        self.raw_table = raw_table
        self.window_start = window_start
        self.window_end = window_end
        self.started_at: datetime = utc_now()
        self.results: list[LoadResult] = []
        self._expected: dict[str, dict[str, Any]] = {scope: {} for scope in scopes}
        self._current: str | None = None
        self._meter: Meter | None = None
        self._recorded: Spend = (0, Decimal("0"), 0)
        self._secrets: list[str] = []
        self._depth = 0
        self._con: duckdb.DuckDBPyConnection | None = None
        self._together = False  # writing(together=True): landings join one transaction
        # writing(together=True): each landing in the open transaction (result, scope, its
        # expected ledger columns, its spend), forgotten if it rolls back
        self._in_transaction: list[tuple[LoadResult, str, dict | None, Spend]] = []
        # writing(together=True): the windows of staged batches checked and replaced but not
        # yet inserted (`flush`)
        self._deferred: list[DeferredInsert] = []

    # -- what the loader tells the attempt -------------------------------------------------

    def expect(self, scopes: Iterable[str], **ledger: Any) -> None:
        """The scopes this attempt is to land, replacing the earlier guess (e.g. the payer
        account once STS named it); `ledger` columns (billing_account_id, ...) go to each."""
        self._expected = {scope: dict(ledger) for scope in scopes}

    def working_on(self, scope: str | None) -> None:
        """The scope being fetched or landed: a failure is its own, the others' rows say so."""
        self._current = scope

    def meter(self, spent: Meter) -> None:
        """How to read the requests and USD the source's API has cost this attempt so far
        (and, when the client counts them, the refused requests it retried)."""
        self._meter = spent

    def redact(self, *secrets: str) -> None:
        """Values to mask in the recorded error besides the process's known secrets."""
        self._secrets.extend(s for s in secrets if s)

    @property
    def api_requests(self) -> int:
        return self._meter()[0] if self._meter else 0

    # -- landing ---------------------------------------------------------------------------

    @contextmanager
    def writing(
        self, via: duckdb.DuckDBPyConnection | None = None, together: bool = False
    ) -> Iterator[None]:
        """Hold the writer's lock and one connection while landing several scopes in a row
        (each still its own transaction, all or nothing per scope): one connection and one
        checkpoint instead of one per scope. Only around work that waits on nothing else
        (not on an API): other writers wait meanwhile.

        `via`: the loader's own DuckDB connection, to which the warehouse is attached
        instead (`attached_writer`): rows staged in it land as `StagedRows`, without leaving
        DuckDB. `connection` is the writer's connection meanwhile.

        `together`: every scope landed (and whatever else is written on `connection`) in
        one transaction, committed when the block ends and rolled back if it raises: all
        scopes or none, and one commit (a commit is a WAL sync: 70 ms each on a 2-core VM,
        1.9 s of a year of monthly FOCUS files landed one transaction per period)."""
        if self._con is not None:  # already writing: nested use joins it
            if via is not None and via is not self._con:
                raise RuntimeError("already writing through another connection")
            if together and not self._together:
                raise RuntimeError("already writing one transaction per scope")
            yield
            return
        if via is not None:
            with attached_writer(via, self.db_path), self._holding(via, together):
                yield
            return
        with writer_connection(self.db_path) as con, self._holding(con, together):
            yield

    @contextmanager
    def _holding(self, con: duckdb.DuckDBPyConnection, together: bool) -> Iterator[None]:
        self._con, self._together = con, together
        try:
            if not together:
                yield
                return
            ensure_raw_schema(con)  # its upgrades are transactions of their own
            con.execute("begin transaction")
            try:
                yield
                self.flush()
                con.execute("commit")
            except BaseException:
                # a commit that failed has rolled back already
                with suppress(duckdb.Error):
                    con.execute("rollback")
                self._forget_rolled_back()
                raise
        finally:
            self._con, self._together, self._in_transaction = None, False, []
            self._deferred = []

    def flush(self) -> None:
        """Insert the rows of the windows landed so far as parts of a staged batch
        (`StagedRows.batch`) in this transaction: one statement per batch. Done before the
        transaction commits; call it before anything in the transaction reads them."""
        if self._deferred:
            insert_deferred(self.connection, self._deferred)
            self._deferred = []

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The writer's connection inside `writing()`."""
        if self._con is None:
            raise RuntimeError("LoadAttempt.connection is only there inside writing()")
        return self._con

    def land(
        self,
        scope: str,
        rows: Sequence[dict[str, Any]] | pa.Table | StagedRows,
        *,
        raw_table: str | None = None,
        window_start: date | None = None,
        window_end: date | None = None,
        api_requests: int | None = None,
        api_cost_usd: Decimal | None = None,
        with_tables: Mapping[str, Sequence[dict[str, Any]] | pa.Table] | None = None,
        **ledger: Any,
    ) -> LoadResult:
        """Replace `scope`'s window with `rows` (one transaction, the writer's checks); the
        ledger row carries the requests spent since the previous landing, or the scope's own
        when the loader counts them per scope (`api_requests`, `api_cost_usd`).

        `with_tables`: the scope's rows of more raw tables (name -> rows), replaced in the
        same transaction as `rows`, under the same ledger row (`warehouse.replace_window`)."""
        start = window_start or self.window_start
        end = window_end or self.window_end
        if start is None or end is None:
            raise ValueError(f"a load of {scope} needs a window")
        self._current = scope
        requests, cost, retries = self._unrecorded_spend()
        if api_requests is not None:
            requests = api_requests
        if api_cost_usd is not None:
            cost = api_cost_usd
        result = replace_window(
            self.db_path,
            raw_table=raw_table or self.raw_table,
            source=self.source,
            scope=scope,
            window_start=start,
            window_end=end,
            rows=rows,
            api_requests=requests,
            api_cost_usd=cost,
            api_retries=retries,
            started_at=self.started_at,
            con=self._con,
            with_tables=with_tables,
            in_transaction=self._together,
            deferred=self._deferred if self._together else None,
            **{**self._expected.get(scope, {}), **ledger},
        )
        spent = (requests, cost, retries)
        self._recorded = _plus(self._recorded, spent)
        expected = self._expected.pop(scope, None)
        if self._together:
            self._in_transaction.append((result, scope, expected, spent))
        self._current = None
        self.results.append(result)
        return result

    def _forget_rolled_back(self) -> None:
        """The scopes of a rolled-back transaction are expected again, unrecorded (their
        spend goes on the failure's ledger row), and not among the results."""
        for result, scope, expected, spent in self._in_transaction:
            self.results.remove(result)
            if expected is not None:
                self._expected[scope] = expected
            self._recorded = _plus(self._recorded, spent, sign=-1)

    def _unrecorded_spend(self) -> Spend:
        read = self._meter() if self._meter else (0, Decimal("0"))
        total: Spend = (read[0], read[1], read[2] if len(read) > 2 else 0)  # type: ignore[misc]
        return _plus(total, self._recorded, sign=-1)

    # -- the record of a failure -----------------------------------------------------------

    def __enter__(self) -> LoadAttempt:
        self._depth += 1
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._depth -= 1
        if exc is not None and self._depth == 0:
            self._record_failure(exc)

    def _record_failure(self, exc: BaseException) -> None:
        """One `failed` row per expected scope not landed. Never raises: the load's own
        error matters more."""
        pending = list(self._expected)
        if not pending or self.window_start is None or self.window_end is None:
            return
        error = scrub(_error_text(exc), extra=self._secrets)
        failed = self._current if self._current in pending else None
        if failed is not None:  # its row first: it carries the error and the spend
            pending.remove(failed)
            pending.insert(0, failed)
        try:
            requests, cost, retries = self._unrecorded_spend()
        except Exception:  # a meter that cannot be read: the error still goes on record
            requests, cost, retries = 0, Decimal("0"), 0
        for index, scope in enumerate(pending):
            message = error if failed in (None, scope) else f"not landed: {failed} failed: {error}"
            try:
                record_failed_load(
                    self.db_path,
                    raw_table=self.raw_table,
                    source=self.source,
                    scope=scope,
                    window_start=self.window_start,
                    window_end=self.window_end,
                    error=message,
                    api_requests=requests if index == 0 else 0,
                    api_cost_usd=cost if index == 0 else Decimal("0"),
                    api_retries=retries if index == 0 else 0,
                    started_at=self.started_at,
                    **self._expected[scope],
                )
            except Exception as ledger_exc:
                log.warning(
                    "%s: could not record the failed load of %s: %s",
                    self.source,
                    scope,
                    scrub(f"{type(ledger_exc).__name__}: {ledger_exc}"),
                )


def _plus(a: Spend, b: Spend, sign: int = 1) -> Spend:
    return (a[0] + sign * b[0], a[1] + sign * b[1], a[2] + sign * b[2])


def _error_text(exc: BaseException) -> str:
    """A loader's own errors say what failed; anything else is named by its type."""
    text = str(exc)
    if type(exc).__module__.startswith("loaders.") and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
