"""The one writer: replace-by-window, all-or-nothing, clear errors, and readers never blocked."""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from loaders import warehouse
from loaders.aws_cost_explorer.source import AWS_COST_EXPLORER
from loaders.catalogue import AMOUNT, AMOUNT_SQL, LOAD_META_SQL, RawTable
from loaders.focus_files.source import FOCUS_COSTS
from loaders.warehouse import LoadValidationError, schema, validation

START = date(2026, 3, 1)
END = date(2026, 3, 4)


def aws_row(day: date, cost: str, service: str = "AWS Lambda") -> dict:
    return {
        "time_period_start": day,
        "time_period_end": day + timedelta(days=1),
        "estimated": False,
        "linked_account_id": "123456789012",
        "linked_account_name": "prod",
        "service": service,
        "region": "us-east-1",
        "record_type": "Usage",
        "unblended_cost": Decimal(cost),
        "unblended_cost_unit": "USD",
        "amortized_cost": Decimal(cost),
        "amortized_cost_unit": "USD",
        "usage_quantity": None,
        "usage_quantity_unit": None,
    }


def land(db: Path, rows: list[dict], scope: str = "123456789012", **kw) -> warehouse.LoadResult:
    return warehouse.replace_window(
        db,
        raw_table="aws_cost_explorer",
        source="aws_cost_explorer",
        scope=scope,
        window_start=kw.get("start", START),
        window_end=kw.get("end", END),
        rows=rows,
    )


def totals(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select _scope, time_period_start, sum(unblended_cost) from raw.aws_cost_explorer "
            "group by all order by all"
        ).fetchall()


def test_replacing_a_window_keeps_other_scopes_and_days(tmp_path: Path):
    # GIVEN two scopes loaded for three days, and a day outside the window
    db = tmp_path / "w.duckdb"
    days = [START + timedelta(days=n) for n in range(3)]
    land(db, [aws_row(d, "10") for d in days])
    land(db, [aws_row(d, "1") for d in days], scope="999999999999")
    land(db, [aws_row(END, "7")], start=END, end=END + timedelta(days=1))

    # WHEN the first scope's window is reloaded with restated amounts on two days
    result = land(db, [aws_row(days[0], "10"), aws_row(days[1], "12.5")])

    # THEN only that scope's window changed: the missing day is gone, nothing doubled
    assert (result.row_count, result.replaced_row_count) == (2, 3)
    assert totals(db) == [
        ("123456789012", days[0], Decimal("10")),
        ("123456789012", days[1], Decimal("12.5")),
        ("123456789012", END, Decimal("7")),
        ("999999999999", days[0], Decimal("1")),
        ("999999999999", days[1], Decimal("1")),
        ("999999999999", days[2], Decimal("1")),
    ]


@pytest.mark.parametrize(
    ("bad_row", "message"),
    [
        pytest.param(
            aws_row(START, "0") | {"unblended_cost": "12,5"},
            "row 1: field 'unblended_cost' has unusable value '12,5'",
            id="unparseable amount",
        ),
        pytest.param(
            aws_row(END, "1"),
            "row 1: time_period_start=2026-03-04 is outside the load window [2026-03-01, 2026-03-04)",
            id="day outside the window",
        ),
        pytest.param(
            aws_row(START, "1") | {"service": None},
            "row 1: field 'service' is empty",
            id="mandatory field empty",
        ),
        pytest.param(
            {k: v for k, v in aws_row(START, "1").items() if k != "region"},
            "row 1: missing field(s) region",
            id="missing field",
        ),
    ],
)
def test_a_bad_row_names_row_and_field_and_writes_nothing(tmp_path: Path, bad_row, message):
    # GIVEN a window already loaded
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")])
    before = totals(db)

    # WHEN a reload carries one unusable row
    with pytest.raises(LoadValidationError) as raised:
        land(db, [aws_row(START, "6"), bad_row])

    # THEN the error says which row and field, and the previous data is untouched
    assert message in str(raised.value)
    assert "raw.aws_cost_explorer" in str(raised.value)
    assert totals(db) == before


