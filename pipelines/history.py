"""logs/execution_history.json: one entry per pipeline run or failed task.

Statuses: `succeeded` (every source loaded), `partial` (a source's load failed, the others
were loaded, built, exported and reported; see `failed_loads`), `failed` (a task failed the
run; `task` and `error` say which and why), `killed` (stopped by SIGTERM or SIGINT; `task`
says what was running). The file is a JSON array rewritten atomically
under a lock, so two processes appending at once never corrupt it.
"""

from __future__ import annotations

import fcntl
import json
from datetime import UTC, date, datetime
from typing import Any

from finops.settings import Settings
from loaders.redaction import scrub
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


def run_entry(summary: dict[str, Any], webhook: dict[str, Any] | None = None) -> dict[str, Any]:
    """The entry of a run that reached its report: status `succeeded` or `partial`.

    `summary` is reporting.run_summary (per-provider rows and API requests/cost, failed loads
    with their errors, totals per provider and billing currency, recent anomalies, durations);
    `webhook` the outcome of the notification, if one is configured.
    """
    entry = {
        "run_date": summary["run_date"],
        "backfill_since": summary["backfill_since"],
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **{k: v for k, v in summary.items() if k not in ("run_date", "backfill_since")},
    }
    entry["webhook"] = webhook
    return entry


def failure_entry(
    run_date: date,
    task_id: str,
    exception: BaseException,
    webhook: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The entry of a task that failed the run (credentials scrubbed from the error)."""
    return {
        "run_date": run_date.isoformat(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "failed",
        "task": task_id,
        "error": failure_text(exception),
        "webhook": webhook,
    }


def killed_entry(run_date: date, signal_name: str, running: list[str]) -> dict[str, Any]:
    """The entry of a run stopped by a signal (SIGTERM, SIGINT): what was running then."""
    return {
        "run_date": run_date.isoformat(),
        "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "status": "killed",
        "task": ", ".join(running) or None,
        "error": f"stopped by {signal_name}; the tasks that had not finished left no record "
        "and the next run of the date redoes them",
        "webhook": None,
    }


def failure_text(exception: BaseException) -> str:
    return scrub(f"{type(exception).__name__}: {exception}")[:2000]
