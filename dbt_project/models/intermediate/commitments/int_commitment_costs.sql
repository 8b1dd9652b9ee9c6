-- The usage and purchase rows of FOCUS files, and every other row of a commitment (a
-- credit or correction on it), at the grain rate optimization reads: day x
-- provider x billing account x sub account x service x charge category x pricing category
-- x commitment discount (id, status) x billing currency, with the commitment's attributes
-- and the per-row savings of the FinOps Foundation's definitions summed (a row = a daily
-- row of the import's rollup: file rows of one day and every kept dimension, summed).
--   negotiated savings = max(list - contracted, 0), commitment savings = max(contracted -
--   effective, 0), total savings = max(list - effective, 0).
-- A missing list price (ListCost null or 0 on a row with effective cost) gives no savings
-- and is counted in list_cost_missing_effective_cost; a missing contracted price counts as
-- the list price, so no negotiated saving is invented from it.
--
-- Incremental on charge_date like the staging table it reads
-- (macros/delete_days_to_rebuild.sql).
{{ config(**incremental_by_day()) }}
with

costs as (
    select * from {{ ref('stg_focus_files__costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

priced as (
    select
        *,
        coalesce(list_cost, 0) as list_price_cost,
        case
            when coalesce(contracted_cost, 0) = 0 and coalesce(list_cost, 0) != 0 then list_cost
            else coalesce(contracted_cost, 0)
        end as contracted_price_cost
    from costs
    where
        charge_category in ('Usage', 'Purchase')
        or commitment_discount_id is not null
),

grouped as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        charge_category,
        pricing_category,
        commitment_discount_id,
        commitment_discount_status,
        billing_currency,
        max(commitment_discount_name) as commitment_discount_name,
        max(commitment_discount_type) as commitment_discount_type,
        max(commitment_discount_category) as commitment_discount_category,
        max(commitment_discount_unit) as commitment_discount_unit,
        sum(commitment_discount_quantity) as commitment_discount_quantity,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(list_price_cost) as list_cost,
        sum(contracted_price_cost) as contracted_cost,
        sum(greatest(list_price_cost - contracted_price_cost, 0)) as negotiated_savings,
        sum(greatest(contracted_price_cost - effective_cost, 0)) as commitment_savings,
        sum(greatest(list_price_cost - effective_cost, 0)) as total_savings,
        sum(case when list_price_cost = 0 then effective_cost else 0 end)
            as list_cost_missing_effective_cost
    from priced
    group by
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        charge_category,
        pricing_category,
        commitment_discount_id,
        commitment_discount_status,
        billing_currency
),

final as (
    select
        {{ surrogate_key([
            'charge_date', 'provider_name', 'billing_account_id', 'sub_account_id', 'service_name',
            'charge_category', 'pricing_category', 'commitment_discount_id',
            'commitment_discount_status', 'billing_currency',
        ]) }} as commitment_cost_id,
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        charge_category,
        pricing_category,
        commitment_discount_id,
        commitment_discount_name,
        commitment_discount_type,
        commitment_discount_category,
        commitment_discount_status,
        commitment_discount_unit,
        cast(commitment_discount_quantity as decimal(38, 10)) as commitment_discount_quantity,
        billing_currency,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(list_cost as decimal(38, 10)) as list_cost,
        cast(contracted_cost as decimal(38, 10)) as contracted_cost,
        cast(negotiated_savings as decimal(38, 10)) as negotiated_savings,
        cast(commitment_savings as decimal(38, 10)) as commitment_savings,
        cast(total_savings as decimal(38, 10)) as total_savings,
        cast(list_cost_missing_effective_cost as decimal(38, 10)) as list_cost_missing_effective_cost,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from grouped
)

select * from final
