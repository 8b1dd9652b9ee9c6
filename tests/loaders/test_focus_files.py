"""The FOCUS files loader on the FinOps Foundation's real sample, its copies and S3 (moto).

No dbt here (tests/pipelines/test_focus_pipeline.py builds the marts): these tests check what
lands in raw.focus_costs, the ledger and raw.focus_imports - totals against the file's own,
the daily rollup, idempotency, restatement, and that a malformed file lands nothing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
import pytest
from aws_ce_emulator import MotoServer
from focus_testing import (
    PROVIDERS,
    SAMPLE,
    altered_copy,
    cents,
    copy_sample,
    fetch,
    file_totals,
    gzip_copy,
    parquet_copy,
    read_rows,
    warehouse_state,
    write_rows,
)

from loaders import focus_files
from loaders.catalogue import LOAD_META_SQL
from loaders.focus_files.source import FOCUS_COSTS

SCOPES = [
    "AWS/1234567890123@2024-09-01",
    "Microsoft//providers/Microsoft.Billing/billingAccounts/8611537@2024-09-01",
    "Oracle/20209880@2024-09-01",
    "Oracle/20209880@2024-10-01",
]
# The raw columns that are data (not load bookkeeping).
DATA_COLUMNS = (
    "billing_period_start, billing_period_end, charge_date, billing_account_id, "
    "billing_account_name, sub_account_id, sub_account_name, provider_name, publisher_name, "
    "invoice_issuer_name, service_name, service_category, service_subcategory, region_id, "
    "region_name, charge_category, charge_class, charge_frequency, pricing_category, "
    "billing_currency, consumed_unit, x_service_code, commitment_discount_id, "
    "commitment_discount_name, commitment_discount_type, commitment_discount_category, "
    "commitment_discount_status, commitment_discount_unit, billed_cost, effective_cost, "
    "list_cost, contracted_cost, consumed_quantity, commitment_discount_quantity, "
    "x_source_rows, x_focus_version"
)


def raw_totals(db_path: Path) -> dict[tuple[str, str], tuple[Decimal, Decimal]]:
    rows = fetch(
        db_path,
        "select provider_name, billing_currency, sum(billed_cost), sum(effective_cost) "
        "from raw.focus_costs group by all",
    )
    return {(PROVIDERS[p], c): (b, e) for p, c, b, e in rows}


def data_rows(db_path: Path) -> list[tuple]:
    return fetch(db_path, f"select {DATA_COLUMNS} from raw.focus_costs order by all")


@pytest.fixture(scope="module")
def sample_import(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A warehouse with the unchanged sample imported once (read by several tests)."""
    folder = tmp_path_factory.mktemp("focus_sample")
    csv_path = copy_sample(folder / "export")
    db_path = folder / "finops.duckdb"
    focus_files.load(db_path, str(csv_path))
    return db_path, csv_path


# ------------------------------------------------------------------ the sample, as it is


def test_sample_lands_daily_rows_whose_totals_are_the_files(sample_import: tuple[Path, Path]):
    # GIVEN the FOCUS sample (AWS and Oracle hourly, Microsoft daily, string NULLs)
    db_path, csv_path = sample_import
    assert csv_path.read_bytes() == SAMPLE.read_bytes()

    # THEN billed and effective totals per provider and currency are the file's to the cent
    # (and to 1e-8: amounts are exact decimals, rounded at 10 places per file row)
    landed, expected = raw_totals(db_path), file_totals(csv_path)
    assert (
        cents(landed)
        == cents(expected)
        == {
            ("AWS", "USD"): (Decimal("18.01"), Decimal("13.00")),
            ("Azure", "USD"): (Decimal("1.98"), Decimal("1.98")),
            ("Oracle", "USD"): (Decimal("0.54"), Decimal("0.00")),
        }
    )
    for key, (billed, effective) in expected.items():
        assert abs(landed[key][0] - billed) < Decimal("1e-8")
        assert abs(landed[key][1] - effective) < Decimal("1e-8")

    # THEN every file row is in exactly one daily row: hourly rows were rolled up
    per_provider = dict(
        fetch(db_path, "select provider_name, sum(x_source_rows) from raw.focus_costs group by 1")
    )
    assert per_provider == {"AWS": 942, "Microsoft": 51, "Oracle": 7}
    assert fetch(db_path, "select count(*) from raw.focus_costs")[0][0] == 814

    # THEN one load per billing period of each billing account; the late Oracle charge
    # (charge day 2024-09-30, billed in October) widens its load's window to that day
    ledger = fetch(
        db_path,
        "select scope, window_start, window_end, status, row_count from raw.load_ledger "
        "order by scope",
    )
    assert ledger == [
        (SCOPES[0], date(2024, 9, 1), date(2024, 10, 1), "succeeded", 764),
        (SCOPES[1], date(2024, 9, 1), date(2024, 10, 1), "succeeded", 43),
        (SCOPES[2], date(2024, 9, 1), date(2024, 10, 1), "succeeded", 6),
        (SCOPES[3], date(2024, 9, 30), date(2024, 11, 1), "succeeded", 1),
    ]


