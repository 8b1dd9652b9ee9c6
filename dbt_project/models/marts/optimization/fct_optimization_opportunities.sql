-- The savings opportunities ledger (issue #19): one row per opportunity, from the providers'
-- recommendations (int_provider_recommendations: one row per recommendation and snapshot
-- day a run saw it) and the billing-data rules (int_rule_opportunities: derived from the
-- cost data), with a stable opportunity_id (md5 of source and the source's key of the
-- opportunity) from first seen to gone.
--
-- Provider recommendations: first_seen / last_seen are the first and last snapshot that
-- had it; 'open' while the latest snapshot of its source and scope (the latest day the API
-- answered there, even with nothing: int_recommendation_snapshots) has it, else 'gone'; a
-- scope that could not be read that day (HTTP 403) changes nothing; the estimate is the
-- latest snapshot's. A gone one's realized_monthly_savings is measured like a rule's, on
-- its resource's cost in the FOCUS import's resource grain (int_resource_daily_costs): the
-- resource's cost per day in the up to 30 days ending on last_seen minus its cost per day
-- in the up to 30 days after (to the provider's latest charge date), x 30. It stays null
-- when that cannot be measured: no resource id, a resource the grain does not hold (no
-- FOCUS source, or its days before last_seen are no longer kept), or no cost data after
-- last_seen yet.
--
-- The same saving counted once: opportunities of one duplicate group - commitment purchases
-- of the same account (provider, sub account, currency), or the same resource (provider,
-- category, currency and resource id, case-insensitive) - are
-- one saving reported several times or alternatives to each other (Cost Optimization Hub
-- relays Cost Explorer's purchase recommendations; Compute and EC2 Instance Savings Plans,
-- and reservations, cover the same usage; Advisor relays the reservation
-- recommendations). Within a group the counted one is the open one with the largest
-- estimate (ties: the provider's own over a rule, then by source and id); every other
-- row names it in duplicate_of and counts nowhere (KPIs, report, dashboard sum rows with
-- duplicate_of null).
with

recommendations as (
    select * from {{ ref('int_provider_recommendations') }}
),

snapshots as (
    select * from {{ ref('int_recommendation_snapshots') }}
),

rule_opportunities as (
    select * from {{ ref('int_rule_opportunities') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_ranged') }}
),

resource_days as (
    select * from {{ ref('int_resource_daily_costs') }}
),

data_ends as (
    select
        provider_scope as provider_name,
        max(charge_date) as data_end
    from {{ ref('int_daily_costs_by_scope') }}
    where provider_scope != 'All'
    group by provider_scope
),

latest_sightings as (
    select
        *,
        row_number() over (
            partition by source, recommendation_key order by snapshot_date desc
        ) as recency
    from recommendations
),

sightings as (
    select
        source,
        recommendation_key,
        min(snapshot_date) as first_seen,
        max(snapshot_date) as last_seen
    from recommendations
    group by source, recommendation_key
),

provider_sightings as (
    select
        latest_sightings.source,
        latest_sightings.recommendation_key as opportunity_key,
        latest_sightings.provider_name,
        latest_sightings.sub_account_id,
        latest_sightings.resource_id,
        latest_sightings.service_name,
        latest_sightings.region_id,
        latest_sightings.category,
        latest_sightings.action,
        latest_sightings.estimated_monthly_savings,
        latest_sightings.billing_currency,
        sightings.first_seen,
        sightings.last_seen,
        case
            when sightings.last_seen >= snapshots.latest_snapshot_date then 'open' else 'gone'
        end as status,
        0 as rule_rank
    from latest_sightings
    inner join sightings
        on
            latest_sightings.source = sightings.source
            and latest_sightings.recommendation_key = sightings.recommendation_key
    left join snapshots
        on
            latest_sightings.source = snapshots.source
            and latest_sightings.ledger_scope = snapshots.ledger_scope
    where latest_sightings.recency = 1
),

-- a gone recommendation's resource around last_seen: its first day in the resource grain,
-- its cost in the 30 days ending on last_seen and in the 30 days after
provider_resource_costs as (
    select
        provider_sightings.source,
        provider_sightings.opportunity_key,
        min(resource_days.charge_date) as series_first,
        sum(
            case
                when {{ days_between('provider_sightings.last_seen', 'resource_days.charge_date') }}
                    between -29 and 0
                    then resource_days.effective_cost
                else 0
            end
        ) as series_before,
        sum(
            case
                when {{ days_between('provider_sightings.last_seen', 'resource_days.charge_date') }}
                    between 1 and 30
                    and resource_days.charge_date <= data_ends.data_end
                    then resource_days.effective_cost
                else 0
            end
        ) as series_after
    from provider_sightings
    inner join resource_days
        on
            provider_sightings.provider_name = resource_days.provider_name
            and lower(provider_sightings.resource_id) = resource_days.resource_key
            and provider_sightings.billing_currency = resource_days.billing_currency
    inner join data_ends
        on provider_sightings.provider_name = data_ends.provider_name
    where provider_sightings.status = 'gone'
    group by provider_sightings.source, provider_sightings.opportunity_key
),

provider_opportunities as (
    select
        provider_sightings.source,
        provider_sightings.opportunity_key,
        provider_sightings.provider_name,
        provider_sightings.sub_account_id,
        provider_sightings.resource_id,
        provider_sightings.service_name,
        provider_sightings.region_id,
        provider_sightings.category,
        provider_sightings.action,
        provider_sightings.estimated_monthly_savings,
        provider_sightings.billing_currency,
        provider_sightings.first_seen,
        provider_sightings.last_seen,
        provider_sightings.status,
        case
            when
                provider_resource_costs.series_first <= provider_sightings.last_seen
                and data_ends.data_end > provider_sightings.last_seen
                then {{ monthly_drop(
                    'provider_resource_costs.series_before',
                    days_between(
                        'greatest(provider_resource_costs.series_first, provider_sightings.last_seen - 29)',
                        'provider_sightings.last_seen',
                    ) ~ ' + 1',
                    'provider_resource_costs.series_after',
                    'least(' ~ days_between('provider_sightings.last_seen', 'data_ends.data_end') ~ ', 30)',
                ) }}
        end as realized_monthly_savings,
        provider_sightings.rule_rank
    from provider_sightings
    left join provider_resource_costs
        on
            provider_sightings.source = provider_resource_costs.source
            and provider_sightings.opportunity_key = provider_resource_costs.opportunity_key
    left join data_ends
        on provider_sightings.provider_name = data_ends.provider_name
),

unioned as (
    select * from provider_opportunities

    union all

    select
        source,
        opportunity_key,
        provider_name,
        sub_account_id,
        resource_id,
        service_name,
        region_id,
        category,
        action,
        estimated_monthly_savings,
        billing_currency,
        first_seen,
        last_seen,
        status,
        realized_monthly_savings,
        1 as rule_rank
    from rule_opportunities
),

keyed as (
    select
        *,
        {{ surrogate_key(['source', 'opportunity_key']) }} as opportunity_id,
        case
            when category = 'commitment_purchase'
                then concat_ws('|', provider_name, category, billing_currency, coalesce(sub_account_id, ''))
            when resource_id is not null
                then concat_ws('|', provider_name, category, billing_currency, lower(resource_id))
        end as duplicate_group
    from unioned
),

ranked as (
    select
        *,
        first_value(opportunity_id) over (
            partition by coalesce(duplicate_group, opportunity_id)
            order by
                case when status = 'open' then 0 else 1 end asc,
                estimated_monthly_savings desc,
                rule_rank asc,
                source asc,
                opportunity_id asc
        ) as counted_id
    from keyed
),

-- the reporting currency at the rate in force on last_seen (the estimate's day)
converted as (
    {{ with_reporting_fx_rate('ranked', day='last_seen') }}
),

final as (
    select
        cast(opportunity_id as string) as opportunity_id,
        cast(source as string) as source,
        cast(provider_name as string) as provider_name,
        cast(sub_account_id as string) as sub_account_id,
        cast(resource_id as string) as resource_id,
        cast(service_name as string) as service_name,
        cast(region_id as string) as region_id,
        cast(category as string) as category,
        cast(action as string) as action,
        cast(estimated_monthly_savings as decimal(38, 10)) as estimated_monthly_savings,
        cast(billing_currency as string) as billing_currency,
        cast(first_seen as date) as first_seen,
        cast(last_seen as date) as last_seen,
        cast(status as string) as status,
        cast(realized_monthly_savings as decimal(38, 10)) as realized_monthly_savings,
        cast(case when counted_id != opportunity_id then counted_id end as string) as duplicate_of,
        cast(reporting_currency as string) as reporting_currency,
        cast(fx_rate as decimal(18, 10)) as fx_rate,
        {{ in_reporting_currency('estimated_monthly_savings') }} as estimated_monthly_savings_reporting,
        {{ in_reporting_currency('realized_monthly_savings') }} as realized_monthly_savings_reporting
    from converted
)

select * from final
