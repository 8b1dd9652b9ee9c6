"""`finops`: the human entry point.

    finops run [--date D] [--force] [--scheduler-host H --scheduler-port P]
    finops run --plan [--date D]             (the requests the run would make; none made)
    finops backfill --start D --end D [--force]   (one load of the whole range per source)
    finops dashboard [--port P] [--address A]   (default: Streamlit's config, else localhost:8501)
    finops sql "select * from marts.fct_cost_kpis"
    finops docs [--serve]
    finops prune [--date D] [--dry-run]      (only the export retention prune, for its own timer)
    finops purge --source S --start D --end D   (remove a source's raw rows, ledgered)
    finops spark [--raw-only] [--full-refresh]   (the dbt project on Apache Spark, target `spark`)
    finops verify                            (every dbt test over all history; weekly)

`run --force` (and `backfill --force`) reruns a date that is complete: every load of its
window runs again (FOCUS: every file re-imported), then build, export, prune and report.
Without it a date is complete when its warehouse says so (pipelines/state.py); the last
lines printed say per step what it did (loaded / unchanged / built ...) or that it was
already complete, and what the warehouse's record of it says.

Exit codes of `run` and `backfill` (for cron and systemd):
    0  succeeded: every source loaded, built, exported, reported (or the date was complete)
    1  failed: a task failed the run (see logs/pipeline.log and the last entry of
       logs/execution_history.json); nothing new was published
    2  bad arguments or settings, checked before anything runs (finops/preflight.py; the
       message names the variable or argument)
    3  partial: a source's load failed, the others were loaded, built, exported and
       reported; the marts keep the failed provider's last good data. Rerun the same date
       once the fault is fixed: only the failed load is retried, then the day is rebuilt.
    4  busy: another run held the warehouse longer than FINOPS_RUN_WAIT_SECONDS (runs take
       turns, one per warehouse); nothing was loaded
  143  stopped by SIGTERM (130: SIGINT): children stopped, locks released, `killed` in the
       execution history; rerun the date
`verify`: 0 every test passed, 1 a test failed (named, with logs/dbt_output.log), 4 busy.
`prune`: 0 done, 1 the export location can't be used or some keys were not deleted, 2 bad
settings.

The commands themselves are in finops/commands/, one module per command or group; this
module parses the arguments, calls the command, and turns what it raises into one line and
an exit code (finops/exit_codes.py).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from datetime import date
from pathlib import Path

from finops.commands.dashboard import DASHBOARD_ADDRESS, DASHBOARD_PORT, cmd_dashboard
from finops.commands.docs import cmd_docs
from finops.commands.maintenance import cmd_prune, cmd_purge
from finops.commands.run import cmd_backfill, cmd_run
from finops.commands.spark import cmd_spark
from finops.commands.sql import cmd_sql
from finops.commands.verify import cmd_verify
from finops.exit_codes import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SIGNAL_BASE,
    EXIT_USAGE,
)
from finops.settings import load_settings
from loaders import registry

__all__ = [
    "EXIT_BUSY",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_PARTIAL",
    "EXIT_SIGNAL_BASE",
    "EXIT_USAGE",
    "build_parser",
    "known_failure",
    "main",
]


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {value!r}") from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="finops", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def scheduler_args(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--scheduler-host", help="use a central luigid instead of the local scheduler"
        )
        p.add_argument("--scheduler-port", type=int, default=8082)
        p.add_argument(
            "--allow-future",
            action="store_true",
            help="allow loading days after today (refused by default: they have no costs)",
        )
        p.add_argument(
            "--force",
            action="store_true",
            help="rerun even if complete: reload the windows (FOCUS: re-import every file), "
            "rebuild, re-export, re-report (Luigi: DailyPipeline --force)",
        )

    run = sub.add_parser(
        "run",
        help="run the daily pipeline for a date (default: today, UTC); "
        "exit 0 succeeded, 1 failed, 2 bad settings, 3 partial (a source failed)",
    )
    run.add_argument(
        "--date", type=_date, help="run date YYYY-MM-DD; loads data up to the day before"
    )
    run.add_argument(
        "--plan",
        action="store_true",
        help="print, per source, the API requests the run would make and their cost (from "
        "the warehouse's state), without making them; then exit 0",
    )
    scheduler_args(run)
    run.set_defaults(func=cmd_run)

    backfill = sub.add_parser("backfill", help="run the daily pipeline for every date in a range")
    backfill.add_argument("--start", type=_date, required=True)
    backfill.add_argument("--end", type=_date, required=True, help="inclusive")
    scheduler_args(backfill)
    backfill.set_defaults(func=cmd_backfill)

    dash = sub.add_parser(
        "dashboard",
        help="serve the Streamlit dashboard (where: the flags, else Streamlit's own "
        "configuration, else localhost:8501)",
    )
    dash.add_argument(
        "--port",
        type=int,
        default=None,
        help="overrides STREAMLIT_SERVER_PORT and .streamlit/config.toml (default there, "
        f"else {DASHBOARD_PORT})",
    )
    dash.add_argument(
        "--address",
        default=None,
        help="overrides STREAMLIT_SERVER_ADDRESS and .streamlit/config.toml (default there, "
        f"else {DASHBOARD_ADDRESS})",
    )
    dash.set_defaults(func=cmd_dashboard)

    docs = sub.add_parser("docs", help="build the dbt docs site (lineage, every model and column)")
    docs.add_argument("--serve", action="store_true", help="then serve it over HTTP")
    docs.add_argument("--port", type=int, default=8080)
    docs.add_argument("--address", default="localhost")
    docs.set_defaults(func=cmd_docs)

    prune = sub.add_parser(
        "prune", help="delete exports older than FINOPS_RETENTION_DAYS (the cleanup job)"
    )
    prune.add_argument("--date", type=_date, help="the clock: today's date (default: UTC today)")
    prune.add_argument("--dry-run", action="store_true", help="list what would go, delete nothing")
    prune.set_defaults(func=cmd_prune)

    sql = sub.add_parser("sql", help="query the marts (read-only), e.g. marts.fct_daily_costs")
    sql.add_argument("query")
    sql.add_argument("--format", choices=("table", "csv"), default="table")
    sql.add_argument(
        "--max-rows",
        type=int,
        default=None,
        help="most rows to fetch and print (default: 100 as a table, all as csv)",
    )
    sql.set_defaults(func=cmd_sql)
    purge = sub.add_parser(
        "purge",
        help="remove a source's raw rows for a date range (ledgered; recovery from bad data)",
    )
    purge.add_argument("--source", required=True, choices=sorted(registry.NAMES))
    purge.add_argument("--start", type=_date, required=True)
    purge.add_argument("--end", type=_date, required=True, help="inclusive")
    purge.set_defaults(func=cmd_purge)
    spark_cmd = sub.add_parser(
        "spark",
        help="build the same dbt project on Apache Spark (dbt-spark, local pyspark session) "
        "from the warehouse's raw tables",
    )
    spark_cmd.add_argument(
        "--raw-only",
        action="store_true",
        help="only write the raw tables as Parquet under FINOPS_SPARK_DIR/raw (for a cluster)",
    )
    spark_cmd.add_argument(
        "--full-refresh", action="store_true", help="rebuild the incremental fct_daily_costs"
    )
    spark_cmd.set_defaults(func=cmd_spark)
    verify = sub.add_parser(
        "verify",
        help="run every dbt data and unit test over all history (a daily run tests only the "
        "days it rebuilt); schedule weekly. Exit 0 passed, 1 a test failed, 4 busy",
    )
    verify.set_defaults(func=cmd_verify)

    return parser


def known_failure(exc: BaseException, warehouse: Path | None) -> str | None:
    """One line saying what went wrong and what to do, for the failures a user can fix;
    None for anything else."""
    import errno

    from loaders.warehouse import WarehouseBusyError

    text = str(exc)
    where = f"the warehouse {warehouse}" if warehouse else "the warehouse"
    if isinstance(exc, WarehouseBusyError):
        return f"{text}: wait for the other finops process, or stop it"
    if "Could not set lock" in text or "Conflicting lock" in text:
        holder = text.split("(PID", 1)[-1].split(")", 1)[0].strip() if "(PID" in text else ""
        who = f" (pid {holder})" if holder.isdigit() else ""
        return (
            f"{where} is open for writing in another process{who}: wait for it to finish or "
            "stop it, then rerun"
        )
    damaged = ("Could not read enough bytes", "not a valid DuckDB database", "Corrupt")
    if any(marker in text for marker in damaged):
        return (
            f"{where} is damaged or not a DuckDB file ({text.splitlines()[0][:200]}): restore "
            "it from a backup, or move it aside and rerun (each date reloads its window)"
        )
    if isinstance(exc, OSError) and exc.errno == errno.ENOSPC:
        return f"no space left on the device writing {exc.filename or where}: free some, rerun"
    if isinstance(exc, OSError) and exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"cannot write {exc.filename or where} ({exc.strerror}): fix its permissions"
    return None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as exc:  # settings errors name the variable at fault
        print(f"finops: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:
        # One line on the terminal; the traceback goes to logs/pipeline.log.
        from loaders.redaction import scrub
        from pipelines.tasks import configure_logging

        settings = None
        with contextlib.suppress(Exception):
            settings = load_settings()
            configure_logging(settings)
        logging.getLogger("finops.cli").exception("finops %s failed", args.command)
        warehouse = settings.duckdb_path if settings else None
        line = known_failure(exc, warehouse) or f"{type(exc).__name__}: {exc}"
        log_hint = f" (details: {settings.log_dir / 'pipeline.log'})" if settings else ""
        print(f"finops {args.command}: {scrub(line)}{log_hint}", file=sys.stderr)
        return EXIT_FAILED


if __name__ == "__main__":
    raise SystemExit(main())
