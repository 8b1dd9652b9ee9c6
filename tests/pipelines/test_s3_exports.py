"""Exports to S3 and their retention prune, against moto's S3 over real HTTP.

boto3 finds moto only through its standard settings (`AWS_ENDPOINT_URL_S3`, fake keys,
`AWS_DEFAULT_REGION`), as a MinIO or any S3-compatible store would be configured.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import boto3
import duckdb
import luigi
import pytest
from aws_ce_emulator import MotoServer
from botocore.config import Config
from finops_testing import FIXED_RUN_DATE, finops_env, run_pipeline

from pipelines.exports import (
    AREAS,
    MART_TABLES,
    ExportDestinationError,
    S3ExportStore,
    export_store,
)
from pipelines.tasks import WarehouseRecord

BUCKET = "finops-dashboard-data"
PREFIX = "team/finops"
SECRET = "s3-test-secret-access-key-must-not-leak"
FINOPS = str(Path(sys.executable).with_name("finops"))


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    server = MotoServer().start()
    yield server
    server.stop()


@pytest.fixture
def s3(moto: MotoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """An empty moto with the bucket created; boto3 pointed at it by env vars only."""
    moto.reset()
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_RETRY_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto.url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFINOPSS3TEST0001")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    client = boto3.client("s3", config=Config(max_pool_connections=32))
    client.create_bucket(Bucket=BUCKET)
    return client


def all_keys(client: Any, bucket: str = BUCKET) -> set[str]:
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return {obj["Key"] for page in pages for obj in page.get("Contents", [])}


def record_calls(client: Any, operation: str) -> list[dict[str, Any]]:
    """The parameters of every `operation` call the client makes, in order."""
    calls: list[dict[str, Any]] = []

    def hook(params: dict[str, Any], **_: Any) -> None:
        calls.append(params)

    client.meta.events.register(f"before-parameter-build.s3.{operation}", hook)
    return calls


def put_many(client: Any, keys: list[str]) -> None:
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda k: client.put_object(Bucket=BUCKET, Key=k, Body=b"x"), keys))


# ------------------------------------------------------------------ export layout and contents


def test_export_puts_every_mart_and_the_manifest_last(s3: Any, built_warehouse: Path, tmp_path):
    # GIVEN a built warehouse and a store on the bucket, recording every PutObject
    # and a manifest left by an earlier export of the same date
    run_date = FIXED_RUN_DATE
    store = S3ExportStore(BUCKET, PREFIX, client=s3)
    stale = f"{PREFIX}/processed/{run_date.isoformat()}/_manifest.json"
    s3.put_object(Bucket=BUCKET, Key=stale, Body=b'{"files": []}')
    puts = record_calls(s3, "PutObject")
    withdrawn: list[int] = []
    s3.meta.events.register(
        "before-parameter-build.s3.DeleteObject", lambda **_: withdrawn.append(len(puts))
    )

    # WHEN the marts are exported and the manifest written, as the Export task does
    keys = store.export_marts(built_warehouse, run_date)
    manifest_key = store.write_manifest(run_date, keys, "build-20260701T080000-0123abcd")

    # THEN every file sits under the prefix, laid out by date
    day = run_date.isoformat()
    processed = {
        f"{PREFIX}/processed/{day}/{table}.{fmt}"
        for table in MART_TABLES
        for fmt in ("parquet", "csv")
    }
    assert set(keys) == processed | {f"{PREFIX}/kpis/{day}/kpis.json"}
    assert manifest_key == f"{PREFIX}/processed/{day}/_manifest.json"
    assert all_keys(s3) == set(keys) | {manifest_key}
    # and the manifest lists them all and was the last object put
    manifest = json.loads(s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert manifest == {
        "run_date": day,
        "build_id": "build-20260701T080000-0123abcd",  # what a rerun compares with its build
        "files": sorted(keys),
    }
    assert store.read_manifest(run_date) == manifest
    assert [p["Key"] for p in puts][-1] == manifest_key
    assert len(puts) == len(keys) + 1
    assert withdrawn == [0]  # the stale manifest went before the first new file was put

    # and the Parquet and CSV hold the mart: same rows, same billed totals per currency
    con = duckdb.connect(str(built_warehouse), read_only=True)
    totals = "select billing_currency, count(*), sum(billed_cost) from {} group by 1 order by 1"
    expected = con.execute(totals.format("marts.fct_daily_costs")).fetchall()
    kpi_rows = con.execute("select count(*) from marts.fct_cost_kpis").fetchone()[0]
    billed_type = con.execute(
        "select data_type from information_schema.columns "
        "where table_name = 'fct_daily_costs' and column_name = 'billed_cost'"
    ).fetchone()[0]
    con.close()
    readers = {
        "parquet": lambda path: f"read_parquet('{path}')",
        "csv": lambda path: f"read_csv('{path}', types = {{'billed_cost': '{billed_type}'}})",
    }
    for fmt, reader in readers.items():
        local = tmp_path / f"fct_daily_costs.{fmt}"
        s3.download_file(BUCKET, f"{PREFIX}/processed/{day}/fct_daily_costs.{fmt}", str(local))
        got = duckdb.sql(totals.format(reader(local))).fetchall()
        assert got == expected, fmt  # rows and exact decimal totals, per billing currency
    assert expected and sum(n for _, n, _ in expected) > 1000
    kpis = json.loads(
        s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/kpis/{day}/kpis.json")["Body"].read()
    )
    assert kpis["run_date"] == day and len(kpis["kpis"]) == kpi_rows


def test_daily_pipeline_exports_to_the_bucket(
    s3: Any, finops_home: Path, built_home: Path, monkeypatch
):
    # GIVEN a fresh installation whose exports go to the bucket; to keep the suite fast it
    # starts from the shared build's warehouse (with its records of the loads and the build),
    # so Luigi runs the export, prune and report tasks of DailyPipeline: the warehouse's
    # export record names the local folder, not the bucket (a run from nothing passes the
    # same way)
    day = FIXED_RUN_DATE.isoformat()
    shutil.copytree(
        built_home / "data", finops_home / "data", ignore=shutil.ignore_patterns("exports")
    )
    monkeypatch.setenv("FINOPS_S3_BUCKET", BUCKET)
    monkeypatch.setenv("FINOPS_S3_PREFIX", f"/{PREFIX}/")

    # WHEN the daily pipeline runs
    result = run_pipeline(FIXED_RUN_DATE)

    # THEN the day's marts, KPIs, manifest and report are in the bucket under the prefix
    assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    keys = all_keys(s3)
    assert f"{PREFIX}/processed/{day}/_manifest.json" in keys
    assert f"{PREFIX}/kpis/{day}/kpis.json" in keys
    assert f"{PREFIX}/reports/{day}/report.txt" in keys
    assert {k for k in keys if k.endswith(".parquet")} == {
        f"{PREFIX}/processed/{day}/{table}.parquet" for table in MART_TABLES
    }
    assert all(k.startswith(f"{PREFIX}/") for k in keys)
    # and nothing went to the local folder; the marker and the report name the bucket
    assert not (finops_home / "data" / "exports").exists()
    marker = WarehouseRecord(finops_home / "data" / "finops.duckdb", day, "export").read()
    assert marker is not None and marker["destination"] == f"s3://{BUCKET}/{PREFIX}"
    manifest = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/processed/{day}/_manifest.json")
    assert json.loads(manifest["Body"].read())["build_id"] == marker["build_id"]
    report = s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/reports/{day}/report.txt")["Body"]
    assert f"s3://{BUCKET}/{PREFIX}" in report.read().decode()


# ------------------------------------------------------------------ retention prune

TODAY = date(2026, 11, 26)
NOT_OURS = [
    "other-team/processed/2020-01-01/fct_daily_costs.csv",  # another prefix
    "processed/2020-01-01/fct_daily_costs.csv",  # our area name at the bucket root
    "team/finops-old/processed/2020-01-01/kpis.json",  # a sibling that shares the prefix text
    f"{PREFIX}/archive/2020-01-01/keep.csv",  # not one of our areas
    f"{PREFIX}/processedx/2020-01-01/keep.csv",
    f"{PREFIX}/processed/not-a-date/keep.csv",  # not a run folder
    f"{PREFIX}/processed/2020-13-45/keep.csv",
    f"{PREFIX}/processed/2020-01-01.csv",  # a file, not a folder
    f"{PREFIX}/kpis/2020-01-01",
    f"{PREFIX}/2020-01-01/kpis.json",
]


def seed_exports(client: Any, days: int, files_in_processed: int) -> list[tuple[str, date]]:
    """`days` run folders in each area (20 files a run in processed/), plus NOT_OURS."""
    seeded = []
    for n in range(days):
        day = TODAY - timedelta(days=n)
        for area in AREAS:
            count = files_in_processed if area == "processed" else 1
            for i in range(count):
                seeded.append((f"{PREFIX}/{area}/{day.isoformat()}/file_{i:02d}.csv", day))
    put_many(client, [k for k, _ in seeded] + NOT_OURS)
    return seeded


def test_prune_removes_only_old_run_folders_of_ours_past_1000_objects(s3: Any):
    # GIVEN 52 days of runs (1,144 objects, 1,040 of them in processed/) and objects not ours
    seeded = seed_exports(s3, days=52, files_in_processed=20)
    retention = 1
    old = sorted(k for k, day in seeded if day < TODAY - timedelta(days=retention))
    assert len(old) > 1000
    store = S3ExportStore(BUCKET, PREFIX, client=s3)
    lists = record_calls(s3, "ListObjectsV2")
    deletes = record_calls(s3, "DeleteObjects")

    # WHEN a dry run, then the real prune, run with the clock at TODAY
    would = store.prune(TODAY, retention, dry_run=True)
    assert deletes == [] and len(all_keys(s3)) == len(seeded) + len(NOT_OURS)
    removed = store.prune(TODAY, retention)

    # THEN both name exactly the old objects of our areas, and only those are gone
    assert sorted(would) == sorted(removed) == old
    assert all_keys(s3) == {k for k, _ in seeded if k not in set(old)} | set(NOT_OURS)
    # listing paged past 1,000 keys, deletes went in batches of at most 1,000, all in our areas
    ours = [c for c in lists if "Prefix" in c]  # the test's own listings have no prefix
    assert len([c for c in ours if c["Prefix"] == f"{PREFIX}/processed/"]) == 2 * 2
    assert {c["Prefix"] for c in ours} == {f"{PREFIX}/{area}/" for area in AREAS}
    assert len(deletes) == 2
    assert all(len(c["Delete"]["Objects"]) <= 1000 for c in deletes)


def test_prune_keeps_the_cutoff_day(s3: Any):
    # GIVEN runs 29, 30 and 31 days old
    seeded = []
    for n in (29, 30, 31):
        day = TODAY - timedelta(days=n)
        seeded += [f"{PREFIX}/{area}/{day.isoformat()}/f.csv" for area in AREAS]
    put_many(s3, seeded)

    # WHEN pruning with 30 days retention
    removed = S3ExportStore(BUCKET, PREFIX, client=s3).prune(TODAY, 30)

    # THEN only the 31-day-old run goes, as with the local folder
    old = (TODAY - timedelta(days=31)).isoformat()
    assert sorted(removed) == sorted(f"{PREFIX}/{area}/{old}/f.csv" for area in AREAS)


def test_prune_without_prefix_stays_in_our_areas_at_the_root(s3: Any):
    # GIVEN no prefix: our areas sit at the bucket root beside other people's folders
    put_many(s3, ["processed/2020-01-01/a.csv", "reports/2020-01-01/r.txt", *NOT_OURS])

    # WHEN pruning
    removed = S3ExportStore(BUCKET, "", client=s3).prune(TODAY, 30)

    # THEN only the root-level run folders of our areas went
    assert sorted(removed) == [
        "processed/2020-01-01/a.csv",
        "processed/2020-01-01/fct_daily_costs.csv",
        "reports/2020-01-01/r.txt",
    ]
    assert all_keys(s3) == set(NOT_OURS) - {"processed/2020-01-01/fct_daily_costs.csv"}


@pytest.mark.parametrize(
    "prefix",
    [
        pytest.param("../other", id="parent folder"),
        pytest.param("team/../..", id="dots inside"),
        pytest.param("team//finops", id="empty segment"),
        pytest.param("team/*", id="wildcard"),
        pytest.param("team/./finops", id="current folder"),
    ],
)
def test_a_prefix_that_could_reach_other_objects_is_refused(prefix: str):
    with pytest.raises(ValueError, match="FINOPS_S3_PREFIX"):
        S3ExportStore(BUCKET, prefix)


# ------------------------------------------------------------------ misconfiguration


def test_missing_bucket_fails_clearly_before_writing(s3: Any, built_warehouse: Path):
    # GIVEN a store on a bucket that does not exist
    store = S3ExportStore("finops-no-such-bucket", PREFIX)

    # WHEN exporting
    with pytest.raises(ExportDestinationError) as raised:
        store.export_marts(built_warehouse, FIXED_RUN_DATE)

    # THEN the error names the bucket and the setting, never the credentials
    message = str(raised.value)
    assert "'finops-no-such-bucket'" in message and "FINOPS_S3_BUCKET" in message
    assert "does not exist" in message
    assert SECRET not in message and "AKIAFINOPSS3TEST0001" not in message
    # and nothing was written anywhere
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == [BUCKET]
    assert all_keys(s3) == set()


@pytest.mark.parametrize(
    "bucket", [pytest.param("s3://finops-dashboard-data", id="url"), pytest.param("a/b", id="path")]
)
def test_a_bucket_setting_that_is_not_a_name_is_refused(
    bucket: str, finops_home: Path, monkeypatch
):
    from finops.settings import load_settings

    monkeypatch.setenv("FINOPS_S3_BUCKET", bucket)
    with pytest.raises(ValueError, match="FINOPS_S3_BUCKET"):
        export_store(load_settings())


def test_no_bucket_keeps_the_local_folder(finops_home: Path):
    from finops.settings import load_settings

    store = export_store(load_settings())
    assert store.destination == str(finops_home / "data" / "exports")


# ------------------------------------------------------------------ the cleanup command


def test_finops_prune_dry_run_lists_old_keys_and_deletes_nothing(s3: Any, tmp_path: Path):
    # GIVEN runs 40 and 10 days old in the bucket
    old_day, new_day = TODAY - timedelta(days=40), TODAY - timedelta(days=10)
    keys = [f"{PREFIX}/{a}/{d.isoformat()}/f.csv" for a in AREAS for d in (old_day, new_day)]
    put_many(s3, keys)
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FINOPS_")}
    env = {
        **clean,
        **finops_env(tmp_path, FINOPS_S3_BUCKET=BUCKET, FINOPS_S3_PREFIX=PREFIX),
    }

    # WHEN the cleanup job runs as cron would, as a dry run with the clock at TODAY
    proc = subprocess.run(
        [FINOPS, "prune", "--date", TODAY.isoformat(), "--dry-run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    # THEN it names exactly the old keys, exits 0, and every object is still there
    assert proc.returncode == 0, proc.stderr
    listed = sorted(
        line.split()[-1] for line in proc.stdout.splitlines() if line.startswith("  would remove ")
    )
    assert listed == sorted(f"{PREFIX}/{a}/{old_day.isoformat()}/f.csv" for a in AREAS)
    assert f"s3://{BUCKET}/{PREFIX}" in proc.stdout
    assert all_keys(s3) == set(keys)


def test_prune_exports_task_removes_old_runs_and_records_them(
    s3: Any, finops_home: Path, monkeypatch
):
    # GIVEN runs 40 and 10 days old in the bucket, and the cleanup job's settings
    from pipelines.tasks import PruneExports

    monkeypatch.setenv("FINOPS_S3_BUCKET", BUCKET)
    monkeypatch.setenv("FINOPS_S3_PREFIX", PREFIX)
    old_day, new_day = TODAY - timedelta(days=40), TODAY - timedelta(days=10)
    put_many(s3, [f"{PREFIX}/{a}/{d.isoformat()}/f.csv" for a in AREAS for d in (old_day, new_day)])

    # WHEN Luigi runs the standalone cleanup task with the clock at TODAY
    ok = luigi.build([PruneExports(date=TODAY)], local_scheduler=True, log_level="WARNING")

    # THEN the old run is gone, the recent one stays, and the marker lists what went
    assert ok
    assert all_keys(s3) == {f"{PREFIX}/{a}/{new_day.isoformat()}/f.csv" for a in AREAS}
    marker = finops_home / "data" / "markers" / TODAY.isoformat() / "prune_exports.json"
    payload = json.loads(marker.read_text())
    assert payload["destination"] == f"s3://{BUCKET}/{PREFIX}"
    assert sorted(payload["removed"]) == sorted(
        f"{PREFIX}/{a}/{old_day.isoformat()}/f.csv" for a in AREAS
    )
