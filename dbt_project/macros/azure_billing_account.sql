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
