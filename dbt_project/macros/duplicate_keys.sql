{#
    The values of a key column that are on more than one row of the relation, as rows
    (key_value, occurrences); nulls are not keys here (column_values checks them as nulls).
    Used by the column_values test for the column whose yml says `meta: primary_key: true`.
#}
{% macro duplicate_keys(relation, column_name) %}
    {{ return(adapter.dispatch('duplicate_keys', 'finops')(relation, column_name)) }}
{% endmacro %}

{% macro default__duplicate_keys(relation, column_name) %}
select
    {{ column_name }} as key_value,
    count(*) as occurrences
from {{ relation }}
where {{ column_name }} is not null
group by {{ column_name }}
having count(*) > 1
{% endmacro %}

{#
    The same on DuckDB with far less memory: duplicates are looked for among 64-bit hashes
    of the values first (a group by of integers), and only the values whose hash repeats -
    none, unless there is a duplicate or a hash collision - are grouped as themselves.
    Grouping every value as itself (dbt's `unique`) ran out of a 6 GB memory limit at 50M
    raw rows on the landed-row key of int_landed_cost_rows_unpivoted (100M strings). Spark
    keeps the default.
#}
{% macro duckdb__duplicate_keys(relation, column_name) %}
with

repeated_hashes as (
    select hash({{ column_name }}) as value_hash
    from {{ relation }}
    where {{ column_name }} is not null
    group by hash({{ column_name }})
    having count(*) > 1
)

select
    {{ column_name }} as key_value,
    count(*) as occurrences
from {{ relation }}
where hash({{ column_name }}) in (select value_hash from repeated_hashes)
group by {{ column_name }}
having count(*) > 1
{% endmacro %}

{#
    The combinations of the `columns` (a grain: a key of several columns) that are on more
    than one row of the relation, as rows of those columns and `occurrences`; nulls compare
    equal, as in group by. Used by the column_values test for a node's `meta: grain`.
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
    On DuckDB through one 64-bit hash of the combination first, as duplicate_keys: grouping
    the 40M rows of fct_daily_costs at 50M raw rows by its eight columns took 42 s of the
    first build (a hash table of 40M string combinations, spilled under the 6 GB limit).
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
