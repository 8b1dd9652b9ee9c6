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
-- whole effective cost (storage, IOPS, throughput), before and after the change
-- (macros/resource_rule.sql).
{%- set gp3_saving_share = 0.2 %}
{{ resource_rule(
    rule='gp2_volume',
    category='storage_tier',
    provider='AWS',
    match="lower(x_usage_type) like '%volumeusage.gp2'",
    saved_cost='effective_cost * ' ~ gp3_saving_share,
    action="'Modify EBS volume ' || resource_id || ' from gp2 to gp3'",
) }}
