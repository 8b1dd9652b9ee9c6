"""Warehouses for the dashboard tests.

Every dashboard test takes the `warehouse` fixture: the serving DuckDB file that the real
pipeline published (simulated source, `dbt build`, see tests/conftest.py). `dashboard_env`
points the settings at it. The tests compute every expected value with their own SQL over the
file.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import duckdb
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


@pytest.fixture
def serving_copy(
    tmp_path: Path, warehouse: Path, point_settings_at: Callable[[Path], None]
) -> Callable[..., Path]:
    """A copy of `warehouse` changed by some SQL, which the settings then point at.

    `serving_copy("update marts.x set ...", ...)` returns the copy's path; tests use it to
    stage what the simulated source never produces (a failed load, restatements, a second
    reporting currency, an older serving copy without some marts).
    """

    def make(*statements: str) -> Path:
        copy = tmp_path / "copy" / "finops_serving.duckdb"
        copy.parent.mkdir(exist_ok=True)
        shutil.copy(warehouse, copy)
        with duckdb.connect(str(copy)) as con:
            for statement in statements:
                con.execute(statement)
        point_settings_at(copy)
        return copy

    return make
