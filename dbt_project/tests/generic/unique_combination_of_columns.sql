{#
    Fails with one row per combination of `combination_of_columns` that occurs more than once
    (nulls compare equal, as in group by). Replaces dbt_utils.unique_combination_of_columns.
#}
{% test unique_combination_of_columns(model, combination_of_columns) %}

with

grouped as (
    select
        {{ combination_of_columns | join(', ') }},
        count(*) as occurrences
    from {{ model }}
    group by {{ combination_of_columns | join(', ') }}
    having count(*) > 1
)

select * from grouped

{% endtest %}
