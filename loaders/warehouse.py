"""The one writer of the raw layer: replace a (source, scope, window) in one transaction.

Every loader hands its mapped rows to `replace_window`. It deletes the rows that the same
source previously landed for the same scope and window and inserts the new ones in a single
DuckDB transaction, and records the load in `raw.load_ledger`. A rerun therefore replaces
instead of appending, a restated amount replaces the old one, and a failure (bad row, crash,
killed process) leaves the previous data as it was. In the same transaction, before the
delete, it records in `raw.load_restatements` every per-day total (day x account x currency
x billed/effective) the load changes on days an earlier load had already covered.

Raw tables keep the API's grain and values; amounts are exact decimals. Windows are
half-open, `[window_start, window_end)`, like Cost Explorer's TimePeriod.

Rows arrive as a list of dicts (an API page's mapped rows) or as a `pyarrow.Table` with the
raw table's columns (bulk loads, the scale bench). Either way they are checked column-wise
with pyarrow.compute before anything is written: types, the load window, mandatory fields,
and no natural key twice in one batch (`RawTable.key_columns`) - a paging bug that returns
the same page twice must fail the load, never double count.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loaders import registry
from loaders.catalogue import AMOUNT_SQL, RawTable

# Every raw table of every registered source (loaders/<package>/source.py).
RAW_TABLES = registry.raw_tables()


LOAD_LEDGER_DDL = f"""
create table if not exists raw.load_ledger (
    load_id varchar primary key,
    source varchar not null,
    raw_table varchar not null,
    scope varchar not null,
    window_start date not null,
    window_end date not null,
    started_at timestamp not null,
    finished_at timestamp,
    status varchar not null,
    row_count bigint,
    replaced_row_count bigint,
    api_requests integer not null default 0,
    api_cost_usd {AMOUNT_SQL} not null default 0,
    error varchar,
    provider_name varchar,
    billing_account_id varchar,
    billing_period_start date
)
"""
# What a load stands for, as columns (dbt reads them; nothing parses `scope`): the provider
# as the source names it (dbt normalises it), the billing account when the loader queried
# one, and the billing period of a FOCUS files load. Null on `*` (purge) rows.
LEDGER_SCOPE_COLUMNS = (
    ("provider_name", "varchar"),
    ("billing_account_id", "varchar"),
    ("billing_period_start", "date"),
)

# The restatement ledger: what a load changed, per day x account x currency x cost type.
# Only days an earlier succeeded load of the same source/table/scope already covered are
# recorded (a first load of a day is new data, not a restatement), and only when the total
# changed; a day or account that disappeared has new_cost 0, one that appeared previous_cost 0.
LOAD_RESTATEMENTS_DDL = f"""
create table if not exists raw.load_restatements (
    load_id varchar not null,
    source varchar not null,
    raw_table varchar not null,
    scope varchar not null,
    charge_date date not null,
    sub_account_id varchar not null,
    billing_currency varchar not null,
    cost_type varchar not null,
    previous_cost {AMOUNT_SQL} not null,
    new_cost {AMOUNT_SQL} not null,
    recorded_at timestamp not null,
    provider_name varchar,
    primary key (load_id, charge_date, sub_account_id, billing_currency, cost_type)
)
"""


class WarehouseBusyError(RuntimeError):
    """Another process holds the warehouse for writing longer than we are willing to wait."""


class LoadValidationError(ValueError):
    """A row handed to the warehouse is unusable; nothing of the load was written."""


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

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["window_start"] = self.window_start.isoformat()
        out["window_end"] = self.window_end.isoformat()
        out["api_cost_usd"] = str(self.api_cost_usd)
        return out


def _new_load_id(source: str) -> str:
    return f"{source}-{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"


def _utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def _insert_ledger(con: duckdb.DuckDBPyConnection, **row: Any) -> None:
    """One row of raw.load_ledger; `row` names its columns."""
    columns = ", ".join(row)
    marks = ", ".join("?" * len(row))
    con.execute(f"insert into raw.load_ledger ({columns}) values ({marks})", list(row.values()))


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, name: str) -> bool:
    """Whether `schema.name` exists in the connection's database."""
    return bool(
        con.execute(
            "select count(*) from information_schema.tables "
            "where table_catalog = current_database() and table_schema = ? and table_name = ?",
            [schema, name],
        ).fetchone()[0]
    )


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute("create schema if not exists raw")
    for table in RAW_TABLES.values():
        con.execute(table.ddl())
    con.execute(LOAD_LEDGER_DDL)
    con.execute(LOAD_RESTATEMENTS_DDL)
    _add_ledger_scope_columns(con)


