"""What `finops run --plan` prints per scope of an API source (Cost Explorer, Cost
Management): the scopes earlier loads landed, and one scope's expected and worst-case
requests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from loaders import warehouse
from loaders.stored_window import raw_tables_present


@dataclass(frozen=True)
class ScopePlan:
    """The plan of one scope (a payer account, a subscription, a billing account, ...)."""

    scope: str
    new_days: int
    parts: dict[str, int]  # what the expected requests are made of
    at_most: int

    @property
    def expected(self) -> int:
        return sum(self.parts.values())

    @property
    def made_of(self) -> str:
        """The expected requests' parts, as the plan prints them."""
        return ", ".join(f"{count} {what}" for what, count in self.parts.items())


def landed_scopes(db_path: Path, table: str, source: str) -> list[str]:
    """The scopes earlier loads of `source` landed rows of `raw.<table>` for."""
    if not Path(db_path).exists():
        return []
    with warehouse.writer_lock(Path(db_path), timeout_s=60):
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            if table not in raw_tables_present(con):
                return []
            rows = con.execute(
                f"select distinct _scope from raw.{table} where _source = ? order by 1", [source]
            ).fetchall()
        finally:
            con.close()
    return [scope for (scope,) in rows]