def test_hourly_rows_of_a_day_are_summed_into_one_row(sample_import: tuple[Path, Path]):
    # GIVEN the sample's hourly AWS rows of one account, service and region on 2024-09-18
    db_path, csv_path = sample_import
    header, rows = read_rows(csv_path)
    col = {name: i for i, name in enumerate(header)}
    hourly = [
        r
        for r in rows
        if r[col["SubAccountId"]] == "11353890204"
        and r[col["ServiceName"]] == "Amazon Elastic Compute Cloud"
        and r[col["ChargePeriodStart"]].startswith("2024-09-18")
    ]
    assert len({r[col["ChargePeriodStart"]] for r in hourly}) > 1  # several hours

    # THEN their daily rows hold exactly their sums, one row per dimension combination
    landed = fetch(
        db_path,
        "select sum(x_source_rows), sum(billed_cost), sum(effective_cost) from raw.focus_costs "
        "where sub_account_id = '11353890204' and service_name = 'Amazon Elastic Compute Cloud' "
        "and charge_date = date '2024-09-18'",
    )
    billed = sum(Decimal(r[col["BilledCost"]]) for r in hourly)
    effective = sum(Decimal(r[col["EffectiveCost"]]) for r in hourly)
    [(source_rows, landed_billed, landed_effective)] = landed
    assert source_rows == len(hourly)
    # exact decimals, each file value rounded at 10 places (the sample has 11)
    assert abs(landed_billed - billed) < Decimal("1e-8") and landed_billed > 0
    assert abs(landed_effective - effective) < Decimal("1e-8")


@pytest.mark.parametrize(
    "make_copy",
    [
        pytest.param(lambda src, folder: parquet_copy(src, folder / "focus.parquet"), id="parquet"),
        pytest.param(lambda src, folder: gzip_copy(src, folder / "focus.csv.gz"), id="csv.gz"),
    ],
)
def test_parquet_and_gzip_copies_land_the_same_rows(
    sample_import: tuple[Path, Path], tmp_path: Path, make_copy: Any
):
    # GIVEN a Parquet copy written by DuckDB (costs DOUBLE, like AWS) or a gzip copy
    db_path, csv_path = sample_import
    copy = make_copy(csv_path, tmp_path / "export")

    # WHEN it is imported into a fresh warehouse
    fresh = tmp_path / "fresh.duckdb"
    result = focus_files.load(fresh, str(copy))

    # THEN the same daily rows land, value for value (the marts are built from these)
    assert sorted(load.scope for load in result.loads) == SCOPES
    assert data_rows(fresh) == data_rows(db_path)


def test_a_billing_period_split_over_files_lands_as_one_and_keeps_its_fingerprint(
    sample_import: tuple[Path, Path], tmp_path: Path
):
    # GIVEN the sample's rows split over two files (every other row: the hours of one day
    # and one key end up in both), as large exports are delivered in parts
    db_path, csv_path = sample_import
    header, rows = read_rows(csv_path)
    write_rows(tmp_path / "parts" / "part-0.csv", header, rows[0::2])
    write_rows(tmp_path / "parts" / "part-1.csv", header, rows[1::2])

    # WHEN the parts are imported into a fresh warehouse
    fresh = tmp_path / "fresh.duckdb"
    result = focus_files.load(fresh, str(tmp_path / "parts"))

    # THEN each period's rows are summed across the files: the same daily rows as the
    # single file gave, value for value
    assert sorted(load.scope for load in result.loads) == SCOPES
    assert data_rows(fresh) == data_rows(db_path)

    # AND the same rows delivered as the one file are recognised as unchanged (the
    # period's fingerprint does not depend on how many files held it)
    again = focus_files.load(fresh, str(csv_path))
    assert again.loads == [] and again.unchanged == SCOPES


def test_commitment_discount_columns_are_kept(sample_import: tuple[Path, Path]):
    # GIVEN the sample's four hours of AWS usage covered by a savings plan (PricingCategory
    # Committed, CommitmentDiscountName the string NULL), on four different days
    db_path, _ = sample_import

    # THEN they land as their own daily rows with the commitment they used, apart from the
    # on-demand rows of the same days
    rows = fetch(
        db_path,
        "select charge_date, commitment_discount_id, commitment_discount_name, "
        "commitment_discount_type, commitment_discount_category, commitment_discount_status, "
        "pricing_category, x_source_rows from raw.focus_costs "
        "where commitment_discount_id is not null order by charge_date",
    )
    plan = "arn:aws:savingsplans::{}:savingsplan/{}"
    first = plan.format("961082193871", "493f5705-db1c-4867-8e5c-ee9a66fa6d3f")
    second = plan.format("365499461711", "37985e61-4fcb-4023-9dd7-e524c80342a2")
    used = ("Savings Plan", "Spend", "Used", "Committed", 1)
    assert rows == [
        (date(2024, 9, 4), first, None, *used),
        (date(2024, 9, 20), second, None, *used),
        (date(2024, 9, 22), second, None, *used),
        (date(2024, 9, 26), second, None, *used),
    ]
    # ... and no other row has a commitment status; the file has no commitment quantity or
    # unit columns: null, not invented
    assert fetch(
        db_path,
        "select count(commitment_discount_status), count(commitment_discount_unit), "
        "count(commitment_discount_quantity) from raw.focus_costs",
    ) == [(4, 0, 0)]