def test_a_failed_load_is_recorded_without_touching_the_data(tmp_path: Path):
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")])
    warehouse.record_failed_load(
        db,
        raw_table="aws_cost_explorer",
        source="aws_cost_explorer",
        scope="123456789012",
        window_start=START,
        window_end=END,
        error="LimitExceededException: rate exceeded",
        api_requests=3,
        api_cost_usd=Decimal("0.03"),
    )
    with duckdb.connect(str(db), read_only=True) as con:
        ledger = con.execute(
            "select status, row_count, api_requests, api_cost_usd, error from raw.load_ledger "
            "order by started_at"
        ).fetchall()
    assert ledger[-1] == ("failed", 0, 3, Decimal("0.03"), "LimitExceededException: rate exceeded")
    assert totals(db) == [("123456789012", START, Decimal("5"))]


class Meter:
    """A source's request counter, as a client keeps one."""

    def __init__(self) -> None:
        self.requests = 0

    def read(self) -> tuple[int, Decimal]:
        return self.requests, Decimal("0.01") * self.requests


def test_a_load_attempt_records_what_it_could_not_land_once(tmp_path: Path):
    # GIVEN an attempt over two scopes that spends requests, lands the first scope, then
    # fails on the second inside a nested attempt (a loader's own `load` joining it),
    # its error carrying a secret the loader named
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")], scope="222222222222")
    meter = Meter()
    attempt = warehouse.LoadAttempt(
        db,
        source="aws_cost_explorer",
        raw_table="aws_cost_explorer",
        window_start=START,
        window_end=END,
        scopes=["unknown"],
    )
    with pytest.raises(RuntimeError, match="throttled"), attempt:
        attempt.expect(["111111111111", "222222222222", "333333333333"])
        attempt.meter(meter.read)
        attempt.redact("sekret-session-token")
        meter.requests = 2
        attempt.land("111111111111", [aws_row(START, "7")], billing_account_id="111111111111")
        with attempt:
            attempt.working_on("222222222222")
            meter.requests = 5
            raise RuntimeError("throttled; token sekret-session-token")

    # THEN the landed scope has its succeeded row with the requests spent before it; the
    # failing scope a failed row with its error (secret masked) and the requests after it;
    # the other scope a failed row that names the failing one; nothing is recorded twice
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select scope, status, api_requests, api_cost_usd, error, billing_account_id, "
            "started_at = ? from raw.load_ledger where load_id != ? order by scope",
            [attempt.started_at, ledger_rows(db)[0][0]],
        ).fetchall()
    error = "RuntimeError: throttled; token ***"
    assert rows == [
        ("111111111111", "succeeded", 2, Decimal("0.02"), None, "111111111111", True),
        ("222222222222", "failed", 3, Decimal("0.03"), error, None, True),
        (
            "333333333333",
            "failed",
            0,
            Decimal("0"),
            f"not landed: 222222222222 failed: {error}",
            None,
            True,
        ),
    ]
    # AND the earlier data of the failed scope is untouched, the landed one replaced
    assert totals(db) == [
        ("111111111111", START, Decimal("7")),
        ("222222222222", START, Decimal("5")),
    ]


def test_landing_in_one_writer_session_keeps_each_scope_all_or_nothing(tmp_path: Path):
    # GIVEN an attempt that lands three scopes in one writer session (one connection), the
    # third with a row outside the window
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")], scope="333333333333")
    attempt = warehouse.LoadAttempt(
        db,
        source="aws_cost_explorer",
        raw_table="aws_cost_explorer",
        window_start=START,
        window_end=END,
    )
    with pytest.raises(LoadValidationError, match="outside the load window"), attempt:
        attempt.expect(["111111111111", "222222222222", "333333333333"])
        with attempt.writing():
            attempt.land("111111111111", [aws_row(START, "7")])
            attempt.land("222222222222", [aws_row(START, "8")])
            attempt.land("333333333333", [aws_row(START, "9"), aws_row(END, "1")])
    # THEN the first two landed, the third kept its data and got a failed ledger row (written
    # after the session let the writer's lock go)
    assert totals(db) == [
        ("111111111111", START, Decimal("7")),
        ("222222222222", START, Decimal("8")),
        ("333333333333", START, Decimal("5")),
    ]
    with duckdb.connect(str(db), read_only=True) as con:
        statuses = con.execute(
            "select scope, status from raw.load_ledger where started_at = ? order by scope",
            [attempt.started_at],
        ).fetchall()
    assert statuses == [
        ("111111111111", "succeeded"),
        ("222222222222", "succeeded"),
        ("333333333333", "failed"),
    ]
    # AND the warehouse is free for the next writer
    land(db, [aws_row(START, "10")], scope="444444444444")


