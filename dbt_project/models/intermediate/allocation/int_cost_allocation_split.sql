-- Every day's cost once per allocation key (FINOPS_ALLOCATION_TAGS), each row given a value
-- of that key (docs/allocation.md, macros/allocation.sql for the configuration):
-- 1. a shared-cost rule of the key matching the row (its first by order: every listed field
--    - service names, charge categories, sub accounts - must match one of its values) splits
--    it over the rule's values: evenly, by fixed percentages, or in proportion to each
--    value's direct (tag or account map) effective cost of the same day, provider, billing
--    currency and key (a negative sum counts as 0); a day whose proportional base is zero
--    splits evenly. Method `shared_rule`.
-- 2. else the row's tag value, method `tag`: a FOCUS row's x_allocation_tags (read at
--    import); a cost API row (no tags of its own) is first split by its day, sub account,
--    service and currency's tag cut (stg_aws_cost_explorer__tag_costs,
--    stg_azure_cost_management__tag_costs) in each value's share of the cut's effective
--    cost (billed when that is 0, else evenly), the untagged part taking the remainder and
--    going on to 3 and 4;
-- 3. else the value the key's account map gives its sub account, method `account_map`;
-- 4. else `(unallocated)`, method `unallocated`.
-- A split row's parts are rounded to 10 decimals and its first value takes the remainder, so
-- the parts sum to the row exactly: allocation never creates or loses money
-- (tests/marts/assert_fct_cost_allocation_reconciles.sql proves it per key against
-- fct_daily_costs).
--
-- Grain: day x provider x billing account x sub account x service x service category x
-- charge category x taggable x billing currency x key x value x method; the service
-- category is the one fct_daily_costs gives the row, so the dashboard's category and
-- charges filters select the same cost in both marts. Taggable: not tax, credits,
-- commitment purchases or unused commitments (Cost Explorer's SavingsPlanRecurringFee /
-- RIFee, Azure's UnusedReservation / UnusedSavingsPlan, FOCUS rows with
-- CommitmentDiscountStatus Unused): nobody can tag those.
-- Incremental on charge_date like its input; the configuration's fingerprint is stored in
-- x_config_fingerprint, and another configuration rebuilds every day, as does a table an
-- older version built without a column of the model (macros/delete_days_to_rebuild.sql).
-- Without keys the model holds no row.
{%- set allocation = allocation_config() %}
{%- set keys = allocation['keys'] %}
{%- set rules = allocation['rules'] | sort(attribute='order') %}
{%- set fingerprint = allocation_fingerprint() %}
{{ config(**incremental_by_day(fingerprint=fingerprint)) }}
{%- set grain = [
    'charge_date', 'provider_name', 'billing_account_id', 'sub_account_id', 'service_name',
    'service_category', 'charge_category', 'is_taggable', 'billing_currency',
] %}
{#- fct_daily_costs' grain, over which that mart takes the max service category -#}
{%- set daily_grain = [
    'charge_date', 'provider_name', 'sub_account_id', 'service_name', 'region_id',
    'charge_category', 'charge_class', 'billing_currency',
] %}
{%- set cut_grain = [
    'charge_date', 'provider_name', 'sub_account_id', 'service_name', 'billing_currency',
    'allocation_key',
] %}
{%- set untaggable_charge_types = [
    'SavingsPlanRecurringFee', 'RIFee', 'UnusedReservation', 'UnusedSavingsPlan',
] %}
with

costs as (
    select * from {{ ref('int_cloud_costs_categorized') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), fingerprint=fingerprint) }}
),

-- the service category fct_daily_costs gives the row (the max over its daily grain, which
-- may hold several), so a category selects the same cost in both marts
classified as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        max(service_category) over (partition by {{ daily_grain | join(', ') }}) as service_category,
        charge_category,
        billing_currency,
        x_allocation_tags,
        billed_cost,
        effective_cost,
        charge_category not in ('Tax', 'Credit', 'Purchase')
        and x_charge_type not in (
            {%- for charge_type in untaggable_charge_types %}
                {{ sql_string(charge_type) }}{% if not loop.last %},{% endif %}
            {%- endfor %}
        )
        and x_charge_type not like '% / Unused commitment' as is_taggable
    from costs
),

tagged as (
    select
        {{ grain | join(', ') }},
        x_allocation_tags,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from classified
    {%- if not keys %}
        where false
    {%- endif %}
    group by {{ grain | join(', ') }}, x_allocation_tags
),

-- each row once per key, with the key's value from its own tags (FOCUS files)
keyed_by_row as (
    {%- for key in keys %}
        select
            tagged.*,
            {{ sql_string(key) }} as allocation_key,
            {{ json_text('tagged.x_allocation_tags', key) }} as tag_value
        from tagged
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- else %}
        select
            tagged.*,
            cast(null as string) as allocation_key,
            cast(null as string) as tag_value
        from tagged
    {%- endfor %}
),

