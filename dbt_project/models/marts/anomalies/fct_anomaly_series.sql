-- The daily series the anomalies are judged on, with the expected band, for charts: every
-- day of the three total series (AWS, Azure, All) and every day of each service series
-- that has at least one flagged day (a series without anomalies has nothing to explain and
-- would only make the table large), the account named as in dim_sub_accounts. The band is
-- where a day is usual: for a total, expected_cost +/- the distance at which its scoring
-- flags a day (anomaly_band_half_width), so exactly the flagged days lie on or outside it;
-- for a service series, the scoring's own band (int_daily_cost_series_scored expected_low
-- / expected_high: multiplicative, so not symmetric), and every flagged day lies on or
-- outside it (tested).
with

total_days as (
    select * from {{ ref('int_daily_cost_totals_scored') }}
),

-- every scored day of every series, read twice below: computed where it is read, not kept
-- (cte_inlined: kept, it spilled 2.5 GB at 50M raw rows)
service_days as {{ cte_inlined() }} (
    select
        scored.series_day_id,
        scored.provider_name,
        scored.sub_account_id,
        scored.service_name,
        scored.charge_date,
        scored.reporting_currency,
        scored.actual_cost,
        scored.expected_cost,
        scored.training_stddev,
        scored.z_score,
        scored.is_scored,
        scored.is_anomaly,
        scored.direction,
        scored.cost_impact,
        scored.expected_low,
        scored.expected_high
    from {{ ref('int_daily_cost_series_scored') }} as scored
),

sub_accounts as (
    select * from {{ ref('dim_sub_accounts') }}
),

flagged_series as (
    select distinct
        provider_name,
        sub_account_id,
        service_name
    from service_days
    where is_anomaly
),

series_days as (
    select
        total_day_id as series_day_id,
        'total' as series_level,
        provider_scope,
        cast(null as string) as sub_account_id,
        cast(null as string) as sub_account_name,
        cast(null as string) as service_name,
        charge_date,
        reporting_currency,
        actual_cost,
        expected_cost,
        training_stddev,
        z_score,
        is_scored,
        is_anomaly,
        direction,
        cost_impact,
        greatest(expected_cost - {{ anomaly_band_half_width('training_stddev') }}, 0) as band_low,
        expected_cost + {{ anomaly_band_half_width('training_stddev') }} as band_high
    from total_days

    union all

    select
        service_days.series_day_id,
        'service' as series_level,
        service_days.provider_name as provider_scope,
        service_days.sub_account_id,
        sub_accounts.sub_account_name,
        service_days.service_name,
        service_days.charge_date,
        service_days.reporting_currency,
        service_days.actual_cost,
        service_days.expected_cost,
        service_days.training_stddev,
        service_days.z_score,
        service_days.is_scored,
        service_days.is_anomaly,
        service_days.direction,
        service_days.cost_impact,
        service_days.expected_low as band_low,
        service_days.expected_high as band_high
    from service_days
    inner join flagged_series
        on
            service_days.provider_name = flagged_series.provider_name
            and service_days.sub_account_id = flagged_series.sub_account_id
            and service_days.service_name = flagged_series.service_name
    left join sub_accounts
        on
            service_days.provider_name = sub_accounts.provider_name
            and service_days.sub_account_id = sub_accounts.sub_account_id
),

final as (
    select
        cast(series_day_id as string) as series_day_id,
        cast(series_level as string) as series_level,
        cast(provider_scope as string) as provider_scope,
        cast(sub_account_id as string) as sub_account_id,
        cast(sub_account_name as string) as sub_account_name,
        cast(service_name as string) as service_name,
        cast(charge_date as date) as charge_date,
        cast(reporting_currency as string) as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        cast(expected_cost as decimal(38, 10)) as expected_cost,
        cast(band_low as decimal(38, 10)) as expected_low,
        cast(band_high as decimal(38, 10)) as expected_high,
        cast(band_high - expected_cost as decimal(38, 10)) as band_half_width,
        cast(z_score as double) as z_score,
        cast(is_scored as boolean) as is_scored,
        cast(is_anomaly as boolean) as is_anomaly,
        cast(direction as string) as direction,
        cast(cost_impact as decimal(38, 10)) as cost_impact
    from series_days
)

select * from final
