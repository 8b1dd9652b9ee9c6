{#
    The anomaly scoring of the provider totals (int_daily_cost_totals_scored; the account x
    service series have their own robust scoring, int_daily_cost_series_scored): the CTEs
    first_pass, first_pass_flagged, trained, scored, measured and flagged over a gap-filled
    daily series CTE (one row per series and charge_date with actual_cost). Call it in a
    `with` list after that CTE, followed by a comma and the model's final CTE. A mean and a
    standard deviation, so that fct_anomaly_root_causes can split a total's expected cost
    by account, service and region.
#}
{% macro score_daily_series(series_cte, partition_columns) -%}
    {%- set seasonality = var('anomaly_seasonality') | string | trim | lower %}
    {%- if seasonality == 'day_of_week' %}
        {%- set window_rows = var('anomaly_seasonal_weeks') | int %}
        {%- set min_history_days = var('anomaly_seasonal_min_weeks') | int %}
        {%- set season_partition = ', ' ~ iso_day_of_week('charge_date') %}
    {%- else %}
        {%- set window_rows = var('anomaly_window_days') | int %}
        {%- set min_history_days = var('anomaly_min_history_days') | int %}
        {%- set season_partition = '' %}
    {%- endif %}
    {%- if seasonality not in ('none', 'day_of_week') %}
        {#- a typo must not fall back to 'none' silently: the window then fails at run time #}
        {%- set season_partition = ", error('anomaly_seasonality must be none or day_of_week')" %}
    {%- endif %}
    {%- set z_threshold = var('anomaly_z_threshold') | float %}
    {%- set min_impact = var('anomaly_min_impact') | float %}
    {%- set flat_min_impact = [var('anomaly_flat_min_impact') | float, min_impact] | max %}
    {%- set partition_by = partition_columns | join(', ') ~ season_partition %}
first_pass as (
    select
        *,
        count(actual_cost) over training_window as first_pass_days,
        avg(actual_cost) over training_window as first_pass_mean,
        round(stddev_samp(actual_cost) over training_window, 10) as first_pass_stddev
    from {{ series_cte }}
    window training_window as (
        partition by {{ partition_by }}
        order by charge_date
        rows between {{ window_rows }} preceding and 1 preceding
    )
),

-- A day the first pass (same rule, unfiltered window) flags is left out of the training of
-- later days, so one anomaly neither hides the next nor raises a false one for weeks.
first_pass_flagged as (
    select
        *,
        coalesce(
            first_pass_days >= {{ min_history_days }}
            and (
                (
                    first_pass_stddev > 0
                    and abs(actual_cost - first_pass_mean) / first_pass_stddev >= {{ z_threshold }}
                    and abs(actual_cost - first_pass_mean) >= {{ min_impact }}
                )
                or (
                    first_pass_stddev = 0
                    and actual_cost != first_pass_mean
                    and abs(actual_cost - first_pass_mean) >= {{ flat_min_impact }}
                )
            ),
            false
        ) as is_first_pass_anomaly
    from first_pass
),

trained as (
    select
        *,
        count(actual_cost) filter (where not is_first_pass_anomaly) over training_window as training_days,
        avg(actual_cost) filter (where not is_first_pass_anomaly) over training_window as training_mean,
        stddev_samp(actual_cost) filter (where not is_first_pass_anomaly) over training_window
            as training_stddev_exact,
        min(charge_date) filter (where not is_first_pass_anomaly) over training_window as training_first_date
    from first_pass_flagged
    window training_window as (
        partition by {{ partition_by }}
        order by charge_date
        rows between {{ window_rows }} preceding and 1 preceding
    )
),

scored as (
    select
        *,
        training_days >= {{ min_history_days }} as is_scored,
        case
            when training_days >= {{ min_history_days }}
                then cast(round(training_mean, 10) as decimal(38, 10))
        end as expected_cost,
        case
            when training_days >= {{ min_history_days }}
                then cast(round(training_stddev_exact, 10) as decimal(38, 10))
        end as training_stddev
    from trained
),

measured as (
    select
        *,
        actual_cost - expected_cost as cost_impact,
        case
            when training_stddev > 0
                then round((actual_cost - training_mean) / training_stddev_exact, 6)
        end as z_score,
        case
            when actual_cost > expected_cost then 'spike'
            when actual_cost < expected_cost then 'drop'
        end as direction
    from scored
),

flagged as (
    select
        *,
        coalesce(
            (
                training_stddev > 0
                and abs(z_score) >= {{ z_threshold }}
                and abs(cost_impact) >= {{ min_impact }}
            )
            or (
                training_stddev = 0
                and cost_impact != 0
                and abs(cost_impact) >= {{ flat_min_impact }}
            ),
            false
        ) as is_anomaly,
        '{{ seasonality }}' as seasonality
    from measured
)
{%- endmacro %}

{#
    Half the width of the expected band of a scored day, from its training standard
    deviation: the distance from expected_cost at which score_daily_series flags the day.
    With a positive stddev a day is flagged when |z| >= anomaly_z_threshold and |impact| >=
    anomaly_min_impact, i.e. |actual - expected| >= greatest(threshold x stddev, min
    impact); with a flat window (stddev 0) when |impact| >= the flat minimum.
#}
{% macro anomaly_band_half_width(stddev_column) -%}
    {%- set z_threshold = var('anomaly_z_threshold') | float %}
    {%- set min_impact = var('anomaly_min_impact') | float %}
    {%- set flat_min_impact = [var('anomaly_flat_min_impact') | float, min_impact] | max -%}
    case
        when {{ stddev_column }} > 0
            then greatest({{ z_threshold }} * {{ stddev_column }}, {{ min_impact }})
        when {{ stddev_column }} = 0 then {{ flat_min_impact }}
    end
{%- endmacro %}