def test_the_writer_waits_for_a_short_lived_reader(tmp_path: Path):
    # GIVEN another process (a dashboard query) holding the file open read-only for ~1.5 s
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")])
    reader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print('open', flush=True); time.sleep(1.5); c.close()",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdout.readline().strip() == "open"

    # WHEN the pipeline reloads the window meanwhile
    started = time.monotonic()
    land(db, [aws_row(START, "6")])

    # THEN it waited for the reader instead of failing, and the new data is in
    assert reader.wait(timeout=30) == 0
    assert time.monotonic() - started > 0.5
    assert totals(db) == [("123456789012", START, Decimal("6"))]


def test_the_serving_copy_carries_the_marts_table_and_column_comments(tmp_path: Path):
    # GIVEN a mart whose table and columns carry comments (dbt's persisted docs), quotes too
    db = tmp_path / "w.duckdb"
    serving = tmp_path / "w_serving.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        con.execute('create table marts.fct_x as select 1 as v, 2 as "Odd name"')
        con.execute("comment on table marts.fct_x is 'One row per day''s cost.'")
        con.execute("comment on column marts.fct_x.v is 'FOCUS BilledCost.'")
        con.execute("comment on column marts.fct_x.\"Odd name\" is 'A ''quoted'' column.'")
    # WHEN it is published
    warehouse.publish_serving_copy(db, serving)
    # THEN the copy's readers (BI tools, `finops sql`) read the same comments
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute(
            "select comment from duckdb_tables() where table_name = 'fct_x'"
        ).fetchall() == [("One row per day's cost.",)]
        assert con.execute(
            "select column_name, comment from duckdb_columns() where table_name = 'fct_x' "
            "order by column_index"
        ).fetchall() == [("v", "FOCUS BilledCost."), ("Odd name", "A 'quoted' column.")]


def test_publishing_replaces_the_serving_copy_atomically_for_readers(tmp_path: Path):
    # GIVEN a warehouse with a mart, published once, and a reader holding the published file
    db = tmp_path / "w.duckdb"
    serving = tmp_path / "w_serving.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute("create schema marts")
        con.execute("create table marts.fct_x as select 1 as v")
        con.execute("create schema staging")
        con.execute("create table staging.not_published as select 1 as v")
    assert warehouse.publish_serving_copy(db, serving) == 1
    old_reader = duckdb.connect(str(serving), read_only=True)

    # WHEN the marts change and are published again while that reader is open
    with duckdb.connect(str(db)) as con:
        con.execute("create or replace table marts.fct_x as select 2 as v")
    warehouse.publish_serving_copy(db, serving)

    # THEN the open reader still sees its consistent snapshot, a new reader sees the new one,
    # and only the marts schema is published
    assert old_reader.execute("select v from marts.fct_x").fetchall() == [(1,)]
    old_reader.close()
    with duckdb.connect(str(serving), read_only=True) as con:
        assert con.execute("select v from marts.fct_x").fetchall() == [(2,)]
        rows = con.execute("select schema_name from information_schema.schemata").fetchall()
        schemas = {r[0] for r in rows}
    assert "marts" in schemas and "staging" not in schemas


# ---------------------------------------------------------------- Arrow input, duplicate keys


def as_arrow(rows: list[dict], amounts_as_text: bool = False) -> pa.Table:
    """Rows as a pyarrow.Table of the raw table's columns (amounts optionally as text)."""
    schema = AWS_COST_EXPLORER.arrow_schema()
    if amounts_as_text:
        for name in ("unblended_cost", "amortized_cost"):
            schema = schema.set(schema.get_field_index(name), pa.field(name, pa.string()))
        rows = [r | {n: str(r[n]) for n in ("unblended_cost", "amortized_cost")} for r in rows]
    return pa.Table.from_pylist(rows, schema=schema)


def ledger_rows(db: Path) -> list[tuple]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            "select load_id, status, row_count from raw.load_ledger order by started_at"
        ).fetchall()


