{#- The column rules the yml of the model, seed or source a test is attached to declares (a
    source test has no attached_node: its one dependency), for the column_values test:
      not_null:        [column]           a `constraints: - type: not_null`, and the key
      primary_key:     [column]           `config: meta: primary_key: true` (at most one)
      accepted_values: [(column, values)]  `config: meta: accepted_values: [...]`
      provider_name:   [(column, allow_all)] `config: meta: provider_name: true | all`
      grain:           [column]           the node's own `config: meta: grain: [...]`: the
                                          columns no two rows share the values of
    Empty lists when the node declares none. -#}
{% macro declared_column_rules() -%}
    {%- set rules = {'not_null': [], 'primary_key': [], 'accepted_values': [], 'provider_name': [],
                     'grain': []} -%}
    {%- set node = graph.nodes.get(model.attached_node) if model.attached_node else none -%}
    {%- if node is none and model.depends_on.nodes | length == 1 -%}
        {%- set node = graph.sources.get(model.depends_on.nodes[0]) -%}
    {%- endif -%}
    {%- if node is none -%}
        {{ return(rules) }}
    {%- endif -%}
    {%- set grain = ((node.config or {}).get('meta') or node.meta or {}).get('grain') -%}
    {%- if grain is not none -%}
        {%- if grain is string or grain is not iterable or grain | length < 2 -%}
            {{ exceptions.raise_compiler_error(
                node.name ~ ": meta grain must list two or more columns (a key of one column: "
                ~ "meta primary_key: true on it), got " ~ grain) }}
        {%- endif -%}
        {%- for name in grain if name not in node.columns -%}
            {{ exceptions.raise_compiler_error(
                node.name ~ ": meta grain names " ~ name ~ ", which is not a documented column") }}
        {%- endfor -%}
        {%- do rules['grain'].extend(grain) -%}
    {%- endif -%}
    {%- for name, column in node.columns.items() -%}
        {%- set meta = (column.config or {}).get('meta') or column.meta or {} -%}
        {%- if meta.get('primary_key') is not none -%}
            {%- if meta['primary_key'] is not true or rules['primary_key'] -%}
                {{ exceptions.raise_compiler_error(
                    "column " ~ name ~ " of " ~ node.name ~ ": meta primary_key must be true, "
                    ~ "on one column (a key of several columns: the node's meta grain)") }}
            {%- endif -%}
            {%- do rules['primary_key'].append(name) -%}
        {%- endif -%}
        {%- set constrained = column.constraints or [] -%}
        {%- if name in rules['primary_key']
            or constrained | selectattr('type', 'equalto', 'not_null') | list -%}
            {%- do rules['not_null'].append(name) -%}
        {%- endif -%}
        {%- if meta.get('accepted_values') is not none -%}
            {%- set values = meta['accepted_values'] -%}
            {%- if values is string or values is not iterable or values | length == 0 -%}
                {{ exceptions.raise_compiler_error(
                    "column " ~ name ~ " of " ~ node.name
                    ~ ": meta accepted_values must be a non-empty list") }}
            {%- endif -%}
            {%- do rules['accepted_values'].append((name, values)) -%}
        {%- endif -%}
        {%- set provider = meta.get('provider_name') -%}
        {%- if provider is not none -%}
            {%- if provider not in (true, 'all') -%}
                {{ exceptions.raise_compiler_error(
                    "column " ~ name ~ " of " ~ node.name
                    ~ ": meta provider_name must be true or 'all', got " ~ provider) }}
            {%- endif -%}
            {%- do rules['provider_name'].append((name, provider == 'all')) -%}
        {%- endif -%}
    {%- endfor -%}
    {{ return(rules) }}
{%- endmacro %}
