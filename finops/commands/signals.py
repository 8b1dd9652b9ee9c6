"""SIGTERM and SIGINT as an exception, so a stopped command unwinds (its children stopped,
its locks released) instead of ending at once: `finops run`, `backfill` and `dashboard`."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator


class RunInterrupted(KeyboardInterrupt):
    """SIGTERM or SIGINT arrived: unwind (subprocess.run kills the dbt child, locks are
    released, Luigi's worker and its manager process shut down) and exit 128 + signal."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_unwind() -> Iterator[None]:
    """SIGTERM/SIGINT raise RunInterrupted in the main thread while the block runs (the
    default SIGTERM action would end the process at once, leaving children and Luigi's
    manager process behind)."""

    def handler(signum: int, _frame: object) -> None:
        raise RunInterrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
