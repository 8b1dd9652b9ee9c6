-- One row per Azure reservation purchase recommendation and snapshot day (raw.azure_
-- reservation_recommendations, the Consumption API's legacy and modern answers), in the shape
-- of the savings-opportunity ledger (issue #19). Category: commitment_purchase.
--
-- Monthly savings: the API's netSavings is "total estimated savings with reserved instances"
-- over the look-back period (lookBackPeriod, "the number of days of usage to look back for
-- recommendation": Last7Days / Last30Days / Last60Days; REST reference, Reservation
-- Recommendations - List, 2023-05-01). It is normalised to a 30-day month:
-- netSavings x 30 / look-back days.
-- Key: the queried scope, subscription (Single scope), resource type, SKU, region, term and
-- recommendation scope: what to buy where - not the API's id.
-- Currency: a modern answer names it with each amount; a legacy (EA) answer names none, its
-- amounts are taken as USD.
with

source as (
    select * from {{ source('azure_recommendations', 'azure_reservation_recommendations') }}
),

renamed as (
    select
        ---------- ids
        'azure_reservation:' || lower(trim(scope))
        || ':' || lower(coalesce(subscription_id, ''))
        || ':' || lower(coalesce(resource_type, ''))
        || ':' || lower(coalesce(sku_name, normalized_size, ''))
        || ':' || lower(coalesce(location, ''))
        || ':' || upper(coalesce(term, ''))
        || ':' || lower(coalesce(recommendation_scope, '')) as recommendation_key,
        recommendation_id as source_recommendation_id,

        ---------- dates
        snapshot_date,

        ---------- strings
        'azure_reservation' as source,
        'Azure' as provider_name,
        lower(trim(subscription_id)) as sub_account_id,
        cast(null as string) as resource_id,
        case lower(coalesce(resource_type, ''))
            when 'virtualmachines' then 'Virtual Machines'
            when 'sqldatabases' then 'SQL Database'
            when 'cosmosdb' then 'Azure Cosmos DB'
            when 'appservice' then 'Azure App Service'
        end as service_name,
        lower(replace(trim(location), ' ', '')) as region_id,
        'commitment_purchase' as category,
        'Buy ' || coalesce(cast(cast(recommended_quantity as bigint) as string) || ' x ', '')
        || coalesce(sku_name, normalized_size, 'reserved instance')
        || ' reservation '
        || case upper(coalesce(term, ''))
            when 'P1Y' then '1 year'
            when 'P3Y' then '3 years'
            when 'P5Y' then '5 years'
            else coalesce(term, '')
        end
        || coalesce(' in ' || lower(location), '')
        || coalesce(' (' || recommendation_scope || ' scope)', '') as action,

        ---------- numerics
        cast(
            cast(net_savings as decimal(38, 10)) * 30
            / case
                when lower(look_back_period) in ('last7days', '7') then 7
                when lower(look_back_period) in ('last30days', '30') then 30
                when lower(look_back_period) in ('last60days', '60') then 60
            end
            as decimal(38, 10)
        ) as estimated_monthly_savings,
        coalesce(upper(trim(currency)), 'USD') as billing_currency,
        -- the load's ledger scope: the snapshot this row belongs to
        _scope as ledger_scope

    from source
)

select * from renamed
