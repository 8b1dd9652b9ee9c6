"""Several dbt commands in one process:

    python -m finops.dbt_child OPTIONS_JSON dbt COMMAND... [--then dbt COMMAND...]...
    python -m finops.dbt_child OPTIONS_JSON --wait-for-commands

Each command runs as `dbt COMMAND OPTIONS` (OPTIONS_JSON: a JSON list of the options every
command gets, such as --project-dir). The command line reads like the dbt commands it runs
(`ps` shows `... dbt build ... --then dbt source freshness ...`).

Why: a dbt command started on its own pays Python's start-up, dbt's imports and the
project's (partial) parse before its first query - about 2.5 s on 2 cores, as much as the
source-freshness check that follows every build takes in all. Here the project is parsed
once (`dbt parse`) and each command runs on that manifest through dbt's documented
programmatic entry point, `dbtRunner(manifest=...)`.

Artifacts: dbt writes manifest.json at the end of every command (about 1 s of dbt's
fixed cost of 4-5 s per run for this project), and a build with its freshness check
wrote one and the same manifest three times. Here the parse before the commands and the
commands after the first run with `--no-write-json`; so may the first (the caller's
choice: DbtBuild, when the last build's manifest is of the same project, see
pipelines/build_scope.py). A command run so gets its result file written here from its
result (`source freshness`: sources.json; `build`, `run`, `test`...: run_results.json), as
dbt would have written it; the first command's stale one is removed before it runs.

Started ahead (`... OPTIONS_JSON --wait-for-commands`): the child imports dbt and parses
the project at once, then waits for one line on stdin, a JSON object {"env": {...},
"commands": [[...], ...]}: the environment variables the project reads only at run time
(`finops.dbt_runner.RUN_TIME_ENV`) and the commands to run. The pipeline starts its build's
dbt so while the loads run (`finops.dbt_runner.start_ahead`): the 2-3 s of start-up and
parse then cost no wall time. An empty line or a closed stdin ends it with nothing run.

The process exits with the first command's exit code (0 success, 1 a node failed, 2 dbt
could not run); a later command's failure shows in its own line `finops-dbt-exit N ARGS`
on stdout, which the caller reads. Nothing runs after a first command that did not
succeed. `finops.dbt_runner.invoke` is the caller (it starts this as a child process with
the same safeguards as a plain `dbt` child).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any, TextIO

EXIT_MARK = "finops-dbt-exit"


def exit_code(result: Any) -> int:
    """dbt's own exit codes for a dbtRunnerResult: 0 success, 1 failure, 2 error."""
    if result.success:
        return 0
    return 2 if result.exception is not None else 1


NO_WRITE_JSON = "--no-write-json"


def result_file(args: list[str]) -> str:
    """The file dbt would write a command's result to, in the target path."""
    return "sources.json" if args[:2] == ["source", "freshness"] else "run_results.json"


def target_path(options: list[str]) -> Path:
    """The options' --target-path (finops.dbt_runner.invoke always gives one)."""
    return Path(options[options.index("--target-path") + 1])


def parse(options: list[str]) -> tuple[int, Any]:
    """(0, a dbtRunner holding the parsed project) or (dbt's exit code, None)."""
    from dbt.cli.main import dbtRunner

    parsed = dbtRunner().invoke(["parse", NO_WRITE_JSON, *options])
    code = exit_code(parsed)
    if code != 0:
        print(f"{EXIT_MARK} {code} parse", flush=True)
        return code, None
    return 0, dbtRunner(manifest=parsed.result)


def run(options: list[str], commands: list[list[str]]) -> int:
    code, runner = parse(options)
    return code if runner is None else run_commands(runner, options, commands)


def run_when_asked(options: list[str], requests: TextIO) -> int:
    """Parse now, then run the commands of the first line of `requests` (see the module
    docstring) with its environment variables set; 0 with nothing run on an empty line."""
    code, runner = parse(options)
    if runner is None:
        return code
    line = requests.readline().strip()
    if not line:
        return 0
    request = json.loads(line)
    os.environ.update({str(k): str(v) for k, v in request.get("env", {}).items()})
    return run_commands(runner, options, [list(c) for c in request["commands"]])


def run_commands(runner: Any, options: list[str], commands: list[list[str]]) -> int:
    first = None
    for given in commands:
        args = given if first is None else [*given, NO_WRITE_JSON]
        results = target_path(options) / result_file(args)
        if first is None and NO_WRITE_JSON in args:
            results.unlink(missing_ok=True)
        result = runner.invoke([*args, *options])
        if NO_WRITE_JSON in args and hasattr(result.result, "write"):
            result.result.write(str(results))
        code = exit_code(result)
        print(f"{EXIT_MARK} {code} {' '.join(given)}", flush=True)
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
WAIT = "--wait-for-commands"


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
            f"[{THEN} dbt COMMAND...]... (or OPTIONS_JSON {WAIT}); got {argv[1:]}"
        )
    return list(options), [c[1:] for c in commands]


def main(argv: list[str]) -> int:
    if argv[2:] == [WAIT]:
        return run_when_asked(list(json.loads(argv[1])), sys.stdin)
    return run(*parse_command_line(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
