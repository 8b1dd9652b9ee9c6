-- The provider scopes of the per-scope marts (KPIs, forecast, total anomalies): 'All' (every
-- provider), the two cloud APIs' providers 'AWS' and 'Azure' always (a scope with no cost
-- yet still gets its KPI rows, at 0), and any other provider of FOCUS files with cost in
-- fct_daily_costs. The one place that list is declared.
with

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

cloud_api_providers as (
    select providers.provider_name from (values ('AWS'), ('Azure')) as providers (provider_name)
),

providers as (
    select provider_name from cloud_api_providers

    union

    select provider_name from daily_costs
),

provider_days as (
    select
        provider_name,
        min(charge_date) as first_charge_date,
        max(charge_date) as last_charge_date
    from daily_costs
    group by provider_name
),

scopes as (
    select
        'All' as provider_scope,
        true as is_all_providers,
        (select min(provider_days.first_charge_date) as first_day from provider_days) as first_charge_date,
        (select max(provider_days.last_charge_date) as last_day from provider_days) as last_charge_date

    union all

    select
        providers.provider_name as provider_scope,
        false as is_all_providers,
        provider_days.first_charge_date,
        provider_days.last_charge_date
    from providers
    left join provider_days on providers.provider_name = provider_days.provider_name
),

final as (
    select
        cast(provider_scope as string) as provider_scope,
        cast(is_all_providers as boolean) as is_all_providers,
        cast(first_charge_date as date) as first_charge_date,
        cast(last_charge_date as date) as last_charge_date
    from scopes
)

select * from final
