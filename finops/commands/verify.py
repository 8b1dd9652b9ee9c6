"""`finops verify`: every data test and unit test of the dbt project over all history.

A daily `finops run` tests only the days its build rebuilt (the rest were tested when they
were built and no load has touched them since). `verify` re-reads everything: schedule it
weekly (docs/operations.md), after a manual change to the warehouse, or after changing a
seed or a var (then `dbt build --full-refresh` rebuilds the history first).
"""

from __future__ import annotations

import argparse
import sys
import time

from finops.exit_codes import EXIT_BUSY, EXIT_FAILED, EXIT_OK
from finops.settings import load_settings


def cmd_verify(args: argparse.Namespace) -> int:
    """`dbt test` on the warehouse, no window: exit 0 when every test passes, 1 otherwise."""
    from finops.dbt_runner import run_dbt
    from pipelines import state

    settings = load_settings()
    if not settings.duckdb_path.exists():
        print(f"finops verify: no warehouse at {settings.duckdb_path}", file=sys.stderr)
        return EXIT_FAILED
    began = time.perf_counter()
    try:
        with state.run_lock(settings.duckdb_path, "finops verify", settings.run_wait_s):
            summary = run_dbt(settings, ["test"])
    except state.RunBusyError as exc:
        print(f"finops verify: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except RuntimeError as exc:
        print(f"finops verify: {exc}", file=sys.stderr)
        return EXIT_FAILED
    counts = ", ".join(f"{n} {status}" for status, n in sorted(summary["counts"].items()))
    print(
        f"finops verify: every test over all history of {settings.duckdb_path}: {counts} "
        f"({time.perf_counter() - began:.0f} s)"
    )
    return EXIT_OK