def _add_ledger_scope_columns(con: duckdb.DuckDBPyConnection) -> None:
    """Upgrade a ledger written before it had its scope columns, once: add them and fill
    the existing rows from what they recorded (the API tables' provider and payer account;
    a FOCUS load's `<ProviderName>/<BillingAccountId>@<BillingPeriodStart>` scope)."""
    present = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns "
            "where table_catalog = current_database() and table_schema = 'raw' "
            "and table_name = 'load_restatements'"
        ).fetchall()
    }
    if "provider_name" in present:
        return
    con.execute("begin transaction")  # all or nothing: the marker column is added last
    try:
        for name, sql_type in LEDGER_SCOPE_COLUMNS:
            con.execute(f"alter table raw.load_ledger add column if not exists {name} {sql_type}")
        con.execute(
            "alter table raw.load_restatements add column if not exists provider_name varchar"
        )
        focus = "raw_table = 'raw.focus_costs' and scope like '%/%@____-__-__'"
        con.execute(
            f"""
            update raw.load_ledger set
                provider_name = case
                    when raw_table = 'raw.aws_cost_explorer' then 'AWS'
                    when raw_table = 'raw.azure_cost_management' then 'Azure'
                    when {focus} then split_part(scope, '/', 1)
                end,
                billing_account_id = case
                    when raw_table = 'raw.aws_cost_explorer' then scope
                    when {focus} then regexp_extract(scope, '^[^/]*/(.*)@[^@]*$', 1)
                end,
                billing_period_start = case
                    when {focus} then try_cast(right(scope, 10) as date)
                end
            where scope != '*'
            """
        )
        con.execute(
            """
            update raw.load_restatements set provider_name = load_ledger.provider_name
            from raw.load_ledger where load_ledger.load_id = load_restatements.load_id
            """
        )
        con.execute("commit")
    except BaseException:
        con.execute("rollback")
        raise


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
    """
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


@contextmanager
def writer_lock(db_path: Path, timeout_s: float = 600.0) -> Iterator[None]:
    """Serialise writers across processes (cron run, backfill, tests) on one warehouse."""
    lock_path = Path(str(db_path) + ".writer.lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as handle:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise WarehouseBusyError(
                        f"another finops process is writing {db_path}; gave up after {timeout_s:.0f}s"
                    ) from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def connect_writer(db_path: Path, retry_s: float = 30.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse read-write, waiting out short-lived readers' locks."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + retry_s
    while True:
        try:
            return duckdb.connect(str(db_path))
        except duckdb.IOException as exc:
            if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                raise
            time.sleep(0.25)


def _to_arrow(table: RawTable, rows: Sequence[dict[str, Any]]) -> pa.Table:
    names = [name for name, _, _ in table.columns]
    for index, row in enumerate(rows):
        missing = [n for n in names if n not in row]
        if missing:
            raise LoadValidationError(
                f"{table.qualified} row {index}: missing field(s) {', '.join(missing)}"
            )
    try:
        return pa.Table.from_pylist(list(rows), schema=table.arrow_schema())
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError) as exc:
        # Find the first offending row and field so the message can name them.
        for index, row in enumerate(rows):
            for name, _, arrow_type in table.columns:
                try:
                    pa.array([row[name]], type=arrow_type)
                except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError, ValueError):
                    raise LoadValidationError(
                        f"{table.qualified} row {index}: field {name!r} has unusable value "
                        f"{row[name]!r} (expected {arrow_type})"
                    ) from exc
        raise LoadValidationError(f"{table.qualified}: {exc}") from exc


def _casts(values: pa.ChunkedArray | pa.Array, arrow_type: pa.DataType) -> bool:
    try:
        pc.cast(values, arrow_type, safe=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return False
    return True


def _first_uncastable(values: pa.ChunkedArray, arrow_type: pa.DataType) -> int | None:
    """Index of the first value that does not cast, by bisection (about 2n values cast)."""
    lo, hi = 0, len(values)
    if _casts(values, arrow_type):
        return None
    while hi - lo > 1:  # the first failure lies in [lo, hi)
        mid = (lo + hi) // 2
        if _casts(values.slice(lo, mid - lo), arrow_type):
            lo = mid
        else:
            hi = mid
    return lo


def _from_arrow(table: RawTable, data: pa.Table) -> pa.Table:
    """An Arrow table with exactly the raw table's columns, cast to its schema."""
    names = [name for name, _, _ in table.columns]
    given = data.column_names
    doubled = sorted({n for n in given if given.count(n) > 1})
    missing = [n for n in names if n not in given]
    unexpected = [n for n in given if n not in names]
    if doubled or missing or unexpected:
        problems = [
            f"{label} {', '.join(cols)}"
            for label, cols in (
                ("missing column(s)", missing),
                ("unexpected column(s)", unexpected),
                ("repeated column(s)", doubled),
            )
            if cols
        ]
        raise LoadValidationError(f"{table.qualified}: {'; '.join(problems)}")
    columns = []
    for name, _, arrow_type in table.columns:
        column = data.column(name)
        if column.type != arrow_type:
            if pa.types.is_floating(column.type) and pa.types.is_decimal(arrow_type):
                raise LoadValidationError(
                    f"{table.qualified}: field {name!r} is {column.type}; amounts must be exact "
                    f"({arrow_type}, an integer or decimal text), never binary floating point"
                )
            try:
                column = pc.cast(column, arrow_type, safe=True)
            except pa.ArrowNotImplementedError:
                raise LoadValidationError(
                    f"{table.qualified}: field {name!r} is {column.type}, which does not "
                    f"convert to {arrow_type}"
                ) from None
            except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
                index = _first_uncastable(column, arrow_type)
                if index is None:  # the column as a whole failed, yet no single value does
                    raise LoadValidationError(f"{table.qualified}: field {name!r}: {exc}") from exc
                raise LoadValidationError(
                    f"{table.qualified} row {index}: field {name!r} has unusable value "
                    f"{column[index].as_py()!r} (expected {arrow_type})"
                ) from exc
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=table.arrow_schema())


