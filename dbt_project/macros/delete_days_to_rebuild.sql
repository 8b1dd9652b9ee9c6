{#
    Pre-hook of an incremental fact on charge_date (fct_daily_costs): delete every day from
    the first one a load changed since the last build, so a day a reload emptied disappears
    too. "Since the last build" = loads of the ledger that succeeded and finished after the
    table's max(watermark_column). A table without the watermark column (built before it
    existed) is emptied: the run then rebuilds it in full.
#}
{% macro delete_days_to_rebuild(ledger, watermark_column='_loaded_through') -%}
    {%- if is_incremental() -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | map('lower') | list -%}
        delete from {{ this }}
        {%- if watermark_column in columns %}
        where charge_date >= (
            select min(window_start)
            from {{ ledger }}
            where
                is_succeeded
                and finished_at > (
                    select coalesce(max({{ watermark_column }}), timestamp '0001-01-01')
                    from {{ this }}
                )
        )
        {%- endif -%}
    {%- endif -%}
{%- endmacro %}