def test_an_arrow_table_replaces_a_window_like_rows_do(tmp_path: Path):
    # GIVEN a window landed from an Arrow table whose amounts are decimal text
    db = tmp_path / "w.duckdb"
    days = [START + timedelta(days=n) for n in range(3)]
    land(db, as_arrow([aws_row(d, "10.0000000001") for d in days], amounts_as_text=True))

    # WHEN the window is reloaded from an Arrow table with restated amounts on two days
    result = land(db, as_arrow([aws_row(days[0], "10"), aws_row(days[1], "12.5")]))

    # THEN it replaced the window exactly as a list of rows would, to the last decimal
    assert (result.row_count, result.replaced_row_count) == (2, 3)
    assert totals(db) == [
        ("123456789012", days[0], Decimal("10")),
        ("123456789012", days[1], Decimal("12.5")),
    ]


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        pytest.param(
            as_arrow([aws_row(START, "6"), aws_row(START, "0", "Amazon S3")], True).set_column(
                8, "unblended_cost", pa.array(["6", "12,5"])
            ),
            "row 1: field 'unblended_cost' has unusable value '12,5'",
            id="unparseable amount",
        ),
        pytest.param(
            as_arrow([aws_row(START, "6"), aws_row(END, "1", "Amazon S3")]),
            "row 1: time_period_start=2026-03-04 is outside the load window [2026-03-01, 2026-03-04)",
            id="day outside the window",
        ),
        pytest.param(
            as_arrow([aws_row(START, "6"), aws_row(START, "1") | {"service": None}]),
            "row 1: field 'service' is empty",
            id="mandatory field empty",
        ),
        pytest.param(
            as_arrow([aws_row(START, "6")]).drop_columns(["region"]),
            "missing column(s) region",
            id="missing column",
        ),
        pytest.param(
            as_arrow([aws_row(START, "6")]).set_column(8, "unblended_cost", pa.array([6.0])),
            "field 'unblended_cost' is double; amounts must be exact",
            id="float amounts",
        ),
    ],
)
def test_a_bad_arrow_batch_names_row_and_field_and_writes_nothing(tmp_path: Path, batch, message):
    # GIVEN a window already loaded
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")])
    before = totals(db), ledger_rows(db)

    # WHEN a reload hands over an Arrow table with one unusable value or column
    with pytest.raises(LoadValidationError) as raised:
        land(db, batch)

    # THEN the error names the table, row and field, and nothing changed
    assert message in str(raised.value)
    assert "raw.aws_cost_explorer" in str(raised.value)
    assert (totals(db), ledger_rows(db)) == before


PAGE = [aws_row(START, "5"), aws_row(START, "7", "Amazon S3"), aws_row(START, "1", "AWS KMS")]


def land_staged(db: Path, stage: Path, select: str, rows: list[dict]) -> warehouse.LoadResult:
    """Land `rows`, staged as table `batch` in a scratch DuckDB file, through an attempt
    that attaches the warehouse to the scratch connection (as the FOCUS import does)."""
    con = duckdb.connect(str(stage))
    try:
        con.register("incoming", as_arrow(rows))
        con.execute("create or replace table batch as select * from incoming")
        con.unregister("incoming")
        attempt = warehouse.LoadAttempt(
            db, source="aws_cost_explorer", raw_table="aws_cost_explorer"
        )
        with attempt.writing(via=con):
            result = attempt.land(
                "123456789012",
                warehouse.StagedRows(select.format(batch="stage.main.batch")),
                window_start=START,
                window_end=END,
            )
        # the connection is back on its own database, the warehouse detached
        assert con.execute("select current_database()").fetchone() == ("stage",)
        assert [r[0] for r in con.execute("show databases").fetchall()] == ["stage"]
        return result
    finally:
        con.close()


def test_staged_rows_replace_a_window_inside_duckdb(tmp_path: Path):
    # GIVEN a window landed from rows, and restated rows staged in another DuckDB database
    db = tmp_path / "w.duckdb"
    days = [START + timedelta(days=n) for n in range(3)]
    land(db, [aws_row(d, "10.0000000001") for d in days])

    # WHEN the window is replaced by the staged rows (insert ... select, no Arrow)
    result = land_staged(
        db,
        tmp_path / "stage.duckdb",
        "select * from {batch}",
        [aws_row(days[0], "10"), aws_row(days[1], "12.5")],
    )

    # THEN it replaced the window as rows do, with its ledger row and restatements
    assert (result.row_count, result.replaced_row_count) == (2, 3)
    assert totals(db) == [
        ("123456789012", days[0], Decimal("10")),
        ("123456789012", days[1], Decimal("12.5")),
    ]
    assert [row[1:] for row in ledger_rows(db)] == [("succeeded", 3), ("succeeded", 2)]
    with duckdb.connect(str(db), read_only=True) as con:
        restated = con.execute(
            "select charge_date, cost_type, previous_cost, new_cost from raw.load_restatements "
            "where load_id = ? order by all",
            [result.load_id],
        ).fetchall()
    assert [r[:2] for r in restated] == [
        (days[0], "billed"), (days[0], "effective"),
        (days[1], "billed"), (days[1], "effective"),
        (days[2], "billed"), (days[2], "effective"),
    ]  # fmt: skip
    # AND the writer's lock is free for the next writer
    land(db, [aws_row(START, "3")], scope="444444444444")


