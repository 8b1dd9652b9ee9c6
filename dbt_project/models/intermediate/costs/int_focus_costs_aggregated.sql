-- FOCUS rows at the grain of int_cloud_costs_unioned (provider x billing account x sub
-- account x day x service x region x charge x currency), summed over billing periods (a
-- late charge can sit in the next period's files) and over the dimensions the unified model
-- does not keep (publisher, pricing category, unit, ...). The file's ServiceCategory is used
-- (it takes precedence over service_category_mapping, see int_cloud_costs_categorized),
-- normalised to the FOCUS spelling of focus_service_categories; a ServiceName the file
-- puts in several categories (AWS: Amazon Elastic Compute Cloud in Compute and Storage)
-- gets the one with the most cost (ties: the first by name), so a service has one category
-- as FOCUS requires and the daily mart, which is per service, shows one.
with

costs as (
    select * from {{ ref('stg_focus_files__costs') }}
),

focus_categories as (
    select * from {{ ref('focus_service_categories') }}
),

categories as (
    select distinct service_category
    from focus_categories
),

with_category as (
    select
        costs.*,
        categories.service_category as focus_service_category
    from costs
    left join categories
        on lower(costs.service_category) = lower(categories.service_category)
),

category_costs as (
    select
        provider_name,
        service_name,
        focus_service_category as service_category,
        sum(abs(billed_cost)) + sum(abs(effective_cost)) as category_cost
    from with_category
    where focus_service_category is not null
    group by provider_name, service_name, focus_service_category
),

service_categories as (
    select
        provider_name,
        service_name,
        service_category
    from category_costs
    qualify
        row_number() over (
            partition by provider_name, service_name
            order by category_cost desc, service_category asc
        ) = 1
),

categorized as (
    select
        with_category.*,
        service_categories.service_category as resolved_service_category,
        -- the file's subcategory when it belongs to the service's category
        focus_categories.service_subcategory as resolved_service_subcategory
    from with_category
    left join service_categories
        on
            with_category.provider_name = service_categories.provider_name
            and with_category.service_name = service_categories.service_name
    left join focus_categories
        on
            service_categories.service_category = focus_categories.service_category
            and lower(with_category.service_subcategory) = lower(focus_categories.service_subcategory)
),

aggregated as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        billing_account_scope as scope,
        sub_account_id,
        service_name,
        resolved_service_category as service_category,
        region_id,
        x_region_name,
        x_charge_type,
        charge_category,
        charge_class,
        charge_frequency,
        billing_currency,
        x_source,
        max(sub_account_name) as sub_account_name,
        max(resolved_service_subcategory) as service_subcategory,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        bool_or(is_estimated) as is_estimated
    from categorized
    group by
        charge_date,
        provider_name,
        billing_account_id,
        billing_account_scope,
        sub_account_id,
        service_name,
        resolved_service_category,
        region_id,
        x_region_name,
        x_charge_type,
        charge_category,
        charge_class,
        charge_frequency,
        billing_currency,
        x_source
),

final as (
    select
        {{ surrogate_key([
            'scope', 'charge_date', 'sub_account_id', 'service_name', 'x_region_name',
            'x_charge_type', 'billing_currency',
        ]) }} as focus_cost_id,
        charge_date,
        provider_name,
        billing_account_id,
        scope,
        sub_account_id,
        sub_account_name,
        service_name,
        service_category,
        service_subcategory,
        region_id,
        x_region_name,
        x_charge_type,
        charge_category,
        charge_class,
        charge_frequency,
        billing_currency,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        is_estimated,
        x_source
    from aggregated
)

select * from final
