-- The billing-data rules' opportunities: the rule days of every rule model
-- (int_opportunity_rule__*: one row per opportunity and day with its wasted cost and the
-- cost of the series it is about) turned into one row per opportunity, from the cost data
-- alone - a first import of months of files, a backfill or the daily runs give the same
-- rows, and a restated day changes them on the next build:
--   first_seen / last_seen  the first and last day the rule held;
--   status                  'open' while the rule held within the last
--                           `opportunity_gone_after_days` days of the provider's cost data
--                           (its latest charge date), else 'gone';
--   estimated_monthly_savings  the wasted cost of the (up to) 30 days ending on last_seen,
--                           per day of the series in that range, x 30;
--   realized_monthly_savings   for a gone opportunity: the drop of its series' daily cost,
--                           the (up to) 30 days ending on last_seen against the days after
--                           it (up to 30, to the provider's latest charge date), x 30.
-- A day without a row has no cost in the series (0). A table (built once per build, from the
-- rule models' tables): the ledger and the tests read it instead of recomputing the rules.
{{ config(materialized='table') }}
{%- set monthly_days = 30 %}
{%- set gone_after_days = var('opportunity_gone_after_days') | int %}
with

rule_days as (
    select * from {{ ref('int_opportunity_rule__unused_commitment') }}
    union all
    select * from {{ ref('int_opportunity_rule__idle_resource') }}
    union all
    select * from {{ ref('int_opportunity_rule__gp2_volume') }}
    union all
    select * from {{ ref('int_opportunity_rule__idle_public_ip') }}
    union all
    select * from {{ ref('int_opportunity_rule__previous_generation') }}
    union all
    select * from {{ ref('int_opportunity_rule__extended_support') }}
    union all
    select * from {{ ref('int_opportunity_rule__old_snapshot') }}
),

daily_totals as (
    select * from {{ ref('int_daily_costs_by_scope') }}
    where provider_scope != 'All'
),

data_ends as (
    select
        provider_scope as provider_name,
        max(charge_date) as data_end
    from daily_totals
    group by provider_scope
),

-- the attributes of the last day the rule held (the action of today, not of the first day)
last_matches as (
    select
        *,
        row_number() over (
            partition by opportunity_key order by charge_date desc
        ) as recency
    from rule_days
    where is_match
),

seen as (
    select
        opportunity_key,
        min(charge_date) as first_seen,
        max(charge_date) as last_seen
    from rule_days
    where is_match
    group by opportunity_key
),

opportunities as (
    select
        last_matches.opportunity_key,
        last_matches.source,
        last_matches.provider_name,
        last_matches.sub_account_id,
        last_matches.resource_id,
        last_matches.service_name,
        last_matches.region_id,
        last_matches.category,
        last_matches.action,
        last_matches.billing_currency,
        seen.first_seen,
        seen.last_seen,
        data_ends.data_end
    from last_matches
    inner join seen
        on last_matches.opportunity_key = seen.opportunity_key
    inner join data_ends
        on last_matches.provider_name = data_ends.provider_name
    where last_matches.recency = 1
),

series_start as (
    select
        opportunity_key,
        min(charge_date) as series_first
    from rule_days
    group by opportunity_key
),

-- each rule day's place around last_seen: `before` = the (up to) 30 days ending on it,
-- `after` = the (up to) 30 days after it within the provider's cost data
positioned as (
    select
        rule_days.opportunity_key,
        rule_days.wasted_cost,
        rule_days.series_cost,
        (
            {{ days_between('opportunities.last_seen', 'rule_days.charge_date') }}
            between {{ 1 - monthly_days }} and 0
        ) as is_before,
        (
            {{ days_between('opportunities.last_seen', 'rule_days.charge_date') }}
            between 1 and {{ monthly_days }}
            and rule_days.charge_date <= opportunities.data_end
        ) as is_after
    from opportunities
    inner join rule_days
        on opportunities.opportunity_key = rule_days.opportunity_key
),

measured as (
    select
        opportunity_key,
        sum(case when is_before then wasted_cost else 0 end) as wasted_before,
        sum(case when is_before then series_cost else 0 end) as series_before,
        sum(case when is_after then series_cost else 0 end) as series_after
    from positioned
    group by opportunity_key
),

final as (
    select
        opportunities.opportunity_key,
        opportunities.source,
        opportunities.provider_name,
        opportunities.sub_account_id,
        opportunities.resource_id,
        opportunities.service_name,
        opportunities.region_id,
        opportunities.category,
        opportunities.action,
        opportunities.billing_currency,
        opportunities.first_seen,
        opportunities.last_seen,
        case
            when {{ days_between('opportunities.last_seen', 'opportunities.data_end') }}
                < {{ gone_after_days }}
                then 'open'
            else 'gone'
        end as status,
        -- days of the series in the 30 days ending on last_seen (at least 1)
        {{ days_between(
            'greatest(series_start.series_first, opportunities.last_seen - ' ~ (monthly_days - 1) ~ ')',
            'opportunities.last_seen',
        ) }} + 1 as days_before,
        least(
            {{ days_between('opportunities.last_seen', 'opportunities.data_end') }},
            {{ monthly_days }}
        ) as days_after,
        measured.wasted_before,
        measured.series_before,
        measured.series_after
    from opportunities
    inner join series_start
        on opportunities.opportunity_key = series_start.opportunity_key
    inner join measured
        on opportunities.opportunity_key = measured.opportunity_key
)

select
    opportunity_key,
    source,
    provider_name,
    sub_account_id,
    resource_id,
    service_name,
    region_id,
    category,
    action,
    billing_currency,
    first_seen,
    last_seen,
    status,
    -- rates per day in double on every engine (Spark's decimal division keeps no fixed
    -- scale), rounded to 10 decimals: estimates, not amounts of the bill
    cast(
        round(cast(wasted_before as double) / days_before * {{ monthly_days }}, 10)
        as decimal(38, 10)
    ) as estimated_monthly_savings,
    case
        when status = 'gone'
            then {{ monthly_drop('series_before', 'days_before', 'series_after', 'days_after') }}
    end as realized_monthly_savings
from final