def _first_true(mask: pa.ChunkedArray | pa.Array) -> int:
    """Index of the first true value of a boolean array, -1 when none is."""
    return int(pc.index(mask, True).as_py())


def _check_window(table: RawTable, data: pa.Table, window_start: date, window_end: date) -> None:
    column = data.column(table.date_column)
    lo = pa.scalar(table.window_bound(window_start), column.type)
    hi = pa.scalar(table.window_bound(window_end), column.type)
    outside = pc.fill_null(pc.or_(pc.less(column, lo), pc.greater_equal(column, hi)), True)
    index = _first_true(outside)
    if index >= 0:
        raise LoadValidationError(
            f"{table.qualified} row {index}: {table.date_column}={column[index].as_py()} is "
            f"outside the load window [{window_start}, {window_end})"
        )


def _check_not_null(table: RawTable, data: pa.Table) -> None:
    """The first row with an empty mandatory field, and its first such field."""
    first: tuple[int, str] | None = None
    for name, sql, _ in table.columns:
        column = data.column(name)
        if "not null" in sql and column.null_count:
            index = _first_true(pc.is_null(column))
            if first is None or index < first[0]:
                first = (index, name)
    if first is not None:
        index, name = first
        raise LoadValidationError(f"{table.qualified} row {index}: field {name!r} is empty")


_ROW = "__row_index"


def _check_unique_keys(table: RawTable, data: pa.Table) -> None:
    """Refuse a batch that holds a natural key twice, naming the first repeat and its original.

    One hash aggregation over the key columns counts the distinct keys (an empty key value
    equals another empty one, as in GROUP BY); only when a key repeats are the rows grouped
    again with their indexes to find the earliest row that repeats an earlier one.
    Single-threaded on purpose: on 2 busy cores pyarrow's threaded grouping was slower (6M
    rows: 2-4 s single-threaded, 5-8 s threaded).
    """
    if data.num_rows < 2:
        return
    keys = list(table.key_columns)
    key_rows = data.select(keys)
    if key_rows.group_by(keys, use_threads=False).aggregate([]).num_rows == data.num_rows:
        return
    indexed = key_rows.append_column(_ROW, pa.array(np.arange(data.num_rows, dtype=np.int64)))
    groups = indexed.group_by(keys, use_threads=False).aggregate([(_ROW, "count"), (_ROW, "list")])
    repeated = groups.filter(pc.greater(groups.column(f"{_ROW}_count"), 1))
    first, second = _earliest_repeat(repeated.column(f"{_ROW}_list").to_pylist())
    key = key_rows.slice(second, 1).to_pylist()[0]
    shown = ", ".join(f"{name}={value}" for name, value in key.items())
    raise LoadValidationError(
        f"{table.qualified} rows {first} and {second}: the same key ({shown}) twice in one "
        "load; the source answered a row twice (a page fetched again?) and it would be "
        "counted twice"
    )


def _earliest_repeat(groups: list[list[int]]) -> tuple[int, int]:
    """(original, repeat) of the earliest row that repeats an earlier row's key."""
    first, second = min((sorted(rows)[:2] for rows in groups), key=lambda pair: pair[1])
    return first, second


