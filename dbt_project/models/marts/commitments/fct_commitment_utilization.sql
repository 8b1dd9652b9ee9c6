-- How much of each commitment discount (savings plan, reservation) was used, per day:
-- used_cost = effective cost of its Used rows, unused_cost = of its Unused rows,
-- utilization = used / (used + unused), null when both are 0. Purchases (ChargeCategory
-- Purchase) are the cash side and left out; every other row of a commitment is its
-- amortized cost. A row without a status (FOCUS 1.0 files have no
-- CommitmentDiscountStatus) counts as used: it carries the commitment and a cost, and an
-- unused commitment is only told apart by that column. So used + unused of a commitment =
-- the effective cost of its non-purchase rows (assert_commitment_utilization_reconciles).
with

commitment_costs as (
    select * from {{ ref('int_commitment_costs') }}
    where
        commitment_discount_id is not null
        and coalesce(charge_category, '') != 'Purchase'
),

fx_rates as (
    select * from {{ ref('int_fx_rates_ranged') }}
),

daily as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        commitment_discount_id,
        billing_currency,
        max(commitment_discount_name) as commitment_discount_name,
        max(commitment_discount_type) as commitment_discount_type,
        max(commitment_discount_category) as commitment_discount_category,
        sum(
            case when coalesce(commitment_discount_status, 'Used') != 'Unused' then effective_cost else 0 end
        ) as used_cost,
        sum(case when commitment_discount_status = 'Unused' then effective_cost else 0 end) as unused_cost
    from commitment_costs
    group by
        charge_date,
        provider_name,
        billing_account_id,
        commitment_discount_id,
        billing_currency
),

converted as (
    {{ with_reporting_fx_rate('daily') }}
),

final as (
    select
        cast({{ surrogate_key([
            'charge_date', 'provider_name', 'billing_account_id', 'commitment_discount_id',
            'billing_currency',
        ]) }} as string) as commitment_utilization_id,
        cast(charge_date as date) as charge_date,
        cast(provider_name as string) as provider_name,
        cast(billing_account_id as string) as billing_account_id,
        cast(commitment_discount_id as string) as commitment_discount_id,
        cast(commitment_discount_name as string) as commitment_discount_name,
        cast(commitment_discount_type as string) as commitment_discount_type,
        cast(commitment_discount_category as string) as commitment_discount_category,
        cast(billing_currency as string) as billing_currency,
        cast(used_cost as decimal(38, 10)) as used_cost,
        cast(unused_cost as decimal(38, 10)) as unused_cost,
        {{ ratio('used_cost', 'used_cost + unused_cost') }} as utilization,
        cast(reporting_currency as string) as reporting_currency,
        cast(fx_rate as decimal(18, 10)) as fx_rate,
        {{ in_reporting_currency('used_cost') }} as used_cost_reporting,
        {{ in_reporting_currency('unused_cost') }} as unused_cost_reporting
    from converted
)

select * from final
