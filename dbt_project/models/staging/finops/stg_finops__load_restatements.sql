with

source as (
    select * from {{ source('finops', 'load_restatements') }}
),

renamed as (
    select
        ---------- ids
        load_id,
        -- FOCUS files from Azure name subscriptions /subscriptions/{GUID}: the lower-case
        -- guid, as the cost staging models name them.
        case
            when raw_table = 'raw.focus_costs' and {{ normalized_provider_name('provider_name') }} = 'Azure'
                then lower(regexp_replace(trim(sub_account_id), '(?i)^/subscriptions/', ''))
            else sub_account_id
        end as sub_account_id,

        ---------- strings
        source as source_name,
        raw_table,
        scope,
        {{ normalized_provider_name('provider_name') }} as provider_name,
        upper(trim(billing_currency)) as billing_currency,
        cost_type,

        ---------- numerics
        cast(previous_cost as decimal(38, 10)) as previous_cost,
        cast(new_cost as decimal(38, 10)) as new_cost,

        ---------- dates
        charge_date,

        ---------- timestamps
        recorded_at

    from source
)

select * from renamed
