-- Both providers in one FOCUS-vocabulary shape, at each provider's own grain (no
-- aggregation yet): AWS rows as Cost Explorer returned them, Azure rows pivoted.
-- cost_line_id keys a cost line by what it is (provider, sub account, day, service, region
-- as named by the provider, charge type, currency), not by the load scope or source that
-- brought it: two scopes or sources landing the same line would double count it, and the
-- unique test on cost_line_id stops the build instead.
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
        x_region_name,
        x_charge_type,
        billing_currency,
        billed_cost,
        effective_cost,
        is_estimated,
        x_source,
        scope
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
        scope
    from azure_costs
),

final as (
    select
        {{ surrogate_key([
            'provider_name', 'sub_account_id', 'charge_date', 'service_name', 'x_region_name',
            'x_charge_type', 'billing_currency',
        ]) }} as cost_line_id,
        *
    from unioned
)

select * from final
