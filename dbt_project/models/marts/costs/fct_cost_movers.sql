-- Top movers: the services and the accounts whose billed cost (reporting currency) changed
-- the most, in absolute terms, between two periods ending on as_of_date: the last 7 days vs
-- the 7 before, and month to date vs the same days of the previous month. Top 20 per
-- period x dimension.
with

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

accounts as (
    select * from {{ ref('dim_sub_accounts') }}
),

as_of as (
    select
        max(charge_date) as as_of_date,
        cast(date_trunc('month', max(charge_date)) as date) as month_start
    from daily_costs
),

periods as (
    select
        'last_7d' as period,
        as_of_date - 6 as current_start,
        as_of_date as current_end,
        as_of_date - 13 as previous_start,
        as_of_date - 7 as previous_end
    from as_of

    union all

    select
        'mtd' as period,
        month_start as current_start,
        as_of_date as current_end,
        cast(month_start - interval 1 month as date) as previous_start,
        least(
            cast(month_start - interval 1 month as date) + cast(day(as_of_date) - 1 as integer),
            month_start - 1
        ) as previous_end
    from as_of
),

items as (
    select
        'service' as dimension,
        provider_name,
        service_name as item_id,
        service_name as item_name,
        charge_date,
        billed_cost_reporting as cost
    from daily_costs

    union all

    select
        'account' as dimension,
        daily_costs.provider_name,
        daily_costs.sub_account_id as item_id,
        accounts.sub_account_name as item_name,
        daily_costs.charge_date,
        daily_costs.billed_cost_reporting as cost
    from daily_costs
    inner join accounts
        on
            daily_costs.provider_name = accounts.provider_name
            and daily_costs.sub_account_id = accounts.sub_account_id
),

compared as (
    select
        periods.period,
        items.dimension,
        items.provider_name,
        items.item_id,
        max(items.item_name) as item_name,
        periods.current_start,
        periods.current_end,
        periods.previous_start,
        periods.previous_end,
        coalesce(sum(items.cost) filter (
            where items.charge_date between periods.current_start and periods.current_end
        ), 0) as current_cost,
        coalesce(sum(items.cost) filter (
            where items.charge_date between periods.previous_start and periods.previous_end
        ), 0) as previous_cost
    from periods
    inner join items
        on
            items.charge_date between periods.current_start and periods.current_end
            or items.charge_date between periods.previous_start and periods.previous_end
    group by
        periods.period,
        items.dimension,
        items.provider_name,
        items.item_id,
        periods.current_start,
        periods.current_end,
        periods.previous_start,
        periods.previous_end
),

ranked as (
    select
        *,
        current_cost - previous_cost as change,  -- noqa: RF04
        row_number() over (
            partition by period, dimension
            order by abs(current_cost - previous_cost) desc, provider_name asc, item_id asc
        ) as change_rank
    from compared
),

final as (
    select
        cast(period || '|' || dimension || '|' || provider_name || '|' || item_id as string) as mover_id,
        cast(period as string) as period,
        cast(dimension as string) as dimension,
        cast(provider_name as string) as provider_name,
        cast(item_id as string) as item_id,
        cast(item_name as string) as item_name,
        cast('billed' as string) as cost_basis,
        cast({{ reporting_currency() }} as string) as reporting_currency,
        cast(current_start as date) as current_start,
        cast(current_end as date) as current_end,
        cast(previous_start as date) as previous_start,
        cast(previous_end as date) as previous_end,
        cast(current_cost as decimal(38, 10)) as current_cost,
        cast(previous_cost as decimal(38, 10)) as previous_cost,
        cast(change as decimal(38, 10)) as change,  -- noqa: RF04
        cast(
            case
                when previous_cost != 0 then round(cast(change as double) / abs(previous_cost) * 100, 4)
            end as decimal(18, 4)
        ) as change_pct,
        cast(change_rank as integer) as change_rank
    from ranked
    where change_rank <= 20
)

select * from final
