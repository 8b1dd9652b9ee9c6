-- FOCUS ServiceCategory / ChargeCategory. Precedence: what a FOCUS file says (its
-- ServiceCategory, ChargeCategory / ChargeClass / ChargeFrequency, normalised upstream),
-- then the mapping seeds, then the defaults. Left joins on the seeds' unique keys (tested):
-- a row is never dropped nor duplicated; an unknown service becomes 'Other' / 'Other
-- (Other)', an unknown charge type 'Adjustment' (warn tests list both). A subcategory the
-- file does not give comes from the seed when the seed has the same category, else it is
-- 'Other (<category>)'.
with

-- A view over the int_cloud_costs_unioned table: two joins on small seeds, so its tests and
-- int_daily_costs_converted read the table with their day filter pushed down.
costs as (
    select * from {{ ref('int_cloud_costs_unioned') }}
),

service_mapping as (
    select * from {{ ref('service_category_mapping') }}
),

charge_type_mapping as (
    select * from {{ ref('charge_type_mapping') }}
),

categorized as (
    select
        costs.cost_line_id,
        costs.charge_date,
        costs.provider_name,
        costs.billing_account_id,
        costs.sub_account_id,
        costs.sub_account_name,
        costs.service_name,
        coalesce(costs.service_category, service_mapping.service_category, 'Other') as service_category,
        coalesce(
            costs.service_subcategory,
            case
                when
                    service_mapping.service_category
                    = coalesce(costs.service_category, service_mapping.service_category)
                    then service_mapping.service_subcategory
            end,
            'Other (' || coalesce(costs.service_category, service_mapping.service_category, 'Other') || ')'
        ) as service_subcategory,
        costs.region_id,
        costs.x_region_name,
        costs.x_charge_type,
        coalesce(costs.charge_category, charge_type_mapping.charge_category, 'Adjustment') as charge_category,
        case
            when costs.charge_category is not null then costs.charge_class
            else charge_type_mapping.charge_class
        end as charge_class,
        case
            when costs.charge_category is not null then costs.charge_frequency
            else charge_type_mapping.charge_frequency
        end as charge_frequency,
        costs.billing_currency,
        costs.billed_cost,
        costs.effective_cost,
        costs.is_estimated,
        costs.x_allocation_tags,
        costs.x_source,
        costs.scope,
        costs.service_category is not null or service_mapping.service_name is not null
            as is_service_mapped,
        costs.charge_category is not null or charge_type_mapping.x_charge_type is not null
            as is_charge_type_mapped
    from costs
    left join service_mapping
        on
            costs.provider_name = service_mapping.provider_name
            and costs.service_name = service_mapping.service_name
    left join charge_type_mapping
        on
            costs.provider_name = charge_type_mapping.provider_name
            and costs.x_charge_type = charge_type_mapping.x_charge_type
),

final as (
    select * from categorized
)

select * from final