@pytest.mark.parametrize(
    ("select", "rows", "message"),
    [
        pytest.param(
            "select * from {batch}",
            [aws_row(START, "6"), aws_row(END, "1", "Amazon S3")],
            "row (time_period_start=2026-03-04, linked_account_id=123456789012, "
            "service=Amazon S3, region=us-east-1, record_type=Usage, unblended_cost_unit=USD): "
            "time_period_start=2026-03-04 is outside the load window [2026-03-01, 2026-03-04)",
            id="day outside the window",
        ),
        pytest.param(
            "select * from {batch}",
            [aws_row(START, "6"), aws_row(START, "1") | {"service": None}],
            "field 'service' is empty",
            id="mandatory field empty",
        ),
        pytest.param(
            "select * from {batch}",
            [*PAGE, aws_row(START, "9", "Amazon S3")],
            "row (time_period_start=2026-03-01, linked_account_id=123456789012, "
            "service=Amazon S3, region=us-east-1, record_type=Usage, unblended_cost_unit=USD): "
            "the same key twice in one load",
            id="one key twice",
        ),
        pytest.param(
            "select * exclude (region) from {batch}",
            [aws_row(START, "6")],
            "missing column(s) region",
            id="missing column",
        ),
        pytest.param(
            "select * replace (cast(unblended_cost as double) as unblended_cost) from {batch}",
            [aws_row(START, "6")],
            "field 'unblended_cost' is DOUBLE; amounts must be exact",
            id="float amounts",
        ),
    ],
)
def test_bad_staged_rows_are_refused_naming_the_row_and_write_nothing(
    tmp_path: Path, select: str, rows: list[dict], message: str
):
    # GIVEN a window already loaded
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")])
    before = totals(db), ledger_rows(db)

    # WHEN staged rows with one unusable row or column are landed
    with pytest.raises(LoadValidationError) as raised:
        land_staged(db, tmp_path / "stage.duckdb", select, rows)

    # THEN the error names the table, the row by its key, and the field; nothing changed
    assert message in str(raised.value)
    assert "raw.aws_cost_explorer" in str(raised.value)
    assert (totals(db), ledger_rows(db)) == before
    # AND the warehouse is free for the next writer
    land(db, [aws_row(START, "3")], scope="444444444444")


SCOPES = ("123456789012", "210987654321")


def land_batch(db: Path, stage: Path, rows: dict[str, list[dict]], batch: str | None) -> list:
    """Land each scope's `rows` (staged together in table `batch` of a scratch DuckDB, with
    a `scope` column) in one transaction, as the FOCUS import lands its periods: each window
    through its own query, with `batch` (None: no batch) as the query of all of them."""
    con = duckdb.connect(str(stage))
    try:
        staged = pa.concat_tables(
            as_arrow(scope_rows).append_column("scope", pa.array([scope] * len(scope_rows)))
            for scope, scope_rows in rows.items()
        )
        con.register("incoming", staged)
        con.execute("create or replace table batch as select * from incoming")
        con.unregister("incoming")
        attempt = warehouse.LoadAttempt(
            db, source="aws_cost_explorer", raw_table="aws_cost_explorer"
        )
        with attempt.writing(via=con, together=True):
            return [
                attempt.land(
                    scope,
                    warehouse.StagedRows(
                        f"select * exclude (scope) from stage.main.batch where scope = '{scope}'",
                        batch=warehouse.StagedBatch(batch, key=scope) if batch else None,
                    ),
                    window_start=START,
                    window_end=END,
                )
                for scope in rows
            ]
    finally:
        con.close()


