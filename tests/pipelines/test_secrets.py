"""No secret is ever written: the whole pipeline with recognisable fake secrets, then a scan.

The runs are the `two_clouds` scenario (tests/pipelines/conftest.py): AWS Cost Explorer
through an assumed role with an external id (moto), Azure with a service principal (TLS
emulator, real MSAL and SDK), exports to an S3 bucket (moto), a Slack-compatible webhook whose
URL path is its secret - through a partial run (the Azure API failing, so error paths are
exercised), its retry after the fault healed, and a no-op rerun. Every secret is used for
real; none may appear in what the pipeline leaves behind: files under FINOPS_HOME (logs, cron
output, reports, history, markers, raw extract, dbt logs and target), the DuckDB warehouse
and the published marts (every value of every table), the objects in the bucket (Parquet
decoded), and the webhook messages.
"""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import duckdb
from ops_scenario import BUCKET, CANARY, REPO, SECRETS, TwoClouds


def leaks(text: str) -> list[str]:
    found = [name for name, secret in SECRETS.items() if secret in text]
    return found or (["a LEAK-CANARY fragment"] if CANARY in text else [])


def database_text(path: Path) -> str:
    """Every value of every table of a DuckDB file, as text."""
    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables "
            "where table_type = 'BASE TABLE'"
        ).fetchall()
        assert tables, f"no tables in {path}"
        return "\n".join(
            f"{schema}.{name}: {con.execute(f'select * from {schema}.{name}').fetchall()!r}"
            for schema, name in tables
        )
    finally:
        con.close()


def test_no_secret_reaches_logs_reports_history_exports_warehouse_or_webhook(
    two_clouds: TwoClouds,
) -> None:
    # GIVEN the partial run, the healed rerun and the no-op rerun, with every secret in use
    runs = two_clouds.runs
    assert [runs[r].exit_code for r in ("partial", "healed", "again")] == [3, 0, 0]
    token_posts = [r for r in two_clouds.azure.token_requests if r.method == "POST"]
    assert token_posts  # MSAL sent AZURE_CLIENT_SECRET to the authority and got the token
    # ... every Cost Management request carried the token; the Cost Details report blobs
    # (SAS URLs: their signature is the credential) none
    blobs = two_clouds.azure.report_requests("blob")
    assert blobs
    assert {
        r.headers.get("authorization") for r in two_clouds.azure.requests if r not in blobs
    } == {f"Bearer {SECRETS['azure access token']}"}
    assert {r.headers.get("authorization") for r in blobs} == {None}
    assert {r.path for r in two_clouds.webhook.received} == {two_clouds.webhook.path}
    assert SECRETS["webhook URL token"] in two_clouds.webhook.path

    # WHEN everything the pipeline wrote is scanned

    # THEN no file under FINOPS_HOME holds a secret: logs, cron output, reports, history,
    # failure records, the raw extract, dbt's logs and target, the warehouse files themselves
    files = [p for p in two_clouds.home.rglob("*") if p.is_file()]
    names = {p.name for p in files}
    for expected in (
        "pipeline.log",
        "cron.log",
        "dbt_output.log",
        "dbt.log",
        "execution_history.json",
        "manifest.json",
        "run_results.json",
        "finops.duckdb",
        "finops_serving.duckdb",
    ):
        assert expected in names, f"{expected} was not written: the scan would prove nothing"
    assert any(n.startswith("report_") for n in names)
    assert any(n.startswith("multicloud_costs_") for n in names)
    for path in files:
        found = leaks(path.read_bytes().decode("utf-8", "replace"))
        assert not found, f"{found} in {path}"

    # THEN no value of any table of the warehouse or of the published marts holds one
    # (compressed column storage would hide a secret from a byte scan of the file)
    for db in (two_clouds.warehouse, two_clouds.serving):
        text = database_text(db)
        assert "load_ledger" in text or "fct_daily_costs" in text
        if db == two_clouds.warehouse:  # the runs' records (pipeline.task_markers) included
            assert "pipeline.task_markers" in text and '"source": "azure"' in text
        assert not leaks(text), f"{leaks(text)} in {db}"

    # THEN no exported object holds one (Parquet decoded: it is compressed)
    objects = two_clouds.s3_objects
    assert any(k.endswith(".parquet") for k in objects)
    assert any(k.endswith(".txt") for k in objects)
    with tempfile.TemporaryDirectory() as tmp:
        for key, body in objects.items():
            text = body.decode("utf-8", "replace")
            if key.endswith(".parquet"):
                local = Path(tmp) / "object.parquet"
                local.write_bytes(body)
                with duckdb.connect() as con:
                    text = repr(con.execute(f"select * from read_parquet('{local}')").fetchall())
            assert not leaks(text), f"{leaks(text)} in s3://{BUCKET}/{key}"

    # THEN no webhook message holds one (the URL's token stays in the URL)
    for message in two_clouds.webhook.messages:
        assert not leaks(repr(message)), leaks(repr(message))


def test_env_file_is_ignored_by_git() -> None:
    # GIVEN the repository's ignore rules
    # WHEN git is asked about a .env beside the code (where settings load it from)
    ignored = subprocess.run(
        ["git", "check-ignore", "--quiet", ".env"], cwd=REPO, check=False
    ).returncode
    tracked = subprocess.run(
        ["git", "ls-files", "--error-unmatch", ".env"], cwd=REPO, capture_output=True, check=False
    ).returncode
    # THEN it is ignored and not tracked
    assert (ignored, tracked) == (0, 1)
