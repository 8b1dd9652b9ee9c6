{{ config(severity='warn') }}

-- Services missing from seeds/service_category_mapping.csv (reported as Other / Other
-- (Other), cost kept). Add them to the seed; a warning, not an error, so a new service
-- never blocks the daily build.
with

costs as (
    select * from {{ ref('int_cloud_costs_categorized') }}
),

final as (
    select
        provider_name,
        service_name,
        min(charge_date) as first_seen,
        max(charge_date) as last_seen,
        sum(billed_cost) as billed_cost
    from costs
    where not is_service_mapped
    group by provider_name, service_name
)

select * from final
