"""Checks made before a run touches anything: one line naming the setting or argument at
fault (exit 2), instead of a load followed by a dbt failure or a traceback.

- the reporting currency has rates in the FX seed (`dbt_project/seeds/fx_rates.csv`);
- the first day a run or backfill loads is covered by those rates (a day before the first
  rate would get no `fx_rate`, fail the build and stay in `raw.*`);
- no day after today is loaded unless asked for (`--allow-future`): a run of D loads up to
  D - 1, a backfill up to its `--end`; a future date would make the simulated source invent
  costs after today and mark that date complete;
- the allocation rules file (FINOPS_ALLOCATION_RULES) is valid for FINOPS_ALLOCATION_TAGS:
  a mistake would otherwise surface only in the dbt build, after the loads;
- FINOPS_HOME, the warehouse's folder and the export folder are folders this process can
  write (or create).
"""

from __future__ import annotations

import csv
import tempfile
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from finops.allocation import AllocationRulesError
from finops.settings import DBT_PROJECT_DIR, Settings, utc_today
from loaders import registry
from pipelines.sources import run_window

FX_SEED = DBT_PROJECT_DIR / "seeds" / "fx_rates.csv"


class PreflightError(ValueError):
    """A setting or argument that would make the run fail; the message names it."""


@dataclass(frozen=True)
class FxCoverage:
    """What the FX seed can convert: target currency -> first day it has a rate into it."""

    first_rate_into: dict[str, date]

    @property
    def currencies(self) -> list[str]:
        return sorted(self.first_rate_into)


def fx_coverage(seed: Path = FX_SEED) -> FxCoverage:
    first: dict[str, date] = {}
    with open(seed, newline="") as handle:
        for row in csv.DictReader(handle):
            target, day = row["to_currency"].upper(), date.fromisoformat(row["rate_date"])
            first[target] = min(first.get(target, day), day)
    return FxCoverage(first)


def first_loaded_day(settings: Settings, run_date: date, since: date | None) -> date:
    """The earliest charge day a run of `run_date` (or a backfill from `since`) asks for."""
    windows = [
        run_window(registry.source(name), settings, run_date, since) for name in settings.sources
    ]
    return min((window[0] for window in windows if window), default=since or run_date)


def _writable_folder(path: Path, setting: str) -> None:
    """`path` is (or can become) a folder this process writes in."""
    existing = path
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise PreflightError(
            f"{setting}: {existing} is a file, not a folder; point {setting} at a folder"
        )
    try:
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".finops-write-check-"):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise PreflightError(
            f"{setting}: cannot write in {existing} ({reason}); give a folder this user can "
            "write, or fix its permissions"
        ) from None


def check_run(
    settings: Settings,
    run_date: date,
    since: date | None = None,
    *,
    allow_future: bool = False,
    today: date | None = None,
) -> None:
    """Raise PreflightError (one line) when the run would fail or do harm; else nothing."""
    today = today or utc_today()
    last_day = run_date - timedelta(days=1)
    if last_day > today and not allow_future:
        what = f"--end {last_day}" if since else f"--date {run_date}"
        raise PreflightError(
            f"{what} is in the future (today is {today}, UTC): it would load days after "
            "today, which have no costs yet. Give today's date or an earlier one, or pass "
            "--allow-future if you mean it"
        )
    try:
        settings.allocation_config  # noqa: B018  # reads and checks the rules file, cached
    except AllocationRulesError as exc:
        raise PreflightError(str(exc)) from None
    coverage = fx_coverage()
    currency = settings.reporting_currency
    if currency not in coverage.first_rate_into:
        raise PreflightError(
            f"FINOPS_REPORTING_CURRENCY={currency}: {FX_SEED.relative_to(DBT_PROJECT_DIR.parent)}"
            f" has no rates into {currency} (it converts into {', '.join(coverage.currencies)});"
            " pick one of those, or add your treasury's rates to the seed"
        )
    first_day = first_loaded_day(settings, run_date, since)
    first_rate = coverage.first_rate_into[currency]
    if first_day < first_rate:
        what = f"--start {since}" if since else f"the run of {run_date} loads from {first_day}"
        hint = (
            f"start the backfill on or after {first_rate}"
            if since
            else f"lower FINOPS_HISTORY_DAYS so the history starts on or after {first_rate}"
        )
        raise PreflightError(
            f"{what}, but the FX rates into {currency} "
            f"({FX_SEED.relative_to(DBT_PROJECT_DIR.parent)}) begin on {first_rate}: {hint}, "
            "or add earlier rates to the seed"
        )
    _writable_folder(settings.home, "FINOPS_HOME")
    _writable_folder(settings.duckdb_path.parent, "FINOPS_DUCKDB_PATH")
    if not settings.s3_bucket:
        _writable_folder(settings.export_dir, "FINOPS_EXPORT_DIR")
