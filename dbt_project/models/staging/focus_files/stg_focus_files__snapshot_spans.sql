-- The storage snapshots' charge spans of the FOCUS files (raw.focus_snapshot_spans: per
-- billing period and snapshot its first and last charge day, from every file the import
-- read, not only the last days): one row per raw row, in the vocabulary of
-- stg_focus_files__resource_costs (provider normalised, Azure's subscription path reduced
-- to the lower-case id, Azure resource ids lower-case), so a snapshot here joins its rows
-- there. The rule `old_snapshot` reads a snapshot's age from it (intermediate/optimization).
{%- set billing_account = azure_billing_account('trim(billing_account_id)', 'trim(billing_account_id)') %}
{%- set provider = normalized_provider_name('provider_name') %}

with

source as (
    select * from {{ source('focus_files', 'focus_snapshot_spans') }}
),

renamed as (
    select
        {{ surrogate_key([
            '_scope', 'billing_period_start', 'provider_name', 'billing_account_id',
            'sub_account_id', 'resource_id',
        ]) }} as snapshot_span_id,
        cast(billing_period_start as date) as billing_period_start,
        {{ provider }} as provider_name,
        {{ billing_account }} as billing_account_id,
        {{ focus_sub_account_id(billing_account) }} as sub_account_id,
        {{ focus_resource_id() }} as resource_id,
        cast(first_charge_date as date) as first_charge_date,
        cast(last_charge_date as date) as last_charge_date,
        x_source_rows,
        _load_id as load_id
    from source
)

select * from renamed