def _provider_of(table: RawTable, provider_name: str | None) -> str:
    provider = provider_name if provider_name is not None else table.provider_name
    if provider is None or not provider.strip():
        raise LoadValidationError(f"a load of {table.qualified} must name its provider_name")
    return provider


def _check_rows(table: RawTable, data: pa.Table, window_start: date, window_end: date) -> None:
    _check_window(table, data, window_start, window_end)
    _check_not_null(table, data)
    _check_unique_keys(table, data)


def replace_window(
    db_path: Path,
    *,
    raw_table: str,
    source: str,
    scope: str,
    window_start: date,
    window_end: date,
    rows: Sequence[dict[str, Any]] | pa.Table,
    api_requests: int = 0,
    api_cost_usd: Decimal = Decimal("0"),
    provider_name: str | None = None,
    billing_account_id: str | None = None,
    billing_period_start: date | None = None,
) -> LoadResult:
    """Replace everything `source` landed for `scope` in `[window_start, window_end)`.

    `rows` are dicts keyed by the raw table's column names (a mapping's output) or a
    `pyarrow.Table` with exactly those columns (cast to the raw types; amounts may be
    decimal, integer or decimal text, never float). Delete and insert happen in one
    transaction together with the ledger row; the rows are validated before anything is
    written. `provider_name` (default: the table's own provider), `billing_account_id`
    and `billing_period_start` go to the ledger row as what the load stands for. Returns
    what was loaded and what it replaced.
    """
    if window_end <= window_start:
        raise ValueError(f"empty load window [{window_start}, {window_end})")
    table = RAW_TABLES[raw_table]
    provider = _provider_of(table, provider_name)
    data = _from_arrow(table, rows) if isinstance(rows, pa.Table) else _to_arrow(table, rows)
    _check_rows(table, data, window_start, window_end)

    load_id = _new_load_id(source)
    started = _utc_now()
    lo, hi = table.window_bound(window_start), table.window_bound(window_end)
    cols = ", ".join(name for name, _, _ in table.columns)

    with writer_lock(db_path):
        con = connect_writer(db_path)
        try:
            ensure_raw_schema(con)
            con.execute("begin transaction")
            try:
                con.register("incoming_rows", data)
                _record_restatements(
                    con,
                    table,
                    load_id=load_id,
                    source=source,
                    scope=scope,
                    window_start=window_start,
                    window_end=window_end,
                    recorded_at=started,
                    provider_name=provider,
                )
                replaced = con.execute(
                    f"delete from {table.qualified} where _source = ? and _scope = ? "
                    f"and {table.date_column} >= ? and {table.date_column} < ?",
                    [source, scope, lo, hi],
                ).fetchone()[0]
                con.execute(
                    f"insert into {table.qualified} ({cols}, _source, _scope, _window_start, "
                    f"_window_end, _load_id, _loaded_at) "
                    f"select {cols}, ?, ?, ?, ?, ?, ? from incoming_rows",
                    [source, scope, window_start, window_end, load_id, started],
                )
                con.unregister("incoming_rows")
                _insert_ledger(
                    con,
                    load_id=load_id,
                    source=source,
                    raw_table=table.qualified,
                    scope=scope,
                    window_start=window_start,
                    window_end=window_end,
                    started_at=started,
                    finished_at=_utc_now(),
                    status="succeeded",
                    row_count=data.num_rows,
                    replaced_row_count=replaced,
                    api_requests=api_requests,
                    api_cost_usd=api_cost_usd,
                    provider_name=provider,
                    billing_account_id=billing_account_id,
                    billing_period_start=billing_period_start,
                )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        finally:
            con.close()

    return LoadResult(
        load_id=load_id,
        source=source,
        raw_table=table.qualified,
        scope=scope,
        window_start=window_start,
        window_end=window_end,
        row_count=data.num_rows,
        replaced_row_count=int(replaced),
        api_requests=api_requests,
        api_cost_usd=api_cost_usd,
    )


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
    provider_name: str | None = None,
    billing_account_id: str | None = None,
    billing_period_start: date | None = None,
) -> str:
    """Write a `failed` ledger row (and nothing else) so the failure is on the record."""
    provider = _provider_of(RAW_TABLES[raw_table], provider_name)
    load_id = _new_load_id(source)
    now = _utc_now()
    with writer_lock(db_path):
        con = connect_writer(db_path)
        try:
            ensure_raw_schema(con)
            _insert_ledger(
                con,
                load_id=load_id,
                source=source,
                raw_table=RAW_TABLES[raw_table].qualified,
                scope=scope,
                window_start=window_start,
                window_end=window_end,
                started_at=now,
                finished_at=now,
                status="failed",
                row_count=0,
                replaced_row_count=0,
                api_requests=api_requests,
                api_cost_usd=api_cost_usd,
                error=error[:2000],
                provider_name=provider,
                billing_account_id=billing_account_id,
                billing_period_start=billing_period_start,
            )
        finally:
            con.close()
    return load_id


