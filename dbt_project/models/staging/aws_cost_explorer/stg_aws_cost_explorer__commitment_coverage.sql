-- One row per day and commitment kind (savings plans: every service; reservations: per
-- service) of the coverage Cost Explorer itself reports (GetSavingsPlansCoverage,
-- GetReservationCoverage), within a payer account. Not a source of fct_commitment_coverage,
-- which computes coverage from the record types to the cent of the bill: the cross-check of
-- those record types (tests/staging/assert_aws_commitment_coverage_agrees.sql) and the
-- figures the AWS console shows. A view: one row per day and kind is small.
with

source as (
    select * from {{ source('aws_cost_explorer', 'aws_commitment_coverage') }}
),

renamed as (
    select
        {{ surrogate_key(['_source', '_scope', 'time_period_start', 'commitment_kind', 'service']) }}
            as commitment_coverage_row_id,
        cast(time_period_start as date) as charge_date,
        'AWS' as provider_name,
        _scope as billing_account_id,
        commitment_kind,
        service as service_name,
        cast(covered_cost as decimal(38, 10)) as covered_cost,
        cast(on_demand_cost as decimal(38, 10)) as on_demand_cost,
        cast(total_cost as decimal(38, 10)) as total_cost,
        cast(reserved_hours as decimal(38, 10)) as reserved_hours,
        cast(on_demand_hours as decimal(38, 10)) as on_demand_hours,
        cast(total_running_hours as decimal(38, 10)) as total_running_hours,
        round(cast(coverage_percentage as double) / 100, 6) as coverage,
        upper(trim(currency)) as billing_currency,
        _source as x_source
    from source
)

select * from renamed
