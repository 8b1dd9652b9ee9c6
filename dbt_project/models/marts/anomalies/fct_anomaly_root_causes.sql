-- Root cause of each total anomaly: for every account, service and region of the scope, its
-- usage on the anomalous day (actual) and its mean over the very training days of the
-- total (expected: the sum over those days / the total's training_days, a day without usage
-- counting 0), contribution = actual - expected. The training days are the days from
-- training_first_date to the day before (only the same weekday with day_of_week
-- seasonality) that the total's first pass did not flag (int_daily_cost_totals_scored).
-- The total is the sum of its items every day, so per dimension the contributions add up to
-- the total's cost_impact (tested by assert_fct_anomaly_root_causes_sum_to_impact).
with

total_anomalies as (
    select * from {{ ref('fct_cost_total_anomalies') }}
),

scored_totals as (
    select * from {{ ref('int_daily_cost_totals_scored') }}
),

daily_costs as (
    select * from {{ ref('fct_daily_costs') }}
),

account_names as (
    select * from {{ ref('dim_sub_accounts') }}
),

excluded_days as (
    select
        provider_scope,
        charge_date
    from scored_totals
    where is_first_pass_anomaly
),

usage_costs as (
    select * from daily_costs
    where charge_category = 'Usage'
),

item_days as (
    select
        charge_date,
        provider_name,
        'account' as dimension,
        sub_account_id as item,
        sum(billed_cost_reporting) as cost
    from usage_costs
    group by charge_date, provider_name, sub_account_id
    union all
    select
        charge_date,
        provider_name,
        'service' as dimension,
        service_name as item,
        sum(billed_cost_reporting) as cost
    from usage_costs
    group by charge_date, provider_name, service_name
    union all
    select
        charge_date,
        provider_name,
        'region' as dimension,
        region_id as item,
        sum(billed_cost_reporting) as cost
    from usage_costs
    group by charge_date, provider_name, region_id
),

contributions as (
    select
        total_anomalies.total_anomaly_id,
        item_days.dimension,
        item_days.provider_name,
        item_days.item,
        coalesce(sum(item_days.cost) filter (where item_days.charge_date = total_anomalies.charge_date), 0)
            as actual_cost,
        cast(round(
            cast(coalesce(
                sum(item_days.cost) filter (where item_days.charge_date < total_anomalies.charge_date), 0
            ) as double)
            / any_value(total_anomalies.training_days),
            10
        ) as decimal(38, 10)) as expected_cost
    from total_anomalies
    inner join item_days
        on
            (total_anomalies.provider_scope = 'All' or total_anomalies.provider_scope = item_days.provider_name)
            and total_anomalies.training_first_date <= item_days.charge_date
            and total_anomalies.charge_date >= item_days.charge_date
            and (
                total_anomalies.seasonality = 'none'
                or {{ days_between('item_days.charge_date', 'total_anomalies.charge_date') }} % 7 = 0
            )
    left join excluded_days
        on
            total_anomalies.provider_scope = excluded_days.provider_scope
            and item_days.charge_date = excluded_days.charge_date
            and total_anomalies.charge_date > item_days.charge_date
    where excluded_days.charge_date is null
    group by total_anomalies.total_anomaly_id, item_days.dimension, item_days.provider_name, item_days.item
),

final as (
    select
        cast(
            {{ surrogate_key([
                'total_anomalies.total_anomaly_id',
                'contributions.dimension',
                'contributions.provider_name',
                'contributions.item',
            ]) }} as string
        ) as root_cause_id,
        cast(total_anomalies.total_anomaly_id as string) as total_anomaly_id,
        cast(total_anomalies.charge_date as date) as charge_date,
        cast(total_anomalies.provider_scope as string) as provider_scope,
        cast(contributions.dimension as string) as dimension,
        cast(contributions.provider_name as string) as provider_name,
        cast(contributions.item as string) as item,
        cast(
            case when contributions.dimension = 'account' then account_names.sub_account_name end as string
        ) as sub_account_name,
        cast(total_anomalies.reporting_currency as string) as reporting_currency,
        cast(contributions.actual_cost as decimal(38, 10)) as actual_cost,
        cast(contributions.expected_cost as decimal(38, 10)) as expected_cost,
        cast(contributions.actual_cost - contributions.expected_cost as decimal(38, 10)) as contribution,
        cast(
            round(
                cast(contributions.actual_cost - contributions.expected_cost as double)
                / nullif(total_anomalies.cost_impact, 0),
                6
            ) as double
        ) as share_of_impact
    from contributions
    inner join total_anomalies
        on contributions.total_anomaly_id = total_anomalies.total_anomaly_id
    left join account_names
        on
            contributions.provider_name = account_names.provider_name
            and contributions.item = account_names.sub_account_id
)

select * from final
