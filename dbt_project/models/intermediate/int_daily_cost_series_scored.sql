{{ config(materialized='table') }}

-- Every day of every usage series (provider x sub account x service; billed cost in the
-- reporting currency, charge_category = Usage), gap-filled with 0 from the series' first
-- day to the last charge date of the warehouse, scored against a trailing window of
-- `anomaly_window_days` days that excludes the scored day. See the model's yml for the
-- meaning of a flat (stddev 0) window.
{%- set window_days = var('anomaly_window_days') | int %}
{%- set min_history_days = var('anomaly_min_history_days') | int %}
{%- set z_threshold = var('anomaly_z_threshold') | float %}
{%- set min_impact = var('anomaly_min_impact') | float %}
{%- set flat_min_impact = [var('anomaly_flat_min_impact') | float, min_impact] | max %}

with

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
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
        arg_max(sub_account_name, charge_date) as sub_account_name
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
    select cast(unnest(generate_series(first_date, last_date, interval 1 day)) as date) as charge_date
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

trained as (
    select
        *,
        count(actual_cost) over training_window as training_days,
        avg(actual_cost) over training_window as training_mean,
        stddev_samp(actual_cost) over training_window as training_stddev_exact
    from filled
    window training_window as (
        partition by provider_name, sub_account_id, service_name
        order by charge_date
        rows between {{ window_days }} preceding and 1 preceding
    )
),

scored as (
    select
        *,
        training_days >= {{ min_history_days }} as is_scored,
        case
            when training_days >= {{ min_history_days }}
                then cast(round(training_mean, 10) as decimal(38, 10))
        end as expected_cost,
        case
            when training_days >= {{ min_history_days }}
                then cast(round(training_stddev_exact, 10) as decimal(38, 10))
        end as training_stddev
    from trained
),

measured as (
    select
        *,
        actual_cost - expected_cost as cost_impact,
        case
            when training_stddev > 0
                then round((actual_cost - training_mean) / training_stddev_exact, 6)
        end as z_score,
        case
            when actual_cost > expected_cost then 'spike'
            when actual_cost < expected_cost then 'drop'
        end as direction
    from scored
),

flagged as (
    select
        *,
        coalesce(
            (
                training_stddev > 0
                and abs(z_score) >= {{ z_threshold }}
                and abs(cost_impact) >= {{ min_impact }}
            )
            or (
                training_stddev = 0
                and cost_impact != 0
                and abs(cost_impact) >= {{ flat_min_impact }}
            ),
            false
        ) as is_anomaly
    from measured
),

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
        is_scored,
        expected_cost,
        training_stddev,
        cast(z_score as double) as z_score,
        direction,
        cast(cost_impact as decimal(38, 10)) as cost_impact,
        is_anomaly
    from flagged
)

select * from final
