-- One row per AWS commitment (savings plan or reservation) and day, in FOCUS vocabulary:
-- which commitment the SavingsPlan* / DiscountedUsage / RIFee cost rows belong to (their
-- used and unused amounts are the split keys of int_commitment_costs) and its terms. A view:
-- one row per commitment and day is small next to the cost rows.
with

source as (
    select * from {{ source('aws_cost_explorer', 'aws_commitment_utilization') }}
),

renamed as (
    select
        {{ surrogate_key(['_source', '_scope', 'time_period_start', 'commitment_kind', 'commitment_id']) }}
            as commitment_utilization_row_id,
        cast(time_period_start as date) as charge_date,
        'AWS' as provider_name,
        _scope as billing_account_id,
        owner_account_id as sub_account_id,
        commitment_kind,
        commitment_id as commitment_discount_id,
        commitment_type as commitment_discount_type,
        case commitment_kind when 'SavingsPlan' then 'Spend' else 'Usage' end
            as commitment_discount_category,
        cast(start_date as date) as start_date,
        cast(end_date as date) as end_date,
        term,
        payment_option,
        cast(used_amount as decimal(38, 10)) as used_amount,
        cast(unused_amount as decimal(38, 10)) as unused_amount,
        cast(on_demand_cost_equivalent as decimal(38, 10)) as on_demand_cost_equivalent,
        upper(trim(currency)) as billing_currency,
        _source as x_source
    from source
)

select * from renamed
