"""The raw layer's tables: every registered source's raw tables (loaders/catalogue.py), the
load ledger and the restatement ledger; created on first write, and an older warehouse's
ledger upgraded once."""

from __future__ import annotations

import duckdb

from loaders import registry
from loaders.catalogue import AMOUNT_SQL

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
    api_retries integer not null default 0,
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
    """Create what is missing of the raw layer on `con`, and upgrade an older ledger.

    The upgrade check is one catalogue read (about 3 ms), made on every write rather than
    remembered per process: a warehouse file can be swapped under the same path."""
    con.execute("create schema if not exists raw")
    for table in registry.raw_tables().values():
        con.execute(table.ddl())
    present = _add_new_raw_columns(con)
    con.execute(LOAD_LEDGER_DDL)
    if "load_ledger" in present and "api_retries" not in present["load_ledger"]:
        # a ledger written before it counted retried requests (issue #20): 0 for its rows
        con.execute(
            "alter table raw.load_ledger add column if not exists api_retries integer default 0"
        )
        con.execute("update raw.load_ledger set api_retries = 0 where api_retries is null")
    con.execute(LOAD_RESTATEMENTS_DDL)
    _add_ledger_scope_columns(con)


def _add_new_raw_columns(con: duckdb.DuckDBPyConnection) -> dict[str, set[str]]:
    """Upgrade raw tables created before a source kept more columns: add the missing ones
    (null in the rows already landed; the source's next load fills them - a FOCUS import
    re-lands every period once, its rollup version being part of each fingerprint). Only
    nullable columns are ever added to a source; a missing `not null` one is refused, naming
    it, instead of failing on the next insert."""
    present: dict[str, set[str]] = {}
    for table_name, column_name in con.execute(
        "select table_name, column_name from information_schema.columns "
        "where table_catalog = current_database() and table_schema = 'raw'"
    ).fetchall():
        present.setdefault(table_name, set()).add(column_name)
    missing = [
        (table, name, sql_type)
        for table in registry.raw_tables().values()
        for name, sql_type, _ in table.columns
        if name not in present.get(table.name, set())
    ]
    for table, name, sql_type in missing:
        if "not null" in sql_type.lower():
            raise RuntimeError(
                f"{table.qualified} has no column {name} ({sql_type}): a warehouse written "
                "by an older version cannot get a mandatory column added to the rows it holds"
            )
    for table, name, sql_type in missing:
        con.execute(f"alter table {table.qualified} add column {name} {sql_type}")
    return present  # the raw schema's columns before these additions (ledgers included)


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
