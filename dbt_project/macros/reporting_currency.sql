{#
    The reporting currency as a quoted SQL literal, e.g. 'USD'. Validated so a typo in
    FINOPS_REPORTING_CURRENCY fails the build instead of producing null conversions.
#}
{% macro reporting_currency() -%}
    {%- set currency = var('reporting_currency') | string | trim | upper -%}
    {%- if currency | length != 3 or not currency.isalpha() -%}
        {{ exceptions.raise_compiler_error("reporting_currency must be an ISO 4217 code, got '" ~ currency ~ "'") }}
    {%- endif -%}
    '{{ currency }}'
{%- endmacro %}

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
