{#
    The cost allocation configuration (issue #18; docs/allocation.md): the tag keys of
    FINOPS_ALLOCATION_TAGS and the rules of FINOPS_ALLOCATION_RULES, validated by the
    pipeline (finops/allocation.py) and handed to dbt as one JSON document in the environment
    variable FINOPS_ALLOCATION_CONFIG (finops/settings.py `dbt_env`):

        {"keys": ["team", ...],
         "account_map": [{"key": "team", "sub_account_id": "111111111111", "value": "platform"}],
         "rules": [{"key": "team", "name": "support", "order": 1,
                    "method": "even" | "percentages" | "proportional",
                    "match": {"service_name": [...], "charge_category": [...], "sub_account_id": [...]},
                    "targets": [{"value": "platform", "share": "0.5" | null}, ...]}]}

    Unset or empty: no keys, and the allocation models hold no rows.
#}
{% macro allocation_config() -%}
    {%- set text = env_var('FINOPS_ALLOCATION_CONFIG', '') | trim -%}
    {%- if not text -%}
        {{ return({'keys': [], 'account_map': [], 'rules': []}) }}
    {%- endif -%}
    {{ return(fromjson(text)) }}
{%- endmacro %}

{#- The fingerprint of the configuration the allocation models were built with
    (x_config_fingerprint): another configuration rebuilds them whole. Of the parsed
    document, so an unset variable and the empty document are the same configuration. -#}
{% macro allocation_fingerprint() -%}
    {{ return(local_md5(tojson(allocation_config()))) }}
{%- endmacro %}
