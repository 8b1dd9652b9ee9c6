{{ config(**incremental_by_day()) }}

-- Every day of every usage series (provider x sub account x service; billed cost in the
-- reporting currency, charge_category = Usage), gap-filled with 0 from the series' first
-- day to the last charge date of the warehouse, scored by a detector built for the shape of
-- real daily cost data (the yml says why each rule is there; bench/anomaly_independent.py
-- measures it on data it was never tuned on):
--   - robust: the expected cost is the median of the training days, the spread their
--     interquartile range, both on log cost (cost noise is multiplicative; a spike x3 and a
--     drop to a third are equally unusual), so past anomalies barely move either;
--   - training: the `anomaly_window_days` days before the scored day (never the day
--     itself), their days with a charge only, 1sts of the month left out;
--   - seasonality only where the series shows it: a weekday is compared with weekdays; a
--     weekend day with weekend days when the series' weekend level differs from its weekday
--     level by `anomaly_weekend_pattern_min` or more, else with the weekdays too;
--   - sporadic series: a day without charge is a drop only for a series that billed every
--     day of its window (the last `anomaly_level_shift_days` days aside);
--   - young series are scored from `anomaly_series_min_billing_days` training days on;
--   - a 1st of the month expects at least what the series billed on the previous 1st
--     (monthly fees, support, registrations);
--   - a flag needs |robust z| >= `anomaly_series_z_threshold` and a cost impact of at least
--     `anomaly_min_impact` and `anomaly_series_min_relative_impact` x the expected cost;
--   - a level shift is flagged on its first `anomaly_level_shift_days` days only.
-- One window pass over the series computes all a day needs.
--
-- Incremental on charge_date (macros/delete_days_to_rebuild.sql): a daily build scores the
-- days from `window_start` on - the first day a load changed, or the day after the last
-- day kept when that is earlier (the gap-filled days in between are new too) - reading
-- the stored days before it that its windows reach (their actual cost is all they need),
-- so every day scores exactly as in a full build.
{%- set window_days = var('anomaly_window_days') | int %}
{%- if window_days % 7 != 0 %}
    {{ exceptions.raise_compiler_error("anomaly_window_days must be whole weeks (7, 14, 28, ...), got " ~ window_days) }}
{%- endif %}
{%- set shift_days = var('anomaly_level_shift_days') | int %}
{%- set z_threshold = var('anomaly_series_z_threshold') | float %}
{%- set min_impact = var('anomaly_min_impact') | float %}
{%- set min_relative_impact = var('anomaly_series_min_relative_impact') | float %}
{%- set min_billing_days = var('anomaly_series_min_billing_days') | int %}
{%- set min_weekend_days = var('anomaly_series_min_weekend_days') | int %}
{%- set weekend_pattern_min = var('anomaly_weekend_pattern_min') | float %}
{%- set min_log_scale = var('anomaly_series_min_log_scale') | float %}
{%- set lookback_days = [window_days, 31] | max %}
{%- set first_day = first_day_to_rebuild(ref('stg_finops__load_ledger')) %}
{%- set window_start = none %}
{%- if first_day is not none %}
    {%- set last_kept_query -%}
        select cast(max(charge_date) as string) as last_kept
        from {{ this }}
        where charge_date < cast('{{ first_day }}' as date)
    {%- endset %}
    {%- set last_kept = run_query(last_kept_query).columns[0].values()[0] %}
    {%- if last_kept is not none %}
        {%- set day_after = modules.datetime.date.fromisoformat(last_kept | string) + modules.datetime.timedelta(days=1) %}
        {%- set window_start = [day_after.isoformat(), first_day] | min %}
        {%- set window_day = modules.datetime.date.fromisoformat(window_start) %}
        {%- set day_before = (window_day - modules.datetime.timedelta(days=1)).isoformat() %}
        {%- set history_start = (window_day - modules.datetime.timedelta(days=lookback_days)).isoformat() %}
    {%- endif %}
{%- endif %}

with

