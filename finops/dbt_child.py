"""Several dbt commands in one process: `python -m finops.dbt_child SPEC`, where SPEC is
JSON `{"options": [...], "commands": [[...], ...]}` (each command runs as `dbt COMMAND
OPTIONS`).

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


def main(argv: list[str]) -> int:
    spec = json.loads(argv[1])
    return run(list(spec["options"]), [list(c) for c in spec["commands"]])


if __name__ == "__main__":
    sys.exit(main(sys.argv))
