-- One row per day, linked account, service, allocation tag key and value of Cost Explorer's
-- tag queries (one per key of FINOPS_ALLOCATION_TAGS and linked account, grouped by TAG and
-- SERVICE; loaders/aws_cost_explorer/mapping.py), within a payer account. Not more money:
-- per key, the rows of a (day, account, service) add up to that account's and service's
-- costs in stg_aws_cost_explorer__costs - they say which tag value the costs carry.
-- allocation_key is the configured spelling of the key Cost Explorer answered (compared
-- without case, macros/allocation.sql); a key no longer configured keeps the answered one.
-- tag_value is null for the costs without the tag (Cost Explorer's `<key>$`; it answers a
-- tag with an empty value the same way, so a key-only tag cannot be told from none here).
-- A view: the allocation models read it for the days they rebuild.
{%- set keys = allocation_config()['keys'] %}
with

source as (
    select * from {{ source('aws_cost_explorer', 'aws_cost_explorer_tags') }}
),

renamed as (
    select
        {{ surrogate_key([
            '_source', '_scope', 'time_period_start', 'linked_account_id', 'service',
            'tag_key', 'tag_value',
        ]) }} as tag_cost_row_id,
        cast(time_period_start as date) as charge_date,
        'AWS' as provider_name,
        _scope as billing_account_id,
        linked_account_id as sub_account_id,
        service as service_name,
        upper(trim(unblended_cost_unit)) as billing_currency,
        {%- if keys %}
            case lower(tag_key)
                {%- for key in keys %}
                    when lower({{ sql_string(key) }}) then {{ sql_string(key) }}
                {%- endfor %}
                else tag_key
            end as allocation_key,
        {%- else %}
            tag_key as allocation_key,
        {%- endif %}
        nullif(tag_value, '') as tag_value,
        cast(unblended_cost as decimal(38, 10)) as billed_cost,
        cast(amortized_cost as decimal(38, 10)) as effective_cost
    from source
)

select * from renamed
