{#
    Every column of the model that declares a not_null constraint holds no null, in one
    scan of the model: fails with one row per column that has nulls (column_name,
    null_rows). The columns come from the model's yml (`constraints: - type: not_null`), so
    the rule is written once, next to the column's docs: on a mart with an enforced contract
    DuckDB also refuses the null while the table is built, and this test checks the same on
    views, intermediate tables and on Spark (which does not enforce constraints). One test
    node per model instead of one per column: a dbt test costs about 75 ms of dbt's own work
    before the query, and the project declares over 200 such columns. A primary key has the
    primary_key test instead (unique and not null in one node; its not_null constraint is
    checked here too, at no extra scan). Sources and seeds declare the same constraints (documentation there: dbt enforces
    nothing on them).
#}
{% test not_null_columns(model) %}

{%- set columns = not_null_constrained_columns() -%}
{%- if columns | length == 0 and execute -%}
    {{ exceptions.raise_compiler_error(
        "not_null_columns: the model under test declares no not_null constraint") }}
{%- endif %}

with

null_counts as (
    select
    {%- for column in columns %}
        count(*) - count({{ column }}) as {{ column }}{{ "," if not loop.last }}
    {%- endfor %}
    from {{ model }}
),

final as (
    {%- for column in columns %}
    select
        '{{ column }}' as column_name,
        {{ column }} as null_rows
    from null_counts
    where {{ column }} > 0
    {{ "union all" if not loop.last }}
    {%- endfor %}
)

select * from final

{% endtest %}

