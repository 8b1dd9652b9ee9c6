{{ config(**incremental_by_day()) }}

-- Every day of every usage series (provider x sub account x service; billed cost in the
-- reporting currency, charge_category = Usage), judged on its regions
-- (int_daily_cost_region_scored: each region with its own level and spread). The yml says
-- why each rule is there; bench/anomaly_independent.py measures it on data it was never
-- tuned on:
--   - the day's actual and expected cost are summed over the regions that count on it
--     (a region that bills on some days says nothing on a day it does not bill; a young
--     region nothing at all); the other regions' cost is expected as it is;
--   - z = ln(actual / expected) over the counted regions' spreads combined;
--   - a flag needs |z| >= `anomaly_series_z_threshold`, an impact of at least
--     `anomaly_series_min_impact` and `anomaly_series_min_relative_impact` x the expected cost,
--     and the counted regions moving together (each at least `anomaly_region_together_z`
--     of its own spreads the same way) - but for a rise of one region beyond
--     `anomaly_region_single_z` spreads, a rise to `anomaly_region_single_factor` x the
--     expected cost or more, or a runaway region;
--   - a 1st of the month: a rise is judged against at least the previous 1st, a fall
--     against the usage level;
--   - a day when the whole account bills no usage is the account stopping, not a drop of
--     each of its services;
--   - a level shift is flagged on its first `anomaly_level_shift_days` days only.
--
-- Incremental on charge_date (macros/delete_days_to_rebuild.sql): a daily build judges the
-- days from `window_start` on (as int_daily_cost_region_scored scores them), reading the
-- `anomaly_level_shift_days` days before it too, so every day is judged as in a full build.
{%- set shift_days = var('anomaly_level_shift_days') | int %}
{%- set z_threshold = var('anomaly_series_z_threshold') | float %}
{%- set min_impact = var('anomaly_series_min_impact') | float %}
{%- set min_relative_impact = var('anomaly_series_min_relative_impact') | float %}
{%- set min_log_scale = var('anomaly_series_min_log_scale') | float %}
{%- set together_z = var('anomaly_region_together_z') | float %}
{%- set single_z = var('anomaly_region_single_z') | float %}
{%- set single_factor = var('anomaly_region_single_factor') | float %}
{%- set window_start = first_filled_day_to_rebuild(ref('stg_finops__load_ledger')) %}
{%- if window_start is not none %}
    {%- set read_start = (modules.datetime.date.fromisoformat(window_start) - modules.datetime.timedelta(days=shift_days)).isoformat() %}
{%- endif %}

with

region_days as (
    select
        *,
        -- the region's expected cost on the day, for a rise and for a fall (they differ on
        -- a 1st of the month), and its z for each; a runaway region expects its usual day
        case
            when is_counted then exp(log_level)
            when is_runaway then exp(usage_log_level)
        end as expected_high,
        case
            when is_counted then exp(usage_log_level)
            when is_runaway then exp(usage_log_level)
        end as expected_low,
        case
            when is_counted and scored_cost > 0
                then (ln(cast(scored_cost as double)) - log_level) / log_scale
        end as z_high,
        case
            when is_counted and scored_cost > 0
                then (ln(cast(scored_cost as double)) - usage_log_level) / log_scale
        end as z_low
    from {{ ref('int_daily_cost_region_scored') }}
    {%- if window_start is not none %}
        where charge_date >= cast('{{ read_start }}' as date)
    {%- endif %}
),

-- The account's usage on the day, every region of every service (0: the account stopped).
account_days as (
    select
        provider_name,
        sub_account_id,
        charge_date,
        sum(actual_cost) as account_cost
    from region_days
    group by provider_name, sub_account_id, charge_date
),

series_days as (
    select
        provider_name,
        sub_account_id,
        service_name,
        charge_date,
        sum(actual_cost) as actual_cost,
        bool_and(is_gap_filled) as is_gap_filled,
        -- the counted regions (and runaways): what the day is judged on
        sum(case when is_counted or is_runaway then scored_cost end) as judged_actual,
        sum(expected_high) as judged_expected_high,
        sum(expected_low) as judged_expected_low,
        sqrt(sum(power(expected_high * log_scale, 2))) as spread_high,
        sqrt(sum(power(expected_low * log_scale, 2))) as spread_low,
        -- the rest of the day's cost is expected as it is
        sum(actual_cost) - coalesce(sum(case when is_counted or is_runaway then scored_cost end), 0)
            as unjudged_cost,
        sum(case when is_counted or is_runaway then training_days end) as training_days,
        bool_or(is_counted or is_runaway) as is_scored,
        bool_or(is_counted and has_weekly_pattern) as has_weekly_pattern,
        -- moving together: every counted region's z (a counted region without a charge
        -- fell as far as it can), the largest rise, a runaway
        min(case when is_counted then coalesce(z_high, -1e9) end) as least_z_high,
        max(case when is_counted then coalesce(z_low, -1e9) end) as most_z_low,
        max(z_high) as most_z_high,
        bool_or(is_runaway) as has_runaway
    from region_days
    group by provider_name, sub_account_id, service_name, charge_date
),

