with

source as (
    select * from {{ source('finops', 'load_restatements') }}
),

renamed as (
    select
        ---------- ids
        load_id,
        sub_account_id,

        ---------- strings
        source as source_name,
        raw_table,
        scope,
        case raw_table
            when 'raw.aws_cost_explorer' then 'AWS'
            when 'raw.azure_cost_management' then 'Azure'
        end as provider_name,
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
