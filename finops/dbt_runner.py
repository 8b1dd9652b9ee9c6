"""The one way finops runs dbt: a child process of the pipeline's `DbtBuild`, of `finops
docs`, of the source-freshness check and of `finops spark`.

    from finops.dbt_runner import run_dbt
    run_dbt(settings, ["build"])        # the DuckDB warehouse, under its writer lock

Every run gets the same treatment: dbt starts without the credentials it does not need
(`loaders.redaction.without_secrets`), dies with finops even when finops is SIGKILLed
(`die_with_parent`, PR_SET_PDEATHSIG), is killed when SIGTERM/SIGINT unwind the run (the
`finops` command turns them into an exception, on which its child is killed), and has its
whole output appended to a log file under `logs/`, where the error it raises points.

The build's dbt may be started ahead (`start_run_dbt_ahead`, called by the loads): it
imports dbt and parses the project while the data lands, and `invoke` hands it its
commands.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from finops.dbt_child import WAIT, command_line, parse_exit_codes
from finops.settings import DBT_PROFILES_DIR, DBT_PROJECT_DIR, Settings
from loaders import redaction, warehouse

log = logging.getLogger("finops.pipeline")


def die_with_parent() -> Any:
    """A preexec_fn for a child (dbt) that the kernel must SIGKILL if finops dies, even by
    SIGKILL, so no child outlives its run holding the warehouse. Linux only (None
    elsewhere). libc is loaded here, in the parent: the child only makes the prctl call."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig, sigkill = 1, 9
    return lambda: libc.prctl(pr_set_pdeathsig, sigkill)


def dbt_executable() -> str:
    candidate = Path(sys.executable).with_name("dbt")
    return str(candidate) if candidate.exists() else "dbt"


# dbt's file log (logs/dbt/dbt.log) at info unless DBT_LOG_LEVEL_FILE says otherwise: dbt's
# default, debug, writes every query and connection event - 6-9 % of a build's CPU (measured
# on the simulated default's full build: 15.3-16.6 -> 14.4-15.1 CPU s). Set
# DBT_LOG_LEVEL_FILE=debug to troubleshoot a build.
DEFAULT_FILE_LOG_LEVEL = {"DBT_LOG_LEVEL_FILE": "info"}


def dbt_env(settings: Settings, folder: Path | None = None, **extra: str) -> dict[str, str]:
    """dbt's environment: ours without the secret variables, plus the settings dbt reads
    (paths relative to `folder`, the folder dbt runs in, where they lie in it)."""
    return {
        **DEFAULT_FILE_LOG_LEVEL,
        **redaction.without_secrets(os.environ),
        **settings.dbt_env(folder),
        **extra,
    }


@dataclass
class DbtRun:
    """One finished dbt invocation: its exit code, output and run_results.json summary."""

    args: list[str]
    returncode: int
    stdout: str
    stderr: str
    nodes: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    elapsed_s: float | None = None
    then_returncodes: list[int] = field(default_factory=list)

    @property
    def failed_nodes(self) -> list[dict[str, Any]]:
        return [n for n in self.nodes if n["status"] in ("error", "fail")]


def read_run_results(path: Path) -> dict[str, Any]:
    """run_results.json as {nodes: [{node, status, message}], counts: {status: n}, elapsed_s};
    {} when dbt wrote none."""
    if not path.exists():
        return {}
    data = json.loads(path.read_text())
    nodes = [
        {"node": r["unique_id"], "status": r["status"], "message": r.get("message")}
        for r in data.get("results", [])
    ]
    counts: dict[str, int] = {}
    for node in nodes:
        counts[node["status"]] = counts.get(node["status"], 0) + 1
    return {"nodes": nodes, "counts": counts, "elapsed_s": round(data.get("elapsed_time", 0.0), 2)}


def all_options(options: Sequence[str], target_path: Path, log_path: Path) -> list[str]:
    """The options every dbt command of finops gets: ours, then project, profiles, paths."""
    return [
        *options,
        "--project-dir",
        str(DBT_PROJECT_DIR),
        "--profiles-dir",
        str(DBT_PROFILES_DIR),
        "--target-path",
        str(target_path),
        "--log-path",
        str(log_path),
    ]


