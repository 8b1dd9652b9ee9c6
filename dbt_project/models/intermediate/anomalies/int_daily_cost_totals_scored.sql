{{ config(materialized='table') }}

-- Every day of every provider total usage series (provider_scope 'AWS', 'Azure' and 'All' =
-- both; billed cost in the reporting currency, charge_category = Usage), gap-filled with 0
-- from the scope's first usage day to the last charge date of the warehouse, scored exactly
-- like int_daily_cost_series_scored (same vars, same trailing window, same flagging rule).
-- training_first_date is the earliest training day, so fct_anomaly_root_causes can rebuild
-- the training days of a flagged day. The scoring CTEs (first_pass .. flagged) come from
-- the score_daily_series macro.

with

scope_days as (
    select * from {{ ref('int_daily_costs_by_scope') }}
),

usage_days as (
    select
        provider_scope,
        charge_date,
        billed_cost_reporting as actual_cost
    from scope_days
    where charge_category = 'Usage'
),

series as (
    select
        provider_scope,
        min(charge_date) as first_date
    from usage_days
    group by provider_scope
),

date_bounds as (
    select
        min(charge_date) as first_date,
        max(charge_date) as last_date
    from scope_days
),

calendar as (
    select {{ day_series('first_date', 'last_date') }} as charge_date
    from date_bounds
),

filled as (
    select
        series.provider_scope,
        calendar.charge_date,
        coalesce(usage_days.actual_cost, 0) as actual_cost,
        usage_days.actual_cost is null as is_gap_filled
    from series
    inner join calendar
        on series.first_date <= calendar.charge_date
    left join usage_days
        on
            series.provider_scope = usage_days.provider_scope
            and calendar.charge_date = usage_days.charge_date
),

{{ score_daily_series('filled', ['provider_scope']) }},

final as (
    select
        {{ surrogate_key(['charge_date', 'provider_scope']) }} as total_day_id,
        charge_date,
        provider_scope,
        {{ reporting_currency() }} as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        is_gap_filled,
        cast(training_days as integer) as training_days,
        training_first_date,
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
