"""Read, check and roll up FOCUS files in a scratch DuckDB database, before any write.

Each file is scanned once by DuckDB (`read_csv` with explicit column types, or
`read_parquet`), typed, checked and rolled up to days in the same query; the daily rows go to
a scratch table on disk (`parts`), so memory stays bounded by DuckDB's `memory_limit`, not by
the file size. Only when a check fails is the file read again, to find the first offending
row: DuckDB names the line and column of a CSV value that does not convert (`store_rejects`);
for the other rules the CSV is walked with Python's csv module (line = the record's line,
the header being line 1, as DuckDB counts) and Parquet rows are found by `file_row_number`.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import itertools
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb
import pyarrow as pa

from loaders.focus_files import mapping
from loaders.focus_files.files import FileSet, FocusFile
from loaders.focus_files.mapping import FocusFormatError, quote, sql_literal
from loaders.warehouse.validation import StagedBatch, StagedRows

log = logging.getLogger("finops.loaders.focus_files")

DEFAULT_MEMORY_LIMIT = "4GB"
# At most this many bytes of Parquet files in one query (`Stage.add_all`): a year of monthly
# files in one scan, the scratch database's memory and a failed batch's re-read bounded.
PARQUET_BATCH_BYTES = 1 << 30


@dataclass(frozen=True)
class ScopeRollup:
    """One billing period of one billing account, as this import would land it."""

    scope: str
    provider_name: str  # as the files wrote it (trimmed); dbt normalises it
    billing_account_id: str
    billing_period_start: date
    billing_period_end: date
    first_charge_date: date
    last_charge_date: date
    files: tuple[FocusFile, ...]
    focus_version: str
    file_set_sha256: str  # which files (their contents) the period came from
    rows_sha256: str  # what the period's daily rows are, whatever files held them
    source_rows: int
    row_count: int


# raw.focus_costs' columns before x_focus_version and x_file_set_sha256, as `parts` and
# `spread` hold them
_STAGED_COLUMNS = [
    "billing_period_start",
    "billing_period_end",
    "charge_date",
    *mapping.DIMENSIONS,
    *(c.raw for c in mapping.AMOUNTS),
    "source_rows as x_source_rows",
    "duplicate_rows as x_duplicate_rows",
    "duplicate_billed_cost as x_duplicate_billed_cost",
]


@contextmanager
def _text_handle(path: Path) -> Iterator[io.TextIOBase]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as raw, io.TextIOWrapper(raw, encoding="utf-8-sig", newline="") as text:
        yield text


def csv_header(file: FocusFile) -> list[str]:
    try:
        with _text_handle(file.path) as handle:
            header = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FocusFormatError(
            f"{file.name}: line 1 (header): not a readable CSV file: {exc}"
        ) from None
    if not header or not any(name.strip() for name in header):
        raise FocusFormatError(f"{file.name}: line 1 (header): empty file, no header")
    return [name.strip() for name in header]


def file_set_sha256(shas: set[str] | list[str], version: str, rollup: str) -> str:
    """SHA-256 of the sorted file hashes (contents, not names), the FOCUS version and the
    rollup version (`mapping.rollup_version`): the same files read the same way."""
    digest = hashlib.sha256(f"focus-rollup-v{rollup}\n{version}\n".encode())
    for sha in sorted(shas):
        digest.update(f"{sha}\n".encode())
    return digest.hexdigest()


def rows_sha256(row_count: int, row_hash_sum: int, version: str, rollup: str) -> str:
    """SHA-256 of a period's daily rows: their count and the sum of DuckDB's hash of each
    row (order-free; rows are unique by key), the FOCUS version and the rollup version."""
    text = f"focus-rows-v{rollup}\n{version}\n{row_count}\n{row_hash_sum}\n"
    return hashlib.sha256(text.encode()).hexdigest()


class Stage:
    """The scratch database of one import (a file in the import's work folder)."""

    def __init__(
        self,
        work_dir: Path,
        memory_limit: str = DEFAULT_MEMORY_LIMIT,
        tag_keys: tuple[str, ...] = (),
        resource_days: int = 0,
    ) -> None:
        self.tag_keys = tag_keys  # FINOPS_ALLOCATION_TAGS: the Tags keys read into rows
        # FINOPS_FOCUS_RESOURCE_DAYS: the last days kept at resource grain (0: none)
        self.resource_days = resource_days
        self.rollup = mapping.rollup_version(tag_keys, resource_days)
        self.path = work_dir / "stage.duckdb"
        self.con = duckdb.connect(str(self.path))
        self.con.execute("set TimeZone = 'UTC'")
        self.con.execute(f"set memory_limit = {sql_literal(memory_limit)}")
        self.con.execute(f"set temp_directory = {sql_literal(str(work_dir / 'spill'))}")
        self.con.execute("set preserve_insertion_order = false")
        self.con.execute(mapping.parts_ddl())
        self.con.execute(mapping.resource_parts_ddl())
        self.con.execute(mapping.span_parts_ddl())
        [(self.catalog,)] = self.con.execute("select current_database()").fetchall()
        self.versions: dict[int, str] = {}
        self.files: list[FocusFile] = []

    def close(self) -> None:
        # a throwaway database: no checkpoint on the way out (seconds at 10M rows)
        self.con.execute("pragma disable_checkpoint_on_shutdown")
        self.con.close()

    # ------------------------------------------------------------------ one file

    def add_all(self, files: list[FocusFile], declared: str | None) -> dict[str, str]:
        """Check and roll up `files` into `parts`, in their order; returns each file's
        FOCUS version by name. Parquet files with one schema are read by one query
        (`PARQUET_BATCH_BYTES` at most): a file of one row group is one thread's work, so
        a month per file would leave every core but one idle. The first problem raises
        FocusFormatError naming its file, as `add` does, whichever query found it."""
        versions: dict[str, str] = {}
        batch: list[FocusFile] = []
        schema: tuple[list[str], dict[str, str]] = ([], {})
        for file in files:
            if file.is_csv or file.size == 0:
                versions |= self._add_batch(batch, schema, declared)
                batch = []
                versions[file.name] = self.add(file, declared)
                continue
            header, types = self._parquet_schema(file)
            full = sum(f.size for f in batch) + file.size > PARQUET_BATCH_BYTES
            if batch and ((header, types) != schema or full):
                versions |= self._add_batch(batch, schema, declared)
                batch = []
            batch.append(file)
            schema = (header, types)
        versions |= self._add_batch(batch, schema, declared)
        return versions

    def _add_batch(
        self,
        files: list[FocusFile],
        schema: tuple[list[str], dict[str, str]],
        declared: str | None,
    ) -> dict[str, str]:
        """Parquet `files` of one `schema` (column names in order, their types): one query
        rolls them all up (the file a row came from is its `file_index`); a failed query or
        a broken rule reads them one by one (`add`), which names the file, row and column."""
        if len(files) < 2:
            return {file.name: self.add(file, declared) for file in files}
        first = len(self.files)
        header, types = schema
        found = [mapping.detect_version(header, file.name, declared) for file in files]
        names = mapping.file_columns(header)
        select, raw_values = mapping.typed_select(
            names, types, files[0].name, csv=False, tag_keys=self.tag_keys
        )
        rules = mapping.violation_rules(raw_values)
        paths = [str(file.path) for file in files]
        reader = mapping.parquet_reader_sql(paths, file_names=True)
        index = "case filename " + " ".join(
            f"when {sql_literal(path)} then {first + i}" for i, path in enumerate(paths)
        ) + " end"  # fmt: skip
        try:
            self.con.execute(mapping.duplicate_hashes_sql(reader))
            self.con.execute(
                mapping.rollup_sql(reader, select + ",\n        filename", raw_values, index, rules)
            )
        except duckdb.Error:
            return {file.name: self.add(file, declared) for file in files}
        [(broken,)] = self.con.execute(
            f"select coalesce(sum(broken_rows), 0) from parts where file_index >= {first}"
        ).fetchall()
        if broken:  # find and name the first problem: the batch's rows go, each file is read
            self.con.execute(f"delete from parts where file_index >= {first}")
            return {file.name: self.add(file, declared) for file in files}
        self._add_spans(reader, select + ",\n        filename", header, index)
        for file, version in zip(files, found, strict=True):
            self.versions[len(self.files)] = version
            self.files.append(file)
        return {file.name: version for file, version in zip(files, found, strict=True)}

    def add(self, file: FocusFile, declared: str | None) -> str:
        """Check and roll up one file into `parts`; returns its FOCUS version. Raises
        FocusFormatError naming the file, line/row and column of the first problem."""
        index = len(self.files)
        if file.size == 0:
            raise FocusFormatError(f"{file.name}: empty file, no header")
        if file.is_csv:
            header = csv_header(file)
            version = mapping.detect_version(header, file.name, declared)
            rejects = f"rejects_{index}"
            reader = mapping.csv_reader_sql(str(file.path), header, rejects)
            types = mapping.csv_types(header)
        else:
            header, types = self._parquet_schema(file)
            version = mapping.detect_version(header, file.name, declared)
            rejects = ""
            reader = mapping.parquet_reader_sql(str(file.path))
        names = mapping.file_columns(header)
        select, raw_values = mapping.typed_select(
            names, types, file.name, csv=file.is_csv, tag_keys=self.tag_keys
        )
        rules = mapping.violation_rules(raw_values)
        # the copies' pass reads the file as the rollup does (a CSV with rejects of its own)
        copies_reader = (
            mapping.csv_reader_sql(str(file.path), header, f"copy_rejects_{index}")
            if file.is_csv
            else reader
        )
        try:
            self.con.execute(mapping.duplicate_hashes_sql(copies_reader))
            self.con.execute(mapping.rollup_sql(reader, select, raw_values, index, rules))
        except duckdb.Error as exc:
            raise FocusFormatError(f"{file.name}: {_first_line(exc)}") from None
        if rejects:
            self._raise_first_reject(file, rejects)
        [(broken_rows,)] = self.con.execute(
            f"select coalesce(sum(broken_rows), 0) from parts where file_index = {index}"
        ).fetchall()
        if broken_rows:  # read again, rule by rule, to name the first problem
            diagnosis = (
                mapping.csv_reader_sql(str(file.path), header, f"rule_rejects_{index}")
                if file.is_csv
                else reader
            )
            [counts] = self.con.execute(
                mapping.rule_counts_sql(diagnosis, select, raw_values, rules)
            ).fetchall()
            broken = [rule for rule, count in zip(rules, counts, strict=True) if count]
            if file.is_csv:
                self._raise_first_csv_violation(file, header, names, rules, broken)
            self._raise_first_parquet_violation(file, select, raw_values, rules, broken)
        if file.is_csv:  # a reader of its own: the rejects of the checked read are kept
            reader = mapping.csv_reader_sql(str(file.path), header, f"span_rejects_{index}")
        self._add_spans(reader, select, header, index)
        self.files.append(file)
        self.versions[index] = version
        return version

    def _add_spans(
        self, reader: str, select: str, header: list[str], file_index: int | str
    ) -> None:
        """The checked file's (or batch's) snapshot spans into `span_parts` (with the
        resource grain only: FINOPS_FOCUS_RESOURCE_DAYS > 0)."""
        if self.resource_days > 0:
            self.con.execute(
                mapping.snapshot_spans_sql(
                    reader, select, mapping.resource_columns(header), file_index
                )
            )

    def span_rows(self, rollup: ScopeRollup) -> pa.Table:
        """The scope's snapshot spans with exactly raw.focus_snapshot_spans' columns (over
        all its files), as an Arrow table: one row per snapshot."""
        indexes = ", ".join(str(self.files.index(f)) for f in rollup.files)
        dims = ", ".join(mapping.SPAN_DIMENSIONS)
        return self.con.sql(
            f"""
            select billing_period_start, {dims},
                   min(first_charge_date) as first_charge_date,
                   max(last_charge_date) as last_charge_date,
                   sum(source_rows) as x_source_rows
            from {quote(self.catalog)}.main.span_parts
            where file_index in ({indexes}) and {mapping.SCOPE_SQL} = ?
            group by all
            """,
            params=[rollup.scope],
        ).to_arrow_table()

    def add_resources(self) -> date | None:
        """The resource grain of the files read (after `add_all`): the rows with a ResourceId
        of the last `resource_days` days of their charge dates (from the latest one in
        `parts`), per resource and day, into `resource_parts`. Only the files with a day in
        that range are read again (the files were checked by `add`: nothing to name here).
        Returns the first day kept (None: no resource grain)."""
        if self.resource_days <= 0 or not self.files:
            return None
        [(last,)] = self.con.execute("select max(charge_date) from parts").fetchall()
        if last is None:
            return None
        cutoff = last - timedelta(days=self.resource_days - 1)
        recent = self.con.execute(
            "select distinct file_index from parts where charge_date >= ? order by 1", [cutoff]
        ).fetchall()
        for (index,) in recent:
            file = self.files[index]
            if file.is_csv:
                header = csv_header(file)
                reader = mapping.csv_reader_sql(str(file.path), header, f"resource_rejects_{index}")
                types = mapping.csv_types(header)
            else:
                header, types = self._parquet_schema(file)
                reader = mapping.parquet_reader_sql(str(file.path))
            select, _ = mapping.typed_select(
                mapping.file_columns(header), types, file.name, csv=file.is_csv
            )
            self.con.execute(
                mapping.resource_rollup_sql(
                    reader, select, mapping.resource_columns(header), index, cutoff
                )
            )
        return cutoff

    def resource_rows(self, rollup: ScopeRollup) -> pa.Table:
        """The scope's resource rows with exactly raw.focus_resource_costs' columns (summed
        over its files), as an Arrow table: a bounded number of recent days."""
        indexes = ", ".join(str(self.files.index(f)) for f in rollup.files)
        dims = ", ".join(mapping.RESOURCE_DIMENSIONS)
        sums = ", ".join(f"sum({c}) as {c}" for c in mapping.RESOURCE_AMOUNTS)
        return self.con.sql(
            f"""
            select billing_period_start, charge_date, {dims}, {sums},
                   sum(source_rows) as x_source_rows
            from {quote(self.catalog)}.main.resource_parts
            where file_index in ({indexes}) and {mapping.SCOPE_SQL} = ?
            group by all
            """,
            params=[rollup.scope],
        ).to_arrow_table()

    def _parquet_schema(self, file: FocusFile) -> tuple[list[str], dict[str, str]]:
        try:
            rows = self.con.execute(
                f"describe select * from read_parquet({sql_literal(str(file.path))})"
            ).fetchall()
        except duckdb.Error as exc:
            raise FocusFormatError(
                f"{file.name}: not a readable Parquet file: {_first_line(exc)}"
            ) from None
        header = [row[0] for row in rows]
        return header, {row[0]: row[1] for row in rows}

    def _raise_first_reject(self, file: FocusFile, rejects: str) -> None:
        row = self.con.execute(
            f"select line, column_name, error_type, error_message from {quote(rejects)} "
            "order by line, column_idx limit 1"
        ).fetchone()
        if row is None:
            return
        line, column, error_type, message = row
        message = (message or error_type or "unreadable").strip()
        # DuckDB's column_name counts only the columns the query read (projection
        # pushdown), so the column is found from the record itself.
        converted = re.search(r"Could not convert string \"(.*?)\" to '([^']+)'", message)
        counted = re.search(r"Expected Number of Columns: (\d+) Found: (\d+)", message)
        if error_type == "CAST" and converted:
            value, target = converted.groups()
            kind = "timestamp" if "TIMESTAMP" in target.upper() else "amount"
            column = self._column_holding(file, int(line), value, kind) or column
            what = "a date/time" if kind == "timestamp" else "a number"
            problem = f"value {value!r} is not {what}"
        elif counted:
            expected, found = (int(n) for n in counted.groups())
            header = csv_header(file)
            column = header[found] if found < len(header) else f"(extra value {found})"
            problem = f"the row has {found} values, the header {expected} columns"
        else:
            problem = message.splitlines()[0]
        raise FocusFormatError(f"{file.name}: line {line}, column {column or '?'}: {problem}")

    def _column_holding(self, file: FocusFile, line: int, value: str, kind: str) -> str | None:
        """The first column of `kind` whose value on CSV line `line` is `value`."""
        header = csv_header(file)
        with _text_handle(file.path) as handle:
            for record_no, record in enumerate(csv.reader(handle)):
                if record_no + 1 < line:
                    continue
                for name, cell in zip(header, record, strict=False):
                    column = mapping.BY_FOCUS_LOWER.get(name.lower())
                    if column is not None and column.kind == kind and cell == value:
                        return name
                return None
        return None

    def _raise_first_csv_violation(
        self,
        file: FocusFile,
        header: list[str],
        names: dict[str, str],
        rules: dict[str, tuple[str, str, str]],
        broken: list[str],
    ) -> None:
        """Walk the CSV to the first record that breaks a rule DuckDB counted."""
        position = {name: i for i, name in enumerate(header)}
        nulls = [
            (rules[rule][0], position[names[rules[rule][0]]], rules[rule][2])
            for rule in broken
            if rule.startswith("null_")
        ]
        tags = (
            [(names[n], position[names[n]]) for n in (mapping.ALLOCATED_TAGS, mapping.TAGS)
             if n in names]
            if "malformed_tags" in broken
            else []
        )  # fmt: skip
        periods: set[tuple[str, str]] = set()
        if "bad_billing_period" in broken:
            start, end = names["BillingPeriodStart"], names["BillingPeriodEnd"]
            text = mapping.csv_reader_sql(str(file.path), header)
            periods = set(
                self.con.execute(
                    f"select distinct {quote(start)}, {quote(end)} from {text} "
                    f"where try_cast({quote(end)} as timestamptz) "
                    f"<= try_cast({quote(start)} as timestamptz)"
                ).fetchall()
            )
        with _text_handle(file.path) as handle:
            reader = csv.reader(handle)
            next(reader, None)
            for record_no, record in enumerate(reader, start=1):
                for focus, index, problem in nulls:
                    if index >= len(record) or record[index] in mapping.NULL_STRINGS:
                        raise FocusFormatError(
                            f"{file.name}: line {record_no + 1}, column {focus}: {problem}"
                        )
                # the tags the row is read by: AllocatedTags when given, else Tags (mapping)
                column, index = next(
                    ((c, i) for c, i in tags if _cell(record, i) not in mapping.NULL_STRINGS),
                    (None, -1),
                )
                if column is not None and (problem := _not_a_json_object(record, index)):
                    raise FocusFormatError(
                        f"{file.name}: line {record_no + 1}, column {column}: "
                        f"value is not a JSON object ({problem})"
                    )
                if periods:
                    pair = (record[position[names["BillingPeriodStart"]]],
                            record[position[names["BillingPeriodEnd"]]])  # fmt: skip
                    if pair in periods:
                        raise FocusFormatError(
                            f"{file.name}: line {record_no + 1}, column BillingPeriodEnd: "
                            f"BillingPeriodEnd {pair[1]!r} is not after BillingPeriodStart "
                            f"{pair[0]!r}"
                        )
        raise FocusFormatError(f"{file.name}: {rules[broken[0]][0]}: {rules[broken[0]][2]}")

    def _raise_first_parquet_violation(
        self,
        file: FocusFile,
        select: str,
        raw_values: dict[str, str],
        rules: dict[str, tuple[str, str, str]],
        broken: list[str],
    ) -> None:
        typed = mapping.typed_rows_sql(
            mapping.parquet_reader_sql(str(file.path), row_numbers=True),
            select + ", file_row_number",
            raw_values,
        )
        first: tuple[int, str] | None = None
        for rule in broken:
            row = self.con.execute(
                f"select min(file_row_number) from {typed} where {rules[rule][1]}"
            ).fetchone()
            if row and row[0] is not None and (first is None or row[0] < first[0]):
                first = (int(row[0]), rule)
        assert first is not None
        row_index, rule = first
        focus, _, problem = rules[rule]
        if rule.startswith("bad_") and focus in raw_values:
            column = next(c for c in mapping.COLUMNS if c.focus == focus)
            value = self.con.execute(
                f"select cast(x_raw_{column.raw} as varchar) from {typed} "
                f"where file_row_number = {row_index}"
            ).fetchone()[0]
            problem = f"value {value!r} is not " + (
                "a number" if column.kind == "amount" else "a date/time"
            )
        raise FocusFormatError(f"{file.name}: row {row_index + 1}, column {focus}: {problem}")

    # ------------------------------------------------------------------ the whole set

    def scopes(self) -> set[str]:
        """The (billing account, billing period) scopes the files read so far hold."""
        sql = f"select distinct {mapping.SCOPE_SQL} from parts"
        return {scope for (scope,) in self.con.execute(sql).fetchall()}

    def rollups(self, declared: str | None, only: set[str] | None = None) -> list[ScopeRollup]:
        """Every (billing account, billing period) the files read hold - or only those in
        `only` (the others may have been read in part) - checked for consistency."""
        scope_sql = mapping.SCOPE_SQL
        self.con.execute("create or replace table wanted (scope varchar)")
        if only is not None:
            self.con.executemany("insert into wanted values (?)", [[s] for s in sorted(only)])
        where = "true" if only is None else f"{scope_sql} in (select scope from wanted)"
        rows = self.con.execute(
            f"""
            select
                {scope_sql} as scope,
                min(trim(provider_name)), min(trim(billing_account_id)),
                min(billing_period_start), min(billing_period_end),
                count(distinct billing_period_end),
                min(charge_date), max(charge_date),
                list(distinct file_index order by file_index),
                sum(source_rows)
            from parts
            where {where}
            group by all
            order by 1
            """
        ).fetchall()
        # Each file's rows are already unique per day and dimensions (`add` rolled them up):
        # a period held by one file lands straight from `parts` (nothing copied); only the
        # periods spread over several files are summed again across them, into `spread`.
        self.con.execute("create or replace table spread_scopes (scope varchar)")
        spread = [[row[0]] for row in rows if len(row[8]) > 1]
        if spread:
            self.con.executemany("insert into spread_scopes values (?)", spread)
        self.con.execute(
            f"""
            create or replace table spread as
            select
                {scope_sql} as scope,
                billing_period_start, billing_period_end, charge_date,
                {", ".join(mapping.DIMENSIONS)},
                {", ".join(f"sum({c.raw}) as {c.raw}" for c in mapping.AMOUNTS)},
                sum(source_rows) as source_rows,
                sum(duplicate_rows) as duplicate_rows,
                sum(duplicate_billed_cost) as duplicate_billed_cost
            from parts
            where {scope_sql} in (select scope from spread_scopes)
            group by all
            """
        )
        # what the period's daily rows are: DuckDB's hash of every value (source_rows as
        # the sum it is; a BIGINT and the HUGEINT of a sum hash alike)
        hashed = ", ".join(
            [
                "billing_period_start",
                "billing_period_end",
                "charge_date",
                *mapping.DIMENSIONS,
                *(c.raw for c in mapping.AMOUNTS),
                "source_rows",
                "duplicate_rows",
                "duplicate_billed_cost",
            ]
        )
        counts = {
            scope: (int(count), int(hash_sum))
            for scope, count, hash_sum in self.con.execute(
                f"""
                select {scope_sql} as scope, count(*), sum(cast(hash({hashed}) as hugeint))
                from parts
                where ({where}) and {scope_sql} not in (select scope from spread_scopes)
                group by scope
                union all
                select scope, count(*), sum(cast(hash({hashed}) as hugeint))
                from spread
                group by scope
                """
            ).fetchall()
        }
        out = []
        for scope, provider, account, start, end, ends, first, last, indexes, source_rows in rows:
            files = tuple(self.files[i] for i in indexes)
            if ends > 1:
                seen = self.con.execute(
                    f"select distinct file_index, billing_period_end from parts "
                    f"where {scope_sql} = ? order by all",
                    [scope],
                ).fetchall()
                shown = "; ".join(f"{self.files[i].name}: {e}" for i, e in seen)
                raise FocusFormatError(
                    f"billing account period {scope}: column BillingPeriodEnd: one "
                    f"BillingPeriodStart with {ends} different BillingPeriodEnd values ({shown})"
                )
            version = declared or max(self.versions[i] for i in indexes)
            row_count, hash_sum = counts[scope]
            out.append(
                ScopeRollup(
                    scope=scope,
                    provider_name=provider,
                    billing_account_id=account,
                    billing_period_start=start,
                    billing_period_end=end,
                    first_charge_date=first,
                    last_charge_date=last,
                    files=files,
                    focus_version=version,
                    file_set_sha256=file_set_sha256(
                        {f.sha256 for f in files}, version, self.rollup
                    ),
                    rows_sha256=rows_sha256(row_count, hash_sum, version, self.rollup),
                    source_rows=int(source_rows),
                    row_count=row_count,
                )
            )
        _check_overlaps(out)
        # what staged_rows' batch joins each period's rows to: its FOCUS version and file set
        # (file_index: the one file of a period read from `parts`; null: from `spread`)
        self.con.execute(
            "create or replace table landing (scope varchar, file_index integer, "
            "x_focus_version varchar, x_file_set_sha256 varchar)"
        )
        if out:
            self.con.executemany(
                "insert into landing values (?, ?, ?, ?)",
                [
                    [
                        r.scope,
                        self.files.index(r.files[0]) if len(r.files) == 1 else None,
                        r.focus_version,
                        r.file_set_sha256,
                    ]
                    for r in out
                ],
            )
        return out

    def staged_rows(self, rollup: ScopeRollup) -> StagedRows:
        """The scope's daily rows with exactly raw.focus_costs' columns, as a query over
        this stage's connection (the warehouse attached to it lands them in SQL): from its
        file's rows in `parts`, or from `spread`. Their batch (StagedBatch) is the same rows
        of every period of `rollups`, keyed by scope: the same tables and conditions joined
        to `landing`, so all periods of an import are inserted by one statement."""
        columns = _STAGED_COLUMNS
        scope = sql_literal(rollup.scope)
        catalog = quote(self.catalog)
        if len(rollup.files) == 1:
            index = self.files.index(rollup.files[0])
            where = f"file_index = {index} and {mapping.SCOPE_SQL} = {scope}"
            relation = f"{catalog}.main.parts"
        else:
            where = f"scope = {scope}"
            relation = f"{catalog}.main.spread"
        return StagedRows(
            f"select {', '.join(columns)}, {sql_literal(rollup.focus_version)} as x_focus_version, "
            f"{sql_literal(rollup.file_set_sha256)} as x_file_set_sha256 from {relation} "
            f"where {where}",
            batch=StagedBatch(self._batch_sql(), key=rollup.scope),
        )

    def _batch_sql(self) -> str:
        """Every period of `landing` with raw.focus_costs' columns and its scope as
        `x_batch_key`: what staged_rows selects for each, in one relation."""
        catalog = quote(self.catalog)
        picked = ", ".join(f"staged.{c}" for c in _STAGED_COLUMNS)
        landing = "landing.x_focus_version, landing.x_file_set_sha256, landing.scope as x_batch_key"
        scope_sql = mapping.scope_sql("staged")
        return (
            f"select {picked}, {landing} from {catalog}.main.parts as staged "
            f"join {catalog}.main.landing as landing on staged.file_index = landing.file_index "
            f"and {scope_sql} = landing.scope "
            f"union all "
            f"select {picked}, {landing} from {catalog}.main.spread as staged "
            f"join {catalog}.main.landing as landing on staged.scope = landing.scope "
            f"and landing.file_index is null"
        )


def _cell(record: list[str], index: int) -> str:
    return record[index] if index < len(record) else ""


def _not_a_json_object(record: list[str], index: int) -> str | None:
    """Why a CSV record's tags cell is not a JSON object (None: it is one, or empty)."""
    cell = _cell(record, index)
    if cell in mapping.NULL_STRINGS:
        return None
    try:
        value = json.loads(cell)
    except ValueError as exc:
        return str(exc)
    return None if isinstance(value, dict) else f"a JSON {type(value).__name__}"


def _check_overlaps(rollups: list[ScopeRollup]) -> None:
    """Billing periods of one billing account must not overlap (each replaces on its own)."""
    by_account: dict[str, list[ScopeRollup]] = {}
    for rollup in rollups:
        by_account.setdefault(rollup.scope.rsplit("@", 1)[0], []).append(rollup)
    for account, periods in by_account.items():
        periods.sort(key=lambda r: r.billing_period_start)
        for before, after in itertools.pairwise(periods):
            if after.billing_period_start < before.billing_period_end:
                raise FocusFormatError(
                    f"billing account {account}: column BillingPeriodStart: billing periods "
                    f"[{before.billing_period_start}, {before.billing_period_end}) and "
                    f"[{after.billing_period_start}, {after.billing_period_end}) overlap "
                    f"(files {', '.join(f.name for f in after.files)})"
                )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def declared_version(file_set: FileSet) -> str | None:
    """The FOCUS version the export's metadata declares (checked), else None."""
    versions = set()
    for name, value in file_set.declared_versions:
        version = mapping.supported_version(value)
        if version is None:
            raise FocusFormatError(
                f"{name}: unknown FOCUS version {value!r} (FocusVersion of the export's "
                f"metadata); supported: {', '.join(mapping.SUPPORTED_VERSIONS)}"
            )
        versions.add(version)
    return versions.pop() if len(versions) == 1 else None
