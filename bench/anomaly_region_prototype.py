"""An offline prototype of the region-grain anomaly detector (issue #21), scored on a kept
`anomaly_independent.py` run: the specification the product's detector was built from
(`int_daily_cost_region_scored` -> `int_daily_cost_series_scored`), measured before it was
built, and kept as the reference the dbt models are checked against (with an impact floor
of 2, the product's default, both flag the same days; bench/README.md).

Why region grain: the independent data's events move every region of an account x service at
once, and so does a real workload change. A series that sums its regions cannot tell that
from the ordinary business of one region: a region that bills on some days, a region that
starts, a row delivered twice. Scored one region at a time, each has its own usual level, and
the account x service day is judged on the regions that can say something about it.

The rules (each is a choice an engineer would make without the labels; none was fitted to
them: the values are round numbers or the project's existing vars):

1. Duplicated delivery: a file row present twice is one charge delivered twice. Its copies
   are left out of the cost the detector reads (the marts keep them, as the file says).
   Here they are found by reading the export files; the import will count them.
2. Each region series (account x service x region, Usage, reporting currency) is scored as
   the product scores a series today: median and interquartile range of log cost over the
   28 days before the day (days with a charge, 1sts left out), weekend days compared with
   weekend days where the series has a weekly pattern. The spread pools the weekday and
   weekend quartile ranges (a weekend-only spread rests on 8 days).
3. A region counts on a day when it has 7 training days with a charge and either bills
   every day of its window, or billed that day (a region that bills on some days says
   nothing on a day it does not bill). A region with fewer billing days counts only when it
   bills more than twice the most it billed in the window (a runaway). A region with no
   charge in its window (new, or back after weeks) does not count, as a young series does
   not today.
4. The account x service day: actual = the counted regions' cost, expected = their levels
   (a 1st of the month expects at least the previous 1st for a spike, the usage level for a
   drop: a monthly fee may change or end). z = log(actual / expected) over the regions'
   spreads combined. A flag needs |z| >= 5, an impact of at least 5 and of half the
   expected cost, and the counted regions moving together (each at least 2 of its own
   spreads the same way) - except a spike of one region beyond 10 of its spreads, a
   spike to 3 x the expected cost or more, or a runaway region (rule 3).
5. A drop to zero on a day the whole account bills nothing is the account stopping (closed,
   moved, a feed gap), not an anomaly of each of its services.
6. A lasting change is flagged on its first 3 days, as today.

    .venv/bin/python bench/anomaly_independent.py --rows 1000000 --seeds 1 --sweep-seeds \
        --keep --work-dir DIR
    .venv/bin/python bench/anomaly_region_prototype.py DIR/rows_1000000_seed_1 [--ablate]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import duckdb

TRAINING_DAYS = 28
MIN_BILLING_DAYS = 7
LEVEL_SHIFT_DAYS = 3
MIN_LOG_SCALE = 0.05
WEEKEND_PATTERN_MIN = 0.15
Z_THRESHOLD = 5.0
MIN_IMPACT = 5.0
MIN_RELATIVE_IMPACT = 0.5
TOGETHER_Z = 2.0
SINGLE_REGION_Z = 10.0
SINGLE_REGION_FACTOR = 3.0
RUNAWAY_FACTOR = 2.0

KEY = "provider_name, sub_account_id, service_name, charge_date"
REGION = "provider_name, sub_account_id, service_name, region_id"


def load(con: duckdb.DuckDBPyConnection, run_dir: Path, dedup: bool) -> None:
    """Region days (gap-filled from each region's first day), the labels, the duplicates."""
    data = run_dir / "data"
    con.execute(f"attach '{run_dir / 'home/data/finops.duckdb'}' as w (read_only)")
    con.execute(f"""
        create table labels as
        select case provider_name when 'Microsoft' then 'Azure' else provider_name end
                   as provider_name,
               cast(sub_account_id as varchar) as sub_account_id, service_name,
               cast(charge_date as date) as charge_date, kind
        from read_csv('{data / "labels.csv"}', types = {{'sub_account_id': 'VARCHAR'}})
    """)
    # the share of each region day's usage cost that is copies of a row delivered twice
    con.execute(f"""
        create table duplicated as
        with file_rows as (
            select case ProviderName when 'Microsoft' then 'Azure' else ProviderName end
                       as provider_name,
                   SubAccountId as sub_account_id, ServiceName as service_name,
                   coalesce(lower(RegionId), 'global') as region_id,
                   cast(ChargePeriodStart as date) as charge_date, BilledCost as cost,
                   hash(f) as row_hash
            from read_parquet('{data / "exports"}/**/*.parquet', hive_partitioning = false,
                              filename = true) as f
            where ChargeCategory = 'Usage'
        ),
        copies as (
            select {REGION}, charge_date, count(*) as n, any_value(cost) as cost
            from file_rows group by all
        )
        select {REGION}, charge_date, sum((n - 1) * cost) / sum(n * cost) as share
        from copies group by all having sum(n) > count(*)
    """)
    con.execute(f"""
        create table region_days as
        with usage as (
            select {REGION}, charge_date, sum(billed_cost_reporting)::double as cost
            from w.intermediate.int_daily_costs_converted
            where charge_category = 'Usage'
            group by all
        ),
        firsts as (select {REGION}, min(charge_date) as first_date from usage group by all),
        calendar as (
            select unnest(range((select min(charge_date) from usage),
                                (select max(charge_date) from usage) + 1,
                                interval 1 day))::date as charge_date
        )
        select f.provider_name, f.sub_account_id, f.service_name, f.region_id,
               c.charge_date,
               coalesce(u.cost, 0) * (1 - {"coalesce(d.share, 0)" if dedup else "0"}) as cost
        from firsts as f
        join calendar as c on c.charge_date >= f.first_date
        left join usage as u using ({REGION}, charge_date)
        left join duplicated as d using ({REGION}, charge_date)
    """)


def score_regions(con: duckdb.DuckDBPyConnection, pooled: bool) -> None:
    """Rules 2 and 3: every region day with its level, spread and whether it counts."""
    spread = (
        "sqrt((coalesce(wd_n * pow((wd_q[3] - wd_q[1]) / 1.349, 2), 0)"
        " + coalesce(we_n * pow((we_q[3] - we_q[1]) / 1.349, 2), 0))"
        " / nullif(coalesce(wd_n, 0) + coalesce(we_n, 0), 0))"
        if pooled
        else "case when by_weekend then we_q[3] - we_q[1] else wd_q[3] - wd_q[1] end / 1.349"
    )
    con.execute(f"""
        create or replace table region_scored as
        with prepared as (
            select *, dayofmonth(charge_date) = 1 as is_month_start,
                   isodow(charge_date) >= 6 as is_weekend,
                   case when cost > 0 and dayofmonth(charge_date) != 1 then ln(cost) end
                       as training_log
            from region_days
        ),
        windowed as (
            select *,
                count(case when not is_weekend then training_log end) over w as wd_n,
                quantile_cont(case when not is_weekend then training_log end,
                              [0.25, 0.5, 0.75]) over w as wd_q,
                count(case when is_weekend then training_log end) over w as we_n,
                quantile_cont(case when is_weekend then training_log end,
                              [0.25, 0.5, 0.75]) over w as we_q,
                sum(case when cost <= 0 and not is_month_start then 1 else 0 end) over w
                    as idle_days,
                count(*) over w as window_days,
                max(case when not is_month_start then cost end) over w as most_billed,
                median(case when cost > 0 and not is_month_start then cost end) over w
                    as median_billed,
                max(case when is_month_start then cost end) over month_window
                    as previous_month_start
            from prepared
            window
                w as (partition by {REGION} order by charge_date
                      rows between {TRAINING_DAYS} preceding and 1 preceding),
                month_window as (partition by {REGION} order by charge_date
                                 rows between 31 preceding and 1 preceding)
        ),
        kinds as (
            select *,
                is_weekend and coalesce(
                    we_n >= 4 and wd_n >= {MIN_BILLING_DAYS}
                    and abs(we_q[2] - wd_q[2]) >= ln(1 + {WEEKEND_PATTERN_MIN}), false)
                    as by_weekend
            from windowed
        ),
        levels as (
            select *,
                case when by_weekend then we_q[2] else wd_q[2] end as usage_log_level,
                greatest({spread}, {MIN_LOG_SCALE}) as log_scale,
                by_weekend or wd_n >= {MIN_BILLING_DAYS} as is_trained,
                wd_n + coalesce(we_n, 0) as billing_days
            from kinds
        )
        select *,
            case when is_month_start and previous_month_start > 0
                 then greatest(usage_log_level, ln(previous_month_start))
                 else usage_log_level end as log_level,
            is_trained and (idle_days = 0 and window_days = {TRAINING_DAYS} or cost > 0)
                as counts,
            not is_trained and billing_days > 0 and cost > {RUNAWAY_FACTOR} * most_billed
                as is_runaway
        from levels
    """)


def decide(
    con: duckdb.DuckDBPyConnection,
    threshold: float = Z_THRESHOLD,
    min_impact: float = MIN_IMPACT,
    together: bool = True,
    account_stop: bool = True,
    month_start_band: bool = True,
) -> None:
    """Rules 4 to 6: the flagged account x service days, into table `flagged`."""
    drop_level = "usage_log_level" if month_start_band else "log_level"
    together_z = TOGETHER_Z if together else -1e9
    con.execute(f"""
        create or replace table flagged as
        with regions as (
            select *,
                case when counts then exp(log_level)
                     when is_runaway then median_billed end as expected_high,
                case when counts then exp({drop_level})
                     when is_runaway then median_billed end as expected_low,
                case when counts and cost > 0 then (ln(cost) - log_level) / log_scale
                     when counts then -1e9 when is_runaway then 1e9 end as z_high,
                case when counts and cost > 0 then (ln(cost) - {drop_level}) / log_scale
                     when counts then -1e9 end as z_low
            from region_scored
            where counts or is_runaway
        ),
        accounts as (
            select provider_name, sub_account_id, charge_date, sum(cost) as account_cost
            from region_days group by all
        ),
        days as (
            select {KEY},
                sum(cost) as actual,
                sum(expected_high) as expected_high,
                sum(expected_low) as expected_low,
                sqrt(sum(pow(expected_high * log_scale, 2))) / sum(expected_high) as scale_high,
                sqrt(sum(pow(expected_low * log_scale, 2))) / sum(expected_low) as scale_low,
                min(z_high) as least_z_high, max(z_high) as most_z_high,
                max(z_low) as most_z_low
            from regions group by all
        ),
        judged as (
            select days.*,
                case
                    when actual > expected_high
                        and ln(actual / expected_high) / greatest(scale_high, {MIN_LOG_SCALE})
                            >= {threshold}
                        and actual - expected_high
                            >= greatest({min_impact}, {MIN_RELATIVE_IMPACT} * expected_high)
                        and (least_z_high >= {together_z} or most_z_high >= {SINGLE_REGION_Z}
                             or actual >= {SINGLE_REGION_FACTOR} * expected_high)
                        then 'spike'
                    when actual < expected_low
                        and (actual <= 0 or ln(actual / expected_low)
                             / greatest(scale_low, {MIN_LOG_SCALE}) <= -({threshold}))
                        and expected_low - actual
                            >= greatest({min_impact}, {MIN_RELATIVE_IMPACT} * expected_low)
                        and most_z_low <= -({together_z})
                        and not ({account_stop} and accounts.account_cost = 0)
                        then 'drop'
                end as direction
            from days join accounts using (provider_name, sub_account_id, charge_date)
        )
        select {KEY}, direction
        from (
            select *,
                count(*) filter (where direction = run_direction) over (
                    partition by provider_name, sub_account_id, service_name
                    order by charge_date
                    rows between {LEVEL_SHIFT_DAYS} preceding and 1 preceding
                ) as days_before
            from (select *, direction as run_direction from judged)
        )
        where direction is not null and days_before < {LEVEL_SHIFT_DAYS}
    """)


def score(con: duckdb.DuckDBPyConnection) -> tuple[int, int, int]:
    return con.execute(f"""
        select (select count(*) from flagged), count(flagged.direction), count(*)
        from labels left join flagged using ({KEY})
    """).fetchone()


def line(name: str, counts: tuple[int, int, int]) -> str:
    flagged, hits, labelled = counts
    return (
        f"{name:<44} {flagged:>7,} {hits:>5} {labelled:>5} "
        f"{hits / max(flagged, 1):>9.3f} {hits / labelled:>7.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a kept run: DIR/rows_<n>_seed_<s>")
    parser.add_argument("--ablate", action="store_true", help="also each rule left out")
    args = parser.parse_args()
    started = time.perf_counter()
    con = duckdb.connect()
    load(con, args.run_dir, dedup=True)
    score_regions(con, pooled=True)
    print(f"{'detector':<44} {'flagged':>7} {'true+':>5} {'label':>5} {'precision':>9} "
          f"{'recall':>7}")  # fmt: skip
    decide(con)
    print(line("region prototype (rules 1-6)", score(con)))
    for threshold, min_impact in ((5, 2), (5, 25), (4, 5), (6, 5)):
        decide(con, threshold=threshold, min_impact=min_impact)
        print(line(f"  |z| >= {threshold}, impact >= {min_impact}", score(con)))
    if args.ablate:
        for name, kwargs in (
            ("  without moving together", {"together": False}),
            ("  without the account stop", {"account_stop": False}),
            ("  without the 1st-of-month band", {"month_start_band": False}),
        ):
            decide(con, **kwargs)
            print(line(name, score(con)))
        score_regions(con, pooled=False)
        decide(con)
        print(line("  without the pooled spread", score(con)))
        con.close()
        con = duckdb.connect()
        load(con, args.run_dir, dedup=False)
        score_regions(con, pooled=True)
        decide(con)
        print(line("  without leaving out duplicated rows", score(con)))
    print(f"({time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
