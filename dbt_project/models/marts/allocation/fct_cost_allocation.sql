-- Showback and chargeback: every day's cost once per allocation key (FINOPS_ALLOCATION_TAGS),
-- each part given a value of the key by a shared-cost rule, the row's tag, the key's account
-- map, or `(unallocated)` (int_cost_allocation_split; docs/allocation.md), in the billing
-- and the reporting currency. Per key, the values sum to fct_daily_costs of the same day,
-- provider, currency, charge category and service category to the cent
-- (assert_fct_cost_allocation_reconciles): the columns the dashboard filters fct_daily_costs
-- by are here too, with the same values, so its tag filter selects from this mart instead.
-- Without keys the mart holds no row.
--
-- Incremental on charge_date like fct_daily_costs; the allocation configuration's
-- fingerprint (x_config_fingerprint) rebuilds every day when the configuration changes, and
-- so does a table an older version built without a column of the mart.
{%- set fingerprint = allocation_fingerprint() %}
{{ config(**incremental_by_day(fingerprint=fingerprint)) }}
with

allocation as (
    select * from {{ ref('int_cost_allocation_split') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), fingerprint=fingerprint) }}
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
        service_category,
        charge_category,
        billing_currency,
        allocation_key,
        allocation_value,
        allocation_method,
        is_taggable,
        max(billing_account_id) as billing_account_id,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from allocation
    group by
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        service_category,
        charge_category,
        billing_currency,
        allocation_key,
        allocation_value,
        allocation_method,
        is_taggable
),

converted as (
    {{ with_reporting_fx_rate('daily') }}
),

final as (
    select
        cast({{ surrogate_key([
            'charge_date', 'provider_name', 'sub_account_id', 'service_name', 'service_category',
            'charge_category', 'billing_currency', 'allocation_key', 'allocation_value',
            'allocation_method', 'is_taggable',
        ]) }} as string) as cost_allocation_id,
        cast(charge_date as date) as charge_date,
        cast(provider_name as string) as provider_name,
        cast(billing_account_id as string) as billing_account_id,
        cast(sub_account_id as string) as sub_account_id,
        cast(service_name as string) as service_name,
        cast(service_category as string) as service_category,
        cast(charge_category as string) as charge_category,
        cast(billing_currency as string) as billing_currency,
        cast(allocation_key as string) as allocation_key,
        cast(allocation_value as string) as allocation_value,
        cast(allocation_method as string) as allocation_method,
        cast(is_taggable as boolean) as is_taggable,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(reporting_currency as string) as reporting_currency,
        cast(fx_rate as decimal(18, 10)) as fx_rate,
        {{ in_reporting_currency('billed_cost') }} as billed_cost_reporting,
        {{ in_reporting_currency('effective_cost') }} as effective_cost_reporting,
        cast({{ sql_string(fingerprint) }} as string) as x_config_fingerprint,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from converted
)

select * from final
