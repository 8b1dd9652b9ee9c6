"""Precision and recall of the anomaly detector against the simulated source's ground truth.

For each seed: land `--days` days of the simulated source in a throwaway warehouse, run
`dbt build` (the project's vars, plus any `--vars`), then compare the flagged series days
with `loaders.simulated.injected_anomalies` (the anomalies with >= 30 days of history):

    (a) ours      marts.fct_cost_anomalies, as configured in dbt_project.yml
    (b) baseline  a plain trailing z-score computed here in SQL on the same gap-filled usage
                  series (intermediate.int_daily_cost_series_scored.actual_cost): previous
                  14 days, at least 14 of them, |z| >= 3, stddev > 0, no seasonality, no
                  impact floor

A flagged day is a (provider, sub account, service, day). Only days with >= 30 days of
series history are counted for both detectors (the ground truth leaves out anomalies
earlier than that).

    recall    = injected anomalies with at least one of their days flagged / injected anomalies
    precision = flagged days inside an injected anomaly (same series, first..last day)
                / flagged days

    .venv/bin/python bench/anomaly_precision_recall.py [--days 240] [--seeds 42 7 1234]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from loaders import simulated  # noqa: E402

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"
HISTORY_DAYS = 30  # injected_anomalies' default min_history_days

BASELINE_SQL = """
with series as (
    select
        provider_name, sub_account_id, service_name, charge_date, actual_cost,
        count(actual_cost) over w as training_days,
        avg(actual_cost) over w as training_mean,
        stddev_samp(actual_cost) over w as training_stddev
    from intermediate.int_daily_cost_series_scored
    window w as (
        partition by provider_name, sub_account_id, service_name
        order by charge_date
        rows between 14 preceding and 1 preceding
    )
)
select provider_name, sub_account_id, service_name, charge_date
from series
where training_days >= 14
    and training_stddev > 0
    and abs(actual_cost - training_mean) / training_stddev >= 3
"""

OURS_SQL = """
select provider_name, sub_account_id, service_name, charge_date
from marts.fct_cost_anomalies
"""


def dbt_build(db_path: Path, work_dir: Path, dbt_vars: str | None) -> None:
    env = {
        **os.environ,
        "FINOPS_DUCKDB_PATH": str(db_path),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    command = [
        str(DBT), "build",
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(REPO_ROOT),
        "--target-path", str(work_dir / "target"),
        "--log-path", str(work_dir / "logs"),
        "--select", "+fct_cost_anomalies",
        "--indirect-selection", "cautious",
        "--exclude-resource-type", "unit_test",  # the suite runs them (tests/dbt/test_unit_tests.py)
    ]  # fmt: skip
    if dbt_vars:
        command += ["--vars", dbt_vars]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise SystemExit(done.stdout[-4000:] + done.stderr[-2000:])


def score(
    flagged: set[tuple[str, str, str, date]], injected: list[simulated.InjectedAnomaly]
) -> tuple[int, int, int, int]:
    """(anomalies found, anomalies, flagged days inside an anomaly, flagged days)."""
    anomaly_days = {
        (a.provider_name, a.sub_account_id, a.service_name, a.first_date + timedelta(days=n)): a
        for a in injected
        for n in range((a.last_date - a.first_date).days + 1)
    }
    found = {anomaly_days[day] for day in flagged if day in anomaly_days}
    true_days = sum(1 for day in flagged if day in anomaly_days)
    return len(found), len(injected), true_days, len(flagged)


def run_seed(seed: int, days: int, end: date, dbt_vars: str | None) -> dict[str, tuple]:
    start = end - timedelta(days=days)
    with tempfile.TemporaryDirectory(prefix="anomaly_bench_") as tmp:
        work_dir = Path(tmp)
        db_path = work_dir / "finops.duckdb"
        simulated.load(db_path, start, end, as_of=end, seed=seed)
        dbt_build(db_path, work_dir, dbt_vars)
        con = duckdb.connect(str(db_path), read_only=True)
        try:
            earliest = start + timedelta(days=HISTORY_DAYS)
            results = {}
            for name, sql in (("ours", OURS_SQL), ("baseline", BASELINE_SQL)):
                rows = con.execute(sql).fetchall()
                flagged = {tuple(row) for row in rows if row[3] >= earliest}
                results[name] = score(flagged, simulated.injected_anomalies(start, end, seed=seed))
            return results
        finally:
            con.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=240, help="days of history per seed")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 7, 1))
    parser.add_argument("--seeds", type=int, nargs="+", default=[42, 7, 1234])
    parser.add_argument("--vars", dest="dbt_vars", help="extra dbt --vars for 'ours' (YAML)")
    args = parser.parse_args()

    totals = {"ours": [0, 0, 0, 0], "baseline": [0, 0, 0, 0]}
    header = f"{'seed':>6} {'detector':<9} {'found':>11} {'recall':>7} {'true/flagged':>13} {'precision':>9}"
    print(header)
    print("-" * len(header))
    for seed in args.seeds:
        began = time.monotonic()
        results = run_seed(seed, args.days, args.end, args.dbt_vars)
        for name, figures in results.items():
            totals[name] = [t + f for t, f in zip(totals[name], figures, strict=True)]
            print(line(str(seed), name, figures))
        print(f"{'':>6} ({time.monotonic() - began:.0f} s)")
    print("-" * len(header))
    for name, figures in totals.items():
        print(line("all", name, tuple(figures)))


def line(seed: str, name: str, figures: tuple) -> str:
    found, injected, true_days, flagged = figures
    recall = found / injected if injected else float("nan")
    precision = true_days / flagged if flagged else float("nan")
    return (
        f"{seed:>6} {name:<9} {f'{found}/{injected}':>11} {recall:>7.1%} "
        f"{f'{true_days}/{flagged}':>13} {precision:>9.1%}"
    )


if __name__ == "__main__":
    main()
