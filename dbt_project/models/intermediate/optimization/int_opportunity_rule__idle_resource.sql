{{ config(materialized='table') }}
-- Billing-data rule `idle_resource`: a resource that costs money while consuming nothing.
-- A resource day is idle when its usage rows cost something (effective cost > 0) and the
-- quantity they consumed is zero (at least one of them reports a ConsumedQuantity, and they
-- sum to 0: an unattached volume's I/O, a load balancer without traffic, an idle address).
-- The rule holds on a day that ends a run of `idle_days` (7) idle days of the resource: a
-- day or two without traffic is no reason to delete anything. Rationale: the FinOps
-- Foundation's "Workload Optimization" - idle resources are the first waste to remove (AWS
-- Trusted Advisor and Azure Advisor flag the same). Price assumption: none - deleting or
-- stopping the resource saves its own cost, so an idle day's saving is its usage cost.
--
-- One row per resource and day of stg_focus_files__resource_costs (the FOCUS import's last
-- FINOPS_FOCUS_RESOURCE_DAYS days); the series whose drop measures a realized saving is the
-- resource's effective cost (0 once it is deleted: no row).
{%- set idle_days = 7 %}
with

resource_costs as (
    select * from {{ ref('stg_focus_files__resource_costs') }}
),

resource_days as (
    select
        provider_name,
        resource_id,
        billing_currency,
        charge_date,
        max(sub_account_id) as sub_account_id,
        max(service_name) as service_name,
        max(region_id) as region_id,
        max(resource_type) as resource_type,
        sum(effective_cost) as effective_cost,
        sum(case when charge_category = 'Usage' then effective_cost else 0 end) as usage_cost,
        count(case when charge_category = 'Usage' then consumed_quantity end) as measured_rows,
        sum(case when charge_category = 'Usage' then consumed_quantity else 0 end) as consumed
    from resource_costs
    group by provider_name, resource_id, billing_currency, charge_date
),

flagged as (
    select
        *,
        usage_cost > 0 and measured_rows > 0 and consumed = 0 as is_idle
    from resource_days
),

-- the idle days of each resource's `idle_days` days ending on the day
streaks as (
    select
        flagged.provider_name,
        flagged.resource_id,
        flagged.billing_currency,
        flagged.charge_date,
        count(earlier.charge_date) as idle_days_in_run
    from flagged
    left join flagged as earlier
        on
            flagged.provider_name = earlier.provider_name
            and flagged.resource_id = earlier.resource_id
            and flagged.billing_currency = earlier.billing_currency
            and earlier.is_idle
            and {{ days_between('earlier.charge_date', 'flagged.charge_date') }}
            between 0 and {{ idle_days - 1 }}
    group by
        flagged.provider_name, flagged.resource_id, flagged.billing_currency, flagged.charge_date
),

final as (
    select
        'rule:idle_resource' as source,
        {{ surrogate_key([
            "'rule:idle_resource'", 'flagged.provider_name', 'flagged.resource_id',
            'flagged.billing_currency',
        ]) }} as opportunity_key,
        cast(flagged.charge_date as date) as charge_date,
        cast(flagged.provider_name as string) as provider_name,
        cast(flagged.sub_account_id as string) as sub_account_id,
        cast(flagged.resource_id as string) as resource_id,
        cast(flagged.service_name as string) as service_name,
        cast(flagged.region_id as string) as region_id,
        'idle' as category,
        cast(
            'Delete or stop idle '
            || coalesce(flagged.resource_type, flagged.service_name)
            || ' ' || flagged.resource_id
            || ': cost without consumption for ' || '{{ idle_days }}' || '+ days'
            as string
        ) as action,
        cast(flagged.billing_currency as string) as billing_currency,
        streaks.idle_days_in_run = {{ idle_days }} as is_match,
        -- every idle day's usage cost was wasted (the estimate's rate), the rule holds
        -- from the 7th
        cast(case when flagged.is_idle then flagged.usage_cost else 0 end as decimal(38, 10))
            as wasted_cost,
        cast(flagged.effective_cost as decimal(38, 10)) as series_cost
    from flagged
    inner join streaks
        on
            flagged.provider_name = streaks.provider_name
            and flagged.resource_id = streaks.resource_id
            and flagged.billing_currency = streaks.billing_currency
            and flagged.charge_date = streaks.charge_date
)

select * from final
