-- For every allocation key, fct_cost_allocation's values sum to fct_daily_costs of the same
-- day, provider, billing currency, charge category and service category to the cent, billed
-- and effective: allocation (tags, account maps, shared-cost splits) never creates, loses or
-- doubles money, and the dashboard's charges and category filters select the same cost in
-- both marts. Both sides per day over the days the build rebuilt (every day without a
-- window) and in total over all history (day 'all'); a key with no row of a day that has
-- cost differs by all of it. Returns one row per key x provider x currency x charge category
-- x service category x day (or 'all') that differs; nothing without keys.
{%- set compared_by = [
    'allocation_key', 'provider_name', 'billing_currency', 'charge_category', 'service_category',
] %}
{%- set keys = allocation_config()['keys'] %}
{%- set window = rebuilt_window_predicate('charge_date') %}
with

daily as (
    select * from {{ ref('fct_daily_costs') }}
),

allocation as (
    select * from {{ ref('fct_cost_allocation') }}
),

allocation_keys as (
    {%- for key in keys %}
        select {{ sql_string(key) }} as allocation_key
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- else %}
        select cast(null as string) as allocation_key where false
    {%- endfor %}
),

amounts as (
    select
        'daily' as side,
        allocation_keys.allocation_key,
        daily.provider_name,
        daily.billing_currency,
        daily.charge_category,
        daily.service_category,
        daily.charge_date,
        daily.billed_cost,
        daily.effective_cost
    from daily
    cross join allocation_keys

    union all

    select
        'allocation' as side,
        allocation_key,
        provider_name,
        billing_currency,
        charge_category,
        service_category,
        charge_date,
        billed_cost,
        effective_cost
    from allocation
),

totals as (
    select
        side,
        {{ compared_by | join(', ') }},
        cast(charge_date as string) as charge_day,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from amounts
    where {{ window }}
    group by side, {{ compared_by | join(', ') }}, charge_date

    union all

    select
        side,
        {{ compared_by | join(', ') }},
        'all' as charge_day,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from amounts
    group by side, {{ compared_by | join(', ') }}
),

compared as (
    select
        {{ compared_by | join(', ') }},
        charge_day,
        coalesce(sum(case when side = 'daily' then billed_cost end), 0) as daily_billed_cost,
        coalesce(sum(case when side = 'allocation' then billed_cost end), 0) as allocated_billed_cost,
        coalesce(sum(case when side = 'daily' then effective_cost end), 0) as daily_effective_cost,
        coalesce(sum(case when side = 'allocation' then effective_cost end), 0)
            as allocated_effective_cost
    from totals
    group by {{ compared_by | join(', ') }}, charge_day
),

final as (
    select
        *,
        allocated_billed_cost - daily_billed_cost as billed_difference,
        allocated_effective_cost - daily_effective_cost as effective_difference
    from compared
    where
        abs(allocated_billed_cost - daily_billed_cost) >= 0.005
        or abs(allocated_effective_cost - daily_effective_cost) >= 0.005
)

select * from final
