with

source as (
    select * from {{ source('finops', 'load_ledger') }}
),

renamed as (
    select
        ---------- ids
        load_id,

        ---------- strings
        source as source_name,
        raw_table,
        scope,
        -- the provider as the source named it (a FOCUS file's ProviderName), normalised
        {{ normalized_provider_name('provider_name') }} as provider_name,
        trim(billing_account_id) as billing_account_id,
        status,
        error as error_message,

        ---------- numerics
        row_count,
        replaced_row_count,
        api_requests,
        cast(api_cost_usd as decimal(38, 10)) as api_cost_usd,
        api_retries,

        ---------- booleans
        status = 'succeeded' as is_succeeded,

        ---------- dates
        window_start,
        window_end,
        billing_period_start,

        ---------- timestamps
        started_at,
        finished_at

    from source
)

select * from renamed
