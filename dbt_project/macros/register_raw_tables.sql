{#
    on-run-start. On Spark the raw tables are Parquet files written by the loaders' warehouse
    (`finops spark` exports them) or by a user's own ingestion: with the var
    `raw_parquet_location` set, every source table of schema `raw` is (re)registered as an
    external Parquet table over `<raw_parquet_location>/<table>/`, so a build reads the files
    as they are now. Dropping an external table never deletes its files. On DuckDB, or with
    the var unset (tables already in the metastore), it does nothing.
#}
{% macro register_raw_tables() -%}
    {%- set location = var('raw_parquet_location', none) -%}
    {%- if execute and target.type == 'spark' and location -%}
        {%- set tables = [] -%}
        {%- for source in graph.sources.values() | sort(attribute='identifier') -%}
            {%- if source.schema == 'raw' and source.identifier not in tables -%}
                {%- do tables.append(source.identifier) -%}
            {%- endif -%}
        {%- endfor -%}
        {%- do run_query('create schema if not exists raw') -%}
        {%- for table in tables -%}
            {%- do run_query('drop table if exists raw.' ~ table) -%}
            {%- do run_query(
                "create table raw." ~ table ~ " using parquet location '"
                ~ location.rstrip('/') ~ "/" ~ table ~ "'"
            ) -%}
        {%- endfor -%}
        {%- do log('registered ' ~ tables | length ~ ' raw tables over ' ~ location, info=true) -%}
    {%- endif -%}
{%- endmacro %}
