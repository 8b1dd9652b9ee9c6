-- One row per commitment discount seen in the cost rows: its attributes, the billing
-- account, and the first and last day a row of it (usage, unused or purchase) was charged.
-- Start and end dates, term and payment option come from the providers' commitment APIs
-- (Cost Explorer's commitment operations, the latest day's answer; Azure's reservations and
-- savings plans lists): where no source
-- gives them they are null, and so is days_to_expiry - never guessed from the cost rows.
-- days_to_expiry counts from the last charge date of the warehouse (fct_daily_costs), not
-- from the wall clock, so a rebuild of the same data gives the same answer.
with

commitment_costs as (
    select * from {{ ref('int_commitment_costs') }}
    where commitment_discount_id is not null
),

aws_terms as (
    select
        provider_name,
        commitment_discount_id,
        max_by(start_date, charge_date) as start_date,
        max_by(end_date, charge_date) as end_date,
        max_by(term, charge_date) as term,
        max_by(payment_option, charge_date) as payment_option
    from {{ ref('stg_aws_cost_explorer__commitment_utilization') }}
    group by provider_name, commitment_discount_id
),

azure_terms as (
    select
        provider_name,
        commitment_discount_id,
        start_date,
        end_date,
        term,
        payment_option
    from {{ ref('stg_azure_cost_management__commitments') }}
),

terms as (
    select * from aws_terms
    union all
    select * from azure_terms
),

as_of as (
    select max(charge_date) as as_of_date from {{ ref('fct_daily_costs') }}
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
        cast({{ surrogate_key(['commitments.provider_name', 'commitments.commitment_discount_id']) }} as string)
            as commitment_discount_key,
        cast(commitments.provider_name as string) as provider_name,
        cast(commitments.commitment_discount_id as string) as commitment_discount_id,
        cast(commitments.commitment_discount_name as string) as commitment_discount_name,
        cast(commitments.commitment_discount_type as string) as commitment_discount_type,
        cast(commitments.commitment_discount_category as string) as commitment_discount_category,
        cast(commitments.billing_account_id as string) as billing_account_id,
        cast(commitments.first_charge_date as date) as first_charge_date,
        cast(commitments.last_charge_date as date) as last_charge_date,
        cast(terms.start_date as date) as start_date,
        cast(terms.end_date as date) as end_date,
        cast(terms.term as string) as term,
        cast(terms.payment_option as string) as payment_option,
        cast({{ days_between('as_of.as_of_date', 'terms.end_date') }} as integer)
            as days_to_expiry
    from commitments
    left join terms
        on
            commitments.provider_name = terms.provider_name
            and commitments.commitment_discount_id = terms.commitment_discount_id
    cross join as_of
)

select * from final
