-- Each KPI total equals the sum of its cost basis in fct_daily_costs for the scope, and
-- the 'All' scope equals the sum of every provider (AWS, Azure and any FOCUS provider);
-- every provider of fct_daily_costs has its KPI rows. Returns the KPI rows that disagree
-- (or a scope's missing row, kpi_id null).
with

kpis as (
    select * from {{ ref('fct_cost_kpis') }}
),

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

scopes as (
    select fixed_scopes.provider_scope from (values ('All'), ('AWS'), ('Azure')) as fixed_scopes (provider_scope)

    union

    select provider_name as provider_scope
    from daily_costs
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

bases as (
    select cost_bases.cost_basis from (values ('billed'), ('effective')) as cost_bases (cost_basis)
),

final as (
    select
        kpis.kpi_id,
        expected.provider_scope,
        bases.cost_basis,
        kpis.total_cost,
        expected.billed_total,
        expected.effective_total
    from expected
    cross join bases
    left join kpis
        on
            expected.provider_scope = kpis.provider_scope
            and bases.cost_basis = kpis.cost_basis
    where
        kpis.kpi_id is null
        or kpis.total_cost != coalesce(
            case bases.cost_basis
                when 'billed' then expected.billed_total
                when 'effective' then expected.effective_total
            end,
            0
        )
)

select * from final
