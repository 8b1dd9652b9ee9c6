-- Per source and scope, the requests and their cost in fct_api_usage equal the load
-- ledger's (purge rows aside), and the month-to-date totals of a month's last day equal
-- the month's sums: no attempt lost or counted twice.
with

ledger as (
    select
        source_name,
        scope,
        sum(api_requests) as api_requests,
        sum(api_cost_usd) as api_cost_usd
    from {{ ref('stg_finops__load_ledger') }}
    where scope != '*'
    group by source_name, scope
),

usage as (
    select
        source_name,
        scope,
        sum(api_requests) as api_requests,
        sum(api_cost_usd) as api_cost_usd
    from {{ ref('fct_api_usage') }}
    group by source_name, scope
),

months as (
    select
        source_name,
        scope,
        load_month,
        sum(api_requests) as api_requests,
        sum(api_cost_usd) as api_cost_usd,
        max_by(month_to_date_api_requests, load_date) as last_requests,
        max_by(month_to_date_api_cost_usd, load_date) as last_cost
    from {{ ref('fct_api_usage') }}
    group by source_name, scope, load_month
)

select
    coalesce(ledger.source_name, usage.source_name) as source_name,
    coalesce(ledger.scope, usage.scope) as scope,
    ledger.api_requests as ledger_requests,
    usage.api_requests as usage_requests
from ledger
full outer join usage
    on ledger.source_name = usage.source_name and ledger.scope = usage.scope
where ledger.source_name is null
    or usage.source_name is null
    or ledger.api_requests != usage.api_requests
    or abs(ledger.api_cost_usd - usage.api_cost_usd) > 0.000001

union all

select source_name, scope, last_requests, api_requests
from months
where last_requests != api_requests or abs(last_cost - api_cost_usd) > 0.000001
