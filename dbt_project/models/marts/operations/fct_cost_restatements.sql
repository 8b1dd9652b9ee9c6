-- What each load changed, per charge_date x provider x sub account x billing currency x
-- cost type, and when: the load's finish time and how many days after the charge month
-- closed it came. The change is also converted to the reporting currency with the same
-- as-of FX rule as fct_daily_costs (int_fx_rates_ranged, as of the charge date).
with

restatements as (
    select * from {{ ref('stg_finops__load_restatements') }}
),

loads as (
    select * from {{ ref('stg_finops__load_ledger') }}
),

fx_rates as (
    select * from {{ ref('int_fx_rates_ranged') }}
),

timed as (
    select
        restatements.*,
        loads.finished_at as loaded_at,
        cast(date_trunc('month', restatements.charge_date) + interval 1 month as date) as month_closed_on
    from restatements
    inner join loads
        on restatements.load_id = loads.load_id
),

converted as (
    {{ with_reporting_fx_rate('timed') }}
),

final as (
    select
        cast({{ surrogate_key([
            'load_id', 'charge_date', 'provider_name', 'sub_account_id',
            'billing_currency', 'cost_type',
        ]) }} as string) as restatement_id,
        cast(load_id as string) as load_id,
        cast(loaded_at as timestamp) as loaded_at,
        cast(charge_date as date) as charge_date,
        cast(provider_name as string) as provider_name,
        cast(source_name as string) as source_name,
        cast(scope as string) as scope,
        cast(sub_account_id as string) as sub_account_id,
        cast(billing_currency as string) as billing_currency,
        cast(cost_type as string) as cost_type,
        cast(previous_cost as decimal(38, 10)) as previous_cost,
        cast(new_cost as decimal(38, 10)) as new_cost,
        cast(new_cost - previous_cost as decimal(38, 10)) as cost_change,
        cast(reporting_currency as string) as reporting_currency,
        cast(fx_rate as decimal(18, 10)) as fx_rate,
        {{ in_reporting_currency('new_cost - previous_cost') }} as cost_change_reporting,
        cast(month_closed_on as date) as month_closed_on,
        cast({{ days_between('month_closed_on', 'cast(loaded_at as date)') }} as integer) as days_after_month_close
    from converted
)

select * from final
