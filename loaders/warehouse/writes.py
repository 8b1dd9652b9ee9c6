"""The one write path of the raw layer: replace a (source, scope, window) in one
transaction with its ledger row and the restatements it makes; or record a failed load."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from loaders import registry
from loaders.catalogue import RawTable
from loaders.warehouse.locking import writer_connection
from loaders.warehouse.schema import ensure_raw_schema
from loaders.warehouse.validation import (
    LoadValidationError,
    StagedBatch,
    StagedRows,
    check_registered_keys,
    check_rows,
    check_staged,
    conform_arrow,
    provider_of,
    rows_to_arrow,
)

ERROR_LENGTH = 2000  # characters of an error kept in the ledger


@dataclass(frozen=True)
class LoadResult:
    load_id: str
    source: str
    raw_table: str
    scope: str
    window_start: date
    window_end: date
    row_count: int
    replaced_row_count: int
    api_requests: int
    api_cost_usd: Decimal
    api_retries: int = 0  # requests the API refused (throttled, 5xx) that were sent again

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window_start"] = self.window_start.isoformat()
        out["window_end"] = self.window_end.isoformat()
        out["api_cost_usd"] = str(self.api_cost_usd)
        return out


def new_load_id(source: str) -> str:
    """A load's id: its source, the UTC time and a random suffix."""
    return f"{source}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def utc_now() -> datetime:
    """Now in UTC, naive (the ledger's timestamps)."""
    return datetime.now(UTC).replace(tzinfo=None)


def insert_ledger(con: duckdb.DuckDBPyConnection, **row: Any) -> None:
    """One row of raw.load_ledger; `row` names its columns."""
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    con.execute(f"insert into raw.load_ledger ({columns}) values ({marks})", list(row.values()))


def _record_restatements(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    *,
    load_id: str,
    source: str,
    scope: str,
    window_start: date,
    window_end: date,
    recorded_at: datetime,
    provider_name: str,
) -> None:
    """Compare the window's per-day totals in the table with those of `incoming_rows`.

    Runs inside replace_window's transaction, before its delete. Days not covered by an
    earlier succeeded load of the same source, table and scope are skipped (first loads).
    When no such load overlaps the window at all (a first import, a source's first load),
    no day can be a restatement, so the two sets of totals are not computed: a 10M-row
    first FOCUS import compared 26 billing periods' totals for nothing.
    """
    [(covered,)] = con.execute(
        "select count(*) from raw.load_ledger where source = ? and raw_table = ? "
        "and scope = ? and status = 'succeeded' and window_start < ? and window_end > ?",
        [source, table.qualified, scope, window_end, window_start],
    ).fetchall()
    if not covered:
        return
    window = (
        f"_source = $source and _scope = $scope "
        f"and {table.date_column} >= $lo and {table.date_column} < $hi"
    )
    con.execute(
        f"""
        insert into raw.load_restatements
        with
        previous as ({table.daily_totals_sql(table.qualified, window)}),
        incoming as ({table.daily_totals_sql("incoming_rows")}),
        compared as (
            select
                charge_date, sub_account_id, billing_currency, cost_type,
                coalesce(previous.cost, 0) as previous_cost,
                coalesce(incoming.cost, 0) as new_cost
            from previous
            full outer join incoming
                using (charge_date, sub_account_id, billing_currency, cost_type)
        )
        select $load_id, $source, $raw_table, $scope, charge_date, sub_account_id,
            billing_currency, cost_type, previous_cost, new_cost, $recorded_at, $provider_name
        from compared
        where previous_cost <> new_cost
            and exists (
                select 1 from raw.load_ledger
                where load_ledger.source = $source and load_ledger.raw_table = $raw_table
                    and load_ledger.scope = $scope and load_ledger.status = 'succeeded'
                    and compared.charge_date >= load_ledger.window_start
                    and compared.charge_date < load_ledger.window_end
            )
        """,
        {
            "load_id": load_id,
            "source": source,
            "raw_table": table.qualified,
            "scope": scope,
            "lo": table.window_bound(window_start),
            "hi": table.window_bound(window_end),
            "recorded_at": recorded_at,
            "provider_name": provider_name,
        },
    )


