-- Headline figures in the reporting currency: one row per provider scope (All, AWS, Azure
-- always, plus any other provider of FOCUS files in fct_daily_costs) x cost basis (billed,
-- effective): six rows without such providers. Totals are net of everything
-- (credits, refunds and tax included). as_of_date is the last charge date of any provider.
with

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

forecasts as (
    select * from {{ ref('fct_cost_forecast') }}
),

scopes as (
    select provider_scope from {{ ref('dim_provider_scopes') }}
),

bases as (
    select cost_bases.cost_basis from (values ('billed'), ('effective')) as cost_bases (cost_basis)
),

last_day_with_data as (
    select max(charge_date) as as_of_date
    from daily_costs
),

as_of as (
    select
        as_of_date,
        cast(date_trunc('month', as_of_date) as date) as month_start,
        cast(date_trunc('month', as_of_date) - interval 1 month as date) as prev_month_start,
        -- previous month days 1..day(as_of_date), capped at its last day (March 31 -> February)
        least(
            cast(date_trunc('month', as_of_date) - interval 1 month as date) + cast(day(as_of_date) - 1 as integer),
            cast(date_trunc('month', as_of_date) as date) - 1
        ) as prev_month_same_period_end
    from last_day_with_data
),

costs_by_basis as (
    select
        charge_date,
        provider_name,
        'billed' as cost_basis,
        billed_cost_reporting as cost
    from daily_costs

    union all

    select
        charge_date,
        provider_name,
        'effective' as cost_basis,
        effective_cost_reporting as cost
    from daily_costs
),

costs_by_scope as (
    select
        provider_name as provider_scope,
        cost_basis,
        charge_date,
        cost
    from costs_by_basis

    union all

    select
        'All' as provider_scope,
        cost_basis,
        charge_date,
        cost
    from costs_by_basis
),

aggregated as (
    select
        costs_by_scope.provider_scope,
        costs_by_scope.cost_basis,
        min(costs_by_scope.charge_date) as first_date,
        count(distinct costs_by_scope.charge_date) as days_with_data,
        sum(costs_by_scope.cost) as total_cost,
        sum(
            case
                when costs_by_scope.charge_date between as_of.as_of_date - 6 and as_of.as_of_date
                    then costs_by_scope.cost
                else 0
            end
        ) as last_7d_cost,
        sum(
            case
                when costs_by_scope.charge_date between as_of.as_of_date - 13 and as_of.as_of_date - 7
                    then costs_by_scope.cost
                else 0
            end
        ) as prev_7d_cost,
        sum(
            case
                when
                    costs_by_scope.charge_date
                    between date_trunc('month', as_of.as_of_date) and as_of.as_of_date
                    then costs_by_scope.cost
                else 0
            end
        ) as mtd_cost,
        sum(
            case
                when
                    costs_by_scope.charge_date
                    between as_of.prev_month_start and as_of.month_start - 1
                    then costs_by_scope.cost
                else 0
            end
        ) as prev_month_cost,
        sum(
            case
                when
                    costs_by_scope.charge_date
                    between as_of.prev_month_start and as_of.prev_month_same_period_end
                    then costs_by_scope.cost
                else 0
            end
        ) as prev_month_same_period_cost
    from costs_by_scope
    cross join as_of
    group by costs_by_scope.provider_scope, costs_by_scope.cost_basis
),

kpis as (
    select
        scopes.provider_scope,
        bases.cost_basis,
        aggregated.first_date,
        as_of.as_of_date,
        coalesce(aggregated.total_cost, 0) as total_cost,
        coalesce(aggregated.days_with_data, 0) as days_with_data,
        cast(aggregated.total_cost as double)
        / ({{ days_between('aggregated.first_date', 'as_of.as_of_date') }} + 1) as avg_daily_cost,
        coalesce(aggregated.last_7d_cost, 0) as last_7d_cost,
        coalesce(aggregated.prev_7d_cost, 0) as prev_7d_cost,
        coalesce(aggregated.mtd_cost, 0) as mtd_cost,
        coalesce(aggregated.prev_month_cost, 0) as prev_month_cost,
        coalesce(aggregated.prev_month_same_period_cost, 0) as prev_month_same_period_cost,
        forecasts.forecast_month_end_cost
    from scopes
    cross join bases
    cross join as_of
    left join aggregated
        on
            scopes.provider_scope = aggregated.provider_scope
            and bases.cost_basis = aggregated.cost_basis
    -- the forecast covers billed cost only: effective rows get null
    left join forecasts
        on
            scopes.provider_scope = forecasts.provider_scope
            and bases.cost_basis = 'billed'
),

final as (
    select
        cast(lower(provider_scope) || '_' || cost_basis as string) as kpi_id,
        cast(provider_scope as string) as provider_scope,
        cast(cost_basis as string) as cost_basis,
        cast({{ reporting_currency() }} as string) as reporting_currency,
        cast(first_date as date) as first_date,
        cast(as_of_date as date) as as_of_date,
        cast(total_cost as decimal(38, 10)) as total_cost,
        cast(days_with_data as integer) as days_with_data,
        cast(round(avg_daily_cost, 10) as decimal(38, 10)) as avg_daily_cost,
        cast(last_7d_cost as decimal(38, 10)) as last_7d_cost,
        cast(prev_7d_cost as decimal(38, 10)) as prev_7d_cost,
        cast(
            case
                when prev_7d_cost != 0
                    then round(cast(last_7d_cost - prev_7d_cost as double) / prev_7d_cost * 100, 4)
            end as decimal(18, 4)
        ) as last_7d_change_pct,
        cast(mtd_cost as decimal(38, 10)) as mtd_cost,
        cast(prev_month_cost as decimal(38, 10)) as prev_month_cost,
        cast(prev_month_same_period_cost as decimal(38, 10)) as prev_month_same_period_cost,
        cast(
            case
                when prev_month_same_period_cost != 0
                    then round(
                            cast(mtd_cost - prev_month_same_period_cost as double) / prev_month_same_period_cost * 100,
                            4
                        )
            end as decimal(18, 4)
        ) as mom_change_pct,
        cast(forecast_month_end_cost as decimal(38, 10)) as forecast_month_end_cost
    from kpis
)

select * from final
