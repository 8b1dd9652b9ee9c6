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
--     weekend day with weekend days when the series' weekend level differs from its usual
--     level by `anomaly_weekend_pattern_min` or more, else with every day;
--   - sporadic series: a day without charge is a drop only for a series that billed every
--     day of its window (the last `anomaly_level_shift_days` days aside);
--   - young series are scored from `anomaly_series_min_billing_days` training days on;
--   - the 1st of the month expects the charge the series had on the previous 1st on top of
--     its daily level (monthly fees, support, registrations);
--   - a flag needs |robust z| >= `anomaly_series_z_threshold` and a cost impact of at least
--     `anomaly_min_impact` and `anomaly_series_min_relative_impact` x the expected cost;
--   - a level shift is flagged on its first `anomaly_level_shift_days` days only.
--
-- Incremental on charge_date (macros/delete_days_to_rebuild.sql): a daily build scores the
-- days from `window_start` on - the first day a load changed, or the day after the last
-- day kept when that is earlier (the gap-filled days in between are new too) - reading
-- only the stored days before it that the window's days look back to: their actual cost, baseline and
-- deviation flag are all the window's days need, so every day scores exactly as in a full
-- build.
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
{%- set lookback_days = [window_days + shift_days, 31 + shift_days] | max %}
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

daily_costs as (
    select * from {{ ref('int_daily_costs_converted') }}
    {% if window_start is not none -%}
        where charge_date >= cast('{{ window_start }}' as date)
    {%- endif %}
),

usage_days as (
    select
        provider_name,
        sub_account_id,
        service_name,
        charge_date,
        sum(billed_cost_reporting) as actual_cost
    from daily_costs
    where charge_category = 'Usage'
    group by provider_name, sub_account_id, service_name, charge_date
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
        is_gap_filled,
        baseline_cost,
        direction,
        is_deviation
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
        from usage_days
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

-- The calendar: every day of the warehouse (a daily build: from window_start on).
date_bounds as (
    select
        {% if window_start is not none -%}
            cast('{{ window_start }}' as date)
        {%- else -%}
            min(charge_date)
        {%- endif %} as first_date,
        max(charge_date) as last_date
    from daily_costs
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
        false as is_history,
        cast(null as decimal(38, 10)) as stored_baseline_cost,
        cast(null as string) as stored_direction,
        cast(null as boolean) as stored_deviation
    from series
    inner join calendar
        on series.first_date <= calendar.charge_date
    left join usage_days
        on
            series.provider_name = usage_days.provider_name
            and series.sub_account_id = usage_days.sub_account_id
            and series.service_name = usage_days.service_name
            and calendar.charge_date = usage_days.charge_date
    {%- if window_start is not none %}

    union all

    -- every stored series has a row on the day before the window, so it is in `series`
    select
        series.series_key,
        history.charge_date,
        history.actual_cost,
        history.is_gap_filled,
        true as is_history,
        history.baseline_cost as stored_baseline_cost,
        history.direction as stored_direction,
        history.is_deviation as stored_deviation
    from history
    inner join series
        on
            history.provider_name = series.provider_name
            and history.sub_account_id = series.sub_account_id
            and history.service_name = series.service_name
    {%- endif %}
),

-- Day number (for windows of calendar days), kind of day, and the value a day contributes
-- to later days' training: log cost of a day with a charge that is not a 1st of the month.
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

-- The training window of each day: the previous `anomaly_window_days` days (whole weeks, so
-- it holds the same number of weekdays and weekend days wherever it starts). Quartiles of
-- the log cost of its days with a charge: all of them (pooled), its weekdays and its
-- weekend days; and its days without a charge, but for the last `anomaly_level_shift_days`
-- (a drop to zero must stay a drop for its first days). Frames count rows, not a range of
-- days: every series has a row on every day from its first (gap-filled), DuckDB's windowed
-- quantiles are about 4x faster over rows, and one frame serves every aggregate (one sort).
pooled as (
    select
        *,
        count(training_log_cost) over training_window as pooled_billing_days,
        {{ quartiles('training_log_cost') }} over training_window as pooled_quartiles,
        count(case when not is_weekend then training_log_cost end)
            over training_window as weekday_billing_days,
        {{ quartiles('case when not is_weekend then training_log_cost end') }}
            over training_window as weekday_quartiles,
        count(case when is_weekend then training_log_cost end)
            over training_window as weekend_billing_days,
        {{ quartiles('case when is_weekend then training_log_cost end') }}
            over training_window as weekend_quartiles,
        sum(case when actual_cost <= 0 and not is_month_start then 1 else 0 end)
            over idle_window as idle_days
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
        )
),

-- The statistics of the day's own kind (weekday or weekend day).
windowed as (
    select
        *,
        case when is_weekend then weekend_billing_days else weekday_billing_days end
            as kind_billing_days,
        case when is_weekend then weekend_quartiles else weekday_quartiles end as kind_quartiles
    from pooled
),

