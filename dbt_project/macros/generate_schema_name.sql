{#
    Use a model's custom schema as-is (`marts`, not `main_marts`): users and the dashboard
    query `marts.fct_daily_costs`. Nodes without a custom schema go to the target schema.
#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema }}
    {%- else -%}
        {{ custom_schema_name | trim }}
    {%- endif -%}
{%- endmacro %}
