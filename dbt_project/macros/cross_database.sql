{#
    Where DuckDB and Spark SQL spell something differently, models call one of these
    dispatched macros (default__ = DuckDB, spark__ = Spark SQL; a project adding an adapter
    adds its own `<adapter>__` versions). Everything else in the models is SQL both engines
    read the same way: `string` for text, `max_by`, `(values ...)` lists, `qualify`,
    `filter (where ...)`. .sqlfluff stubs each macro with its DuckDB spelling for the linter.
#}

{#- The dates from `start_date` to `end_date` (both included), one row each: a set-returning
    select expression. -#}
{% macro day_series(start_date, end_date) -%}
    {{ return(adapter.dispatch('day_series', 'finops')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__day_series(start_date, end_date) -%}
    cast(unnest(generate_series(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day)) as date)
{%- endmacro %}

{% macro spark__day_series(start_date, end_date) -%}
    explode(sequence(cast({{ start_date }} as date), cast({{ end_date }} as date), interval 1 day))
{%- endmacro %}

{#- The first days of the months from `start_month` to `end_month` (both first days of a
    month, included): a set-returning select expression. -#}
{% macro month_series(start_month, end_month) -%}
    {{ return(adapter.dispatch('month_series', 'finops')(start_month, end_month)) }}
{%- endmacro %}

{% macro default__month_series(start_month, end_month) -%}
    cast(unnest(generate_series(cast({{ start_month }} as date), cast({{ end_month }} as date), interval 1 month)) as date)
{%- endmacro %}

{% macro spark__month_series(start_month, end_month) -%}
    explode(sequence(cast({{ start_month }} as date), cast({{ end_month }} as date), interval 1 month))
{%- endmacro %}

{#- ISO day of the week: 1 = Monday ... 7 = Sunday. -#}
{% macro iso_day_of_week(day) -%}
    {{ return(adapter.dispatch('iso_day_of_week', 'finops')(day)) }}
{%- endmacro %}

{% macro default__iso_day_of_week(day) -%}
    isodow({{ day }})
{%- endmacro %}

{% macro spark__iso_day_of_week(day) -%}
    (weekday({{ day }}) + 1)
{%- endmacro %}

{#- A date from text written YYYYMMDD (Azure's UsageDate). DuckDB raises on text that is not
    such a date, Spark gives null (the staging column_values test then fails). -#}
{% macro date_from_yyyymmdd(text) -%}
    {{ return(adapter.dispatch('date_from_yyyymmdd', 'finops')(text)) }}
{%- endmacro %}

{% macro default__date_from_yyyymmdd(text) -%}
    cast(strptime({{ text }}, '%Y%m%d') as date)
{%- endmacro %}

{% macro spark__date_from_yyyymmdd(text) -%}
    to_date({{ text }}, 'yyyyMMdd')
{%- endmacro %}

{#- The month of a date as text 'YYYY-MM'. -#}
{% macro year_month_text(day) -%}
    {{ return(adapter.dispatch('year_month_text', 'finops')(day)) }}
{%- endmacro %}

{% macro default__year_month_text(day) -%}
    strftime({{ day }}, '%Y-%m')
{%- endmacro %}

{% macro spark__year_month_text(day) -%}
    date_format({{ day }}, 'yyyy-MM')
{%- endmacro %}

{#- The date `months` calendar months after the date `day` (the month's last day when it
    has no such day: 2025-01-31 + 1 month = 2025-02-28); null for a null day. -#}
{% macro add_months(day, months) -%}
    {{ return(adapter.dispatch('add_months', 'finops')(day, months)) }}
{%- endmacro %}

{% macro default__add_months(day, months) -%}
    cast({{ day }} + to_months({{ months }}) as date)
{%- endmacro %}

{% macro spark__add_months(day, months) -%}
    add_months({{ day }}, {{ months }})
{%- endmacro %}

{#- The date `days` days after a date (before it when negative). -#}
{% macro add_days(day, days) -%}
    {{ return(adapter.dispatch('add_days', 'finops')(day, days)) }}
{%- endmacro %}

{% macro default__add_days(day, days) -%}
    cast({{ day }} + to_days({{ days }}) as date)
{%- endmacro %}

{% macro spark__add_days(day, days) -%}
    date_add({{ day }}, {{ days }})
{%- endmacro %}

{#- True when the whole of `text` matches the regular expression `pattern`. -#}
{% macro full_match(text, pattern) -%}
    {{ return(adapter.dispatch('full_match', 'finops')(text, pattern)) }}
{%- endmacro %}

{% macro default__full_match(text, pattern) -%}
    regexp_full_match({{ text }}, '{{ pattern }}')
{%- endmacro %}

{% macro spark__full_match(text, pattern) -%}
    ({{ text }} rlike '^(?:{{ pattern }})$')
{%- endmacro %}

{#- Whole days from `start_date` to `end_date` (negative when end is earlier). -#}
{% macro days_between(start_date, end_date) -%}
    {{ return(adapter.dispatch('days_between', 'finops')(start_date, end_date)) }}
{%- endmacro %}

{% macro default__days_between(start_date, end_date) -%}
    date_diff('day', {{ start_date }}, {{ end_date }})
{%- endmacro %}

{% macro spark__days_between(start_date, end_date) -%}
    datediff({{ end_date }}, {{ start_date }})
{%- endmacro %}

{#- True when building on Spark (dbt-spark: session, thrift or http): models that need
    another materialization there, such as the incremental fct_daily_costs, ask this. -#}
{% macro target_is_spark() -%}
    {{ return(target.type == 'spark') }}
{%- endmacro %}

{#- A Python string as an SQL string literal (DuckDB doubles a quote, Spark escapes it with
    a backslash: adjacent literals `'a''b'` concatenate there). -#}
{% macro sql_string(value) -%}
    {{ return(adapter.dispatch('sql_string', 'finops')(value)) }}
{%- endmacro %}

{% macro default__sql_string(value) -%}
    '{{ value | string | replace("'", "''") }}'
{%- endmacro %}

{% macro spark__sql_string(value) -%}
    '{{ value | string | replace("\\", "\\\\") | replace("'", "\\'") }}'
{%- endmacro %}

{#- The text value of the member `key` of a JSON object held as text (null when absent or
    null): any key, whatever characters it has. -#}
{% macro json_text(json, key) -%}
    {{ return(adapter.dispatch('json_text', 'finops')(json, key)) }}
{%- endmacro %}

{% macro default__json_text(json, key) -%}
    json_extract_string({{ json }}, {{ sql_string('/' ~ key.replace('~', '~0').replace('/', '~1')) }})
{%- endmacro %}

{% macro spark__json_text(json, key) -%}
    get_json_object({{ json }}, {{ sql_string("$['" ~ key ~ "']") }})
{%- endmacro %}

{#- The 25th, 50th and 75th percentiles of `expression` (nulls ignored; linear interpolation
    between the closest values, as numpy's default), as one array-valued aggregate: use with
    `over (...)` as a window function, read with quartile(). One aggregate for the three,
    which DuckDB computes in one pass of its window. -#}
{% macro quartiles(expression) -%}
    {{ return(adapter.dispatch('quartiles', 'finops')(expression)) }}
{%- endmacro %}

{% macro default__quartiles(expression) -%}
    quantile_cont({{ expression }}, [0.25, 0.5, 0.75])
{%- endmacro %}

{% macro spark__quartiles(expression) -%}
    percentile({{ expression }}, array(0.25, 0.5, 0.75))
{%- endmacro %}

{#- Quartile `position` (1, 2 or 3) of a quartiles() value (null when it is null). -#}
{% macro quartile(quartiles_column, position) -%}
    {{ return(adapter.dispatch('quartile', 'finops')(quartiles_column, position)) }}
{%- endmacro %}

{% macro default__quartile(quartiles_column, position) -%}
    {{ quartiles_column }}[{{ position }}]
{%- endmacro %}

{% macro spark__quartile(quartiles_column, position) -%}
    element_at({{ quartiles_column }}, {{ position }})
{%- endmacro %}

{#- `name as {{ cte_inlined() }} (...)`: a CTE that several others read, computed where each
    reads it instead of kept once. DuckDB keeps (materializes) such a CTE: right for a small
    result that is costly to compute, costly for a large one that is cheap to compute again
    (fct_anomaly_series' service days, every scored day of every series: 26M rows at 50M raw
    rows, kept and spilled 2.5 GB under the 6 GB limit; 9.5 s alone, 3.2 s computed twice).
    Spark computes a CTE where it is read: nothing to say there. -#}
{% macro cte_inlined() -%}
    {{ return(adapter.dispatch('cte_inlined', 'finops')()) }}
{%- endmacro %}

{% macro default__cte_inlined() -%}
    not materialized
{%- endmacro %}

{% macro spark__cte_inlined() -%}
{%- endmacro %}
