"""Precision and recall of the anomaly detector on data it was never tuned on: a year of
FOCUS exports from bench/independent_costs.py, through `finops run`, against its labels.

Why: bench/anomaly_precision_recall.py scores the detector on the project's simulated
source, the data it was tuned on. Here the data come from an independent generator (Zipf-like
estate of AWS and Azure accounts x services x regions, weekly seasonality, trends, noise,
sporadic series, series that start and stop, 1st-of-month charges, credits, refunds,
duplicated rows; see its docstring) with labelled spikes and drops of 1-3 days on account x
services. For each size and seed it:

    generate   bench/independent_costs.py --rows N --seed S into a temp folder
               (exports/ for the import, labels.csv beside it)
    run        `finops run --date <the day after the last day>` with FINOPS_HOME=<temp
               home>, FINOPS_SOURCES=focus, FINOPS_FOCUS_PATH=<exports>, DO_NOT_TRACK=1
               (bench/focus_run.py's run_env): import, full dbt build, publish, export
    score      on the warehouse <home>/data/finops.duckdb (attached read-only), at the grain
               of the detector, provider x sub account x service x day:
               ours      the days of marts.fct_cost_anomalies
               baseline  a plain trailing z-score on the same gap-filled usage series
                         (intermediate.int_daily_cost_series_scored.actual_cost): mean and
                         stddev of the previous 28 rows of the series (the day itself
                         excluded), flagged when |z| > 3, at least 14 training rows and
                         stddev > 0; no seasonality, no cost floor
               precision = flagged days that are labelled / flagged days; recall = labelled
               days flagged / labelled days (also for spikes and drops apart); events found
               = events with at least one day flagged. The labels' ProviderName 'Microsoft'
               is compared as 'Azure', the name the marts give it (stg_focus_files__costs).
    sweep      for the precision-recall curve: ours re-scored on a copy of the warehouse with
               `dbt run --select int_daily_cost_region_scored int_daily_cost_series_scored
               fct_cost_anomalies --full-refresh --vars '{anomaly_series_z_threshold: T}'` for
               each T of --thresholds (only those models, and int_anomaly_region_checks in a
               --repo checkout that has it; everything upstream is the run's), the baseline's
               |z| threshold swept in SQL. Seeds of --sweep-seeds (default: all); the curve
               is the mean precision and mean recall over those seeds.

Then one table per size (seed, flagged, true positives, labelled, precision, recall, spike
and drop recall, events found, for both detectors, and the mean over seeds), recall by the
size of the event's series, where our false positives fall (1st of the month, weekends,
monthly-only services, days with duplicated file rows, the first weeks of a series), and the
curve as a PNG (`--png`) with the target region (precision >= 0.4, recall >= 0.85) shaded.
The PNG needs matplotlib: `pip install -e '.[bench]'`; without it the tables are printed and
the PNG is skipped (the script says why).

The detector is the dbt project of the pipeline that runs: this working tree's by default,
or another checkout's with `--repo DIR` (its finops package first on PYTHONPATH, so its
dbt_project/ builds; e.g. `git archive HEAD | tar -x -C DIR` for the committed detector
while the working tree is being changed). A fingerprint of that dbt_project/ (SHA-256 of its
models, macros, tests, seeds and dbt_project.yml) is printed before and after the runs, and a
change between the two is reported. `--sweep-var` names the var the curve sweeps for ours
(a detector whose flags another var drives shows the same point at every threshold, and
the script says so).

    nice -n 19 .venv/bin/python bench/anomaly_independent.py [--rows 1000000] [--seeds 1 2 3]
        [--thresholds 2 2.5 3 3.5 4 5 6 8] [--sweep-seeds 1] [--sweep-var anomaly_series_z_threshold]
        [--repo DIR] [--png bench/anomaly_pr_curve.png] [--work-dir DIR] [--keep]

1M rows: about 2 minutes per seed on 2 busy cores (generate 5 s, run 70 s, sweep 8 dbt runs).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "bench"))

import duckdb  # noqa: E402
from focus_import import run_child  # noqa: E402
from focus_run import run_env  # noqa: E402

FINOPS = str(Path(sys.executable).with_name("finops"))
DBT = str(Path(sys.executable).with_name("dbt"))
GENERATOR = REPO_ROOT / "bench" / "independent_costs.py"
END = date(2026, 12, 1)  # the generator's default: the day after the last charge day
THRESHOLDS = (2.0, 2.5, 3.0, 3.5, 4.0, 5.0, 6.0, 8.0)
BASELINE_Z = 3.0
WINDOW, MIN_TRAINING = 28, 14
TARGET_PRECISION, TARGET_RECALL = 0.4, 0.85
KEY = "provider_name, sub_account_id, service_name, charge_date"
SIZE_BANDS = ((0, 10), (10, 100), (100, float("inf")))  # typical daily cost of an event


@dataclass(frozen=True)
class Checkout:
    """The pipeline and dbt project a run uses: this working tree, or another checkout of the
    repository (`--repo`, e.g. `git archive HEAD | tar -x -C DIR`), whose packages are put
    first on PYTHONPATH so that its finops (and so its dbt_project/) runs."""

    root: Path

    @property
    def dbt_project(self) -> Path:
        return self.root / "dbt_project"

    def finops(self) -> list[str]:
        if self.root == REPO_ROOT:
            return [FINOPS]
        return [sys.executable, "-P", "-m", "finops.cli"]  # -P: not the cwd first

    def env(self, env: dict[str, str]) -> dict[str, str]:
        if self.root == REPO_ROOT:
            return env
        paths = [str(self.root), *filter(None, [env.get("PYTHONPATH")])]
        return {**env, "PYTHONPATH": os.pathsep.join(paths)}


@dataclass
class Score:
    flagged: int
    true_pos: int
    labelled: int
    spikes: tuple[int, int]  # (flagged, labelled) spike days
    drops: tuple[int, int]
    events: tuple[int, int]  # (found, all)
    by_size: list[tuple[int, int]] = field(default_factory=list)  # per SIZE_BANDS

    @property
    def precision(self) -> float:
        return self.true_pos / self.flagged if self.flagged else 0.0

    @property
    def recall(self) -> float:
        return self.true_pos / self.labelled if self.labelled else 0.0


def fingerprint(project: Path) -> str:
    """SHA-256 of the dbt project's files: the detector a run used."""
    digest = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project)
        if path.is_file() and relative.parts[0] in {"models", "macros", "tests", "seeds"}:
            digest.update(str(relative).encode() + b"\0" + path.read_bytes())
    digest.update((project / "dbt_project.yml").read_bytes())
    return digest.hexdigest()[:12]


