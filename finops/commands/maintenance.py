"""The upkeep commands, each a job of its own: `finops prune` (exports past the retention)
and `finops purge` (a source's raw rows for a date range, ledgered)."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

from finops.exit_codes import EXIT_BUSY, EXIT_FAILED, EXIT_OK, EXIT_USAGE
from finops.settings import load_settings, utc_today
from loaders import registry


def cmd_prune(args: argparse.Namespace) -> int:
    """Delete exports older than FINOPS_RETENTION_DAYS, with `--date` (default today) as the
    clock; the same prune the daily run does, as a job of its own (Luigi: PruneExports)."""
    from pipelines.exports import ExportDestinationError, export_store

    settings = load_settings()
    today = args.date or utc_today()
    store = export_store(settings)
    cutoff = today - timedelta(days=settings.retention_days)
    verb = "would remove" if args.dry_run else "removed"
    print(
        f"finops prune {today}: {store.destination}, retention {settings.retention_days} days "
        f"(run folders before {cutoff}){' [dry run]' if args.dry_run else ''}",
        flush=True,
    )
    try:
        removed = store.prune(today, settings.retention_days, dry_run=args.dry_run)
    except ExportDestinationError as exc:
        print(f"finops prune: {exc}", file=sys.stderr)
        return 1
    for key in removed:
        print(f"  {verb} {key}")
    unit = "objects" if store.destination.startswith("s3://") else "folders"
    print(f"{len(removed)} {unit} {'would be removed' if args.dry_run else 'removed'}")
    return 0


def cmd_purge(args: argparse.Namespace) -> int:
    """Remove a source's raw rows for `[--start, --end]` (inclusive) through the one writer,
    ledgered; then rebuild with `finops run` (the purge makes the affected runs incomplete,
    and the incremental marts rebuild the purged days)."""
    from loaders import warehouse
    from pipelines import state

    if args.end < args.start:
        print("--end must not be before --start", file=sys.stderr)
        return EXIT_USAGE
    settings = load_settings()
    if not settings.duckdb_path.exists():
        print(f"finops purge: no warehouse at {settings.duckdb_path}", file=sys.stderr)
        return EXIT_FAILED
    spec = registry.source(args.source)
    ledger_source = spec.ledger_source
    holder = f"finops purge {args.source} {args.start}..{args.end}"
    try:
        with state.run_lock(settings.duckdb_path, holder, settings.run_wait_s):
            removed = warehouse.purge_window(
                settings.duckdb_path, ledger_source, args.start, args.end + timedelta(days=1)
            )
    except state.RunBusyError as exc:
        print(f"finops purge: {exc}", file=sys.stderr)
        return EXIT_BUSY
    for table, count in removed.items():
        print(f"  {table}: {count} row(s) of {ledger_source} removed")
    total = sum(removed.values())
    print(
        f"{total} raw row(s) of {args.source} for {args.start}..{args.end} removed from "
        f"{settings.duckdb_path} (ledgered). Now `finops run` rebuilds the marts without them"
        + (
            "; FOCUS files still at FINOPS_FOCUS_PATH are imported again by the next run"
            if spec.window == "files"
            else ""
        )
        + "."
    )
    return EXIT_OK
