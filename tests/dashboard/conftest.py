"""Warehouses for the dashboard tests.

Every dashboard test takes the `warehouse` fixture: the serving DuckDB file that the real
pipeline published (simulated source, `dbt build`, see tests/conftest.py). `dashboard_env`
points the settings at it. The tests compute every expected value with their own SQL over the
file.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from finops.settings import load_settings


@pytest.fixture(scope="session")
def warehouse(built_warehouse: Path) -> Path:
    """The serving file the dashboard tests read: the marts the real pipeline published."""
    return built_warehouse


def _point_settings_at(monkeypatch: pytest.MonkeyPatch, serving_path: Path) -> None:
    duckdb_path = serving_path.with_name(
        serving_path.name.removesuffix("_serving.duckdb") + ".duckdb"
    )
    for name in [n for n in os.environ if n.startswith("FINOPS_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("FINOPS_HOME", str(serving_path.parent))
    monkeypatch.setenv("FINOPS_DUCKDB_PATH", str(duckdb_path))
    assert load_settings().serving_path == serving_path


@pytest.fixture
def point_settings_at(monkeypatch: pytest.MonkeyPatch) -> Callable[[Path], None]:
    """Set FINOPS_HOME / FINOPS_DUCKDB_PATH so that a given file is the serving copy."""
    return lambda serving_path: _point_settings_at(monkeypatch, serving_path)


@pytest.fixture
def dashboard_env(point_settings_at: Callable[[Path], None], warehouse: Path) -> Path:
    """The settings point at `warehouse`; returns its path for the tests' own SQL."""
    point_settings_at(warehouse)
    return warehouse