def test_a_change_of_the_rollup_lands_every_period_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # GIVEN the sample imported by a version whose rollup kept other columns
    db_path = tmp_path / "finops.duckdb"
    csv_path = copy_sample(tmp_path / "export")
    monkeypatch.setattr(focus_files.mapping, "ROLLUP_VERSION", "0")
    focus_files.load(db_path, str(csv_path))
    monkeypatch.undo()

    # WHEN this version imports the same, unchanged files
    again = focus_files.load(db_path, str(csv_path))

    # THEN every billing period is landed again (its fingerprint names the rollup), so
    # columns the old rollup did not keep are filled; the same money, nothing doubled
    assert sorted(load.scope for load in again.loads) == SCOPES and again.unchanged == []
    assert cents(raw_totals(db_path)) == cents(file_totals(csv_path))


def test_a_warehouse_from_before_the_commitment_columns_gets_them_on_import(tmp_path: Path):
    # GIVEN a warehouse whose raw.focus_costs was created without the commitment columns
    db_path = tmp_path / "finops.duckdb"
    kept = ", ".join(
        f"{name} {sql}"
        for name, sql, _ in FOCUS_COSTS.columns
        if not name.startswith("commitment_discount_")
    )
    con = duckdb.connect(str(db_path))
    con.execute("create schema raw")
    con.execute(f"create table raw.focus_costs ({kept}, {LOAD_META_SQL})")
    con.close()

    # WHEN the sample is imported into it
    focus_files.load(db_path, str(copy_sample(tmp_path / "export")))

    # THEN the import added the columns and filled them
    assert fetch(
        db_path,
        "select count(distinct commitment_discount_id), count(commitment_discount_status) "
        "from raw.focus_costs",
    ) == [(2, 4)]


# ------------------------------------------------------------------ idempotency


def test_reimport_of_the_same_files_is_a_no_op(tmp_path: Path):
    # GIVEN the sample imported once
    db_path = tmp_path / "finops.duckdb"
    csv_path = copy_sample(tmp_path / "export")
    first = focus_files.load(db_path, str(csv_path))
    before = warehouse_state(db_path)

    # WHEN the same files are imported again, from the same place and renamed elsewhere
    again = focus_files.load(db_path, str(csv_path))
    renamed = copy_sample(tmp_path / "elsewhere", name="2024-09.csv")
    moved = focus_files.load(db_path, str(renamed.parent))

    # THEN nothing was read or written: no ledger row, no raw row rewritten
    for result in (again, moved):
        assert result.loads == [] and result.read_files is False
        assert result.unchanged == SCOPES
    after = warehouse_state(db_path)
    assert after["load_ledger"] == before["load_ledger"]
    assert after["focus_costs"] == before["focus_costs"]
    assert after["load_restatements"] == before["load_restatements"] == []
    # ... and the import records say so, naming the loads whose rows are still current
    records = fetch(
        db_path,
        "select import_id, scope, action, load_id, row_count from raw.focus_imports "
        "order by imported_at, scope",
    )
    first_loads = {load.scope: load.load_id for load in first.loads}
    assert [(s, a, lid, n) for _, s, a, lid, n in records[4:]] == [
        (scope, "unchanged", first_loads[scope], 0) for scope in SCOPES
    ] * 2


def test_a_new_file_beside_imported_ones_is_the_only_one_read(tmp_path: Path):
    # GIVEN the sample imported from an export folder
    db_path = tmp_path / "finops.duckdb"
    export = tmp_path / "export"
    first = focus_files.load(db_path, str(copy_sample(export / "2024-09")))
    ledger_before = warehouse_state(db_path)["load_ledger"]

    # WHEN the export gains a file of another billing account and the folder is imported
    altered_copy(export / "2024-10" / "other-account.csv", _new_oracle_account)
    result = focus_files.load(db_path, str(export))

    # THEN only the new file was read, its periods landed, and the sample's were kept as
    # they were (no ledger row, same load ids)
    assert result.files_read == ["2024-10/other-account.csv"]
    assert sorted(load.scope for load in result.loads) == [
        "Oracle/99999999@2024-09-01",
        "Oracle/99999999@2024-10-01",
    ]
    assert result.unchanged == SCOPES
    ledger = warehouse_state(db_path)["load_ledger"]
    assert len(ledger) == len(ledger_before) + 2
    assert set(ledger_before) <= set(ledger)
    assert {load.load_id for load in first.loads} <= set(
        lid for (lid,) in fetch(db_path, "select distinct _load_id from raw.focus_costs")
    )


