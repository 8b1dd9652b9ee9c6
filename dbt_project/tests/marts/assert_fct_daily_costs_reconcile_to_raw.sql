-- Money in = money out: per provider and billing currency, the billed and effective totals
-- of fct_daily_costs equal the raw tables' totals to the cent (AWS: UnblendedCost and
-- AmortizedCost by their units; Azure: ActualCost and AmortizedCost cost by currency; FOCUS
-- files: BilledCost and EffectiveCost by BillingCurrency, per normalised ProviderName).
-- Returns one row per provider x currency that does not reconcile.
with

raw_aws as (
    select * from {{ source('aws_cost_explorer', 'aws_cost_explorer') }}
),

raw_azure as (
    select * from {{ source('azure_cost_management', 'azure_cost_management') }}
),

raw_focus as (
    select * from {{ source('focus_files', 'focus_costs') }}
),

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

raw_amounts as (
    select
        'AWS' as provider_name,
        upper(trim(unblended_cost_unit)) as billing_currency,
        unblended_cost as billed_cost,
        0 as effective_cost
    from raw_aws

    union all

    select
        'AWS' as provider_name,
        upper(trim(amortized_cost_unit)) as billing_currency,
        0 as billed_cost,
        amortized_cost as effective_cost
    from raw_aws

    union all

    select
        'Azure' as provider_name,
        upper(trim(currency)) as billing_currency,
        case when query_type = 'ActualCost' then cost else 0 end as billed_cost,
        case when query_type = 'AmortizedCost' then cost else 0 end as effective_cost
    from raw_azure

    union all

    select
        {{ normalized_provider_name('provider_name') }} as provider_name,
        upper(trim(billing_currency)) as billing_currency,
        billed_cost,
        effective_cost
    from raw_focus
),

raw_totals as (
    select
        provider_name,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from raw_amounts
    group by provider_name, billing_currency
),

mart_totals as (
    select
        provider_name,
        billing_currency,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from daily_costs
    group by provider_name, billing_currency
),

compared as (
    select
        coalesce(raw_totals.provider_name, mart_totals.provider_name) as provider_name,
        coalesce(raw_totals.billing_currency, mart_totals.billing_currency) as billing_currency,
        coalesce(raw_totals.billed_cost, 0) as raw_billed_cost,
        coalesce(mart_totals.billed_cost, 0) as mart_billed_cost,
        coalesce(raw_totals.effective_cost, 0) as raw_effective_cost,
        coalesce(mart_totals.effective_cost, 0) as mart_effective_cost
    from raw_totals
    full outer join mart_totals
        on
            raw_totals.provider_name = mart_totals.provider_name
            and raw_totals.billing_currency = mart_totals.billing_currency
),

final as (
    select
        *,
        mart_billed_cost - raw_billed_cost as billed_difference,
        mart_effective_cost - raw_effective_cost as effective_difference
    from compared
    where
        abs(mart_billed_cost - raw_billed_cost) >= 0.005
        or abs(mart_effective_cost - raw_effective_cost) >= 0.005
)

select * from final
