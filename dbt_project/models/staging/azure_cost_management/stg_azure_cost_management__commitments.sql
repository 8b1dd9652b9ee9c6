-- One row per Azure reservation or savings plan: its terms as the latest load listed them
-- (raw.azure_commitments, from the reservations and savings plans lists; a load lands the
-- benefits its scope's rows name, so one benefit may be listed under several scopes and
-- windows - the latest listing wins). Dates are UTC days; term and payment option in words.
-- A view: one row per commitment is small.
with

source as (
    select * from {{ source('azure_cost_management', 'azure_commitments') }}
),

latest as (
    select * from source
    qualify
        row_number() over (
            partition by lower(trim(benefit_id))
            order by _loaded_at desc, as_of_date desc, _scope asc
        ) = 1
),

renamed as (
    select
        ---------- ids
        -- lower-cased like stg_azure_cost_management__commitment_costs.commitment_discount_id
        lower(trim(benefit_id)) as commitment_discount_id,
        _scope as scope,
        _load_id as load_id,

        ---------- strings
        'Azure' as provider_name,
        nullif(trim(display_name), '') as commitment_discount_name,
        case benefit_kind
            when 'Reservation' then 'Reservation'
            when 'SavingsPlan' then 'Savings Plan'
        end as commitment_discount_type,
        case benefit_kind
            when 'Reservation' then 'Usage'
            when 'SavingsPlan' then 'Spend'
        end as commitment_discount_category,
        case upper(trim(term))
            when 'P1Y' then '1 Year'
            when 'P3Y' then '3 Years'
            when 'P5Y' then '5 Years'
            else term
        end as term,
        -- Reservations bill 'Upfront' or 'Monthly'; savings plans 'P1M' (monthly) or nothing
        -- (upfront, not guessed here: null).
        case
            when lower(trim(billing_plan)) in ('monthly', 'p1m') then 'Monthly'
            when lower(trim(billing_plan)) = 'upfront' then 'Upfront'
        end as payment_option,
        term as x_term,
        billing_plan as x_billing_plan,
        sku_name as x_sku_name,
        applied_scope_type as x_applied_scope_type,
        reserved_resource_type as x_reserved_resource_type,
        provisioning_state as x_provisioning_state,
        upper(trim(commitment_currency)) as commitment_currency,
        commitment_grain,
        _source as x_source,

        ---------- numerics
        cast(commitment_amount as decimal(38, 10)) as commitment_amount,

        ---------- dates
        -- The benefit's start: benefitStartTime; a savings plan's effectiveDateTime (billing
        -- started); else the purchase (a reservation's effectiveDateTime is its last update).
        cast(
            coalesce(
                benefit_start_time,
                case when benefit_kind = 'SavingsPlan' then effective_time end,
                purchase_time
            ) as date
        ) as start_date,
        cast(expiry_time as date) as end_date,
        as_of_date as listed_for_date,
        _loaded_at as listed_at

    from latest
)

select * from renamed
