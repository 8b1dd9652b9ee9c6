"""The daily pipeline on the Azure source, end to end, offline.

The emulator (tests/azure_emulator.py) serves the Query API, the subscription list and an
identity authority over TLS; the pipeline finds it through the same settings a sovereign
cloud would use (FINOPS_AZURE_ARM_ENDPOINT, AZURE_AUTHORITY_HOST), trusts it through
REQUESTS_CA_BUNDLE and reaches it through HTTPS_PROXY. Nothing of ours is mocked: the real
ClientSecretCredential (MSAL) gets a token, the real SDK queries, Luigi runs every task,
dbt builds the marts.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path

import duckdb
import luigi
import pytest
from azure_emulator import (
    AzureCostEmulator,
    AzureSubscription,
    ConnectProxy,
    self_signed_certificate,
    server_ssl_context,
)
from azure_recommendations_emulator import AzureRecommendationsEmulator
from finops_testing import FIXED_RUN_DATE, run_pipeline

from finops.settings import load_settings

TENANT = "8f1d2c3b-4a5e-4f60-9a7b-6c5d4e3f2a1b"
CLIENT_ID = "0c9b8a7d-6e5f-4a3b-8c2d-1e0f9a8b7c6d"
SECRET = "fake-secret-DO-NOT-LOG-4f2a91"
TOKEN = "emulated-token-DO-NOT-LOG-91c3e7"
WINDOW = (date(2026, 5, 1), date(2026, 7, 1))  # the restatement window of FIXED_RUN_DATE

SUBSCRIPTIONS = [
    AzureSubscription(
        "3f2c9a71-5b8e-4d21-9c4a-7e1f0b6d2a58",
        "contoso-prod",
        services=("Virtual Machines", "Storage", "SQL Database", "Bandwidth"),
        locations=("eastus", "westus2"),
        charge_types=("Usage", "Purchase", "UnusedReservation", "Refund"),
        # 70 % of each row of these services carries the tag (Azure keys have no case)
        tags={"Virtual Machines": {"team": "web"}, "Storage": {"Team": "data"}},
    ),
    AzureSubscription(
        "c1b7e9f4-2a6d-4e83-8f05-9d3a6b2c7e19",
        "contoso-data",
        services=("Azure Databricks", "Storage"),
        locations=("eastus",),
        charge_types=("Usage", "Tax"),
    ),
    AzureSubscription(
        "e5d9a3c8-7f1b-4b6e-a2d4-6c8e1f3b9a07",
        "contoso-prod-eu",
        currency="EUR",
        services=("Virtual Machines", "Azure App Service", "Storage"),
        locations=("westeurope", "northeurope"),
    ),
]


def cents(value: Decimal) -> Decimal:
    return Decimal(value).quantize(Decimal("0.01"))


@pytest.fixture
def azure_cloud(
    finops_home: Path, tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[AzureCostEmulator, ConnectProxy]]:
    """The emulated Azure cloud over TLS behind a proxy, and the environment pointing at it
    (the Cost Management emulator with the Advisor and reservation recommendation lists)."""
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("tls"))
    emulator = AzureRecommendationsEmulator(
        SUBSCRIPTIONS,
        start=date(2026, 4, 1),
        end=date(2026, 7, 15),  # data on both sides of the window
        ssl_context=server_ssl_context(cert, key),
        tenant_id=TENANT,
        client_id=CLIENT_ID,
        client_secret=SECRET,
        access_token=TOKEN,
    )
    for name in list(os.environ):
        if name.startswith(("AWS_", "AZURE_")) or name.lower() in (
            "no_proxy",
            "https_proxy",
            "all_proxy",
        ):
            monkeypatch.delenv(name)
    with emulator, ConnectProxy() as proxy:
        monkeypatch.delenv("FINOPS_SOURCES")  # auto: Azure because its credentials are set
        monkeypatch.setenv("FINOPS_AZURE_ARM_ENDPOINT", emulator.url)
        monkeypatch.setenv("AZURE_AUTHORITY_HOST", emulator.url)
        monkeypatch.setenv("AZURE_TENANT_ID", TENANT)
        monkeypatch.setenv("AZURE_CLIENT_ID", CLIENT_ID)
        monkeypatch.setenv("AZURE_CLIENT_SECRET", SECRET)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))
        monkeypatch.setenv("HTTPS_PROXY", proxy.url)
        yield emulator, proxy


def test_daily_pipeline_on_azure_reconciles_with_the_api_to_the_cent(
    finops_home: Path,
    azure_cloud: tuple[AzureCostEmulator, ConnectProxy],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    emulator, proxy = azure_cloud
    # GIVEN Azure credentials configured and no FINOPS_SOURCES: the pipeline picks Azure
    # and its recommendations, and costs are allocated by the tag key `team` (the Query
    # API's TagKey grouping)
    monkeypatch.setenv("FINOPS_ALLOCATION_TAGS", "team")
    assert load_settings().sources == ("azure", "azure_recommendations")

    # WHEN the daily pipeline runs
    result = run_pipeline(FIXED_RUN_DATE)

    # THEN every task succeeded
    assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text

    # THEN the service principal got its token from the configured authority (once per
    # Azure source's load: costs, recommendations), and every request went through the
    # proxy to the emulator
    assert [r.path for r in emulator.token_requests if r.method == "POST"] == [
        f"/{TENANT}/oauth2/v2.0/token"
    ] * 2
    # ... with the token and the ClientType header, but for the Cost Details report blobs (SAS
    # URLs: their signature is the credential), which get neither
    blobs = emulator.report_requests("blob")
    assert blobs
    api = [r for r in emulator.requests if r not in blobs]
    assert {r.headers.get("authorization") for r in api} == {f"Bearer {TOKEN}"}
    assert {r.headers.get("clienttype") for r in api} == {"finops-dashboard"}
    assert {(r.headers.get("authorization"), r.headers.get("clienttype")) for r in blobs} == {
        (None, None)
    }
    assert proxy.tunnels and set(proxy.tunnels) == {emulator.url.removeprefix("https://")}

    # THEN the raw layer holds exactly the API's rows of the restatement window
    truth = [r for s in SUBSCRIPTIONS for r in emulator.truth(s.scope, *WINDOW)]
    warehouse = finops_home / "data" / "finops.duckdb"
    with duckdb.connect(str(warehouse), read_only=True) as con:
        raw_rows = con.execute("select count(*) from raw.azure_cost_management").fetchone()[0]
        scopes = con.execute(
            "select distinct _scope from raw.azure_cost_management order by 1"
        ).fetchall()
    assert raw_rows == len(truth)
    assert [s for (s,) in scopes] == sorted(s.scope for s in SUBSCRIPTIONS)

    # THEN the run date's Advisor recommendations of every subscription landed as its snapshot
    with duckdb.connect(str(warehouse), read_only=True) as con:
        advisor = con.execute(
            "select snapshot_date, count(*) from raw.azure_advisor_recommendations group by all"
        ).fetchall()
    expected_advisor = sum(len(emulator.advisor_truth(s.subscription_id)) for s in SUBSCRIPTIONS)
    assert advisor == [(FIXED_RUN_DATE, expected_advisor)]

    # THEN the marts reconcile with the API to the cent: billed = ActualCost and
    # effective = AmortizedCost, per billing currency, never added across currencies
    expected = AzureCostEmulator.totals(truth)
    serving = finops_home / "data" / "finops_serving.duckdb"
    with duckdb.connect(str(serving), read_only=True) as con:
        marts = con.execute(
            """
            select billing_currency, sum(billed_cost), sum(effective_cost),
                   min(charge_date), max(charge_date)
            from marts.fct_daily_costs where provider_name = 'Azure'
            group by all order by all
            """
        ).fetchall()
        names = dict(
            con.execute(
                "select distinct sub_account_id, sub_account_name from marts.fct_daily_costs"
            ).fetchall()
        )
    assert [
        (c, Decimal(b).quantize(Decimal("0.01")), Decimal(e).quantize(Decimal("0.01")))
        for c, b, e, _, _ in marts
    ] == [
        ("EUR", expected[("ActualCost", "EUR")], expected[("AmortizedCost", "EUR")]),
        ("USD", expected[("ActualCost", "USD")], expected[("AmortizedCost", "USD")]),
    ]
    assert {(first, last) for _, _, _, first, last in marts} == {(WINDOW[0], date(2026, 6, 30))}

    # THEN each team gets the effective cost its tags carry - every API row split by its day's
    # tag cut - and the rest stays unallocated: the key sums to the daily costs to the cent
    tagged: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for s in SUBSCRIPTIONS:
        for (_, query_type, _, _, value, currency), cost in emulator.tag_truth(
            s.scope, *WINDOW, "team"
        ).items():
            if query_type == "AmortizedCost" and value is not None:
                tagged[(value, currency)] += cost
    with duckdb.connect(str(serving), read_only=True) as con:
        allocated = con.execute(
            "select allocation_value, billing_currency, sum(effective_cost) "
            "from marts.fct_cost_allocation where allocation_key = 'team' "
            "and allocation_method = 'tag' group by all order by all"
        ).fetchall()
        by_currency = con.execute(
            "select billing_currency, sum(billed_cost), sum(effective_cost) "
            "from marts.fct_cost_allocation where allocation_key = 'team' group by all order by all"
        ).fetchall()
    assert [(v, c, cents(e)) for v, c, e in allocated] == [
        (v, c, cents(tagged[(v, c)])) for v, c in sorted(tagged)
    ]
    assert len(allocated) == 2  # web and data, both in USD
    assert [(c, cents(b), cents(e)) for c, b, e in by_currency] == [
        (c, cents(b), cents(e)) for c, b, e, _, _ in marts
    ]
    assert names == {s.subscription_id: s.name for s in SUBSCRIPTIONS}

    # THEN neither the client secret nor the token is written anywhere under FINOPS_HOME:
    # logs, report, execution history, raw CSV extract, markers, exports, the warehouse
    written = [p for p in finops_home.rglob("*") if p.is_file()]
    assert any(p.name == "execution_history.json" for p in written)
    assert any(p.name.startswith("multicloud_costs_") for p in written)
    assert any(p.name.startswith("report_") for p in written)
    for path in written:
        content = path.read_bytes()
        assert SECRET.encode() not in content, path
        assert TOKEN.encode() not in content, path
