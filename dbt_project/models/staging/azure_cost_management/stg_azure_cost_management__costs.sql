-- An incremental table, not a view (macros/delete_days_to_rebuild.sql): a daily build restages
-- only the days a load changed, and the tests of this model and of the models over it
-- (int_landed_cost_rows_unpivoted, int_azure_costs_pivoted) read stored keys and a stored
-- charge_date instead of hashing and re-deriving the whole raw table on every test.
{{ config(**incremental_by_day()) }}
with

source as (
    select * from {{ source('azure_cost_management', 'azure_cost_management') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), column='usage_date') }}
),

renamed as (
    select
        ---------- ids
        -- The raw row's identity: the loader's natural key within a source and scope.
        {{ surrogate_key([
            '_source', '_scope', 'usage_date', 'query_type', 'subscription_id', 'service_name',
            'resource_location', 'charge_type', 'currency',
        ]) }} as cost_row_id,
        -- A billing-account scope names the billing account; a subscription (or management
        -- group) scope does not reveal it, so the subscription id stands in for it.
        {{ azure_billing_account('_scope', 'lower(trim(subscription_id))') }} as billing_account_id,
        lower(trim(subscription_id)) as sub_account_id,
        _scope as scope,
        _load_id as load_id,

        ---------- strings
        'Azure' as provider_name,
        nullif(trim(subscription_name), '') as sub_account_name,
        query_type,
        service_name,
        -- Unassigned / global / empty / '-2' locations share the region id 'global'.
        case
            when lower(trim(coalesce(resource_location, ''))) in ('', 'unassigned', 'global', '-2')
                then 'global'
            else lower(trim(resource_location))
        end as region_id,
        -- The location as the Query API named it: part of the row's key.
        trim(resource_location) as x_region_name,
        charge_type as x_charge_type,
        upper(trim(currency)) as billing_currency,
        _source as x_source,

        ---------- numerics
        cast(cost as decimal(38, 10)) as cost,

        ---------- booleans
        -- The Query API has no estimated flag: a day counts as estimated when it was loaded
        -- before the 5th of the following month, when Azure invoices the month.
        _loaded_at < (
            date_trunc('month', {{ date_from_yyyymmdd('cast(usage_date as string)') }})
            + interval 1 month
            + interval 4 day
        ) as is_estimated,

        ---------- dates
        {{ date_from_yyyymmdd('cast(usage_date as string)') }} as charge_date,
        _loaded_at as loaded_at,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through

    from source
)

select * from renamed