def _purge_ledgered(
    db_path: Path, source: str, window: Callable[[RawTable, duckdb.DuckDBPyConnection], Any]
) -> dict[str, int]:
    """Delete `source`'s rows of every raw table in one transaction, each table it changes
    ledgered (scope `*`, status `succeeded`, 0 rows, `replaced_row_count` = rows removed).
    `window(table, con)` gives the table's [start, end) as dates, or None for nothing."""
    removed: dict[str, int] = {}
    if not db_path.exists():
        return removed
    with writer_lock(db_path):
        con = connect_writer(db_path)
        try:
            ensure_raw_schema(con)
            con.execute("begin transaction")
            try:
                for table in RAW_TABLES.values():
                    span = window(table, con)
                    if span is None:
                        continue
                    start, end = span
                    count = con.execute(
                        f"delete from {table.qualified} where _source = ? "
                        f"and {table.date_column} >= ? and {table.date_column} < ?",
                        [source, table.window_bound(start), table.window_bound(end)],
                    ).fetchone()[0]
                    if not count:
                        continue
                    removed[table.qualified] = int(count)
                    now = _utc_now()
                    _insert_ledger(
                        con,
                        load_id=_new_load_id(f"{source}-purge"),
                        source=source,
                        raw_table=table.qualified,
                        scope="*",
                        window_start=start,
                        window_end=end,
                        started_at=now,
                        finished_at=now,
                        status="succeeded",
                        row_count=0,
                        replaced_row_count=count,
                    )
                con.execute("commit")
            except BaseException:
                con.execute("rollback")
                raise
        finally:
            con.close()
    return removed


def purge_window(db_path: Path, source: str, start: date, end: date) -> dict[str, int]:
    """Delete the rows `source` landed for `[start, end)` in every raw table (one ledgered
    transaction, see `_purge_ledgered`), so incremental marts rebuild those days and the
    runs whose loads it touched count as incomplete. Returns rows removed per raw table.

    The recovery path for bad data (`finops purge`): the same rules as a load - the one
    writer, its lock, all or nothing."""
    if end <= start:
        raise ValueError(f"empty purge window [{start}, {end})")
    return _purge_ledgered(db_path, source, lambda _table, _con: (start, end))


def purge_source(db_path: Path, source: str) -> int:
    """Delete every raw row a source landed (all tables, one transaction); returns the count.

    Used when real sources take over from the simulated one, so demo costs are never added
    to real ones. Each table it empties gets a ledger row (scope `*`, the window the removed
    rows spanned), so incremental marts rebuild those days like after any other load.
    """

    def span(table: RawTable, con: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
        first, last = con.execute(
            f"select min({table.date_column}), max({table.date_column}) "
            f"from {table.qualified} where _source = ?",
            [source],
        ).fetchone()
        if first is None:
            return None
        return table.bound_to_date(first), table.bound_to_date(last) + timedelta(days=1)

    return sum(_purge_ledgered(db_path, source, span).values())


def publish_serving_copy(
    db_path: Path, serving_path: Path, schemas: Sequence[str] = ("marts",)
) -> int:
    """Copy the given schemas into a fresh file and atomically rename it over `serving_path`.

    Readers (the dashboard, `finops sql`, BI tools) open the serving copy read-only; a reader
    that has the old file open keeps reading it, the next open sees the new one. Returns the
    number of tables published.
    """
    tmp = serving_path.with_name(f".{serving_path.name}.{os.getpid()}.tmp")
    tmp.unlink(missing_ok=True)
    count = 0
    with writer_lock(db_path):
        con = connect_writer(db_path)
        try:
            con.execute(f"attach '{tmp}' as serving")
            for schema in schemas:
                tables = con.execute(
                    "select table_name from information_schema.tables "
                    "where table_catalog = current_database() and table_schema = ? "
                    "order by table_name",
                    [schema],
                ).fetchall()
                con.execute(f"create schema if not exists serving.{schema}")
                for (name,) in tables:
                    con.execute(
                        f"create table serving.{schema}.{name} as select * from {schema}.{name}"
                    )
                    count += 1
            con.execute("detach serving")
        finally:
            con.close()
    os.replace(tmp, serving_path)
    return count
