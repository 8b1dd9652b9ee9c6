-- An incremental table, not a view (macros/delete_days_to_rebuild.sql): a daily build restages
-- only the days a load changed, and the tests of this model and of the views over it
-- (int_landed_cost_rows_unpivoted) read stored keys and a stored charge_date instead of hashing
-- and re-deriving the whole raw table on every test.
{{ config(**incremental_by_day()) }}
with

source as (
    select * from {{ source('aws_cost_explorer', 'aws_cost_explorer') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), column='time_period_start') }}
),

renamed as (
    select
        ---------- ids
        -- The raw row's identity: the loader's natural key within a source and scope.
        {{ surrogate_key([
            '_source', '_scope', 'time_period_start', 'linked_account_id', 'service',
            'region', 'record_type', 'unblended_cost_unit',
        ]) }} as cost_row_id,
        _scope as billing_account_id,
        _scope as scope,
        linked_account_id as sub_account_id,
        _load_id as load_id,

        ---------- strings
        'AWS' as provider_name,
        nullif(trim(linked_account_name), '') as sub_account_name,
        service as service_name,
        -- Charges without a region (NoRegion, global, empty) share the region id 'global'.
        case
            when lower(trim(coalesce(region, ''))) in ('', 'noregion', 'global') then 'global'
            else lower(trim(region))
        end as region_id,
        -- The region as Cost Explorer named it: part of the row's key (NoRegion and global
        -- are distinct keys that share region_id 'global').
        trim(region) as x_region_name,
        record_type as x_charge_type,
        upper(trim(unblended_cost_unit)) as billing_currency,
        upper(trim(amortized_cost_unit)) as effective_cost_currency,
        usage_quantity_unit,
        _source as x_source,

        ---------- numerics
        cast(unblended_cost as decimal(38, 10)) as billed_cost,
        cast(amortized_cost as decimal(38, 10)) as effective_cost,
        cast(usage_quantity as decimal(38, 10)) as usage_quantity,

        ---------- booleans
        estimated as is_estimated,

        ---------- dates
        cast(time_period_start as date) as charge_date,
        _loaded_at as loaded_at,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through

    from source
)

select * from renamed
