{{ config(severity='warn') }}
-- Cost Explorer's own coverage figures agree with the record types the marts compute
-- coverage from (fct_commitment_coverage), per payer and day - a cross-check of the bill's
-- rows against a second Cost Explorer answer, not of our arithmetic:
-- * savings plans: SpendCoveredBySavingsPlans (GetSavingsPlansCoverage) = the unblended
--   cost of the day's SavingsPlanCoveredUsage rows (both are the covered usage at on-demand
--   prices), to the cent;
-- * reservations, per service: ReservedHours (GetReservationCoverage) = the usage quantity
--   of the day's DiscountedUsage rows (the hours reservations covered), to 0.01 hour.
-- Only days (payer, kind) a coverage operation answered are compared. Warn severity: a
-- difference points at rows Cost Explorer has not finished restating, or at usage the record
-- types place differently; the marts keep the bill's figures either way. Returns one row per
-- payer x day x kind x service that differs.
{%- set window = rebuilt_window_predicate('charge_date') %}
with

reported as (
    select * from {{ ref('stg_aws_cost_explorer__commitment_coverage') }}
    where {{ window }}
),

costs as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
    where
        x_charge_type in ('SavingsPlanCoveredUsage', 'DiscountedUsage')
        and {{ window }}
),

from_record_types as (
    select
        billing_account_id,
        charge_date,
        case x_charge_type when 'SavingsPlanCoveredUsage' then 'SavingsPlan' else 'Reservation' end
            as commitment_kind,
        case when x_charge_type = 'DiscountedUsage' then service_name end as service_name,
        sum(case when x_charge_type = 'SavingsPlanCoveredUsage' then billed_cost else usage_quantity end)
            as amount
    from costs
    group by
        billing_account_id,
        charge_date,
        case x_charge_type when 'SavingsPlanCoveredUsage' then 'SavingsPlan' else 'Reservation' end,
        case when x_charge_type = 'DiscountedUsage' then service_name end
),

compared as (
    select
        reported.billing_account_id,
        reported.charge_date,
        reported.commitment_kind,
        reported.service_name,
        case reported.commitment_kind
            when 'SavingsPlan' then reported.covered_cost else reported.reserved_hours
        end as reported_amount,
        coalesce(from_record_types.amount, 0) as record_types_amount
    from reported
    left join from_record_types
        on
            reported.billing_account_id = from_record_types.billing_account_id
            and reported.charge_date = from_record_types.charge_date
            and reported.commitment_kind = from_record_types.commitment_kind
            and coalesce(reported.service_name, '') = coalesce(from_record_types.service_name, '')
),

final as (
    select
        *,
        reported_amount - record_types_amount as difference
    from compared
    where abs(coalesce(reported_amount, 0) - record_types_amount) >= 0.005
)

select * from final
