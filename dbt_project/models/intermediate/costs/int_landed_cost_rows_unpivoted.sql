-- Every row the loads landed, once per cost measure it carries, with the load that landed
-- it: the run's raw audit extract (data/raw/multicloud_costs_YYYYMMDD.csv) selects the
-- run's loads from here. Values as staging reads them; amounts exact, in the billing
-- currency, never summed; FOCUS rows name the provider as the file did.
with

aws_costs as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
),

azure_costs as (
    select * from {{ ref('stg_azure_cost_management__costs') }}
),

focus_costs as (
    select * from {{ ref('stg_focus_files__costs') }}
),

unioned as (
    select
        cost_row_id,
        load_id,
        x_source,
        scope,
        charge_date,
        provider_name,
        sub_account_id,
        sub_account_name,
        service_name,
        x_region_name,
        x_charge_type,
        'UnblendedCost' as x_cost_type,
        billed_cost as cost,
        billing_currency,
        is_estimated
    from aws_costs

    union all

    select
        cost_row_id,
        load_id,
        x_source,
        scope,
        charge_date,
        provider_name,
        sub_account_id,
        sub_account_name,
        service_name,
        x_region_name,
        x_charge_type,
        'AmortizedCost' as x_cost_type,
        effective_cost as cost,
        effective_cost_currency as billing_currency,
        is_estimated
    from aws_costs

    union all

    -- The Query API has no estimated flag of its own (staging derives one): none here.
    select
        cost_row_id,
        load_id,
        x_source,
        scope,
        charge_date,
        provider_name,
        sub_account_id,
        sub_account_name,
        service_name,
        x_region_name,
        x_charge_type,
        query_type as x_cost_type,
        cost,
        billing_currency,
        cast(null as boolean) as is_estimated
    from azure_costs

    union all

    select
        cost_row_id,
        load_id,
        x_source,
        scope,
        charge_date,
        x_provider_name as provider_name,
        sub_account_id,
        sub_account_name,
        service_name,
        x_region_name,
        x_charge_type,
        'BilledCost' as x_cost_type,
        billed_cost as cost,
        billing_currency,
        cast(null as boolean) as is_estimated
    from focus_costs

    union all

    select
        cost_row_id,
        load_id,
        x_source,
        scope,
        charge_date,
        x_provider_name as provider_name,
        sub_account_id,
        sub_account_name,
        service_name,
        x_region_name,
        x_charge_type,
        'EffectiveCost' as x_cost_type,
        effective_cost as cost,
        billing_currency,
        cast(null as boolean) as is_estimated
    from focus_costs
),

-- cost_row_id is already an md5 (unique per staging model, tested there): the key is it and
-- the measure, joined; a second md5 over every landed measure cost seconds per test at 10M.
final as (
    select
        cost_row_id || '|' || x_cost_type as landed_cost_row_id,
        *
    from unioned
)

select * from final
