-- The resource grain of the FOCUS files' last days (raw.focus_resource_costs, bounded to
-- FINOPS_FOCUS_RESOURCE_DAYS days by the import): one row per raw row, in the vocabulary of
-- stg_focus_files__costs - ProviderName normalised, Azure's subscription path reduced to the
-- lower-case id (a row without a sub account belongs to its billing account), a row without
-- a region in 'global', ChargeCategory's case normalised, Azure resource ids lower-case
-- (Azure ids are case-insensitive and its exports spell them both ways). The billing-data
-- rules of the savings opportunities read it (intermediate/optimization).
{%- set billing_account = azure_billing_account('trim(billing_account_id)', 'trim(billing_account_id)') %}
{%- set provider = normalized_provider_name('provider_name') %}

with

source as (
    select * from {{ source('focus_files', 'focus_resource_costs') }}
),

renamed as (
    select
        {{ surrogate_key([
            '_scope', 'billing_period_start', 'charge_date', 'billing_account_id', 'sub_account_id',
            'provider_name', 'service_name', 'service_category', 'region_id', 'charge_category',
            'pricing_category', 'commitment_discount_status', 'billing_currency', 'consumed_unit',
            'resource_id', 'resource_name', 'resource_type', 'sku_id', 'sku_meter', 'x_usage_type',
        ]) }} as resource_cost_id,
        cast(charge_date as date) as charge_date,
        cast(billing_period_start as date) as billing_period_start,
        {{ provider }} as provider_name,
        {{ billing_account }} as billing_account_id,
        {{ focus_sub_account_id(billing_account) }} as sub_account_id,
        trim(service_name) as service_name,
        {{ null_if_placeholder('service_category') }} as service_category,
        coalesce(lower({{ null_if_placeholder('region_id') }}), 'global') as region_id,
        {{ focus_charge_category('charge_category') }} as charge_category,
        {{ null_if_placeholder('pricing_category') }} as pricing_category,
        {{ null_if_placeholder('commitment_discount_status') }} as commitment_discount_status,
        upper(trim(billing_currency)) as billing_currency,
        {{ null_if_placeholder('consumed_unit') }} as consumed_unit,
        {{ focus_resource_id() }} as resource_id,
        {{ null_if_placeholder('resource_name') }} as resource_name,
        {{ null_if_placeholder('resource_type') }} as resource_type,
        {{ null_if_placeholder('sku_id') }} as sku_id,
        {{ null_if_placeholder('sku_meter') }} as sku_meter,
        {{ null_if_placeholder('x_usage_type') }} as x_usage_type,
        billed_cost,
        effective_cost,
        list_cost,
        consumed_quantity,
        x_source_rows,
        _load_id as load_id
    from source
)

select * from renamed