-- The usage rows of the days scored, read by the series list and the usage sums: computed
-- where each reads them (cte_inlined), not kept - DuckDB kept them, 40M rows at 50M raw
-- rows (15 of the model's 169 CPU-s, and they spilled), where a second scan of the stored
-- table costs next to nothing.
usage_rows as {{ cte_inlined() }} (
    select
        provider_name,
        sub_account_id,
        service_name,
        charge_date,
        billed_cost_reporting
    from {{ ref('int_daily_costs_converted') }}
    where
        charge_category = 'Usage'
    {%- if window_start is not none %}
            and charge_date >= cast('{{ window_start }}' as date)
        {%- endif %}
),
{%- if window_start is not none %}

-- The stored days the window's days train on. Every series of the table has a row on the
-- last day before the window (gap-filled up to the last charge date), so they list the
-- series that started before it.
history as (
    select
        provider_name,
        sub_account_id,
        service_name,
        charge_date,
        actual_cost,
        is_gap_filled
    from {{ this }}
    where
        charge_date >= cast('{{ history_start }}' as date)
        and charge_date < cast('{{ window_start }}' as date)
),
{%- endif %}

-- One row per series, numbered: the scoring's windows partition by that one integer,
-- cheaper to hash and sort than the three strings (the number lives only in this build).
series as (
    select
        provider_name,
        sub_account_id,
        service_name,
        min(first_date) as first_date,
        row_number() over (order by provider_name, sub_account_id, service_name) as series_key
    from (
        select
            provider_name,
            sub_account_id,
            service_name,
            min(charge_date) as first_date
        from usage_rows
        group by provider_name, sub_account_id, service_name
        {%- if window_start is not none %}

        union all

        select
            provider_name,
            sub_account_id,
            service_name,
            min(charge_date) as first_date
        from history
        where charge_date = cast('{{ day_before }}' as date)
        group by provider_name, sub_account_id, service_name
        {%- endif %}
    ) as series_starts
    group by provider_name, sub_account_id, service_name
),

-- A series' usage cost per day, by series_key and day: the usage rows take their series'
-- number first (a join to the few thousand series), so the sum groups by a number and a
-- day and the gap-filling join below matches on them, not on three strings and a day
-- (at 50M raw rows: 99-104 CPU-s for the model instead of 169, and no spill).
usage_days as (
    select
        series.series_key,
        usage_rows.charge_date,
        sum(usage_rows.billed_cost_reporting) as actual_cost
    from usage_rows
    inner join series
        on
            usage_rows.provider_name = series.provider_name
            and usage_rows.sub_account_id = series.sub_account_id
            and usage_rows.service_name = series.service_name
    group by series.series_key, usage_rows.charge_date
),

-- The calendar: every day of the warehouse (a daily build: from window_start on).
date_bounds as (
    select
        {% if window_start is not none -%}
            cast('{{ window_start }}' as date)
        {%- else -%}
            min(charge_date)
        {%- endif %} as first_date,
        max(charge_date) as last_date
    from {{ ref('int_daily_costs_converted') }}
    {%- if window_start is not none %}
    where charge_date >= cast('{{ window_start }}' as date)
    {%- endif %}
),

calendar as (
    select {{ day_series('first_date', 'last_date') }} as charge_date
    from date_bounds
),

-- Every day of every series from its first day, by series_key alone: the names are joined
-- back at the end, so the windows below sort narrow rows.
filled as (
    select
        series.series_key,
        calendar.charge_date,
        coalesce(usage_days.actual_cost, 0) as actual_cost,
        usage_days.actual_cost is null as is_gap_filled,
        false as is_history
    from series
    inner join calendar
        on series.first_date <= calendar.charge_date
    left join usage_days
        on
            series.series_key = usage_days.series_key
            and calendar.charge_date = usage_days.charge_date
    {%- if window_start is not none %}

    union all

    -- every stored series has a row on the day before the window, so it is in `series`
    select
        series.series_key,
        history.charge_date,
        history.actual_cost,
        history.is_gap_filled,
        true as is_history
    from history
    inner join series
        on
            history.provider_name = series.provider_name
            and history.sub_account_id = series.sub_account_id
            and history.service_name = series.service_name
    {%- endif %}
),

-- Day number (for windows of days), kind of day, and the value a day contributes to later
-- days' training: the log cost of a day with a charge that is not a 1st of the month.
prepared as (
    select
        *,
        {{ days_between("cast('1970-01-01' as date)", 'charge_date') }} as day_number,
        {{ iso_day_of_week('charge_date') }} >= 6 as is_weekend,
        dayofmonth(charge_date) = 1 as is_month_start,
        case
            when actual_cost > 0 and dayofmonth(charge_date) != 1
                then ln(cast(actual_cost as double))
        end as training_log_cost
    from filled
),

-- Everything a day is judged on, in one pass over the series (every frame counts rows of
-- the same partition and order, so one sort serves them all; every series has a row on
-- every day from its first, so rows are days, and DuckDB's windowed quantiles are about 4x
-- faster over rows than over a range):
--   - the training window, the `anomaly_window_days` days before the day (whole weeks: the
--     same number of weekdays and weekend days wherever it starts): quartiles of the log
--     cost of its weekdays and of its weekend days with a charge;
--   - its days without a charge, but for the last `anomaly_level_shift_days` (a drop to zero
--     stays a drop for its first days);
--   - the cost of the last `anomaly_level_shift_days` days (a level shift);
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
        sum(case when actual_cost <= 0 and not is_month_start then 1 else 0 end)
            over idle_window as idle_days,
        count(*) over recent_window as recent_days,
        min(actual_cost) over recent_window as recent_min_cost,
        max(actual_cost) over recent_window as recent_max_cost,
        max(case when is_month_start then actual_cost end)
            over month_window as previous_month_start_cost
    from prepared
    window
        training_window as (
            partition by series_key
            order by day_number
            rows between {{ window_days }} preceding and 1 preceding
        ),
        idle_window as (
            partition by series_key
            order by day_number
            rows between {{ window_days }} preceding and {{ shift_days + 1 }} preceding
        ),
        recent_window as (
            partition by series_key
            order by day_number
            rows between {{ shift_days }} preceding and 1 preceding
        ),
        month_window as (
            partition by series_key
            order by day_number
            rows between 31 preceding and 1 preceding
        )
),

