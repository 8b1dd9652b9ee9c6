-- A sub account's day is landed under one scope only. The same AWS linked account under
-- two payer scopes, an Azure subscription loaded both at subscription and at
-- billing-account scope, or an account landed both by a cost API and by FOCUS files (say
-- FINOPS_SOURCES=aws,focus over the same payer account) would double its cost. Accounts
-- are compared across raw tables as the staging models name them (normalised provider,
-- lower-case Azure subscription guid); FOCUS scopes count per billing account, not per
-- billing period (a late charge in the next period's files is the same account). Returns
-- the doubled account-days.
with

raw_aws as (
    select * from {{ source('aws_cost_explorer', 'aws_cost_explorer') }}
),

raw_azure as (
    select * from {{ source('azure_cost_management', 'azure_cost_management') }}
),

focus_costs as (
    select * from {{ ref('stg_focus_files__costs') }}
),

account_days as (
    select distinct
        'AWS' as provider_name,
        linked_account_id as sub_account_id,
        time_period_start as charge_date,
        _scope as scope
    from raw_aws

    union all

    select distinct
        'Azure' as provider_name,
        lower(subscription_id) as sub_account_id,
        {{ date_from_yyyymmdd('cast(usage_date as string)') }} as charge_date,
        _scope as scope
    from raw_azure

    union all

    select distinct
        provider_name,
        sub_account_id,
        charge_date,
        'focus files: ' || billing_account_scope as scope
    from focus_costs
),

scopes_per_day as (
    select
        provider_name,
        sub_account_id,
        charge_date,
        count(distinct scope) as scopes,
        string_agg(distinct scope, ', ') as scope_list
    from account_days
    group by provider_name, sub_account_id, charge_date
),

final as (
    select *
    from scopes_per_day
    where scopes > 1
)

select * from final
