{{
    config(
        materialized='incremental',
        incremental_strategy='delete+insert',
        unique_key='daily_cost_id',
        on_schema_change='append_new_columns',
        pre_hook="{{ delete_days_to_rebuild(ref('stg_finops__load_ledger')) }}",
    )
}}

-- Daily cost per provider x sub account x service x region x charge category/class x
-- billing currency, with both amounts also in the reporting currency. FX is an as-of join
-- on int_fx_rates_ranged: the latest fx_rates row on or before the charge date; same
-- currency -> rate 1. A missing rate leaves fx_rate null, which fails the not_null test
-- instead of dropping the cost.
--
-- Incremental over the restatement window (see the model's yml): the pre-hook deletes every
-- day >= the earliest window_start of the loads that finished after the last build
-- (_loaded_through), then only days after the last day left are rebuilt.
with

costs as (
    select * from {{ ref('int_cloud_costs_categorized') }}
    {% if is_incremental() -%}
        -- The pre-hook removed every day from the first restated one on; days before it are
        -- untouched by any load since, so they are exactly the days still in the table.
        where charge_date > (
                select coalesce(max(built.charge_date), date '0001-01-01') as last_day
                from {{ this }} as built
            )
    {%- endif %}
),

loads as (
    select * from {{ ref('stg_finops__load_ledger') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_ranged') }}
),

daily as (
    select
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        charge_category,
        charge_class,
        billing_currency,
        max(billing_account_id) as billing_account_id,
        max(sub_account_name) as sub_account_name,
        max(service_category) as service_category,
        max(service_subcategory) as service_subcategory,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        bool_or(is_estimated) as is_estimated
    from costs
    group by
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        charge_category,
        charge_class,
        billing_currency
),

converted as (
    select
        daily.*,
        {{ reporting_currency() }} as reporting_currency,
        fx_rates.fx_rate
    from daily
    left join fx_rates
        on
            daily.billing_currency = fx_rates.from_currency
            and daily.charge_date >= fx_rates.valid_from
            and daily.charge_date < fx_rates.valid_to
),

final as (
    select
        cast({{ surrogate_key([
            'charge_date', 'provider_name', 'sub_account_id', 'service_name',
            'region_id', 'charge_category', 'charge_class', 'billing_currency',
        ]) }} as varchar) as daily_cost_id,
        cast(charge_date as date) as charge_date,
        cast(provider_name as varchar) as provider_name,
        cast(billing_account_id as varchar) as billing_account_id,
        cast(sub_account_id as varchar) as sub_account_id,
        cast(sub_account_name as varchar) as sub_account_name,
        cast(service_name as varchar) as service_name,
        cast(service_category as varchar) as service_category,
        cast(service_subcategory as varchar) as service_subcategory,
        cast(region_id as varchar) as region_id,
        cast(charge_category as varchar) as charge_category,
        cast(charge_class as varchar) as charge_class,
        cast(billing_currency as varchar) as billing_currency,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(reporting_currency as varchar) as reporting_currency,
        cast(fx_rate as decimal(18, 10)) as fx_rate,
        cast(round(billed_cost * cast(fx_rate as decimal(18, 10)), 10) as decimal(38, 10))
            as billed_cost_reporting,
        cast(round(effective_cost * cast(fx_rate as decimal(18, 10)), 10) as decimal(38, 10))
            as effective_cost_reporting,
        cast(is_estimated as boolean) as is_estimated,
        cast((
            select max(loads.finished_at) as loaded_through
            from loads
            where loads.is_succeeded
        ) as timestamp) as _loaded_through
    from converted
)

select * from final
