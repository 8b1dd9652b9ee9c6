-- The Azure costs per allocation key and tag value (issue #18), from the Query API's tag
-- queries (raw.azure_cost_management_tags, loaders/azure_cost_management/mapping.py, "Tags"):
-- one row per day x subscription x service x billing currency x key x value, billed
-- (ActualCost) and effective (AmortizedCost) side by side. Conditional aggregation like
-- int_azure_costs_pivoted: a key of the grain in only one query type keeps its cost and gets
-- 0 on the other side. The key's spellings (Azure tag keys are case-insensitive: 'Team' and
-- 'team') are one allocation_key, in the configured spelling. tag_value is null on the
-- untagged rows and 'true' for a key-only tag (key without a value, as docs/allocation.md
-- defines it). The scope stays in the grouping but not in tag_cost_row_id: two configured
-- scopes covering one subscription give two rows of one id, which the unique test catches
-- instead of a silent double count. A view: its raw table is small (a few rows per key and
-- service a day), the allocation models read it once per build.
with

source as (
    select * from {{ source('azure_cost_management', 'azure_cost_management_tags') }}
),

renamed as (
    select
        _scope,
        _source,
        query_type,
        cost,
        {{ date_from_yyyymmdd('cast(usage_date as string)') }} as charge_date,
        -- As stg_azure_cost_management__costs: a billing-account scope names the billing
        -- account, otherwise the subscription id stands in for it.
        {{ azure_billing_account('_scope', 'lower(trim(subscription_id))') }} as billing_account_id,
        lower(trim(subscription_id)) as sub_account_id,
        service_name,
        upper(trim(currency)) as billing_currency,
        allocation_key,
        case
            when tag_key is null then cast(null as string)
            when coalesce(tag_value, '') = '' then 'true'
            else tag_value
        end as tag_value
    from source
),

pivoted as (
    select
        charge_date,
        billing_account_id,
        sub_account_id,
        service_name,
        billing_currency,
        allocation_key,
        tag_value,
        _scope,
        _source,
        sum(case when query_type = 'ActualCost' then cost else 0 end) as billed_cost,
        sum(case when query_type = 'AmortizedCost' then cost else 0 end) as effective_cost
    from renamed
    group by
        charge_date,
        billing_account_id,
        sub_account_id,
        service_name,
        billing_currency,
        allocation_key,
        tag_value,
        _scope,
        _source
),

final as (
    select
        ---------- ids
        {{ surrogate_key([
            'charge_date', 'sub_account_id', 'service_name', 'billing_currency',
            'allocation_key', 'tag_value',
        ]) }} as tag_cost_row_id,
        billing_account_id,
        sub_account_id,

        ---------- strings
        'Azure' as provider_name,
        service_name,
        billing_currency,
        allocation_key,
        tag_value,

        ---------- numerics
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,

        ---------- dates
        charge_date

    from pivoted
)

select * from final
