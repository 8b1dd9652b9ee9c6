-- What commitments and negotiated prices saved against list prices, per billing month x
-- provider x billing currency, over usage rows (purchases are the cash side of
-- commitments and left out): the per-row savings of int_commitment_costs summed -
-- negotiated = max(list - contracted, 0), commitment = max(contracted - effective, 0),
-- total = max(list - effective, 0) - and the Effective Savings Rate = total savings / list
-- cost (null without list cost). list_cost_missing_share = the share of the effective cost
-- on rows without a list price, where no saving can be known: a high share means the rate
-- understates the savings.
with

commitment_costs as (
    select * from {{ ref('int_commitment_costs') }}
    where charge_category = 'Usage'
),

monthly as (
    select
        cast(date_trunc('month', charge_date) as date) as billing_month,
        provider_name,
        billing_currency,
        sum(list_cost) as list_cost,
        sum(contracted_cost) as contracted_cost,
        sum(effective_cost) as effective_cost,
        sum(negotiated_savings) as negotiated_savings,
        sum(commitment_savings) as commitment_savings,
        sum(total_savings) as total_savings,
        sum(list_cost_missing_effective_cost) as list_cost_missing_effective_cost
    from commitment_costs
    group by cast(date_trunc('month', charge_date) as date), provider_name, billing_currency
),

final as (
    select
        cast({{ surrogate_key(['billing_month', 'provider_name', 'billing_currency']) }} as string)
            as effective_savings_id,
        cast(billing_month as date) as billing_month,
        cast(provider_name as string) as provider_name,
        cast(billing_currency as string) as billing_currency,
        cast(list_cost as decimal(38, 10)) as list_cost,
        cast(contracted_cost as decimal(38, 10)) as contracted_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(negotiated_savings as decimal(38, 10)) as negotiated_savings,
        cast(commitment_savings as decimal(38, 10)) as commitment_savings,
        cast(total_savings as decimal(38, 10)) as total_savings,
        {{ ratio('total_savings', 'list_cost') }} as effective_savings_rate,
        {{ ratio('list_cost_missing_effective_cost', 'effective_cost') }} as list_cost_missing_share
    from monthly
)

select * from final
