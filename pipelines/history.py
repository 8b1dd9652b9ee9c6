"""logs/execution_history.json: one entry per pipeline run (success) or failed task.

The file is a JSON array rewritten atomically under a lock, so two processes appending at
once never corrupt it.
"""

from __future__ import annotations

import fcntl
import json
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from finops.settings import Settings
from pipelines.exports import atomic_write_text

MAX_ENTRIES = 5000


def append(settings: Settings, entry: dict[str, Any]) -> None:
    settings.log_dir.mkdir(parents=True, exist_ok=True)
    path = settings.log_dir / "execution_history.json"
    with open(settings.log_dir / ".execution_history.lock", "a+") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            entries = json.loads(path.read_text()) if path.exists() else []
            entries.append(entry)
            atomic_write_text(path, json.dumps(entries[-MAX_ENTRIES:], indent=2, default=str))
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def read(settings: Settings) -> list[dict[str, Any]]:
    path = settings.log_dir / "execution_history.json"
    return json.loads(path.read_text()) if path.exists() else []


def success_entry(
    run_date: date, settings: Settings, markers: dict[str, Any], facts: dict[str, Any]
) -> dict[str, Any]:
    loads = [load for marker in markers["loads"] for load in marker["loads"]]
    durations = {m["task"]: m["duration_s"] for m in markers["loads"]}
    durations.update(
        {name: markers[name]["duration_s"] for name in ("dbt_build", "export", "prune")}
    )
    return {
        "run_date": run_date.isoformat(),
        "backfill_since": markers["dbt_build"].get("since"),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "succeeded",
        "sources": list(settings.sources),
        "loads": [
            {
                key: load[key]
                for key in (
                    "source",
                    "scope",
                    "window_start",
                    "window_end",
                    "row_count",
                    "replaced_row_count",
                    "api_requests",
                    "api_cost_usd",
                    "load_id",
                )
            }
            for load in loads
        ],
        "api_requests": sum(load["api_requests"] for load in loads),
        "api_cost_usd": str(sum((Decimal(load["api_cost_usd"]) for load in loads), Decimal("0"))),
        "dbt": markers["dbt_build"].get("counts", {}),
        "exported_files": len(markers["export"]["files"]),
        "pruned": len(markers["prune"]["removed"]),
        "totals_by_provider_currency": facts["totals_by_provider_currency"],
        "total_reporting": facts["total_reporting"],
        "reporting_currency": settings.reporting_currency,
        "anomalies_last_7_days": len(facts["recent_anomalies"]),
        "durations_s": durations,
    }


def failure_entry(run_date: date, task_id: str, exception: BaseException) -> dict[str, Any]:
    return {
        "run_date": run_date.isoformat(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "failed",
        "task": task_id,
        "error": f"{type(exception).__name__}: {exception}"[:2000],
    }