# The environment variables the project reads at run time only, never while it is parsed
# (macros/rebuilt_window.sql's window_start() returns before reading it when not executing):
# a dbt child started ahead gets them with its commands. Any other difference in the
# environment means a child started ahead parsed another project, and is not used.
RUN_TIME_ENV = ("FINOPS_DBT_WINDOW_START",)


@dataclass
class _Started:
    key: tuple[Any, ...]
    proc: subprocess.Popen


_started: _Started | None = None


def _start_key(options: Sequence[str], env: Mapping[str, str], cwd: Path | None) -> tuple:
    fixed = sorted((k, v) for k, v in env.items() if k not in RUN_TIME_ENV)
    return tuple(options), tuple(fixed), str(cwd)


def start_ahead(
    *,
    target_path: Path,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    options: Sequence[str] = (),
) -> None:
    """Start the dbt child of an `invoke` to come with the same arguments (its RUN_TIME_ENV
    values aside) now: Python's start-up, dbt's imports and the project's parse (2-3 s) then
    run while the caller does other work, such as the loads before a build. The child waits
    for its commands (finops/dbt_child.py, --wait-for-commands) and reads nothing else, so
    the warehouse is not opened until `invoke` sends them. One child at most is waiting:
    another start replaces it, unless it is the same and still waiting. An unused one ends
    with this process (its stdin closes; die_with_parent) or at `discard_started`."""
    global _started
    options = all_options(options, target_path, log_path)
    key = _start_key(options, env, cwd)
    if _started is not None and _started.key == key and _started.proc.poll() is None:
        return
    discard_started()
    cmd = [sys.executable, "-m", "finops.dbt_child", json.dumps(options), WAIT]
    try:
        if cwd is not None:
            cwd.mkdir(parents=True, exist_ok=True)  # a first run's data folder
        proc = subprocess.Popen(
            cmd,
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=die_with_parent(),
        )
    except OSError as exc:  # only time is lost: invoke starts its own
        log.warning("dbt could not be started ahead (%s); it starts when it is needed", exc)
        return
    _started = _Started(key, proc)


def discard_started() -> None:
    """Stop the dbt child waiting for commands, if any."""
    global _started
    started, _started = _started, None
    if started is None:
        return
    if started.proc.poll() is None:
        started.proc.kill()
    started.proc.communicate()  # reaps it and closes its pipes


atexit.register(discard_started)


def _take_started(
    options: Sequence[str], env: Mapping[str, str], cwd: Path | None
) -> subprocess.Popen | None:
    """The waiting child started for these arguments, if it still waits; else None (and a
    child started for others is stopped)."""
    global _started
    started = _started
    if started is None:
        return None
    if started.key != _start_key(options, env, cwd) or started.proc.poll() is not None:
        discard_started()
        return None
    _started = None
    return started.proc


