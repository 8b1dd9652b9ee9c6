-- The Azure rows rate optimization reads, in FOCUS vocabulary, from the Query API's
-- commitment queries (raw.azure_commitment_costs, loaders/azure_cost_management/mapping.py):
-- usage per day x subscription x service priced on demand (Standard), spot (Dynamic) or by a
-- reservation / savings plan (Committed, per benefit: Used), the benefits' unused amortized
-- cost (UnusedReservation / UnusedSavingsPlan: Usage, Committed, Unused) and the purchases
-- (Purchase, per benefit; none for a Marketplace purchase). The pricing query's
-- Reservation / SavingsPlan rows are left out: the benefit query has the same money per
-- benefit, and it is counted once. Amounts: the Query API gives one cost a query - effective
-- (AmortizedCost) for usage and unused rows, billed (ActualCost) for purchases. billed_cost of
-- on-demand and spot usage is its amortized cost (nothing to amortize there), of committed
-- and unused rows 0 (the reservation or plan is billed by its purchase rows); effective_cost
-- of a purchase is 0 (amortized into the usage and unused rows). list_cost and
-- contracted_cost are null: the Query API aggregates no list or contracted price
-- (int_commitment_costs takes them from stg_azure_cost_management__price_details by
-- price_key).
-- Incremental on charge_date like stg_azure_cost_management__costs.
{{ config(**incremental_by_day()) }}
with

source as (
    select * from {{ source('azure_cost_management', 'azure_commitment_costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), column='usage_date') }}
),

keyed as (
    select
        *,
        {{ azure_benefit_keys() }}
    from source
),

kept as (
    select * from keyed
    where not (breakdown = 'PricingModel' and pricing_key in ('reservation', 'savingsplan'))
),

renamed as (
    select
        ---------- ids
        -- The raw row's identity: the loader's natural key within a source and scope.
        {{ surrogate_key([
            '_source', '_scope', 'usage_date', 'query_type', 'breakdown', 'subscription_id',
            'service_name', 'charge_type', 'pricing_model', 'benefit_id', 'currency',
        ]) }} as commitment_cost_row_id,
        -- As stg_azure_cost_management__costs: a billing-account scope names the billing
        -- account, otherwise the subscription id stands in for it.
        {{ azure_billing_account('_scope', 'lower(trim(subscription_id))') }} as billing_account_id,
        lower(trim(subscription_id)) as sub_account_id,
        -- The benefit's ARM id, lower-cased: cost rows and the reservations list spell the
        -- provider namespace differently (Microsoft.Capacity / microsoft.capacity).
        nullif(benefit_key, '') as commitment_discount_id,
        -- What stg_azure_cost_management__price_details is joined on besides the day,
        -- subscription, service, charge type and currency: a benefit row's benefit ('' for a
        -- purchase of none), a pricing row's pricing model.
        case
            when breakdown = 'BenefitId' then 'benefit:' || benefit_key
            else 'pricing:' || pricing_key
        end as price_key,
        _scope as scope,
        _load_id as load_id,

        ---------- strings
        'Azure' as provider_name,
        nullif(trim(subscription_name), '') as sub_account_name,
        service_name,
        case when charge_type = 'Purchase' then 'Purchase' else 'Usage' end as charge_category,
        case
            when charge_type = 'Purchase' then null
            when breakdown = 'BenefitId' then 'Committed'
            when pricing_key = 'ondemand' then 'Standard'
            when pricing_key = 'spot' then 'Dynamic'
            else 'Other'
        end as pricing_category,
        nullif(trim(benefit_name), '') as commitment_discount_name,
        case
            when benefit_key like '/providers/microsoft.capacity/%' then 'Reservation'
            when benefit_key like '/providers/microsoft.billingbenefits/%' then 'Savings Plan'
            when charge_type = 'UnusedReservation' then 'Reservation'
            when charge_type = 'UnusedSavingsPlan' then 'Savings Plan'
        end as commitment_discount_type,
        case
            when charge_type in ('UnusedReservation', 'UnusedSavingsPlan') then 'Unused'
            when breakdown = 'BenefitId' and charge_type = 'Usage' then 'Used'
        end as commitment_discount_status,
        -- No quantity: the Query API's UsageQuantity adds unlike units across meters.
        cast(null as string) as commitment_discount_unit,
        upper(trim(currency)) as billing_currency,
        query_type as x_query_type,
        breakdown as x_breakdown,
        pricing_model as x_pricing_model,
        charge_type as x_charge_type,
        _source as x_source,

        ---------- numerics
        cast(
            case when query_type = 'ActualCost' or breakdown = 'PricingModel' then cost else 0 end
            as decimal(38, 10)
        ) as billed_cost,
        cast(case when query_type = 'AmortizedCost' then cost else 0 end as decimal(38, 10))
            as effective_cost,
        cast(null as decimal(38, 10)) as commitment_discount_quantity,
        cast(null as decimal(38, 10)) as list_cost,
        cast(null as decimal(38, 10)) as contracted_cost,

        ---------- dates
        {{ date_from_yyyymmdd('cast(usage_date as string)') }} as charge_date,
        _loaded_at as loaded_at,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through

    from kept
),

final as (
    select
        *,
        case commitment_discount_type
            when 'Reservation' then 'Usage'
            when 'Savings Plan' then 'Spend'
        end as commitment_discount_category
    from renamed
)

select * from final
