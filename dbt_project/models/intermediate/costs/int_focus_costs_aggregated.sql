-- FOCUS rows at the grain of int_cloud_costs_unioned (provider x billing account x sub
-- account x day x service x region x charge x currency x allocation tags), summed over billing periods (a
-- late charge can sit in the next period's files) and over the dimensions the unified model
-- does not keep (publisher, pricing category, unit, ...). The file's ServiceCategory is used
-- (it takes precedence over service_category_mapping, see int_cloud_costs_categorized),
-- normalised to the FOCUS spelling of focus_service_categories; a ServiceName the file
-- puts in several categories (AWS: Amazon Elastic Compute Cloud in Compute and Storage)
-- gets the one with the most cost (ties: the first by name), so a service has one category
-- as FOCUS requires and the daily mart, which is per service, shows one.
--
-- An incremental table on charge_date (macros/delete_days_to_rebuild.sql), not a view: a
-- daily build aggregates the staged rows of the rebuilt days only, and its tests read the
-- stored rows of those days instead of re-deriving every FOCUS row of the history three
-- times (10M rows: 34 s of test time). A service's category is still decided over its whole
-- history, from one small aggregate of the staging table (file_categories); like every
-- stored day of int_cloud_costs_unioned, the days already stored keep the category they
-- were built with until they are rebuilt.
{{ config(**incremental_by_day()) }}
with

costs as (
    select * from {{ ref('stg_focus_files__costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

focus_categories as (
    select * from {{ ref('focus_service_categories') }}
),

categories as (
    select distinct service_category
    from focus_categories
),

-- every day of the history, not only the rebuilt ones: a service's category is the one
-- with the most cost over all its rows
file_categories as (
    select
        provider_name,
        service_name,
        lower(service_category) as file_category,
        sum(abs(billed_cost)) + sum(abs(effective_cost)) as category_cost
    from {{ ref('stg_focus_files__costs') }}
    group by provider_name, service_name, lower(service_category)
),

category_costs as (
    select
        file_categories.provider_name,
        file_categories.service_name,
        categories.service_category,
        sum(file_categories.category_cost) as category_cost
    from file_categories
    inner join categories
        on file_categories.file_category = lower(categories.service_category)
    group by
        file_categories.provider_name,
        file_categories.service_name,
        categories.service_category
),

with_category as (
    select
        costs.*,
        categories.service_category as focus_service_category
    from costs
    left join categories
        on lower(costs.service_category) = lower(categories.service_category)
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
        -- a commitment's unused part is a charge of its own (nobody can tag or allocate it
        -- by usage: int_cost_allocation_split)
        case
            when commitment_discount_status = 'Unused' then x_charge_type || ' / Unused commitment'
            else x_charge_type
        end as x_charge_type,
        charge_category,
        charge_class,
        charge_frequency,
        billing_currency,
        x_allocation_tags,
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
        case
            when commitment_discount_status = 'Unused' then x_charge_type || ' / Unused commitment'
            else x_charge_type
        end,
        charge_category,
        charge_class,
        charge_frequency,
        billing_currency,
        x_allocation_tags,
        x_source
),

final as (
    select
        {{ surrogate_key([
            'scope', 'charge_date', 'sub_account_id', 'service_name', 'x_region_name',
            'x_charge_type', 'billing_currency', 'x_allocation_tags',
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
        x_allocation_tags,
        x_source,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from aggregated
)

select * from final
