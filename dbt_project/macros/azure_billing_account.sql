{#
    The billing account an Azure ARM path names (`/providers/Microsoft.Billing/
    billingAccounts/<id>`, any case, what follows ignored), else `otherwise`: a billing-account
    load scope or a FOCUS BillingAccountId written as such a path gives the account's id; a
    subscription (or management group) scope does not reveal it.
#}
{% macro azure_billing_account(path, otherwise) -%}
    coalesce(
        nullif(
            regexp_extract({{ path }}, '(?i)^/providers/microsoft\.billing/billingaccounts/([^/]+)', 1),
            ''
        ),
        {{ otherwise }}
    )
{%- endmacro %}


{#- The join keys of an Azure commitment or price row (stg_azure_cost_management__
    commitment_costs, __price_details): pricing model and benefit id, normalised. -#}
{% macro azure_benefit_keys() -%}
    replace(lower(coalesce(pricing_model, '')), ' ', '') as pricing_key,
    lower(trim(coalesce(benefit_id, ''))) as benefit_key
{%- endmacro %}