def test_staged_batches_land_every_window_with_one_insert_as_one_by_one_would(tmp_path: Path):
    # GIVEN two scopes' restated rows staged together, and two warehouses that hold the
    # same earlier rows of both scopes
    days = [START + timedelta(days=n) for n in range(3)]
    rows = {
        SCOPES[0]: [aws_row(days[0], "10"), aws_row(days[1], "12.5")],
        SCOPES[1]: [
            aws_row(d, "3.25", "Amazon S3") | {"linked_account_id": SCOPES[1]} for d in days
        ],
    }
    one_by_one, batched = tmp_path / "one.duckdb", tmp_path / "batched.duckdb"
    for db in (one_by_one, batched):
        for scope in SCOPES:
            land(db, [aws_row(d, "7") | {"linked_account_id": scope} for d in days], scope=scope)

    # WHEN one lands each window with its own insert, the other with one insert of the batch
    # (every row of the stage, keyed by scope)
    (tmp_path / "one").mkdir()
    (tmp_path / "batched").mkdir()
    plain = land_batch(one_by_one, tmp_path / "one" / "stage.duckdb", rows, None)
    joined = land_batch(
        batched,
        tmp_path / "batched" / "stage.duckdb",
        rows,
        "select * exclude (scope), scope as x_batch_key from stage.main.batch",
    )

    # THEN both warehouses hold the same rows, ledger and restatements, each window its own
    # load id
    assert [(r.row_count, r.replaced_row_count) for r in joined] == [(2, 3), (3, 3)]
    assert [(r.row_count, r.replaced_row_count) for r in plain] == [(2, 3), (3, 3)]
    assert totals(batched) == totals(one_by_one)
    sql = {
        "rows": "select * exclude (_load_id, _loaded_at) from raw.aws_cost_explorer order by all",
        "ids": "select _scope, _load_id from raw.aws_cost_explorer group by all order by all",
        "restated": "select scope, charge_date, cost_type, previous_cost, new_cost "
        "from raw.load_restatements order by all",
        "ledger": "select scope, status, row_count, replaced_row_count from raw.load_ledger "
        "order by all",
    }
    seen = {}
    for db in (one_by_one, batched):
        with duckdb.connect(str(db), read_only=True) as con:
            seen[db] = {name: con.execute(q).fetchall() for name, q in sql.items()}
    for name in ("rows", "restated", "ledger"):
        assert seen[batched][name] == seen[one_by_one][name], name
    assert [scope for scope, _ in seen[batched]["ids"]][-2:] == list(SCOPES)
    assert {load_id for _, load_id in seen[batched]["ids"]} >= {r.load_id for r in joined}


def test_a_batch_that_does_not_hold_its_windows_rows_lands_nothing(tmp_path: Path):
    # GIVEN a window already loaded
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")])
    before = totals(db), ledger_rows(db)

    # WHEN two windows are landed with a batch that repeats one of the rows it holds
    with pytest.raises(LoadValidationError) as raised:
        land_batch(
            db,
            tmp_path / "stage.duckdb",
            {SCOPES[0]: [aws_row(START, "6")], SCOPES[1]: [aws_row(START, "2")]},
            "select * exclude (scope), scope as x_batch_key from stage.main.batch "
            "union all select * exclude (scope), scope from stage.main.batch "
            f"where scope = '{SCOPES[1]}'",
        )

    # THEN the error says how many rows the batch had for its windows, and nothing changed
    assert (
        "the staged batch of 2 window(s) inserted 3 row(s), its windows were checked "
        "with 2" in str(raised.value)
    )
    assert "raw.aws_cost_explorer" in str(raised.value)
    assert (totals(db), ledger_rows(db)) == before


