"""Pacing of Query API requests from the remaining-quota headers (issue #20).

The real client (azure-core pipeline, requests transport) against `tests/azure_emulator.py`
with its quota model on: per ClientType sliding-window buckets QueriesPer10Sec / PerMin /
PerHour, answered in `x-ms-ratelimit-microsoft.costmanagement-qpu-remaining`, 429 with
`-qpu-retry-after` when a bucket is empty. The emulator and the client share a `FakeClock`
that only the client's sleep moves, so no test waits on a real timer.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pytest
from azure_emulator import (
    QPU_CONSUMED_HEADER,
    QPU_REMAINING_HEADER,
    AzureCostEmulator,
    AzureSubscription,
    FakeClock,
    QueryQuota,
    StaticTokenCredential,
)

from loaders import azure_cost_management as azure
from loaders.azure_cost_management import mapping
from loaders.azure_cost_management.client import (
    AzureCostManagementError,
    CostManagementQueryClient,
    QuotaExhaustedError,
    QuotaPacer,
    WaitBudget,
    parse_quota,
)

START, END = date(2026, 5, 1), date(2026, 7, 1)  # two calendar months
TOKEN = "test-bearer-token-5d1e8b20"
# Discovery, six detail queries and the commitment queries a month: about 20 queries.
PROD = AzureSubscription(
    "3f2c9a71-5b8e-4d21-9c4a-7e1f0b6d2a58",
    "contoso-prod",
    charge_types=("Usage", "Purchase", "UnusedReservation", "Refund"),
)
NAMES = {PROD.subscription_id: PROD.name}


@pytest.fixture
def emulator() -> Iterator[Any]:
    """A factory of started emulators, all stopped at the end of the test."""
    started: list[AzureCostEmulator] = []

    def make(**kwargs: Any) -> AzureCostEmulator:
        emu = AzureCostEmulator([PROD], start=date(2026, 4, 1), end=date(2026, 8, 1), **kwargs)
        started.append(emu.start())
        return emu

    yield make
    for emu in started:
        emu.stop()


def client_for(
    emu: AzureCostEmulator, clock: FakeClock, **kwargs: Any
) -> CostManagementQueryClient:
    kwargs.setdefault("max_wait_s", 600)
    return CostManagementQueryClient(
        StaticTokenCredential(TOKEN), emu.url, sleep=clock.sleep, clock=clock.clock, **kwargs
    )


def fetch(emu: AzureCostEmulator, clock: FakeClock, **kwargs: Any) -> tuple[Any, Any]:
    """One scope's fetch over [START, END) and the client that made it."""
    with client_for(emu, clock, **kwargs) as client:
        return client.fetch_scope(PROD.scope, START, END, NAMES), client


def statuses(emu: AzureCostEmulator) -> list[int]:
    return [r.status for r in emu.query_requests]


# ---------------------------------------------------------------------- real HTTP, fake time


def test_a_run_larger_than_the_10_second_quota_is_paced_without_a_single_429(
    emulator: Any,
) -> None:
    # GIVEN a ClientType allowed 4 queries per 10 seconds, on a clock only sleeping moves
    clock = FakeClock()
    began = clock.now
    emu = emulator(quota=QueryQuota(per_10_sec=4), clock=clock.clock)

    # WHEN the paced client fetches a scope that needs several times that many queries
    result, client = fetch(emu, clock)

    # THEN no query was throttled, and the run took the time the quota requires: a batch of
    # 4 every 10 seconds, each wait spent by the pacer
    queries = len(emu.query_requests)
    assert queries > 3 * 4
    assert statuses(emu) == [200] * queries and emu.throttled == 0
    required = (math.ceil(queries / 4) - 1) * 10
    assert clock.now - began == pytest.approx(required)
    assert client.paced_waits == math.ceil(queries / 4) - 1
    assert client.paced_seconds == pytest.approx(required)
    assert client.requests == queries  # pacing sends nothing extra
    assert client.quota_readings[QPU_CONSUMED_HEADER] == "1"
    assert result.rows and result.commitment_rows


def test_the_same_run_without_pacing_is_throttled_and_lands_the_same_rows(emulator: Any) -> None:
    # GIVEN the same quota, one run paced and one not (each on its own emulator and clock)
    paced_clock, unpaced_clock = FakeClock(), FakeClock()
    paced_emu = emulator(quota=QueryQuota(per_10_sec=4), clock=paced_clock.clock)
    unpaced_emu = emulator(quota=QueryQuota(per_10_sec=4), clock=unpaced_clock.clock)

    # WHEN both fetch the scope
    paced, paced_client = fetch(paced_emu, paced_clock)
    unpaced, unpaced_client = fetch(unpaced_emu, unpaced_clock, pacing=False)

    # THEN only the unpaced run met 429s (each retried after its qpu-retry-after, each
    # throttled request spent), and both fetched exactly the same rows
    assert paced_emu.throttled == 0
    assert unpaced_emu.throttled >= 3
    assert statuses(unpaced_emu).count(429) == unpaced_emu.throttled
    assert unpaced_client.paced_waits == 0
    assert unpaced_client.requests == paced_client.requests + unpaced_emu.throttled
    assert unpaced.rows == paced.rows
    assert unpaced.commitment_rows == paced.commitment_rows


