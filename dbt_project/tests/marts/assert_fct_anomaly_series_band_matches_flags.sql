-- Rows returned are days where the band and the flags disagree (see the yml description).
with

series as (
    select * from {{ ref('fct_anomaly_series') }}
),

service_anomalies as (
    select * from {{ ref('fct_cost_anomalies') }}
),

total_anomalies as (
    select * from {{ ref('fct_cost_total_anomalies') }}
),

-- a total: flagged exactly when |actual - expected| >= band_half_width; a service series:
-- every flagged day on or outside its band (a day outside it can stay unflagged: a level
-- shift's later days, a day without charge of a series that bills on some days)
band_disagrees as (
    select
        'band and is_anomaly disagree' as problem,
        series_day_id
    from series
    where
        is_scored
        and (
            (
                series_level = 'total'
                and abs(abs(actual_cost - expected_cost) - band_half_width) > 0.00001
                and is_anomaly != (abs(actual_cost - expected_cost) >= band_half_width)
            )
            or (
                series_level = 'service'
                and is_anomaly
                and actual_cost > expected_low + 0.00001
                and actual_cost < expected_high - 0.00001
            )
        )
),

flagged_series_days as (
    select
        series_level,
        provider_scope,
        sub_account_id,
        service_name,
        charge_date
    from series
    where is_anomaly
),

anomalies as (
    select
        'service' as series_level,
        provider_name as provider_scope,
        sub_account_id,
        service_name,
        charge_date
    from service_anomalies

    union all

    select
        'total' as series_level,
        provider_scope,
        cast(null as string) as sub_account_id,
        cast(null as string) as service_name,
        charge_date
    from total_anomalies
),

unmatched as (
    select
        case
            when flagged_series_days.charge_date is null then 'anomaly missing from fct_anomaly_series'
            else 'flagged series day missing from the anomaly marts'
        end as problem,
        coalesce(anomalies.provider_scope, flagged_series_days.provider_scope)
        || ' ' || coalesce(anomalies.charge_date, flagged_series_days.charge_date) as series_day_id
    from anomalies
    full outer join flagged_series_days
        on
            anomalies.series_level = flagged_series_days.series_level
            and anomalies.provider_scope = flagged_series_days.provider_scope
            and anomalies.sub_account_id is not distinct from flagged_series_days.sub_account_id
            and anomalies.service_name is not distinct from flagged_series_days.service_name
            and anomalies.charge_date = flagged_series_days.charge_date
    where anomalies.charge_date is null or flagged_series_days.charge_date is null
),

final as (
    select * from band_disagrees
    union all
    select * from unmatched
)

select * from final
