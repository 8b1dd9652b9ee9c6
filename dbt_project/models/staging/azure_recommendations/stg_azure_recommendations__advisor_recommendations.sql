-- One row per Azure Advisor cost recommendation and snapshot day (raw.azure_advisor_
-- recommendations), in the shape of the savings-opportunity ledger (issue #19).
--
-- Category (a business rule, first match wins):
--   commitment_purchase  buy reserved instances / a savings plan (solution text, or the
--                        reserved-instance recommendationTypeId 84b1a508-...)
--   idle                 a VM whose target is 'Shutdown'; delete / remove unattached disks,
--                        unassociated or idle public IPs, unused or idle resources
--   storage_tier         an access tier / lifecycle change of storage
--   rightsizing          right-size / resize a resource (a current and a different target SKU)
--   other                everything else
-- Key: the subscription, the resource and the recommendation type - what Advisor recommends
-- for what - plus, for commitment purchases (several per subscription), the SKU, term and
-- region: not Advisor's recommendation name, which is regenerated.
-- Savings: extendedProperties.savingsAmount is Advisor's monthly estimate; without it the
-- annual estimate / 12; in savingsCurrency (USD when Advisor names none).
with

source as (
    select * from {{ source('azure_recommendations', 'azure_advisor_recommendations') }}
),

categorized as (
    select
        *,
        lower(coalesce(solution, '') || ' ' || coalesce(problem, '')) as x_text,
        case
            when
                lower(coalesce(recommendation_type_id, ''))
                = '84b1a508-fc21-49da-979e-96894f1665df'
                or lower(coalesce(solution, '')) like '%reserved instance%'
                or lower(coalesce(solution, '')) like '%reservation%'
                or lower(coalesce(solution, '')) like '%savings plan%'
                then 'commitment_purchase'
            when lower(coalesce(target_sku, '')) = 'shutdown' then 'idle'
            when
                lower(coalesce(solution, '')) like '%delete%'
                or lower(coalesce(solution, '')) like '%unattached%'
                or lower(coalesce(solution, '')) like '%unassociated%'
                or lower(coalesce(solution, '')) like '%idle%'
                or lower(coalesce(solution, '')) like '%unused%'
                then 'idle'
            when
                lower(coalesce(solution, '')) like '%tier%'
                or lower(coalesce(solution, '')) like '%lifecycle%'
                then 'storage_tier'
            when
                lower(coalesce(solution, '')) like '%right-size%'
                or lower(coalesce(solution, '')) like '%rightsize%'
                or lower(coalesce(solution, '')) like '%resize%'
                or (
                    target_sku is not null and current_sku is not null
                    and lower(target_sku) != lower(current_sku)
                )
                then 'rightsizing'
            else 'other'
        end as x_category
    from source
),

renamed as (
    select
        ---------- ids
        'azure_advisor:' || lower(trim(subscription_id))
        || ':' || lower(trim(coalesce(resource_id, '')))
        || ':' || lower(trim(coalesce(recommendation_type_id, '')))
        || case
            when x_category = 'commitment_purchase'
                then
                    ':' || lower(coalesce(target_sku, current_sku, ''))
                    || ':' || upper(coalesce(term, ''))
                    || ':' || lower(replace(coalesce(region, ''), ' ', ''))
            else ''
        end as recommendation_key,
        recommendation_id as source_recommendation_id,

        ---------- dates
        snapshot_date,

        ---------- strings
        'azure_advisor' as source,
        'Azure' as provider_name,
        lower(trim(subscription_id)) as sub_account_id,
        lower(trim(resource_id)) as resource_id,
        case lower(coalesce(impacted_field, ''))
            when 'microsoft.compute/virtualmachines' then 'Virtual Machines'
            when 'microsoft.compute/virtualmachinescalesets' then 'Virtual Machines'
            when 'microsoft.compute/disks' then 'Storage'
            when 'microsoft.storage/storageaccounts' then 'Storage'
            when 'microsoft.network/publicipaddresses' then 'Virtual Network'
            when 'microsoft.sql/servers/databases' then 'SQL Database'
            when 'microsoft.web/serverfarms' then 'Azure App Service'
            else
                case when x_text like '%virtual machine%' then 'Virtual Machines' end
        end as service_name,
        lower(replace(trim(region), ' ', '')) as region_id,
        x_category as category,
        case
            when x_category = 'rightsizing' and current_sku is not null and target_sku is not null
                then 'Rightsize ' || coalesce(impacted_value, '') || ' from ' || current_sku
                    || ' to ' || target_sku
            when lower(coalesce(target_sku, '')) = 'shutdown'
                then 'Shut down ' || coalesce(impacted_value, '')
                    || coalesce(' (' || current_sku || ')', '')
            when x_category = 'commitment_purchase'
                then coalesce(solution, 'Buy a reservation')
                    || coalesce(': ' || target_sku, '') || coalesce(' ' || term, '')
                    || coalesce(' in ' || region, '')
            else coalesce(solution, problem, recommendation_type_id, 'Advisor recommendation')
                || coalesce(': ' || impacted_value, '')
        end as action,

        ---------- numerics
        cast(
            coalesce(savings_amount, annual_savings_amount / 12, 0) as decimal(38, 10)
        ) as estimated_monthly_savings,
        coalesce(upper(trim(savings_currency)), 'USD') as billing_currency,
        -- the load's ledger scope: the snapshot this row belongs to
        _scope as ledger_scope

    from categorized
)

select * from renamed
