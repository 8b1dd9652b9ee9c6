"""FOCUS `Tags` read at import for the allocation keys (issue #18, FINOPS_ALLOCATION_TAGS):
each row keeps the configured keys - matched in any case, spelled as configured - in
`raw.focus_costs.x_allocation_tags`, and a malformed Tags value stops the import naming the
file, line and column. On our own rows (every edge FOCUS allows) and on the FinOps
Foundation's real sample, whose tags are worked out here with Python's json module.
"""

from __future__ import annotations

import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from allocation_testing import write_focus_1_3_export
from commitments_testing import HEADER, ROWS
from focus_testing import (
    SAMPLE,
    copy_sample,
    fetch,
    read_rows,
    warehouse_state,
    write_rows,
)

from loaders import focus_files

KEYS = ("team", "Cost-Center")


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


# Tags of the export's rows (tests/commitments_testing.py), one each, in row order
TAGS = [
    '{"Team": "Platform"}',  # another case than configured: matched, configured spelling kept
    '{"TEAM": "Data \\"Lake\\" Ünit", "cost-center": ""}',  # quotes, non-ASCII; empty value
    '{"team": null, "owner": "x"}',  # a key without a value: the value true
    '{"owner": "y"}',  # none of the keys
    "NULL",  # no tags
    '{"team": 42, "cost-center": "CC-7"}',  # a number is its text
    "",  # no tags
    '{"Cost-Center": "CC-7", "team": "Platform"}',  # same values as row 0's team, other order
    "{}",  # an empty object: none of the keys
]
EXPECTED = [
    {"team": "Platform", "Cost-Center": None},
    {"team": 'Data "Lake" Ünit', "Cost-Center": "true"},
    {"team": "true", "Cost-Center": None},
    None,
    None,
    {"team": "42", "Cost-Center": "CC-7"},
    None,
    {"team": "Platform", "Cost-Center": "CC-7"},
    None,
]


def tagged_export(folder: Path, tags: list[str] = TAGS) -> Path:
    return write_rows(
        folder / "focus-2026-01.csv",
        [*HEADER, "Tags"],
        [[*row, tag] for row, tag in zip(ROWS, tags, strict=True)],
    )


def landed_tags(db_path: Path) -> dict[str | None, Decimal]:
    rows = fetch(
        db_path,
        "select x_allocation_tags, sum(effective_cost) from raw.focus_costs group by all",
    )
    return dict(rows)


def expected_tags(values: list[dict | None]) -> dict[str | None, Decimal]:
    """The effective cost per x_allocation_tags text the rows' `values` make."""
    totals: dict[str | None, Decimal] = defaultdict(Decimal)
    effective = HEADER.index("EffectiveCost")
    for row, tags in zip(ROWS, values, strict=True):
        key = None if tags is None else json.dumps(tags, ensure_ascii=False, separators=(",", ":"))
        totals[key] += Decimal(row[effective])
    return dict(totals)


def test_the_configured_keys_are_kept_in_any_case_with_their_configured_spelling(tmp_path: Path):
    # GIVEN an export whose Tags spell the keys in several cases, with empty and missing
    # values, quotes and non-ASCII characters
    db_path = tmp_path / "finops.duckdb"
    export = tagged_export(tmp_path / "export")

    # WHEN it is imported with FINOPS_ALLOCATION_TAGS=team,Cost-Center
    focus_files.load(db_path, str(export.parent), tag_keys=KEYS)

    # THEN every row keeps exactly the configured keys' values, the money per value unchanged
    assert landed_tags(db_path) == expected_tags(EXPECTED)
    # ... and without keys nothing is read from Tags (the rows are those of before #18)
    plain = tmp_path / "plain.duckdb"
    focus_files.load(plain, str(export.parent))
    assert landed_tags(plain) == {None: sum(landed_tags(db_path).values())}


def test_a_parquet_map_of_tags_reads_as_the_json_text(tmp_path: Path):
    # GIVEN the same export as Parquet whose Tags is a MAP (as AWS writes it)
    csv_path = tagged_export(tmp_path / "csv")
    parquet = tmp_path / "export" / "focus-2026-01.parquet"
    parquet.parent.mkdir()
    con = duckdb.connect()
    con.execute(
        f"copy (select * replace (case when Tags is null or Tags in ('NULL', '') then null "
        f"else cast(json_transform(Tags, '\"MAP(VARCHAR, VARCHAR)\"') as map(varchar, varchar)) "
        f"end as Tags) from read_csv('{csv_path}', all_varchar = true)) "
        f"to '{parquet}' (format parquet)"
    )
    con.close()
    db_path = tmp_path / "finops.duckdb"

    # WHEN it is imported
    focus_files.load(db_path, str(parquet.parent), tag_keys=KEYS)

    # THEN the rows carry the same values (a MAP holds text: 42 is '42' already)
    assert landed_tags(db_path) == expected_tags(EXPECTED)


