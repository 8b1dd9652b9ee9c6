{{ config(**incremental_by_day()) }}

-- Every day of every usage region series (provider x sub account x service x region; billed
-- cost in the reporting currency, charge_category = Usage), gap-filled with 0 from the
-- region's first day to the last charge date of the warehouse: what
-- int_daily_cost_region_scored scores. The cost a region is scored on (scored_cost) leaves
-- out the copies of rows a FOCUS file held more than once
-- (stg_focus_files__costs.x_duplicate_billed_cost): a duplicated delivery is billed, not a
-- change of usage.
--
-- A table of its own, not a CTE of the scoring: the aggregation and gap-fill (hash
-- aggregates and joins over every usage row) and the scoring's window pass (over every
-- region day) held their memory in one query, which ran out of a 7GB DuckDB limit at 50M
-- raw rows; each alone stays under it (bench/README.md, twenty-eighth section).
--
-- Incremental on charge_date (macros/delete_days_to_rebuild.sql): a daily build fills the
-- days from `window_start` on, for the regions of those days and the regions the table
-- holds on the day before (every region has a row on every day up to the last charge date).
{%- set window_start = first_filled_day_to_rebuild(ref('stg_finops__load_ledger')) %}
{#- the days read from the cost models: from window_start, every day on a full build -#}
{%- set rebuilt_from = window_start if window_start is not none else '0001-01-01' %}
{%- if window_start is not none %}
    {%- set window_day = modules.datetime.date.fromisoformat(window_start) %}
    {%- set day_before = (window_day - modules.datetime.timedelta(days=1)).isoformat() %}
{%- endif %}

with

-- The usage rows of the days filled (computed where each reads them, not kept: see the
-- cte_inlined macro).
usage_rows as {{ cte_inlined() }} (
    select
        provider_name,
        sub_account_id,
        service_name,
        coalesce(region_id, '') as region_id,
        charge_date,
        billing_currency,
        billed_cost,
        billed_cost_reporting
    from {{ ref('int_daily_costs_converted') }}
    where
        charge_category = 'Usage'
        and charge_date >= cast('{{ rebuilt_from }}' as date)
),

-- The copies of rows FOCUS files held more than once, per region day and currency (a few
-- rows: only where a file held a row twice).
copies as (
    select
        provider_name,
        sub_account_id,
        service_name,
        coalesce(region_id, '') as region_id,
        charge_date,
        billing_currency,
        sum(x_duplicate_billed_cost) as duplicate_billed_cost
    from {{ ref('stg_focus_files__costs') }}
    where
        charge_category = 'Usage'
        and x_duplicate_rows > 0
        and charge_date >= cast('{{ rebuilt_from }}' as date)
    group by provider_name, sub_account_id, service_name, coalesce(region_id, ''), charge_date, billing_currency
),

-- Each region's first day of usage in the days filled; a daily build adds the regions that
-- started before the window (every region of the table has a row on the day before it).
region_starts as (
    select
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        min(charge_date) as first_date
    from usage_rows
    group by provider_name, sub_account_id, service_name, region_id
    -- sqlfluff's jinja variants misplace this branch's indentation (LT02); dbt's SQL is fine
    -- noqa: disable=LT02
    {%- if window_start is not none %}

    union all

    select
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        min(charge_date) as first_date
    from {{ this }}
    where charge_date = cast('{{ day_before }}' as date)
    group by provider_name, sub_account_id, service_name, region_id
    {%- endif %}
    -- noqa: enable=LT02
),

-- One row per region series, numbered: the gap-fill joins on that one integer.
regions as (
    select
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        min(first_date) as first_date,
        row_number() over (order by provider_name, sub_account_id, service_name, region_id)
            as region_key
    from region_starts
    group by provider_name, sub_account_id, service_name, region_id
),

-- A region's usage per day and currency, the copies' share of it taken out in the same
-- currency, then summed over currencies in the reporting one.
usage_by_currency as (
    select
        regions.region_key,
        usage_rows.provider_name,
        usage_rows.sub_account_id,
        usage_rows.service_name,
        usage_rows.region_id,
        usage_rows.charge_date,
        usage_rows.billing_currency,
        sum(usage_rows.billed_cost) as billed_cost,
        sum(usage_rows.billed_cost_reporting) as billed_cost_reporting
    from usage_rows
    inner join regions
        on
            usage_rows.provider_name = regions.provider_name
            and usage_rows.sub_account_id = regions.sub_account_id
            and usage_rows.service_name = regions.service_name
            and usage_rows.region_id = regions.region_id
    group by
        regions.region_key,
        usage_rows.provider_name,
        usage_rows.sub_account_id,
        usage_rows.service_name,
        usage_rows.region_id,
        usage_rows.charge_date,
        usage_rows.billing_currency
),

usage_days as (
    select
        usage_by_currency.region_key,
        usage_by_currency.charge_date,
        sum(usage_by_currency.billed_cost_reporting) as actual_cost,
        sum(
            case
                when copies.duplicate_billed_cost is null or usage_by_currency.billed_cost = 0
                    then 0
                else usage_by_currency.billed_cost_reporting
                    * copies.duplicate_billed_cost / usage_by_currency.billed_cost
            end
        ) as duplicate_cost
    from usage_by_currency
    left join copies
        on
            usage_by_currency.provider_name = copies.provider_name
            and usage_by_currency.sub_account_id = copies.sub_account_id
            and usage_by_currency.service_name = copies.service_name
            and usage_by_currency.region_id = copies.region_id
            and usage_by_currency.charge_date = copies.charge_date
            and usage_by_currency.billing_currency = copies.billing_currency
    group by usage_by_currency.region_key, usage_by_currency.charge_date
),

-- The calendar: every day of the warehouse (a daily build: from window_start on).
date_bounds as (
    select
        {% if window_start is not none -%}
            cast('{{ window_start }}' as date)
        {%- else -%}
            min(charge_date)
        {%- endif %} as first_date,
        max(charge_date) as last_date
    from {{ ref('int_daily_costs_converted') }}
    where charge_date >= cast('{{ rebuilt_from }}' as date)
),

calendar as (
    select {{ day_series('first_date', 'last_date') }} as charge_date
    from date_bounds
),

-- Every day of every region from its first day.
filled as (
    select
        regions.provider_name,
        regions.sub_account_id,
        regions.service_name,
        regions.region_id,
        calendar.charge_date,
        coalesce(usage_days.actual_cost, 0) as actual_cost,
        coalesce(usage_days.actual_cost - usage_days.duplicate_cost, 0) as scored_cost,
        usage_days.actual_cost is null as is_gap_filled
    from regions
    inner join calendar
        on regions.first_date <= calendar.charge_date
    left join usage_days
        on
            regions.region_key = usage_days.region_key
            and calendar.charge_date = usage_days.charge_date
),

final as (
    select
        {{ surrogate_key(['charge_date', 'provider_name', 'sub_account_id', 'service_name', 'region_id']) }}
            as region_day_id,
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        region_id,
        {{ reporting_currency() }} as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        cast(scored_cost as decimal(38, 10)) as scored_cost,
        is_gap_filled,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from filled
)

select * from final