-- the cost APIs' tag cuts: per day, sub account, service, currency and key, each tag value's
-- cost (Cost Explorer's TAG grouping, the Query API's TagKey grouping; null = untagged)
tag_cuts as (
    {%- for relation in ['stg_aws_cost_explorer__tag_costs', 'stg_azure_cost_management__tag_costs'] %}
        select
            charge_date,
            provider_name,
            sub_account_id,
            service_name,
            billing_currency,
            allocation_key,
            tag_value,
            billed_cost,
            effective_cost
        from {{ ref(relation) }}
        {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), fingerprint=fingerprint) }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

cut_totals as (
    select
        *,
        sum(effective_cost) over (partition by {{ cut_grain | join(', ') }}) as cut_effective,
        sum(billed_cost) over (partition by {{ cut_grain | join(', ') }}) as cut_billed,
        count(*) over (partition by {{ cut_grain | join(', ') }}) as cut_values,
        row_number() over (
            partition by {{ cut_grain | join(', ') }} order by tag_value nulls first
        ) as cut_rank
    from tag_cuts
),

-- a value's share of its cut: by effective cost, else by billed cost (a day of covered
-- usage billed 0), else evenly
cut_shares as (
    select
        {{ cut_grain | join(', ') }},
        tag_value,
        cut_rank,
        case
            when cut_effective != 0 then cast(effective_cost as double) / cast(cut_effective as double)
            when cut_billed != 0 then cast(billed_cost as double) / cast(cut_billed as double)
            else 1.0 / cut_values
        end as share
    from cut_totals
),

-- an API row without tags of its own takes its cut's values in their shares; the first
-- value takes what rounding left, so the parts sum to the row exactly
keyed_parts as (
    select
        {%- for column in grain %}
            keyed_by_row.{{ column }},
        {%- endfor %}
        keyed_by_row.x_allocation_tags,
        keyed_by_row.allocation_key,
        keyed_by_row.billed_cost as row_billed_cost,
        keyed_by_row.effective_cost as row_effective_cost,
        coalesce(cut_shares.tag_value, keyed_by_row.tag_value) as tag_value,
        cut_shares.cut_rank,
        cut_shares.share
    from keyed_by_row
    left join cut_shares
        on
            keyed_by_row.x_allocation_tags is null
            {%- for column in cut_grain %}
                and keyed_by_row.{{ column }} = cut_shares.{{ column }}
            {%- endfor %}
),

