{%- set on_spark = target_is_spark() -%}
{{
    config(
        materialized='incremental',
        incremental_strategy='insert_overwrite' if on_spark else 'delete+insert',
        partition_by=['charge_date'] if on_spark else none,
        unique_key=none if on_spark else 'daily_cost_id',
        on_schema_change='append_new_columns',
        pre_hook=[] if on_spark else ["{{ delete_days_to_rebuild(ref('stg_finops__load_ledger')) }}"],
    )
}}

-- Daily cost per provider x sub account x service x region x charge category/class x
-- billing currency in the billing and the reporting currency: int_daily_costs_converted
-- (grain, FX rule) materialized incrementally, with the load watermark _loaded_through.
--
-- Incremental over the restatement window (see the model's yml): every day >= the earliest
-- window_start of the loads that finished after the last build (_loaded_through) is rebuilt.
-- DuckDB: the pre-hook deletes those days, then only days after the last day left are
-- inserted. Spark (Parquet, no delete): those days are selected and their charge_date
-- partitions overwritten.
with

daily_costs as (
    select * from {{ ref('int_daily_costs_converted') }}
    {% if is_incremental() and on_spark -%}
        where charge_date >= {{ first_day_to_rebuild(ref('stg_finops__load_ledger')) }}
    {%- elif is_incremental() -%}
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

final as (
    select
        daily_cost_id,
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        sub_account_name,
        service_name,
        service_category,
        service_subcategory,
        region_id,
        charge_category,
        charge_class,
        billing_currency,
        billed_cost,
        effective_cost,
        reporting_currency,
        fx_rate,
        billed_cost_reporting,
        effective_cost_reporting,
        is_estimated,
        cast((
            select max(loads.finished_at) as loaded_through
            from loads
            where loads.is_succeeded
        ) as timestamp) as _loaded_through
    from daily_costs
)

select * from final
