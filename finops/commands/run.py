"""`finops run` and `finops backfill`: DailyPipeline built by Luigi under the warehouse's run
lock, one progress line per task start and finish, the end-of-run lines per step, and the
exit code (finops/exit_codes.py) that cron and systemd read."""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
from datetime import date, timedelta
from pathlib import Path

from finops.commands.signals import RunInterrupted, signals_unwind
from finops.exit_codes import (
    EXIT_BUSY,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_SIGNAL_BASE,
    EXIT_USAGE,
)
from finops.settings import load_settings, utc_today


class _Progress:
    """What the run's tasks did, as Luigi's events said: started, succeeded, failed ids."""

    def __init__(self) -> None:
        self.started: list[str] = []
        self.succeeded: set[str] = set()
        self.failed: set[str] = set()


def _progress_handlers(progress: _Progress) -> _Progress:
    """Print one line per task start/finish so a person sees the pipeline move, and keep
    what ran for the end-of-run lines."""
    import luigi

    started = progress.started

    @luigi.Task.event_handler(luigi.Event.START)
    def _start(task: luigi.Task) -> None:
        started.append(task.task_id)
        print(f"  ... {task.task_family} {_task_label(task)}", flush=True)

    @luigi.Task.event_handler(luigi.Event.SUCCESS)
    def _done(task: luigi.Task) -> None:
        progress.succeeded.add(task.task_id)
        failure = task.recorded_failure() if hasattr(task, "recorded_failure") else None
        if failure is not None:  # an isolated load failure: the run goes on, partial
            print(
                f"  FAILED {task.task_family} {_task_label(task)} (the other sources go on; "
                f"the run will be partial): {failure['error']}",
                flush=True,
            )
            return
        print(f"  ok  {task.task_family} {_task_label(task)}", flush=True)

    @luigi.Task.event_handler(luigi.Event.FAILURE)
    def _failed(task: luigi.Task, exception: BaseException) -> None:
        from loaders.redaction import scrub

        progress.failed.add(task.task_id)
        print(f"  FAILED {task.task_family} {_task_label(task)}: {scrub(exception)}", flush=True)

    return progress


def _task_label(task) -> str:
    params = task.to_str_params(only_significant=True)
    return " ".join(f"{k}={v}" for k, v in params.items())


def _print_steps(task, progress: _Progress) -> None:
    """The end-of-run lines: per step, loaded / unchanged / built ... or already complete."""
    from pipelines.tasks import step_lines

    try:
        lines = step_lines(task, progress.succeeded, progress.failed)
    except Exception as exc:  # the summary must never change the exit code
        logging.getLogger("finops.cli").warning("could not summarise the steps: %s", exc)
        return
    print(f"Steps of {task.run_key} (warehouse {_warehouse()}):")
    for line in lines:
        print(line)


def _warehouse() -> str:
    return str(load_settings().duckdb_path)


def _build(tasks: list, args: argparse.Namespace) -> int:
    """Run the tasks under the warehouse's run lock; EXIT_OK, EXIT_FAILED, EXIT_PARTIAL when
    a source's load failed, EXIT_BUSY when another run kept the warehouse too long, 128 +
    the signal when stopped by SIGTERM/SIGINT (recorded as `killed`)."""
    from pipelines import history, state

    settings = load_settings()
    holder = f"finops {args.command} {' '.join(t.run_key for t in tasks)}"

    def waiting(current: str) -> None:
        print(
            f"waiting for {current} to finish with {settings.duckdb_path} (one run at a time "
            f"per warehouse; at most {settings.run_wait_s} s, FINOPS_RUN_WAIT_SECONDS)",
            flush=True,
        )

    progress = _Progress()
    try:
        with (
            signals_unwind(),
            state.run_lock(settings.duckdb_path, holder, settings.run_wait_s, waiting),
        ):
            return _build_locked(tasks, args, progress)
    except state.RunBusyError as exc:
        print(f"finops {args.command}: {exc}", file=sys.stderr)
        return EXIT_BUSY
    except RunInterrupted as exc:
        running = [t for t in progress.started if t not in progress.succeeded | progress.failed]
        for task in tasks:
            history.append(settings, history.killed_entry(task.date, str(exc), running))
        print(
            f"finops {args.command}: stopped by {exc} while running "
            f"{', '.join(running) or 'nothing'}; children stopped, locks released. Rerun "
            "the date: what did not finish left no record.",
            file=sys.stderr,
            flush=True,
        )
        return EXIT_SIGNAL_BASE + exc.signum


def _check_warehouse_opens(path: Path) -> None:
    """Open an existing warehouse once before Luigi does, so a damaged or locked file gives
    one clear line (main() words it) instead of a scheduling failure."""
    import duckdb

    if path.exists():
        duckdb.connect(str(path), read_only=True).close()


