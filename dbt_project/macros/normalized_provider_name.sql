{#
    FOCUS ProviderName as the marts name it: 'AWS' / 'Amazon Web Services' -> 'AWS',
    'Microsoft' / 'Azure' / 'Microsoft Azure' -> 'Azure' (the names the API loaders use);
    any other provider (Oracle, Google Cloud, ...) is kept as given, trimmed.
#}
{% macro normalized_provider_name(expression) -%}
    case
        when lower(trim({{ expression }})) in ('aws', 'amazon', 'amazon web services')
            or lower(trim({{ expression }})) like 'amazon web services,%'
            then 'AWS'
        when lower(trim({{ expression }})) in ('microsoft', 'azure', 'microsoft azure', 'microsoft corporation')
            then 'Azure'
        else trim({{ expression }})
    end
{%- endmacro %}

{#
    A FOCUS ChargeCategory in FOCUS's own spelling whatever the file's case ('usage' ->
    'Usage'); null for a value FOCUS does not know (the staging models keep it visible in
    x_charge_type).
#}
{% macro focus_charge_category(expression) -%}
    case lower(trim({{ expression }}))
        when 'usage' then 'Usage'
        when 'purchase' then 'Purchase'
        when 'tax' then 'Tax'
        when 'credit' then 'Credit'
        when 'adjustment' then 'Adjustment'
    end
{%- endmacro %}
