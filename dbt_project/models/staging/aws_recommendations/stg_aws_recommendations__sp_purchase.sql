-- One row per Cost Explorer Savings Plans purchase recommendation detail and snapshot day
-- (raw.aws_sp_purchase_recommendations), in the shape of the savings-opportunity ledger
-- (issue #19). Category: commitment_purchase.
--
-- Key: the account (the payer at payer scope), the Savings Plans type, term and payment
-- option, and for an EC2 Instance Savings Plan its region and instance family - what to buy
-- where - not Cost Explorer's detail id. Savings: EstimatedMonthlySavingsAmount as
-- answered, in CurrencyCode (USD when Cost Explorer names none).
with

source as (
    select * from {{ source('aws_recommendations', 'aws_sp_purchase_recommendations') }}
),

renamed as (
    select
        ---------- ids
        'aws_sp_purchase:' || coalesce(account_id, payer_account_id)
        || ':' || lower(savings_plans_type)
        || ':' || lower(coalesce(term_in_years, ''))
        || ':' || lower(coalesce(payment_option, ''))
        || ':' || lower(coalesce(region, ''))
        || ':' || lower(coalesce(instance_family, '')) as recommendation_key,
        recommendation_id as source_recommendation_id,

        ---------- dates
        snapshot_date,

        ---------- strings
        'aws_sp_purchase' as source,
        'AWS' as provider_name,
        coalesce(account_id, payer_account_id) as sub_account_id,
        cast(null as string) as resource_id,
        case savings_plans_type
            when 'SAGEMAKER_SP' then 'Savings Plans for AWS Machine Learning'
            else 'Savings Plans for AWS Compute usage'
        end as service_name,
        lower(region) as region_id,
        'commitment_purchase' as category,
        'Buy a '
        || case savings_plans_type
            when 'COMPUTE_SP' then 'Compute Savings Plan'
            when 'EC2_INSTANCE_SP' then 'EC2 Instance Savings Plan'
            when 'SAGEMAKER_SP' then 'SageMaker Savings Plan'
            else savings_plans_type
        end
        || coalesce(' of ' || cast(hourly_commitment as string) || ' an hour', '')
        || coalesce(' (' || instance_family || coalesce(' in ' || region, '') || ')', '')
        || case term_in_years
            when 'ONE_YEAR' then ', 1 year'
            when 'THREE_YEARS' then ', 3 years'
            else ''
        end
        || coalesce(', ' || lower(replace(payment_option, '_', ' ')), '') as action,

        ---------- numerics
        cast(estimated_monthly_savings as decimal(38, 10)) as estimated_monthly_savings,
        coalesce(upper(trim(currency_code)), 'USD') as billing_currency,
        _scope as ledger_scope

    from source
)

select * from renamed