def test_the_public_samples_tags_match_pythons_reading(tmp_path: Path):
    # GIVEN the FinOps Foundation's sample (real tags: environment, CostCenter, ...)
    db_path = tmp_path / "finops.duckdb"
    keys = ("Environment", "costcenter")
    focus_files.load(db_path, str(copy_sample(tmp_path / "export")), tag_keys=keys)

    # WHEN its rows are read with Python's json module, keys matched in any case
    header, rows = read_rows(SAMPLE)
    col = {name: i for i, name in enumerate(header)}
    expected: dict[tuple[str | None, str | None], Decimal] = defaultdict(Decimal)
    for row in rows:
        text = row[col["Tags"]]
        tags = json.loads(text) if text not in ("", "NULL") else {}
        found = []
        for key in keys:
            match = next((k for k in tags if k.lower() == key.lower()), None)
            found.append(None if match is None else (tags[match] or "true"))
        expected[(found[0], found[1])] += Decimal(row[col["EffectiveCost"]])

    # THEN the import's rows hold the same effective cost per pair of values
    landed = fetch(
        db_path,
        "select x_allocation_tags ->> '$.Environment', x_allocation_tags ->> '$.costcenter', "
        "sum(effective_cost) from raw.focus_costs group by all",
    )
    assert {(e, c): cents(total) for e, c, total in landed} == {
        k: cents(v) for k, v in expected.items()
    }
    assert len(landed) > 3  # several values of each, not one bucket


def test_other_allocation_keys_land_every_period_again(tmp_path: Path):
    # GIVEN the export imported with one key
    db_path = tmp_path / "finops.duckdb"
    export = tagged_export(tmp_path / "export")
    focus_files.load(db_path, str(export.parent), tag_keys=("team",))
    again = focus_files.load(db_path, str(export.parent), tag_keys=("team",))
    assert again.loads == [] and len(again.unchanged) == 2  # nothing changed: not read

    # WHEN the keys change
    changed = focus_files.load(db_path, str(export.parent), tag_keys=KEYS)

    # THEN every billing period is landed again with the new keys' values
    assert len(changed.loads) == 2 and changed.unchanged == []
    assert landed_tags(db_path) == expected_tags(EXPECTED)


@pytest.mark.parametrize(
    ("bad", "problem"),
    [
        ("{'team': 'a'}", "value is not a JSON object (Expecting property name"),
        ('["team"]', "value is not a JSON object (a JSON list)"),
    ],
)
def test_malformed_tags_name_file_line_and_column_and_land_nothing(
    tmp_path: Path, bad: str, problem: str
):
    # GIVEN a warehouse holding the export, and a restated copy whose 7th row's Tags is broken
    db_path = tmp_path / "finops.duckdb"
    focus_files.load(db_path, str(tagged_export(tmp_path / "export").parent), tag_keys=KEYS)
    before = warehouse_state(db_path)
    broken = [*TAGS]
    broken[5] = bad
    restated = tagged_export(tmp_path / "restated", broken)

    # WHEN it is imported THEN the error names the file, the line (header = line 1) and
    # the column, and nothing was loaded
    with pytest.raises(focus_files.FocusImportError) as failure:
        focus_files.load(db_path, str(restated.parent), tag_keys=KEYS)
    assert f"focus-2026-01.csv: line 7, column Tags: {problem}" in str(failure.value)
    assert warehouse_state(db_path) == before


def test_malformed_tags_in_parquet_name_the_row(tmp_path: Path):
    broken = [*TAGS]
    broken[3] = "{not json"
    csv_path = tagged_export(tmp_path / "csv", broken)
    parquet = tmp_path / "export" / "bad.parquet"
    parquet.parent.mkdir()
    con = duckdb.connect()
    con.execute(f"copy (from read_csv('{csv_path}', all_varchar = true)) to '{parquet}'")
    con.close()
    with pytest.raises(focus_files.FocusImportError) as failure:
        focus_files.load(tmp_path / "finops.duckdb", str(parquet.parent), tag_keys=KEYS)
    assert "bad.parquet: row 4, column Tags: value is not a JSON object" in str(failure.value)


def test_a_focus_1_3_file_lands_with_its_provider_names_and_allocated_tags(tmp_path: Path):
    # GIVEN a FOCUS 1.3 export: ServiceProviderName / HostProviderName instead of the
    # deprecated ProviderName / PublisherName, and two allocated charges of one origin charge
    export = write_focus_1_3_export(tmp_path / "export")
    db_path = tmp_path / "finops.duckdb"

    # WHEN it is imported with the key team
    focus_files.load(db_path, str(export.parent), tag_keys=("team",))

    # THEN it is read as FOCUS 1.3, the provider names from the new columns, and each
    # allocated charge keeps its pod's team (AllocatedTags), the plain row its own Tags
    assert fetch(
        db_path,
        "select x_focus_version, provider_name, publisher_name, service_name, "
        "x_allocation_tags, sum(billed_cost) from raw.focus_costs group by all order by all",
    ) == [
        ("1.3", "AWS", "AWS", "AWS Lambda", '{"team":"web"}', Decimal(5)),
        ("1.3", "AWS", "AWS", "Amazon Elastic Compute Cloud", '{"team":"data"}', Decimal(40)),
        ("1.3", "AWS", "AWS", "Amazon Elastic Compute Cloud", '{"team":"web"}', Decimal(60)),
    ]
