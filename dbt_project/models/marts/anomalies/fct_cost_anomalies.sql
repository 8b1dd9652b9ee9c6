-- The flagged days of int_daily_cost_series_scored, with what a person needs to act: the
-- expected cost, how unusual the day is, the direction and the cost impact. The account's
-- name is its latest one (dim_sub_accounts).
with

scored_days as (
    select * from {{ ref('int_daily_cost_series_scored') }}
),

sub_accounts as (
    select * from {{ ref('dim_sub_accounts') }}
),

final as (
    select
        cast(scored_days.series_day_id as string) as anomaly_id,
        cast(scored_days.charge_date as date) as charge_date,
        cast(scored_days.provider_name as string) as provider_name,
        cast(scored_days.sub_account_id as string) as sub_account_id,
        cast(sub_accounts.sub_account_name as string) as sub_account_name,
        cast(scored_days.service_name as string) as service_name,
        cast(scored_days.reporting_currency as string) as reporting_currency,
        cast(scored_days.actual_cost as decimal(38, 10)) as actual_cost,
        cast(scored_days.expected_cost as decimal(38, 10)) as expected_cost,
        cast(scored_days.training_stddev as decimal(38, 10)) as training_stddev,
        cast(scored_days.training_days as integer) as training_days,
        cast(scored_days.z_score as double) as z_score,
        cast(scored_days.direction as string) as direction,
        cast(scored_days.cost_impact as decimal(38, 10)) as cost_impact,
        cast(scored_days.seasonality as string) as seasonality
    from scored_days
    left join sub_accounts
        on
            scored_days.provider_name = sub_accounts.provider_name
            and scored_days.sub_account_id = sub_accounts.sub_account_id
    where scored_days.is_anomaly
)

select * from final