def connect(warehouse: Path, labels: Path, exports: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the warehouse attached read-only as `w`, the labels (with
    the marts' provider names) and the account x service days that have duplicated rows."""
    con = duckdb.connect()
    con.execute(f"attach '{warehouse}' as w (read_only)")
    con.execute(f"""
        create table labels as
        select
            case provider_name when 'Microsoft' then 'Azure' else provider_name end
                as provider_name,
            cast(sub_account_id as varchar) as sub_account_id,
            service_name, cast(charge_date as date) as charge_date, event_id, kind, factor,
            typical_daily_cost
        from read_csv('{labels}', types = {{'sub_account_id': 'VARCHAR'}})
    """)
    con.execute(f"""
        create table duplicated_days as
        select distinct provider_name, sub_account_id, service_name, charge_date
        from (
            select
                case ProviderName when 'Microsoft' then 'Azure' else ProviderName end
                    as provider_name,
                SubAccountId as sub_account_id, ServiceName as service_name,
                cast(ChargePeriodStart as date) as charge_date, hash(f) as row_hash
            from read_parquet('{exports}/**/*.parquet', hive_partitioning = false) as f
        )
        group by provider_name, sub_account_id, service_name, charge_date, row_hash
        having count(*) > 1
    """)
    # the baseline's z of every series day (trailing 28 rows, the day excluded)
    con.execute(f"""
        create table baseline_z as
        select {KEY}, (actual - mean) / sd as z
        from (
            select
                {KEY}, cast(actual_cost as double) as actual,
                avg(cast(actual_cost as double)) over w as mean,
                stddev_samp(cast(actual_cost as double)) over w as sd,
                count(actual_cost) over w as n
            from w.intermediate.int_daily_cost_series_scored
            window w as (
                partition by provider_name, sub_account_id, service_name, reporting_currency
                order by charge_date rows between {WINDOW} preceding and 1 preceding
            )
        )
        where n >= {MIN_TRAINING} and sd > 0
    """)
    return con


def score(con: duckdb.DuckDBPyConnection, flagged_sql: str) -> Score:
    """Score the distinct account x service days `flagged_sql` returns against the labels."""
    con.execute(
        f"create or replace temp table flagged as select distinct {KEY} from ({flagged_sql})"
    )
    bands = " ,".join(
        f"count(*) filter (where hit and typical_daily_cost >= {lo}"
        + (f" and typical_daily_cost < {hi})" if hi != float("inf") else ")")
        + f", count(*) filter (where typical_daily_cost >= {lo}"
        + (f" and typical_daily_cost < {hi})" if hi != float("inf") else ")")
        for lo, hi in SIZE_BANDS
    )
    row = con.execute(f"""
        with l as (
            select labels.*, flagged.charge_date is not null as hit
            from labels left join flagged using ({KEY})
        )
        select
            (select count(*) from flagged),
            count(*) filter (where hit), count(*),
            count(*) filter (where hit and kind = 'spike'), count(*) filter (where kind = 'spike'),
            count(*) filter (where hit and kind = 'drop'), count(*) filter (where kind = 'drop'),
            (select count(*) from (select event_id from l group by 1 having bool_or(hit))),
            count(distinct event_id),
            {bands}
        from l
    """).fetchone()
    return Score(
        flagged=row[0],
        true_pos=row[1],
        labelled=row[2],
        spikes=(row[3], row[4]),
        drops=(row[5], row[6]),
        events=(row[7], row[8]),
        by_size=[(row[9 + 2 * i], row[10 + 2 * i]) for i in range(len(SIZE_BANDS))],
    )


def false_positives(con: duckdb.DuckDBPyConnection) -> str:
    """Where the detector's last scored flags (table `flagged`) that are no label fall."""
    row = con.execute(f"""
        with fp as (
            select f.* from flagged as f anti join labels using ({KEY})
        ),
        series as (
            select provider_name, sub_account_id, service_name,
                min(charge_date) filter (where actual_cost <> 0) as first_day,
                count(*) filter (where actual_cost <> 0) as billed_days
            from w.intermediate.int_daily_cost_series_scored
            group by all
        )
        select
            count(*),
            count(*) filter (where dayofmonth(charge_date) = 1),
            count(*) filter (where isodow(charge_date) in (1, 6, 7)),
            count(*) filter (where s.billed_days <= 13),
            count(*) filter (where d.charge_date is not null),
            count(*) filter (where charge_date < s.first_day + 21)
        from fp
        left join series as s using (provider_name, sub_account_id, service_name)
        left join duplicated_days as d using ({KEY})
    """).fetchone()
    n = row[0] or 1
    return (
        f"{row[0]:,} false positives: {row[1] / n:.0%} on a 1st of the month, "
        f"{row[2] / n:.0%} on a Saturday, Sunday or Monday (3/7 = 43 % by chance), "
        f"{row[3] / n:.0%} on series billed on <= 13 days (monthly-only), {row[4] / n:.0%} "
        f"on a day with duplicated file rows, {row[5] / n:.0%} in a series' first 3 weeks"
    )


def sweep_ours(
    checkout: Checkout, warehouse: Path, work: Path, var: str, thresholds: tuple[float, ...]
) -> dict[float, Path]:
    """Re-score a copy of the warehouse at each threshold (only the two scoring models) and
    save each threshold's flagged days as Parquet; returns the files by threshold."""
    copy = work / "sweep.duckdb"
    shutil.copyfile(warehouse, copy)
    env = checkout.env(
        {k: v for k, v in os.environ.items() if not k.startswith(("FINOPS_", "DBT_"))}
    )
    env.update(
        FINOPS_DUCKDB_PATH=str(copy),
        FINOPS_DUCKDB_TEMP_DIR=str(work / "sweep.tmp"),
        DO_NOT_TRACK="1",
        DBT_SEND_ANONYMOUS_USAGE_STATS="false",
    )
    saved: dict[float, Path] = {}
    for threshold in thresholds:
        command = [
            DBT, "run",
            "--project-dir", str(checkout.dbt_project),
            "--profiles-dir", str(checkout.root),
            "--target-path", str(work / "dbt_target"),
            "--log-path", str(work / "dbt_logs"),
            "--select", "int_daily_cost_region_scored", "int_daily_cost_series_scored",
            "int_anomaly_region_checks", "fct_cost_anomalies",
            "--full-refresh",
            "--vars", f"{{{var}: {threshold}}}",
        ]  # fmt: skip
        done = subprocess.run(
            command, env=env, cwd=work, capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            raise SystemExit(f"dbt run at {threshold} failed:\n{done.stdout[-4000:]}")
        out = work / f"ours_{threshold}.parquet"
        con = duckdb.connect(str(copy), read_only=True)
        try:
            con.execute(
                f"copy (select distinct {KEY} from marts.fct_cost_anomalies) to '{out}' "
                "(format parquet)"
            )
        finally:
            con.close()
        saved[threshold] = out
    copy.unlink()
    return saved


@dataclass
class SeedResult:
    seed: int
    ours: Score
    baseline: Score
    seconds: dict[str, float]
    peak_mb: int
    note: str
    fp_ours: str
    fp_baseline: str
    curve: dict[str, dict[float, Score]] = field(default_factory=dict)


def run_seed(
    checkout: Checkout,
    rows: int,
    seed: int,
    work: Path,
    sweep_var: str,
    thresholds: tuple[float, ...],
    sweep: bool,
) -> SeedResult:
    out, home = work / "data", work / "home"
    shutil.rmtree(out, ignore_errors=True)
    shutil.rmtree(home, ignore_errors=True)
    seconds: dict[str, float] = {}
    command = [
        sys.executable, str(GENERATOR), "--rows", str(rows), "--seed", str(seed),
        "--out", str(out),
    ]  # fmt: skip
    seconds["generate"], _, text = run_child(command)
    print("\n".join("    " + line for line in text.strip().splitlines()), flush=True)
    exports = out / "exports"
    seconds["run"], peak, text = run_child(
        [*checkout.finops(), "run", "--date", END.isoformat()],
        env=checkout.env(run_env(home, exports)),
    )
    note = next((ln.strip() for ln in text.splitlines() if "load focus" in ln), "")
    warehouse = home / "data" / "finops.duckdb"
    began = time.perf_counter()
    con = connect(warehouse, out / "labels.csv", exports)
    try:
        ours = score(con, f"select {KEY} from w.marts.fct_cost_anomalies")
        fp_ours = false_positives(con)
        baseline = score(con, f"select {KEY} from baseline_z where abs(z) > {BASELINE_Z}")
        fp_baseline = false_positives(con)
        [(missing,)] = con.execute(f"""
            select count(*) from labels anti join w.intermediate.int_daily_cost_series_scored
            using ({KEY})
        """).fetchall()
        if missing:
            note += f"; {missing} labelled day(s) not in the scored series!"
        result = SeedResult(seed, ours, baseline, seconds, peak, note, fp_ours, fp_baseline)
        if sweep:
            con.close()
            saved = sweep_ours(checkout, warehouse, work, sweep_var, thresholds)
            con = connect(warehouse, out / "labels.csv", exports)
            result.curve["ours"] = {
                t: score(con, f"select * from read_parquet('{path}')") for t, path in saved.items()
            }
            result.curve["baseline"] = {
                t: score(con, f"select {KEY} from baseline_z where abs(z) > {t}")
                for t in thresholds
            }
    finally:
        con.close()
    seconds["score"] = time.perf_counter() - began
    return result


def pooled(scores: list[Score]) -> Score:
    """Counts: mean over seeds; spikes, drops and events: summed over seeds."""

    def total(pairs: list[tuple[int, int]]) -> tuple[int, int]:
        return sum(p[0] for p in pairs), sum(p[1] for p in pairs)

    return Score(
        flagged=round(statistics.mean(s.flagged for s in scores)),
        true_pos=round(statistics.mean(s.true_pos for s in scores)),
        labelled=round(statistics.mean(s.labelled for s in scores)),
        spikes=total([s.spikes for s in scores]),
        drops=total([s.drops for s in scores]),
        events=total([s.events for s in scores]),
    )


def mean_pr(scores: list[Score]) -> tuple[float, float]:
    return (
        statistics.mean(s.precision for s in scores),
        statistics.mean(s.recall for s in scores),
    )


def line(seed: str, name: str, s: Score, precision: float, recall: float) -> str:
    spikes = s.spikes[0] / s.spikes[1] if s.spikes[1] else 0.0
    drops = s.drops[0] / s.drops[1] if s.drops[1] else 0.0
    return (
        f"{seed:>5} {name:<9} {s.flagged:>8,} {s.true_pos:>6} {s.labelled:>8} "
        f"{precision:>9.1%} {recall:>7.1%} {spikes:>7.1%} {drops:>7.1%} "
        f"{s.events[0]:>4}/{s.events[1]:<4}"
    )


def report(rows: int, results: list[SeedResult]) -> None:
    print(f"\nrows {rows:,}, {len(results)} seed(s), threshold: ours the project's vars, "
          f"baseline |z| > {BASELINE_Z}")  # fmt: skip
    header = (
        f"{'seed':>5} {'detector':<9} {'flagged':>8} {'true+':>6} {'labelled':>8} "
        f"{'precision':>9} {'recall':>7} {'spikes':>7} {'drops':>7} {'events':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        for name in ("ours", "baseline"):
            s: Score = getattr(r, name)
            print(line(str(r.seed), name, s, s.precision, s.recall))
    for name in ("ours", "baseline"):
        scores: list[Score] = [getattr(r, name) for r in results]
        print(line("mean", name, pooled(scores), *mean_pr(scores)))
    print("(mean: counts and precision / recall are means over seeds; spikes, drops and "
          "events pooled over seeds)")  # fmt: skip
    bands = ", ".join(
        f"{lo:g}-{hi:g}" if hi != float("inf") else f">= {lo:g}" for lo, hi in SIZE_BANDS
    )
    print(f"recall by the typical daily cost of the event's account x service ({bands}):")
    for name in ("ours", "baseline"):
        hits = [
            (sum(getattr(r, name).by_size[i][0] for r in results),
             sum(getattr(r, name).by_size[i][1] for r in results))
            for i in range(len(SIZE_BANDS))
        ]  # fmt: skip
        print(
            f"  {name:<9} "
            + ", ".join(f"{hit}/{n} = {hit / n:.0%}" if n else "0/0" for hit, n in hits)
        )
    for r in results:
        print(f"seed {r.seed}: ours     {r.fp_ours}")
        print(f"seed {r.seed}: baseline {r.fp_baseline}")
    for r in results:
        times = ", ".join(f"{k} {v:.1f} s" for k, v in r.seconds.items())
        print(f"seed {r.seed}: {times}; finops run peak RSS {r.peak_mb:,} MB; {r.note}")


def curve(results: list[SeedResult], thresholds: tuple[float, ...]) -> dict[str, list]:
    """Mean (precision, recall) per threshold over the seeds that were swept."""
    swept = [r for r in results if r.curve]
    points: dict[str, list] = {}
    for name in ("ours", "baseline"):
        points[name] = [
            (
                t,
                statistics.mean(r.curve[name][t].precision for r in swept),
                statistics.mean(r.curve[name][t].recall for r in swept),
            )
            for t in thresholds
        ]
    return points


def print_curve(rows: int, points: dict[str, list], seeds: list[int]) -> None:
    print(f"\nprecision / recall per threshold, rows {rows:,}, mean over seeds {seeds}:")
    for name, values in points.items():
        print(f"  {name:<9} " + "  ".join(f"{t:g}: {p:.2f}/{r:.2f}" for t, p, r in values))
    if len({(p, r) for _, p, r in points["ours"]}) == 1 and len(points["ours"]) > 1:
        print("  WARNING: every threshold gave ours the same flags: the swept var does not "
              "drive this detector's flags (see --sweep-var)")  # fmt: skip


def write_png(
    path: Path, curves: dict[int, tuple[dict[str, list], list[int]]], sweep_var: str
) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        print(f"PNG skipped: matplotlib is not installed ({error}); pip install -e '.[bench]'")
        return
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    ax.add_patch(
        plt.Rectangle(
            (TARGET_RECALL, TARGET_PRECISION),
            1 - TARGET_RECALL,
            1 - TARGET_PRECISION,
            color="tab:green",
            alpha=0.15,
            label=f"target: precision >= {TARGET_PRECISION}, recall >= {TARGET_RECALL}",
        )
    )
    styles = {"ours": ("tab:blue", "o"), "baseline": ("tab:orange", "s")}
    for rows, (points, seeds) in curves.items():
        dash = "-" if rows == min(curves) else "--"
        for name, values in points.items():
            color, marker = styles[name]
            ax.plot(
                [r for _, _, r in values],
                [p for _, p, _ in values],
                dash,
                color=color,
                marker=marker,
                label=f"{name} ({sweep_var if name == 'ours' else '|z|'}), "
                f"{rows / 1e6:g}M rows, mean of seeds {', '.join(map(str, seeds))}",
            )
            for t, p, r in values:
                ax.annotate(f"{t:g}", (r, p), textcoords="offset points", xytext=(4, 4),
                            fontsize=7, color=color)  # fmt: skip
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("recall (labelled account x service days flagged)")
    ax.set_ylabel("precision (flagged days that are labelled)")
    ax.set_title("Anomaly detector vs trailing 28-day z-score, independent FOCUS data")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    print(f"PNG written: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--thresholds", type=float, nargs="+", default=list(THRESHOLDS))
    parser.add_argument(
        "--sweep-seeds", type=int, nargs="*", help="seeds to sweep for the curve (default: all)"
    )
    parser.add_argument(
        "--sweep-var",
        default="anomaly_series_z_threshold",
        help="the dbt var swept for our curve (default anomaly_series_z_threshold)",
    )
    parser.add_argument(
        "--repo",
        type=Path,
        default=REPO_ROOT,
        help="run the pipeline and dbt project of this checkout (default: this working tree)",
    )
    parser.add_argument("--png", type=Path, default=REPO_ROOT / "bench" / "anomaly_pr_curve.png")
    parser.add_argument("--work-dir", type=Path, help="default: a temp dir (removed afterwards)")
    parser.add_argument("--keep", action="store_true", help="keep generated data and warehouses")
    args = parser.parse_args()
    thresholds = tuple(sorted(args.thresholds))
    sweep_seeds = args.seeds if args.sweep_seeds is None else args.sweep_seeds

    root = args.work_dir or Path(tempfile.mkdtemp(prefix="anomaly_independent_"))
    root.mkdir(parents=True, exist_ok=True)
    checkout = Checkout(args.repo.resolve())
    before = fingerprint(checkout.dbt_project)
    print(
        f"anomaly_independent: rows {args.rows}, seeds {args.seeds}, sweep seeds "
        f"{sweep_seeds}, {args.sweep_var} {list(thresholds)}; pipeline of {checkout.root}, "
        f"dbt project fingerprint {before}; work dir {root}",
        flush=True,
    )
    curves: dict[int, tuple[dict[str, list], list[int]]] = {}
    try:
        for rows in args.rows:
            results = []
            for seed in args.seeds:
                work = root / f"rows_{rows}_seed_{seed}"
                print(f"rows {rows:,} seed {seed}:", flush=True)
                result = run_seed(
                    checkout, rows, seed, work, args.sweep_var, thresholds, seed in sweep_seeds
                )
                results.append(result)
                o, b = result.ours, result.baseline
                print(
                    f"    ours {o.true_pos}/{o.flagged} flagged, recall {o.recall:.1%}; "
                    f"baseline {b.true_pos}/{b.flagged}, recall {b.recall:.1%}; "
                    + ", ".join(f"{k} {v:.0f} s" for k, v in result.seconds.items()),
                    flush=True,
                )
                if not args.keep:
                    shutil.rmtree(work, ignore_errors=True)
            report(rows, results)
            swept = [r.seed for r in results if r.curve]
            if swept:
                points = curve(results, thresholds)
                print_curve(rows, points, swept)
                curves[rows] = (points, swept)
    finally:
        if not args.keep and not args.work_dir:
            shutil.rmtree(root, ignore_errors=True)
    after = fingerprint(checkout.dbt_project)
    if after != before:
        print(f"WARNING: the dbt project changed during the runs ({before} -> {after})")
    else:
        print(f"dbt project fingerprint unchanged ({after})")
    if curves:
        write_png(args.png, curves, args.sweep_var)


if __name__ == "__main__":
    main()
