{#
    FOCUS 1.2 conformance of a cost model that uses FOCUS column names in snake_case.
    Checks every FOCUS column the model actually has (columns it lacks are skipped, so the
    same test serves the unified intermediate model and the daily mart):
    - mandatory columns are never null: charge_date (ChargePeriodStart), provider_name,
      billing_account_id, sub_account_id (conditional in FOCUS, always known here),
      service_name, service_category, charge_category, billing_currency, billed_cost,
      effective_cost (and charge_class may be null, as FOCUS allows);
    - allowed values: service_category one of the 19 of focus_service_categories, and
      service_subcategory one of that category's subcategories; charge_category one of
      Usage, Purchase, Tax, Credit, Adjustment; charge_class null or Correction;
      charge_frequency null or One-Time, Recurring, Usage-Based; billing_currency an
      upper-case ISO 4217 code; region_id, when present, a non-empty lower-case id;
    - a ServiceName maps to exactly one ServiceCategory (per provider).
    Fails with one row per violation: the rule, the offending value and how many rows.
#}
{% test focus_conformant(model) %}

{#- `model` may be a filtered subquery (the `where` config), not a relation: its columns are
    those of an empty select from it. -#}
{%- set present = [] -%}
{%- if execute -%}
    {%- for column in run_query('select * from ' ~ model ~ ' where 1 = 0').column_names -%}
        {%- do present.append(column | lower) -%}
    {%- endfor -%}
{%- endif -%}

{%- set mandatory = [
    'charge_date', 'provider_name', 'billing_account_id', 'sub_account_id', 'service_name',
    'service_category', 'charge_category', 'billing_currency', 'billed_cost', 'effective_cost',
] -%}

with

costs as (
    select * from {{ model }}
),

categories as (
    select * from {{ ref('focus_service_categories') }}
),

violations as (
    {%- for column in mandatory if column in present %}
    select
        'mandatory column {{ column }} is null' as rule,
        cast(null as string) as offending_value,
        count(*) as row_count
    from costs
    where {{ column }} is null
    having count(*) > 0

    union all
    {%- endfor %}

    {%- if 'service_category' in present %}
    select
        'service_category is not a FOCUS 1.2 ServiceCategory' as rule,
        cast(costs.service_category as string) as offending_value,
        count(*) as row_count
    from costs
    where costs.service_category not in (select categories.service_category from categories)
    group by costs.service_category

    union all
    {%- endif %}

    {%- if 'service_subcategory' in present %}
    select
        'service_subcategory is not a subcategory of its service_category' as rule,
        cast(costs.service_category || ' / ' || costs.service_subcategory as string)
            as offending_value,
        count(*) as row_count
    from costs
    left join categories
        on
            costs.service_category = categories.service_category
            and costs.service_subcategory = categories.service_subcategory
    where costs.service_subcategory is not null and categories.service_subcategory is null
    group by costs.service_category, costs.service_subcategory

    union all
    {%- endif %}

    {#- columns with a fixed list of allowed values: (column, allowed values, null allowed) #}
    {%- set enumerations = [
        ('charge_category', ['Usage', 'Purchase', 'Tax', 'Credit', 'Adjustment'], false),
        ('charge_class', ['Correction'], true),
        ('charge_frequency', ['One-Time', 'Recurring', 'Usage-Based'], true),
    ] %}
    {%- for column, allowed, nullable in enumerations if column in present %}
    select
        '{{ column }} is not {{ allowed | join(", ") }}{{ " or null" if nullable }}' as rule,
        cast({{ column }} as string) as offending_value,
        count(*) as row_count
    from costs
    where
        {%- if nullable %} {{ column }} is not null and{% endif %}
        {{ column }} not in ('{{ allowed | join("', '") }}')
    group by {{ column }}

    union all
    {%- endfor %}

    {%- if 'billing_currency' in present %}
    select
        'billing_currency is not an upper-case ISO 4217 code' as rule,
        cast(billing_currency as string) as offending_value,
        count(*) as row_count
    from costs
    where not {{ full_match('billing_currency', '[A-Z]{3}') }}
    group by billing_currency

    union all
    {%- endif %}

    {%- if 'region_id' in present %}
    select
        'region_id is empty or not lower-case' as rule,
        cast(region_id as string) as offending_value,
        count(*) as row_count
    from costs
    where region_id is not null and (trim(region_id) = '' or region_id != lower(region_id))
    group by region_id

    union all
    {%- endif %}

    {%- if 'service_category' in present and 'service_name' in present %}
    select
        'service_name maps to more than one service_category' as rule,
        cast(provider_name || ' / ' || service_name as string) as offending_value,
        count(*) as row_count
    from costs
    group by provider_name, service_name
    having count(distinct service_category) > 1

    union all
    {%- endif %}

    select
        cast(null as string) as rule,
        cast(null as string) as offending_value,
        cast(0 as bigint) as row_count
    where false
)

select * from violations

{% endtest %}
