-- The flagged days of int_daily_cost_series_scored, with what a person needs to act: the
-- expected cost, how unusual the day is, the direction and the cost impact.
with

scored_days as (
    select * from {{ ref('int_daily_cost_series_scored') }}
),

final as (
    select
        cast(series_day_id as string) as anomaly_id,
        cast(charge_date as date) as charge_date,
        cast(provider_name as string) as provider_name,
        cast(sub_account_id as string) as sub_account_id,
        cast(sub_account_name as string) as sub_account_name,
        cast(service_name as string) as service_name,
        cast(reporting_currency as string) as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        cast(expected_cost as decimal(38, 10)) as expected_cost,
        cast(training_stddev as decimal(38, 10)) as training_stddev,
        cast(training_days as integer) as training_days,
        cast(z_score as double) as z_score,
        cast(direction as string) as direction,
        cast(cost_impact as decimal(38, 10)) as cost_impact,
        cast(seasonality as string) as seasonality
    from scored_days
    where is_anomaly
)

select * from final
