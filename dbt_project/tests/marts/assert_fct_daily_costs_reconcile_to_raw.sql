-- Money in = money out: per provider and billing currency, the billed and effective totals
-- of fct_daily_costs equal the raw tables' totals to the cent (AWS: UnblendedCost and
-- AmortizedCost by their units; Azure: ActualCost and AmortizedCost cost by currency; FOCUS
-- files: BilledCost and EffectiveCost by BillingCurrency, per normalised ProviderName).
-- Two comparisons, both cheap (sums of two columns, no join of rows):
--   - per day of the days the build rebuilt (all days without a window: `finops verify`, a
--     full build): a day's money must land on that day;
--   - the running total over all history (day 'all'): nothing lost or doubled anywhere.
-- Returns one row per provider x currency x day (or 'all') that does not reconcile.
{%- set window = rebuilt_window_predicate('charge_date') %}
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
        cast(time_period_start as date) as charge_date,
        unblended_cost as billed_cost,
        0 as effective_cost
    from raw_aws

    union all

    select
        'AWS' as provider_name,
        upper(trim(amortized_cost_unit)) as billing_currency,
        cast(time_period_start as date) as charge_date,
        0 as billed_cost,
        amortized_cost as effective_cost
    from raw_aws

    union all

    select
        'Azure' as provider_name,
        upper(trim(currency)) as billing_currency,
        {{ date_from_yyyymmdd('cast(usage_date as string)') }} as charge_date,
        case when query_type = 'ActualCost' then cost else 0 end as billed_cost,
        case when query_type = 'AmortizedCost' then cost else 0 end as effective_cost
    from raw_azure

    union all

    select
        {{ normalized_provider_name('provider_name') }} as provider_name,
        upper(trim(billing_currency)) as billing_currency,
        charge_date,
        billed_cost,
        effective_cost
    from raw_focus
),

-- both sides, summed per day within the window and as 'all' over every day
amounts as (
    select
        'raw' as side,
        provider_name,
        billing_currency,
        charge_date,
        billed_cost,
        effective_cost
    from raw_amounts

    union all

    select
        'mart' as side,
        provider_name,
        billing_currency,
        charge_date,
        billed_cost,
        effective_cost
    from daily_costs
),

totals as (
    select
        side,
        provider_name,
        billing_currency,
        cast(charge_date as string) as charge_day,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from amounts
    where {{ window }}
    group by side, provider_name, billing_currency, charge_date

    union all

    select
        side,
        provider_name,
        billing_currency,
        'all' as charge_day,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost
    from amounts
    group by side, provider_name, billing_currency
),

compared as (
    select
        provider_name,
        billing_currency,
        charge_day,
        coalesce(sum(case when side = 'raw' then billed_cost end), 0) as raw_billed_cost,
        coalesce(sum(case when side = 'mart' then billed_cost end), 0) as mart_billed_cost,
        coalesce(sum(case when side = 'raw' then effective_cost end), 0) as raw_effective_cost,
        coalesce(sum(case when side = 'mart' then effective_cost end), 0) as mart_effective_cost
    from totals
    group by provider_name, billing_currency, charge_day
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
