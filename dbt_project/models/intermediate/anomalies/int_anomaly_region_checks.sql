{{ config(
    materialized='table' if target_is_spark() else 'incremental',
    incremental_strategy='append',
    on_schema_change='append_new_columns',
    pre_hook=[] if target_is_spark() else [
        "{{ delete_days_to_rebuild(upstream=ref('int_daily_cost_series_scored')) }}"
    ],
) }}

-- Every day int_daily_cost_series_scored flags, checked against its series' regions: what
-- one region does as usual is no anomaly of the series. A series sums the regions it runs
-- in, and a region that bills on some days only makes it jump on the days that region
-- bills and fall on the days it does not, although nothing unusual happened. The mover is
-- the region whose cost moved most from its level (a region's level: the median of its
-- days with a charge in the window x the share of the window's days since its first charge
-- in it that it billed; 0 with fewer than `anomaly_series_min_billing_days` such days or
-- billing on fewer than half of them):
--   - a spike is the mover's usual business when the other regions held (together under
--     (1 + `anomaly_region_min_relative_move`) x their level, and they have one) and the
--     mover billed no more than (1 + m) x its own median day with a charge: a region that
--     bills on some days billing what it bills. A region that jumps beyond what it ever
--     bills, or one new to the window (a runaway job, resources launched where none ran),
--     stays flagged, alone or not;
--   - a drop is the mover's usual business when the mover had days without a charge since
--     its first in the window (its last `anomaly_level_shift_days` days aside): where a
--     region bills on some days only, a day without it is an ordinary day.
-- fct_cost_anomalies and fct_anomaly_series leave out the days set aside here.
--
-- Its own model, not a step of the scoring: the scoring reads every day of every series,
-- and holding its scored rows for this join ran out of a 6 GB memory limit at 50M raw rows
-- (bench/README.md, issue #21). Here only the flagged days are read, and the usage of their
-- windows is an equi-join on (series, day) that streams the costs once.
--
-- Incremental on DuckDB: a daily build checks the flagged days from the first day the
-- scoring rewrote (first_day_rebuilt_upstream) and reads the costs from `anomaly_window_days`
-- before it. On Spark a table: its rows are some days only, and insert_overwrite could not
-- remove a day that is no longer flagged.
{%- set window_days = var('anomaly_window_days') | int %}
{%- set shift_days = var('anomaly_level_shift_days') | int %}
{%- set min_billing_days = var('anomaly_series_min_billing_days') | int %}
{%- set region_min_move = var('anomaly_region_min_relative_move') | float %}
{%- set first_day = none if target_is_spark() else first_day_rebuilt_upstream(ref('int_daily_cost_series_scored')) %}
{#- a full build reads every day (none: from 0001-01-01) -#}
{%- set history_start = none %}
{%- if first_day is not none %}
    {%- set history_start = (modules.datetime.date.fromisoformat(first_day) - modules.datetime.timedelta(days=window_days)).isoformat() %}
{%- endif %}

with

flagged_days as (
    select
        series_day_id,
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        direction
    from {{ ref('int_daily_cost_series_scored') }}
    where
        is_anomaly
        and charge_date >= cast('{{ first_day or '0001-01-01' }}' as date)
),

-- The usage the flagged days' windows can reach, by region.
region_costs as (
    select
        provider_name,
        sub_account_id,
        service_name,
        coalesce(region_id, '') as region_id,
        charge_date,
        billed_cost_reporting
    from {{ ref('int_daily_costs_converted') }}
    where
        charge_category = 'Usage'
        and charge_date >= cast('{{ history_start or '0001-01-01' }}' as date)
),

-- Every day of a flagged day's window (the day and the `anomaly_window_days` before it),
-- then the usage of its series on those days: an equi-join, so the costs are read once.
flagged_windows as (
    select
        series_day_id,
        provider_name,
        sub_account_id,
        service_name,
        charge_date as flagged_date,
        {{ day_series(add_days('charge_date', -window_days), 'charge_date') }} as charge_date
    from flagged_days
),

-- A region's cost on each day of a flagged day's window.
region_days as (
    select
        flagged_windows.series_day_id,
        region_costs.region_id,
        {{ days_between('region_costs.charge_date', 'flagged_windows.flagged_date') }}
            as days_before,
        sum(region_costs.billed_cost_reporting) as region_cost
    from flagged_windows
    inner join region_costs
        on
            flagged_windows.provider_name = region_costs.provider_name
            and flagged_windows.sub_account_id = region_costs.sub_account_id
            and flagged_windows.service_name = region_costs.service_name
            and flagged_windows.charge_date = region_costs.charge_date
    group by
        flagged_windows.series_day_id,
        region_costs.region_id,
        flagged_windows.flagged_date,
        region_costs.charge_date
),

region_levels as (
    select
        series_day_id,
        region_id,
        sum(case when days_before = 0 then region_cost else 0 end) as region_actual,
        {{ quartiles('case when days_before >= 1 and region_cost > 0 then region_cost end') }}
            as region_quartiles,
        count(case when days_before >= 1 and region_cost > 0 then 1 end) as region_billing_days,
        count(case when days_before > {{ shift_days }} and region_cost > 0 then 1 end)
            as region_early_billing_days,
        max(case when days_before >= 1 and region_cost > 0 then days_before end)
            as region_first_billed_days_before
    from region_days
    group by series_day_id, region_id
),

region_moves as (
    select
        *,
        row_number() over (
            partition by series_day_id
            order by abs(region_actual - region_expected) desc, region_id
        ) as move_rank
    from (
        select
            *,
            {{ quartile('region_quartiles', 2) }} as region_usual_cost,
            case
                when
                    region_billing_days >= {{ min_billing_days }}
                    and region_billing_days * 2 >= region_first_billed_days_before
                    then
                        {{ quartile('region_quartiles', 2) }} * region_billing_days
                        / cast(region_first_billed_days_before as double)
                else 0
            end as region_expected,
            -- the days from its first charge in the window to the last
            -- `anomaly_level_shift_days`, less those it billed: its days without a charge
            greatest(coalesce(region_first_billed_days_before, 0) - {{ shift_days }}, 0)
            - region_early_billing_days as region_idle_days
        from region_levels
    ) as levelled
),

region_checks as (
    select
        series_day_id,
        count(*) as region_count,
        max(case when move_rank = 1 then region_id end) as mover_region_id,
        max(case when move_rank = 1 then region_actual end) as mover_cost,
        max(case when move_rank = 1 then region_usual_cost end) as mover_usual_cost,
        max(case when move_rank = 1 then region_idle_days end) as mover_idle_days,
        sum(case when move_rank > 1 then region_actual else 0 end) as others_cost,
        sum(case when move_rank > 1 then region_expected else 0 end) as others_expected_cost
    from region_moves
    group by series_day_id
),

checked as (
    select
        flagged_days.*,
        coalesce(region_checks.region_count, 0) as region_count,
        region_checks.mover_region_id,
        region_checks.mover_cost,
        region_checks.mover_usual_cost,
        region_checks.mover_idle_days,
        region_checks.others_cost,
        region_checks.others_expected_cost,
        coalesce(
            (
                flagged_days.direction = 'drop'
                and region_checks.mover_idle_days > 0
            )
            or (
                flagged_days.direction = 'spike'
                and region_checks.region_count > 1
                and region_checks.others_expected_cost > 0
                and region_checks.others_cost
                < (1 + {{ region_min_move }}) * region_checks.others_expected_cost
                and region_checks.mover_cost
                <= (1 + {{ region_min_move }}) * region_checks.mover_usual_cost
            ),
            false
        ) as is_single_region_move
    from flagged_days
    left join region_checks
        on flagged_days.series_day_id = region_checks.series_day_id
),

final as (
    select
        series_day_id,
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        direction,
        cast(region_count as integer) as region_count,
        mover_region_id,
        cast(mover_cost as decimal(38, 10)) as mover_cost,
        cast(round(mover_usual_cost, 10) as decimal(38, 10)) as mover_usual_cost,
        cast(mover_idle_days as integer) as mover_idle_days,
        cast(others_cost as decimal(38, 10)) as others_cost,
        cast(round(others_expected_cost, 10) as decimal(38, 10)) as others_expected_cost,
        is_single_region_move,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from checked
)

select * from final
