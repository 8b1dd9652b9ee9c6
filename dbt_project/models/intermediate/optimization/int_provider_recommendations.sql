-- Every provider recommendation of every snapshot, in one shape: the staging models of the
-- recommendation sources (docs/optimization.md), one row per recommendation and snapshot
-- day a run saw it. Azure: Advisor cost recommendations and the Consumption reservation
-- recommendations (loaders/azure_recommendations); AWS: Cost Optimization Hub and Cost
-- Explorer's Savings Plans and reservation purchase recommendations
-- (loaders/aws_recommendations).
with

aws_hub as (
    select * from {{ ref('stg_aws_recommendations__cost_optimization_hub') }}
),

aws_savings_plans as (
    select * from {{ ref('stg_aws_recommendations__sp_purchase') }}
),

aws_reservations as (
    select * from {{ ref('stg_aws_recommendations__ri_purchase') }}
),

azure_advisor as (
    select * from {{ ref('stg_azure_recommendations__advisor_recommendations') }}
),

azure_reservations as (
    select * from {{ ref('stg_azure_recommendations__reservation_recommendations') }}
),

unioned as (
    select * from aws_hub
    union all
    select * from aws_savings_plans
    union all
    select * from aws_reservations
    union all
    select * from azure_advisor
    union all
    select * from azure_reservations
)

select
    cast(recommendation_key as string) as recommendation_key,
    cast(source_recommendation_id as string) as source_recommendation_id,
    cast(snapshot_date as date) as snapshot_date,
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
    cast(ledger_scope as string) as ledger_scope
from unioned
