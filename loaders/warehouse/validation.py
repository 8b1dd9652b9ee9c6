"""What the writer accepts: rows checked column-wise with pyarrow.compute before anything
is written - types (amounts exact, never float), the load window, mandatory fields, and no
natural key twice in one batch (`RawTable.key_columns`: a paging bug that returns the same
page twice must fail the load, never double count). Errors name the table, row and field.

Rows already in DuckDB (`StagedRows`: a query over the writer's connection, e.g. the FOCUS
import's scratch database attached to it) get the same checks in SQL (`check_staged`), so a
bulk load never leaves DuckDB; their errors name the row by its key instead of an index."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from loaders.catalogue import RawTable


class LoadValidationError(ValueError):
    """A row handed to the warehouse is unusable; nothing of the load was written."""


def rows_to_arrow(table: RawTable, rows: Sequence[dict[str, Any]]) -> pa.Table:
    """Mapped rows (dicts keyed by column) as an Arrow table of the raw table's schema."""
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


def conform_arrow(table: RawTable, data: pa.Table) -> pa.Table:
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


def check_unique_keys(table: RawTable, data: pa.Table) -> None:
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


def provider_of(table: RawTable, provider_name: str | None) -> str:
    """The provider a load stands for: the one given, else the table's own."""
    provider = provider_name if provider_name is not None else table.provider_name
    if provider is None or not provider.strip():
        raise LoadValidationError(f"a load of {table.qualified} must name its provider_name")
    return provider


def check_rows(
    table: RawTable, data: pa.Table, window_start: date, window_end: date, unique: bool = True
) -> None:
    """Every row inside the window, no mandatory field empty, no natural key twice (unless
    `unique` is False: the writer checks the keys in DuckDB, `check_registered_keys`)."""
    _check_window(table, data, window_start, window_end)
    _check_not_null(table, data)
    if unique:
        check_unique_keys(table, data)


def check_registered_keys(
    table: RawTable, con: duckdb.DuckDBPyConnection, relation: str, data: pa.Table
) -> None:
    """`check_unique_keys` for `data` registered in `con` as `relation`: DuckDB counts the
    distinct hashes of the keys (in parallel, over the Arrow buffers: 10M API rows, 4.5 s
    of pyarrow's single-threaded grouping); only when they are fewer than the rows - a key
    repeats, or two keys share a hash - does pyarrow find and name the repeat."""
    keys = ", ".join(table.key_columns)
    rows, hashes = con.execute(
        f"select count(*), count(distinct hash({keys})) from {relation}"
    ).fetchone()
    if hashes != rows:
        check_unique_keys(table, data)


@dataclass(frozen=True)
class StagedBatch:
    """Where the same rows sit among the rows of other windows of one transaction: `sql`
    selects the raw table's columns plus `x_batch_key`, and the window's rows are exactly
    those whose `x_batch_key` is `key`. The windows of one batch land with one `insert ...
    select` joined to their keys when the transaction ends (`LoadAttempt`): one statement
    scans the staged rows on every core, where one insert per window - each a row group or
    less - runs on one (DuckDB 2.0: a year of monthly FOCUS files, 26 windows, 780,000 rows:
    1.9 s one insert per window, 0.8 s one insert)."""

    sql: str
    key: str


@dataclass(frozen=True)
class StagedRows:
    """The rows of a load as a query over the writer's connection (`sql`, a `select` with
    exactly the raw table's columns), landed with `insert ... select` without leaving DuckDB.
    Only for a connection the loader lent the writer (`LoadAttempt.writing(via=...)`).

    `batch`: the same rows as part of a relation that holds other windows' rows too (see
    StagedBatch). The window is checked, compared and replaced through `sql` as always; in
    a `LoadAttempt.writing(together=True)` its insert is made with the batch's, at the end."""

    sql: str
    batch: StagedBatch | None = None


_FLOAT_TYPES = ("DOUBLE", "FLOAT", "REAL")


def _named_row(table: RawTable, values: dict[str, Any]) -> str:
    shown = ", ".join(f"{name}={values[name]}" for name in table.key_columns if name in values)
    return f"{table.qualified} row ({shown})"


def check_staged(
    table: RawTable,
    con: duckdb.DuckDBPyConnection,
    relation: str,
    window_start: date,
    window_end: date,
) -> int:
    """`check_rows` for the rows of a DuckDB relation (a view's name), in one scan: the
    columns and amount types, every row inside the window, no mandatory field empty, no
    natural key twice. Errors name the row by its key. Returns the row count."""
    described = con.execute(f"describe select * from {relation}").fetchall()
    given = [row[0] for row in described]
    types = {row[0]: str(row[1]).upper() for row in described}
    names = [name for name, _, _ in table.columns]
    missing = [n for n in names if n not in given]
    unexpected = [n for n in given if n not in names]
    if missing or unexpected:
        problems = [
            f"{label} {', '.join(cols)}"
            for label, cols in (
                ("missing column(s)", missing),
                ("unexpected column(s)", unexpected),
            )
            if cols
        ]
        raise LoadValidationError(f"{table.qualified}: {'; '.join(problems)}")
    for name, _, arrow_type in table.columns:
        if pa.types.is_decimal(arrow_type) and types[name] in _FLOAT_TYPES:
            raise LoadValidationError(
                f"{table.qualified}: field {name!r} is {types[name]}; amounts must be exact "
                f"({arrow_type}), never binary floating point"
            )
    day = table.date_column
    outside = f"{day} is null or {day} < $lo or {day} >= $hi"
    mandatory = [name for name, sql, _ in table.columns if "not null" in sql and name != day]
    bounds = {"lo": table.window_bound(window_start), "hi": table.window_bound(window_end)}
    keys = ", ".join(table.key_columns)
    # one scan: the rows, those outside the window, the empty mandatory values, and the
    # distinct hashes of the keys (as many as rows: no key repeats; fewer - a repeat or a
    # hash collision - and the keys themselves decide, below)
    counts = con.execute(
        f"select count(*), count(distinct hash({keys})), count(*) filter (where {outside})"
        + "".join(f", count(*) filter (where {name} is null)" for name in mandatory)
        + f" from {relation}",
        bounds,
    ).fetchone()
    rows, hashes, outside_count, nulls = counts[0], counts[1], counts[2], counts[3:]
    if outside_count:
        cursor = con.execute(f"select * from {relation} where {outside} limit 1", bounds)
        values = dict(zip(given, cursor.fetchone(), strict=True))
        raise LoadValidationError(
            f"{_named_row(table, values)}: {day}={values[day]} is outside the load window "
            f"[{window_start}, {window_end})"
        )
    for name, count in zip(mandatory, nulls, strict=True):
        if count:
            cursor = con.execute(f"select * from {relation} where {name} is null limit 1")
            values = dict(zip(given, cursor.fetchone(), strict=True))
            raise LoadValidationError(f"{_named_row(table, values)}: field {name!r} is empty")
    if hashes != rows:  # a key repeats, or two keys share a hash: the keys decide
        repeat = con.execute(
            f"select {keys} from {relation} group by {keys} having count(*) > 1 limit 1"
        ).fetchone()
        if repeat is not None:
            values = dict(zip(table.key_columns, repeat, strict=True))
            raise LoadValidationError(
                f"{_named_row(table, values)}: the same key twice in one load; the source "
                "answered a row twice and it would be counted twice"
            )
    return int(rows)
