-- One row per Cost Optimization Hub recommendation and snapshot day (raw.aws_cost_
-- optimization_hub_recommendations), in the shape of the savings-opportunity ledger
-- (issue #19).
--
-- Category (a business rule, from the hub's actionType and currentResourceType):
--   rightsizing          Rightsize, ScaleIn
--   idle                 Stop, Delete
--   commitment_purchase  PurchaseSavingsPlans, PurchaseReservedInstances (the hub relays
--                        Cost Explorer's purchase recommendations: the ledger counts them once)
--   storage_tier         Upgrade of an EBS volume (gp2 -> gp3, io1 -> io2)
--   previous_generation  Upgrade of anything else (an instance or database generation)
--   other                MigrateToGraviton - x86 to Arm is an architecture change (rebuild,
--                        retest), not a newer generation of the same family, so it is kept
--                        apart from previous_generation (whose rule reports older families)
--                        - and any action the hub adds later
-- Key: the account, the resource (or, for a purchase, the recommended resource type and
-- region) and the action - what the hub recommends for what - not the hub's id, which it
-- regenerates. Savings: estimatedMonthlySavings as answered, in currencyCode (USD when the
-- hub names none).
with

source as (
    select * from {{ source('aws_recommendations', 'aws_cost_optimization_hub_recommendations') }}
),

categorized as (
    select
        *,
        case
            when action_type in ('Rightsize', 'ScaleIn') then 'rightsizing'
            when action_type in ('Stop', 'Delete') then 'idle'
            when action_type in ('PurchaseSavingsPlans', 'PurchaseReservedInstances')
                then 'commitment_purchase'
            when action_type = 'Upgrade' and current_resource_type = 'EbsVolume'
                then 'storage_tier'
            when action_type = 'Upgrade' then 'previous_generation'
            else 'other'
        end as x_category,
        coalesce(account_id, payer_account_id) as x_account
    from source
),

renamed as (
    select
        ---------- ids
        'aws_cost_optimization_hub:' || x_account
        || ':' || lower(coalesce(action_type, ''))
        || ':' || case
            when x_category = 'commitment_purchase'
                then
                    lower(coalesce(recommended_resource_type, current_resource_type, ''))
                    || ':' || lower(coalesce(region, ''))
            else lower(coalesce(resource_id, resource_arn, ''))
        end as recommendation_key,
        recommendation_id as source_recommendation_id,

        ---------- dates
        snapshot_date,

        ---------- strings
        'aws_cost_optimization_hub' as source,
        'AWS' as provider_name,
        x_account as sub_account_id,
        case when x_category != 'commitment_purchase' then resource_id end as resource_id,
        case current_resource_type
            when 'Ec2Instance' then 'Amazon Elastic Compute Cloud - Compute'
            when 'Ec2AutoScalingGroup' then 'Amazon Elastic Compute Cloud - Compute'
            when 'Ec2ReservedInstances' then 'Amazon Elastic Compute Cloud - Compute'
            when 'EbsVolume' then 'EC2 - Other'
            when 'NatGateway' then 'EC2 - Other'
            when 'LambdaFunction' then 'AWS Lambda'
            when 'EcsService' then 'Amazon Elastic Container Service'
            when 'RdsDbInstance' then 'Amazon Relational Database Service'
            when 'RdsDbInstanceStorage' then 'Amazon Relational Database Service'
            when 'RdsReservedInstances' then 'Amazon Relational Database Service'
            when 'AuroraDbClusterStorage' then 'Amazon Relational Database Service'
            when 'ElastiCacheReservedInstances' then 'Amazon ElastiCache'
            when 'ElastiCacheCluster' then 'Amazon ElastiCache'
            when 'OpenSearchReservedInstances' then 'Amazon OpenSearch Service'
            when 'RedshiftReservedInstances' then 'Amazon Redshift'
            when 'DynamoDbReservedCapacity' then 'Amazon DynamoDB'
            when 'DynamoDBTable' then 'Amazon DynamoDB'
            when 'ComputeSavingsPlans' then 'Savings Plans for AWS Compute usage'
            when 'Ec2InstanceSavingsPlans' then 'Savings Plans for AWS Compute usage'
            when 'SageMakerSavingsPlans' then 'Savings Plans for AWS Machine Learning'
            when 'SageMakerEndpoint' then 'Amazon SageMaker'
            when 'WorkSpaces' then 'Amazon WorkSpaces'
        end as service_name,
        lower(region) as region_id,
        x_category as category,
        coalesce(action_type, 'Act') || ' '
        || coalesce(current_resource_type, 'resource')
        || coalesce(' ' || resource_id, '')
        || coalesce(': ' || current_resource_summary, '')
        || coalesce(' -> ' || recommended_resource_summary, '') as action,

        ---------- numerics
        cast(estimated_monthly_savings as decimal(38, 10)) as estimated_monthly_savings,
        coalesce(upper(trim(currency_code)), 'USD') as billing_currency,
        _scope as ledger_scope

    from categorized
)

select * from renamed