def test_a_bulk_landing_session_bounds_the_checkpoint_vacuum(tmp_path: Path):
    # GIVEN a loader's connection with the warehouse attached for a bulk landing
    db = tmp_path / "w.duckdb"
    with (
        duckdb.connect(str(tmp_path / "stage.duckdb")) as stage,
        warehouse.attached_writer(stage, db),
    ):
        attached = stage.execute("select current_setting('max_vacuum_tasks')").fetchone()[0]
    # THEN its checkpoint merges at most BULK_VACUUM_TASKS row groups (DuckDB's default of
    # 100 rewrote the whole raw table after landing each billing period on its own)
    assert attached == int(warehouse.locking.BULK_VACUUM_TASKS) < 100


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        pytest.param(
            PAGE + PAGE,
            "rows 0 and 3: the same key (time_period_start=2026-03-01, "
            "linked_account_id=123456789012, service=AWS Lambda, region=us-east-1, "
            "record_type=Usage, unblended_cost_unit=USD) twice",
            id="the same page twice",
        ),
        pytest.param(
            as_arrow([*PAGE, aws_row(START, "9", "Amazon S3")]),
            "rows 1 and 3: the same key (time_period_start=2026-03-01, "
            "linked_account_id=123456789012, service=Amazon S3,",
            id="one key twice with another amount (Arrow)",
        ),
    ],
)
def test_a_key_twice_in_one_batch_is_refused_and_writes_nothing(tmp_path: Path, batch, message):
    # GIVEN a window already loaded
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "5")])
    before = totals(db), ledger_rows(db)

    # WHEN a reload carries the same natural key twice (a paging bug)
    with pytest.raises(LoadValidationError) as raised:
        land(db, batch)

    # THEN it is refused naming both rows and the key; data and ledger are unchanged
    assert message in str(raised.value)
    assert "raw.aws_cost_explorer" in str(raised.value)
    assert (totals(db), ledger_rows(db)) == before


def test_a_key_repeated_with_an_empty_key_field_is_still_refused():
    # GIVEN a raw table whose natural key has an optional field (FOCUS dimensions do),
    # and a batch where two rows share the key with that field empty
    table = RawTable(
        name="optional_keys",
        columns=(
            ("day", "date not null", pa.date32()),
            ("account", "varchar", pa.string()),
            ("cost", AMOUNT_SQL, AMOUNT),
        ),
        date_column="day",
        charge_date_sql="day",
        account_sql="account",
        measures=(),
        key_columns=("day", "account"),
    )
    batch = pa.Table.from_pylist(
        [
            {"day": START, "account": None, "cost": Decimal("1")},
            {"day": START, "account": "a", "cost": Decimal("2")},
            {"day": START, "account": None, "cost": Decimal("3")},
        ],
        schema=table.arrow_schema(),
    )

    # WHEN the batch is checked THEN both rows and the key are named
    with pytest.raises(LoadValidationError) as raised:
        validation.check_unique_keys(table, batch)
    assert "raw.optional_keys rows 0 and 2: the same key (day=2026-03-01, account=None)" in str(
        raised.value
    )


def test_the_ledger_says_what_a_load_stands_for_as_columns(tmp_path: Path):
    # GIVEN an API load (the table's provider) and a FOCUS load naming its own
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "1")])
    failed_focus_load = {
        "raw_table": "focus_costs",
        "source": "focus_files",
        "scope": "Amazon Web Services/1@2026-03-01",
        "window_start": START,
        "window_end": END,
        "error": "x",
    }
    with pytest.raises(LoadValidationError, match=r"raw\.focus_costs must name its provider_name"):
        warehouse.record_failed_load(db, **failed_focus_load)
    warehouse.record_failed_load(
        db,
        **failed_focus_load,
        provider_name="Amazon Web Services",
        billing_account_id="1",
        billing_period_start=START,
    )

    # THEN each ledger row carries provider, billing account and period (nothing to parse)
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "select source, provider_name, billing_account_id, billing_period_start "
            "from raw.load_ledger order by source"
        ).fetchall()
    assert rows == [
        ("aws_cost_explorer", "AWS", None, None),
        ("focus_files", "Amazon Web Services", "1", START),
    ]


