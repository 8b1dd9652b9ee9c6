{#
    FOCUS SubAccountId in the vocabulary of the cost marts: Azure writes
    /subscriptions/{guid}, reduced to the lower-case guid as the Azure API staging writes it;
    a row without a sub account belongs to its billing account (`billing_account`, SQL).
    Placeholders ('', 'NULL') are no value. The one rule of the FOCUS staging models.
#}
{% macro focus_sub_account_id(billing_account) -%}
    coalesce(
        case
            when {{ normalized_provider_name('provider_name') }} = 'Azure'
                then lower(regexp_replace({{ null_if_placeholder('sub_account_id') }}, '(?i)^/subscriptions/', ''))
            else {{ null_if_placeholder('sub_account_id') }}
        end,
        {{ billing_account }}
    )
{%- endmacro %}

{#- FOCUS ResourceId trimmed, Azure's lower-cased (Azure ids are case-insensitive and its
    exports spell them both ways). -#}
{% macro focus_resource_id() -%}
    case
        when {{ normalized_provider_name('provider_name') }} = 'Azure' then lower(trim(resource_id))
        else trim(resource_id)
    end
{%- endmacro %}
