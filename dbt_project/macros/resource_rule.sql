{#
    The body of a billing-data rule model over the FOCUS import's resource grain
    (stg_focus_files__resource_costs): one row per day of every resource (and billing
    currency) the rule matched on some day, in the columns every rule model has (source ..
    series_cost, see int_rule_opportunities). A row of the grain matches when `match` holds;
    a day matches when its matching rows cost something (effective cost > 0); the day's wasted cost is `saved_cost` summed over
    its matching rows; the series is the resource's whole effective cost of the day, kept on
    the days it no longer matches, so the drop after a change is the realized saving. The
    action is the one of the day's matching rows, or of the resource's last matching day.
    With `first_charges`, each row also has `first_charge_date`: the resource's first charge
    day in stg_focus_files__snapshot_spans (all billing periods; null for a resource not
    there), for rules on a resource's age.
#}
{% macro resource_rule(rule, category, match, saved_cost, action, provider=none, derived={}, first_charges=false) -%}
with
{% if first_charges %}
first_charges as (
    select
        provider_name,
        resource_id,
        min(first_charge_date) as first_charge_date
    from {{ ref('stg_focus_files__snapshot_spans') }}
    group by provider_name, resource_id
),
{% endif %}
grain as (
    select
        resource_grain.*
        {%- if first_charges %},
        first_charges.first_charge_date
        {%- endif %}
    from {{ ref('stg_focus_files__resource_costs') }} as resource_grain
    {%- if first_charges %}
    left join first_charges
        on
            resource_grain.provider_name = first_charges.provider_name
            and resource_grain.resource_id = first_charges.resource_id
    {%- endif %}
    {%- if provider %}
    where resource_grain.provider_name = '{{ provider }}'
    {%- endif %}
),

resource_rows as (
    select
        *
        {%- for name, expression in derived.items() %},
        {{ expression }} as {{ name }}
        {%- endfor %}
    from grain
),

resource_costs as (
    select
        *,
        coalesce({{ match }}, false) as is_matching_row
    from resource_rows
),

resource_days as (
    select
        provider_name,
        resource_id,
        billing_currency,
        charge_date,
        max(sub_account_id) as sub_account_id,
        max(service_name) as service_name,
        max(region_id) as region_id,
        sum(case when is_matching_row then effective_cost else 0 end) > 0 as is_match,
        sum(case when is_matching_row then {{ saved_cost }} else 0 end) as wasted_cost,
        sum(effective_cost) as series_cost,
        max(case when is_matching_row then {{ action }} end) as day_action
    from resource_costs
    where resource_id is not null
    group by provider_name, resource_id, billing_currency, charge_date
),

-- the resources the rule matched on some day, with the action of their last matching day
matched_resources as (
    select
        provider_name,
        resource_id,
        billing_currency,
        day_action as last_action
    from (
        select
            *,
            row_number() over (
                partition by provider_name, resource_id, billing_currency
                order by charge_date desc
            ) as recency
        from resource_days
        where is_match
    ) as matched_days
    where recency = 1
),

final as (
    select
        'rule:{{ rule }}' as source,
        {{ surrogate_key([
            "'rule:" ~ rule ~ "'", 'resource_days.provider_name', 'resource_days.resource_id',
            'resource_days.billing_currency',
        ]) }} as opportunity_key,
        cast(resource_days.charge_date as date) as charge_date,
        cast(resource_days.provider_name as string) as provider_name,
        cast(resource_days.sub_account_id as string) as sub_account_id,
        cast(resource_days.resource_id as string) as resource_id,
        cast(resource_days.service_name as string) as service_name,
        cast(resource_days.region_id as string) as region_id,
        '{{ category }}' as category,
        cast(coalesce(resource_days.day_action, matched_resources.last_action) as string)
            as action,
        cast(resource_days.billing_currency as string) as billing_currency,
        resource_days.is_match,
        cast(greatest(resource_days.wasted_cost, 0) as decimal(38, 10)) as wasted_cost,
        cast(resource_days.series_cost as decimal(38, 10)) as series_cost
    from resource_days
    inner join matched_resources
        on
            resource_days.provider_name = matched_resources.provider_name
            and resource_days.resource_id = matched_resources.resource_id
            and resource_days.billing_currency = matched_resources.billing_currency
)

select * from final
{%- endmacro %}

{#
    A monthly saving measured as the drop of a series' daily cost: its cost per day in the
    days before (ending on the opportunity's last_seen) minus its cost per day in the days
    after, x 30, in double on every engine (Spark's decimal division keeps no fixed scale),
    rounded to 10 decimals as decimal(38, 10). The one formula of realized_monthly_savings.
#}
{% macro monthly_drop(series_before, days_before, series_after, days_after) -%}
    cast(
        round(
            (
                cast({{ series_before }} as double) / ({{ days_before }})
                - cast({{ series_after }} as double) / ({{ days_after }})
            ) * 30,
            10
        )
        as decimal(38, 10)
    )
{%- endmacro %}
