-- One row per commitment discount seen in the cost rows: its attributes, the billing
-- account, and the first and last day a row of it (usage, unused or purchase) was charged.
-- Start and end dates, term and payment option come from the providers' commitment APIs
-- (Cost Explorer, Azure reservations; the next step of issue #17): until a source gives
-- them they are null, and so is days_to_expiry - never guessed from the cost rows.
with

commitment_costs as (
    select * from {{ ref('int_commitment_costs') }}
    where commitment_discount_id is not null
),

commitments as (
    select
        provider_name,
        commitment_discount_id,
        max(commitment_discount_name) as commitment_discount_name,
        max(commitment_discount_type) as commitment_discount_type,
        max(commitment_discount_category) as commitment_discount_category,
        max(billing_account_id) as billing_account_id,
        min(charge_date) as first_charge_date,
        max(charge_date) as last_charge_date
    from commitment_costs
    group by provider_name, commitment_discount_id
),

final as (
    select
        cast({{ surrogate_key(['provider_name', 'commitment_discount_id']) }} as string)
            as commitment_discount_key,
        cast(provider_name as string) as provider_name,
        cast(commitment_discount_id as string) as commitment_discount_id,
        cast(commitment_discount_name as string) as commitment_discount_name,
        cast(commitment_discount_type as string) as commitment_discount_type,
        cast(commitment_discount_category as string) as commitment_discount_category,
        cast(billing_account_id as string) as billing_account_id,
        cast(first_charge_date as date) as first_charge_date,
        cast(last_charge_date as date) as last_charge_date,
        cast(null as date) as start_date,
        cast(null as date) as end_date,
        cast(null as string) as term,
        cast(null as string) as payment_option,
        cast(null as integer) as days_to_expiry
    from commitments
)

select * from final
