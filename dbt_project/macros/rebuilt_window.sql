{#
    A daily build tests what it rebuilt, not the history.

    The var `window_start` (YYYY-MM-DD) is the first charge date the build rebuilds: the
    pipeline's DbtBuild sets it (pipelines/build_tasks.py: the earliest window_start of the
    loads that landed since the last build) through the environment variable
    FINOPS_DBT_WINDOW_START, which the var defaults to, because dbt parses the whole project
    again whenever --vars change (about 6 s) and env vars read at run time do not. By hand:
    `dbt build --vars '{window_start: 2026-11-01}'`. Data tests on cost relations carry
    `where: __rebuilt_window__` (set per folder in dbt_project.yml), and get_where_subquery
    below turns it into "the relation's day column >= window_start": the first column of
    charge_date, time_period_start (AWS raw) or usage_date (Azure raw, yyyymmdd integer) the
    relation documents. Every test covers the whole history (`true`) when:
      - no window_start is set (`finops verify`, a `dbt build` by hand, the first build),
      - the build is a --full-refresh,
      - the relation has no day column (seeds, the ledgers, dimensions: small relations).
    Singular tests call rebuilt_window_predicate('<column>') themselves.

    dbt's own get_where_subquery (dbt-core, macros/materializations/tests/where_subquery.sql)
    only wraps the relation in a subquery with the where; this one also resolves the
    placeholder (dbt documents overriding it for exactly this: placeholders in `where`).
#}

{% macro window_start() -%}
    {#- read at run time only: what a test reads at parse time would tie the parse to it -#}
    {%- if not execute or flags.FULL_REFRESH -%}
        {{ return(none) }}
    {%- endif -%}
    {%- set value = var('window_start', none) -%}
    {%- if value is none -%}
        {%- set value = env_var('FINOPS_DBT_WINDOW_START', '') -%}
    {%- endif -%}
    {%- set text = value | string | trim -%}
    {%- if text in ('', 'none', 'None') -%}
        {{ return(none) }}
    {%- endif -%}
    {#- a typo must fail the build, not widen or empty every test silently -#}
    {%- if modules.re.fullmatch('[0-9]{4}-[0-9]{2}-[0-9]{2}', text) is none -%}
        {{ exceptions.raise_compiler_error("window_start must be YYYY-MM-DD, got '" ~ text ~ "'") }}
    {%- endif -%}
    {{ return(text) }}
{%- endmacro %}

{#- The predicate "column >= window_start" for a day column, or `true` without a window. -#}
{% macro rebuilt_window_predicate(column_name) -%}
    {%- set start = window_start() -%}
    {%- if start is none -%}
        true
    {%- elif column_name.split('.')[-1] == 'usage_date' -%}
        {{ column_name }} >= {{ start | replace('-', '') }}
    {%- else -%}
        {{ column_name }} >= cast('{{ start }}' as date)
    {%- endif -%}
{%- endmacro %}

{#- The day column of the relation a test reads, from its documented columns; none without. -#}
{% macro window_column_of(relation) -%}
    {%- set candidates = ['charge_date', 'time_period_start', 'usage_date'] -%}
    {%- for unique_id in model.depends_on.nodes -%}
        {%- set node = graph.nodes.get(unique_id) or graph.sources.get(unique_id) -%}
        {%- if node -%}
            {%- set name = (node.get('alias') or node.get('identifier') or node.name) | lower -%}
            {%- if name == (relation.identifier | lower) -%}
                {%- set documented = node.columns.keys() | map('lower') | list -%}
                {%- for column in candidates if column in documented -%}
                    {{ return(column) }}
                {%- endfor -%}
            {%- endif -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(none) }}
{%- endmacro %}

{% macro get_where_subquery(relation) -%}
    {%- set where = config.get('where') -%}
    {%- if where and '__rebuilt_window__' in where -%}
        {%- set column = window_column_of(relation) -%}
        {%- set predicate = rebuilt_window_predicate(column) if column else 'true' -%}
        {%- set where = where | replace('__rebuilt_window__', predicate) -%}
        {%- if where | trim == 'true' -%}
            {%- set where = none -%}
        {%- endif -%}
    {%- endif -%}
    {%- if where -%}
        {%- set filtered -%}
            (select * from {{ relation }} where {{ where }}) dbt_subquery
        {%- endset -%}
        {{ return(filtered) }}
    {%- else -%}
        {{ return(relation) }}
    {%- endif -%}
{%- endmacro %}
