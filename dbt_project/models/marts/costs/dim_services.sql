-- One row per service of any provider with cost in fct_daily_costs, with its FOCUS
-- ServiceCategory and ServiceSubcategory (from the mapping seed or the FOCUS file: the
-- latest by charge date, should a remapping change them) and the days it has cost.
with

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

services as (
    select
        provider_name,
        service_name,
        max_by(service_category, charge_date) as service_category,
        max_by(service_subcategory, charge_date) filter (where service_subcategory is not null)
            as service_subcategory,
        min(charge_date) as first_charge_date,
        max(charge_date) as last_charge_date
    from daily_costs
    group by provider_name, service_name
),

final as (
    select
        cast({{ surrogate_key(['provider_name', 'service_name']) }} as string) as service_key,
        cast(provider_name as string) as provider_name,
        cast(service_name as string) as service_name,
        cast(service_category as string) as service_category,
        cast(service_subcategory as string) as service_subcategory,
        cast(first_charge_date as date) as first_charge_date,
        cast(last_charge_date as date) as last_charge_date
    from services
)

select * from final
