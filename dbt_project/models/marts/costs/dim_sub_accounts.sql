-- One row per sub account (AWS linked account, Azure subscription, a FOCUS file's
-- SubAccountId) of any provider with cost in fct_daily_costs: its latest name and billing
-- account, and the days it has cost. The one place an account's display name is decided:
-- the latest non-null sub_account_name by charge date (names change; ids do not).
with

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

accounts as (
    select
        provider_name,
        sub_account_id,
        max_by(sub_account_name, charge_date) filter (where sub_account_name is not null) as sub_account_name,
        max_by(billing_account_id, charge_date) as billing_account_id,
        min(charge_date) as first_charge_date,
        max(charge_date) as last_charge_date
    from daily_costs
    group by provider_name, sub_account_id
),

final as (
    select
        cast({{ surrogate_key(['provider_name', 'sub_account_id']) }} as string) as sub_account_key,
        cast(provider_name as string) as provider_name,
        cast(sub_account_id as string) as sub_account_id,
        cast(sub_account_name as string) as sub_account_name,
        cast(billing_account_id as string) as billing_account_id,
        cast(first_charge_date as date) as first_charge_date,
        cast(last_charge_date as date) as last_charge_date
    from accounts
)

select * from final
