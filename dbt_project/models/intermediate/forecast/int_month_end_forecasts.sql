-- Month-end forecasts of billed cost (reporting currency) per provider scope for a set of
-- cutoff dates, each using only the charge dates up to its cutoff. The one place the
-- forecast method lives: fct_cost_forecast reads the as_of_date cutoff, and
-- fct_cost_forecast_backtest the days 7, 14 and 21 of every month.
-- Method: month-to-date actual + for each remaining day of the month, the average cost of
-- the same ISO weekday over the trailing 28 days ending on the cutoff (days before the
-- scope's first charge date excluded; a weekday with no such day uses the average of all).
with

scope_days as (
    select * from {{ ref('int_daily_costs_by_scope') }}
),

scoped_costs as (
    select
        provider_scope,
        charge_date,
        sum(billed_cost_reporting) as cost
    from scope_days
    group by provider_scope, charge_date
),

scope_starts as (
    select
        provider_scope,
        min(charge_date) as first_date
    from scoped_costs
    group by provider_scope
),

as_of as (
    select
        min(charge_date) as first_date,
        max(charge_date) as as_of_date
    from scoped_costs
),

months as (
    select
        {{ month_series("date_trunc('month', first_date)", "date_trunc('month', as_of_date)") }} as month_start
    from as_of
    where as_of_date is not null
),

-- backtest cutoffs: days 7, 14 and 21 of each month
backtest_days as (
    select backtest_offsets.day_offset from (values (6), (13), (20)) as backtest_offsets (day_offset)
),

cutoffs as (
    select as_of.as_of_date as cutoff_date
    from as_of
    where as_of.as_of_date is not null

    union all

    select cast(months.month_start + backtest_days.day_offset as date) as cutoff_date
    from months
    cross join backtest_days
    cross join as_of
    where months.month_start + backtest_days.day_offset between as_of.first_date and as_of.as_of_date
),

forecast_cutoffs as (
    select distinct
        scope_starts.provider_scope,
        cutoffs.cutoff_date,
        cast(date_trunc('month', cutoffs.cutoff_date) as date) as forecast_month,
        last_day(cutoffs.cutoff_date) as month_end_date,
        greatest(cutoffs.cutoff_date - 27, scope_starts.first_date) as window_start
    from cutoffs
    cross join scope_starts
),

month_to_date as (
    select
        forecast_cutoffs.provider_scope,
        forecast_cutoffs.cutoff_date,
        coalesce(sum(scoped_costs.cost), 0) as mtd_cost
    from forecast_cutoffs
    left join scoped_costs
        on
            forecast_cutoffs.provider_scope = scoped_costs.provider_scope
            and scoped_costs.charge_date between forecast_cutoffs.forecast_month and forecast_cutoffs.cutoff_date
    group by forecast_cutoffs.provider_scope, forecast_cutoffs.cutoff_date
),

window_days as (
    select
        provider_scope,
        cutoff_date,
        {{ day_series('window_start', 'cutoff_date') }} as window_day
    from forecast_cutoffs
    where window_start <= cutoff_date
),

window_day_costs as (
    select
        window_days.provider_scope,
        window_days.cutoff_date,
        window_days.window_day,
        {{ iso_day_of_week('window_days.window_day') }} as day_of_week,
        coalesce(sum(scoped_costs.cost), 0) as cost
    from window_days
    left join scoped_costs
        on
            window_days.provider_scope = scoped_costs.provider_scope
            and window_days.window_day = scoped_costs.charge_date
    group by window_days.provider_scope, window_days.cutoff_date, window_days.window_day
),

-- Averages from the exact decimal sum, divided once and kept as decimals: a floating-point
-- avg() would depend on the order rows are summed in (last digits differing between builds).
weekday_averages as (
    select
        provider_scope,
        cutoff_date,
        day_of_week,
        cast(sum(cost) / nullif(count(cost), 0) as decimal(38, 10)) as avg_cost
    from window_day_costs
    group by provider_scope, cutoff_date, day_of_week
),

window_averages as (
    select
        provider_scope,
        cutoff_date,
        cast(sum(cost) / nullif(count(cost), 0) as decimal(38, 10)) as avg_cost
    from window_day_costs
    group by provider_scope, cutoff_date
),

remaining_days as (
    select
        provider_scope,
        cutoff_date,
        {{ day_series('cutoff_date + 1', 'month_end_date') }} as remaining_day
    from forecast_cutoffs
    where cutoff_date < month_end_date
),

remaining_forecast as (
    select
        remaining_days.provider_scope,
        remaining_days.cutoff_date,
        sum(coalesce(weekday_averages.avg_cost, window_averages.avg_cost, 0)) as remaining_cost
    from remaining_days
    left join weekday_averages
        on
            remaining_days.provider_scope = weekday_averages.provider_scope
            and remaining_days.cutoff_date = weekday_averages.cutoff_date
            and {{ iso_day_of_week('remaining_days.remaining_day') }} = weekday_averages.day_of_week
    left join window_averages
        on
            remaining_days.provider_scope = window_averages.provider_scope
            and remaining_days.cutoff_date = window_averages.cutoff_date
    group by remaining_days.provider_scope, remaining_days.cutoff_date
),

final as (
    select
        forecast_cutoffs.provider_scope,
        forecast_cutoffs.cutoff_date,
        forecast_cutoffs.forecast_month,
        forecast_cutoffs.month_end_date,
        month_to_date.mtd_cost,
        day(forecast_cutoffs.cutoff_date) as days_elapsed,
        day(forecast_cutoffs.month_end_date) - day(forecast_cutoffs.cutoff_date) as days_remaining,
        cast(
            round(month_to_date.mtd_cost + coalesce(remaining_forecast.remaining_cost, 0), 10) as decimal(38, 10)
        ) as forecast_month_end_cost
    from forecast_cutoffs
    inner join month_to_date
        on
            forecast_cutoffs.provider_scope = month_to_date.provider_scope
            and forecast_cutoffs.cutoff_date = month_to_date.cutoff_date
    left join remaining_forecast
        on
            forecast_cutoffs.provider_scope = remaining_forecast.provider_scope
            and forecast_cutoffs.cutoff_date = remaining_forecast.cutoff_date
)

select * from final
