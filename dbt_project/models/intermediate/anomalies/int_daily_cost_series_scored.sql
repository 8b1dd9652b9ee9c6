{{ config(**incremental_by_day()) }}

-- Every day of every usage series (provider x sub account x service; billed cost in the
-- reporting currency, charge_category = Usage), gap-filled with 0 from the series' first
-- day to the last charge date of the warehouse, scored against a trailing training window
-- that excludes the scored day: with `anomaly_seasonality` 'none' the previous
-- `anomaly_window_days` days, with 'day_of_week' the same weekday of the previous
-- `anomaly_seasonal_weeks` weeks. Days a first pass of the same rule flags are left out of
-- later days' training. See the model's yml for the meaning of a flat (stddev 0) window.
-- int_daily_cost_totals_scored scores the provider totals the same way: both call the
-- score_daily_series macro for the scoring CTEs (first_pass .. flagged).
--
-- Incremental on charge_date (macros/delete_days_to_rebuild.sql): a daily build scores the
-- days from `window_start` on - the first day a load changed, or the day after the last
-- day kept when that is earlier (the gap-filled days in between are new too) - reading
-- only the `anomaly_lookback_days()` scored days before it, as stored: their actual cost
-- and first-pass flag are all the training of the window's days needs, so every day
-- scores exactly as in a full build.
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
        {%- set history_start = (window_day - modules.datetime.timedelta(days=anomaly_lookback_days())).isoformat() %}
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
        is_first_pass_anomaly
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

filled as (
    select
        series.series_key,
        series.provider_name,
        series.sub_account_id,
        series.service_name,
        calendar.charge_date,
        coalesce(usage_days.actual_cost, 0) as actual_cost,
        usage_days.actual_cost is null as is_gap_filled,
        cast(null as boolean) as stored_first_pass
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
        history.provider_name,
        history.sub_account_id,
        history.service_name,
        history.charge_date,
        history.actual_cost,
        history.is_gap_filled,
        history.is_first_pass_anomaly as stored_first_pass
    from history
    inner join series
        on
            history.provider_name = series.provider_name
            and history.sub_account_id = series.sub_account_id
            and history.service_name = series.service_name
    {%- endif %}
),

{{ score_daily_series('filled', ['series_key'], 'stored_first_pass') }},

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
        is_first_pass_anomaly,
        is_scored,
        expected_cost,
        training_stddev,
        cast(z_score as double) as z_score,
        direction,
        cast(cost_impact as decimal(38, 10)) as cost_impact,
        is_anomaly,
        seasonality,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from flagged
    {%- if window_start is not none %}
    where charge_date >= cast('{{ window_start }}' as date)
    {%- endif %}
)

select * from final
