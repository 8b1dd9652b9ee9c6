-- An FX rate is positive and converts between two different currencies (same-currency
-- conversion is rate 1 in fct_daily_costs, not a seed row). Returns the offending rows.
with

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

final as (
    select *
    from fx_rates
    where rate <= 0 or from_currency = to_currency
)

select * from final