def test_a_copy_of_a_file_in_the_export_is_refused(tmp_path: Path):
    # GIVEN an export folder where a file was copied (the same rows twice)
    export = tmp_path / "export"
    copy_sample(export)
    copy_sample(export, name="focus_sample (1).csv")

    # WHEN it is imported THEN it is refused before anything is read or written
    with pytest.raises(focus_files.FocusImportError, match="have the same contents"):
        focus_files.load(tmp_path / "finops.duckdb", str(export))
    assert warehouse_state(tmp_path / "finops.duckdb") == {}


def test_restated_export_replaces_its_billing_period_and_nothing_else(tmp_path: Path):
    # GIVEN the sample imported, then AWS restates ten of its September rows (+1.25 USD each)
    db_path = tmp_path / "finops.duckdb"
    original = copy_sample(tmp_path / "export")
    focus_files.load(db_path, str(original))
    aws_billed_before = raw_totals(db_path)[("AWS", "USD")][0]
    aws_rows_before = fetch(
        db_path, "select count(*) from raw.focus_costs where _scope = ?", [SCOPES[0]]
    )
    others_sql = "select * from raw.focus_costs where _scope != ? order by all"
    others_before = fetch(db_path, others_sql, [SCOPES[0]])

    def restate(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
        col = {name: i for i, name in enumerate(header)}
        changed = [r for r in rows if r[col["ProviderName"]] == "AWS"][:10]
        for row in changed:
            row[col["BilledCost"]] = str(Decimal(row[col["BilledCost"]]) + Decimal("1.25"))
        return header, rows

    restated = altered_copy(tmp_path / "export" / "focus_sample.csv", restate)

    # WHEN the restated export is imported
    result = focus_files.load(db_path, str(restated))

    # THEN only the AWS period was replaced; the others were the same and were kept
    assert [load.scope for load in result.loads] == [SCOPES[0]]
    assert result.unchanged == SCOPES[1:]
    [load] = result.loads
    assert load.replaced_row_count == aws_rows_before[0][0] == load.row_count
    # ... the totals are the restated file's, never the old plus the new
    assert cents(raw_totals(db_path)) == cents(file_totals(restated))
    assert raw_totals(db_path)[("AWS", "USD")][0] == aws_billed_before + Decimal("12.50")
    # ... and the other periods' rows were not touched (same load ids, same values)
    assert fetch(db_path, others_sql, [SCOPES[0]]) == others_before
    # ... and the restatement ledger shows the AWS days that changed, by +12.50 in total
    changes = fetch(
        db_path,
        "select sum(new_cost - previous_cost), count(distinct charge_date) "
        "from raw.load_restatements where scope = ? and cost_type = 'billed'",
        [SCOPES[0]],
    )
    assert changes[0][0] == Decimal("12.50") and changes[0][1] >= 1


# ------------------------------------------------------------------ malformed input


def _set(column: str, line: int, value: str):
    """Change one value: `line` counts the header as line 1, like the error messages."""

    def change(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
        rows[line - 2][header.index(column)] = value
        return header, rows

    return change


def _drop(column: str):
    def change(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
        i = header.index(column)
        return header[:i] + header[i + 1 :], [r[:i] + r[i + 1 :] for r in rows]

    return change


def _header(mapping: dict[str, str]):
    def change(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
        return [mapping.get(name, name) for name in header], rows

    return change


def _shorten(line: int, keep: int):
    def change(header: list[str], rows: list[list[str]]) -> tuple[list[str], list[list[str]]]:
        rows[line - 2] = rows[line - 2][:keep]
        return header, rows

    return change


def _new_oracle_account(
    header: list[str], rows: list[list[str]]
) -> tuple[list[str], list[list[str]]]:
    """The sample's Oracle rows under another billing account: valid new data."""
    col = {name: i for i, name in enumerate(header)}
    oracle = [r for r in rows if r[col["ProviderName"]] == "Oracle"]
    for row in oracle:
        row[col["BillingAccountId"]] = "99999999"
    return header, oracle


MALFORMED = [
    pytest.param(
        _set("BilledCost", 11, "12,5O"),
        "corrupt.csv: line 11, column BilledCost: value '12,5O' is not a number",
        id="bad number",
    ),
    pytest.param(
        _drop("EffectiveCost"),
        "corrupt.csv: line 1 (header), column EffectiveCost: mandatory FOCUS column missing",
        id="missing mandatory column",
    ),
    pytest.param(
        _header({"BilledCost": "Billed Cost", "BillingCurrency": "Currency"}),
        "corrupt.csv: line 1 (header), column BilledCost: mandatory FOCUS column missing "
        "(also missing: BillingCurrency)",
        id="wrong header",
    ),
    pytest.param(
        _set("ChargePeriodStart", 500, "2024-09-31T25:00:00Z"),
        "corrupt.csv: line 500, column ChargePeriodStart: value '2024-09-31T25:00:00Z' is not "
        "a date/time",
        id="unparseable date",
    ),
    pytest.param(
        _set("ServiceName", 999, "NULL"),
        "corrupt.csv: line 999, column ServiceName: mandatory value is empty",
        id="empty mandatory value",
    ),
    pytest.param(
        _set("BillingPeriodEnd", 42, "2024-08-01 00:00:00"),
        "corrupt.csv: line 42, column BillingPeriodEnd: BillingPeriodEnd '2024-08-01 00:00:00' "
        "is not after BillingPeriodStart '2024-09-01 00:00:00'",
        id="period ends before it starts",
    ),
    pytest.param(
        _shorten(77, 10),
        "corrupt.csv: line 77, column ChargeFrequency: the row has 10 values, the header 44",
        id="short row",
    ),
    pytest.param(
        _header({"ChargeCategory": "ChargeType", "EffectiveCost": "AmortizedCost"}),
        "corrupt.csv: line 1 (header): unknown FOCUS version (columns AmortizedCost, "
        "ChargeType are FOCUS 0.5 / 1.0-preview); supported: 1.0, 1.1, 1.2, 1.3",
        id="unknown FOCUS version (columns)",
    ),
]


@pytest.mark.parametrize(("change", "message"), MALFORMED)
def test_malformed_file_fails_naming_file_line_column_and_lands_nothing(
    tmp_path: Path, change: Any, message: str
):
    # GIVEN a warehouse holding the sample, and an export folder with a valid file of a new
    # billing account (read first) and a corrupted copy of the sample
    db_path = tmp_path / "finops.duckdb"
    focus_files.load(db_path, str(copy_sample(tmp_path / "first")))
    before = warehouse_state(db_path)
    export = tmp_path / "export"
    altered_copy(export / "a_new_account.csv", _new_oracle_account)
    altered_copy(export / "corrupt.csv", change)

    # WHEN the folder is imported
    with pytest.raises(focus_files.FocusImportError) as failure:
        focus_files.load(db_path, str(export))

    # THEN the error names the file, the line and the column, and says nothing was loaded
    assert message in str(failure.value)
    assert "nothing was loaded" in str(failure.value)
    # ... and the warehouse is exactly as before: no row, no ledger row, no import record
    assert warehouse_state(db_path) == before


def test_unknown_focus_version_in_the_export_metadata_is_refused(tmp_path: Path):
    # GIVEN a valid file beside FOCUS metadata that declares a version we do not read
    export = tmp_path / "export"
    copy_sample(export / "data")
    (export / "metadata").mkdir()
    (export / "metadata" / "schema.json").write_text(
        json.dumps({"SchemaId": "x", "FocusVersion": "2.0", "ColumnDefinition": []})
    )
    db_path = tmp_path / "finops.duckdb"

    # WHEN it is imported THEN it fails naming the metadata file and lands nothing
    with pytest.raises(focus_files.FocusImportError, match=r"metadata/schema\.json: unknown FOCUS"):
        focus_files.load(db_path, str(export))
    assert warehouse_state(db_path) == {}


def test_bad_value_in_parquet_names_the_row(tmp_path: Path):
    # GIVEN a Parquet file whose BilledCost is text, with one value that is not a number
    copy = parquet_copy(SAMPLE, tmp_path / "good.parquet")
    bad = tmp_path / "export" / "bad.parquet"
    bad.parent.mkdir()
    con = duckdb.connect()
    con.execute(
        f"copy (select * exclude (file_row_number) replace (case when file_row_number = 6 "
        f"then 'n/a' "
        f"else cast(BilledCost as varchar) end as BilledCost) "
        f"from read_parquet('{copy}', file_row_number = true)) to '{bad}' (format parquet)"
    )
    con.close()

    # WHEN it is imported THEN the error names its 7th row and the column
    with pytest.raises(focus_files.FocusImportError) as failure:
        focus_files.load(tmp_path / "finops.duckdb", str(bad.parent))
    assert "bad.parquet: row 7, column BilledCost: value 'n/a' is not a number" in str(
        failure.value
    )


def _parquet_parts(csv_path: Path, folder: Path, parts: int) -> list[Path]:
    """The sample's rows dealt over `parts` Parquet files of one schema (row i to part i mod
    `parts`: the hours of one day and key end up in several files)."""
    whole = parquet_copy(csv_path, folder.parent / f"{folder.name}-whole.parquet")
    folder.mkdir(parents=True)
    con = duckdb.connect()
    try:
        paths = []
        for part in range(parts):
            path = folder / f"part-{part}.parquet"
            con.execute(
                f"copy (select * exclude (file_row_number) "
                f"from read_parquet('{whole}', file_row_number = true) "
                f"where file_row_number % {parts} = {part} order by file_row_number) "
                f"to '{path}' (format parquet)"
            )
            paths.append(path)
        return paths
    finally:
        con.close()


def test_parquet_files_of_one_schema_read_by_one_query_land_as_the_one_file(
    sample_import: tuple[Path, Path], tmp_path: Path
):
    # GIVEN the sample's rows dealt over three Parquet files of one schema (read by one
    # DuckDB query: `Stage.add_all`), each period's rows in all three
    db_path, csv_path = sample_import
    _parquet_parts(csv_path, tmp_path / "export", 3)

    # WHEN they are imported into a fresh warehouse
    fresh = tmp_path / "fresh.duckdb"
    result = focus_files.load(fresh, str(tmp_path / "export"))

    # THEN the same daily rows land as from the one CSV file, value for value, the
    # periods spread over the files summed across them
    assert sorted(load.scope for load in result.loads) == SCOPES
    assert data_rows(fresh) == data_rows(db_path)
    assert result.files_read == [f"part-{i}.parquet" for i in range(3)]
    files = fetch(fresh, "select files from raw.focus_imports order by scope")
    assert [len(json.loads(f)) for (f,) in files] == [3, 3, 3, 1]  # the last: one row

    # AND the one CSV file is recognised as the same rows (unchanged fingerprints)
    again = focus_files.load(fresh, str(csv_path))
    assert again.loads == [] and again.unchanged == SCOPES


def _with_copies(header: list[str], rows: list[list[str]]):
    """The sample with its first AWS row twice more (at the end of the file) and its first
    Microsoft row once more (beside it): a file that delivered rows more than once."""
    provider = header.index("ProviderName")
    aws = next(r for r in rows if r[provider] == "AWS")
    azure_at = next(i for i, r in enumerate(rows) if r[provider] == "Microsoft")
    rows.insert(azure_at, list(rows[azure_at]))
    return header, [*rows, list(aws), list(aws)]


def _copies(db_path: Path) -> list[tuple]:
    return fetch(
        db_path,
        "select provider_name, charge_date, service_name, x_duplicate_rows, "
        "x_duplicate_billed_cost from raw.focus_costs where x_duplicate_rows > 0 order by all",
    )


def test_rows_a_file_holds_more_than_once_are_billed_and_counted_as_copies(
    sample_import: tuple[Path, Path], tmp_path: Path
):
    # GIVEN the sample as it is: no row twice
    db_path, _ = sample_import
    assert fetch(
        db_path, "select count(*), sum(x_duplicate_rows), sum(x_duplicate_billed_cost) "
        "from raw.focus_costs"
    )[0][1:] == (0, Decimal(0))  # fmt: skip
    # AND a copy holding its first AWS row three times and its first Microsoft row twice,
    # as CSV and as Parquet parts read by one query (the copies in different parts count
    # as copies only within their file)
    csv_path = altered_copy(tmp_path / "csv" / "focus.csv", _with_copies)
    header, rows = read_rows(csv_path)
    col = {name: i for i, name in enumerate(header)}
    aws, azure = rows[-1], next(r for r in rows if r[col["ProviderName"]] == "Microsoft")

    # WHEN each is imported
    focus_files.load(tmp_path / "csv.duckdb", str(csv_path))
    parts = tmp_path / "parquet"
    parquet_copy(csv_path, parts / "part-0.parquet")
    parquet_copy(SAMPLE, parts / "part-1.parquet")
    focus_files.load(tmp_path / "parquet.duckdb", str(parts))

    # THEN every copy is billed, as the file bills it: the totals are the file's, the
    # sample's plus the copies' (the rows are cents: compared to 1e-8)
    landed, original = raw_totals(tmp_path / "csv.duckdb"), raw_totals(db_path)
    added = {
        (PROVIDERS[row[col["ProviderName"]]], "USD"): copies * Decimal(row[col["BilledCost"]])
        for row, copies in ((aws, 2), (azure, 1))
    }
    assert cents(landed) == cents(file_totals(csv_path))
    for key, extra in added.items():
        assert (
            (landed[key][0] - original[key][0]).quantize(Decimal("1e-8"))
            == extra.quantize(Decimal("1e-8"))
            != 0
        )
    # AND each daily row holding copies counts them and their billed cost: the AWS row's
    # two surplus copies, the Microsoft row's one; no other row has any
    expected_copies = [
        (
            row[col["ProviderName"]],  # as the file wrote it (raw)
            date.fromisoformat(row[col["ChargePeriodStart"]][:10]),
            row[col["ServiceName"]],
            copies,
            (copies * Decimal(row[col["BilledCost"]])).quantize(Decimal("1e-10")),
        )
        for row, copies in ((aws, 2), (azure, 1))
    ]
    assert _copies(tmp_path / "csv.duckdb") == sorted(expected_copies)
    assert _copies(tmp_path / "parquet.duckdb") == sorted(expected_copies)


def test_a_bad_row_in_a_batch_of_parquet_files_names_its_file_and_row(tmp_path: Path):
    # GIVEN three Parquet files of one schema; the second has no ChargePeriodStart on
    # its 5th row (the file is read with the other two by one query)
    _, bad, _ = _parquet_parts(SAMPLE, tmp_path / "export", 3)
    broken = tmp_path / "broken.parquet"
    con = duckdb.connect()
    con.execute(
        f"copy (select * exclude (file_row_number) replace (case when file_row_number = 4 "
        f"then null else ChargePeriodStart end as ChargePeriodStart) "
        f"from read_parquet('{bad}', file_row_number = true) order by file_row_number) "
        f"to '{broken}' (format parquet)"
    )
    con.close()
    broken.replace(bad)

    # WHEN the folder is imported THEN the error names the second file, its 5th row and
    # the column, and nothing is landed
    db_path = tmp_path / "finops.duckdb"
    with pytest.raises(focus_files.FocusImportError) as failure:
        focus_files.load(db_path, str(tmp_path / "export"))
    assert "part-1.parquet: row 5, column ChargePeriodStart: mandatory value is empty" in str(
        failure.value
    )
    assert warehouse_state(db_path).get("focus_costs", []) == []


def test_a_refused_write_after_some_periods_lands_none_of_them(tmp_path: Path):
    # GIVEN a warehouse whose import records table refuses the import's records (a column
    # the loader does not fill, NOT NULL): the last write of an import, after every period
    db_path = tmp_path / "finops.duckdb"
    focus_files.load(db_path, str(copy_sample(tmp_path / "first")))
    con = duckdb.connect(str(db_path))
    con.execute("alter table raw.focus_imports add column reviewer varchar default null")
    con.execute("delete from raw.focus_imports")
    con.execute("alter table raw.focus_imports alter column reviewer set not null")
    con.close()
    before = warehouse_state(db_path)

    # WHEN a restated export of every period is imported
    restated = altered_copy(tmp_path / "export" / "restated.csv", _restate_every_cost)
    with pytest.raises(focus_files.FocusImportError) as failure:
        focus_files.load(db_path, str(restated))

    # THEN none of the periods landed: the periods, their ledger rows and the records are
    # one transaction (no period replaced without its import record)
    assert "nothing was loaded" in str(failure.value)
    assert warehouse_state(db_path) == before


def _restate_every_cost(header: list[str], rows: list[list[str]]):
    col = {name: i for i, name in enumerate(header)}
    for row in rows:
        if row[col["BilledCost"]] not in ("", "NULL"):
            row[col["BilledCost"]] = str(Decimal(row[col["BilledCost"]]) + Decimal("1"))
    return header, rows


def test_a_location_without_focus_files_is_an_error(tmp_path: Path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "README.txt").write_text("no data here")
    with pytest.raises(focus_files.FocusImportError, match="no FOCUS file"):
        focus_files.load(tmp_path / "finops.duckdb", str(tmp_path / "empty"))
    with pytest.raises(focus_files.FocusImportError, match="no such file or folder"):
        focus_files.load(tmp_path / "finops.duckdb", str(tmp_path / "missing"))


# ------------------------------------------------------------------ S3 (moto over HTTP)


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An empty moto S3; boto3 finds it only through its standard environment variables."""
    moto.reset()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFINOPSFOCUSTEST1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "focus-test-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3")
    client.create_bucket(Bucket="billing-exports")
    return client


def test_s3_prefix_is_downloaded_and_imported(s3: Any, tmp_path: Path):
    # GIVEN an export laid out like AWS Data Exports: a gzip CSV part under the prefix, a
    # manifest, and another export under a sibling prefix that must not be read
    gz = gzip_copy(SAMPLE, tmp_path / "part-0.csv.gz")
    prefix = "focus/FOCUS_1_0_AWS/data/BILLING_PERIOD=2024-09"
    s3.put_object(Bucket="billing-exports", Key=f"{prefix}/part-0.csv.gz", Body=gz.read_bytes())
    s3.put_object(
        Bucket="billing-exports",
        Key="focus/FOCUS_1_0_AWS/metadata/Manifest.json",
        Body=b'{"reportName": "FOCUS_1_0_AWS"}',
    )
    broken = write_rows(tmp_path / "broken.csv", ["not", "focus"], [["1", "2"]])
    s3.put_object(Bucket="billing-exports", Key="focus2/broken.csv", Body=broken.read_bytes())
    db_path = tmp_path / "warehouse" / "finops.duckdb"

    # WHEN s3://billing-exports/focus is imported (boto3 -> moto over HTTP)
    result = focus_files.load(db_path, "s3://billing-exports/focus")

    # THEN the sample's periods landed with the file's totals; focus2/ was never read
    assert sorted(load.scope for load in result.loads) == SCOPES
    assert cents(raw_totals(db_path)) == cents(file_totals(SAMPLE))
    files = json.loads(fetch(db_path, "select files from raw.focus_imports limit 1")[0][0])
    assert [f["name"] for f in files] == [f"s3://billing-exports/{prefix}/part-0.csv.gz"]
    # ... the downloads were temporary
    assert not any(p.name.startswith(".focus-import-") for p in db_path.parent.iterdir())

    # WHEN it is imported again THEN nothing is written (the same objects, by content)
    again = focus_files.load(db_path, "s3://billing-exports/focus/")
    assert again.loads == [] and again.unchanged == SCOPES and again.read_files is False


def test_s3_missing_bucket_names_it(s3: Any, tmp_path: Path):
    with pytest.raises(focus_files.FocusImportError, match="cannot read bucket 'no-such-bucket'"):
        focus_files.load(tmp_path / "finops.duckdb", "s3://no-such-bucket/focus")
    assert warehouse_state(tmp_path / "finops.duckdb") == {}


def _resource_rows(db_path: Path) -> list[tuple]:
    return fetch(
        db_path,
        "select provider_name, charge_date, resource_id, x_usage_type, billed_cost, "
        "effective_cost, consumed_quantity, x_source_rows "
        "from raw.focus_resource_costs order by all",
    )


def test_the_last_days_are_kept_per_resource_beside_the_daily_rows(tmp_path: Path):
    # GIVEN the sample (charge dates up to 2024-09-30; a few rows without a ResourceId:
    # the text NULL)
    db_path = tmp_path / "finops.duckdb"
    csv_path = copy_sample(tmp_path / "export")

    # WHEN it is imported keeping 10 days at resource grain
    focus_files.load(db_path, str(csv_path), resource_days=10)

    # THEN raw.focus_resource_costs holds 2024-09-21 .. 09-30 (the files' last 10 days),
    # per provider and day the file rows of those days that have a resource, to the cent,
    # with their row counts
    con = duckdb.connect()
    expected = con.execute(
        f"""
        select ProviderName, cast(ChargePeriodStart as date) as day,
               sum(cast(BilledCost as decimal(38, 10))), count(*)
        from read_csv('{csv_path}', all_varchar = true)
        where cast(ChargePeriodStart as date) >= date '2024-09-21'
          and ResourceId not in ('', 'NULL')
        group by all order by all
        """
    ).fetchall()
    con.close()
    assert expected and min(day for _, day, _, _ in expected) == date(2024, 9, 21)
    landed = fetch(
        db_path,
        "select provider_name, charge_date, sum(billed_cost), sum(x_source_rows) "
        "from raw.focus_resource_costs group by all order by all",
    )
    assert landed == expected
    # ... and the daily rows and their money are the files' as without it
    assert cents(raw_totals(db_path)) == cents(file_totals(csv_path))

    # WHEN the same files are imported with the resource grain off
    focus_files.load(db_path, str(csv_path), resource_days=0)
    # THEN every period lands again (its fingerprint names the setting) and none is kept
    assert _resource_rows(db_path) == []


def test_a_restated_period_keeps_the_resource_rows_a_first_import_would(tmp_path: Path):
    # GIVEN the export as it was on 2024-09-26 (rows up to 09-25) imported with 10 days
    header, rows = read_rows(SAMPLE)
    start = header.index("ChargePeriodStart")
    early = [row for row in rows if row[start][:10] <= "2024-09-25"]
    folder = tmp_path / "export"
    daily = tmp_path / "daily.duckdb"
    write_rows(folder / "focus_sample.csv", header, early)
    focus_files.load(daily, str(folder), resource_days=10)
    first_days = {day for _, day, *_ in _resource_rows(daily)}
    assert min(first_days) == date(2024, 9, 16)

    # WHEN the month's file is restated with the days up to 09-30 (the Azure period in it
    # ends on 09-19: unchanged, not landed again) and imported again
    write_rows(folder / "focus_sample.csv", header, rows)
    focus_files.load(daily, str(folder), resource_days=10)

    # THEN the resource rows are those of a first import of the whole export: the last 10
    # days of the table, the older ones (Azure's too) gone
    fresh = tmp_path / "fresh.duckdb"
    focus_files.load(fresh, str(folder), resource_days=10)
    assert _resource_rows(daily) == _resource_rows(fresh)
    assert min(day for _, day, *_ in _resource_rows(daily)) == date(2024, 9, 21)
