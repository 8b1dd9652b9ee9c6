-- How much of the usage commitments could cover they did cover, per day x provider x sub
-- account x service category x billing currency: committed_cost = effective cost of usage
-- rows a commitment covered (a commitment id or priced Committed - a Cost Explorer day whose
-- commitment is not named yet - status not Unused), on_demand_cost = effective
-- cost of usage rows priced Standard of services the provider's commitments can cover (seed
-- commitment_eligible_services), coverage = committed / (committed + on demand), null when
-- both are 0. Service categories as dim_services resolves them (one per service).
with

commitment_costs as (
    select * from {{ ref('int_commitment_costs') }}
    where charge_category = 'Usage'
),

eligible_services as (
    select * from {{ ref('commitment_eligible_services') }}
),

services as (
    select * from {{ ref('dim_services') }}
),

classified as (
    select
        commitment_costs.charge_date,
        commitment_costs.provider_name,
        commitment_costs.sub_account_id,
        commitment_costs.billing_currency,
        coalesce(services.service_category, 'Other') as service_category,
        case
            when
                (
                    commitment_costs.commitment_discount_id is not null
                    or commitment_costs.pricing_category = 'Committed'
                )
                and coalesce(commitment_costs.commitment_discount_status, 'Used') != 'Unused'
                then commitment_costs.effective_cost
            else 0
        end as committed_cost,
        case
            when
                commitment_costs.commitment_discount_id is null
                and commitment_costs.pricing_category = 'Standard'
                and eligible_services.service_name is not null
                then commitment_costs.effective_cost
            else 0
        end as on_demand_cost
    from commitment_costs
    left join eligible_services
        on
            commitment_costs.provider_name = eligible_services.provider_name
            and commitment_costs.service_name = eligible_services.service_name
    left join services
        on
            commitment_costs.provider_name = services.provider_name
            and commitment_costs.service_name = services.service_name
),

daily as (
    select
        charge_date,
        provider_name,
        sub_account_id,
        service_category,
        billing_currency,
        sum(committed_cost) as committed_cost,
        sum(on_demand_cost) as on_demand_cost
    from classified
    group by charge_date, provider_name, sub_account_id, service_category, billing_currency
    having sum(committed_cost) != 0 or sum(on_demand_cost) != 0
),

final as (
    select
        cast({{ surrogate_key([
            'charge_date', 'provider_name', 'sub_account_id', 'service_category', 'billing_currency',
        ]) }} as string) as commitment_coverage_id,
        cast(charge_date as date) as charge_date,
        cast(provider_name as string) as provider_name,
        cast(sub_account_id as string) as sub_account_id,
        cast(service_category as string) as service_category,
        cast(billing_currency as string) as billing_currency,
        cast(committed_cost as decimal(38, 10)) as committed_cost,
        cast(on_demand_cost as decimal(38, 10)) as on_demand_cost,
        {{ ratio('committed_cost', 'committed_cost + on_demand_cost') }} as coverage
    from daily
)

select * from final
