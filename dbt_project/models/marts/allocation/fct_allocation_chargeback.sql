-- The monthly chargeback: what each value of each allocation key owes per month and billing
-- currency (every provider together), billed and effective, and in the reporting currency
-- (each day at its own as-of rate, as fct_cost_allocation). Exported as CSV with the other
-- marts: the file a finance team books. Sums of fct_cost_allocation, so every key's month
-- equals the month's cost. No rows without keys.
with

allocation as (
    select * from {{ ref('fct_cost_allocation') }}
),

monthly as (
    select
        cast(date_trunc('month', charge_date) as date) as billing_month,
        allocation_key,
        allocation_value,
        billing_currency,
        max(reporting_currency) as reporting_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(billed_cost_reporting) as billed_cost_reporting,
        sum(effective_cost_reporting) as effective_cost_reporting
    from allocation
    group by
        cast(date_trunc('month', charge_date) as date),
        allocation_key,
        allocation_value,
        billing_currency
),

final as (
    select
        cast({{ surrogate_key(['billing_month', 'allocation_key', 'allocation_value', 'billing_currency']) }} as string)
            as chargeback_id,
        cast(billing_month as date) as billing_month,
        cast(allocation_key as string) as allocation_key,
        cast(allocation_value as string) as allocation_value,
        cast(billing_currency as string) as billing_currency,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(reporting_currency as string) as reporting_currency,
        cast(billed_cost_reporting as decimal(38, 10)) as billed_cost_reporting,
        cast(effective_cost_reporting as decimal(38, 10)) as effective_cost_reporting
    from monthly
)

select * from final