-- A weekly pattern: the window's weekend days (enough of them) differ from its weekdays.
-- Weekdays are compared with weekdays; a weekend day with weekend days where the series
-- has the pattern, else with the weekdays too.
chosen as (
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
),

levels as (
    select
        *,
        case when is_by_weekend then weekend_billing_days else weekday_billing_days end
            as training_days,
        case
            when is_by_weekend then {{ quartile('weekend_quartiles', 2) }}
            else {{ quartile('weekday_quartiles', 2) }}
        end as log_level,
        -- interquartile range / 1.349: the standard deviation of normal noise, robustly
        greatest(
            case
                when is_by_weekend
                    then {{ quartile('weekend_quartiles', 3) }} - {{ quartile('weekend_quartiles', 1) }}
                else {{ quartile('weekday_quartiles', 3) }} - {{ quartile('weekday_quartiles', 1) }}
            end / 1.349,
            {{ min_log_scale }}
        ) as log_scale
    from (
        select
            *,
            is_weekend and has_weekly_pattern as is_by_weekend
        from chosen
    ) as by_kind
),

-- A 1st of the month expects at least what the series billed on the previous 1st (support,
-- registrations and monthly fees recur there).
measured as (
    select
        *,
        not is_history
        and (is_by_weekend or weekday_billing_days >= {{ min_billing_days }}) as is_scored,
        case
            when is_month_start and previous_month_start_cost > 0
                then greatest(log_level, ln(cast(previous_month_start_cost as double)))
            else log_level
        end as expected_log_cost
    from levels
),

scored as (
    select
        *,
        case
            when is_scored then cast(round(exp(expected_log_cost), 10) as decimal(38, 10))
        end as expected_cost,
        case
            when is_scored and actual_cost > 0
                then round((ln(cast(actual_cost as double)) - expected_log_cost) / log_scale, 6)
        end as z_score
    from measured
),

-- The band outside which a day with a charge deviates: |z| >= the threshold and an impact
-- of at least both floors, absolute and relative to the expected cost.
banded as (
    select
        *,
        actual_cost - expected_cost as cost_impact,
        case
            when actual_cost > expected_cost then 'spike'
            when actual_cost < expected_cost then 'drop'
        end as direction,
        greatest(
            expected_cost * exp({{ z_threshold }} * log_scale),
            expected_cost + greatest({{ min_impact }}, {{ min_relative_impact }} * expected_cost)
        ) as band_high,
        greatest(
            least(
                expected_cost * exp(-{{ z_threshold }} * log_scale),
                expected_cost - greatest({{ min_impact }}, {{ min_relative_impact }} * expected_cost)
            ),
            0
        ) as band_low,
        cast(round(expected_cost * (exp(log_scale) - 1), 10) as decimal(38, 10)) as training_stddev
    from scored
),

deviating as (
    select
        *,
        coalesce(
            is_scored
            and (
                (actual_cost > 0 and (actual_cost >= band_high or actual_cost <= band_low))
                -- no charge at all: a drop only where the series bills every day
                or (
                    actual_cost <= 0
                    and band_low > 0
                    and coalesce(idle_days, 0) = 0
                    and not is_month_start
                )
            ),
            false
        ) as is_deviation
    from banded
),

-- A level shift (a service started, moved or stopped, a price change) deviates day after
-- day until the training follows: a day is not flagged when the `anomaly_level_shift_days`
-- days before it were already beyond the same edge of its band.
flagged as (
    select
        *,
        is_deviation
        and not (
            recent_days = {{ shift_days }}
            and (
                (direction = 'spike' and recent_min_cost >= band_high)
                or (direction = 'drop' and recent_max_cost <= band_low)
            )
        ) as is_anomaly,
        case when has_weekly_pattern then 'weekly' else 'none' end as seasonality
    from deviating
),

-- The window's days (a daily build), named again.
named as (
    select
        flagged.*,
        series.provider_name,
        series.sub_account_id,
        series.service_name
    from flagged
    inner join series
        on flagged.series_key = series.series_key
    {%- if window_start is not none %}
    where flagged.charge_date >= cast('{{ window_start }}' as date)
    {%- endif %}
),

final as (
    select
        {{ surrogate_key(['charge_date', 'provider_name', 'sub_account_id', 'service_name']) }}
            as series_day_id,
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        {{ reporting_currency() }} as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        is_gap_filled,
        cast(training_days as integer) as training_days,
        is_scored,
        expected_cost,
        cast(round(band_low, 10) as decimal(38, 10)) as expected_low,
        cast(round(band_high, 10) as decimal(38, 10)) as expected_high,
        training_stddev,
        cast(z_score as double) as z_score,
        direction,
        cast(cost_impact as decimal(38, 10)) as cost_impact,
        is_anomaly,
        seasonality,
        is_deviation,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from named
)

select * from final
