-- Both providers in one FOCUS-vocabulary shape, at each provider's own grain (no
-- aggregation yet): AWS rows as Cost Explorer returned them, Azure rows pivoted.
with

aws_costs as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
),

azure_costs as (
    select * from {{ ref('int_azure_costs_pivoted') }}
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
        x_charge_type,
        billing_currency,
        billed_cost,
        effective_cost,
        is_estimated,
        x_source
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
        x_charge_type,
        billing_currency,
        billed_cost,
        effective_cost,
        is_estimated,
        x_source
    from azure_costs
),

final as (
    select * from unioned
)

select * from final
