"""Publishing the serving copy: the marts copied into a fresh file renamed over the one
readers open, so a reader never sees a build half done."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import duckdb

from loaders.warehouse.locking import connect_writer, writer_lock


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
            con.execute("begin transaction")  # one commit for every table, not one each
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
                _copy_comments(con, schema)
            con.execute("commit")
            con.execute("detach serving")
        finally:
            con.close()
    os.replace(tmp, serving_path)
    return count


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _copy_comments(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    """The table and column comments of `schema` (dbt's persisted docs of the marts) onto the
    serving copy's tables, so whoever reads the copy reads the docs too."""
    statements = [
        f"comment on table serving.{schema}.{table} is {_sql_text(comment)}"
        for table, comment in con.execute(
            "select table_name, comment from duckdb_tables() "
            "where database_name = current_database() and schema_name = ? and comment is not null",
            [schema],
        ).fetchall()
    ] + [
        f'comment on column serving.{schema}.{table}."{column}" is {_sql_text(comment)}'
        for table, column, comment in con.execute(
            "select table_name, column_name, comment from duckdb_columns() "
            "where database_name = current_database() and schema_name = ? and comment is not null",
            [schema],
        ).fetchall()
    ]
    for statement in statements:  # in the publish's transaction: no commit of their own
        con.execute(statement)
