-- Daily cost per provider x sub account x service x region x charge category/class x
-- billing currency, with both amounts also in the reporting currency: the one place of the
-- daily grain and of the conversion. FX is an as-of join on int_fx_rates_ranged: the latest
-- fx_rates row on or before the charge date; same currency -> rate 1. A missing rate leaves
-- fx_rate null, which fails the not_null constraint instead of dropping the cost.
--
-- Incremental on charge_date like fct_daily_costs (macros/delete_days_to_rebuild.sql): a
-- daily build computes the restatement window only; its filter is a constant, pushed down
-- through the views to the raw scans. The daily grain is computed once per build:
-- fct_daily_costs, the per-scope totals and the anomaly series read this table, so no
-- intermediate model depends on a mart.
{{ config(**incremental_by_day()) }}
with

costs as (
    select * from {{ ref('int_cloud_costs_categorized') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
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
    {{ with_reporting_fx_rate('daily') }}
),

final as (
    select
        cast({{ surrogate_key([
            'charge_date', 'provider_name', 'sub_account_id', 'service_name',
            'region_id', 'charge_category', 'charge_class', 'billing_currency',
        ]) }} as string) as daily_cost_id,
        cast(charge_date as date) as charge_date,
        cast(provider_name as string) as provider_name,
        cast(billing_account_id as string) as billing_account_id,
        cast(sub_account_id as string) as sub_account_id,
        cast(sub_account_name as string) as sub_account_name,
        cast(service_name as string) as service_name,
        cast(service_category as string) as service_category,
        cast(service_subcategory as string) as service_subcategory,
        cast(region_id as string) as region_id,
        cast(charge_category as string) as charge_category,
        cast(charge_class as string) as charge_class,
        cast(billing_currency as string) as billing_currency,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(reporting_currency as string) as reporting_currency,
        cast(fx_rate as decimal(18, 10)) as fx_rate,
        {{ in_reporting_currency('billed_cost') }} as billed_cost_reporting,
        {{ in_reporting_currency('effective_cost') }} as effective_cost_reporting,
        cast(is_estimated as boolean) as is_estimated,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from converted
)

select * from final