keyed as (
    select
        {{ grain | join(', ') }},
        x_allocation_tags,
        allocation_key,
        tag_value,
        {%- for amount in ['billed_cost', 'effective_cost'] %}
            case
                when cut_rank is null then row_{{ amount }}
                else {{ exact_share(
                    'row_' ~ amount, 'share', 'cut_rank = 1',
                    grain + ['x_allocation_tags', 'allocation_key'],
                ) }}
            end as {{ amount }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from keyed_parts
),

account_map as (
    {%- if allocation['account_map'] %}
        select * from (
            values
            {%- for entry in allocation['account_map'] %}
                (
                    {{ sql_string(entry['key']) }},
                    {{ sql_string(entry['sub_account_id'] | lower) }},
                    {{ sql_string(entry['value']) }}
                ){% if not loop.last %},{% endif %}
            {%- endfor %}
        ) as entries (allocation_key, sub_account_id, allocation_value)
    {%- else %}
        select
            cast(null as string) as allocation_key,
            cast(null as string) as sub_account_id,
            cast(null as string) as allocation_value
        where false
    {%- endif %}
),

rule_targets as (
    {%- set targets = [] %}
    {%- for rule in rules %}
        {%- for target in rule['targets'] %}
            {%- do targets.append((rule, target, loop.index)) %}
        {%- endfor %}
    {%- endfor %}
    {%- if targets %}
        select
            allocation_key,
            rule_name,
            split_method,
            allocation_value,
            target_rank,
            cast(fixed_share as double) as fixed_share
        from (
            values
            {%- for rule, target, rank in targets %}
                (
                    {{ sql_string(rule['key']) }},
                    {{ sql_string(rule['name']) }},
                    {{ sql_string(rule['method']) }},
                    {{ sql_string(target['value']) }},
                    {{ rank }},
                    {{ sql_string(target['share']) if target['share'] is not none else 'null' }}
                ){% if not loop.last %},{% endif %}
            {%- endfor %}
        ) as targets (allocation_key, rule_name, split_method, allocation_value, target_rank, fixed_share)
    {%- else %}
        select
            cast(null as string) as allocation_key,
            cast(null as string) as rule_name,
            cast(null as string) as split_method,
            cast(null as string) as allocation_value,
            cast(null as int) as target_rank,
            cast(null as double) as fixed_share
        where false
    {%- endif %}
),

direct as (
    select
        keyed.*,
        {%- if not rules %}
        cast(null as string) as rule_name,
        {%- else %}
        case
            {%- for rule in rules %}
                when
                    keyed.allocation_key = {{ sql_string(rule['key']) }}
                    {%- for field, values in rule['match'].items() if values %}
                        {%- set column = 'lower(keyed.sub_account_id)' if field == 'sub_account_id' else 'keyed.' ~ field %}
                        and {{ column }} in (
                            {%- for value in values -%}
                                {{ sql_string(value | lower if field == 'sub_account_id' else value) }}
                                {%- if not loop.last %}, {% endif -%}
                            {%- endfor -%}
                        )
                    {%- endfor %}
                    then {{ sql_string(rule['name']) }}
            {%- endfor %}
        end as rule_name,
        {%- endif %}
        case
            when keyed.tag_value is not null then keyed.tag_value
            when account_map.allocation_value is not null then account_map.allocation_value
            else '(unallocated)'
        end as direct_value,
        case
            when keyed.tag_value is not null then 'tag'
            when account_map.allocation_value is not null then 'account_map'
            else 'unallocated'
        end as direct_method
    from keyed
    left join account_map
        on
            keyed.allocation_key = account_map.allocation_key
            and lower(keyed.sub_account_id) = account_map.sub_account_id
),

-- each value's direct effective cost of the day, provider, currency and key: the
-- proportional base
weights as (
    select
        charge_date,
        provider_name,
        billing_currency,
        allocation_key,
        direct_value as allocation_value,
        greatest(sum(effective_cost), 0) as weight
    from direct
    where rule_name is null and direct_method != 'unallocated'
    group by charge_date, provider_name, billing_currency, allocation_key, direct_value
),

rule_days as (
    select distinct
        charge_date,
        provider_name,
        billing_currency,
        allocation_key,
        rule_name
    from direct
    where rule_name is not null
),

target_weights as (
    select
        rule_days.charge_date,
        rule_days.provider_name,
        rule_days.billing_currency,
        rule_days.allocation_key,
        rule_days.rule_name,
        rule_targets.allocation_value,
        rule_targets.target_rank,
        rule_targets.split_method,
        rule_targets.fixed_share,
        coalesce(weights.weight, 0) as weight,
        count(*) over (
            partition by
                rule_days.charge_date, rule_days.provider_name, rule_days.billing_currency,
                rule_days.allocation_key, rule_days.rule_name
        ) as target_count,
        sum(coalesce(weights.weight, 0)) over (
            partition by
                rule_days.charge_date, rule_days.provider_name, rule_days.billing_currency,
                rule_days.allocation_key, rule_days.rule_name
        ) as total_weight
    from rule_days
    inner join rule_targets
        on
            rule_days.allocation_key = rule_targets.allocation_key
            and rule_days.rule_name = rule_targets.rule_name
    left join weights
        on
            rule_days.charge_date = weights.charge_date
            and rule_days.provider_name = weights.provider_name
            and rule_days.billing_currency = weights.billing_currency
            and rule_days.allocation_key = weights.allocation_key
            and rule_targets.allocation_value = weights.allocation_value
),

shares as (
    select
        *,
        case
            when split_method = 'percentages' then fixed_share
            when split_method = 'proportional' and total_weight > 0
                then cast(weight as double) / cast(total_weight as double)
            else 1.0 / target_count
        end as share
    from target_weights
),

split_parts as (
    select
        {%- for column in grain %}
            direct.{{ column }},
        {%- endfor %}
        direct.x_allocation_tags,
        direct.allocation_key,
        direct.tag_value,
        shares.allocation_value,
        shares.target_rank,
        direct.billed_cost as row_billed_cost,
        direct.effective_cost as row_effective_cost,
        shares.share
    from direct
    inner join shares
        on
            direct.charge_date = shares.charge_date
            and direct.provider_name = shares.provider_name
            and direct.billing_currency = shares.billing_currency
            and direct.allocation_key = shares.allocation_key
            and direct.rule_name = shares.rule_name
),

split as (
    select
        {{ grain | join(', ') }},
        allocation_key,
        allocation_value,
        'shared_rule' as allocation_method,
        -- the first value takes what rounding the others' parts left: exact sums
        {%- for amount in ['billed_cost', 'effective_cost'] %}
            {{ exact_share(
                'row_' ~ amount, 'share', 'target_rank = 1',
                grain + ['x_allocation_tags', 'allocation_key', 'tag_value'],
            ) }} as {{ amount }}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from split_parts
),

allocated as (
    select
        {{ grain | join(', ') }},
        allocation_key,
        direct_value as allocation_value,
        direct_method as allocation_method,
        billed_cost,
        effective_cost
    from direct
    where rule_name is null

    union all

    select * from split
),

final as (
    select
        {{ surrogate_key(grain + ['allocation_key', 'allocation_value', 'allocation_method']) }}
            as cost_allocation_row_id,
        {%- for column in grain %}
            {{ column }},
        {%- endfor %}
        allocation_key,
        allocation_value,
        allocation_method,
        cast(sum(billed_cost) as decimal(38, 10)) as billed_cost,
        cast(sum(effective_cost) as decimal(38, 10)) as effective_cost,
        {{ sql_string(fingerprint) }} as x_config_fingerprint,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from allocated
    group by {{ grain | join(', ') }}, allocation_key, allocation_value, allocation_method
)

select * from final
