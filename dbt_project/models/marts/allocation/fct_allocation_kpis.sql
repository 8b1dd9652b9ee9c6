-- How much of each month's cost a key allocates, per provider and billing currency
-- (effective, amortized cost: what each owner consumed): tagged_cost carries a tag value of
-- the key; untagged_cost is taggable cost without one (allocated by an account map or a
-- shared rule, or not at all); untaggable_cost is tax, credits, commitment purchases and
-- unused commitment fees, which nobody can tag. untagged_share = untagged / (tagged +
-- untagged), of taggable cost; allocated_share = the share of total_cost with a value other
-- than `(unallocated)`. Ratios null when their base is 0. Without keys: no row.
with

allocation as (
    select * from {{ ref('int_cost_allocation_split') }}
),

monthly as (
    select
        cast(date_trunc('month', charge_date) as date) as billing_month,
        provider_name,
        allocation_key,
        billing_currency,
        sum(effective_cost) as total_cost,
        sum(case when is_taggable and allocation_method = 'tag' then effective_cost else 0 end)
            as tagged_cost,
        sum(case when is_taggable and allocation_method != 'tag' then effective_cost else 0 end)
            as untagged_cost,
        sum(case when not is_taggable then effective_cost else 0 end) as untaggable_cost,
        sum(case when allocation_value != '(unallocated)' then effective_cost else 0 end)
            as allocated_cost
    from allocation
    group by
        cast(date_trunc('month', charge_date) as date),
        provider_name,
        allocation_key,
        billing_currency
),

final as (
    select
        cast({{ surrogate_key(['billing_month', 'provider_name', 'allocation_key', 'billing_currency']) }} as string)
            as allocation_kpi_id,
        cast(billing_month as date) as billing_month,
        cast(provider_name as string) as provider_name,
        cast(allocation_key as string) as allocation_key,
        cast(billing_currency as string) as billing_currency,
        cast(total_cost as decimal(38, 10)) as total_cost,
        cast(tagged_cost as decimal(38, 10)) as tagged_cost,
        cast(untagged_cost as decimal(38, 10)) as untagged_cost,
        cast(untaggable_cost as decimal(38, 10)) as untaggable_cost,
        {{ ratio('untagged_cost', 'tagged_cost + untagged_cost') }} as untagged_share,
        {{ ratio('allocated_cost', 'total_cost') }} as allocated_share
    from monthly
)

select * from final
