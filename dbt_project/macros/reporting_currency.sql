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
