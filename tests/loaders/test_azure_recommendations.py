"""The Azure recommendation source (issue #19): the real loader, the real azure-core pipeline
of the Cost Management client, over loopback HTTP against tests/azure_recommendations_
emulator.py (Advisor and Consumption lists from the public REST reference), landed in a real
DuckDB warehouse; then the staging models built by dbt on that warehouse."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from azure_emulator import AzureSubscription, StaticTokenCredential
from azure_recommendations_emulator import (
    ADVISOR_SUFFIX,
    RESERVATION_SUFFIX,
    AzureRecommendationsEmulator,
)
from finops_testing import dbt

from loaders import azure_recommendations as recommendations
from loaders.azure_recommendations.source import AzureRecommendationsConfig
from loaders.registry import source

SNAPSHOT = date(2026, 7, 1)
TOKEN = "test-bearer-token-5d1e0c2b"
PROD = AzureSubscription("3f2c9a71-5b8e-4d21-9c4a-7e1f0b6d2a58", "contoso-prod")
DATA = AzureSubscription("c1b7e9f4-2a6d-4e83-8f05-9d3a6b2c7e19", "contoso-data")
SANDBOX = AzureSubscription("0badc0de-0000-4000-8000-000000000000", "contoso-sandbox")
BILLING_ACCOUNT = "12345678"
BILLING_SCOPE = f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}"


@pytest.fixture
def emulator() -> Iterator[Any]:
    started: list[AzureRecommendationsEmulator] = []

    def make(subscriptions: list[AzureSubscription], **kwargs: Any) -> Any:
        emu = AzureRecommendationsEmulator(subscriptions, **kwargs)
        started.append(emu.start())
        return emu

    yield make
    for emu in started:
        emu.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "warehouse.duckdb"


def run_load(emu: Any, db: Path, snapshot: date = SNAPSHOT, **config: Any) -> list:
    config.setdefault("max_wait_s", 10)
    return recommendations.load(
        db,
        snapshot,
        credential=StaticTokenCredential(TOKEN),
        config=AzureRecommendationsConfig(arm_endpoint=emu.url, **config),
    )


def rows(db: Path, table: str, where: str = "true") -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute(f"select * from raw.{table} where {where} order by all")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def ledger(db: Path) -> list[dict[str, Any]]:
    with duckdb.connect(str(db), read_only=True) as con:
        cursor = con.execute("select * from raw.load_ledger order by scope, started_at")
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def advisor_savings(items: list[dict[str, Any]]) -> Decimal:
    return sum(
        (Decimal(i["properties"]["extendedProperties"]["savingsAmount"]) for i in items),
        Decimal(0),
    )


def landed_savings(db: Path, where: str = "true") -> Decimal:
    return sum(
        (r["savings_amount"] for r in rows(db, "azure_advisor_recommendations", where)),
        Decimal(0),
    )


# ---------------------------------------------------------------------- paging, grain


def test_every_page_of_both_lists_lands_with_the_api_values(emulator: Any, db: Path) -> None:
    # GIVEN two subscriptions (five Cost recommendations each, two a page) and a billing
    # account: legacy answers at the subscriptions, modern ones at the billing account
    emu = emulator([PROD, DATA], billing_accounts={BILLING_ACCOUNT: [PROD.subscription_id]})
    scopes = (PROD.scope, DATA.scope, BILLING_SCOPE)

    # WHEN the snapshot is loaded
    results = run_load(emu, db, scopes=scopes)

    # THEN every Cost recommendation of every page landed (the HighAvailability one, which
    # only an unfiltered list shows, did not), to the cent
    advisor = rows(db, "azure_advisor_recommendations")
    truth = emu.advisor_truth(PROD.subscription_id) + emu.advisor_truth(DATA.subscription_id)
    assert sorted(r["recommendation_id"] for r in advisor) == sorted(i["id"] for i in truth)
    assert landed_savings(db) == advisor_savings(truth)
    advisor_gets = [r for r in emu.requests if r.path.endswith(ADVISOR_SUFFIX)]
    assert len(advisor_gets) == 2 * 3  # 5 items, 2 a page: 3 pages per subscription
    assert {r.query["$filter"] for r in advisor_gets} == {"Category eq 'Cost'"}

    # THEN the action fields and the raw JSON are kept
    rightsize = next(r for r in advisor if r["recommendation_name"].startswith("rightsize"))
    assert (rightsize["current_sku"], rightsize["target_sku"]) == (
        "Standard_D4s_v3",
        "Standard_D2s_v3",
    )
    assert rightsize["subscription_id"] == PROD.subscription_id
    assert '"recommendationType": "SkuChange"' in rightsize["extended_properties"]

    # THEN the reservation recommendations of the three scopes landed, legacy and modern,
    # with the look-back asked for and the modern answer's currency
    reserved = rows(db, "azure_reservation_recommendations")
    expected = [i for s in scopes for i in emu.reservation_items(s, 30)]
    assert sorted(r["recommendation_id"] for r in reserved) == sorted(i["id"] for i in expected)
    assert {(r["scope"], r["kind"]) for r in reserved} == {
        (PROD.scope, "legacy"),
        (DATA.scope, "legacy"),
        (BILLING_SCOPE, "modern"),
    }
    total = sum((r["net_savings"] for r in reserved), Decimal(0))
    assert total == sum(
        (
            Decimal(str(i["properties"]["netSavings"]))
            if i["kind"] == "legacy"
            else Decimal(str(i["properties"]["netSavings"]["value"]))
            for i in expected
        ),
        Decimal(0),
    )
    assert {r["look_back_period"] for r in reserved} == {"Last30Days"}
    assert {r["currency"] for r in reserved if r["kind"] == "modern"} == {"USD"}

    # THEN one ledger row per API and scope, their requests summing to the run's
    assert sorted(r.scope for r in results) == sorted(
        [f"advisor:{PROD.scope}", f"advisor:{DATA.scope}"] + [f"reservations:{s}" for s in scopes]
    )
    assert {r["status"] for r in ledger(db)} == {"succeeded"}
    assert sum(r.api_requests for r in results) == len(emu.requests)


def test_without_scopes_every_listed_subscription_is_read(emulator: Any, db: Path) -> None:
    # GIVEN no configured scope and three subscriptions, listed two a page
    emu = emulator([PROD, DATA, SANDBOX])

    # WHEN the snapshot is loaded
    run_load(emu, db)

    # THEN each listed subscription's Advisor and reservation recommendations landed
    landed = {r["subscription_id"] for r in rows(db, "azure_advisor_recommendations")}
    assert landed == {PROD.subscription_id, DATA.subscription_id, SANDBOX.subscription_id}
    scopes = {r["scope"] for r in rows(db, "azure_reservation_recommendations")}
    assert scopes == {PROD.scope, DATA.scope, SANDBOX.scope}


def test_an_empty_answer_lands_an_empty_snapshot_that_replaces_the_previous_one(
    emulator: Any, db: Path
) -> None:
    # GIVEN a snapshot landed, then a subscription whose lists become empty
    emu = emulator([PROD])
    run_load(emu, db, scopes=(PROD.scope,))
    assert rows(db, "azure_advisor_recommendations") != []
    emu.empty.add(PROD.subscription_id)

    # WHEN the same date is loaded again
    results = run_load(emu, db, scopes=(PROD.scope,))

    # THEN both scopes landed zero rows, succeeded, and nothing of the earlier answer is left
    assert [r.row_count for r in results] == [0, 0]
    assert [r.replaced_row_count > 0 for r in results] == [True, True]
    assert rows(db, "azure_advisor_recommendations") == []
    assert rows(db, "azure_reservation_recommendations") == []


def test_a_rerun_of_the_same_date_is_idempotent_and_another_date_is_a_new_snapshot(
    emulator: Any, db: Path
) -> None:
    # GIVEN a snapshot landed
    emu = emulator([PROD])
    run_load(emu, db, scopes=(PROD.scope,))
    first = rows(db, "azure_advisor_recommendations")

    # WHEN the same date is loaded again, then the next date
    run_load(emu, db, scopes=(PROD.scope,))
    again = rows(db, "azure_advisor_recommendations")
    run_load(emu, db, date(2026, 7, 2), scopes=(PROD.scope,))

    # THEN the rerun replaced the snapshot with the same rows; the next date is its own
    def values(found: list[dict[str, Any]]) -> list[tuple]:
        return [tuple(v for k, v in r.items() if not k.startswith("_")) for r in found]

    assert values(again) == values(first)
    by_date = rows(db, "azure_advisor_recommendations", "snapshot_date = '2026-07-02'")
    assert len(by_date) == len(first) == 5


# ---------------------------------------------------------------------- errors, throttling


@pytest.mark.parametrize(
    ("fault", "suffix", "role"),
    [
        pytest.param("deny", ADVISOR_SUFFIX, "Advisor Reader", id="advisor 403"),
        pytest.param("unregister", ADVISOR_SUFFIX, "Advisor Reader", id="advisor 404"),
        pytest.param("deny", RESERVATION_SUFFIX, "Cost Management Reader", id="reservations 403"),
    ],
)
def test_a_403_or_unregistered_provider_disables_only_that_api_at_that_scope(
    emulator: Any, db: Path, caplog: pytest.LogCaptureFixture, fault: str, suffix: str, role: str
) -> None:
    # GIVEN the credential lacks the role for one API at one subscription only
    emu = emulator([PROD, DATA])
    getattr(emu, fault)(f"/subscriptions/{PROD.subscription_id}{suffix}")

    # WHEN the snapshot is loaded
    caplog.set_level(logging.INFO, logger="finops.loaders.azure_recommendations")
    results = run_load(emu, db, scopes=(PROD.scope, DATA.scope))

    # THEN that API at that scope landed nothing and has no ledger row; the other three
    # landed and succeeded
    api = "advisor" if suffix == ADVISOR_SUFFIX else "reservations"
    assert sorted(r.scope for r in results) == sorted(
        {f"{a}:{s.scope}" for a in ("advisor", "reservations") for s in (PROD, DATA)}
        - {f"{api}:{PROD.scope}"}
    )
    assert [r["status"] for r in ledger(db)] == ["succeeded"] * 3
    table = (
        "azure_advisor_recommendations"
        if api == "advisor"
        else ("azure_reservation_recommendations")
    )
    assert {r["subscription_id"] for r in rows(db, table)} == {DATA.subscription_id}

    # THEN one warning names the API, the scope and the role needed, without the token
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert role in warnings[0] and PROD.scope in warnings[0]
    assert TOKEN not in caplog.text


def test_a_429_is_waited_out_as_its_ratelimit_header_asks(emulator: Any, db: Path) -> None:
    # GIVEN the first Advisor page is throttled with a 1 s x-ms-ratelimit retry-after
    emu = emulator([PROD])
    emu.fail(
        429,
        headers={"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "1"},
        path_contains=ADVISOR_SUFFIX,
    )

    # WHEN the snapshot is loaded
    results = run_load(emu, db, scopes=(PROD.scope,))

    # THEN the same request came back no sooner than 1 s, and every recommendation landed
    gets = [r for r in emu.requests if r.path.endswith(ADVISOR_SUFFIX)]
    assert [g.status for g in gets[:2]] == [429, 200]
    assert gets[0].query == gets[1].query
    assert 1.0 <= gets[1].at - gets[0].at < 2.5
    assert landed_savings(db) == advisor_savings(emu.advisor_truth(PROD.subscription_id))
    assert sum(r.api_requests for r in results) == len(emu.requests)


def test_a_wait_beyond_the_budget_fails_the_run_and_lands_nothing(emulator: Any, db: Path) -> None:
    # GIVEN the reservation list asks for a 2-minute pause and the budget is 5 s
    emu = emulator([PROD])
    emu.fail(429, headers={"Retry-After": "120"}, path_contains=RESERVATION_SUFFIX, times=-1)

    # WHEN the snapshot is loaded
    with pytest.raises(recommendations.AzureCostManagementError) as error:
        run_load(emu, db, scopes=(PROD.scope,), max_wait_s=5)

    # THEN it says why, lands nothing (not even the Advisor rows already fetched), and the
    # ledger records the failure
    assert "HTTP 429" in str(error.value) and "FINOPS_AZURE_MAX_WAIT_SECONDS" in str(error.value)
    assert rows(db, "azure_advisor_recommendations") == []
    assert {r["status"] for r in ledger(db)} == {"failed"}


def test_secrets_never_reach_errors_ledger_or_logs(
    emulator: Any, db: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a client secret in the environment and a service that echoes it and the token
    secret = "fake-client-secret-R2d7Kq"
    monkeypatch.setenv("AZURE_CLIENT_SECRET", secret)
    emu = emulator([PROD])
    emu.fail(
        400,
        times=-1,
        path_contains=ADVISOR_SUFFIX,
        message=f"rejected Authorization: Bearer {TOKEN} (secret {secret})",
    )

    # WHEN the load fails with every logger at DEBUG
    caplog.set_level(logging.DEBUG)
    with pytest.raises(recommendations.AzureCostManagementError) as error:
        run_load(emu, db, scopes=(PROD.scope,))

    # THEN the error and the ledger say HTTP 400 and hold neither secret
    message = str(error.value)
    assert "HTTP 400" in message
    errors = " ".join(r["error"] or "" for r in ledger(db))
    assert "HTTP 400" in errors
    for text in (message, errors, caplog.text):
        assert TOKEN not in text
        assert secret not in text


def test_a_recommendation_with_a_bad_amount_is_refused_naming_the_field(
    emulator: Any, db: Path
) -> None:
    # GIVEN an Advisor answer whose savingsAmount is not a number
    emu = emulator([PROD])
    original = emu.advisor_truth

    def broken(subscription_id: str) -> list[dict[str, Any]]:
        items = original(subscription_id)
        items[0]["properties"]["extendedProperties"]["savingsAmount"] = "n/a"
        return items

    emu.advisor_truth = broken

    # WHEN the snapshot is loaded, THEN it fails naming the field and lands nothing
    with pytest.raises(recommendations.AzureCostManagementError, match="savingsAmount"):
        run_load(emu, db, scopes=(PROD.scope,))
    assert rows(db, "azure_reservation_recommendations") == []


def test_switched_off_apis_are_not_called(emulator: Any, db: Path) -> None:
    # GIVEN FINOPS_AZURE_ADVISOR off, WHEN loading, THEN no Advisor request and no rows
    emu = emulator([PROD])
    results = run_load(emu, db, scopes=(PROD.scope,), advisor=False)
    assert not [r for r in emu.requests if r.path.endswith(ADVISOR_SUFFIX)]
    assert [r.scope for r in results] == [f"reservations:{PROD.scope}"]


def test_the_source_is_registered_as_a_snapshot_without_cost_measures() -> None:
    spec = source("azure_recommendations")
    assert (spec.ledger_source, spec.window) == ("azure_recommendations", "snapshot")
    assert all(table.measures == () for table in spec.raw_tables)


# ---------------------------------------------------------------------- dbt staging

CONTRACT = [
    "recommendation_key",
    "source_recommendation_id",
    "snapshot_date",
    "source",
    "provider_name",
    "sub_account_id",
    "resource_id",
    "service_name",
    "region_id",
    "category",
    "action",
    "estimated_monthly_savings",
    "billing_currency",
    "ledger_scope",
]


def test_staging_models_build_with_the_contract_columns_and_categories(
    emulator: Any, tmp_path: Path
) -> None:
    # GIVEN a snapshot landed from two subscriptions and a billing account
    db = tmp_path / "finops.duckdb"
    emu = emulator([PROD, DATA], billing_accounts={BILLING_ACCOUNT: [DATA.subscription_id]})
    run_load(emu, db, scopes=(PROD.scope, DATA.scope, BILLING_SCOPE))

    # WHEN dbt builds the staging models and their tests
    result = dbt(
        db,
        tmp_path,
        "build",
        "--select",
        "path:models/staging/azure_recommendations",
        "--exclude",
        "resource_type:unit_test",
    )

    # THEN it passes, and the models give the contract's columns in its order
    assert result.returncode == 0, result.stdout[-4000:]
    with duckdb.connect(str(db), read_only=True) as con:
        advisor = con.execute(
            "select * from staging.stg_azure_recommendations__advisor_recommendations"
        )
        assert [d[0] for d in advisor.description] == CONTRACT
        found = advisor.fetchall()
        reservation = con.execute(
            "select * from staging.stg_azure_recommendations__reservation_recommendations"
        )
        assert [d[0] for d in reservation.description] == CONTRACT
        reserved = reservation.fetchall()

    # THEN each Advisor template has its category, ids are lower-case, savings monthly
    by_name = {
        row[1].rsplit("/", 1)[-1].split("-")[0]: dict(zip(CONTRACT, row, strict=True))
        for row in found
    }
    assert {k: v["category"] for k, v in by_name.items()} == {
        "rightsize": "rightsizing",
        "shutdown": "idle",
        "disk": "idle",
        "reservation": "commitment_purchase",
        "blobtier": "storage_tier",
    }
    assert all(r[5] == r[5].lower() and r[6] == r[6].lower() for r in found)
    assert sum(r[11] for r in found) == advisor_savings(
        emu.advisor_truth(PROD.subscription_id) + emu.advisor_truth(DATA.subscription_id)
    )
    # the reservation recommendations: netSavings over 30 days is a month's savings as is
    expected = sum(
        (
            Decimal(str(i["properties"]["netSavings"]))
            if i["kind"] == "legacy"
            else Decimal(str(i["properties"]["netSavings"]["value"]))
            for s in (PROD.scope, DATA.scope, BILLING_SCOPE)
            for i in emu.reservation_items(s, 30)
        ),
        Decimal(0),
    )
    assert sum(r[11] for r in reserved) == expected
    assert {r[9] for r in reserved} == {"commitment_purchase"}


def test_snapshots_become_ledger_opportunities_open_then_gone(
    emulator: Any, tmp_path: Path
) -> None:
    # GIVEN two days of snapshots: every recommendation of PROD and DATA on 07-01; on 07-02
    # Advisor answers nothing for PROD, and refuses DATA (403), while the reservation
    # recommendations stay
    db = tmp_path / "finops.duckdb"
    both = (PROD.scope, DATA.scope)
    emu = emulator([PROD, DATA])
    run_load(emu, db, scopes=both)
    prod_advice = emu.advisor_truth(PROD.subscription_id)
    data_advice = emu.advisor_truth(DATA.subscription_id)
    reservations = emu.reservation_items(PROD.scope, 30) + emu.reservation_items(DATA.scope, 30)
    assert prod_advice and data_advice and reservations
    second = emulator([PROD, DATA], empty=[PROD.subscription_id])
    second.deny(DATA.subscription_id + "/providers/Microsoft.Advisor")
    next_day = date(2026, 7, 2)
    run_load(second, db, next_day, scopes=both, reservations=False)
    run_load(emu, db, next_day, scopes=both, advisor=False)

    # WHEN dbt builds the ledger and what it reads
    result = dbt(
        db, tmp_path, "build", "--select", "+fct_optimization_opportunities",
        "--indirect-selection", "cautious", "--exclude", "resource_type:unit_test",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]

    # THEN every recommendation is one opportunity: PROD's advice seen on 07-01 only and
    # gone (its scope's latest snapshot, 07-02, no longer has it); DATA's advice still open
    # (its scope could not be read on 07-02: no snapshot, nothing closed); the reservation
    # recommendations seen both days and open
    with duckdb.connect(str(db), read_only=True) as con:
        seen = con.execute(
            "select source, sub_account_id, min(first_seen), max(last_seen), "
            "list(distinct status), count(*) from marts.fct_optimization_opportunities "
            "where source = 'azure_advisor' group by all order by all"
        ).fetchall()
        reserved = con.execute(
            "select min(first_seen), max(last_seen), list(distinct status), count(*) "
            "from marts.fct_optimization_opportunities where source = 'azure_reservation'"
        ).fetchall()
        counted = con.execute(
            "select sub_account_id, count(*) from marts.fct_optimization_opportunities "
            "where duplicate_of is null and status = 'open' and category = 'commitment_purchase' "
            "group by all order by all"
        ).fetchall()
    assert seen == sorted(
        [
            ("azure_advisor", PROD.subscription_id, SNAPSHOT, SNAPSHOT, ["gone"], len(prod_advice)),
            ("azure_advisor", DATA.subscription_id, SNAPSHOT, SNAPSHOT, ["open"], len(data_advice)),
        ]
    )
    assert reserved == [(SNAPSHOT, next_day, ["open"], len(reservations))]
    # ... and the open commitment purchases of one subscription are alternatives to each
    # other (Advisor relays the reservation recommendations): one counts per subscription
    assert counted == sorted([(DATA.subscription_id, 1), (PROD.subscription_id, 1)])
