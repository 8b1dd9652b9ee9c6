{#
    The values of a key column that are on more than one row of the relation, as rows
    (key_value, occurrences); nulls are not keys here (column_values checks them as nulls).
    Used by the column_values test for the column whose yml says `meta: primary_key: true`:
    the grain of that one column, over its rows with a value.
#}
{% macro duplicate_keys(relation, column_name) %}
select
    {{ column_name }} as key_value,
    occurrences
from ({{ duplicate_grains(
    '(select ' ~ column_name ~ ' from ' ~ relation ~ ' where ' ~ column_name ~ ' is not null) as keyed',
    [column_name]) }}) as repeated_keys
{% endmacro %}

{#
    The combinations of the `columns` (a grain: a key of several columns, or duplicate_keys'
    one) that are on more than one row of the relation, as rows of those columns and
    `occurrences`; nulls compare equal, as in group by. Used by the column_values test for
    a node's `meta: grain` and its primary key.
#}
{% macro duplicate_grains(relation, columns) %}
    {{ return(adapter.dispatch('duplicate_grains', 'finops')(relation, columns)) }}
{% endmacro %}

{% macro default__duplicate_grains(relation, columns) %}
select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ relation }}
group by {{ columns | join(', ') }}
having count(*) > 1
{% endmacro %}

{#
    The same on DuckDB with far less memory: duplicates are looked for among 64-bit hashes
    of the combinations first (a group by of integers), and only the combinations whose
    hash repeats - none, unless there is a duplicate or a hash collision - are grouped as
    themselves. Grouping every value as itself (dbt's `unique`) ran out of a 6 GB memory
    limit at 50M raw rows on the landed-row key of int_landed_cost_rows_unpivoted (100M
    strings), and grouping fct_daily_costs' eight grain columns took 42 s of that first
    build (40M combinations, spilled). Spark keeps the default.
#}
{% macro duckdb__duplicate_grains(relation, columns) %}
with

repeated_hashes as (
    select hash({{ columns | join(', ') }}) as value_hash
    from {{ relation }}
    group by hash({{ columns | join(', ') }})
    having count(*) > 1
)

select
    {{ columns | join(', ') }},
    count(*) as occurrences
from {{ relation }}
where hash({{ columns | join(', ') }}) in (select value_hash from repeated_hashes)
group by {{ columns | join(', ') }}
having count(*) > 1
{% endmacro %}
