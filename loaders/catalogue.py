"""The raw tables' shape: what a raw table is (its API columns, how a row is placed in a
window, how rows add up to the per-day totals of the restatement ledger). Each loader
package declares its own tables in its `source` module (loaders/registry.py collects them);
loaders/warehouse.py writes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pyarrow as pa

AMOUNT = pa.decimal128(38, 10)
AMOUNT_SQL = "decimal(38, 10)"

# Columns every raw table carries besides the API's own.
LOAD_META_SQL = """
    _source varchar not null,
    _scope varchar not null,
    _window_start date not null,
    _window_end date not null,
    _load_id varchar not null,
    _loaded_at timestamp not null
"""


@dataclass(frozen=True)
class CostMeasure:
    """One cost type of a raw table, as SQL over its columns (for the restatement ledger)."""

    cost_type: str  # 'billed' | 'effective'
    amount_sql: str
    currency_sql: str
    filter_sql: str = "true"


@dataclass(frozen=True)
class RawTable:
    """A raw table: its API columns, and the column that places a row in a window.

    `charge_date_sql`, `account_sql` and `measures` say how a row adds up to the per-day
    totals the restatement ledger compares (SQL over the table's own columns).
    `key_columns` are the natural key of a row within one load (one source, scope and
    window): the API answers each key once, so a key seen twice in a batch is a paging or
    mapping bug and the load is refused.
    """

    name: str
    columns: tuple[tuple[str, str, pa.DataType], ...]  # (name, sql type, arrow type)
    date_column: str
    charge_date_sql: str
    account_sql: str
    measures: tuple[CostMeasure, ...]
    key_columns: tuple[str, ...]
    date_is_yyyymmdd: bool = False  # Azure's UsageDate is an integer such as 20260131
    # The provider every load of the table stands for (the API tables); None = each load
    # names its own (FOCUS files: the ProviderName the file wrote).
    provider_name: str | None = None

    @property
    def qualified(self) -> str:
        return f"raw.{self.name}"

    def ddl(self) -> str:
        cols = ",\n".join(f"    {name} {sql}" for name, sql, _ in self.columns)
        return f"create table if not exists {self.qualified} (\n{cols},\n{LOAD_META_SQL})"

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(name, arrow) for name, _, arrow in self.columns])

    def window_bound(self, day: date) -> date | int:
        return int(day.strftime("%Y%m%d")) if self.date_is_yyyymmdd else day

    def bound_to_date(self, value: date | int) -> date:
        """The inverse of `window_bound`."""
        if self.date_is_yyyymmdd:
            return datetime.strptime(str(value), "%Y%m%d").date()
        return value

    def daily_totals_sql(self, relation: str, where: str = "true") -> str:
        """Per (charge_date, sub_account_id, billing_currency, cost_type) totals of `relation`
        (no rows for a table without cost measures)."""
        if not self.measures:
            return (
                "select cast(null as date) as charge_date, cast(null as varchar) as "
                "sub_account_id, cast(null as varchar) as billing_currency, cast(null as "
                f"varchar) as cost_type, cast(null as {AMOUNT_SQL}) as cost from {relation} "
                f"where ({where}) and false"
            )
        parts = [
            f"select {self.charge_date_sql} as charge_date, {self.account_sql} as sub_account_id, "
            f"{m.currency_sql} as billing_currency, '{m.cost_type}' as cost_type, "
            f"{m.amount_sql} as cost from {relation} where ({where}) and ({m.filter_sql})"
            for m in self.measures
        ]
        unioned = "\nunion all\n".join(parts)
        return (
            "select charge_date, sub_account_id, billing_currency, cost_type, "
            f"cast(sum(cost) as {AMOUNT_SQL}) as cost from (\n{unioned}\n) as amounts "
            "group by all"
        )
