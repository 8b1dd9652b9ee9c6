{#
    Incremental facts on charge_date (fct_daily_costs) rebuild every day from the first one a
    load changed since the last build: "since the last build" = loads of the ledger that
    succeeded and finished after the table's max(watermark_column).

    first_day_to_rebuild: that first day as a scalar subquery (null when no load finished
    since). On Spark the model selects the days from it on and overwrites their charge_date
    partitions (insert_overwrite).

    delete_days_to_rebuild: the DuckDB pre-hook (delete+insert): delete those days, so a day a
    reload emptied disappears too. A table without the watermark column (built before it
    existed) is emptied: the run then rebuilds it in full.
#}
{% macro first_day_to_rebuild(ledger, watermark_column='_loaded_through') -%}
    (
        select min(window_start)
        from {{ ledger }}
        where
            is_succeeded
            and finished_at > (
                select coalesce(max({{ watermark_column }}), timestamp '0001-01-01')
                from {{ this }}
            )
    )
{%- endmacro %}

{% macro delete_days_to_rebuild(ledger, watermark_column='_loaded_through') -%}
    {%- if is_incremental() -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        delete from {{ this }}
        {%- if watermark_column in columns %}
        where charge_date >= {{ first_day_to_rebuild(ledger, watermark_column) }}
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