def test_a_low_minute_quota_spreads_the_queries_at_the_rate_it_sustains(emulator: Any) -> None:
    # GIVEN 8 queries a minute (the 10-second bucket is not in the way)
    clock = FakeClock()
    began = clock.now
    emu = emulator(quota=QueryQuota(per_10_sec=100, per_min=8), clock=clock.clock)

    # WHEN the paced client fetches the scope (more than two minutes' worth of queries)
    _, client = fetch(emu, clock)

    # THEN nothing was throttled; once the minute ran low with known queries still to come,
    # they left 60 / 8 = 7.5 s apart; the run took about what 8 a minute requires
    queries = len(emu.query_requests)
    assert queries > 2 * 8
    assert emu.throttled == 0
    assert 7.5 in clock.slept
    required = (math.ceil(queries / 8) - 1) * 60
    assert required <= clock.now - began <= required + math.ceil(queries / 8) * 7.5
    assert client.paced_seconds == pytest.approx(clock.now - began)


def test_other_client_types_do_not_share_the_bucket(emulator: Any) -> None:
    # GIVEN a quota of 4 per 10 seconds that another ClientType has just spent
    clock = FakeClock()
    emu = emulator(quota=QueryQuota(per_10_sec=4), clock=clock.clock)
    fetch(emu, clock, client_type="someone-else")
    spent_until = clock.now
    assert emu.quota_remaining("someone-else")["QueriesPer10Sec"] == 0

    # WHEN this client runs
    fetch(emu, clock)

    # THEN its first batch went out at once: its own bucket was full
    first_batch = [r for r in emu.query_requests if r.headers["clienttype"] == "finops-dashboard"]
    assert [r.at for r in first_batch[:4]] == [spent_until] * 4


@pytest.mark.parametrize(
    "quota",
    [
        pytest.param(QueryQuota(per_10_sec=1000, omit_headers=True), id="headers absent"),
        pytest.param(QueryQuota(per_10_sec=1000, remaining_header=""), id="empty"),
        pytest.param(QueryQuota(per_10_sec=1000, remaining_header="garbage"), id="garbage"),
        pytest.param(
            QueryQuota(per_10_sec=1000, remaining_header="QueriesPerHour:abc,QueriesPer10Sec:-1"),
            id="not numbers",
        ),
        pytest.param(
            QueryQuota(per_10_sec=1000, remaining_header="QueriesPerFortnight:0,QueriesPer0Sec:0"),
            id="unknown windows",
        ),
        pytest.param(
            QueryQuota(per_10_sec=1000, remaining_header=";;QueriesPer10Sec,:,="), id="no values"
        ),
    ],
)
def test_absent_or_malformed_quota_headers_mean_no_pacing_and_no_error(
    emulator: Any, quota: QueryQuota
) -> None:
    # GIVEN answers whose remaining-quota header is missing or unusable
    clock = FakeClock()
    emu = emulator(quota=quota, clock=clock.clock)

    # WHEN the paced client fetches the scope
    result, client = fetch(emu, clock)

    # THEN it never waited and fetched what an unmetered emulator answers
    assert clock.slept == [] and client.paced_waits == 0
    plain, _ = fetch(emulator(), FakeClock())
    assert result.rows == plain.rows


def test_an_hour_quota_that_cannot_cover_the_load_fails_it_before_spending_it(
    emulator: Any, tmp_path: Path
) -> None:
    # GIVEN 3 queries left this hour and a wait budget of a minute
    clock = FakeClock(real_time=True)
    emu = emulator(quota=QueryQuota(per_hour=3), clock=clock.clock)
    db = tmp_path / "warehouse.duckdb"

    # WHEN a load of the scope (a dozen queries and more) runs
    with pytest.raises(AzureCostManagementError) as raised:
        azure.load(
            db,
            START,
            END,
            credential=StaticTokenCredential(TOKEN),
            endpoint=emu.url,
            scopes=[PROD.scope],
            max_wait_s=60,
            sleep=clock.sleep,
            price_details=False,
        )

    # THEN it stopped after the first answer showed the hour could not cover the rest: no
    # wait, no 429, the error names the bucket, what is left and the setting to raise
    message = str(raised.value)
    assert statuses(emu) == [200]
    assert clock.slept == []
    assert "QueriesPerHour has 2 left" in message
    assert "FINOPS_AZURE_MAX_WAIT_SECONDS" in message
    assert TOKEN not in message
    assert emu.quota_remaining()["QueriesPerHour"] == 2
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("select count(*) from raw.azure_cost_management").fetchone() == (0,)


