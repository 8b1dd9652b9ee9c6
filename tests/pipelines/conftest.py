"""`two_clouds`: the production-like scenario shared by test_failure_isolation.py,
test_webhook.py, test_secrets.py and test_central_scheduler.py. Its runs cost two dbt builds,
so it runs once per session; tests/ops_scenario.py describes it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date

import luigi
import pytest
from aws_ce_emulator import CostExplorerProxy, MotoServer
from azure_emulator import AzureCostEmulator, self_signed_certificate, server_ssl_context
from finops_testing import finops_env
from ops_scenario import (
    BUCKET,
    CLIENT_ID,
    D1,
    D2,
    PREFIX,
    RESTATEMENT_DAYS,
    ROLE,
    SECRETS,
    SINCE,
    SUBSCRIPTIONS,
    TENANT,
    WEBHOOK_ANSWERS,
    WEBHOOK_MIN_IMPACT,
    Luigid,
    TwoClouds,
    aws_estate,
    clean_environ,
    inject_spikes,
    window,
)
from webhook_server import WebhookServer


@pytest.fixture(scope="session")
def two_clouds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwoClouds]:
    home = tmp_path_factory.mktemp("two_clouds_home")
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("two_clouds_tls"))
    moto = MotoServer().start()
    # Cost Explorer: the emulator answering any query from the estate of the run (moto: STS, S3)
    cost_explorer = CostExplorerProxy(moto.url, answer_queries=True).start()
    azure = AzureCostEmulator(
        SUBSCRIPTIONS,
        start=date(2026, 3, 1),
        end=date(2026, 7, 1),
        ssl_context=server_ssl_context(cert, key),
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRETS["AZURE_CLIENT_SECRET"],
        access_token=SECRETS["azure access token"],
    )
    inject_spikes(azure)
    azure.start()
    webhook = WebhookServer(token=SECRETS["webhook URL token"], answers=WEBHOOK_ANSWERS).start()
    luigid = Luigid(tmp_path_factory.mktemp("luigid"))
    env = {
        **clean_environ(),
        **finops_env(home),
        # AWS: boto3's standard chain and endpoint settings only
        "FINOPS_SOURCES": "aws,azure",
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ENDPOINT_URL_COST_EXPLORER": cost_explorer.url,
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(home / "no-aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "no-aws-credentials"),
        "AWS_ACCESS_KEY_ID": "AKIAFINOPSOPSTEST001",
        "AWS_SECRET_ACCESS_KEY": SECRETS["AWS_SECRET_ACCESS_KEY"],
        "AWS_SESSION_TOKEN": SECRETS["AWS_SESSION_TOKEN"],
        "FINOPS_AWS_ROLE_ARN": ROLE,
        "FINOPS_AWS_EXTERNAL_ID": SECRETS["FINOPS_AWS_EXTERNAL_ID"],
        # Azure: a service principal against the emulated cloud and authority
        "AZURE_TENANT_ID": TENANT,
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": SECRETS["AZURE_CLIENT_SECRET"],
        "AZURE_AUTHORITY_HOST": azure.url,
        "FINOPS_AZURE_ARM_ENDPOINT": azure.url,
        "REQUESTS_CA_BUNDLE": str(cert),
        "FINOPS_AZURE_MAX_WAIT_SECONDS": "0",  # a persistent 500 fails fast
        # the daily window, exports, notifications
        "FINOPS_RESTATEMENT_DAYS": str(RESTATEMENT_DAYS),
        "FINOPS_S3_BUCKET": BUCKET,
        "FINOPS_S3_PREFIX": PREFIX,
        "FINOPS_WEBHOOK_URL": webhook.url,
        "FINOPS_WEBHOOK_MIN_IMPACT": str(WEBHOOK_MIN_IMPACT),
    }
    scenario = TwoClouds(home=home, env=env, moto=moto, azure=azure, webhook=webhook, luigid=luigid)
    try:
        luigid.start()
        scenario.s3().create_bucket(Bucket=BUCKET)

        # run 1: a backfill of both clouds' history lands (the loads only)
        cost_explorer.estate = aws_estate(SINCE, D1)
        with pytest.MonkeyPatch.context() as mp:
            for name in list(os.environ):
                if name.startswith(("FINOPS_", "AWS_", "AZURE_")):
                    mp.delenv(name)
            for name, value in env.items():
                mp.setenv(name, value)
            from pipelines.tasks import LoadSource

            result = luigi.build(
                [LoadSource(date=D1, since=SINCE, source=s) for s in ("aws", "azure")],
                local_scheduler=True,
                workers=1,
                detailed_summary=True,
                log_level="WARNING",
            )
        assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text

        # run 2 (D2): the Azure Query API is down (HTTP 500 to every query)
        cost_explorer.estate = aws_estate(*window(D2))
        azure.fail(500, times=-1, message="emulated outage: the service is unavailable")
        scenario.run("partial", env, D2)

        # run 3 (D2 again): healed; one throttled answer on the way
        azure.clear_faults()
        azure.fail(
            429,
            headers={"x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after": "1"},
            times=1,
        )
        healed_env = {**env, "FINOPS_AZURE_MAX_WAIT_SECONDS": "30"}
        scenario.run("healed", healed_env, D2)

        # run 4 (D2 once more): the healed day is complete
        scenario.run("again", healed_env, D2)
        scenario.s3_objects = scenario.read_s3_objects()
        yield scenario
    finally:
        luigid.stop()
        webhook.stop()
        azure.stop()
        cost_explorer.stop()
        moto.stop()
