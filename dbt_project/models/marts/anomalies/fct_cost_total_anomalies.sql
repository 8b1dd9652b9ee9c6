-- The flagged days of int_daily_cost_totals_scored (provider total usage series): the
-- expected cost, how unusual the day is, the direction and the cost impact.
-- fct_anomaly_root_causes splits each one by account, service and region.
with

scored_days as (
    select * from {{ ref('int_daily_cost_totals_scored') }}
),

final as (
    select
        cast(total_day_id as string) as total_anomaly_id,
        cast(charge_date as date) as charge_date,
        cast(provider_scope as string) as provider_scope,
        cast(reporting_currency as string) as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        cast(expected_cost as decimal(38, 10)) as expected_cost,
        cast(training_stddev as decimal(38, 10)) as training_stddev,
        cast(training_days as integer) as training_days,
        cast(training_first_date as date) as training_first_date,
        cast(z_score as double) as z_score,
        cast(direction as string) as direction,
        cast(cost_impact as decimal(38, 10)) as cost_impact,
        cast(seasonality as string) as seasonality
    from scored_days
    where is_anomaly
)

select * from final
