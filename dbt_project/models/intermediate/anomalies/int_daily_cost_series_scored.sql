{{ config(materialized='table') }}

-- Every day of every usage series (provider x sub account x service; billed cost in the
-- reporting currency, charge_category = Usage), gap-filled with 0 from the series' first
-- day to the last charge date of the warehouse, scored against a trailing training window
-- that excludes the scored day: with `anomaly_seasonality` 'none' the previous
-- `anomaly_window_days` days, with 'day_of_week' the same weekday of the previous
-- `anomaly_seasonal_weeks` weeks. Days a first pass of the same rule flags are left out of
-- later days' training. See the model's yml for the meaning of a flat (stddev 0) window.
-- int_daily_cost_totals_scored scores the provider totals the same way: both call the
-- score_daily_series macro for the scoring CTEs (first_pass .. flagged).

with

daily_costs as (
    select * from {{ ref('int_daily_costs_converted') }}
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

series as (
    select
        provider_name,
        sub_account_id,
        service_name,
        min(charge_date) as first_date,
        max_by(sub_account_name, charge_date) as sub_account_name
    from daily_costs
    where charge_category = 'Usage'
    group by provider_name, sub_account_id, service_name
),

date_bounds as (
    select
        min(charge_date) as first_date,
        max(charge_date) as last_date
    from daily_costs
),

calendar as (
    select {{ day_series('first_date', 'last_date') }} as charge_date
    from date_bounds
),

filled as (
    select
        series.provider_name,
        series.sub_account_id,
        series.sub_account_name,
        series.service_name,
        calendar.charge_date,
        coalesce(usage_days.actual_cost, 0) as actual_cost,
        usage_days.actual_cost is null as is_gap_filled
    from series
    inner join calendar
        on series.first_date <= calendar.charge_date
    left join usage_days
        on
            series.provider_name = usage_days.provider_name
            and series.sub_account_id = usage_days.sub_account_id
            and series.service_name = usage_days.service_name
            and calendar.charge_date = usage_days.charge_date
),

{{ score_daily_series('filled', ['provider_name', 'sub_account_id', 'service_name']) }},

final as (
    select
        {{ surrogate_key(['charge_date', 'provider_name', 'sub_account_id', 'service_name']) }}
            as series_day_id,
        charge_date,
        provider_name,
        sub_account_id,
        sub_account_name,
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
        seasonality
    from flagged
)

select * from final
