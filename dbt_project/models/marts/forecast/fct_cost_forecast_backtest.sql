-- The month-end forecast method of int_month_end_forecasts replayed on every complete past
-- month at days 7, 14 and 21 (each forecast uses only charge dates up to its cutoff), against
-- the month's actual billed total: how wrong the forecast on the dashboard tends to be.
with

forecasts as (
    select * from {{ ref('int_month_end_forecasts') }}
),

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

data_range as (
    select
        min(charge_date) as first_date,
        max(charge_date) as as_of_date
    from scoped_costs
),

month_actuals as (
    select
        provider_scope,
        cast(date_trunc('month', charge_date) as date) as forecast_month,
        sum(cost) as actual_cost
    from scoped_costs
    group by provider_scope, date_trunc('month', charge_date)
),

backtest_forecasts as (
    select forecasts.*
    from forecasts
    cross join data_range
    where
        forecasts.days_elapsed in (7, 14, 21)
        and forecasts.forecast_month >= data_range.first_date
        and forecasts.month_end_date <= data_range.as_of_date
),

compared as (
    select
        backtest_forecasts.provider_scope,
        backtest_forecasts.forecast_month,
        backtest_forecasts.days_elapsed as cutoff_day,
        backtest_forecasts.cutoff_date,
        backtest_forecasts.mtd_cost,
        backtest_forecasts.forecast_month_end_cost,
        coalesce(month_actuals.actual_cost, 0) as actual_cost
    from backtest_forecasts
    left join month_actuals
        on
            backtest_forecasts.provider_scope = month_actuals.provider_scope
            and backtest_forecasts.forecast_month = month_actuals.forecast_month
),

final as (
    select
        cast(
            lower(provider_scope) || '_' || {{ year_month_text('forecast_month') }} || '_d' || cutoff_day as string
        ) as backtest_id,
        cast(provider_scope as string) as provider_scope,
        cast({{ reporting_currency() }} as string) as reporting_currency,
        cast(forecast_month as date) as forecast_month,
        cast(cutoff_day as integer) as cutoff_day,
        cast(cutoff_date as date) as cutoff_date,
        cast(mtd_cost as decimal(38, 10)) as mtd_cost,
        cast(forecast_month_end_cost as decimal(38, 10)) as forecast_month_end_cost,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        cast(forecast_month_end_cost - actual_cost as decimal(38, 10)) as forecast_error,
        cast(
            case
                when actual_cost != 0
                    then round(cast(abs(forecast_month_end_cost - actual_cost) as double) / abs(actual_cost) * 100, 4)
            end as decimal(18, 4)
        ) as abs_pct_error,
        -- `method` is a keyword, and the column name the contract asks for
        cast('mtd_plus_trailing_28d_weekday_avg' as string) as method  -- noqa: RF04
    from compared
)

select * from final
