{{ config(severity='warn') }}

-- Charge types missing from seeds/charge_type_mapping.csv (reported as Adjustment, cost
-- kept). Add them to the seed; a warning, not an error, so a new charge type never blocks
-- the daily build.
with

costs as (
    select * from {{ ref('int_cloud_costs_categorized') }}
),

final as (
    select
        provider_name,
        x_charge_type,
        min(charge_date) as first_seen,
        max(charge_date) as last_seen,
        sum(billed_cost) as billed_cost
    from costs
    where not is_charge_type_mapped
    group by provider_name, x_charge_type
)

select * from final
