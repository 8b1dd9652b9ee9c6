-- How fresh and how final each loaded scope is: one row per provider x source x scope of
-- the load ledger. The last attempt (and its error when it failed), the last successful
-- load and its window, the latest day landed, the days the provider may still restate
-- (estimated), and what the last successful load changed in days already loaded (net
-- billed cost change in the reporting currency, from fct_cost_restatements). A source
-- whose rows were purged (the simulated source once real ones take over: a ledger row of
-- scope '*') after its last load is left out: it has no data any more.
with

loads as (
    select * from {{ ref('stg_finops__load_ledger') }}
),

restatements as (
    select * from {{ ref('fct_cost_restatements') }}
),

aws_costs as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
),

azure_costs as (
    select * from {{ ref('stg_azure_cost_management__costs') }}
),

focus_costs as (
    select * from {{ ref('stg_focus_files__costs') }}
),

scoped_loads as (
    select * from loads
    where scope != '*'
),

purges as (
    select
        source_name,
        raw_table,
        max(finished_at) as purged_at
    from loads
    where scope = '*'
    group by source_name, raw_table
),

attempts as (
    select
        provider_name,
        source_name,
        scope,
        max(finished_at) as last_attempt_at,
        max_by(status, finished_at) as last_attempt_status,
        max_by(error_message, finished_at) as last_error_message,
        max_by(api_requests, finished_at) as api_requests,
        max_by(api_cost_usd, finished_at) as api_cost_usd,
        max(finished_at) filter (where is_succeeded) as last_succeeded_at,
        max_by(load_id, finished_at) filter (where is_succeeded) as last_success_load_id,
        max_by(window_start, finished_at) filter (where is_succeeded) as last_success_window_start,
        max_by(window_end, finished_at) filter (where is_succeeded) as last_success_window_end,
        any_value(raw_table) as raw_table
    from scoped_loads
    group by provider_name, source_name, scope
),

current_attempts as (
    select attempts.*
    from attempts
    left join purges
        on
            attempts.source_name = purges.source_name
            and attempts.raw_table = purges.raw_table
    where purges.purged_at is null or attempts.last_attempt_at > purges.purged_at
),

landed_days as (
    select
        provider_name,
        x_source as source_name,
        scope,
        charge_date,
        bool_or(is_estimated) as is_estimated
    from aws_costs
    group by provider_name, x_source, scope, charge_date

    union all

    select
        provider_name,
        x_source as source_name,
        scope,
        charge_date,
        bool_or(is_estimated) as is_estimated
    from azure_costs
    group by provider_name, x_source, scope, charge_date

    union all

    select
        provider_name,
        x_source as source_name,
        scope,
        charge_date,
        bool_or(is_estimated) as is_estimated
    from focus_costs
    group by provider_name, x_source, scope, charge_date
),

landed as (
    select
        provider_name,
        source_name,
        scope,
        max(charge_date) as latest_charge_date,
        count(*) filter (where is_estimated) as estimated_days,
        min(charge_date) filter (where is_estimated) as first_estimated_date
    from landed_days
    group by provider_name, source_name, scope
),

last_load_changes as (
    select
        load_id,
        count(distinct charge_date) as restated_days,
        sum(cost_change_reporting) filter (where cost_type = 'billed') as restated_billed_cost_change
    from restatements
    group by load_id
),

final as (
    select
        cast(
            {{ surrogate_key([
                'current_attempts.provider_name', 'current_attempts.source_name',
                'current_attempts.scope',
            ]) }} as string
        ) as freshness_id,
        cast(current_attempts.provider_name as string) as provider_name,
        cast(current_attempts.source_name as string) as source_name,
        cast(current_attempts.scope as string) as scope,
        cast(current_attempts.last_attempt_at as timestamp) as last_attempt_at,
        cast(current_attempts.last_attempt_status as string) as last_attempt_status,
        cast(current_attempts.last_attempt_status = 'failed' as boolean) as is_last_attempt_failed,
        cast(current_attempts.last_error_message as string) as last_error_message,
        cast(current_attempts.last_succeeded_at as timestamp) as last_succeeded_at,
        cast(current_attempts.last_success_window_start as date) as last_success_window_start,
        cast(current_attempts.last_success_window_end as date) as last_success_window_end,
        cast(landed.latest_charge_date as date) as latest_charge_date,
        cast(coalesce(landed.estimated_days, 0) as integer) as estimated_days,
        cast(landed.first_estimated_date as date) as first_estimated_date,
        cast(coalesce(last_load_changes.restated_days, 0) as integer) as restated_days,
        cast(coalesce(last_load_changes.restated_billed_cost_change, 0) as decimal(38, 10))
            as restated_billed_cost_change,
        cast({{ reporting_currency() }} as string) as reporting_currency,
        cast(current_attempts.api_requests as integer) as api_requests,
        cast(current_attempts.api_cost_usd as decimal(38, 10)) as api_cost_usd
    from current_attempts
    left join landed
        on
            current_attempts.provider_name = landed.provider_name
            and current_attempts.source_name = landed.source_name
            and current_attempts.scope = landed.scope
    left join last_load_changes
        on current_attempts.last_success_load_id = last_load_changes.load_id
)

select * from final
