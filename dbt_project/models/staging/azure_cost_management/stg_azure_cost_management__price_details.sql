-- The Cost Details reports' prices (raw.azure_price_details, loaders/azure_cost_management/
-- mapping.py "price details"), one row per raw row, keyed like
-- stg_azure_cost_management__commitment_costs so int_commitment_costs can give its Azure
-- rows their list and contracted cost: `price_key` is the benefit (lower-cased BenefitId) for
-- the rows a benefit query lands there (committed usage, unused commitment, purchases - ''
-- for a purchase of none), the pricing model (lower-cased, without spaces) for the usage a
-- pricing query lands (on demand, spot). The money stays the Query API's: effective_cost
-- here is the report's own, for reconciliation only.
-- Incremental on charge_date like stg_azure_cost_management__commitment_costs.
{{ config(**incremental_by_day()) }}
with

source as (
    select * from {{ source('azure_cost_management', 'azure_price_details') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), column='usage_date') }}
),

keyed as (
    select
        *,
        {{ azure_benefit_keys() }}
    from source
),

renamed as (
    select
        ---------- ids
        -- The raw row's identity: the loader's natural key within a source and scope.
        {{ surrogate_key([
            '_source', '_scope', 'usage_date', 'subscription_id', 'service_name', 'charge_type',
            'pricing_model', 'benefit_id', 'currency',
        ]) }} as price_detail_row_id,
        lower(trim(subscription_id)) as sub_account_id,
        nullif(benefit_key, '') as commitment_discount_id,
        case
            when charge_type = 'Usage' and benefit_key = '' then 'pricing:' || pricing_key
            else 'benefit:' || benefit_key
        end as price_key,
        _scope as scope,
        _load_id as load_id,

        ---------- strings
        'Azure' as provider_name,
        service_name,
        charge_type as x_charge_type,
        pricing_model as x_pricing_model,
        upper(trim(currency)) as billing_currency,
        _source as x_source,

        ---------- numerics
        cast(list_cost as decimal(38, 10)) as list_cost,
        cast(contracted_cost as decimal(38, 10)) as contracted_cost,
        cast(effective_cost as decimal(38, 10)) as x_report_effective_cost,
        detail_rows as x_detail_rows,

        ---------- dates
        {{ date_from_yyyymmdd('cast(usage_date as string)') }} as charge_date,
        _loaded_at as loaded_at,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through

    from keyed
)

select * from renamed
