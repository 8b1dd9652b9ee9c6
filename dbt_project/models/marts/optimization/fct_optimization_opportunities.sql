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
-- latest snapshot's. realized_monthly_savings stays null for them: the cost APIs give no
-- resource's cost to measure a drop on (the FOCUS resource-grain table of issue #19 part 2
-- will).
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

provider_opportunities as (
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
        cast(null as decimal(38, 10)) as realized_monthly_savings,
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
