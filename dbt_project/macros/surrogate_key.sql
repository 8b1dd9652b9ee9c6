{#
    md5 of the given columns, each cast to string with nulls coalesced to a marker, joined
    by '|'. Same idea as dbt_utils.generate_surrogate_key (the package hub is not reachable).
#}
{% macro surrogate_key(columns) -%}
    md5(
    {%- for column in columns -%}
        coalesce(cast({{ column }} as string), '_finops_null_')
        {%- if not loop.last %} || '|' || {% endif -%}
    {%- endfor -%}
    )
{%- endmacro %}
