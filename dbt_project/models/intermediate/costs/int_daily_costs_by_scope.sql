{{ config(**incremental_by_day()) }}

-- Daily cost per provider scope and charge category in the reporting currency: each
-- provider ('AWS', 'Azure') and 'All' (both). The one place the per-provider + 'All' daily
-- totals are declared; the month-end forecast and its backtest (every charge category,
-- billed cost) and the scored total usage series (charge_category 'Usage') read it.
-- Incremental on charge_date (macros/delete_days_to_rebuild.sql): each row is one day's sum.
with

daily_costs as (
    select * from {{ ref('int_daily_costs_converted') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

scoped as (
    select
        provider_name as provider_scope,
        charge_date,
        charge_category,
        sum(billed_cost_reporting) as billed_cost_reporting,
        sum(effective_cost_reporting) as effective_cost_reporting
    from daily_costs
    group by provider_name, charge_date, charge_category

    union all

    select
        'All' as provider_scope,
        charge_date,
        charge_category,
        sum(billed_cost_reporting) as billed_cost_reporting,
        sum(effective_cost_reporting) as effective_cost_reporting
    from daily_costs
    group by charge_date, charge_category
),

final as (
    select
        {{ surrogate_key(['provider_scope', 'charge_date', 'charge_category']) }} as scope_day_id,
        provider_scope,
        charge_date,
        charge_category,
        {{ reporting_currency() }} as reporting_currency,
        cast(billed_cost_reporting as decimal(38, 10)) as billed_cost_reporting,
        cast(effective_cost_reporting as decimal(38, 10)) as effective_cost_reporting,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from scoped
)

select * from final
