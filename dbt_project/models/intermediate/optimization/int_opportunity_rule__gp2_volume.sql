{{ config(materialized='table') }}
-- Billing-data rule `gp2_volume`: an Amazon EBS gp2 volume, which gp3 serves at a lower
-- price per GB-month with at least gp2's baseline performance (3,000 IOPS and 125 MB/s
-- included). A volume is modified to gp3 in place (same volume id, no downtime), so its
-- cost series continues and the drop after the change is the realized saving. Rationale:
-- AWS's own guidance and CUDOS's "gp2 to gp3" dashboard. Price assumption: gp3 costs 20 %
-- less per GB-month than gp2 (us-east-1: USD 0.08 against 0.10, the same ratio in the other
-- commercial regions, AWS EBS pricing page) - `gp3_saving_share` below; volumes that need
-- more than gp3's included IOPS pay extra there, so the estimate is an upper bound for them.
--
-- Matched by AWS's usage type (x_UsageType `<region prefix>-EBS:VolumeUsage.gp2`, or
-- `EBS:VolumeUsage.gp2` in us-east-1) on the FOCUS import's resource grain
-- (stg_focus_files__resource_costs). One row per volume and day; the series is the volume's
-- whole effective cost (storage, IOPS, throughput), before and after the change.
{%- set gp3_saving_share = 0.2 %}
with

resource_costs as (
    select * from {{ ref('stg_focus_files__resource_costs') }}
    where provider_name = 'AWS'
),

volume_days as (
    select
        resource_id,
        billing_currency,
        charge_date,
        max(sub_account_id) as sub_account_id,
        max(service_name) as service_name,
        max(region_id) as region_id,
        sum(effective_cost) as effective_cost,
        sum(
            case
                when lower(x_usage_type) like '%volumeusage.gp2' then effective_cost else 0
            end
        ) as gp2_storage_cost
    from resource_costs
    group by resource_id, billing_currency, charge_date
),

-- only the volumes that were gp2 on some day (their other days are the series after)
gp2_volumes as (
    select distinct
        resource_id,
        billing_currency
    from volume_days
    where gp2_storage_cost > 0
),

final as (
    select
        'rule:gp2_volume' as source,
        {{ surrogate_key(["'rule:gp2_volume'", "'AWS'", 'volume_days.resource_id', 'volume_days.billing_currency']) }}
            as opportunity_key,
        cast(volume_days.charge_date as date) as charge_date,
        'AWS' as provider_name,
        cast(volume_days.sub_account_id as string) as sub_account_id,
        cast(volume_days.resource_id as string) as resource_id,
        cast(volume_days.service_name as string) as service_name,
        cast(volume_days.region_id as string) as region_id,
        'storage_tier' as category,
        cast('Modify EBS volume ' || volume_days.resource_id || ' from gp2 to gp3' as string)
            as action,
        cast(volume_days.billing_currency as string) as billing_currency,
        volume_days.gp2_storage_cost > 0 as is_match,
        cast(
            greatest(volume_days.gp2_storage_cost, 0) * {{ gp3_saving_share }} as decimal(38, 10)
        ) as wasted_cost,
        cast(volume_days.effective_cost as decimal(38, 10)) as series_cost
    from volume_days
    inner join gp2_volumes
        on
            volume_days.resource_id = gp2_volumes.resource_id
            and volume_days.billing_currency = gp2_volumes.billing_currency
)

select * from final
