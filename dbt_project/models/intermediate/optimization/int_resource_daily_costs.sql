{{ config(materialized='table') }}
-- Each resource's effective cost per day on the FOCUS import's resource grain
-- (stg_focus_files__resource_costs: its last FINOPS_FOCUS_RESOURCE_DAYS days), keyed like
-- the ledger's duplicate groups (resource id lower-case: a provider's recommendation and
-- the billing data may spell an id in different cases). fct_optimization_opportunities
-- measures a gone provider recommendation's realized saving on it, as the rules measure
-- theirs on their series.
with

resource_costs as (
    select * from {{ ref('stg_focus_files__resource_costs') }}
    where resource_id is not null
)

select
    provider_name,
    lower(resource_id) as resource_key,
    billing_currency,
    charge_date,
    cast(sum(effective_cost) as decimal(38, 10)) as effective_cost
from resource_costs
group by provider_name, lower(resource_id), billing_currency, charge_date
