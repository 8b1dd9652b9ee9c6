"""The exit codes of the `finops` commands, a contract with cron and systemd (their meaning
per command: finops/cli.py and docs/operations.md)."""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_BUSY = 4
EXIT_SIGNAL_BASE = 128  # + the signal number: 143 for SIGTERM, 130 for SIGINT (as shells do)
