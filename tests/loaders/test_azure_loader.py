"""The Azure Cost Management loader: the real SDK over real HTTP against a local emulator.

Every test drives `loaders.azure_cost_management.load` (azure-mgmt-costmanagement, azure-core
pipeline, requests transport) against `tests/azure_emulator.py` on loopback and checks what
landed in a real DuckDB warehouse against the emulator's ground truth.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from azure_emulator import (
    QUERY_SUFFIX,
    AzureCostEmulator,
    AzureSubscription,
    StaticTokenCredential,
)

from loaders import azure_cost_management as azure
from loaders.azure_cost_management import mapping

START, END = date(2026, 5, 1), date(2026, 7, 1)  # two calendar months
DATA_START, DATA_END = date(2026, 4, 1), date(2026, 8, 1)  # the emulator has more than that
TOKEN = "test-bearer-token-7f3c9e1a"

PROD = AzureSubscription(
    "3f2c9a71-5b8e-4d21-9c4a-7e1f0b6d2a58",
    "contoso-prod",
    charge_types=("Usage", "Purchase", "UnusedReservation", "Refund"),
)
DATA = AzureSubscription(
    "c1b7e9f4-2a6d-4e83-8f05-9d3a6b2c7e19", "contoso-data", charge_types=("Usage", "Tax")
)
EU = AzureSubscription(
    "e5d9a3c8-7f1b-4b6e-a2d4-6c8e1f3b9a07",
    "contoso-prod-eu",
    currency="EUR",
    locations=("westeurope", "northeurope"),
)
EMPTY = AzureSubscription(
    "0badc0de-0000-4000-8000-000000000000", "contoso-sandbox", charge_types=()
)
# 40 services x 10 locations x 31 days = 12,400 rows for one Daily query of May.
LARGE = AzureSubscription(
    "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d",
    "contoso-large",
    services=tuple(f"Service {n:02d}" for n in range(40)),
    locations=tuple(f"region{n}" for n in range(10)),
)
BILLING_ACCOUNT = "12345678"
MANAGEMENT_GROUP = "contoso-root"
UNLISTED = AzureSubscription(
    "7d6c5b4a-3f2e-4d1c-8b0a-9f8e7d6c5b4a", "contoso-finance", listed=False
)


@pytest.fixture
def emulator() -> Iterator[Any]:
    """A factory of started emulators, all stopped at the end of the test."""
    started: list[AzureCostEmulator] = []

    def make(subscriptions: list[AzureSubscription], **kwargs: Any) -> AzureCostEmulator:
        kwargs.setdefault("start", DATA_START)
        kwargs.setdefault("end", DATA_END)
        emu = AzureCostEmulator(subscriptions, **kwargs)
        started.append(emu.start())
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def run_load(emu: AzureCostEmulator, db: Path, **kwargs: Any) -> list:
    kwargs.setdefault("credential", StaticTokenCredential(TOKEN))
    kwargs.setdefault("max_wait_s", 10)
    return azure.load(
        db, kwargs.pop("start", START), kwargs.pop("end", END), endpoint=emu.url, **kwargs
    )


def landed(db: Path, where: str = "true") -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(f"select * from raw.azure_cost_management where {where}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def ledger(db: Path) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute("select * from raw.load_ledger order by started_at, scope")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def raw_key(row: dict[str, Any]) -> tuple:
    return (
        row["usage_date"],
        row["query_type"],
        row["subscription_id"],
        row["subscription_name"],
        row["service_name"],
        row["resource_location"],
        row["charge_type"],
        Decimal(row["cost"]),
        row["currency"],
    )


# ---------------------------------------------------------------------- paging


def test_every_page_of_a_large_subscription_lands_to_the_cent(emulator: Any, db: Path) -> None:
    # GIVEN a subscription whose May Daily answer is 12,400 rows per query type
    emu = emulator([LARGE], start=date(2026, 5, 1), end=date(2026, 6, 2))

    # WHEN May is loaded
    results = run_load(emu, db, start=date(2026, 5, 1), end=date(2026, 6, 1))

    # THEN each detail query was followed through three pages (5,000 + 5,000 + 2,400 rows),
    # every nextLink POSTed to the emulator (not to management.azure.com) with the same body
    truth = emu.truth(LARGE.scope, date(2026, 5, 1), date(2026, 6, 1))
    assert len(truth) == 2 * 12_400
    detail = [r for r in emu.query_requests if r.body["dataset"].get("granularity") == "Daily"]
    assert len(detail) == 6
    for query_type in mapping.QUERY_TYPES:
        pages = [r for r in detail if r.body["type"] == query_type]
        assert len(pages) == 3
        assert ["$skiptoken" in p.query for p in pages] == [False, True, True]
        assert all(p.body == pages[0].body and p.status == 200 for p in pages)

    # THEN every row landed exactly as the API gave it: 24,800 rows, totals to the cent
    rows = landed(db)
    assert len(rows) == len(truth) == results[0].row_count
    assert sorted(map(raw_key, rows)) == sorted(map(raw_key, truth))
    assert AzureCostEmulator.totals(rows) == AzureCostEmulator.totals(truth)
    assert AzureCostEmulator.totals(truth)[("ActualCost", "USD")] > Decimal("2000000")

    # THEN the ledger counts every HTTP request: 1 listing + 2 discovery + 6 detail pages
    assert results[0].api_requests == len(emu.requests) == 9
    assert [r["api_requests"] for r in ledger(db)] == [9]


# ---------------------------------------------------------------------- throttling, retries


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after", id="qpu"),
        pytest.param("x-ms-ratelimit-microsoft.costmanagement-entity-retry-after", id="entity"),
        pytest.param("x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after", id="tenant"),
        pytest.param("x-ms-ratelimit-microsoft.costmanagement-client-retry-after", id="client"),
        pytest.param("Retry-After", id="Retry-After"),
    ],
)
def test_a_429_is_retried_after_the_wait_its_header_asks_for(
    emulator: Any, db: Path, header: str
) -> None:
    # GIVEN the first query is throttled with a 1 s wait in one header variant
    emu = emulator([EU])
    emu.fail(429, headers={header: "1"}, times=1)

    # WHEN the subscription is loaded
    results = run_load(emu, db, start=date(2026, 6, 1), end=date(2026, 7, 1))

    # THEN the same query came back once, no sooner than 1 s and not much later
    queries = emu.query_requests
    assert [q.status for q in queries[:2]] == [429, 200]
    assert queries[0].body == queries[1].body
    waited = queries[1].at - queries[0].at
    assert 1.0 <= waited < 2.5

    # THEN the data is complete, and the throttled attempt is counted as a request
    truth = emu.truth(EU.scope, date(2026, 6, 1), date(2026, 7, 1))
    assert AzureCostEmulator.totals(landed(db)) == AzureCostEmulator.totals(truth)
    assert results[0].api_requests == len(emu.requests) == 1 + 2 + 2 + 1


def test_a_wait_beyond_the_budget_fails_at_once_and_lands_nothing(emulator: Any, db: Path) -> None:
    # GIVEN the service asks for a 2-minute pause and the wait budget is 5 s
    emu = emulator([EU])
    emu.fail(429, headers={"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "120"})

    # WHEN the subscription is loaded
    started = time.monotonic()
    with pytest.raises(azure.AzureCostManagementError) as error:
        run_load(emu, db, max_wait_s=5)

    # THEN it gives up without sleeping, says why, and writes only a failed ledger row
    assert time.monotonic() - started < 2
    message = str(error.value)
    assert "HTTP 429" in message and "120 s" in message
    assert "FINOPS_AZURE_MAX_WAIT_SECONDS" in message
    assert "Nothing of this run was landed" in message
    assert landed(db) == []
    assert [(r["status"], r["scope"]) for r in ledger(db)] == [("failed", EU.scope)]


def test_a_500_then_success_is_retried(emulator: Any, db: Path) -> None:
    # GIVEN a transient server error on the first query
    emu = emulator([PROD])
    emu.fail(500, times=1)

    # WHEN the subscription is loaded
    run_load(emu, db)

    # THEN the query was repeated and everything landed
    assert [q.status for q in emu.query_requests[:2]] == [500, 200]
    truth = emu.truth(PROD.scope, START, END)
    assert AzureCostEmulator.totals(landed(db)) == AzureCostEmulator.totals(truth)
    assert len(landed(db)) == len(truth)


def test_a_persistent_failure_lands_nothing_of_the_run_and_keeps_the_previous_data(
    emulator: Any, db: Path
) -> None:
    # GIVEN two subscriptions loaded once
    emu = emulator([PROD, EU])
    run_load(emu, db, scopes=[PROD.scope, EU.scope])
    before = AzureCostEmulator.totals(landed(db))

    # WHEN the costs are restated and the next run's queries of the second subscription
    # fail with HTTP 500 every time
    emu.restate(Decimal("1.1"), on_or_after=START)
    emu.fail(500, times=-1, path_contains=f"{EU.scope}{QUERY_SUFFIX}")
    with pytest.raises(azure.AzureCostManagementError) as error:
        run_load(emu, db, scopes=[PROD.scope, EU.scope], max_wait_s=1)

    # THEN the error says what failed where, and that nothing was landed
    message = str(error.value)
    assert "HTTP 500" in message and EU.scope in message
    assert "Nothing of this run was landed; the previous data is unchanged" in message

    # THEN neither subscription changed: the first one, fetched fine, was not landed either
    assert AzureCostEmulator.totals(landed(db)) == before
    # ... and the ledger has the success of the first run and a failure per scope
    rows = ledger(db)
    assert [r["status"] for r in rows] == ["succeeded", "succeeded", "failed", "failed"]
    failed = {r["scope"]: r for r in rows if r["status"] == "failed"}
    assert "HTTP 500" in failed[EU.scope]["error"]
    assert failed[PROD.scope]["error"].startswith(f"not landed: {EU.scope} failed")


# ---------------------------------------------------------------------- currencies, scopes


def test_an_eur_subscription_lands_eur_rows(emulator: Any, db: Path) -> None:
    # GIVEN a subscription billed in EUR
    emu = emulator([EU])

    # WHEN it is loaded
    run_load(emu, db, scopes=[EU.scope])

    # THEN every row is in EUR, with the API's EUR amounts to the cent
    rows = landed(db)
    assert {r["currency"] for r in rows} == {"EUR"}
    truth = emu.truth(EU.scope, START, END)
    totals = AzureCostEmulator.totals(rows)
    assert totals == AzureCostEmulator.totals(truth)
    assert set(totals) == {("ActualCost", "EUR"), ("AmortizedCost", "EUR")}


def test_an_empty_scope_lands_zero_rows_with_only_discovery_queries(
    emulator: Any, db: Path
) -> None:
    # GIVEN a subscription without any cost in the window
    emu = emulator([EMPTY])

    # WHEN it is loaded
    results = run_load(emu, db, scopes=[EMPTY.scope])

    # THEN zero rows land (a succeeded load), after 2 discovery queries per month and no more
    assert [(r.scope, r.row_count) for r in results] == [(EMPTY.scope, 0)]
    assert landed(db) == []
    assert [r["status"] for r in ledger(db)] == ["succeeded"]
    assert len(emu.query_requests) == 2 * 2


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param(
            f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}", id="billing account"
        ),
        pytest.param(
            f"/providers/Microsoft.Management/managementGroups/{MANAGEMENT_GROUP}",
            id="management group",
        ),
    ],
)
def test_a_scope_spanning_subscriptions_lands_each_with_its_name(
    emulator: Any, db: Path, scope: str
) -> None:
    # GIVEN a billing account / management group over three subscriptions, in two
    # currencies, one of them not visible in the credential's subscription list
    members = [PROD, EU, UNLISTED]
    ids = [s.subscription_id for s in members]
    emu = emulator(
        [*members, DATA],
        billing_accounts={BILLING_ACCOUNT: ids},
        management_groups={MANAGEMENT_GROUP: ids},
    )

    # WHEN that one scope is loaded
    results = run_load(emu, db, scopes=[scope])

    # THEN it is one load of that scope, holding each subscription's rows under its name
    assert [r.scope for r in results] == [scope]
    rows = landed(db)
    assert {r["_scope"] for r in rows} == {scope}
    assert {(r["subscription_id"], r["subscription_name"]) for r in rows} == {
        (s.subscription_id, s.name) for s in members
    }
    truth = emu.truth(scope, START, END)
    assert sorted(map(raw_key, rows)) == sorted(map(raw_key, truth))
    for sub in members:
        mine = [r for r in rows if r["subscription_id"] == sub.subscription_id]
        assert AzureCostEmulator.totals(mine) == AzureCostEmulator.totals(
            emu.truth(sub.scope, START, END)
        )

    # THEN every query went to that scope, each Daily one within one calendar month, and the
    # call count is the documented formula: per month and query type 1 discovery + 1 per
    # (subscription, charge type) pair, + 1 names query (for the unlisted one) + the listing
    # (3 listed subscriptions, in pages of two: 2 requests)
    queries = emu.query_requests
    assert {q.scope for q in queries} == {scope}
    for q in queries:
        period = q.body["timePeriod"]
        if q.body["dataset"].get("granularity") == "Daily":
            assert period["from"][:7] == period["to"][:7]
    pairs = {
        (r["usage_date"] // 100, r["query_type"], r["subscription_id"], r["charge_type"])
        for r in truth
    }
    months, discovery_per_month = 2, len(mapping.QUERY_TYPES)
    expected = months * discovery_per_month + len(pairs) + 1 + 2
    assert len(emu.requests) == expected == results[0].api_requests


def test_default_scopes_are_every_listed_subscription(emulator: Any, db: Path) -> None:
    # GIVEN three listed subscriptions (the list comes in pages of two) and no scopes given
    emu = emulator([PROD, DATA, EU])

    # WHEN the source is loaded without scopes
    results = run_load(emu, db)

    # THEN each listed subscription is its own load, rows named from the listing
    assert [r.scope for r in results] == [PROD.scope, DATA.scope, EU.scope]
    listing = [r for r in emu.requests if r.method == "GET"]
    assert [("$skiptoken" in r.query) for r in listing] == [False, True]
    rows = landed(db)
    assert {r["subscription_name"] for r in rows} == {
        "contoso-prod",
        "contoso-data",
        "contoso-prod-eu",
    }
    truth = [r for s in (PROD, DATA, EU) for r in emu.truth(s.scope, START, END)]
    assert AzureCostEmulator.totals(rows) == AzureCostEmulator.totals(truth)
    # ... and the ledger's requests add up to every request the emulator answered
    assert sum(r.api_requests for r in results) == len(emu.requests)


# ---------------------------------------------------------------------- headers, secrets


def test_every_request_carries_the_client_type_and_the_token(emulator: Any, db: Path) -> None:
    # GIVEN a loader with its own ClientType quota bucket
    emu = emulator([PROD, EU])
    credential = StaticTokenCredential(TOKEN)

    # WHEN it loads
    run_load(emu, db, client_type="finops-dashboard-test", credential=credential)

    # THEN every request named the bucket and carried the bearer token
    assert len(emu.requests) > 10
    assert {r.headers.get("clienttype") for r in emu.requests} == {"finops-dashboard-test"}
    assert {r.headers.get("authorization") for r in emu.requests} == {f"Bearer {TOKEN}"}
    # ... for the endpoint's own audience
    assert set(credential.scopes_asked) == {(f"{emu.url}/.default",)}


def test_secrets_never_reach_errors_ledger_or_logs(
    emulator: Any, db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a client secret in the environment and a service that echoes both the secret
    # and the bearer token in its error message
    secret = "fake-client-secret-Q8w3Zx"
    monkeypatch.setenv("AZURE_CLIENT_SECRET", secret)
    emu = emulator([PROD])
    emu.fail(400, times=-1, message=f"rejected Authorization: Bearer {TOKEN} (secret {secret})")

    # WHEN the load fails, with every logger at DEBUG (azure-core's request logging included)
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="azure.core.pipeline.policies.http_logging_policy")
    with pytest.raises(azure.AzureCostManagementError) as error:
        run_load(emu, db)

    # THEN the error, the ledger and the logs say HTTP 400 but hold neither secret
    message = str(error.value)
    assert "HTTP 400" in message and "rejected Authorization: Bearer ***" in message
    ledger_errors = " ".join(r["error"] or "" for r in ledger(db))
    assert "HTTP 400" in ledger_errors
    assert "Authorization" in caplog.text  # the request logging ran, and redacted it
    for text in (message, ledger_errors, caplog.text):
        assert TOKEN not in text
        assert secret not in text


def test_plain_http_is_refused_outside_loopback(db: Path) -> None:
    # GIVEN an http endpoint on a real host, WHEN loading, THEN it refuses before any request
    with pytest.raises(ValueError, match="plain http"):
        azure.load(
            db,
            START,
            END,
            credential=StaticTokenCredential(TOKEN),
            endpoint="http://management.azure.com",
        )
    assert not db.exists()


# ---------------------------------------------------------------------- restatement


def test_a_rerun_with_restated_amounts_replaces_the_window(emulator: Any, db: Path) -> None:
    # GIVEN a first load of the two-month window
    emu = emulator([PROD, EU])
    first = run_load(emu, db)
    first_rows = sum(r.row_count for r in first)

    # WHEN the service restates June by +5 % and the window is loaded again
    emu.restate(Decimal("1.05"), on_or_after=date(2026, 6, 1))
    second = run_load(emu, db)

    # THEN the warehouse holds the restated amounts once: replaced, never added
    rows = landed(db)
    truth = [r for s in (PROD, EU) for r in emu.truth(s.scope, START, END)]
    assert len(rows) == len(truth) == first_rows
    assert AzureCostEmulator.totals(rows) == AzureCostEmulator.totals(truth)
    assert [r.replaced_row_count for r in second] == [r.row_count for r in first]
    assert {r["_load_id"] for r in rows} == {r.load_id for r in second}


# ---------------------------------------------------------------------- the scheme (pure)


def test_discovery_and_names_answers_map_by_column_name() -> None:
    # GIVEN a discovery answer and a names answer as the REST API shapes them
    discovery = {
        "properties": {
            "nextLink": None,
            "columns": [
                {"name": "Cost", "type": "Number"},
                {"name": "SubscriptionId", "type": "String"},
                {"name": "ChargeType", "type": "String"},
                {"name": "Currency", "type": "String"},
            ],
            "rows": [
                [1200.5, PROD.subscription_id, "Usage", "USD"],
                [-40.25, PROD.subscription_id, "Refund", "USD"],
                [3.0, PROD.subscription_id, "Usage", "EUR"],
                [99.0, EU.subscription_id, "Usage", "EUR"],
            ],
        }
    }
    names = {
        "properties": {
            "columns": [
                {"name": "Cost", "type": "Number"},
                {"name": "SubscriptionName", "type": "String"},
                {"name": "SubscriptionId", "type": "String"},
                {"name": "Currency", "type": "String"},
            ],
            "rows": [[10.0, "contoso-prod", PROD.subscription_id.upper(), "USD"]],
        }
    }

    # WHEN they are read, THEN each (subscription, charge type) pair comes once, in order,
    # and names are keyed by the lower-cased subscription id
    assert mapping.discovered_pairs(discovery) == [
        (PROD.subscription_id, "Usage"),
        (PROD.subscription_id, "Refund"),
        (EU.subscription_id, "Usage"),
    ]
    assert mapping.subscription_names(names) == {PROD.subscription_id: "contoso-prod"}


@pytest.mark.parametrize(
    ("start", "end", "chunks"),
    [
        pytest.param(date(2026, 5, 1), date(2026, 7, 1), 2, id="two whole months"),
        pytest.param(date(2026, 5, 20), date(2026, 5, 21), 1, id="one day"),
        pytest.param(date(2025, 12, 15), date(2026, 1, 10), 2, id="across a year end"),
    ],
)
def test_windows_are_cut_at_month_boundaries(start: date, end: date, chunks: int) -> None:
    # GIVEN a window, WHEN cut, THEN the chunks tile it exactly, none spans two months
    cut = mapping.month_chunks(start, end)
    assert len(cut) == chunks
    assert cut[0][0] == start and cut[-1][1] == end
    assert all(a[1] == b[0] for a, b in itertools.pairwise(cut))
    assert all((hi - lo).days <= 31 and lo.month == (hi - date.resolution).month for lo, hi in cut)
