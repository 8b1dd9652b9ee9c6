-- One row per Cost Explorer reservation purchase recommendation detail and snapshot day
-- (raw.aws_ri_purchase_recommendations), in the shape of the savings-opportunity ledger
-- (issue #19). Category: commitment_purchase.
--
-- Key: the account (the payer at payer scope), the service, the instance details (type,
-- region, platform, engine, ...: what to reserve), term and payment option - not an id.
-- Savings: EstimatedMonthlySavingsAmount as answered, in CurrencyCode (USD when Cost
-- Explorer names none).
with

source as (
    select * from {{ source('aws_recommendations', 'aws_ri_purchase_recommendations') }}
),

renamed as (
    select
        ---------- ids
        'aws_ri_purchase:' || coalesce(account_id, payer_account_id)
        || ':' || lower(service)
        || ':' || lower(coalesce(instance_details, ''))
        || ':' || lower(coalesce(term_in_years, ''))
        || ':' || lower(coalesce(payment_option, '')) as recommendation_key,
        recommendation_id as source_recommendation_id,

        ---------- dates
        snapshot_date,

        ---------- strings
        'aws_ri_purchase' as source,
        'AWS' as provider_name,
        coalesce(account_id, payer_account_id) as sub_account_id,
        cast(null as string) as resource_id,
        service as service_name,
        lower(region) as region_id,
        'commitment_purchase' as category,
        'Reserve '
        || coalesce(cast(cast(recommended_instances as bigint) as string) || ' x ', '')
        || coalesce(instance_type, 'instances')
        || coalesce(' in ' || region, '')
        || ' (' || service
        || case term_in_years
            when 'ONE_YEAR' then ', 1 year'
            when 'THREE_YEARS' then ', 3 years'
            else ''
        end
        || coalesce(', ' || lower(replace(payment_option, '_', ' ')), '')
        || ')' as action,

        ---------- numerics
        cast(estimated_monthly_savings as decimal(38, 10)) as estimated_monthly_savings,
        coalesce(upper(trim(currency_code)), 'USD') as billing_currency,
        _scope as ledger_scope

    from source
)

select * from renamed
