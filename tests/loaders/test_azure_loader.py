"""The Azure Cost Management loader: the real SDK over real HTTP against a local emulator.

Every test drives `loaders.azure_cost_management.load` (azure-mgmt-costmanagement, azure-core
pipeline, requests transport) against `tests/azure_emulator.py` on loopback and checks what
landed in a real DuckDB warehouse against the emulator's ground truth.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from azure_emulator import (
    COST_DETAILS_SUFFIX,
    QUERY_SUFFIX,
    RESERVATIONS_PATH,
    SAVINGS_PLANS_PATH,
    AzureCostEmulator,
    AzureSubscription,
    EmulatedBenefit,
    StaticTokenCredential,
    reservation_id,
    savings_plan_id,
)

from loaders import azure_cost_management as azure
from loaders.azure_cost_management import mapping
from loaders.azure_cost_management.changes import RECENT_DAYS

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

# An estate with commitments: OWNER bought two reservations and a savings plan (monthly
# reservation purchase, unused reservation and savings plan rows); SHARER's VMs use OWNER's VM
# reservation (shared scope) and it has no commitment charge type at all; BATCH runs spot VMs
# and buys from the Marketplace (a Purchase of no benefit); PLAIN pays as it goes.
VM_RESERVATION = EmulatedBenefit(
    reservation_id("5e0c4d1a-2b3f-4a6e-9d8c-7f1a2b3c4d5e", "8a7b6c5d-4e3f-4a2b-9c1d-0e9f8a7b6c5d"),
    "vm-d2s-eastus-3y",
    "Reservation",
    ("Virtual Machines",),
    share=Decimal("0.55"),
    term="P3Y",
    billing_plan="Monthly",
    start=date(2024, 3, 1),
    expiry=date(2027, 3, 1),
)
SQL_RESERVATION = EmulatedBenefit(
    reservation_id("1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e", "9f8e7d6c-5b4a-4392-8a1b-2c3d4e5f6a7b"),
    "sql-vcore-1y",
    "Reservation",
    ("SQL Database",),
    share=Decimal("0.4"),
    billing_plan="Upfront",
    start=date(2025, 10, 1),
    expiry=date(2026, 10, 1),
)
SAVINGS_PLAN = EmulatedBenefit(
    savings_plan_id("2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f", "3d4e5f6a-7b8c-4d9e-8f0a-1b2c3d4e5f6a"),
    "compute-sp-1y",
    "SavingsPlan",
    ("Virtual Machines",),
    share=Decimal("0.2"),
    billing_plan="Upfront",
    start=date(2026, 2, 1),
    expiry=date(2027, 2, 1),
)
OWNER = AzureSubscription(
    "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d",
    "contoso-platform",
    services=("Virtual Machines", "SQL Database", "Storage"),
    locations=("eastus",),
    charge_types=("Usage", "Purchase", "UnusedReservation", "UnusedSavingsPlan"),
    benefits=(VM_RESERVATION, SQL_RESERVATION, SAVINGS_PLAN),
)
SHARER = AzureSubscription(
    "b2c3d4e5-f6a7-4b8c-9d0e-1f2a3b4c5d6e",
    "contoso-apps",
    services=("Virtual Machines", "Storage"),
    locations=("eastus", "westeurope"),
    benefits=(dataclasses.replace(VM_RESERVATION, owner=False, share=Decimal("0.3")),),
)
BATCH = AzureSubscription(
    "c3d4e5f6-a7b8-4c9d-8e0f-2a3b4c5d6e7f",
    "contoso-batch",
    services=("Virtual Machines", "Storage"),
    charge_types=("Usage", "Purchase"),
    spot_services=("Virtual Machines",),
)
PLAIN = AzureSubscription(
    "d4e5f6a7-b8c9-4d0e-9f1a-3b4c5d6e7f8a", "contoso-web", charge_types=("Usage", "Tax")
)
COMMITMENT_ESTATE = [OWNER, SHARER, BATCH, PLAIN]


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
    # The Query API tests count its requests; the Cost Details reports have tests of their own.
    kwargs.setdefault("price_details", False)
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


def grouping(request: Any) -> list[str]:
    """The grouping dimensions of a recorded query request."""
    return [g["name"] for g in request.body["dataset"].get("grouping") or []]


def landed_table(db: Path, table: str, where: str = "true") -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(f"select * from raw.{table} where {where}")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def filtered(request: Any, dimension: str) -> list[str]:
    """The values a recorded query's filter pins `dimension` to ([] if it does not)."""
    found = request.body["dataset"].get("filter") or {}
    for part in found.get("and") or [found]:
        if part.get("dimensions", {}).get("name") == dimension:
            return part["dimensions"]["values"]
    return []


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
    detail = [r for r in emu.query_requests if grouping(r) == list(mapping.QUERY_GROUPING)]
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

    # THEN the ledger counts every HTTP request: 1 listing + 2 discovery + 6 detail pages + 1
    # pricing query (40 services x 31 days, one page; all OnDemand: no benefit query, no list)
    pricing = [r for r in emu.query_requests if grouping(r) == list(mapping.PRICING_GROUPING)]
    assert len(pricing) == 1
    assert results[0].api_requests == len(emu.requests) == 10
    assert [r["api_requests"] for r in ledger(db)] == [10]


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

    # THEN the data is complete, and the throttled attempt is counted as a request (listing,
    # 2 discovery, 2 detail, the pricing query, the retry)
    truth = emu.truth(EU.scope, date(2026, 6, 1), date(2026, 7, 1))
    assert AzureCostEmulator.totals(landed(db)) == AzureCostEmulator.totals(truth)
    assert results[0].api_requests == len(emu.requests) == 1 + 2 + 2 + 1 + 1
    # ... and the ledger says how many of them were refused (throttled) and sent again
    assert results[0].api_retries == 1
    assert [(r["api_requests"], r["api_retries"]) for r in ledger(db)] == [(7, 1)]


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
    # (3 listed subscriptions, in pages of two: 2 requests); and the commitment queries: per
    # month 1 pricing query per subscription with usage, 1 benefit query per pair of the
    # reservation PROD owns (its covered Usage, UnusedReservation, Purchase), + the two
    # benefits lists once (1 page each), which name the reservation (no names query)
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
    pricing = {(d // 100, sub) for d, sub, _, _, _ in emu.pricing_truth(scope, START, END)}
    benefit = {(k[0] // 100, k[1], k[2], k[4]) for k in emu.benefit_truth(scope, START, END)}
    assert (len(pricing), len(benefit), emu.list_requests()) == (6, 6, 2)
    expected = months * discovery_per_month + len(pairs) + 1 + 2 + len(pricing) + len(benefit) + 2
    assert len(emu.requests) == expected == results[0].api_requests


def test_default_scopes_are_every_listed_subscription(emulator: Any, db: Path) -> None:
    # GIVEN three listed subscriptions (the list comes in pages of two) and no scopes given
    emu = emulator([PROD, DATA, EU])

    # WHEN the source is loaded without scopes
    results = run_load(emu, db)

    # THEN each listed subscription is its own load, rows named from the listing
    assert [r.scope for r in results] == [PROD.scope, DATA.scope, EU.scope]
    listing = [r for r in emu.requests if r.method == "GET" and r.path == "/subscriptions"]
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


# ---------------------------------------------------------------------- commitments


def test_commitment_queries_are_made_only_where_needed_paged_and_counted(
    emulator: Any, db: Path
) -> None:
    # GIVEN an estate where only some subscriptions use reservations or a savings plan - one
    # of them (SHARER) only through a shared reservation, with no commitment charge type - and
    # benefits lists one item a page (two reservations: two pages)
    emu = emulator(COMMITMENT_ESTATE)

    # WHEN May and June are loaded, one scope per listed subscription (the default)
    results = run_load(emu, db)

    # THEN each month has one pricing query per subscription with usage, and nothing else
    queries = emu.query_requests
    pricing = {
        (q.body["timePeriod"]["from"][:7], filtered(q, "SubscriptionId")[0])
        for q in queries
        if grouping(q) == list(mapping.PRICING_GROUPING)
    }
    months = ("2026-05", "2026-06")
    assert pricing == {(m, s.subscription_id) for m in months for s in COMMITMENT_ESTATE}

    # THEN a benefit query only for the commitment charge types discovery found and for the
    # usage the pricing answer showed committed: none for PLAIN, SHARER's usage found through
    # its pricing answer alone, BATCH's Purchase pair (Marketplace) asked like any purchase
    benefit = [q for q in queries if grouping(q) == list(mapping.BENEFIT_GROUPING)]
    asked = {
        (
            q.body["timePeriod"]["from"][:7],
            q.body["type"],
            filtered(q, "SubscriptionId")[0],
            *filtered(q, "ChargeType"),
        )
        for q in benefit
    }
    per_month = {
        ("AmortizedCost", OWNER.subscription_id, "Usage"),
        ("AmortizedCost", OWNER.subscription_id, "UnusedReservation"),
        ("AmortizedCost", OWNER.subscription_id, "UnusedSavingsPlan"),
        ("ActualCost", OWNER.subscription_id, "Purchase"),
        ("AmortizedCost", SHARER.subscription_id, "Usage"),
        ("ActualCost", BATCH.subscription_id, "Purchase"),
    }
    assert asked == {(m, *key) for m in months for key in per_month}
    assert len(benefit) == len(asked)  # one page each, none asked twice
    usage_filters = {
        tuple(filtered(q, "PricingModel"))
        for q in benefit
        if filtered(q, "ChargeType") == ["Usage"]
    }
    assert usage_filters == {mapping.COMMITTED_PRICING_MODELS}

    # THEN the benefits lists were read once per load, every page (nextLink followed)
    lists = [(r.path, "$skiptoken" in r.query) for r in emu.requests if r.method == "GET"]
    assert [entry for entry in lists if entry[0] != "/subscriptions"] == [
        (RESERVATIONS_PATH, False),
        (RESERVATIONS_PATH, True),
        (SAVINGS_PLANS_PATH, False),
    ]
    assert {r.status for r in emu.requests} == {200}

    # THEN the requests add up to the documented arithmetic and the ledger counts them all:
    # per scope its own requests, the first scope's row also the two listings (2 + 3 pages)
    truth = [r for s in COMMITMENT_ESTATE for r in emu.truth(s.scope, START, END)]
    pairs = {
        (r["usage_date"] // 100, r["query_type"], r["subscription_id"], r["charge_type"])
        for r in truth
    }
    discovery = len(months) * len(mapping.QUERY_TYPES) * len(COMMITMENT_ESTATE)
    expected = 2 + discovery + len(pairs) + len(pricing) + len(asked) + 3
    assert len(emu.requests) == expected == sum(r.api_requests for r in results)
    own = {r.scope: sum(q.path.startswith(r.scope + "/") for q in emu.requests) for r in results}
    assert [r.api_requests for r in results] == [
        own[r.scope] + (2 + 3 if index == 0 else 0) for index, r in enumerate(results)
    ]
    # ... and a scope without commitments costs one query a month more than before: 2
    # discovery + 3 detail (Usage billed and amortized, Tax) + 1 pricing
    assert own[PLAIN.scope] == len(months) * (2 + 3 + 1)


def test_landed_commitment_rows_equal_the_dataset_to_the_cent(emulator: Any, db: Path) -> None:
    # GIVEN the estate behind one billing account, answered 40 rows a page
    ids = [s.subscription_id for s in COMMITMENT_ESTATE]
    scope = f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}"
    emu = emulator(COMMITMENT_ESTATE, billing_accounts={BILLING_ACCOUNT: ids}, page_rows=40)

    # WHEN the window is loaded at the billing account
    run_load(emu, db, scopes=[scope])

    # THEN the pricing and benefit queries were followed through their pages
    paged = [
        q for q in emu.query_requests if "$skiptoken" in q.query
        and grouping(q) in (list(mapping.PRICING_GROUPING), list(mapping.BENEFIT_GROUPING))
    ]  # fmt: skip
    assert len(paged) > 10

    # THEN per day x subscription x service x pricing model the landed rows are the dataset's
    rows = landed_table(db, "azure_commitment_costs")
    by_pricing = {
        (
            r["usage_date"],
            r["subscription_id"],
            r["service_name"],
            r["pricing_model"],
            r["currency"],
        ): r["cost"]
        for r in rows
        if r["breakdown"] == "PricingModel"
    }
    assert by_pricing == emu.pricing_truth(scope, START, END)
    assert {key[3] for key in by_pricing} == {"OnDemand", "Reservation", "SavingsPlan", "Spot"}

    # THEN per day x benefit (x subscription x service x charge type) they are the dataset's,
    # a Marketplace purchase kept with no benefit
    by_benefit = {
        (
            r["usage_date"], r["query_type"], r["subscription_id"], r["service_name"],
            r["charge_type"], r["benefit_id"] or "", r["currency"],
        ): r["cost"]
        for r in rows
        if r["breakdown"] == "BenefitId"
    }  # fmt: skip
    assert by_benefit == emu.benefit_truth(scope, START, END)
    assert any(key[5] == "" and key[4] == "Purchase" for key in by_benefit)

    # ... so used and unused per benefit are the dataset's to the cent
    def per_benefit(items: Any) -> dict[tuple[str, str], Decimal]:
        sums: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for key, cost in items:
            if key[4] != "Purchase":
                sums[(key[5], "used" if key[4] == "Usage" else "unused")] += cost
        return {k: v.quantize(Decimal("0.01")) for k, v in sums.items()}

    expected = per_benefit(emu.benefit_truth(scope, START, END).items())
    assert per_benefit(by_benefit.items()) == expected
    assert set(expected) == {
        (VM_RESERVATION.benefit_id, "used"),
        (VM_RESERVATION.benefit_id, "unused"),
        (SQL_RESERVATION.benefit_id, "used"),
        (SAVINGS_PLAN.benefit_id, "used"),
        (SAVINGS_PLAN.benefit_id, "unused"),
    }
    assert expected[(VM_RESERVATION.benefit_id, "used")] > Decimal("10000")

    # THEN every benefit row is named from the lists (their reservation ids spell the
    # provider in lower case), and the subscriptions are named
    names = {b.benefit_id: b.name for b in emu.listed_benefits()}
    assert {(r["benefit_id"], r["benefit_name"]) for r in rows if r["benefit_id"]} == set(
        names.items()
    )
    assert {r["subscription_name"] for r in rows} == {s.name for s in COMMITMENT_ESTATE}

    # THEN the terms of the three benefits landed with the costs, as of the window's last day
    terms = {r["benefit_id"].lower(): r for r in landed_table(db, "azure_commitments")}
    assert set(terms) == {b.benefit_id.lower() for b in emu.listed_benefits()}
    for benefit in emu.listed_benefits():
        row = terms[benefit.benefit_id.lower()]
        assert (row["benefit_kind"], row["display_name"], row["term"]) == (
            benefit.kind,
            benefit.name,
            benefit.term,
        )
        assert row["expiry_time"].date() == benefit.expiry
        assert row["benefit_start_time"].date() == benefit.start
        assert (row["as_of_date"], row["_scope"]) == (date(2026, 6, 30), scope)
    assert terms[VM_RESERVATION.benefit_id.lower()]["billing_plan"] == "Monthly"
    assert terms[SAVINGS_PLAN.benefit_id.lower()]["billing_plan"] is None  # paid upfront
    assert terms[SAVINGS_PLAN.benefit_id.lower()]["commitment_amount"] == Decimal("4.5")

    # THEN the three tables are one load: the same load id, one ledger row
    load_ids = {
        r["_load_id"]
        for table in ("azure_cost_management", "azure_commitment_costs", "azure_commitments")
        for r in landed_table(db, table)
    }
    assert load_ids == {r["load_id"] for r in ledger(db)} and len(load_ids) == 1


def test_a_403_on_the_reservations_list_lands_the_costs_and_says_so(
    emulator: Any, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a credential without the Reservations Reader role: the reservations list answers
    # HTTP 403 (the savings plans list and the Query API answer)
    emu = emulator([OWNER, SHARER])
    emu.fail(
        403,
        times=-1,
        path_contains=RESERVATIONS_PATH,
        message=f"The client with token Bearer {TOKEN} does not have authorization to perform "
        "action 'Microsoft.Capacity/reservations/read'",
    )

    # WHEN the window is loaded
    caplog.set_level(logging.INFO, logger="finops.loaders.azure_cost_management")
    first = run_load(emu, db)

    # THEN the costs and the commitment rows landed in full, named by the Query API instead
    truth = [r for s in (OWNER, SHARER) for r in emu.truth(s.scope, START, END)]
    assert sorted(map(raw_key, landed(db))) == sorted(map(raw_key, truth))
    benefit_rows = landed_table(db, "azure_commitment_costs", "benefit_id is not null")
    names = {b.benefit_id: b.name for b in emu.listed_benefits()}
    assert {(r["benefit_id"], r["benefit_name"]) for r in benefit_rows} == set(names.items())
    names_queries = [
        q for q in emu.query_requests if grouping(q) == list(mapping.BENEFIT_NAMES_GROUPING)
    ]
    assert sorted(q.scope for q in names_queries) == [OWNER.scope, SHARER.scope]
    assert [r["status"] for r in ledger(db)] == ["succeeded", "succeeded"]
    assert sum(r.api_requests for r in first) == len(emu.requests)

    # THEN the log says what failed, what to do and what it means - without the token
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "HTTP 403" in warning[0] and RESERVATIONS_PATH in warning[0]
    assert (
        "Reservations Reader" in warning[0] and "costs and commitment rows still land" in warning[0]
    )
    assert TOKEN not in caplog.text

    # THEN no terms landed (one list unread: nothing replaced)
    assert landed_table(db, "azure_commitments") == []

    # WHEN the role is granted and the window loaded again, THEN the terms land
    emu.clear_faults()
    second = run_load(emu, db)
    terms = landed_table(db, "azure_commitments")
    assert {(r["benefit_id"].lower(), r["_load_id"]) for r in terms} == {
        (VM_RESERVATION.benefit_id.lower(), second[0].load_id),
        (SQL_RESERVATION.benefit_id.lower(), second[0].load_id),
        (SAVINGS_PLAN.benefit_id.lower(), second[0].load_id),
        (VM_RESERVATION.benefit_id.lower(), second[1].load_id),  # SHARER's rows name it too
    }

    # WHEN the role is lost again, THEN the next load keeps those terms and lands the costs
    emu.fail(403, times=-1, path_contains=RESERVATIONS_PATH)
    emu.restate(Decimal("1.02"), on_or_after=date(2026, 6, 1))
    third = run_load(emu, db)
    assert landed_table(db, "azure_commitments") == terms
    truth = [r for s in (OWNER, SHARER) for r in emu.truth(s.scope, START, END)]
    assert AzureCostEmulator.totals(landed(db)) == AzureCostEmulator.totals(truth)
    assert {r["_load_id"] for r in landed(db)} == {r.load_id for r in third}


# ---------------------------------------------------------------------- price details

PRICED = dataclasses.replace(
    OWNER, price_factors=(Decimal("1.25"), Decimal("1.1"))
)  # list 25 %, negotiated 10 % above the row's cost
PRICED_EU = dataclasses.replace(EU, price_factors=(Decimal("1.5"), Decimal("1.2")))


def landed_prices(db: Path) -> dict[tuple, tuple]:
    return {
        (
            r["usage_date"], r["subscription_id"], r["service_name"], r["charge_type"],
            r["pricing_model"], r["benefit_id"], r["currency"],
        ): (r["list_cost"], r["contracted_cost"], r["effective_cost"])
        for r in landed_table(db, "azure_price_details")
    }  # fmt: skip


@pytest.mark.parametrize("file_format", ["MCA", "EA"])
def test_cost_details_reports_are_generated_polled_downloaded_and_land_with_the_costs(
    emulator: Any, db: Path, file_format: str
) -> None:
    # GIVEN two subscriptions whose usage has list and negotiated prices (one in EUR), a
    # Cost Details API that keeps a report pending for two polls, asks for 2 s before each,
    # and cuts a report into blobs of 400 CSV rows
    emu = emulator(
        [PRICED, PRICED_EU],
        cost_details_format=file_format,
        report_retry_after="2",
        report_pending_polls=2,
        report_blob_rows=400,
    )
    waits: list[float] = []

    # WHEN both are loaded with price details, two calendar months
    results = run_load(
        emu,
        db,
        scopes=[PRICED.scope, PRICED_EU.scope],
        price_details=True,
        sleep=waits.append,
        max_wait_s=30,
    )

    # THEN each scope's prices landed summed to the grain, to the last decimal place
    expected = {
        key: value
        for scope in (PRICED.scope, PRICED_EU.scope)
        for key, value in emu.price_truth(scope, START, END).items()
    }
    assert landed_prices(db) == expected
    assert sum(v[0] for v in expected.values()) > sum(v[2] for v in expected.values()) > 0
    # ... one AmortizedCost report per scope and month, inclusive end dates
    creates = emu.report_requests("create")
    assert [(r.path, r.body) for r in creates] == [
        (f"{scope}{COST_DETAILS_SUFFIX}", {"metric": "AmortizedCost", "timePeriod": period})
        for scope in (PRICED.scope, PRICED_EU.scope)
        for period in (
            {"start": "2026-05-01", "end": "2026-05-31"},
            {"start": "2026-06-01", "end": "2026-06-30"},
        )
    ]
    # ... each polled until complete, waiting the Retry-After each time (3 waits a report)
    assert len(emu.report_requests("poll")) == 3 * 4
    assert waits == [2.0] * 3 * 4
    # ... its blobs downloaded without the bearer token or the ClientType (a SAS URL)
    blobs = emu.report_requests("blob")
    assert len(blobs) > 4  # more than one blob a report
    assert {r.headers.get("authorization") for r in blobs} == {None}
    assert {r.headers.get("clienttype") for r in blobs} == {None}
    assert {r.status for r in emu.requests} == {200, 202}
    # ... landed with the costs in one transaction: the price rows carry their load ids, and
    # the ledger counts every request, blobs included
    by_scope = {r.scope: r.load_id for r in results}
    with duckdb.connect(str(db), read_only=True) as con:
        loads = con.execute(
            "select distinct _scope, _load_id from raw.azure_price_details order by 1"
        ).fetchall()
    assert loads == sorted(by_scope.items())
    assert sum(r.api_requests for r in results) == len(emu.requests)


def test_a_403_on_cost_details_lands_the_costs_without_prices_and_names_the_role(
    emulator: Any, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a window landed with its prices
    emu = emulator([PRICED])
    run_load(emu, db, price_details=True)
    assert landed_prices(db)

    # WHEN the credential loses the role: generateCostDetailsReport answers HTTP 403
    emu.fail(
        403,
        times=-1,
        path_contains=COST_DETAILS_SUFFIX,
        message=f"The client with token Bearer {TOKEN} does not have authorization to perform "
        "action 'Microsoft.CostManagement/generateCostDetailsReport/action'",
    )
    emu.restate(Decimal("1.02"), on_or_after=date(2026, 6, 1))
    caplog.set_level(logging.INFO, logger="finops.loaders.azure_cost_management")
    before, creates = len(emu.requests), len(emu.report_requests("create"))
    results = run_load(emu, db, price_details=True)

    # THEN the restated costs landed in full, and the window has no prices (none of the
    # earlier load's left beside costs they may no longer describe)
    truth = emu.truth(PRICED.scope, START, END)
    assert sorted(map(raw_key, landed(db))) == sorted(map(raw_key, truth))
    assert landed_prices(db) == {}
    assert [r["status"] for r in ledger(db)] == ["succeeded", "succeeded"]
    # ... after one refused request (no retry of a 403), counted on the ledger row
    assert len(emu.report_requests("create")) == creates + 1
    assert results[0].api_requests == len(emu.requests) - before
    # ... and the log says what failed at which scope and which role is missing, no token
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "HTTP 403" in warning[0] and PRICED.scope in warning[0]
    assert "Cost Management Reader" in warning[0] and "without list and contracted" in warning[0]
    assert TOKEN not in caplog.text


def test_reports_that_would_wait_beyond_the_budget_give_way_to_the_queries(
    emulator: Any, db: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN two subscriptions landed with their prices
    emu = emulator([PRICED, PLAIN])
    run_load(emu, db, price_details=True)

    # WHEN the last days are restated and the Cost Details API asks for 10 minutes per report,
    # beyond the 10 s the load may wait
    emu.report_retry_after = "600"
    emu.restate(Decimal("1.02"), on_or_after=date(2026, 6, 20))
    caplog.set_level(logging.INFO, logger="finops.loaders.azure_cost_management")
    creates = len(emu.report_requests("create"))
    run_load(emu, db, price_details=True, max_wait_s=10)

    # THEN the load succeeded: the changed cells came from the Query API, the costs equal the
    # source, and the window has no prices (none of the earlier load's beside restated costs)
    for sub in (PRICED, PLAIN):
        truth = emu.truth(sub.scope, START, END)
        assert sorted(map(raw_key, landed(db, f"subscription_id = '{sub.subscription_id}'"))) == (
            sorted(map(raw_key, truth))
        )
    assert landed_prices(db) == {}
    assert [r["status"] for r in ledger(db)] == ["succeeded"] * 4
    # ... after one report given up: the second scope was not asked for one
    assert len(emu.report_requests("create")) == creates + 1
    warning = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warning) == 1
    assert "FINOPS_AZURE_MAX_WAIT_SECONDS" in warning[0] and "asked of the Query API" in warning[0]


def test_a_failed_report_download_fails_the_load_naming_scope_and_period(
    emulator: Any, db: Path
) -> None:
    # GIVEN a report whose blob storage keeps failing
    emu = emulator([PRICED])
    emu.fail(500, times=-1, path_contains="/blobs/")

    # WHEN the window is loaded with price details
    with pytest.raises(azure.AzureCostManagementError) as error:
        run_load(emu, db, price_details=True, max_wait_s=0)

    # THEN the error names the scope, the month and the blob - never its SAS signature -
    # and nothing of the run landed
    message = str(error.value)
    assert f"cost details report of {PRICED.scope} for 2026-05-01..2026-05-31" in message
    assert "blob 1 of 1" in message and "HTTP 500" in message
    assert emu.sas_signature not in message
    assert "Nothing of this run was landed" in message
    assert landed(db) == [] and landed_prices(db) == {}
    assert [r["status"] for r in ledger(db)] == ["failed"]


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


# ---------------------------------------------------------------------- tags (issue #18)

# TEAMS tags its VMs 'Team: web, env: prod' and its storage 'team: data' with a key-only
# 'env' (Azure tag keys in any case); SHARED (EUR) tags its Log Analytics 'TEAM' key-only.
# Each service's rows are 70 % tagged, the rest and every other service untagged.
TEAMS = AzureSubscription(
    "4e5f6a7b-8c9d-4e0f-a1b2-c3d4e5f6a7b8",
    "contoso-teams",
    charge_types=("Usage", "Purchase", "Refund"),
    tags={
        "Virtual Machines": {"Team": "web", "env": "prod"},
        "Storage": {"team": "data", "env": ""},
    },
)
SHARED = AzureSubscription(
    "5f6a7b8c-9d0e-4f1a-b2c3-d4e5f6a7b8c9",
    "contoso-shared",
    currency="EUR",
    services=("Storage", "Log Analytics"),
    charge_types=("Usage", "Tax"),
    tags={"Log Analytics": {"TEAM": ""}},
)
TAG_KEYS = ("team", "env")


def is_tag_query(request: Any) -> bool:
    return any(g.get("type") == "TagKey" for g in request.body["dataset"].get("grouping") or [])


def by_day_subscription_service(rows: list[dict[str, Any]]) -> dict[tuple, Decimal]:
    """Cost per (day, query type, subscription, service, currency)."""
    sums: dict[tuple, Decimal] = defaultdict(Decimal)
    for r in rows:
        key = (
            r["usage_date"], r["query_type"], r["subscription_id"], r["service_name"],
            r["currency"],
        )  # fmt: skip
        sums[key] += Decimal(r["cost"])
    return dict(sums)


def test_tag_queries_one_per_key_subscription_month_and_type_land_with_the_costs(
    emulator: Any, db: Path, tmp_path: Path
) -> None:
    # GIVEN a billing account over two subscriptions with tagged resources, and the same
    # estate loaded once without allocation keys (the baseline)
    scope = f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}"
    accounts = {BILLING_ACCOUNT: [TEAMS.subscription_id, SHARED.subscription_id]}
    baseline = emulator([TEAMS, SHARED], billing_accounts=accounts)
    run_load(baseline, tmp_path / "baseline.duckdb", scopes=[scope])

    # WHEN May and June are loaded with the keys 'team' and 'env'
    emu = emulator([TEAMS, SHARED], billing_accounts=accounts)
    results = run_load(emu, db, scopes=[scope], allocation_tags=TAG_KEYS)

    # THEN one tag query per month, query type, subscription and key - grouped by the tag and
    # ServiceName (two groupings, the API's limit), the subscription pinned by the filter
    tag_queries = [q for q in emu.query_requests if is_tag_query(q)]
    asked = [
        (
            q.body["timePeriod"]["from"][:7],
            q.body["type"],
            *filtered(q, "SubscriptionId"),
            q.body["dataset"]["grouping"][0]["name"],
        )
        for q in tag_queries
    ]
    assert sorted(asked) == sorted(
        itertools.product(
            ("2026-05", "2026-06"),
            mapping.QUERY_TYPES,
            (TEAMS.subscription_id, SHARED.subscription_id),
            TAG_KEYS,
        )
    )
    assert {json_groups(q) for q in tag_queries} == {
        (("TagKey", key), ("Dimension", "ServiceName")) for key in TAG_KEYS
    }
    assert all(q.body["dataset"]["granularity"] == "Daily" for q in tag_queries)
    assert not any(is_tag_query(q) for q in baseline.query_requests)

    # THEN they are all the requests the keys added, and the ledger counts them
    assert len(emu.requests) == len(baseline.requests) + 16
    assert results[0].api_requests == len(emu.requests)

    # THEN the tag rows landed in the costs' load: one ledger row, one load id
    tags = landed_table(db, "azure_cost_management_tags")
    costs = landed(db)
    assert {r["_load_id"] for r in tags} == {r["_load_id"] for r in costs} == {results[0].load_id}
    assert [r["raw_table"] for r in ledger(db)] == ["raw.azure_cost_management"]
    assert landed_table(tmp_path / "baseline.duckdb", "azure_cost_management_tags") == []

    # THEN per key, the tag rows of a day x subscription x service sum to its cost rows (all
    # locations and charge types), tagged and untagged together
    for key in TAG_KEYS:
        mine = [r for r in tags if r["allocation_key"] == key]
        assert by_day_subscription_service(mine) == by_day_subscription_service(costs)

    # THEN each value got its cost, keys matched in any case: the configured spelling in
    # allocation_key, the answered one in tag_key; untagged rows have no key and no value
    for key in TAG_KEYS:
        got = {
            (
                r["usage_date"], r["query_type"], r["subscription_id"], r["service_name"],
                r["tag_value"], r["currency"],
            ): r["cost"]
            for r in tags
            if r["allocation_key"] == key
        }  # fmt: skip
        assert got == emu.tag_truth(scope, START, END, key)
    spelt = {(r["allocation_key"], r["tag_key"], r["tag_value"]) for r in tags}
    assert spelt == {
        ("team", "Team", "web"),
        ("team", "team", "data"),
        ("team", "TEAM", ""),
        ("team", None, None),
        ("env", "env", "prod"),
        ("env", "env", ""),
        ("env", None, None),
    }
    # ... 70 % of the VMs' amortized cost is the web team's, to the cent
    vms = [
        r
        for r in costs
        if r["service_name"] == "Virtual Machines" and r["query_type"] == "AmortizedCost"
    ]
    web = [r for r in tags if r["tag_value"] == "web" and r["query_type"] == "AmortizedCost"]
    assert sum(r["cost"] for r in web).quantize(Decimal("0.01")) == (
        sum(r["cost"] for r in vms) * Decimal("0.7")
    ).quantize(Decimal("0.01"))


def json_groups(request: Any) -> tuple:
    return tuple((g["type"], g["name"]) for g in request.body["dataset"]["grouping"])


def test_every_page_of_a_tag_query_is_followed_and_lands(emulator: Any, db: Path) -> None:
    # GIVEN one subscription answered 40 rows a page: June's tag rows of one key (30 days x 5
    # service / value groups = 150 rows) take 4 pages per query type
    emu = emulator([TEAMS], page_rows=40)

    # WHEN June is loaded with the key 'team'
    results = run_load(
        emu, db, start=date(2026, 6, 1), end=date(2026, 7, 1), allocation_tags=("team",)
    )

    # THEN each tag query followed its nextLinks with the same body
    tag_queries = [q for q in emu.query_requests if is_tag_query(q)]
    for query_type in mapping.QUERY_TYPES:
        pages = [q for q in tag_queries if q.body["type"] == query_type]
        assert ["$skiptoken" in p.query for p in pages] == [False, True, True, True]
        assert all(p.body == pages[0].body and p.status == 200 for p in pages)

    # THEN every row landed: the tag rows equal the truth and sum to the costs
    tags = landed_table(db, "azure_cost_management_tags")
    assert len(tags) == 2 * 150
    got = {
        (
            r["usage_date"], r["query_type"], r["subscription_id"], r["service_name"],
            r["tag_value"], r["currency"],
        ): r["cost"]
        for r in tags
    }  # fmt: skip
    assert got == emu.tag_truth(TEAMS.scope, date(2026, 6, 1), date(2026, 7, 1), "team")
    assert by_day_subscription_service(tags) == by_day_subscription_service(landed(db))
    # ... and every page is a counted request
    assert results[0].api_requests == len(emu.requests)


def test_without_keys_no_tag_query_and_the_window_keeps_no_tag_rows(
    emulator: Any, db: Path
) -> None:
    # GIVEN a window loaded with the key 'team'
    emu = emulator([TEAMS])
    run_load(emu, db, scopes=[TEAMS.scope], allocation_tags=("team",))
    assert landed_table(db, "azure_cost_management_tags")
    before = len(emu.requests)

    # WHEN it is loaded again with no allocation key configured
    results = run_load(emu, db, scopes=[TEAMS.scope])

    # THEN no tag query was made, and the window holds no tag rows of the earlier keys
    second = emu.requests[before:]
    assert not any(is_tag_query(q) for q in second if q.is_query)
    assert results[0].api_requests == len(second)
    assert landed_table(db, "azure_cost_management_tags") == []
    assert AzureCostEmulator.totals(landed(db)) == AzureCostEmulator.totals(
        emu.truth(TEAMS.scope, START, END)
    )


# ---------------------------------------------------------------------- change detection

CHANGE_TABLES = (
    "azure_cost_management",
    "azure_commitment_costs",
    "azure_cost_management_tags",
    "azure_price_details",
    "azure_commitments",
)


def table_rows(db: Path, table: str) -> list[tuple]:
    """Every row of a raw table, its load columns left out, sorted."""
    from loaders import registry

    columns = ", ".join(name for name, _, _ in registry.raw_tables()[table].columns)
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(f"select {columns} from raw.{table} order by all").fetchall()


def refund(emu: AzureCostEmulator, sub: AzureSubscription, day: date, cost: str) -> None:
    """A refund of `day` in `sub`, in both query types (a copy of one of its Usage rows)."""
    usage_date = int(day.strftime("%Y%m%d"))
    for query_type in mapping.QUERY_TYPES:
        row = next(
            r
            for r in emu.rows
            if r["usage_date"] == usage_date
            and r["query_type"] == query_type
            and r["subscription_id"] == sub.subscription_id
            and r["charge_type"] == "Usage"
        )
        emu.rows.append(
            {
                **row,
                "charge_type": "Refund",
                "cost": Decimal(cost),
                "pricing_model": "OnDemand",
                "benefit_id": "",
                "benefit_name": "",
                "tags": {},
            }
        )


def detail_periods(requests: list[Any]) -> set[tuple[str, str]]:
    """(from, to) days of the detail queries (grouped by ServiceName x ResourceLocation)."""
    return {
        (q.body["timePeriod"]["from"][:10], q.body["timePeriod"]["to"][:10])
        for q in requests
        if q.is_query and grouping(q) == list(mapping.QUERY_GROUPING)
    }


@pytest.mark.parametrize(
    ("from_reports", "window_check"),
    [(False, False), (True, False), (True, True)],
    ids=["queries", "reports", "window-check"],
)
def test_a_daily_run_asks_only_for_what_changed_and_lands_what_a_full_reload_lands(
    emulator: Any, db: Path, tmp_path: Path, from_reports: bool, window_check: bool
) -> None:
    # GIVEN subscriptions with reservations, a savings plan, spot usage, taxes, tags and EUR
    # costs, loaded with two allocation keys and prices by the run of 2026-06-29, the changed
    # cells' details asked of the Query API or read from Cost Details reports, with or
    # without the window check first
    emu = emulator([*COMMITMENT_ESTATE, TEAMS, SHARED])
    first_end, end = date(2026, 6, 29), date(2026, 6, 30)
    options = {
        "allocation_tags": TAG_KEYS,
        "price_details": True,
        "details_from_reports": from_reports,
        "window_check": window_check,
    }
    run_load(emu, db, end=first_end, **options)

    # WHEN Azure restates the last 5 days (+3 %), a refund lands 12 days back, the next day
    # arrives, and the run of 2026-06-30 reloads its window
    emu.restate(Decimal("1.03"), on_or_after=date(2026, 6, 24))
    refund(emu, PLAIN, date(2026, 6, 17), "-250.5")
    emu.requests.clear()
    daily = run_load(emu, db, end=end, **options)
    asked = list(emu.requests)

    # AND a full reload of the same window into another warehouse (change detection off)
    emu.requests.clear()
    full_db = tmp_path / "full.duckdb"
    full = run_load(emu, full_db, end=end, change_detection=False, **options)

    # THEN both warehouses hold the same rows in every table, to the last decimal
    for table in CHANGE_TABLES:
        rows = table_rows(db, table)
        assert rows == table_rows(full_db, table), table
        assert rows, table
    # ... the refund among them
    plain_refunds = f"charge_type = 'Refund' and subscription_id = '{PLAIN.subscription_id}'"
    assert AzureCostEmulator.totals(landed(db, plain_refunds)) == {
        ("ActualCost", "USD"): Decimal("-250.5"),
        ("AmortizedCost", "USD"): Decimal("-250.5"),
    }
    # ... for fewer requests than the full reload (6 of its 30 days of June changed here, in
    # every subscription; the bench measures the usual day: bench/api_requests.py)
    assert sum(r.api_requests for r in daily) < sum(r.api_requests for r in full)
    # ... May only checked by its totals queries; the detail queries only over the changed
    # days: the refund's, the restated ones and the new one
    assert not [q for q in asked if q.is_query and q.body["timePeriod"]["from"] < "2026-06"
                and grouping(q) != list(mapping.DISCOVERY_GROUPING)]  # fmt: skip
    periods = detail_periods(asked)
    if from_reports:
        # ... no detail, pricing or benefit query at all: the reports answered them
        breakdowns = {"ResourceLocation", "PricingModel", "BenefitId"}
        assert not [q for q in asked if q.is_query and breakdowns & set(grouping(q))]
    else:
        assert periods and periods <= {
            ("2026-06-17", "2026-06-17"), ("2026-06-24", "2026-06-29"),
            ("2026-06-17", "2026-06-29"),
        }  # fmt: skip
    # ... and each subscription's June cost details report over its changed days only (an
    # ActualCost one beside it for the details from reports); with the window check, whose
    # window totals differ here (days before the recent ones changed), the recent days'
    # reports first and then those of the changed days before them
    reports = [
        (r.path[: -len(COST_DETAILS_SUFFIX)], r.body["metric"], r.body["timePeriod"]["start"],
         r.body["timePeriod"]["end"])
        for r in asked
        if r.method == "POST" and r.path.endswith(COST_DETAILS_SUFFIX)
    ]  # fmt: skip
    metrics = mapping.QUERY_TYPES if from_reports else ("AmortizedCost",)
    scopes = [s.scope for s in (*COMMITMENT_ESTATE, TEAMS, SHARED)]
    if window_check:
        # the last RECENT_DAYS stored days and the new one: 2026-06-25 to 06-29
        recent = first_end - timedelta(days=RECENT_DAYS)
        assert sorted(reports) == sorted(
            (scope, metric, lo, hi)
            for scope in scopes
            for metric in metrics
            for lo, hi in (
                (recent.isoformat(), "2026-06-29"),
                (
                    "2026-06-17" if scope == PLAIN.scope else "2026-06-24",
                    (recent - timedelta(days=1)).isoformat(),
                ),
            )
        )
        # ... the window totals queries first: one a query type over the whole window
        window = [q for q in asked if q.is_query and "granularity" not in q.body["dataset"]]
        assert {(q.body["timePeriod"]["from"][:10], q.body["timePeriod"]["to"][:10])
                for q in window} == {("2026-05-01", "2026-06-29")}  # fmt: skip
        assert len(window) == len(scopes) * len(mapping.QUERY_TYPES)
    else:
        first = {"start": "2026-06-24", "end": "2026-06-29"}
        assert sorted(reports) == sorted(
            (scope, metric, "2026-06-17" if scope == PLAIN.scope else first["start"], first["end"])
            for scope in scopes
            for metric in metrics
        )

    # WHEN the next run finds nothing moved
    emu.requests.clear()
    again = run_load(emu, db, end=end, **options)
    # THEN the totals queries alone told it so (one per scope, month and query type; with the
    # window check one per scope and query type), and the warehouse still equals the full
    # reload
    queries = [q for q in emu.requests if q.is_query]
    assert {tuple(grouping(q)) for q in queries} == {mapping.DISCOVERY_GROUPING}
    if window_check:
        assert len(queries) == len(again) * len(mapping.QUERY_TYPES)
        assert not [q for q in queries if "granularity" in q.body["dataset"]]
    else:
        assert len(queries) == len(again) * 2 * len(mapping.QUERY_TYPES)
    assert not emu.report_requests("create")
    for table in CHANGE_TABLES:
        assert table_rows(db, table) == table_rows(full_db, table), table


def window_and_daily_queries(requests: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    """The window totals queries (no granularity, the discovery grouping), the Daily totals
    queries (the same grouping, Daily) and the rest of the recorded queries."""
    queries = [q for q in requests if q.is_query]
    totals = [q for q in queries if grouping(q) == list(mapping.DISCOVERY_GROUPING)]
    window = [q for q in totals if "granularity" not in q.body["dataset"]]
    daily = [q for q in totals if q not in window]
    return window, daily, [q for q in queries if q not in totals]


def test_the_window_check_asks_one_query_a_type_while_only_the_recent_days_change(
    emulator: Any, db: Path, tmp_path: Path
) -> None:
    # GIVEN subscriptions with reservations, a savings plan, spot usage, taxes, tags and EUR
    # costs, loaded with an allocation key and prices by the run of 2026-06-29 (the window
    # check is on by default, the details come from reports)
    estate = [*COMMITMENT_ESTATE, TEAMS, SHARED]
    scopes = [s.scope for s in estate]
    emu = emulator(estate)
    options = {"allocation_tags": ("team",), "price_details": True}
    run_load(emu, db, end=date(2026, 6, 29), **options)

    def equals_a_full_reload(end: date, name: str, reloaded: str | None = None) -> None:
        """`db` equals a full reload of the emulator as it is (or the one named `reloaded`,
        of the same source state)."""
        full_db = tmp_path / f"{reloaded or name}.duckdb"
        if reloaded is None:
            run_load(emu, full_db, end=end, change_detection=False, **options)
        for table in CHANGE_TABLES:
            rows = table_rows(db, table)
            assert rows == table_rows(full_db, table), (name, table)
            assert rows, (name, table)

    # WHEN the next day arrives and Azure restates the two days before it (+3 %): late usage
    emu.restate(Decimal("1.03"), on_or_after=date(2026, 6, 27))
    emu.requests.clear()
    run_load(emu, db, end=date(2026, 6, 30), **options)

    # THEN each scope asked one window totals query per query type, over the whole window,
    # no Daily totals query and no detail query: the restated and new days came from one
    # report per query type over the recent days (the last RECENT_DAYS stored days and the
    # new one), and the tag queries of the days that changed
    window, daily, rest = window_and_daily_queries(emu.requests)
    assert len(window) == len(scopes) * len(mapping.QUERY_TYPES)
    assert {(q.body["timePeriod"]["from"][:10], q.body["timePeriod"]["to"][:10])
            for q in window} == {("2026-05-01", "2026-06-29")}  # fmt: skip
    assert daily == []
    assert rest and all(is_tag_query(q) for q in rest)
    assert {(q.body["timePeriod"]["from"][:10], q.body["timePeriod"]["to"][:10]) for q in rest} == {
        ("2026-06-27", "2026-06-29")
    }
    assert sorted(
        (r.path[: -len(COST_DETAILS_SUFFIX)], r.body["metric"], r.body["timePeriod"]["start"],
         r.body["timePeriod"]["end"])
        for r in emu.report_requests("create")
    ) == sorted(
        (scope, metric, (date(2026, 6, 29) - timedelta(days=RECENT_DAYS)).isoformat(),
         "2026-06-29")
        for scope in scopes
        for metric in mapping.QUERY_TYPES
    )  # fmt: skip
    # ... and the warehouse equals a full reload, restated days included
    equals_a_full_reload(date(2026, 6, 30), "restated")

    # WHEN the next day arrives but the reports lag: they leave it out
    emu.report_stale_days = {20260630}
    emu.requests.clear()
    run_load(emu, db, end=END, **options)

    # THEN the window totals did not add up, so the Daily totals queries ran (per scope two
    # months x two query types), the new day's cells the reports lacked were asked of the
    # Query API, no report was asked twice, and the warehouse equals a full reload
    window, daily, rest = window_and_daily_queries(emu.requests)
    assert len(window) == len(scopes) * len(mapping.QUERY_TYPES)
    assert len(daily) == len(scopes) * 2 * len(mapping.QUERY_TYPES)
    details = [q for q in rest if grouping(q) == list(mapping.QUERY_GROUPING)]
    assert details and {q.body["timePeriod"]["from"][:10] for q in details} == {"2026-06-30"}
    creates = [(r.path, r.body["metric"]) for r in emu.report_requests("create")]
    assert len(creates) == len(set(creates)) == len(scopes) * len(mapping.QUERY_TYPES)
    equals_a_full_reload(END, "lagging")

    # WHEN the reports catch up and the run is repeated: nothing changed
    emu.report_stale_days = set()
    emu.requests.clear()
    run_load(emu, db, end=END, **options)

    # THEN the window totals queries alone, and the reports of the recent days: 2026-06-30
    # had no prices yet (the lagging report left them out)
    window, daily, rest = window_and_daily_queries(emu.requests)
    assert len(window) == len(scopes) * len(mapping.QUERY_TYPES)
    assert daily == [] and rest == []
    assert {(r.body["metric"], r.body["timePeriod"]["end"])
            for r in emu.report_requests("create")} >= {("AmortizedCost", "2026-06-30")}  # fmt: skip
    equals_a_full_reload(END, "caught-up")

    # WHEN the run is repeated once more
    emu.requests.clear()
    run_load(emu, db, end=END, **options)

    # THEN the window totals equal the stored days' and every day is priced: no report
    window, daily, rest = window_and_daily_queries(emu.requests)
    assert len(window) == len(scopes) * len(mapping.QUERY_TYPES)
    assert daily == [] and rest == []
    assert not emu.report_requests("create")
    equals_a_full_reload(END, "again", reloaded="caught-up")  # nothing changed since

    # WHEN a refund lands 12 days back, older than the recent days
    refund(emu, PLAIN, date(2026, 6, 18), "-250.5")
    emu.requests.clear()
    run_load(emu, db, end=END, **options)

    # THEN the window totals of PLAIN differ: its Daily totals queries found the refund, and
    # the other scopes asked their window totals queries only
    window, daily, rest = window_and_daily_queries(emu.requests)
    assert len(window) == len(scopes) * len(mapping.QUERY_TYPES)
    assert {q.path[: q.path.lower().index("/providers/microsoft.costmanagement")]
            for q in daily} == {PLAIN.scope}  # fmt: skip
    plain_refunds = f"charge_type = 'Refund' and subscription_id = '{PLAIN.subscription_id}'"
    assert AzureCostEmulator.totals(landed(db, plain_refunds)) == {
        ("ActualCost", "USD"): Decimal("-250.5"),
        ("AmortizedCost", "USD"): Decimal("-250.5"),
    }
    equals_a_full_reload(END, "refund")


def test_at_a_billing_account_the_changes_come_from_two_reports_checked_against_the_totals(
    emulator: Any, db: Path, tmp_path: Path
) -> None:
    # GIVEN subscriptions with reservations, a savings plan, spot usage, taxes and EUR costs
    # behind one billing account, loaded there with prices by the run of 2026-06-29
    estate = [*COMMITMENT_ESTATE, TEAMS, SHARED]
    scope = f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}"
    ids = [s.subscription_id for s in estate]
    emu = emulator(estate, billing_accounts={BILLING_ACCOUNT: ids})
    # the Daily totals queries' story (the window check has a test of its own)
    options = {"scopes": [scope], "price_details": True, "window_check": False}
    run_load(emu, db, end=date(2026, 6, 29), **options)

    # WHEN the last 5 days are restated (+3 %), a refund lands 12 days back, the next day
    # arrives - and the reports lag: they leave out the restated 2026-06-26
    emu.restate(Decimal("1.03"), on_or_after=date(2026, 6, 24))
    refund(emu, PLAIN, date(2026, 6, 17), "-250.5")
    emu.report_stale_days = {20260626}
    emu.requests.clear()
    run_load(emu, db, end=date(2026, 6, 30), **options)
    asked = list(emu.requests)

    # THEN the warehouse equals a full reload of the window, to the last decimal: the asks the
    # stale reports could not answer (their sums differ from the totals) went to the Query API
    full_db = tmp_path / "full.duckdb"
    run_load(emu, full_db, end=date(2026, 6, 30), change_detection=False, **options)
    for table in CHANGE_TABLES:
        assert table_rows(db, table) == table_rows(full_db, table), table
    creates = [r for r in asked if r.method == "POST" and r.path.endswith(COST_DETAILS_SUFFIX)]
    assert sorted(r.body["metric"] for r in creates) == sorted(mapping.QUERY_TYPES)
    periods = detail_periods(asked)
    assert periods and all(lo <= "2026-06-26" <= hi for lo, hi in periods)
    # ... and only those: the refund's ask (PLAIN's Refund on 2026-06-17) came from a report
    refunds = [q for q in asked if q.is_query and "'Refund'" in str(q.body).replace('"', "'")]
    assert refunds == []
    plain_refunds = f"charge_type = 'Refund' and subscription_id = '{PLAIN.subscription_id}'"
    assert AzureCostEmulator.totals(landed(db, plain_refunds)) == {
        ("ActualCost", "USD"): Decimal("-250.5"),
        ("AmortizedCost", "USD"): Decimal("-250.5"),
    }

    # WHEN the reports catch up and the next run finds one new day and nothing else moved
    emu.report_stale_days = set()
    emu.requests.clear()
    run_load(emu, db, end=END, **options)

    # THEN it asked the Query API its 4 totals queries (2 months x 2 query types) and nothing
    # else: the new day of every subscription came from one report per query type (the
    # AmortizedCost one from 2026-06-26, whose prices the stale report had left out)
    queries = [q for q in emu.requests if q.is_query]
    assert [grouping(q) for q in queries] == [list(mapping.DISCOVERY_GROUPING)] * 4
    assert {
        (r.body["metric"], r.body["timePeriod"]["start"], r.body["timePeriod"]["end"])
        for r in emu.requests
        if r.method == "POST" and r.path.endswith(COST_DETAILS_SUFFIX)
    } == {("ActualCost", "2026-06-30", "2026-06-30"), ("AmortizedCost", "2026-06-26", "2026-06-30")}
    full_db = tmp_path / "full-2.duckdb"
    run_load(emu, full_db, end=END, change_detection=False, **options)
    for table in CHANGE_TABLES:
        assert table_rows(db, table) == table_rows(full_db, table), table


def test_the_plan_of_a_run_is_what_the_run_asks_after_an_unchanged_day(
    emulator: Any,
    db: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from finops import cli
    from loaders.azure_cost_management.plan import plan_scope

    # GIVEN the commitment estate, tagged subscriptions among it, loaded with a key and
    # prices by the run of 2026-06-29
    emu = emulator([*COMMITMENT_ESTATE, TEAMS])
    first_end, end = date(2026, 6, 29), date(2026, 6, 30)
    options = {"allocation_tags": ("team",), "price_details": True}
    run_load(emu, db, end=first_end, **options)
    scopes = [s.scope for s in (*COMMITMENT_ESTATE, TEAMS)]

    # WHEN the run of 2026-06-30 is planned, on the command line and as figures
    emu.requests.clear()
    monkeypatch.setenv("FINOPS_HOME", str(db.parent))
    monkeypatch.setenv("FINOPS_DUCKDB_PATH", str(db))
    monkeypatch.setenv("FINOPS_SOURCES", "azure")
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", "team")
    monkeypatch.setenv("FINOPS_RESTATEMENT_DAYS", str((end - START).days))
    assert cli.main(["run", "--plan", "--date", end.isoformat()]) == 0
    printed = capsys.readouterr().out
    plans = {s: plan_scope(db, s, START, end, ("team",)) for s in scopes}

    # THEN nothing was asked of Azure, and the plan says what the run will ask
    assert emu.requests == [] and emu.token_requests == []
    for scope, plan in plans.items():
        assert f"{scope}: expected {plan.expected} requests for 1 new day(s)" in printed
        assert f"at most {plan.at_most} " in printed
        assert plan.expected < plan.at_most
    # ... and what its subscription scopes' totals checks cost against one billing scope's
    # (two months, two query types)
    assert (
        f"the {len(scopes)} subscription scopes ask {len(scopes) * 2} window totals queries a "
        "run (2 each: one a query type)"
    ) in printed
    assert "would ask 2 for all of them" in printed

    # WHEN the day arrives with nothing else changed and the run loads it
    results = run_load(emu, db, end=end, **options)

    # THEN each scope asked what its plan said (the first scope's row also counts the lists)
    asked = {r.scope: r.api_requests for r in results}
    reports = sum(len(emu.report_requests(kind)) for kind in ("create", "poll", "blob"))
    lists = sum(1 for r in emu.requests if not r.is_query) - reports
    assert lists > 0
    assert asked[scopes[0]] - lists == plans[scopes[0]].expected
    for scope in scopes[1:]:
        assert asked[scope] == plans[scope].expected, scope
