"""Several dbt commands in one process:

    python -m finops.dbt_child OPTIONS_JSON dbt COMMAND... [--then dbt COMMAND...]...

Each command runs as `dbt COMMAND OPTIONS` (OPTIONS_JSON: a JSON list of the options every
command gets, such as --project-dir). The command line reads like the dbt commands it runs
(`ps` shows `... dbt build ... --then dbt source freshness ...`).

Why: a dbt command started on its own pays Python's start-up, dbt's imports and the
project's (partial) parse before its first query - about 2.5 s on 2 cores, as much as the
source-freshness check that follows every build takes in all. Here the project is parsed
once (`dbt parse`) and each command runs on that manifest through dbt's documented
programmatic entry point, `dbtRunner(manifest=...)`. Each command writes its own artifacts
as usual (`build`: run_results.json, `source freshness`: sources.json).

The process exits with the first command's exit code (0 success, 1 a node failed, 2 dbt
could not run); a later command's failure shows in its own line `finops-dbt-exit N ARGS`
on stdout, which the caller reads. Nothing runs after a first command that did not
succeed. `finops.dbt_runner.invoke` is the caller (it starts this as a child process with
the same safeguards as a plain `dbt` child).
"""

from __future__ import annotations

import json
import sys
from typing import Any

EXIT_MARK = "finops-dbt-exit"


def exit_code(result: Any) -> int:
    """dbt's own exit codes for a dbtRunnerResult: 0 success, 1 failure, 2 error."""
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


def run(options: list[str], commands: list[list[str]]) -> int:
    from dbt.cli.main import dbtRunner

    parsed = dbtRunner().invoke(["parse", *options])
    code = exit_code(parsed)
    if code != 0:
        print(f"{EXIT_MARK} {code} parse", flush=True)
        return code
    runner = dbtRunner(manifest=parsed.result)
    first = None
    for args in commands:
        code = exit_code(runner.invoke([*args, *options]))
        print(f"{EXIT_MARK} {code} {' '.join(args)}", flush=True)
        if first is None:
            first = code
            if code != 0:
                break
    return first or 0


def parse_exit_codes(stdout: str) -> list[int]:
    """The exit code of every command the child ran, in order, from its stdout."""
    return [
        int(line.split()[1]) for line in stdout.splitlines() if line.startswith(EXIT_MARK + " ")
    ]


THEN = "--then"


def command_line(options: list[str], commands: list[list[str]]) -> list[str]:
    """The arguments of this module for `commands`, each run with `options`."""
    argv = [json.dumps(options)]
    for index, command in enumerate(commands):
        argv += ([THEN] if index else []) + ["dbt", *command]
    return argv


def parse_command_line(argv: list[str]) -> tuple[list[str], list[list[str]]]:
    """(options, commands) from this module's arguments (`command_line`'s inverse)."""
    options = json.loads(argv[0])
    commands: list[list[str]] = [[]]
    for arg in argv[1:]:
        if arg == THEN:
            commands.append([])
        else:
            commands[-1].append(arg)
    if any(not c or c[0] != "dbt" or len(c) < 2 for c in commands):
        raise SystemExit(
            f"usage: python -m finops.dbt_child OPTIONS_JSON dbt COMMAND... "
            f"[{THEN} dbt COMMAND...]...; got {argv[1:]}"
        )
    return list(options), [c[1:] for c in commands]


def main(argv: list[str]) -> int:
    return run(*parse_command_line(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
