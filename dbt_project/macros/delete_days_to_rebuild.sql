{#
    Incremental models on charge_date (the cost staging models, int_azure_costs_pivoted,
    int_focus_costs_aggregated, int_cloud_costs_unioned, int_daily_costs_converted,
    int_daily_costs_by_scope, int_daily_cost_region_days, int_daily_cost_region_scored,
    int_daily_cost_series_scored, fct_daily_costs) rebuild every
    day from the first one a
    load changed since their last build: "since the last build" = loads of the ledger that
    succeeded and finished after the model's max(watermark_column) (`_loaded_through`, the
    latest succeeded load when it was built). Each model keeps its own watermark, so a model
    whose build failed catches up on the next one.

    first_day_to_rebuild(ledger): that first day as a 'YYYY-MM-DD' string, read from the
    warehouse when the model is compiled (so the filter is a constant DuckDB pushes down to
    the raw scans), '9999-12-31' when no load finished since (nothing to rebuild), none when
    the whole model is rebuilt: a full build, or a table without the watermark column (built
    before it existed) or without another column the model's yml declares (built by an older
    version: on_schema_change appends the column, and every day is rebuilt to fill it).

    delete_days_to_rebuild(ledger): the DuckDB pre-hook (delete+insert): delete those days, so
    a day a reload emptied disappears too.

    `fingerprint` (of the configuration a model is also built from, e.g. the allocation rules:
    macros/allocation.sql): the model stores it in `x_config_fingerprint`, and a stored row
    with another one makes the whole model be rebuilt (none), whatever the loads did.

    rebuilt_days_filter(ledger, column): the `where` of the model's select over its daily
    input: `column` >= that day (a raw day column such as the AWS table's time_period_start,
    so the filter reaches the scan; `usage_date`, Azure's yyyymmdd integer, as an integer). On
    Spark (Parquet, no delete) the same days are selected and their charge_date partitions
    overwritten (insert_overwrite).
#}
{#- The columns of the model's stored table when it is built by days, none when it is rebuilt
    whole: a full build, or a table without the watermark column or without a column the
    model now declares (built by an older version: rebuilt whole, so no day keeps the new
    column null; on_schema_change appends it). -#}
{% macro columns_if_built_by_days(watermark_column) -%}
    {%- if not execute or not is_incremental() -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
    {%- set declared = model['columns'].keys() | map('lower') | list -%}
    {%- if watermark_column not in columns or declared | reject('in', columns) | list -%}
        {{ return(none) }}
    {%- endif -%}
    {{ return(columns) }}
{%- endmacro %}

{% macro first_day_to_rebuild(ledger, watermark_column='_loaded_through', fingerprint=none) -%}
    {%- set columns = columns_if_built_by_days(watermark_column) -%}
    {%- if columns is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- if fingerprint is not none -%}
        {#- a model built from configuration as well as data (the allocation rules): rows built
            with another configuration make the whole model be rebuilt -#}
        {%- if 'x_config_fingerprint' not in columns -%}
            {{ return(none) }}
        {%- endif -%}
        {%- set other -%}
            select count(*) from (
                select 1 as stale from {{ this }}
                where coalesce(x_config_fingerprint, '') != {{ sql_string(fingerprint) }}
                limit 1
            ) as rows_of_another_configuration
        {%- endset -%}
        {%- if run_query(other).columns[0].values()[0] > 0 -%}
            {{ return(none) }}
        {%- endif -%}
    {%- endif -%}
    {%- set query -%}
        select cast(coalesce(min(window_start), cast('9999-12-31' as date)) as string) as first_day
        from {{ ledger }}
        where
            is_succeeded
            and finished_at > (
                select coalesce(max({{ watermark_column }}), cast('0001-01-01' as timestamp))
                from {{ this }}
            )
    {%- endset -%}
    {{ return(run_query(query).columns[0].values()[0] | string) }}
{%- endmacro %}

{% macro delete_days_to_rebuild(ledger, watermark_column='_loaded_through', fingerprint=none) -%}
    {%- if is_incremental() -%}
        {%- set first_day = first_day_to_rebuild(ledger, watermark_column, fingerprint) -%}
        delete from {{ this }}
        {%- if first_day is not none %}
        where charge_date >= cast('{{ first_day }}' as date)
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}

{% macro rebuilt_days_filter(ledger, column='charge_date', watermark_column='_loaded_through', fingerprint=none) -%}
    {%- set first_day = first_day_to_rebuild(ledger, watermark_column, fingerprint) -%}
    {%- if first_day is none -%}
    {%- elif column.split('.')[-1] == 'usage_date' -%}
        where {{ column }} >= {{ first_day | replace('-', '') }}
    {%- else -%}
        where {{ column }} >= cast('{{ first_day }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- The watermark column of an incremental model over the ledger: the latest succeeded load. -#}
{% macro loaded_through(ledger) -%}
    cast((
        select max(loads.finished_at) as loaded_through
        from {{ ledger }} as loads
        where loads.is_succeeded
    ) as timestamp)
{%- endmacro %}


{#- The config of every incremental model on charge_date: {{ config(**incremental_by_day()) }}.
    DuckDB: the pre-hook deletes the days to rebuild, then they are appended again. Spark
    (Parquet, no delete): the rebuilt days' charge_date partitions are overwritten. -#}
{% macro incremental_by_day(fingerprint=none) -%}
    {%- set on_spark = target_is_spark() -%}
    {%- set hook -%}
        {%- if fingerprint is none -%}
            {{ "{{ delete_days_to_rebuild(ref('stg_finops__load_ledger')) }}" }}
        {%- else -%}
            {{ "{{ delete_days_to_rebuild(ref('stg_finops__load_ledger'), fingerprint='" ~ fingerprint ~ "') }}" }}
        {%- endif -%}
    {%- endset -%}
    {{ return({
        'materialized': 'incremental',
        'incremental_strategy': 'insert_overwrite' if on_spark else 'append',
        'partition_by': ['charge_date'] if on_spark else none,
        'on_schema_change': 'append_new_columns',
        'pre_hook': [] if on_spark else [hook],
    }) }}
{%- endmacro %}


{#- For a model that fills days from each series' first day up to the last charge date
    (the anomaly scoring): the first day a daily build rebuilds, 'YYYY-MM-DD' - the first
    day a load changed (first_day_to_rebuild), or the day after the last day the table
    keeps before it when that is earlier (the filled days in between are new too); none
    when the whole model is rebuilt (a full build, an empty table). -#}
{% macro first_filled_day_to_rebuild(ledger) -%}
    {%- set first_day = first_day_to_rebuild(ledger) -%}
    {%- if first_day is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set last_kept_query -%}
        select cast(max(charge_date) as string) as last_kept
        from {{ this }}
        where charge_date < cast('{{ first_day }}' as date)
    {%- endset -%}
    {%- set last_kept = run_query(last_kept_query).columns[0].values()[0] -%}
    {%- if last_kept is none -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set day_after = modules.datetime.date.fromisoformat(last_kept | string) + modules.datetime.timedelta(days=1) -%}
    {{ return([day_after.isoformat(), first_day] | min) }}
{%- endmacro %}
