{#- The columns that declare a not_null constraint in the yml of the model, seed or source
    a test is attached to (a source test has no attached_node: its one dependency). -#}
{% macro not_null_constrained_columns() -%}
    {%- set node = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- if node is none and model.depends_on.nodes | length == 1 -%}
        {%- set node = graph.sources.get(model.depends_on.nodes[0]) -%}
    {%- endif -%}
    {%- if node is none -%}
        {{ return([]) }}
    {%- endif -%}
    {%- set columns = [] -%}
    {%- for name, column in node.columns.items() -%}
        {%- for constraint in column.constraints or [] if constraint.type == 'not_null' -%}
            {%- do columns.append(name) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{ return(columns) }}
{%- endmacro %}
