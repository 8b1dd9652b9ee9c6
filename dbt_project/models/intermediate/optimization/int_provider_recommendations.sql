-- Every provider recommendation of every snapshot, in one shape: the staging models of the
-- recommendation sources (AWS Cost Optimization Hub, Cost Explorer Savings Plans and
-- reservation purchase recommendations, Azure Advisor, Azure reservation recommendations),
-- one row per recommendation and snapshot day a run saw it.
select
    cast(null as string) as recommendation_key,
    cast(null as string) as source_recommendation_id,
    cast(null as date) as snapshot_date,
    cast(null as string) as source,
    cast(null as string) as provider_name,
    cast(null as string) as sub_account_id,
    cast(null as string) as resource_id,
    cast(null as string) as service_name,
    cast(null as string) as region_id,
    cast(null as string) as category,
    cast(null as string) as action,
    cast(null as decimal(38, 10)) as estimated_monthly_savings,
    cast(null as string) as billing_currency
where false