def test_a_ledger_written_before_its_scope_and_retry_columns_is_upgraded_once(tmp_path: Path):
    # GIVEN a warehouse whose ledgers predate the provider / billing account / period columns
    db = tmp_path / "w.duckdb"
    land(db, [aws_row(START, "1")])
    land(db, [aws_row(START, "2")])  # a restatement of the same day
    with duckdb.connect(str(db)) as con:
        con.execute(
            "insert into raw.load_ledger (load_id, source, raw_table, scope, window_start, "
            "window_end, started_at, status) values ('f1', 'focus_files', 'raw.focus_costs', "
            "'Microsoft//providers/Microsoft.Billing/billingAccounts/86@2026-02-01', "
            "'2026-02-01', '2026-03-01', '2026-03-01 00:00:00', 'succeeded'), "
            "('p1', 'simulated', 'raw.focus_costs', '*', '2026-02-01', '2026-03-01', "
            "'2026-03-01 00:00:00', 'succeeded')"
        )
        for name, _ in schema.LEDGER_SCOPE_COLUMNS:
            con.execute(f"alter table raw.load_ledger drop column {name}")
        con.execute("alter table raw.load_ledger drop column api_retries")  # issue #20's
        con.execute("alter table raw.load_restatements drop column provider_name")

    # WHEN the next load opens the warehouse
    land(db, [aws_row(START, "3")], scope="999999999999")

    # THEN the old rows got their columns from what they recorded, and the restatement too
    with duckdb.connect(str(db), read_only=True) as con:
        ledger = con.execute(
            "select scope, provider_name, billing_account_id, billing_period_start "
            "from raw.load_ledger order by started_at, scope"
        ).fetchall()
        restated = con.execute(
            "select distinct provider_name from raw.load_restatements"
        ).fetchall()
    assert (
        "Microsoft//providers/Microsoft.Billing/billingAccounts/86@2026-02-01",
        "Microsoft",
        "/providers/Microsoft.Billing/billingAccounts/86",
        date(2026, 2, 1),
    ) in ledger
    assert ("*", None, None, None) in ledger
    assert [r for r in ledger if r[0] == "123456789012"] == [
        ("123456789012", "AWS", "123456789012", None)
    ] * 2
    assert ("999999999999", "AWS", None, None) in ledger  # a new load: no account given
    assert restated == [("AWS",)]
    # ... and the retried requests, which no older load counted, are 0 on every row
    with duckdb.connect(str(db), read_only=True) as con:
        retries = con.execute("select distinct api_retries from raw.load_ledger").fetchall()
    assert retries == [(0,)]


# ------------------------------------------------------------------ schema upgrades


def old_focus_table(con: duckdb.DuckDBPyConnection, leave_out: tuple[str, ...]) -> None:
    """raw.focus_costs as an older version created it: without the columns `leave_out`."""
    columns = ",\n".join(
        f"{name} {sql}" for name, sql, _ in FOCUS_COSTS.columns if name not in leave_out
    )
    con.execute("create schema raw")
    con.execute(f"create table raw.focus_costs ({columns},\n{LOAD_META_SQL})")


def test_an_older_raw_table_gets_the_columns_its_source_added(tmp_path: Path):
    # GIVEN a warehouse whose raw.focus_costs predates the commitment discount columns,
    # holding a landed row
    commitment = tuple(
        name for name, _, _ in FOCUS_COSTS.columns if name.startswith("commitment_discount_")
    )
    assert len(commitment) == 7
    con = duckdb.connect(str(tmp_path / "old.duckdb"))
    old_focus_table(con, commitment)
    con.execute(
        "insert into raw.focus_costs (billing_period_start, billing_period_end, charge_date, "
        "billing_account_id, provider_name, service_name, charge_category, billing_currency, "
        "billed_cost, effective_cost, x_source_rows, x_focus_version, x_file_set_sha256, "
        "_source, _scope, _window_start, _window_end, _load_id, _loaded_at) values "
        "('2024-09-01', '2024-10-01', '2024-09-02', '1', 'AWS', 'EC2', 'Usage', 'USD', 1.5, "
        "1.5, 1, '1.0', 'x', 'focus_files', 'AWS/1@2024-09-01', '2024-09-01', '2024-10-01', "
        "'l1', '2024-09-03 00:00:00')"
    )

    # WHEN the writer opens it (every write checks the raw layer first), twice
    schema.ensure_raw_schema(con)
    schema.ensure_raw_schema(con)

    # THEN the new columns are there, null on the row landed before them; nothing else moved
    values = con.execute(
        f"select billed_cost, {', '.join(commitment)} from raw.focus_costs"
    ).fetchall()
    assert values == [(Decimal("1.5"), *([None] * 7))]
    con.close()


def test_a_missing_mandatory_raw_column_is_refused_by_name(tmp_path: Path):
    # GIVEN a raw.focus_costs without a column the source declares not null, nor the
    # nullable commitment id
    con = duckdb.connect(str(tmp_path / "odd.duckdb"))
    old_focus_table(con, ("commitment_discount_id", "billed_cost"))

    # THEN the writer refuses it naming the table and the column, and adds nothing
    with pytest.raises(RuntimeError, match=r"raw\.focus_costs has no column billed_cost"):
        schema.ensure_raw_schema(con)
    columns = {
        name
        for (name,) in con.execute(
            "select column_name from information_schema.columns where table_name = 'focus_costs'"
        ).fetchall()
    }
    assert "commitment_discount_id" not in columns
    con.close()
