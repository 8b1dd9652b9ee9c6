-- What the loaders spent on the cloud APIs: one row per UTC day a load started x source x
-- scope of the load ledger, succeeded and failed attempts alike (a failed attempt's
-- requests were made, and Cost Explorer bills them), with the calendar month's running
-- totals. Purge rows (scope '*') make no request and are left out.
with

loads as (
    select * from {{ ref('stg_finops__load_ledger') }}
    where scope != '*'
),

daily as (
    select
        cast(started_at as date) as load_date,
        source_name,
        scope,
        max(provider_name) as provider_name,
        count(*) as load_count,
        sum(case when is_succeeded then 0 else 1 end) as failed_load_count,
        sum(api_requests) as api_requests,
        sum(api_cost_usd) as api_cost_usd,
        sum(api_retries) as api_retries
    from loads
    group by cast(started_at as date), source_name, scope
),

final as (
    select
        cast(
            {{ surrogate_key(['load_date', 'source_name', 'scope']) }} as string
        ) as api_usage_id,
        load_date,
        cast(date_trunc('month', load_date) as date) as load_month,
        cast(provider_name as string) as provider_name,
        cast(source_name as string) as source_name,
        cast(scope as string) as scope,
        cast(load_count as integer) as load_count,
        cast(failed_load_count as integer) as failed_load_count,
        cast(api_requests as bigint) as api_requests,
        cast(api_cost_usd as decimal(38, 10)) as api_cost_usd,
        cast(api_retries as bigint) as api_retries,
        cast(
            sum(api_requests) over (
                partition by source_name, scope, date_trunc('month', load_date)
                order by load_date
                rows between unbounded preceding and current row
            ) as bigint
        ) as month_to_date_api_requests,
        cast(
            sum(api_cost_usd) over (
                partition by source_name, scope, date_trunc('month', load_date)
                order by load_date
                rows between unbounded preceding and current row
            ) as decimal(38, 10)
        ) as month_to_date_api_cost_usd
    from daily
)

select * from final
