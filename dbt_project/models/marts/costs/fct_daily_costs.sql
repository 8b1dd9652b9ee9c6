{{ config(**incremental_by_day()) }}

-- Daily cost per provider x sub account x service x region x charge category/class x
-- billing currency in the billing and the reporting currency: int_daily_costs_converted
-- (grain, FX rule) materialized incrementally, with the load watermark _loaded_through.
--
-- Incremental over the restatement window (see the model's yml and
-- macros/delete_days_to_rebuild.sql): every day >= the earliest window_start of the loads
-- that finished after the last build (_loaded_through) is rebuilt. DuckDB: the pre-hook
-- deletes those days and they are inserted again. Spark (Parquet, no delete): those days
-- are selected and their charge_date partitions overwritten.
with

daily_costs as (
    select * from {{ ref('int_daily_costs_converted') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
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
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from daily_costs
)

select * from final
