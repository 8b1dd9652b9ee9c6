{{ config(materialized='table') }}
-- Billing-data rule `unused_commitment`: a commitment discount (savings plan, reservation)
-- that leaves part of what it costs unused. Its Unused rows (CommitmentDiscountStatus
-- Unused, not the Purchase: the amortized cost of the commitment no usage took) are money
-- paid for nothing; the saving is that cost, by raising eligible usage onto the commitment,
-- exchanging it (Azure reservations, AWS Convertible RIs) or selling it (AWS Standard RIs on
-- the Reserved Instance Marketplace) - FinOps Foundation "Rate Optimization": unused
-- commitment is the waste of a commitment. Price assumption: none - the bill's own effective
-- cost of the Unused rows (int_commitment_costs, the same rows fct_commitment_utilization
-- counts as unused_cost).
--
-- One row per commitment and day it left something unused (the rule days; the rule holds on
-- every one of them): int_rule_opportunities turns them into opportunities (first / last
-- seen, status, monthly savings, realized savings once the unused cost stopped). The series
-- whose drop measures the realized saving is the unused cost itself.
with

commitment_costs as (
    select * from {{ ref('int_commitment_costs') }}
    where
        commitment_discount_id is not null
        and commitment_discount_status = 'Unused'
        and coalesce(charge_category, '') != 'Purchase'
),

unused_days as (
    select
        provider_name,
        commitment_discount_id,
        billing_currency,
        charge_date,
        max(sub_account_id) as sub_account_id,
        max(service_name) as service_name,
        max(commitment_discount_name) as commitment_discount_name,
        max(commitment_discount_type) as commitment_discount_type,
        sum(effective_cost) as unused_cost
    from commitment_costs
    group by provider_name, commitment_discount_id, billing_currency, charge_date
),

final as (
    select
        'rule:unused_commitment' as source,
        {{ surrogate_key(["'rule:unused_commitment'", 'provider_name', 'commitment_discount_id', 'billing_currency']) }}
            as opportunity_key,
        cast(charge_date as date) as charge_date,
        cast(provider_name as string) as provider_name,
        cast(sub_account_id as string) as sub_account_id,
        cast(commitment_discount_id as string) as resource_id,
        cast(service_name as string) as service_name,
        cast(null as string) as region_id,
        'unused_commitment' as category,
        cast(
            'Use, exchange or sell the unused part of '
            || coalesce(commitment_discount_type || ' ', 'commitment ')
            || coalesce(commitment_discount_name, commitment_discount_id)
            as string
        ) as action,
        cast(billing_currency as string) as billing_currency,
        unused_cost > 0 as is_match,
        cast(greatest(unused_cost, 0) as decimal(38, 10)) as wasted_cost,
        cast(unused_cost as decimal(38, 10)) as series_cost
    from unused_days
    where unused_cost != 0
)

select * from final