-- Weekdays are compared with weekdays (when there are enough); a weekend day with weekend
-- days only when the series' weekend level differs from its pooled level.
chosen as (
    select
        *,
        case
            when not is_weekend then kind_billing_days >= {{ min_billing_days }}
            else
                kind_billing_days >= {{ min_weekend_days }}
                and abs({{ quartile('kind_quartiles', 2) }} - {{ quartile('pooled_quartiles', 2) }})
                >= ln({{ 1 + weekend_pattern_min }})
        end as is_by_kind
    from windowed
),

levels as (
    select
        *,
        case when is_by_kind then kind_billing_days else pooled_billing_days end as training_days,
        case
            when is_by_kind then {{ quartile('kind_quartiles', 2) }}
            else {{ quartile('pooled_quartiles', 2) }}
        end as log_level,
        -- interquartile range / 1.349: the standard deviation of normal noise, robustly
        greatest(
            case
                when is_by_kind
                    then {{ quartile('kind_quartiles', 3) }} - {{ quartile('kind_quartiles', 1) }}
                else {{ quartile('pooled_quartiles', 3) }} - {{ quartile('pooled_quartiles', 1) }}
            end / 1.349,
            {{ min_log_scale }}
        ) as log_scale
    from chosen
),

baselined as (
    select
        *,
        case
            when is_history then stored_baseline_cost
            when training_days >= {{ min_billing_days }} or (is_by_kind and is_weekend)
                then cast(round(exp(log_level), 10) as decimal(38, 10))
        end as baseline_cost
    from levels
),

-- The 1st of the month expects what the series billed above its level on the previous 1st.
monthly as (
    select
        *,
        case
            when is_month_start
                then lag(
                        case
                            when actual_cost > 0 and baseline_cost > 0
                                then ln(cast(actual_cost as double)) - ln(cast(baseline_cost as double))
                        end
                    ) over (partition by series_key, is_month_start order by day_number)
        end as previous_month_start_excess
    from baselined
),

measured as (
    select
        *,
        not is_history and baseline_cost is not null as is_scored,
        ln(cast(baseline_cost as double))
        + case
            when is_month_start then greatest(coalesce(previous_month_start_excess, 0), 0)
            else 0
        end as expected_log_cost
    from monthly
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

banded as (
    select
        *,
        actual_cost - expected_cost as cost_impact,
        case
            when is_history then stored_direction
            when actual_cost > expected_cost then 'spike'
            when actual_cost < expected_cost then 'drop'
        end as direction,
        -- the least impact that counts: absolute and relative to the expected cost
        greatest({{ min_impact }}, {{ min_relative_impact }} * expected_cost) as impact_floor,
        cast(round(expected_cost * (exp(log_scale) - 1), 10) as decimal(38, 10)) as training_stddev
    from scored
),

deviating as (
    select
        *,
        case
            when is_history then stored_deviation
            else coalesce(
                    is_scored
                    and (
                        (z_score >= {{ z_threshold }} and cost_impact >= impact_floor)
                        or (z_score <= -{{ z_threshold }} and -cost_impact >= impact_floor)
                        -- no charge at all: a drop only where the series bills every day
                        or (
                            actual_cost <= 0
                            and coalesce(idle_days, 0) = 0
                            and not is_month_start
                            and -cost_impact >= impact_floor
                        )
                    ),
                    false
                )
        end as is_deviation
    from banded
),

-- A level shift (a service started or stopped, a price change) deviates day after day: it
-- is flagged on its first `anomaly_level_shift_days` days, not for the weeks the training
-- takes to follow it.
recent as (
    select
        *,
        sum(case when is_deviation and direction = 'spike' then 1 else 0 end)
            over previous_days as spikes_before,
        sum(case when is_deviation and direction = 'drop' then 1 else 0 end)
            over previous_days as drops_before
    from deviating
    window previous_days as (
        partition by series_key
        order by day_number
        rows between {{ shift_days }} preceding and 1 preceding
    )
),

flagged as (
    select
        *,
        is_deviation
        and not (
            (direction = 'spike' and coalesce(spikes_before, 0) >= {{ shift_days }})
            or (direction = 'drop' and coalesce(drops_before, 0) >= {{ shift_days }})
        ) as is_anomaly,
        -- the band outside which a day with a charge deviates
        greatest(expected_cost * exp({{ z_threshold }} * log_scale), expected_cost + impact_floor)
            as band_high,
        greatest(
            least(expected_cost * exp(-{{ z_threshold }} * log_scale), expected_cost - impact_floor),
            0
        ) as band_low,
        case when is_by_kind then 'weekly' else 'none' end as seasonality
    from recent
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
        baseline_cost,
        is_deviation,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from named
)

select * from final