def replace_window(
    db_path: Path,
    *,
    raw_table: str,
    source: str,
    scope: str,
    window_start: date,
    window_end: date,
    rows: Sequence[dict[str, Any]] | pa.Table | StagedRows,
    api_requests: int = 0,
    api_cost_usd: Decimal = Decimal("0"),
    api_retries: int = 0,
    provider_name: str | None = None,
    billing_account_id: str | None = None,
    billing_period_start: date | None = None,
    started_at: datetime | None = None,
    con: duckdb.DuckDBPyConnection | None = None,
    with_tables: Mapping[str, Sequence[dict[str, Any]] | pa.Table] | None = None,
    in_transaction: bool = False,
    deferred: list[DeferredInsert] | None = None,
) -> LoadResult:
    """Replace everything `source` landed for `scope` in `[window_start, window_end)`.

    `rows` are dicts keyed by the raw table's column names (a mapping's output) or a
    `pyarrow.Table` with exactly those columns (cast to the raw types; amounts may be
    decimal, integer or decimal text, never float), or `StagedRows`, a query over `con`
    (checked in SQL, inserted with `insert ... select`). Delete and insert happen in one
    transaction together with the ledger row; the rows are validated before anything is
    written. `provider_name` (default: the table's own provider), `billing_account_id`
    and `billing_period_start` go to the ledger row as what the load stands for;
    `started_at` is when the load began (default: now, when it writes). `con`: a writer
    connection the caller opened under the writer's lock (`LoadAttempt.writing`), used and
    left open, so landing many windows in a row pays for one connection and one checkpoint.
    `in_transaction`: `con` is in the caller's transaction, which this write joins (the
    caller ensured the raw schema before it began, and commits, or rolls back every window it
    landed: `LoadAttempt.writing(together=True)`). Returns what was loaded and what it replaced.

    `with_tables`: more raw tables of the same load (raw table name -> its rows), replaced
    for the same source, scope and window in the same transaction - e.g. a cost API's
    commitment details beside its costs, so the two never disagree about a window. They are
    the same load: one ledger row (the main table's, `raw_table`, with its row counts), whose
    load id their rows carry. They hold no money of their own (no cost measures: the main
    table has it), so they add nothing to the restatement ledger; each is checked like the
    main table before anything is written.
    `deferred`: with `in_transaction` and `StagedRows` that have a `batch`, the insert is
    not made here but appended to this list, for `insert_deferred` to make with the other
    windows of the batch before the caller commits (everything else - the checks, the
    restatements, the delete, the ledger row - is done here as always).
    """
    if window_end <= window_start:
        raise ValueError(f"empty load window [{window_start}, {window_end})")
    table = registry.raw_tables()[raw_table]
    provider = provider_of(table, provider_name)
    staged = isinstance(rows, StagedRows)
    if staged and con is None:
        raise ValueError("StagedRows are a query over the writer's connection: pass `con`")
    if not staged:
        data = (
            conform_arrow(table, rows) if isinstance(rows, pa.Table) else rows_to_arrow(table, rows)
        )
        check_rows(table, data, window_start, window_end, unique=False)  # keys: in write
    extra = _extra_tables(table, with_tables or {}, window_start, window_end)

    load_id = new_load_id(source)
    written = utc_now()
    lo, hi = table.window_bound(window_start), table.window_bound(window_end)
    cols = ", ".join(name for name, _, _ in table.columns)

    def write(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
        if not in_transaction:  # else the caller ensured the schema before its transaction
            ensure_raw_schema(con)
            con.execute("begin transaction")
        try:
            if staged:  # checked in the transaction: a refusal rolls the view back too
                con.execute(f"create temp view incoming_rows as {rows.sql}")
                row_count = check_staged(table, con, "incoming_rows", window_start, window_end)
            else:
                con.register("incoming_rows", data)
                check_registered_keys(table, con, "incoming_rows", data)
                row_count = data.num_rows
            _record_restatements(
                con,
                table,
                load_id=load_id,
                source=source,
                scope=scope,
                window_start=window_start,
                window_end=window_end,
                recorded_at=written,
                provider_name=provider,
            )
            replaced = con.execute(
                f"delete from {table.qualified} where _source = ? and _scope = ? "
                f"and {table.date_column} >= ? and {table.date_column} < ?",
                [source, scope, lo, hi],
            ).fetchone()[0]
            batch = rows.batch if staged else None
            if batch is not None and in_transaction and deferred is not None:
                deferred.append(
                    DeferredInsert(
                        table=table,
                        batch=batch,
                        meta=(source, scope, window_start, window_end, load_id, written),
                        row_count=row_count,
                    )
                )
            else:
                con.execute(
                    f"insert into {table.qualified} ({cols}, _source, _scope, _window_start, "
                    f"_window_end, _load_id, _loaded_at) "
                    f"select {cols}, ?, ?, ?, ?, ?, ? from incoming_rows",
                    [source, scope, window_start, window_end, load_id, written],
                )
            if staged:
                con.execute("drop view incoming_rows")
            else:
                con.unregister("incoming_rows")
            for other, other_data in extra:
                _replace_rows(
                    con,
                    other,
                    other_data,
                    meta=(source, scope, window_start, window_end, load_id, written),
                )
            insert_ledger(
                con,
                load_id=load_id,
                source=source,
                raw_table=table.qualified,
                scope=scope,
                window_start=window_start,
                window_end=window_end,
                started_at=started_at or written,
                finished_at=utc_now(),
                status="succeeded",
                row_count=row_count,
                replaced_row_count=replaced,
                api_requests=api_requests,
                api_cost_usd=api_cost_usd,
                api_retries=api_retries,
                provider_name=provider,
                billing_account_id=billing_account_id,
                billing_period_start=billing_period_start,
            )
            if not in_transaction:
                con.execute("commit")
        except BaseException:
            if not in_transaction:
                con.execute("rollback")
            raise
        return int(replaced), row_count

    if in_transaction and con is None:
        raise ValueError("in_transaction: pass the connection that holds the transaction")
    if con is not None:
        replaced, row_count = write(con)
    else:
        with writer_connection(db_path) as own:
            replaced, row_count = write(own)

    return LoadResult(
        load_id=load_id,
        source=source,
        raw_table=table.qualified,
        scope=scope,
        window_start=window_start,
        window_end=window_end,
        row_count=row_count,
        replaced_row_count=int(replaced),
        api_requests=api_requests,
        api_cost_usd=api_cost_usd,
        api_retries=api_retries,
    )


@dataclass(frozen=True)
class DeferredInsert:
    """A window whose rows `replace_window` checked and replaced but did not insert: they
    are `batch`'s rows of its key, `row_count` of them, landed with `meta` = (source, scope,
    window_start, window_end, load_id, loaded_at)."""

    table: RawTable
    batch: StagedBatch
    meta: tuple[str, str, date, date, str, datetime]
    row_count: int


def insert_deferred(con: duckdb.DuckDBPyConnection, deferred: Sequence[DeferredInsert]) -> int:
    """Insert the rows of deferred windows, one `insert ... select` per raw table and batch
    (the batch's rows joined to their windows' keys and load columns), inside the caller's
    transaction. Every window must get exactly the rows it was checked with: a batch that
    inserts another count raises LoadValidationError (the caller rolls back). Returns the
    rows inserted."""
    groups: dict[tuple[str, str], list[DeferredInsert]] = {}
    for item in deferred:
        groups.setdefault((item.table.qualified, item.batch.sql), []).append(item)
    total = 0
    for (qualified, sql), items in groups.items():
        table = items[0].table
        keys = [item.batch.key for item in items]
        if len(set(keys)) != len(keys):
            raise ValueError(f"{qualified}: two windows of one batch share a key")
        cols = ", ".join(name for name, _, _ in table.columns)
        picked = ", ".join(f"staged.{name}" for name, _, _ in table.columns)
        windows = ", ".join("(?, ?, ?, ?, ?, ?, ?)" for _ in items)
        params = [v for item in items for v in (item.batch.key, *item.meta)]
        [(inserted,)] = con.execute(
            f"insert into {qualified} ({cols}, _source, _scope, _window_start, _window_end, "
            f"_load_id, _loaded_at) "
            f"select {picked}, w.source, w.scope, w.window_start, w.window_end, w.load_id, "
            f"w.loaded_at "
            f"from ({sql}) as staged "
            f"join (values {windows}) as w(x_batch_key, source, scope, window_start, "
            f"window_end, load_id, loaded_at) using (x_batch_key)",
            params,
        ).fetchall()
        expected = sum(item.row_count for item in items)
        if inserted != expected:
            raise LoadValidationError(
                f"{qualified}: the staged batch of {len(items)} window(s) inserted "
                f"{inserted} row(s), its windows were checked with {expected}"
            )
        total += int(inserted)
    return total


def _extra_tables(
    main: RawTable,
    with_tables: Mapping[str, Sequence[dict[str, Any]] | pa.Table],
    window_start: date,
    window_end: date,
) -> list[tuple[RawTable, pa.Table]]:
    """The `with_tables` of a load as checked Arrow tables (before anything is written)."""
    tables = registry.raw_tables()
    checked = []
    for name, rows in with_tables.items():
        table = tables[name]
        if table.name == main.name:
            raise ValueError(f"{table.qualified} is the load's own table, not one more")
        if table.measures:
            raise ValueError(
                f"{table.qualified} has cost measures: land it as its own load, so the "
                "restatement ledger compares its money"
            )
        data = (
            conform_arrow(table, rows) if isinstance(rows, pa.Table) else rows_to_arrow(table, rows)
        )
        check_rows(table, data, window_start, window_end)
        checked.append((table, data))
    return checked


def _replace_rows(
    con: duckdb.DuckDBPyConnection,
    table: RawTable,
    data: pa.Table,
    *,
    meta: tuple[str, str, date, date, str, datetime],
) -> None:
    """Delete `table`'s rows of one (source, scope, window) and insert `data` with their load
    columns, inside the caller's transaction. `meta` = (source, scope, window_start,
    window_end, load_id, loaded_at)."""
    source, scope, window_start, window_end = meta[:4]
    cols = ", ".join(name for name, _, _ in table.columns)
    con.execute(
        f"delete from {table.qualified} where _source = ? and _scope = ? "
        f"and {table.date_column} >= ? and {table.date_column} < ?",
        [source, scope, table.window_bound(window_start), table.window_bound(window_end)],
    )
    con.register("incoming_extra_rows", data)
    try:
        con.execute(
            f"insert into {table.qualified} ({cols}, _source, _scope, _window_start, "
            f"_window_end, _load_id, _loaded_at) "
            f"select {cols}, ?, ?, ?, ?, ?, ? from incoming_extra_rows",
            list(meta),
        )
    finally:
        con.unregister("incoming_extra_rows")


def record_failed_load(
    db_path: Path,
    *,
    raw_table: str,
    source: str,
    scope: str,
    window_start: date,
    window_end: date,
    error: str,
    api_requests: int = 0,
    api_cost_usd: Decimal = Decimal("0"),
    api_retries: int = 0,
    provider_name: str | None = None,
    billing_account_id: str | None = None,
    billing_period_start: date | None = None,
    started_at: datetime | None = None,
) -> str:
    """Write a `failed` ledger row (and nothing else) so the failure is on the record."""
    table = registry.raw_tables()[raw_table]
    provider = provider_of(table, provider_name)
    load_id = new_load_id(source)
    now = utc_now()
    with writer_connection(db_path) as con:
        ensure_raw_schema(con)
        insert_ledger(
            con,
            load_id=load_id,
            source=source,
            raw_table=table.qualified,
            scope=scope,
            window_start=window_start,
            window_end=window_end,
            started_at=started_at or now,
            finished_at=now,
            status="failed",
            row_count=0,
            replaced_row_count=0,
            api_requests=api_requests,
            api_cost_usd=api_cost_usd,
            api_retries=api_retries,
            error=error[:ERROR_LENGTH],
            provider_name=provider,
            billing_account_id=billing_account_id,
            billing_period_start=billing_period_start,
        )
    return load_id
