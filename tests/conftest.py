"""Shared fixtures: a real warehouse built by the real pipeline on the simulated source."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import luigi
import pytest
from allocation_testing import KEYS, write_focus_1_3_export, write_rules, write_tagged_export
from aws_ce_emulator import CostExplorerProxy, MotoServer
from azure_emulator import AzureCostEmulator, self_signed_certificate, server_ssl_context
from commitments_testing import (
    BILLING_ACCOUNT,
    COMMITMENTS_RUN_DATE,
    PAYER,
    SUBSCRIPTION,
    answer_the_export,
    cost_explorer_estate,
    query_api_subscription,
    write_export,
)
from finops_testing import FIXED_RUN_DATE, PARSE_OUTPUT, dbt, finops_env, run_pipeline

# Fixtures that run the pipeline once and are shared: every test using one goes to the same
# pytest-xdist worker (`make test` runs `-n auto --dist loadgroup`), so each is built once.
SHARED_BUILDS = (
    "two_clouds",
    "built_home",
    "commitments_home",
    "commitments_api_home",
    "allocation_home",
)
# Builds that share a worker with another: the rate-optimization tests compare the two
# commitments runs, so both are built once, on the same worker.
SAME_WORKER = {"commitments_api_home": "commitments_home"}
AZURE_TENANT = "5d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6"  # the commitments run's emulated tenant
AZURE_CLIENT = "6e2f3a4b-5c6d-4e7f-9081-92a3b4c5d6e7"
# Groups that take minutes, started first (`make test` passes --no-loadscope-reorder, so
# xdist hands out groups in collection order): a long group started last would end the run
# on one worker while the other idles. The rest follow, largest group first.
SLOW_GROUPS = ("tests/dbt/test_spark_target.py", "two_clouds", "built_home")
# `make test-fast` (pytest -m fast): tests that run no pipeline and no full dbt build -
# mappings, clients against the emulators, the warehouse writer, the registry, chart
# builders and every dbt unit test on an empty warehouse. Under 2 minutes on 2 cores.
FAST_PATHS = ("tests/loaders/", "tests/dbt/test_unit_tests.py", "tests/dashboard/test_charts.py")


# tryfirst: the marks must be set before xdist's own hook reads them to suffix the node ids
# with their group (without it that hook may run first and every group is silently ignored).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for pytest-xdist: by shared session build, else by file (module fixtures
    such as a module's dbt build then run once), and order the groups: SLOW_GROUPS first.
    Without xdist the mark does nothing and the order only changes which test runs when."""
    groups: dict[int, str] = {}
    for item in items:
        if item.nodeid.startswith(FAST_PATHS):
            item.add_marker(pytest.mark.fast)
        fixtures = getattr(item, "fixturenames", ())
        group = next((name for name in SHARED_BUILDS if name in fixtures), None)
        group = SAME_WORKER.get(group, group) if group else None
        group = group or item.nodeid.split("::")[0]
        groups[id(item)] = group
        item.add_marker(pytest.mark.xdist_group(group))
    sizes: dict[str, int] = {}
    for group in groups.values():
        sizes[group] = sizes.get(group, 0) + 1

    def rank(item: pytest.Item) -> tuple[int, int]:
        group = groups[id(item)]
        slow = SLOW_GROUPS.index(group) if group in SLOW_GROUPS else len(SLOW_GROUPS)
        return slow, -sizes[group]

    items.sort(key=rank)  # stable: a group's tests keep their order


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """On an xdist worker with --dist loadgroup, every node id must carry its group suffix
    (`...@group`): pytest 9 ignores the attribute xdist 3.8 sets, and then each test is sent
    to any worker, every module build runs on both and the suite takes far longer. Stop at
    once instead of running so."""
    if not getattr(session.config.option, "loadgroup", False):  # set on xdist workers only
        return
    ungrouped = [item.nodeid for item in session.items if "@" not in item.nodeid]
    if ungrouped:
        raise pytest.UsageError(
            f"pytest-xdist did not group {ungrouped[0]} (and {len(ungrouped) - 1} more): "
            "this pytest does not honour --dist loadgroup; install the pytest pinned in "
            "pyproject.toml"
        )


# Tests that start no dbt: a session of only these makes no shared parse (5 s saved)
NO_DBT_PATHS = ("tests/loaders/", "tests/dashboard/test_charts.py")


@pytest.fixture(scope="session", autouse=True)
def shared_dbt_parse(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path | None]:
    """One parse of the dbt project per pytest worker, which every dbt of the suite starts
    from (DBT_PARTIAL_PARSE_FILE_PATH, read by dbt in place of target/partial_parse.msgpack):
    the pipeline names the warehouse relative to the folder dbt runs in (Settings.dbt_env),
    so a new home with the default settings re-parses nothing instead of the whole project
    (4-7 s each, ~40 homes). dbt itself checks that the parse fits - the project's files,
    the profile's values, vars, env vars - and parses again what does not."""
    if all(item.nodeid.startswith(NO_DBT_PATHS) for item in request.session.items):
        yield None
        return
    folder = tmp_path_factory.mktemp("dbt_parse")
    db_path = folder / "data" / "finops.duckdb"
    db_path.parent.mkdir()
    done = dbt(db_path, folder, "parse")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    # the one full parse of the suite: what dbt said about the project (a later partial
    # parse does not repeat its warnings), read by tests/dbt/test_project_layers.py
    (folder / PARSE_OUTPUT).write_text(done.stdout + done.stderr)
    parsed = folder / "target" / "partial_parse.msgpack"
    assert parsed.exists()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DBT_PARTIAL_PARSE_FILE_PATH", str(parsed))
        yield parsed


