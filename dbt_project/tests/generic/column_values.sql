{#
    Every column of the model holds the values its yml declares:
      - no null where the column declares a `not_null` constraint;
      - the key, where `config: meta: primary_key: true`: no null and no value on two rows
        (one column per model);
      - the grain, a key of several columns declared on the model, seed or source itself
        (`config: meta: grain: [...]`): no combination of their values on two rows (nulls
        compare equal, as in group by; a column's nulls are its not_null constraint's
        business);
      - one of `config: meta: accepted_values: [...]` (nulls pass, as with dbt's
        accepted_values: a column that must not be null also declares the constraint);
      - a normalised provider name where `config: meta: provider_name: true`: the value equals
        normalized_provider_name of itself (so 'Amazon Web Services', 'Microsoft' or ' AWS'
        fail: FOCUS files bring any provider, so no fixed list), not empty, and 'All' only
        with `provider_name: all` (the provider_scope of every provider together).
    Fails with one row per offence: column_name (the grain's columns joined with ', ' for
    grain), rule (not_null, primary_key, grain, accepted_values, provider_name),
    offending_value (null for not_null; the repeated key for primary_key; the repeated
    values joined with ' | ', a null as 'null', for grain) and row_count (the rows with
    it).

    The rules are written once, next to the column's docs (where the docs site shows them),
    and cost one test node per model instead of one per column and rule: a dbt test node
    costs about 75 ms of dbt's own work besides its query (a daily build ran about 160
    nodes, 35 of them primary-key tests), and on Spark a query each. One scan groups the
    model's rows by the value-checked columns (enumerations: a few hundred groups) with
    each not_null column's null count, and every value rule reads that profile; the key's
    duplicates are a second scan (macros/duplicate_keys.sql: on DuckDB through 64-bit
    hashes first, which fits 100M keys in a 6 GB memory limit), and the grain's a third
    (duplicate_grains there, through hashes on DuckDB too). On a mart with an enforced
    contract DuckDB also refuses a null while the table is built; this test checks the same
    on views, intermediate tables and on Spark (which does not enforce constraints). Sources
    and seeds declare the same rules (dbt enforces nothing on them).
#}
{% test column_values(model) %}

{%- set rules = declared_column_rules() -%}
{%- set not_null = rules['not_null'] -%}
{%- set value_columns = [] -%}
{%- for column, _ in rules['accepted_values'] + rules['provider_name'] -%}
    {%- if column not in value_columns -%}
        {%- do value_columns.append(column) -%}
    {%- endif -%}
{%- endfor -%}
{%- set grain = rules['grain'] -%}
{%- if not_null | length + value_columns | length + grain | length == 0 and execute -%}
    {{ exceptions.raise_compiler_error(
        "column_values: the model under test declares no not_null constraint, "
        ~ "primary_key, accepted_values, provider_name or grain") }}
{%- endif %}

with

profile as (
    select
    {%- for column in value_columns %}
        {{ column }},
    {%- endfor %}
    {%- for column in not_null %}
        count(*) - count({{ column }}) as null_rows_{{ loop.index }},
    {%- endfor %}
        count(*) as row_count
    from {{ model }}
    {%- if value_columns %}
    group by {{ value_columns | join(', ') }}
    {%- endif %}
),

{%- set offences = [] -%}
{%- for column in not_null -%}
    {%- set offence -%}
    select
        '{{ column }}' as column_name,
        'not_null' as rule,
        cast(null as {{ dbt.type_string() }}) as offending_value,
        sum(null_rows_{{ loop.index }}) as row_count
    from profile
    {%- endset -%}
    {%- do offences.append(offence) -%}
{%- endfor -%}
{%- for column in rules['primary_key'] -%}
    {%- set offence -%}
    select
        '{{ column }}' as column_name,
        'primary_key' as rule,
        cast(key_value as {{ dbt.type_string() }}) as offending_value,
        occurrences as row_count
    from ({{ duplicate_keys(model, column) }}) as duplicates
    {%- endset -%}
    {%- do offences.append(offence) -%}
{%- endfor -%}
{%- if grain -%}
    {%- set shown = [] -%}
    {%- for column in grain -%}
        {%- if not loop.first -%}
            {%- do shown.append("' | '") -%}
        {%- endif -%}
        {%- do shown.append("coalesce(cast(" ~ column ~ " as " ~ dbt.type_string() ~ "), 'null')") -%}
    {%- endfor -%}
    {%- set offence -%}
    select
        '{{ grain | join(', ') }}' as column_name,
        'grain' as rule,
        {{ dbt.concat(shown) }} as offending_value,
        occurrences as row_count
    from ({{ duplicate_grains(model, grain) }}) as duplicates
    {%- endset -%}
    {%- do offences.append(offence) -%}
{%- endif -%}
{#- the value rules: (column, rule, the SQL condition of an offending non-null value) -#}
{%- set value_rules = [] -%}
{%- for column, values in rules['accepted_values'] -%}
    {%- set listed = [] -%}
    {%- for value in values -%}
        {%- do listed.append(value if value is number else "'" ~ (value | replace("'", "''")) ~ "'") -%}
    {%- endfor -%}
    {%- do value_rules.append((column, 'accepted_values',
        column ~ ' not in (' ~ listed | join(', ') ~ ')')) -%}
{%- endfor -%}
{%- for column, allow_all in rules['provider_name'] -%}
    {%- do value_rules.append((column, 'provider_name',
        "trim(" ~ column ~ ") = '' or " ~ column ~ " != " ~ normalized_provider_name(column)
        ~ ("" if allow_all else " or " ~ column ~ " = 'All'"))) -%}
{%- endfor -%}
{%- for column, rule, condition in value_rules -%}
    {%- set offence -%}
    select
        '{{ column }}' as column_name,
        '{{ rule }}' as rule,
        cast({{ column }} as {{ dbt.type_string() }}) as offending_value,
        sum(row_count) as row_count
    from profile
    where {{ column }} is not null and ({{ condition }})
    group by {{ column }}
    {%- endset -%}
    {%- do offences.append(offence) -%}
{%- endfor %}

offences as (
    {{ offences | join('\n    union all\n    ') }}
),

final as (
    select *
    from offences
    where row_count > 0
)

select * from final

{% endtest %}
