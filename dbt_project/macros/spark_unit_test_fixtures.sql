{#
    Unit test rows on Spark. dbt writes the rows of a unit test (each given input and the
    expected output) as one `select` of literals per row joined by `union all`. Spark gives
    every branch of that union a partition of its own, so each stage of the tested query
    that reads a 58-row fixture runs 58 tasks, and a model that reads its input several
    times (a CTE per use) multiplies them. The COALESCE(1) hint puts the rows in one
    partition: the same rows, types and column names as dbt wrote them, in one task per
    stage. Measured with the suite's Spark settings (tests/fixtures/spark-conf): the 43 unit
    tests (`dbt test --select test_type:unit --target spark`, alternated twice) took 119-138
    CPU-s against 136-166 and 77-88 s against 89-108 s; tests/dbt/test_spark_target.py alone
    270.8 s against 293.0 s. Other adapters get dbt's SQL unchanged.

    These override dbt-core's global get_fixture_sql and get_expected_sql (macros/
    unit_test_sql/get_fixture_sql.sql, dbt-core 1.11), which the unit test materialization
    calls by name, and wrap what dbt's own versions (`dbt.` namespace) return.
#}
{% macro get_fixture_sql(rows, column_name_to_data_types) %}
    {%- set rows_sql = dbt.get_fixture_sql(rows, column_name_to_data_types) -%}
    {{- return(adapter.dispatch('unit_test_rows', 'finops')(rows_sql)) -}}
{% endmacro %}

{% macro get_expected_sql(rows, column_name_to_data_types, column_name_to_quoted) %}
    {%- set rows_sql = dbt.get_expected_sql(rows, column_name_to_data_types, column_name_to_quoted) -%}
    {{- return(adapter.dispatch('unit_test_rows', 'finops')(rows_sql)) -}}
{% endmacro %}

{% macro default__unit_test_rows(rows_sql) %}
    {{- return(rows_sql) -}}
{% endmacro %}

{% macro spark__unit_test_rows(rows_sql) %}
    {%- set coalesced -%}
select /*+ COALESCE(1) */ * from (
{{ rows_sql }}
) as unit_test_rows
    {%- endset -%}
    {{- return(coalesced) -}}
{% endmacro %}