@pytest.fixture
def finops_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh FINOPS_HOME for one test, with every other FINOPS_* variable cleared."""
    for name in list(os.environ):
        if name.startswith("FINOPS_"):
            monkeypatch.delenv(name)
    for name, value in finops_env(tmp_path).items():
        monkeypatch.setenv(name, value)
    return tmp_path


@pytest.fixture(scope="session")
def built_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """FINOPS_HOME after one full DailyPipeline run on the simulated source (built once)."""
    home = tmp_path_factory.mktemp("finops_home")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("FINOPS_"):
                mp.delenv(name)
        for name, value in finops_env(home).items():
            mp.setenv(name, value)
        result = run_pipeline(FIXED_RUN_DATE)
        assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    yield home


@pytest.fixture(scope="session")
def built_warehouse(built_home: Path) -> Path:
    """The published serving copy of the marts (what the dashboard and `finops sql` read)."""
    path = built_home / "data" / "finops_serving.duckdb"
    assert path.exists()
    return path


@pytest.fixture(scope="session")
def commitments_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """FINOPS_HOME after one full DailyPipeline run on the commitments FOCUS export of
    tests/commitments_testing.py (built once, shared by the rate-optimization tests)."""
    home = tmp_path_factory.mktemp("commitments_home")
    export = write_export(home / "focus-export")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("FINOPS_"):
                mp.delenv(name)
        env = finops_env(home, FINOPS_SOURCES="focus", FINOPS_FOCUS_PATH=str(export.parent))
        for name, value in env.items():
            mp.setenv(name, value)
        result = run_pipeline(COMMITMENTS_RUN_DATE)
        assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    yield home


@pytest.fixture(scope="session")
def allocation_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """FINOPS_HOME after one full DailyPipeline run on the tagged commitments export and a
    second payer's FOCUS 1.3 export with split cost allocation, with allocation keys and rules
    (tests/allocation_testing.py), shared by the allocation tests."""
    home = tmp_path_factory.mktemp("allocation_home")
    export = write_tagged_export(home / "focus-export")
    write_focus_1_3_export(export.parent)
    rules = write_rules(home / "allocation.yml")
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("FINOPS_"):
                mp.delenv(name)
        env = finops_env(
            home,
            FINOPS_SOURCES="focus",
            FINOPS_FOCUS_PATH=str(export.parent),
            FINOPS_ALLOCATION_TAGS=KEYS,
            FINOPS_ALLOCATION_RULES=str(rules),
        )
        for name, value in env.items():
            mp.setenv(name, value)
        result = run_pipeline(COMMITMENTS_RUN_DATE)
        assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    yield home


@pytest.fixture(scope="session")
def commitments_api_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """FINOPS_HOME after one full DailyPipeline run of the same commitments through the cost
    APIs: Cost Explorer (moto's server for GetCostAndUsage and STS, our proxy for the
    commitment operations) answering the export's AWS half, and the Azure Query API emulator
    (over TLS, with its identity authority) its Azure half, at the billing account's scope."""
    home = tmp_path_factory.mktemp("commitments_api_home")
    cert, key = self_signed_certificate(tmp_path_factory.mktemp("commitments_tls"))
    moto = MotoServer().start()
    proxy = CostExplorerProxy(moto.url, answer_queries=True).start()
    azure = AzureCostEmulator(
        [query_api_subscription()],
        start=date(2025, 12, 1),
        end=COMMITMENTS_RUN_DATE,
        billing_accounts={BILLING_ACCOUNT: [SUBSCRIPTION]},
        ssl_context=server_ssl_context(cert, key),
        tenant_id=AZURE_TENANT,
        client_id=AZURE_CLIENT,
        client_secret="commitments-test-azure-secret",
    )
    answer_the_export(azure)
    azure.start()
    try:
        estate = cost_explorer_estate(date(2025, 12, 1), COMMITMENTS_RUN_DATE)
        proxy.estate = estate
        with pytest.MonkeyPatch.context() as mp:
            for name in list(os.environ):
                if name.startswith(("FINOPS_", "AWS_", "AZURE_")):
                    mp.delenv(name)
            env = finops_env(
                home,
                FINOPS_SOURCES="aws,azure",
                FINOPS_AWS_ROLE_ARN=f"arn:aws:iam::{PAYER}:role/finops",
                AWS_ACCESS_KEY_ID="AKIAFINOPSCOMMITMENTS",
                AWS_SECRET_ACCESS_KEY="commitments-test-secret",
                AWS_DEFAULT_REGION="us-east-1",
                AWS_CONFIG_FILE=str(home / "no-aws-config"),
                AWS_SHARED_CREDENTIALS_FILE=str(home / "no-aws-credentials"),
                AWS_ENDPOINT_URL=moto.url,
                AWS_ENDPOINT_URL_COST_EXPLORER=proxy.url,
                AZURE_TENANT_ID=AZURE_TENANT,
                AZURE_CLIENT_ID=AZURE_CLIENT,
                AZURE_CLIENT_SECRET="commitments-test-azure-secret",
                AZURE_AUTHORITY_HOST=azure.url,
                FINOPS_AZURE_ARM_ENDPOINT=azure.url,
                FINOPS_AZURE_SCOPES=f"/providers/Microsoft.Billing/billingAccounts/{BILLING_ACCOUNT}",
                REQUESTS_CA_BUNDLE=str(cert),
            )
            for name, value in env.items():
                mp.setenv(name, value)
            result = run_pipeline(COMMITMENTS_RUN_DATE)
        assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
        yield home
    finally:
        azure.stop()
        proxy.stop()
        moto.stop()
