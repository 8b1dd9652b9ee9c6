{#
    An amount of the billing currency in the reporting currency: amount x fx_rate (the rate of
    int_fx_rates_ranged), exact to 10 decimals, as decimal(38, 10); null when the rate is.
    decimal(28, 10) x decimal(18, 10) keeps 20 decimals on DuckDB and on Spark with the
    profile's allowPrecisionLoss=false, still 11 on a Spark without it (from decimal(38, 10)
    it would keep only 6); both then round to 10. At rate 1 (the reporting currency itself,
    most rows) the product is the amount: taken as it is, the same value without the
    38-digit multiply and round (a fifth of int_daily_costs_converted's time at 8M rows).
#}
{% macro in_reporting_currency(amount, fx_rate='fx_rate') -%}
    case
        when {{ fx_rate }} = 1 then cast({{ amount }} as decimal(38, 10))
        else
            cast(
                round(cast({{ amount }} as decimal(28, 10)) * cast({{ fx_rate }} as decimal(18, 10)), 10)
                as decimal(38, 10)
            )
    end
{%- endmacro %}

{#
    The body of a CTE that puts the reporting currency and the as-of FX rate on every row of
    `relation`: the latest fx_rates rate on or before the row's day for its currency
    (int_fx_rates_ranged, read as the CTE `fx_rates`); rate 1 for the reporting currency
    itself; null when no rate covers the day (a not_null constraint downstream fails the
    build instead of dropping the cost). The one as-of join of every converting model.
#}
{% macro with_reporting_fx_rate(relation, fx_rates='fx_rates', currency='billing_currency', day='charge_date') -%}
    select
        {{ relation }}.*,
        {{ reporting_currency() }} as reporting_currency,
        {{ fx_rates }}.fx_rate
    from {{ relation }}
    left join {{ fx_rates }}
        on
            {{ relation }}.{{ currency }} = {{ fx_rates }}.from_currency
            and {{ relation }}.{{ day }} >= {{ fx_rates }}.valid_from
            and {{ relation }}.{{ day }} < {{ fx_rates }}.valid_to
{%- endmacro %}
