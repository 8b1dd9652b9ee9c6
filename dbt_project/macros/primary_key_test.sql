{#
    The failing rows of the primary_key generic test (tests/generic/primary_key.sql): one
    row per key value that is null or on more than one row (key_value, occurrences).
#}
{% macro default__test_primary_key(model, column_name) %}
select
    {{ column_name }} as key_value,
    count(*) as occurrences
from {{ model }}
group by {{ column_name }}
having count(*) > 1 or {{ column_name }} is null
{% endmacro %}

{#
    The same on DuckDB with far less memory: duplicates are looked for among 64-bit hashes
    of the values first (a group by of integers), and only the values whose hash repeats -
    none, unless there is a duplicate or a hash collision - and nulls are grouped as
    themselves. Grouping every value as itself (dbt's `unique`) ran out of a 6 GB memory
    limit at 50M raw rows on the landed-row key of int_landed_cost_rows_unpivoted (100M
    strings). Spark keeps the default.
#}
{% macro duckdb__test_primary_key(model, column_name) %}
with

repeated_hashes as (
    select hash({{ column_name }}) as value_hash
    from {{ model }}
    group by hash({{ column_name }})
    having count(*) > 1
)

select
    {{ column_name }} as key_value,
    count(*) as occurrences
from {{ model }}
where
    {{ column_name }} is null
    or hash({{ column_name }}) in (select value_hash from repeated_hashes)
group by {{ column_name }}
having count(*) > 1 or {{ column_name }} is null
{% endmacro %}
