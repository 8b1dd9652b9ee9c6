-- One row per Azure cost key with billed (ActualCost) and effective (AmortizedCost) side by
-- side. Conditional aggregation, not a join of the two queries: a key present in only one
-- of them (a reservation Purchase is ActualCost only, UnusedReservation AmortizedCost only)
-- keeps its cost and gets 0 on the other side. The scope stays in the key: two configured
-- scopes that cover the same subscription stay two rows, so the unique cost_line_id test of
-- int_cloud_costs_unioned catches the overlap instead of a silent double count.
--
-- A table, incremental on charge_date (macros/delete_days_to_rebuild.sql) like the staging
-- table it reads: its key tests and int_cloud_costs_unioned read stored rows instead of
-- pivoting every Azure row of the history again for each of them.
{{ config(**incremental_by_day()) }}
with

costs as (
    select * from {{ ref('stg_azure_cost_management__costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

pivoted as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        scope,
        sub_account_id,
        service_name,
        region_id,
        x_region_name,
        x_charge_type,
        billing_currency,
        x_source,
        max(sub_account_name) as sub_account_name,
        sum(case when query_type = 'ActualCost' then cost else 0 end) as billed_cost,
        sum(case when query_type = 'AmortizedCost' then cost else 0 end) as effective_cost,
        bool_or(query_type = 'ActualCost') as has_actual_cost,
        bool_or(query_type = 'AmortizedCost') as has_amortized_cost,
        bool_or(is_estimated) as is_estimated
    from costs
    group by
        charge_date,
        provider_name,
        billing_account_id,
        scope,
        sub_account_id,
        service_name,
        region_id,
        x_region_name,
        x_charge_type,
        billing_currency,
        x_source
),

final as (
    select
        {{ surrogate_key([
            'scope', 'charge_date', 'sub_account_id', 'service_name', 'x_region_name',
            'x_charge_type', 'billing_currency', 'x_source',
        ]) }} as pivoted_cost_id,
        charge_date,
        provider_name,
        billing_account_id,
        scope,
        sub_account_id,
        sub_account_name,
        service_name,
        region_id,
        x_region_name,
        x_charge_type,
        billing_currency,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        has_actual_cost,
        has_amortized_cost,
        is_estimated,
        x_source,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from pivoted
)

select * from final
