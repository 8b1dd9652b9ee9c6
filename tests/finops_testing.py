"""Helpers shared by the tests (importable as `finops_testing`; conftest holds fixtures)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import luigi

# A run date far enough in the past that every simulated day is final (not estimated), so
# figures do not depend on the day the suite runs.
FIXED_RUN_DATE = date(2026, 7, 1)


def finops_env(home: Path, **overrides: str) -> dict[str, str]:
    """The environment of one isolated finops installation rooted at `home`."""
    env = {
        "FINOPS_HOME": str(home),
        "FINOPS_SOURCES": "simulated",
        "DO_NOT_TRACK": "1",
    }
    env.update(overrides)
    return env


def run_pipeline(run_date: date) -> luigi.execution_summary.LuigiRunResult:
    """Run DailyPipeline(run_date) in-process with the local scheduler, as cron would."""
    from pipelines import DailyPipeline

    return luigi.build(
        [DailyPipeline(date=run_date)],
        local_scheduler=True,
        workers=1,
        detailed_summary=True,
        log_level="WARNING",
    )
