-- The latest snapshot of each recommendation source and ledger scope: the last run date
-- (the load's window start: a snapshot source lands [D, D + 1)) the API answered at that
-- scope, with recommendations or none, from the load ledger. Each API lands under its own
-- ledger scopes (`hub:<payer>`, `sp:<payer>:<type>`, `ri:<payer>:<service>`,
-- `advisor:<subscription>`, `reservations:<scope>`); a scope the credentials
-- may not read that day lands nothing and is no snapshot. A recommendation missing from its
-- scope's latest snapshot is gone.
with

ledger as (
    select * from {{ ref('stg_finops__load_ledger') }}
    where is_succeeded
),

-- the ledger source and scope prefix of each recommendation source
apis as (
    select
        apis.source,
        apis.ledger_source,
        apis.scope_prefix
    from (
        values
        ('aws_cost_optimization_hub', 'aws_recommendations', 'hub:'),
        ('aws_sp_purchase', 'aws_recommendations', 'sp:'),
        ('aws_ri_purchase', 'aws_recommendations', 'ri:'),
        ('azure_advisor', 'azure_recommendations', 'advisor:'),
        ('azure_reservation', 'azure_recommendations', 'reservations:')
    ) as apis (source, ledger_source, scope_prefix)
)

select
    apis.source,
    ledger.scope as ledger_scope,
    max(ledger.window_start) as latest_snapshot_date
from apis
inner join ledger
    on
        apis.ledger_source = ledger.source_name
        and ledger.scope like apis.scope_prefix || '%'
group by apis.source, ledger.scope