measured as (
    select
        series_days.*,
        account_days.account_cost,
        -- the combined spread on the log scale (at least anomaly_series_min_log_scale)
        greatest(series_days.spread_high / series_days.judged_expected_high, {{ min_log_scale }})
            as log_scale_high,
        greatest(series_days.spread_low / series_days.judged_expected_low, {{ min_log_scale }})
            as log_scale_low
    from series_days
    inner join account_days
        on
            series_days.provider_name = account_days.provider_name
            and series_days.sub_account_id = account_days.sub_account_id
            and series_days.charge_date = account_days.charge_date
),

-- The band outside which the judged cost deviates: |z| >= the threshold and an impact of
-- at least both floors, absolute and relative to the expected cost.
banded as (
    select
        *,
        greatest(
            judged_expected_high * exp({{ z_threshold }} * log_scale_high),
            judged_expected_high
            + greatest({{ min_impact }}, {{ min_relative_impact }} * judged_expected_high)
        ) as judged_high,
        greatest(
            least(
                judged_expected_low * exp(-{{ z_threshold }} * log_scale_low),
                judged_expected_low
                - greatest({{ min_impact }}, {{ min_relative_impact }} * judged_expected_low)
            ),
            0
        ) as judged_low
    from measured
),

deviating as (
    select
        *,
        case
            when not is_scored then null
            when judged_actual > judged_expected_high then 'spike'
            when judged_actual < judged_expected_low then 'drop'
        end as direction,
        coalesce(
            is_scored
            and (
                (
                    judged_actual >= judged_high
                    and (
                        least_z_high >= {{ together_z }}
                        or most_z_high >= {{ single_z }}
                        or judged_actual >= {{ single_factor }} * judged_expected_high
                        or has_runaway
                    )
                )
                or (
                    (judged_actual <= judged_low and judged_low > 0 or judged_actual <= 0)
                    and judged_expected_low - judged_actual
                    >= greatest({{ min_impact }}, {{ min_relative_impact }} * judged_expected_low)
                    and most_z_low <= -{{ together_z }}
                    and account_cost > 0
                )
            ),
            false
        ) as is_deviation
    from banded
),

-- A level shift deviates day after day until the training follows: a day is not flagged
-- when the `anomaly_level_shift_days` days before it were already beyond the same edge.
-- Counted over the deviating days only (1,486 of 5.3M series days at 10M raw rows),
-- joined with the deviating days before them: a series has a row on every day from its
-- first (its regions are gap-filled), so its days before are its rows before.
deviations as (
    select
        provider_name,
        sub_account_id,
        service_name,
        charge_date,
        direction
    from deviating
    where is_deviation
),

shifts as (
    select
        deviations.provider_name,
        deviations.sub_account_id,
        deviations.service_name,
        deviations.charge_date,
        count(*) as same_edge_days_before
    from deviations
    inner join deviations as earlier
        on
            deviations.provider_name = earlier.provider_name
            and deviations.sub_account_id = earlier.sub_account_id
            and deviations.service_name = earlier.service_name
            and deviations.direction = earlier.direction
            and deviations.charge_date > earlier.charge_date
            and {{ add_days('deviations.charge_date', -shift_days) }} <= earlier.charge_date
    group by
        deviations.provider_name,
        deviations.sub_account_id,
        deviations.service_name,
        deviations.charge_date
),

flagged as (
    select
        deviating.*,
        deviating.is_deviation
        and coalesce(shifts.same_edge_days_before, 0) < {{ shift_days }} as is_anomaly
    from deviating
    left join shifts
        on
            deviating.provider_name = shifts.provider_name
            and deviating.sub_account_id = shifts.sub_account_id
            and deviating.service_name = shifts.service_name
            and deviating.charge_date = shifts.charge_date
    {%- if window_start is not none %}
    where deviating.charge_date >= cast('{{ window_start }}' as date)
    {%- endif %}
),

final as (
    select
        {{ surrogate_key(['charge_date', 'provider_name', 'sub_account_id', 'service_name']) }}
            as series_day_id,
        charge_date,
        provider_name,
        sub_account_id,
        service_name,
        {{ reporting_currency() }} as reporting_currency,
        cast(actual_cost as decimal(38, 10)) as actual_cost,
        is_gap_filled,
        cast(training_days as integer) as training_days,
        is_scored,
        case
            when is_scored then cast(round(unjudged_cost + judged_expected_high, 10) as decimal(38, 10))
        end as expected_cost,
        case
            when is_scored then cast(round(unjudged_cost + judged_low, 10) as decimal(38, 10))
        end as expected_low,
        case
            when is_scored then cast(round(unjudged_cost + judged_high, 10) as decimal(38, 10))
        end as expected_high,
        case
            when is_scored
                then cast(round(judged_expected_high * (exp(log_scale_high) - 1), 10) as decimal(38, 10))
        end as training_stddev,
        case
            when is_scored and judged_actual > 0 and direction = 'drop'
                then cast(round(ln(judged_actual / judged_expected_low) / log_scale_low, 6) as double)
            when is_scored and judged_actual > 0
                then cast(round(ln(judged_actual / judged_expected_high) / log_scale_high, 6) as double)
        end as z_score,
        direction,
        case
            when is_scored then cast(round(judged_actual - judged_expected_high, 10) as decimal(38, 10))
        end as cost_impact,
        is_anomaly,
        case when has_weekly_pattern then 'weekly' else 'none' end as seasonality,
        is_deviation,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from flagged
)

select * from final
