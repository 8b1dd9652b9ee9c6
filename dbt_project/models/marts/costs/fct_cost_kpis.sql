-- Headline figures in the reporting currency: one row per provider scope (All, AWS, Azure
-- always, plus any other provider of FOCUS files in fct_daily_costs) x cost basis (billed,
-- effective): six rows without such providers. Totals are net of everything
-- (credits, refunds and tax included). as_of_date is the last charge date of any provider.
-- The rate-optimization KPIs of the commitment marts (utilization, coverage, Effective
-- Savings Rate, unused commitment cost) are month to date (first of as_of_date's month ..
-- as_of_date), ratios recomputed from the scope's sums in the reporting currency; they are
-- effective-cost (amortized) figures, the same on a scope's billed and effective rows.
-- Savings opportunities (fct_optimization_opportunities): the open ones that count (no
-- duplicate_of) summed in the reporting currency (the mart's conversion), and as a share of
-- the scope's effective cost of the last 30 days (as_of_date - 29 .. as_of_date); also the
-- same on both rows of a scope.
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

commitment_utilization as (
    select * from {{ ref('fct_commitment_utilization') }}
),

commitment_coverage as (
    select * from {{ ref('fct_commitment_coverage') }}
),

effective_savings as (
    select * from {{ ref('fct_effective_savings') }}
),

opportunities as (
    select * from {{ ref('fct_optimization_opportunities') }}
    where status = 'open' and duplicate_of is null
),

fx_rates as (
    select * from {{ ref('int_fx_rates_ranged') }}
),

bases as (
    select cost_bases.cost_basis from (values ('billed'), ('effective')) as cost_bases (cost_basis)
),

-- The daily mart summed per day and provider first: every figure below is a sum, a first day
-- or a count of days, which these totals give alike, and the rest of the model reads a
-- few rows per day instead of the mart, which DuckDB kept for its three readers (40M rows
-- at 50M raw rows: the model took 10-13 s alone, 1.3 s now, the same rows).
provider_days as (
    select
        charge_date,
        provider_name,
        sum(billed_cost_reporting) as billed_cost_reporting,
        sum(effective_cost_reporting) as effective_cost_reporting
    from daily_costs
    group by charge_date, provider_name
),

last_day_with_data as (
    select max(charge_date) as as_of_date
    from provider_days
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
    from provider_days

    union all

    select
        charge_date,
        provider_name,
        'effective' as cost_basis,
        effective_cost_reporting as cost
    from provider_days
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
                when costs_by_scope.charge_date between as_of.as_of_date - 29 and as_of.as_of_date
                    then costs_by_scope.cost
                else 0
            end
        ) as last_30d_cost,
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

-- Rate optimization, month to date. Utilization: the commitments' used and unused
-- (amortized) cost, already in the reporting currency in the mart.
utilization_mtd as (
    select
        commitment_utilization.provider_name,
        sum(commitment_utilization.used_cost_reporting) as used_cost,
        sum(commitment_utilization.unused_cost_reporting) as unused_cost
    from commitment_utilization
    inner join as_of
        on commitment_utilization.charge_date between as_of.month_start and as_of.as_of_date
    group by commitment_utilization.provider_name
),

-- Coverage: committed and on-demand cost per day and billing currency, converted at each
-- day's rate (as fct_daily_costs converts the same rows, so the rate exists).
coverage_daily as (
    select
        commitment_coverage.charge_date,
        commitment_coverage.provider_name,
        commitment_coverage.billing_currency,
        sum(commitment_coverage.committed_cost) as committed_cost,
        sum(commitment_coverage.on_demand_cost) as on_demand_cost
    from commitment_coverage
    inner join as_of
        on commitment_coverage.charge_date between as_of.month_start and as_of.as_of_date
    group by
        commitment_coverage.charge_date,
        commitment_coverage.provider_name,
        commitment_coverage.billing_currency
),

coverage_converted as (
    {{ with_reporting_fx_rate('coverage_daily') }}
),

coverage_mtd as (
    select
        provider_name,
        sum({{ in_reporting_currency('committed_cost') }}) as committed_cost,
        sum({{ in_reporting_currency('on_demand_cost') }}) as on_demand_cost
    from coverage_converted
    group by provider_name
),

-- Savings: fct_effective_savings is monthly; its row of as_of_date's month holds that month
-- up to as_of_date. Converted at the rate in force on as_of_date.
savings_month as (
    select
        effective_savings.provider_name,
        effective_savings.billing_currency,
        as_of.as_of_date as rate_date,
        sum(effective_savings.total_savings) as total_savings,
        sum(effective_savings.list_cost) as list_cost
    from effective_savings
    inner join as_of on effective_savings.billing_month = as_of.month_start
    group by effective_savings.provider_name, effective_savings.billing_currency, as_of.as_of_date
),

savings_converted as (
    {{ with_reporting_fx_rate('savings_month', day='rate_date') }}
),

savings_mtd as (
    select
        provider_name,
        sum({{ in_reporting_currency('total_savings') }}) as total_savings,
        sum({{ in_reporting_currency('list_cost') }}) as list_cost
    from savings_converted
    group by provider_name
),

-- Open potential savings: the opportunities' monthly estimates in the reporting currency
-- (converted by the mart at the rate in force on each one's last_seen).
potential_by_scope as (
    select
        provider_name as provider_scope,
        estimated_monthly_savings_reporting as potential_savings
    from opportunities

    union all

    select
        'All' as provider_scope,
        estimated_monthly_savings_reporting as potential_savings
    from opportunities
),

potential_aggregated as (
    select
        provider_scope,
        sum(potential_savings) as potential_savings
    from potential_by_scope
    group by provider_scope
),

-- One row per provider and measure family; the others null, so a sum over a scope is null
-- when the scope has nothing of that family to measure.
rate_measures as (
    select
        provider_name,
        used_cost,
        unused_cost,
        cast(null as decimal(38, 10)) as committed_cost,
        cast(null as decimal(38, 10)) as on_demand_cost,
        cast(null as decimal(38, 10)) as total_savings,
        cast(null as decimal(38, 10)) as list_cost
    from utilization_mtd

    union all

    select
        provider_name,
        cast(null as decimal(38, 10)) as used_cost,
        cast(null as decimal(38, 10)) as unused_cost,
        committed_cost,
        on_demand_cost,
        cast(null as decimal(38, 10)) as total_savings,
        cast(null as decimal(38, 10)) as list_cost
    from coverage_mtd

    union all

    select
        provider_name,
        cast(null as decimal(38, 10)) as used_cost,
        cast(null as decimal(38, 10)) as unused_cost,
        cast(null as decimal(38, 10)) as committed_cost,
        cast(null as decimal(38, 10)) as on_demand_cost,
        total_savings,
        list_cost
    from savings_mtd
),

rate_measures_by_scope as (
    select
        provider_name as provider_scope,
        used_cost,
        unused_cost,
        committed_cost,
        on_demand_cost,
        total_savings,
        list_cost
    from rate_measures

    union all

    select
        'All' as provider_scope,
        used_cost,
        unused_cost,
        committed_cost,
        on_demand_cost,
        total_savings,
        list_cost
    from rate_measures
),

rate_aggregated as (
    select
        provider_scope,
        sum(used_cost) as used_cost,
        sum(unused_cost) as unused_cost,
        sum(committed_cost) as committed_cost,
        sum(on_demand_cost) as on_demand_cost,
        sum(total_savings) as total_savings,
        sum(list_cost) as list_cost
    from rate_measures_by_scope
    group by provider_scope
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
        forecasts.forecast_month_end_cost,
        rate_aggregated.used_cost as commitment_used_cost,
        rate_aggregated.unused_cost as commitment_unused_cost,
        rate_aggregated.committed_cost as commitment_committed_cost,
        rate_aggregated.on_demand_cost as commitment_on_demand_cost,
        rate_aggregated.total_savings as commitment_total_savings,
        rate_aggregated.list_cost as commitment_list_cost,
        coalesce(aggregated.last_30d_cost, 0) as last_30d_cost,
        coalesce(potential_aggregated.potential_savings, 0) as open_potential_savings,
        effective_30d.last_30d_cost as last_30d_effective_cost
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
    -- amortized figures whatever the cost basis: the same on the billed and effective rows
    left join rate_aggregated
        on scopes.provider_scope = rate_aggregated.provider_scope
    left join potential_aggregated
        on scopes.provider_scope = potential_aggregated.provider_scope
    -- the savings share is of the effective (amortized) cost on both rows of a scope
    left join aggregated as effective_30d
        on
            scopes.provider_scope = effective_30d.provider_scope
            and effective_30d.cost_basis = 'effective'
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
        cast(forecast_month_end_cost as decimal(38, 10)) as forecast_month_end_cost,
        {{ ratio('commitment_used_cost', 'commitment_used_cost + commitment_unused_cost') }}
            as mtd_commitment_utilization,
        {{ ratio('commitment_committed_cost', 'commitment_committed_cost + commitment_on_demand_cost') }}
            as mtd_commitment_coverage,
        {{ ratio('commitment_total_savings', 'commitment_list_cost') }} as mtd_effective_savings_rate,
        cast(commitment_unused_cost as decimal(38, 10)) as mtd_unused_commitment_cost,
        cast(last_30d_cost as decimal(38, 10)) as last_30d_cost,
        cast(open_potential_savings as decimal(38, 10)) as open_potential_savings,
        {{ ratio('open_potential_savings', 'last_30d_effective_cost') }} as potential_savings_share
    from kpis
)

select * from final
