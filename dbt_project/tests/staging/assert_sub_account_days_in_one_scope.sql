-- A sub account's day is landed under one scope only. The same AWS linked account under
-- two payer scopes, or an Azure subscription loaded both at subscription and at
-- billing-account scope, would double its cost. Returns the doubled account-days.
with

raw_aws as (
    select * from {{ source('aws_cost_explorer', 'aws_cost_explorer') }}
),

raw_azure as (
    select * from {{ source('azure_cost_management', 'azure_cost_management') }}
),

scopes_per_day as (
    select
        'AWS' as provider_name,
        linked_account_id as sub_account_id,
        time_period_start as charge_date,
        count(distinct _scope) as scopes,
        string_agg(distinct _scope, ', ') as scope_list
    from raw_aws
    group by linked_account_id, time_period_start

    union all

    select
        'Azure' as provider_name,
        lower(subscription_id) as sub_account_id,
        cast(strptime(cast(usage_date as varchar), '%Y%m%d') as date) as charge_date,
        count(distinct _scope) as scopes,
        string_agg(distinct _scope, ', ') as scope_list
    from raw_azure
    group by lower(subscription_id), usage_date
),

final as (
    select *
    from scopes_per_day
    where scopes > 1
)

select * from final
