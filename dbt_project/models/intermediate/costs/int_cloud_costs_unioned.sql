-- Every source in one FOCUS-vocabulary shape, at each source's own grain (no
-- aggregation yet): AWS rows as Cost Explorer returned them, Azure rows pivoted, FOCUS file
-- rows at the same grain (int_focus_costs_aggregated). Only FOCUS rows carry the file's
-- service and charge categories; the API rows get theirs from the mapping seeds in
-- int_cloud_costs_categorized.
-- x_allocation_tags holds the row's values of the allocation keys (FINOPS_ALLOCATION_TAGS,
-- a JSON object) where the source gives them: FOCUS rows' Tags; null otherwise.
-- cost_line_id keys a cost line by what it is (provider, sub account, day, service, region
-- as named by the provider, charge type, currency, allocation tags), not by the load scope or source that
-- brought it: two scopes or sources landing the same line would double count it, and the
-- unique test on cost_line_id stops the build instead.
--
-- The one table of cost rows at the sources' grain: incremental on charge_date
-- (macros/delete_days_to_rebuild.sql) like the staging tables it reads, so a daily build
-- reads the staged rows of the restatement window only (the filter is a constant, pushed
-- down to the scans) and every test and model downstream reads a table, not a chain of
-- views.
{{ config(**incremental_by_day()) }}
with

aws_costs as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

azure_costs as (
    select * from {{ ref('int_azure_costs_pivoted') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

focus_costs as (
    select * from {{ ref('int_focus_costs_aggregated') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

unioned as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        sub_account_name,
        service_name,
        region_id,
        x_region_name,
        x_charge_type,
        billing_currency,
        billed_cost,
        effective_cost,
        is_estimated,
        x_source,
        scope,
        cast(null as string) as service_category,
        cast(null as string) as service_subcategory,
        cast(null as string) as charge_category,
        cast(null as string) as charge_class,
        cast(null as string) as charge_frequency,
        cast(null as string) as x_allocation_tags
    from aws_costs

    union all

    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        sub_account_name,
        service_name,
        region_id,
        x_region_name,
        x_charge_type,
        billing_currency,
        billed_cost,
        effective_cost,
        is_estimated,
        x_source,
        scope,
        cast(null as string) as service_category,
        cast(null as string) as service_subcategory,
        cast(null as string) as charge_category,
        cast(null as string) as charge_class,
        cast(null as string) as charge_frequency,
        cast(null as string) as x_allocation_tags
    from azure_costs

    union all

    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        sub_account_name,
        service_name,
        region_id,
        x_region_name,
        x_charge_type,
        billing_currency,
        billed_cost,
        effective_cost,
        is_estimated,
        x_source,
        scope,
        service_category,
        service_subcategory,
        charge_category,
        charge_class,
        charge_frequency,
        x_allocation_tags
    from focus_costs
),

final as (
    select
        {{ surrogate_key([
            'provider_name', 'sub_account_id', 'charge_date', 'service_name', 'x_region_name',
            'x_charge_type', 'billing_currency', 'x_allocation_tags',
        ]) }} as cost_line_id,
        *,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from unioned
)

select * from final
