-- Month-end forecast of billed cost for as_of_date's month, one row per provider scope.
-- The method lives in int_month_end_forecasts (shared with fct_cost_forecast_backtest).
with

forecasts as (
    select * from {{ ref('int_month_end_forecasts') }}
),

as_of as (
    select max(charge_date) as as_of_date
    from {{ ref('fct_daily_costs') }}
),

final as (
    select
        cast(forecasts.provider_scope as string) as provider_scope,
        cast({{ reporting_currency() }} as string) as reporting_currency,
        cast(forecasts.forecast_month as date) as forecast_month,
        cast(forecasts.cutoff_date as date) as as_of_date,
        cast(forecasts.mtd_cost as decimal(38, 10)) as mtd_cost,
        cast(forecasts.days_elapsed as integer) as days_elapsed,
        cast(forecasts.days_remaining as integer) as days_remaining,
        cast(forecasts.forecast_month_end_cost as decimal(38, 10)) as forecast_month_end_cost,
        -- `method` is a keyword, and the column name the contract asks for
        cast('mtd_plus_trailing_28d_weekday_avg' as string) as method  -- noqa: RF04
    from forecasts
    inner join as_of
        on forecasts.cutoff_date = as_of.as_of_date
)

select * from final