def invoke(
    args: Sequence[str],
    *,
    target_path: Path,
    log_path: Path,
    env: Mapping[str, str],
    output_log: Path,
    header: str,
    options: Sequence[str] = (),
    cwd: Path | None = None,
    then: Sequence[Sequence[str]] = (),
) -> DbtRun:
    """Run `dbt ARGS OPTIONS` on our project and profiles, with its artifacts in
    `target_path` and its log in `log_path`; append `header` and its output to `output_log`.
    Returns whatever dbt did (the caller decides what a failure means).

    `then`: more dbt commands (same options) run after ARGS in the same process, on the
    project parsed once (finops/dbt_child.py), when ARGS succeeded; their exit codes are in
    `then_returncodes` and the returned nodes are those of ARGS."""
    options = all_options(options, target_path, log_path)
    commands = [list(args), *(list(c) for c in then)]
    waiting = _take_started(options, env, cwd)
    then_said = ", then " + "; ".join(" ".join(c) for c in then) if then else ""
    if waiting is not None:
        log.info("running dbt %s%s (started and parsed during the loads)", args[0], then_said)
        request = {"env": {k: env[k] for k in RUN_TIME_ENV if k in env}, "commands": commands}
        try:
            stdout, stderr = waiting.communicate(json.dumps(request) + "\n")
        except BaseException:  # SIGTERM/SIGINT unwinding the run: dbt goes with it
            waiting.kill()
            waiting.wait()
            raise
        proc = subprocess.CompletedProcess(waiting.args, waiting.returncode, stdout, stderr)
    else:
        if then:
            cmd = [sys.executable, "-m", "finops.dbt_child", *command_line(options, commands)]
            log.info("running dbt %s%s", args[0], then_said)
        else:
            cmd = [dbt_executable(), *args, *options]
            log.info("running %s", " ".join(cmd[:2]))
        # An exception here (SIGTERM/SIGINT unwinding the run) makes subprocess.run kill
        # dbt; die_with_parent covers a SIGKILLed finops, which unwinds nothing.
        proc = subprocess.run(
            cmd,
            env=dict(env),
            cwd=cwd,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=die_with_parent(),
        )
    output_log.parent.mkdir(parents=True, exist_ok=True)
    with open(output_log, "a") as out:
        out.write(f"\n===== {header}\n{proc.stdout}{proc.stderr}")
    results = read_run_results(target_path / "run_results.json")
    codes = parse_exit_codes(proc.stdout) if then or waiting is not None else []
    return DbtRun(
        args=list(args),
        returncode=proc.returncode,
        stdout=proc.stdout,
        stderr=proc.stderr,
        nodes=results.get("nodes", []),
        counts=results.get("counts", {}),
        elapsed_s=results.get("elapsed_s"),
        then_returncodes=codes[1:],
    )


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def warehouse_call(settings: Settings, window_start: str | None = None) -> dict[str, Any]:
    """Where and how `run_dbt` runs dbt on this FINOPS_HOME's warehouse (`invoke`'s and
    `start_ahead`'s arguments)."""
    return {
        "target_path": settings.data_dir / "dbt" / "target",
        "log_path": settings.log_dir / "dbt",
        "env": dbt_env(settings, settings.dbt_folder, FINOPS_DBT_WINDOW_START=window_start or ""),
        "cwd": settings.dbt_folder,
    }


def start_run_dbt_ahead(settings: Settings) -> None:
    """Start the dbt child of this home's next `run_dbt` now (`start_ahead`): the pipeline's
    loads call it, so dbt starts and parses while they land the data."""
    start_ahead(**warehouse_call(settings))


def run_dbt(
    settings: Settings,
    args: list[str],
    window_start: str | None = None,
    then: Sequence[Sequence[str]] = (),
) -> dict[str, Any]:
    """Run dbt against this FINOPS_HOME's warehouse (holding its writer lock); raise on
    failure with the failed nodes and where the full output is (logs/dbt_output.log).

    `then`: dbt commands run after a successful ARGS in the same dbt process (no second
    start-up and parse, see finops/dbt_child.py); their failure is not raised: the summary's
    `then_returncodes` has their exit codes (missing: did not run).

    `window_start` (YYYY-MM-DD) scopes the data tests to the days a daily build rebuilt
    (dbt_project/macros/rebuilt_window.sql); without it every test reads all history. It goes
    through the environment (FINOPS_DBT_WINDOW_START, always set, so a value left in the
    caller's environment never leaks in): a changed --vars makes dbt parse the project again."""
    output_log = settings.log_dir / "dbt_output.log"
    with warehouse.writer_lock(settings.duckdb_path):
        run = invoke(
            args,
            **warehouse_call(settings, window_start),
            output_log=output_log,
            header=f"{now_iso()} dbt {' '.join(args)}"
            + "".join(f"; then dbt {' '.join(c)}" for c in then),
            then=then,
        )
    if run.returncode != 0:
        detail = "; ".join(
            f"{r['node']}: {r['status']} {r['message'] or ''}".strip() for r in run.failed_nodes[:5]
        )
        raise RuntimeError(
            f"dbt {' '.join(args)} failed (exit {run.returncode}). "
            f"{detail or run.stdout[-2000:]} Full output: {output_log}"
        )
    summary: dict[str, Any] = {"dbt_args": args, "counts": run.counts, "elapsed_s": run.elapsed_s}
    if then:
        summary["then_returncodes"] = run.then_returncodes
    return summary
