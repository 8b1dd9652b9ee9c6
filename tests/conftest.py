"""Shared fixtures: a real warehouse built by the real pipeline on the simulated source."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import luigi
import pytest
from finops_testing import FIXED_RUN_DATE, finops_env, run_pipeline

# Fixtures that run the pipeline once and are shared: every test using one goes to the same
# pytest-xdist worker (`make test` runs `-n auto --dist loadgroup`), so each is built once.
SHARED_BUILDS = ("two_clouds", "built_home")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Group tests for pytest-xdist: by shared session build, else by file (module fixtures
    such as a module's dbt build then run once). Without xdist the mark does nothing."""
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        group = next((name for name in SHARED_BUILDS if name in fixtures), None)
        item.add_marker(pytest.mark.xdist_group(group or item.nodeid.split("::")[0]))


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
