{{ config(materialized='table') }}

-- Every day of every usage series (provider x sub account x service; billed cost in the
-- reporting currency, charge_category = Usage), gap-filled with 0 from the series' first
-- day to the last charge date of the warehouse, scored against a trailing training window
-- that excludes the scored day: with `anomaly_seasonality` 'none' the previous
-- `anomaly_window_days` days, with 'day_of_week' the same weekday of the previous
-- `anomaly_seasonal_weeks` weeks. Days a first pass of the same rule flags are left out of
-- later days' training. See the model's yml for the meaning of a flat (stddev 0) window.
-- int_daily_cost_totals_scored scores the provider totals the same way.
{%- set seasonality = var('anomaly_seasonality') | string | trim | lower %}
{%- if seasonality == 'day_of_week' %}
    {%- set window_rows = var('anomaly_seasonal_weeks') | int %}
    {%- set min_history_days = var('anomaly_seasonal_min_weeks') | int %}
    {%- set season_partition = ', isodow(charge_date)' %}
{%- else %}
    {%- set window_rows = var('anomaly_window_days') | int %}
    {%- set min_history_days = var('anomaly_min_history_days') | int %}
    {%- set season_partition = '' %}
{%- endif %}
{%- if seasonality not in ('none', 'day_of_week') %}
    {#- a typo must not fall back to 'none' silently: the window then fails at run time #}
    {%- set season_partition = ", error('anomaly_seasonality must be none or day_of_week')" %}
{%- endif %}
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

first_pass as (
    select
        *,
        count(actual_cost) over training_window as first_pass_days,
        avg(actual_cost) over training_window as first_pass_mean,
        round(stddev_samp(actual_cost) over training_window, 10) as first_pass_stddev
    from filled
    window training_window as (
        partition by provider_name, sub_account_id, service_name{{ season_partition }}
        order by charge_date
        rows between {{ window_rows }} preceding and 1 preceding
    )
),

-- A day the first pass (same rule, unfiltered window) flags is left out of the training of
-- later days, so one anomaly neither hides the next nor raises a false one for weeks.
first_pass_flagged as (
    select
        *,
        coalesce(
            first_pass_days >= {{ min_history_days }}
            and (
                (
                    first_pass_stddev > 0
                    and abs(actual_cost - first_pass_mean) / first_pass_stddev >= {{ z_threshold }}
                    and abs(actual_cost - first_pass_mean) >= {{ min_impact }}
                )
                or (
                    first_pass_stddev = 0
                    and actual_cost != first_pass_mean
                    and abs(actual_cost - first_pass_mean) >= {{ flat_min_impact }}
                )
            ),
            false
        ) as is_first_pass_anomaly
    from first_pass
),

trained as (
    select
        *,
        count(actual_cost) filter (where not is_first_pass_anomaly) over training_window as training_days,
        avg(actual_cost) filter (where not is_first_pass_anomaly) over training_window as training_mean,
        stddev_samp(actual_cost) filter (where not is_first_pass_anomaly) over training_window
            as training_stddev_exact
    from first_pass_flagged
    window training_window as (
        partition by provider_name, sub_account_id, service_name{{ season_partition }}
        order by charge_date
        rows between {{ window_rows }} preceding and 1 preceding
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
        is_first_pass_anomaly,
        is_scored,
        expected_cost,
        training_stddev,
        cast(z_score as double) as z_score,
        direction,
        cast(cost_impact as decimal(38, 10)) as cost_impact,
        is_anomaly,
        '{{ seasonality }}' as seasonality
    from flagged
)

select * from final
