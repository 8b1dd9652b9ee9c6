"""The production-like scenario of tests/pipelines/conftest.py: constants and helpers
(importable as `ops_scenario` from tests).

`two_clouds`: the daily pipeline on AWS (our Cost Explorer emulator, moto's STS and S3) and
Azure (the TLS emulator with the real SDK and MSAL), exporting to an S3 bucket on moto,
posting to a local Slack-compatible webhook and scheduled by a real `luigid` on loopback,
run the way cron runs it (`finops run --scheduler-host ...` as a process, its output appended
to logs/cron.log), with recognisable fake secrets everywhere:

    run 1  a backfill of both clouds' history [SINCE, D1) (loads only, local scheduler);
           the Azure history holds two injected spikes in its last days
    run 2  D2: the Azure Query API answers HTTP 500 to everything -> AWS lands, Azure fails,
           the day is built, exported and reported as partial (exit 3); the webhook's first
           attempt gets a 500, the retry is accepted
    run 3  D2 again after the fault healed (one throttled 429 on the way) -> only the Azure
           load is retried, the day completes (exit 0); the webhook answers 404 no_service
           (revoked): recorded, not retried, and the run still succeeds
    run 4  D2 once more -> nothing to do (exit 0)

After each run its outcome is snapshotted (`RunSnapshot`: exit code, output, history, report,
ledger, raw and mart figures, load freshness, S3 keys, luigid's view) before the next starts.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import boto3
import duckdb
from aws_ce_emulator import Estate, MotoServer, charges_for
from azure_emulator import AzureCostEmulator, AzureSubscription
from webhook_server import WebhookServer

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
FINOPS = str(BIN / "finops")

SINCE = date(2026, 4, 1)  # run 1 backfills [SINCE, D1): enough weeks to score anomalies
D1 = date(2026, 6, 10)
D2 = D1 + timedelta(days=1)
RESTATEMENT_DAYS = 10  # each daily run reloads [D - 10, D)
PAYER = "999988887777"
ROLE = f"arn:aws:iam::{PAYER}:role/finops_user"
PROD, DATA = "402193857611", "747160392817"
BUCKET = "finops-dashboard-data"
PREFIX = "team/finops"
TENANT = "8f1d2c3b-4a5e-4f60-9a7b-6c5d4e3f2a1b"
CLIENT_ID = "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
WEBHOOK_MIN_IMPACT = Decimal("8000")  # FINOPS_WEBHOOK_MIN_IMPACT (USD)
WEBHOOK_ANSWERS = (500, 200, 404)  # run 2: 500 then 200 (retried); run 3: 404 (revoked)

# Recognisable fake secrets: none of them may appear in anything the pipeline writes.
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "fakeAwsSecretKey-FINOPS-LEAK-CANARY-1",
    "AWS_SESSION_TOKEN": "fakeAwsSessionToken-FINOPS-LEAK-CANARY-2",
    "FINOPS_AWS_EXTERNAL_ID": "fake-external-id-FINOPS-LEAK-CANARY-3",
    "AZURE_CLIENT_SECRET": "fakeAzureClientSecret-FINOPS-LEAK-CANARY-4",
    "azure access token": "fakeAzureAccessToken-FINOPS-LEAK-CANARY-5",
    "webhook URL token": "fakeWebhookToken-FINOPS-LEAK-CANARY-6",
}
CANARY = "LEAK-CANARY"

SUBSCRIPTIONS = [
    AzureSubscription(
        "3f2c9a71-5b8e-4d21-9c4a-7e1f0b6d2a58",
        "contoso-prod",
        services=("Virtual Machines", "Storage", "SQL Database"),
        locations=("eastus", "westus2"),
        charge_types=("Usage", "Purchase", "Refund"),
    ),
    AzureSubscription(
        "e5d9a3c8-7f1b-4b6e-a2d4-6c8e1f3b9a07",
        "contoso-prod-eu",
        currency="EUR",
        services=("Virtual Machines", "Storage"),
        locations=("westeurope",),
    ),
]
# (day, subscription, service, location, daily cost in USD): a spike above the webhook
# threshold and one flagged below it. The emulated estate's regions are noisy (log spreads
# of 0.5-0.9), so a flagged day is a large one: VM x35 in one region (impact about 8,600),
# Storage x40 in one region (about 7,700).
SPIKES = (
    (date(2026, 6, 8), SUBSCRIPTIONS[0].subscription_id, "Virtual Machines", "eastus", "9000"),
    (date(2026, 6, 9), SUBSCRIPTIONS[0].subscription_id, "Storage", "eastus", "8000"),
)


def window(run_date: date) -> tuple[date, date]:
    """The daily window of a run date: the last RESTATEMENT_DAYS days before it."""
    return run_date - timedelta(days=RESTATEMENT_DAYS), run_date


def days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=n) for n in range((end - start).days)]


def aws_estate(start: date, end: date) -> Estate:
    """What Cost Explorer answers for `[start, end)`; a day costs the same in every window."""
    charges = (
        charges_for(
            days(start, end),
            PROD,
            "Usage",
            {
                ("Amazon Elastic Compute Cloud - Compute", "us-east-1"): "1523.4178923411",
                ("Amazon Simple Storage Service", "us-east-1"): "86.0000000049",
            },
            scale=lambda day: Decimal(1) + Decimal(day.day) / 100,
        )
        + charges_for(
            days(start, end), DATA, "Usage", {("Amazon Redshift", "us-east-1"): "620.3333333333"}
        )
        + charges_for(days(start, end), DATA, "Tax", {("Tax", "NoRegion"): "57.8900000000"})
    )
    return Estate(start, end, charges, {PROD: "acme-prod", DATA: "acme-data"})


def aws_daily_requests(run_date: date) -> int:
    """Cost Explorer requests of the run of `run_date` after the previous day's run, nothing
    restated (issue #20): the DAILY totals pass (one page) and one full-grain query per
    (record type, region) slice with cost on the one new day."""
    new_day = run_date - timedelta(days=1)
    charges = aws_estate(new_day, run_date).charges
    return 1 + len({(c.record_type, c.region) for c in charges})


def aws_billed(start: date, end: date) -> Decimal:
    return aws_estate(start, end).totals()[0]


def inject_spikes(emulator: AzureCostEmulator) -> None:
    """Set the ActualCost and AmortizedCost of the SPIKES rows of the emulated estate."""
    for day, subscription, service, location, cost in SPIKES:
        usage_date = int(day.strftime("%Y%m%d"))
        rows = [
            r
            for r in emulator.rows
            if (r["usage_date"], r["subscription_id"], r["service_name"], r["resource_location"])
            == (usage_date, subscription, service, location)
            and r["charge_type"] == "Usage"
        ]
        assert len(rows) == 2, rows  # one per query type
        for row in rows:
            row["cost"] = Decimal(cost)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def query(path: Path, sql: str, params: list[Any] | None = None) -> list[tuple]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def rows_of(path: Path, sql: str) -> list[dict[str, Any]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        cursor = con.execute(sql)
        columns = [d[0] for d in cursor.description]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()


def clean_environ() -> dict[str, str]:
    """This process's environment without anything that could point a run elsewhere."""
    drop = ("FINOPS_", "AWS_", "AZURE_", "LUIGI_")
    proxies = ("http_proxy", "https_proxy", "all_proxy", "no_proxy", "requests_ca_bundle")
    return {
        k: v for k, v in os.environ.items() if not k.startswith(drop) and k.lower() not in proxies
    }


def run_cli(
    home: Path, env: dict[str, str], *args: str, timeout: int = 600
) -> subprocess.CompletedProcess:
    """`finops <args>` as cron runs it; its output is also appended to logs/cron.log."""
    proc = subprocess.run(
        [FINOPS, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    (home / "logs").mkdir(parents=True, exist_ok=True)
    with open(home / "logs" / "cron.log", "a") as cron_log:
        cron_log.write(
            f"$ finops {' '.join(args)}\n{proc.stdout}{proc.stderr}[exit {proc.returncode}]\n"
        )
    return proc


class Luigid:
    """A real central scheduler on loopback, with its own state and log folders."""

    def __init__(self, state_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.logdir = state_dir / "logs"
        self.logdir.mkdir(parents=True)  # luigid logs to <logdir>/luigi-server.log
        self.command = [
            str(BIN / "luigid"),
            "--address",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--state-path",
            str(state_dir / "luigi-state.pickle"),
            "--logdir",
            str(self.logdir),
        ]
        self._proc: subprocess.Popen | None = None

    def start(self, timeout_s: float = 30) -> Luigid:
        # The repository's luigi.cfg ([resources] warehouse_writer = 1), plus one test setting:
        # luigid ignores a task re-queued less than stable_done_cooldown_secs (10 s) after it
        # was DONE, and the scenario reruns a date seconds after the previous run ended
        # (cron reruns are minutes apart; docs/operations.md explains it).
        config = self.logdir.parent / "luigi.cfg"
        config.write_text(
            (REPO / "luigi.cfg").read_text() + "\n[scheduler]\nstable_done_cooldown_secs = 0\n"
        )
        self._proc = subprocess.Popen(
            self.command,
            cwd=REPO,
            env={**clean_environ(), "LUIGI_CONFIG_PATH": str(config)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"luigid exited with {self._proc.returncode}")
            try:
                self.api("task_list")
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"luigid did not answer on {self.url} within {timeout_s} s")

    def api(self, method: str, **data: Any) -> Any:
        """One call of luigid's JSON API (what its visualiser reads)."""
        query_string = urllib.parse.urlencode({"data": json.dumps(data)})
        with urllib.request.urlopen(f"{self.url}/api/{method}?{query_string}", timeout=10) as r:
            return json.loads(r.read())["response"]

    def scheduler_args(self) -> tuple[str, ...]:
        return ("--scheduler-host", "127.0.0.1", "--scheduler-port", str(self.port))

    def stop(self) -> None:
        if self._proc is None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()


@dataclass
class RunSnapshot:
    """What one run left behind, captured before the next run."""

    exit_code: int
    output: str
    history: list[dict[str, Any]]
    report: str
    ledger: list[dict[str, Any]]
    raw: dict[str, Any]
    marts: dict[tuple[str, str], Decimal]
    freshness: list[dict[str, Any]]
    markers: set[str]  # the run's records in the warehouse, and failure files of the date
    webhook_messages: int
    s3_keys: set[str]
    s3_report: str
    scheduler_tasks: dict[str, Any]  # luigid's task_list: task id -> task


@dataclass
class TwoClouds:
    home: Path
    env: dict[str, str]
    moto: MotoServer
    azure: AzureCostEmulator
    webhook: WebhookServer
    luigid: Luigid
    runs: dict[str, RunSnapshot] = field(default_factory=dict)
    # Every object in the bucket after the last run, read at once: moto keeps its state per
    # process, so another test of the same pytest(-xdist) worker resetting its own moto
    # server would empty this one's bucket too.
    s3_objects: dict[str, bytes] = field(default_factory=dict)

    @property
    def warehouse(self) -> Path:
        return self.home / "data" / "finops.duckdb"

    @property
    def serving(self) -> Path:
        return self.home / "data" / "finops_serving.duckdb"

    def s3(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.moto.url,
            region_name="us-east-1",
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
        )

    def s3_keys(self) -> set[str]:
        pages = self.s3().get_paginator("list_objects_v2").paginate(Bucket=BUCKET)
        return {obj["Key"] for page in pages for obj in page.get("Contents", [])}

    def read_s3_objects(self) -> dict[str, bytes]:
        client = self.s3()
        return {
            key: client.get_object(Bucket=BUCKET, Key=key)["Body"].read()
            for key in sorted(self.s3_keys())
        }

    def s3_text(self, key: str) -> str:
        client = self.s3()
        try:
            return client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
        except client.exceptions.NoSuchKey:
            return ""

    def azure_truth(self, start: date, end: date) -> dict[tuple[str, str], Decimal]:
        """(query type, currency) -> the API's total of `[start, end)`, to the cent."""
        rows = [r for s in SUBSCRIPTIONS for r in self.azure.truth(s.scope, start, end)]
        return AzureCostEmulator.totals(rows)

    def azure_rows(self, start: date, end: date) -> int:
        return sum(len(self.azure.truth(s.scope, start, end)) for s in SUBSCRIPTIONS)

    def run(self, name: str, env: dict[str, str], run_date: date) -> RunSnapshot:
        proc = run_cli(
            self.home, env, "run", "--date", run_date.isoformat(), *self.luigid.scheduler_args()
        )
        self.runs[name] = self.snapshot(proc, run_date)
        return self.runs[name]

    def snapshot(self, proc: subprocess.CompletedProcess, run_date: date) -> RunSnapshot:
        logs = self.home / "logs"
        ledger = rows_of(
            self.warehouse,
            "select load_id, source, raw_table, scope, window_start, window_end, status, "
            "row_count, replaced_row_count, api_requests, error, started_at "
            "from raw.load_ledger order by started_at, load_id",
        )
        [(azure_rows, aws_rows)] = query(
            self.warehouse,
            "select (select count(*) from raw.azure_cost_management), "
            "(select count(*) from raw.aws_cost_explorer)",
        )
        azure_load_ids = sorted(
            r[0]
            for r in query(
                self.warehouse, "select distinct _load_id from raw.azure_cost_management"
            )
        )
        marts: dict[tuple[str, str], Decimal] = {}
        freshness: list[dict[str, Any]] = []
        if self.serving.exists():
            for provider, currency, billed in query(
                self.serving,
                "select provider_name, billing_currency, sum(billed_cost) "
                "from marts.fct_daily_costs group by all",
            ):
                marts[(provider, currency)] = Decimal(billed).quantize(Decimal("0.01"))
            freshness = rows_of(self.serving, "select * from marts.fct_load_freshness order by all")
        markers_dir = self.home / "data" / "markers" / run_date.isoformat()
        failure_files = (
            {p.name for p in markers_dir.glob("*.json")} if markers_dir.exists() else set()
        )
        records = {
            task
            for (task,) in query(
                self.warehouse,
                "select task from pipeline.task_markers where run_key = ?",
                [run_date.isoformat()],
            )
        }
        report = logs / f"report_{run_date:%Y%m%d}.txt"
        return RunSnapshot(
            exit_code=proc.returncode,
            output=proc.stdout + proc.stderr,
            history=json.loads((logs / "execution_history.json").read_text()),
            report=report.read_text() if report.exists() else "",
            ledger=ledger,
            raw={"azure_rows": azure_rows, "aws_rows": aws_rows, "azure_load_ids": azure_load_ids},
            marts=marts,
            freshness=freshness,
            markers=records | failure_files,
            webhook_messages=len(self.webhook.messages),
            s3_keys=self.s3_keys(),
            s3_report=self.s3_text(f"{PREFIX}/reports/{run_date.isoformat()}/report.txt"),
            scheduler_tasks=self.luigid.api("task_list"),
        )
