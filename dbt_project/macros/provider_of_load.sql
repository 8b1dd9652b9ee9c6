{#
    The provider a load ledger (or restatement ledger) row stands for, from its raw table:
    the API tables have one provider each; a FOCUS files load names it in its scope
    (`<ProviderName>/<BillingAccountId>@<BillingPeriodStart>`, see loaders/focus_files),
    normalised like the FOCUS staging model does.
#}
{% macro provider_of_load(raw_table, scope) -%}
    case {{ raw_table }}
        when 'raw.aws_cost_explorer' then 'AWS'
        when 'raw.azure_cost_management' then 'Azure'
        when 'raw.focus_costs' then {{ normalized_provider_name("regexp_extract(" ~ scope ~ ", '^([^/]*)/', 1)") }}
    end
{%- endmacro %}