def _build_locked(tasks: list, args: argparse.Namespace, progress: _Progress) -> int:
    import luigi

    from pipelines.tasks import configure_logging, run_status

    settings = load_settings()
    _check_warehouse_opens(settings.duckdb_path)
    # Luigi's own chatter (tracebacks included) goes to logs/pipeline.log only; the terminal
    # gets our progress lines and one line per failure.
    configure_logging(settings)
    logging.getLogger("luigi-interface").propagate = True
    _progress_handlers(progress)
    started = progress.started
    config = luigi.configuration.get_config()
    with contextlib.suppress(AttributeError, TypeError):  # a TOML config: luigi.cfg says it
        if not config.has_section("core"):
            config.add_section("core")
        config.set("core", "no_configure_logging", "true")  # no console handler of Luigi's
    kwargs: dict = {"workers": 1, "detailed_summary": True}
    if args.scheduler_host:
        kwargs.update(scheduler_host=args.scheduler_host, scheduler_port=args.scheduler_port)
    else:
        kwargs["local_scheduler"] = True
    result = luigi.build(tasks, **kwargs)
    ok = result.status in (
        luigi.execution_summary.LuigiStatusCode.SUCCESS,
        luigi.execution_summary.LuigiStatusCode.SUCCESS_WITH_RETRY,
    )
    if ok and not started:
        print(
            "Already complete: nothing to do (this warehouse holds every step of the date; "
            "--force reruns it)."
        )
    else:
        print(result.one_line_summary)
    for task in tasks:
        _print_steps(task, progress)
    if not ok:
        return EXIT_FAILED
    partial = [
        failure
        for task in tasks
        for failure in run_status(task.date, getattr(task, "since", None))[1]
    ]
    if partial:
        failed = ", ".join(sorted({f["source"] for f in partial}))
        print(
            f"PARTIAL: the load of {failed} failed; the other sources were loaded, built, "
            "exported and reported (exit 3). Rerun the same date once the fault is fixed.",
            flush=True,
        )
        for failure in partial:
            print(f"  {failure['source']}: {failure['error']}", flush=True)
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_run(args: argparse.Namespace) -> int:
    from finops.preflight import check_run
    from pipelines import DailyPipeline

    settings = load_settings()
    run_date = args.date or utc_today()
    check_run(settings, run_date, allow_future=args.allow_future)
    if getattr(args, "plan", False):
        return _print_plan(settings, run_date)
    print(
        f"finops run {run_date}: sources={','.join(settings.sources)} "
        f"home={settings.home} warehouse={settings.duckdb_path}",
        flush=True,
    )
    code = _build([DailyPipeline(date=run_date, force=args.force)], args)
    if code in (EXIT_OK, EXIT_PARTIAL):
        _print_outputs(settings, run_date)
    return code


def _print_plan(settings, run_date: date) -> int:
    """`finops run --plan`: per source, the API requests the run would make and their cost,
    from the warehouse's state; nothing is requested, loaded or locked."""
    from loaders import registry
    from pipelines.sources import run_window

    print(f"finops run {run_date} --plan: the requests the run's loads would make (none made)")
    for name in settings.sources:
        spec = registry.source(name)
        window = run_window(spec, settings, run_date)
        start, end = window or (None, None)
        plan = spec.plan(
            spec.config(settings), registry.RunWindow(settings.duckdb_path, start, end, run_date)
        )
        if plan is None:
            print(f"{name}: {spec.plan_note}")
            continue
        for line in plan.lines():
            print(line)
    return EXIT_OK


def _print_outputs(settings, run_date: date, suffix: str = "") -> None:
    print(f"report: {settings.log_dir / f'report_{run_date:%Y%m%d}{suffix}.txt'}")
    print(f'marts:  {settings.serving_path} (finops sql "select * from marts.fct_cost_kpis")')


def cmd_backfill(args: argparse.Namespace) -> int:
    """Load `[start, end]` in one window per source (one set of API requests), then build.

    Luigi users can also run `RangeDaily --of DailyPipeline`, which runs every date of the
    range with its own daily window: complete, but it asks the cloud APIs again for each date.
    """
    from pipelines import DailyPipeline

    if args.end < args.start:
        print("--end must not be before --start", file=sys.stderr)
        return EXIT_USAGE
    from finops.preflight import check_run

    settings = load_settings()
    run_date = args.end + timedelta(days=1)
    check_run(settings, run_date, since=args.start, allow_future=args.allow_future)
    print(
        f"finops backfill {args.start} .. {args.end}: sources={','.join(settings.sources)} "
        f"home={settings.home}",
        flush=True,
    )
    code = _build([DailyPipeline(date=run_date, since=args.start, force=args.force)], args)
    if code in (EXIT_OK, EXIT_PARTIAL):
        _print_outputs(settings, run_date, f"_since_{args.start:%Y%m%d}")
    return code
