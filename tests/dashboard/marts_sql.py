"""What the dashboard should show, computed with plain SQL over a serving file.

Independent of `dashboard.data`: plain `where ... in (...)` clauses and group-bys, so a bug
in the dashboard's query composition cannot hide itself in the expected values.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

CENT = Decimal("0.01")


@dataclass(frozen=True)
class Selection:
    """What the sidebar is set to; empty tuples mean "all"."""

    start: date
    end: date
    providers: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    basis: str = "billed"
    charges: str = "all"

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Selection:
        return replace(
            self, start=self.start - timedelta(days=self.days), end=self.start - timedelta(days=1)
        )

    @property
    def column(self) -> str:
        return "billed_cost_reporting" if self.basis == "billed" else "effective_cost_reporting"


@dataclass(frozen=True)
class Facts:
    """What the warehouse holds, read with our own SQL."""

    first: date
    last: date
    currency: str
    eur_account: str
    categories: tuple[str, ...] = field(default=())

    @property
    def default(self) -> Selection:
        return Selection(max(self.first, self.last - timedelta(days=29)), self.last)


def query(warehouse: Path, sql: str, params: list[Any] | None = None) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def facts(warehouse: Path) -> Facts:
    [(first, last, currency)] = query(
        warehouse,
        """select min(charge_date), max(charge_date), any_value(reporting_currency)
           from marts.fct_daily_costs""",
    )
    eur = query(
        warehouse,
        """select sub_account_id from marts.fct_daily_costs
           order by billing_currency = reporting_currency, sub_account_id limit 1""",
    )
    categories = query(
        warehouse,
        """select service_category from marts.fct_daily_costs where service_category is not null
           group by all order by count(*) desc, service_category""",
    )
    return Facts(first, last, currency, eur[0][0], tuple(c for (c,) in categories))


def where(sel: Selection, *, alias: str = "", period: bool = True) -> tuple[str, list[Any]]:
    """A plain `where` clause for the selection over fct_daily_costs."""
    p = alias
    clauses: list[str] = []
    params: list[Any] = []
    if period:
        clauses.append(f"{p}charge_date between ? and ?")
        params += [sel.start, sel.end]
    for column, values in (
        ("provider_name", sel.providers),
        ("sub_account_id", sel.accounts),
        ("service_category", sel.categories),
    ):
        if values:
            clauses.append(f"{p}{column} in ({', '.join('?' * len(values))})")
            params.extend(values)
    if sel.charges == "usage":
        clauses.append(f"{p}charge_category = 'Usage'")
    return " and ".join(clauses) or "true", params


def total(warehouse: Path, sel: Selection) -> Decimal:
    clause, params = where(sel)
    [(value,)] = query(
        warehouse,
        f"select coalesce(sum({sel.column}), 0) from marts.fct_daily_costs where {clause}",
        params,
    )
    return Decimal(value)


def totals_by_provider(warehouse: Path, sel: Selection) -> dict[str, Decimal]:
    clause, params = where(sel)
    return {
        provider: Decimal(value)
        for provider, value in query(
            warehouse,
            f"""select provider_name, sum({sel.column}) from marts.fct_daily_costs
                where {clause} group by provider_name""",
            params,
        )
    }


def compared(
    warehouse: Path, sel: Selection, keys: list[str]
) -> dict[tuple[Any, ...], tuple[Decimal, Decimal]]:
    """{item keys: (cost in the period, cost in the previous period)} per group of `keys`."""
    current, previous = {}, {}
    for target, s in ((current, sel), (previous, sel.previous())):
        clause, params = where(s)
        for *key, value in query(
            warehouse,
            f"""select {", ".join(keys)}, sum({s.column}) from marts.fct_daily_costs
                where {clause} group by all""",
            params,
        ):
            target[tuple(key)] = Decimal(value)
    return {
        key: (current.get(key, Decimal(0)), previous.get(key, Decimal(0)))
        for key in current.keys() | previous.keys()
    }


def top_movers(
    items: dict[tuple[Any, ...], tuple[Decimal, Decimal]], limit: int
) -> list[tuple[Any, ...]]:
    """Item keys by |change| desc (ties: larger current cost first), no zero change."""
    changed = [(key, now - before, now) for key, (now, before) in items.items() if now != before]
    changed.sort(key=lambda item: (-abs(item[1]), -item[2]))
    return [key for key, _, _ in changed[:limit]]


def anomalies(warehouse: Path, sel: Selection) -> list[tuple[Any, ...]]:
    """Account x service anomaly rows in the selection, largest |impact| first.

    A category matches through the service's category in fct_daily_costs.
    """
    clause, params = where(replace(sel, categories=(), charges="all"), alias="a.")
    if sel.categories:
        clause += (
            " and a.service_name in (select service_name from marts.fct_daily_costs"
            f" where service_category in ({', '.join('?' * len(sel.categories))}))"
        )
        params.extend(sel.categories)
    return query(
        warehouse,
        f"""select a.charge_date, a.provider_name, a.sub_account_name, a.service_name,
               a.actual_cost, a.expected_cost, a.cost_impact, a.direction, a.sub_account_id,
               a.anomaly_id
            from marts.fct_cost_anomalies as a where {clause}
            order by abs(a.cost_impact) desc, a.charge_date""",
        params,
    )


def total_anomalies(
    warehouse: Path, sel: Selection, scopes: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """(id, date, scope, actual, expected, impact, top account, top service, top region)."""
    rows = query(
        warehouse,
        f"""select total_anomaly_id, charge_date, provider_scope, actual_cost, expected_cost,
               cost_impact
            from marts.fct_cost_total_anomalies
            where charge_date between ? and ? and provider_scope in ({", ".join("?" * len(scopes))})
            order by abs(cost_impact) desc, charge_date, provider_scope""",
        [sel.start, sel.end, *scopes],
    )
    result = []
    for anomaly_id, day, scope, actual, expected, impact in rows:
        tops = []
        for dimension in ("account", "service", "region"):
            causes = query(
                warehouse,
                """select item, contribution from marts.fct_anomaly_root_causes
                   where total_anomaly_id = ? and dimension = ?""",
                [anomaly_id, dimension],
            )
            # the item that pushed furthest in the direction of the impact
            sign = 1 if impact >= 0 else -1
            tops.append(max(causes, key=lambda c: (c[1] * sign, c[0]))[0] if causes else None)
        result.append((anomaly_id, day, scope, actual, expected, impact, *tops))
    return result


def series(
    warehouse: Path, level: str, scope: str, account: str | None, service: str | None
) -> list[tuple[Any, ...]]:
    """(date, actual, expected_low, expected_high, is_anomaly) of one anomaly series."""
    return query(
        warehouse,
        """select charge_date, actual_cost, expected_low, expected_high, is_anomaly
           from marts.fct_anomaly_series
           where series_level = ? and provider_scope = ?
             and sub_account_id is not distinct from ? and service_name is not distinct from ?
           order by charge_date""",
        [level, scope, account, service],
    )
