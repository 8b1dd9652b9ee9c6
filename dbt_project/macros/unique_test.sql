{#
    dbt's `unique` test on DuckDB, the same failing rows with far less memory: duplicates are
    looked for among 64-bit hashes of the values first (a group by of integers), and only
    the values whose hash repeats - none, unless there is a duplicate or a hash collision -
    are grouped as themselves. dbt's own test groups every value as itself: at 50M raw rows
    the landed-row key of int_landed_cost_rows_unpivoted (100M strings) ran out of a 6 GB
    memory limit. Same result rows (unique_field, n_records) as dbt's test; Spark keeps
    dbt's default.
#}
{% macro duckdb__test_unique(model, column_name) %}
with

repeated_hashes as (
    select hash({{ column_name }}) as value_hash
    from {{ model }}
    where {{ column_name }} is not null
    group by hash({{ column_name }})
    having count(*) > 1
)

select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where
    {{ column_name }} is not null
    and hash({{ column_name }}) in (select value_hash from repeated_hashes)
group by {{ column_name }}
having count(*) > 1
{% endmacro %}
