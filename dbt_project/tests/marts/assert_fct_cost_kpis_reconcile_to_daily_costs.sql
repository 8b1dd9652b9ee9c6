-- Each KPI total equals the sum of its cost basis in fct_daily_costs for the scope, and
-- the 'All' scope equals AWS + Azure. Returns the KPI rows that disagree.
with

kpis as (
    select * from {{ ref('fct_cost_kpis') }}
),

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

scopes as (
    select unnest(['All', 'AWS', 'Azure']) as provider_scope
),

expected as (
    select
        scopes.provider_scope,
        sum(daily_costs.billed_cost_reporting) as billed_total,
        sum(daily_costs.effective_cost_reporting) as effective_total
    from scopes
    left join daily_costs
        on scopes.provider_scope in ('All', daily_costs.provider_name)
    group by scopes.provider_scope
),

final as (
    select
        kpis.kpi_id,
        kpis.total_cost,
        expected.billed_total,
        expected.effective_total
    from kpis
    inner join expected
        on kpis.provider_scope = expected.provider_scope
    where
        kpis.total_cost != coalesce(
            case kpis.cost_basis
                when 'billed' then expected.billed_total
                when 'effective' then expected.effective_total
            end,
            0
        )
)

select * from final
