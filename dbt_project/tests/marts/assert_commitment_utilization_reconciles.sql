-- Per commitment discount and billing currency, used_cost + unused_cost of
-- fct_commitment_utilization equal the effective cost of the commitment's non-purchase
-- rows in FOCUS staging to the cent: no amortized commitment cost lost, doubled or left
-- without a status. Per day over the days the build rebuilt (every day without a window),
-- and in total over all history (day 'all'). Returns one row per commitment x currency x
-- day (or 'all') that differs.
{%- set window = rebuilt_window_predicate('charge_date') %}
with

staged as (
    select * from {{ ref('stg_focus_files__costs') }}
),

utilization as (
    select * from {{ ref('fct_commitment_utilization') }}
),

amounts as (
    select
        'staged' as side,
        commitment_discount_id,
        billing_currency,
        charge_date,
        effective_cost
    from staged
    where
        commitment_discount_id is not null
        and coalesce(charge_category, '') != 'Purchase'

    union all

    select
        'mart' as side,
        commitment_discount_id,
        billing_currency,
        charge_date,
        used_cost + unused_cost as effective_cost
    from utilization
),

totals as (
    select
        side,
        commitment_discount_id,
        billing_currency,
        cast(charge_date as string) as charge_day,
        sum(effective_cost) as effective_cost
    from amounts
    where {{ window }}
    group by side, commitment_discount_id, billing_currency, charge_date

    union all

    select
        side,
        commitment_discount_id,
        billing_currency,
        'all' as charge_day,
        sum(effective_cost) as effective_cost
    from amounts
    group by side, commitment_discount_id, billing_currency
),

compared as (
    select
        commitment_discount_id,
        billing_currency,
        charge_day,
        coalesce(sum(case when side = 'staged' then effective_cost end), 0) as staged_effective_cost,
        coalesce(sum(case when side = 'mart' then effective_cost end), 0) as mart_effective_cost
    from totals
    group by commitment_discount_id, billing_currency, charge_day
),

final as (
    select
        *,
        mart_effective_cost - staged_effective_cost as effective_difference
    from compared
    where abs(mart_effective_cost - staged_effective_cost) >= 0.005
)

select * from final
