{{ config(**incremental_by_day()) }}

-- Every day of every usage region series (provider x sub account x service x region: the
-- gap-filled days of int_daily_cost_region_days), with what its day is judged on:
-- int_daily_cost_series_scored sums the regions that can say something about the day and
-- judges the account x service (the yml says why each rule is there;
-- bench/anomaly_independent.py measures it on data it was never tuned on):
--   - a region is scored on scored_cost, its usage without the copies of rows a FOCUS file
--     held more than once;
--   - robust level and spread: the median and the interquartile range of log cost over the
--     `anomaly_window_days` days before the day (never the day itself), days with a charge
--     only, 1sts of the month left out; the spread pooled over weekdays and weekend days;
--   - a weekend day is compared with weekend days where the region shows a weekly pattern;
--   - a region counts on a day when it has `anomaly_series_min_billing_days` training days
--     with a charge and bills every day of its window, or billed that day; a region with
--     fewer such days counts only when it bills more than `anomaly_runaway_factor` x the
--     most it billed in its window (a runaway); a region with no charge in its window
--     (new, or back after weeks) is young and does not count;
--   - a 1st of the month expects at least the previous 1st (log_level) for a rise, and the
--     usage level (usage_log_level) for a fall.
-- One window pass over the regions computes all a day needs.
--
-- Incremental on charge_date (macros/delete_days_to_rebuild.sql): a daily build scores the
-- days from `window_start` on, reading the region days before it that its windows reach.
{%- set window_days = var('anomaly_window_days') | int %}
{%- if window_days % 7 != 0 %}
    {{ exceptions.raise_compiler_error("anomaly_window_days must be whole weeks (7, 14, 28, ...), got " ~ window_days) }}
{%- endif %}
{%- set min_billing_days = var('anomaly_series_min_billing_days') | int %}
{%- set min_weekend_days = var('anomaly_series_min_weekend_days') | int %}
{%- set weekend_pattern_min = var('anomaly_weekend_pattern_min') | float %}
{%- set min_log_scale = var('anomaly_series_min_log_scale') | float %}
{%- set runaway_factor = var('anomaly_runaway_factor') | float %}
{%- set lookback_days = [window_days, 31] | max %}
{%- set window_start = first_filled_day_to_rebuild(ref('stg_finops__load_ledger')) %}
{#- the days scored and the days read: every day on a full build -#}
{%- set scored_from = window_start if window_start is not none else '0001-01-01' %}
{%- set read_from = scored_from %}
{%- if window_start is not none %}
    {%- set read_from = (modules.datetime.date.fromisoformat(window_start) - modules.datetime.timedelta(days=lookback_days)).isoformat() %}
{%- endif %}

with

-- The region days scored, and on a daily build the stored days before them that their
-- windows reach (is_history; a full build reads every day).
region_days as (
    select
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        charge_date,
        actual_cost,
        scored_cost,
        is_gap_filled,
        charge_date < cast('{{ scored_from }}' as date) as is_history
    from {{ ref('int_daily_cost_region_days') }}
    where charge_date >= cast('{{ read_from }}' as date)
),

-- Every region has a row on the last charge date (the days are gap-filled up to it).
last_day as (
    select max(charge_date) as charge_date
    from {{ ref('int_daily_cost_region_days') }}
),

-- One row per region series, numbered: the windows partition by that one integer.
regions as (
    select
        last_region_days.provider_name,
        last_region_days.sub_account_id,
        last_region_days.service_name,
        last_region_days.region_id,
        row_number() over (
            order by
                last_region_days.provider_name,
                last_region_days.sub_account_id,
                last_region_days.service_name,
                last_region_days.region_id
        ) as region_key
    from {{ ref('int_daily_cost_region_days') }} as last_region_days
    inner join last_day
        on last_region_days.charge_date = last_day.charge_date
),

filled as (
    select
        regions.region_key,
        region_days.charge_date,
        region_days.actual_cost,
        region_days.scored_cost,
        region_days.is_gap_filled,
        region_days.is_history
    from region_days
    inner join regions
        on
            region_days.provider_name = regions.provider_name
            and region_days.sub_account_id = regions.sub_account_id
            and region_days.service_name = regions.service_name
            and region_days.region_id = regions.region_id
),

-- Day number, kind of day, and what a day contributes to later days' training: the log
-- cost of a day with a charge that is not a 1st of the month.
prepared as (
    select
        *,
        {{ days_between("cast('1970-01-01' as date)", 'charge_date') }} as day_number,
        {{ iso_day_of_week('charge_date') }} >= 6 as is_weekend,
        dayofmonth(charge_date) = 1 as is_month_start,
        case
            when scored_cost > 0 and dayofmonth(charge_date) != 1
                then ln(cast(scored_cost as double))
        end as training_log_cost
    from filled
),

-- Everything a day is judged on, in one pass over the region (every frame counts rows of
-- the same partition and order; every region has a row on every day from its first):
--   - the training window, the `anomaly_window_days` days before the day (whole weeks):
--     quartiles of the log cost of its weekdays and of its weekend days with a charge, its
--     days without a charge (1sts aside), its length, the most it billed;
--   - the cost of the previous 1st of the month (31 days hold exactly one).
windowed as (
    select
        *,
        count(case when not is_weekend then training_log_cost end)
            over training_window as weekday_billing_days,
        {{ quartiles('case when not is_weekend then training_log_cost end') }}
            over training_window as weekday_quartiles,
        count(case when is_weekend then training_log_cost end)
            over training_window as weekend_billing_days,
        {{ quartiles('case when is_weekend then training_log_cost end') }}
            over training_window as weekend_quartiles,
        sum(case when scored_cost <= 0 and not is_month_start then 1 else 0 end)
            over training_window as idle_days,
        count(*) over training_window as window_length,
        max(case when not is_month_start then scored_cost end)
            over training_window as most_billed,
        max(case when is_month_start then scored_cost end)
            over month_window as previous_month_start_cost
    from prepared
    window
        training_window as (
            partition by region_key
            order by day_number
            rows between {{ window_days }} preceding and 1 preceding
        ),
        month_window as (
            partition by region_key
            order by day_number
            rows between 31 preceding and 1 preceding
        )
),

-- A weekly pattern: the window's weekend days (enough of them) differ from its weekdays.
levels as (
    select
        *,
        is_weekend and has_weekly_pattern as is_by_weekend,
        coalesce(weekday_billing_days, 0) + coalesce(weekend_billing_days, 0) as billing_days,
        case
            when is_weekend and has_weekly_pattern then {{ quartile('weekend_quartiles', 2) }}
            else coalesce({{ quartile('weekday_quartiles', 2) }}, {{ quartile('weekend_quartiles', 2) }})
        end as usage_log_level,
        -- one spread for the region, pooled over both kinds of day (interquartile range /
        -- 1.349, the standard deviation of normal noise, robustly): a weekend-only spread
        -- would rest on 8 days
        greatest(
            sqrt(
                (
                    coalesce(weekday_billing_days * power(
                        ({{ quartile('weekday_quartiles', 3) }} - {{ quartile('weekday_quartiles', 1) }}) / 1.349, 2
                    ), 0)
                    + coalesce(weekend_billing_days * power(
                        ({{ quartile('weekend_quartiles', 3) }} - {{ quartile('weekend_quartiles', 1) }}) / 1.349, 2
                    ), 0)
                ) / greatest(coalesce(weekday_billing_days, 0) + coalesce(weekend_billing_days, 0), 1)
            ),
            {{ min_log_scale }}
        ) as log_scale
    from (
        select
            *,
            coalesce(
                weekend_billing_days >= {{ min_weekend_days }}
                and weekday_billing_days >= {{ min_billing_days }}
                and abs({{ quartile('weekend_quartiles', 2) }} - {{ quartile('weekday_quartiles', 2) }})
                >= ln({{ 1 + weekend_pattern_min }}),
                false
            ) as has_weekly_pattern
        from windowed
    ) as chosen
),

judged as (
    select
        *,
        (is_by_weekend or weekday_billing_days >= {{ min_billing_days }}) as is_trained,
        coalesce(idle_days = 0 and window_length = {{ window_days }}, false) as bills_every_day,
        case
            when is_month_start and previous_month_start_cost > 0
                then greatest(usage_log_level, ln(cast(previous_month_start_cost as double)))
            else usage_log_level
        end as log_level
    from levels
),

-- The window's days (a daily build), named again.
named as (
    select
        judged.*,
        regions.provider_name,
        regions.sub_account_id,
        regions.service_name,
        regions.region_id
    from judged
    inner join regions
        on judged.region_key = regions.region_key
    where not judged.is_history
),

final as (
    select
        {{ surrogate_key(['charge_date', 'provider_name', 'sub_account_id', 'service_name', 'region_id']) }}
            as region_day_id,
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        {{ reporting_currency() }} as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        cast(scored_cost as decimal(38, 10)) as scored_cost,
        is_gap_filled,
        cast(billing_days as integer) as billing_days,
        -- the training days the level comes from: of the day's own kind with a weekly pattern
        cast(
            case when is_by_weekend then weekend_billing_days else weekday_billing_days end as integer
        ) as training_days,
        is_trained,
        bills_every_day,
        has_weekly_pattern,
        cast(log_level as double) as log_level,
        cast(usage_log_level as double) as usage_log_level,
        cast(log_scale as double) as log_scale,
        cast(most_billed as decimal(38, 10)) as most_billed,
        case
            when is_trained then cast(round(exp(log_level), 10) as decimal(38, 10))
        end as expected_cost,
        case
            when is_trained and scored_cost > 0
                then cast(round((ln(cast(scored_cost as double)) - log_level) / log_scale, 6) as double)
        end as z_score,
        -- what the account x service judgement reads: the region counts on the day ...
        is_trained and (bills_every_day or scored_cost > 0) as is_counted,
        -- ... or it bills on some days only and billed beyond what it ever bills
        not is_trained
        and billing_days > 0
        and scored_cost > {{ runaway_factor }} * most_billed as is_runaway,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from named
)

select * from final
