-- UnblendedCost and AmortizedCost of a Cost Explorer row are in the same currency, so
-- billed_cost and effective_cost can share billing_currency. Returns the rows where not.
with

costs as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
),

final as (
    select *
    from costs
    where billing_currency != effective_cost_currency
)

select * from final