def test_an_empty_bucket_refilling_beyond_the_budget_fails_before_the_request(
    emulator: Any,
) -> None:
    # GIVEN one query per 10 seconds and a wait budget of 5 s
    clock = FakeClock()
    emu = emulator(quota=QueryQuota(per_10_sec=1), clock=clock.clock)
    body = mapping.discovery_definition("ActualCost", START, date(2026, 6, 1))

    # WHEN two queries are asked for in a row (nothing planned: a caller outside fetch_scope)
    with client_for(emu, clock, max_wait_s=5) as client:
        list(client.query_pages(PROD.scope, body))
        with pytest.raises(QuotaExhaustedError) as raised:
            list(client.query_pages(PROD.scope, body))

    # THEN the second was never sent: the error says which bucket and the setting
    assert statuses(emu) == [200]
    assert "QueriesPer10Sec has 0 left" in str(raised.value)
    assert "FINOPS_AZURE_MAX_WAIT_SECONDS" in str(raised.value)
    assert client.requests == 1


def test_a_full_load_with_the_quota_on_lands_the_same_rows_as_without(
    emulator: Any, tmp_path: Path
) -> None:
    # GIVEN two emulators of the same estate, one with 5 queries per 10 seconds
    clock = FakeClock(real_time=True)
    metered = emulator(quota=QueryQuota(per_10_sec=5), clock=clock.clock)
    unmetered = emulator()

    # WHEN the loader lands the window from each (the client waits through `sleep`)
    def load(emu: AzureCostEmulator, db: Path, **kwargs: Any) -> list[dict[str, Any]]:
        azure.load(
            db,
            START,
            END,
            credential=StaticTokenCredential(TOKEN),
            endpoint=emu.url,
            max_wait_s=600,
            price_details=False,
            **kwargs,
        )
        with duckdb.connect(str(db), read_only=True) as con:
            cursor = con.execute("select * from raw.azure_cost_management")
            names = [d[0] for d in cursor.description]
            rows = [
                {k: v for k, v in zip(names, row, strict=True) if not k.startswith("_")}
                for row in cursor.fetchall()
            ]
        return sorted(rows, key=lambda r: tuple(str(v) for v in r.values()))

    metered_rows = load(metered, tmp_path / "metered.duckdb", sleep=clock.sleep)
    unmetered_rows = load(unmetered, tmp_path / "unmetered.duckdb")

    # THEN the paced load waited instead of being throttled, and landed the same rows
    assert metered.throttled == 0
    assert len(clock.slept) >= len(metered.query_requests) // 5 - 1
    assert metered_rows == unmetered_rows
    assert len(metered_rows) == len(metered.truth(PROD.scope, START, END))


# ---------------------------------------------------------------------- units


@pytest.mark.parametrize(
    "value, expected",
    [
        pytest.param(
            "QueriesPerHour:496,QueriesPerMin:37,QueriesPer10Sec:11",
            {"QueriesPerHour": 496, "QueriesPerMin": 37, "QueriesPer10Sec": 11},
            id="as answered",
        ),
        pytest.param(
            "QueriesPerHour=599; QueriesPerMin = 59 ,QueriesPer10Sec=0",
            {"QueriesPerHour": 599, "QueriesPerMin": 59, "QueriesPer10Sec": 0},
            id="equals and semicolons",
        ),
        pytest.param("DefaultQuota:3", {"DefaultQuota": 3}, id="requests header"),
        pytest.param("11999", {"": 11999}, id="a bare number"),
        pytest.param("QueriesPerHour:12,oops,QueriesPerMin:x", {"QueriesPerHour": 12}, id="mixed"),
        pytest.param(None, {}, id="absent"),
        pytest.param("  ", {}, id="blank"),
        pytest.param("-4", {}, id="negative"),
        pytest.param("nan", {}, id="not a number"),
    ],
)
def test_remaining_quota_values_are_parsed_leniently(
    value: str | None, expected: dict[str, float]
) -> None:
    assert parse_quota(value) == expected


def test_an_empty_10_second_bucket_waits_out_its_window_from_the_reading() -> None:
    # GIVEN a reading of QueriesPer10Sec=0 at t=100, asked about 3 s later
    clock = FakeClock(start=100.0)
    budget = WaitBudget(300, clock.sleep)
    pacer = QuotaPacer(budget, clock.clock)
    pacer.observe(
        {QPU_REMAINING_HEADER: "QueriesPerHour=500,QueriesPerMin=50,QueriesPer10Sec=0"}, 200
    )
    clock.now += 3

    # WHEN the next query is about to leave, and the one after it
    pacer.before_query()
    pacer.before_query()

    # THEN it waited the 7 s left of the window once, counted as a paced wait in the budget
    assert clock.slept == [7]
    assert (budget.paced_waits, budget.paced_s, budget.waited_s) == (1, 7, 7)


def test_a_throttled_answer_does_not_move_the_buckets() -> None:
    # GIVEN a 429 whose headers say the 10-second bucket is empty (its retry-after governs)
    clock = FakeClock()
    pacer = QuotaPacer(WaitBudget(300, clock.sleep), clock.clock)
    pacer.observe({QPU_REMAINING_HEADER: "QueriesPer10Sec:0"}, 429)

    # WHEN the retry is about to leave
    pacer.before_query()

    # THEN the pacer adds no wait of its own, but kept the reading for the record
    assert clock.slept == []
    assert pacer.readings == {QPU_REMAINING_HEADER: "QueriesPer10Sec:0"}
