-- used_cost + unused_cost of fct_commitment_utilization equal the effective cost of the
-- staged rows they come from, to the cent: no amortized commitment cost lost, doubled or
-- left without a status. Two keys, each per billing currency:
-- * per commitment discount, for FOCUS files and the Azure Query API: the commitment's
--   non-purchase rows;
-- * per billing account, for every source: those rows plus Cost Explorer's
--   commitment record types (SavingsPlanCoveredUsage, DiscountedUsage = used;
--   SavingsPlanRecurringFee, RIFee = unused) of the days its commitment operations answered,
--   which the mart splits by commitment.
-- Per day over the days the build rebuilt (every day without a window), and in total over
-- all history (day 'all'). Returns one row per key x currency x day (or 'all') that differs.
{%- set window = rebuilt_window_predicate('charge_date') %}
with

staged as (
    select * from {{ ref('stg_focus_files__costs') }}
),

azure_staged as (
    select * from {{ ref('stg_azure_cost_management__commitment_costs') }}
),

aws_staged as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
),

utilization as (
    select * from {{ ref('fct_commitment_utilization') }}
),

staged_commitment_rows as (
    {%- for relation in ['staged', 'azure_staged'] %}
        select
            commitment_discount_id,
            billing_account_id,
            billing_currency,
            charge_date,
            effective_cost
        from {{ relation }}
        where
            commitment_discount_id is not null
            and coalesce(charge_category, '') != 'Purchase'
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

staged_commitments as (
    select distinct commitment_discount_id from staged_commitment_rows
),

-- Cost Explorer's commitment record types, of the days (payer, kind) its commitment
-- operations answered: a day without an answer (loaded before the operations were, or
-- answered with nothing) keeps its rows without a commitment - in coverage and savings, not
-- in utilization (int_commitment_costs) - so it is not expected in the mart either.
aws_commitment_rows as (
    select
        *,
        case when x_charge_type like 'SavingsPlan%' then 'SavingsPlan' else 'Reservation' end
            as commitment_kind
    from aws_staged
    where
        x_charge_type in (
            'SavingsPlanCoveredUsage', 'DiscountedUsage', 'SavingsPlanRecurringFee', 'RIFee'
        )
),

aws_answered_days as (
    select distinct
        charge_date,
        billing_account_id,
        commitment_kind
    from {{ ref('stg_aws_cost_explorer__commitment_utilization') }}
),

staged_account_rows as (
    select
        billing_account_id,
        billing_currency,
        charge_date,
        effective_cost
    from staged_commitment_rows

    union all

    select
        aws_commitment_rows.billing_account_id,
        aws_commitment_rows.billing_currency,
        aws_commitment_rows.charge_date,
        aws_commitment_rows.effective_cost
    from aws_commitment_rows
    inner join aws_answered_days
        on
            aws_commitment_rows.charge_date = aws_answered_days.charge_date
            and aws_commitment_rows.billing_account_id = aws_answered_days.billing_account_id
            and aws_commitment_rows.commitment_kind = aws_answered_days.commitment_kind
),

amounts as (
    select
        'staged' as side,
        'commitment ' || commitment_discount_id as reconciled_key,
        billing_currency,
        charge_date,
        effective_cost
    from staged_commitment_rows

    union all

    select
        'staged' as side,
        'billing account ' || billing_account_id as reconciled_key,
        billing_currency,
        charge_date,
        effective_cost
    from staged_account_rows

    union all

    select
        'mart' as side,
        'commitment ' || utilization.commitment_discount_id as reconciled_key,
        utilization.billing_currency,
        utilization.charge_date,
        utilization.used_cost + utilization.unused_cost as effective_cost
    from utilization
    inner join staged_commitments
        on utilization.commitment_discount_id = staged_commitments.commitment_discount_id

    union all

    select
        'mart' as side,
        'billing account ' || billing_account_id as reconciled_key,
        billing_currency,
        charge_date,
        used_cost + unused_cost as effective_cost
    from utilization
),

totals as (
    select
        side,
        reconciled_key,
        billing_currency,
        cast(charge_date as string) as charge_day,
        sum(effective_cost) as effective_cost
    from amounts
    where {{ window }}
    group by side, reconciled_key, billing_currency, charge_date

    union all

    select
        side,
        reconciled_key,
        billing_currency,
        'all' as charge_day,
        sum(effective_cost) as effective_cost
    from amounts
    group by side, reconciled_key, billing_currency
),

compared as (
    select
        reconciled_key,
        billing_currency,
        charge_day,
        coalesce(sum(case when side = 'staged' then effective_cost end), 0) as staged_effective_cost,
        coalesce(sum(case when side = 'mart' then effective_cost end), 0) as mart_effective_cost
    from totals
    group by reconciled_key, billing_currency, charge_day
),

final as (
    select
        *,
        mart_effective_cost - staged_effective_cost as effective_difference
    from compared
    where abs(mart_effective_cost - staged_effective_cost) >= 0.005
)

select * from final
