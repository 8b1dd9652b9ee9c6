{#
    A FOCUS text value trimmed, or null when it is a placeholder for "none": empty, the
    string NULL, or Azure's '-2' / 'Unassigned' (FOCUS wants null there).
#}
{% macro null_if_placeholder(expression) -%}
    case
        when lower(trim({{ expression }})) in ('', 'null', '-2', 'unassigned') then null
        else trim({{ expression }})
    end
{%- endmacro %}
