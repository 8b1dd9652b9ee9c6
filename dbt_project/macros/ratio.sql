{#
    numerator / denominator as a double rounded to `decimals` places, null when the
    denominator is 0 (nothing to judge, not 0 % or 100 %). The amounts are cast to double
    first: decimal(38, 10) / decimal(38, 10) would overflow Spark's decimal arithmetic with
    allowPrecisionLoss=false. The ratios of the commitment marts (utilization, coverage, the
    Effective Savings Rate, list_cost_missing_share).
#}
{% macro ratio(numerator, denominator, decimals=6) -%}
    cast(
        case
            when {{ denominator }} != 0
                then round(cast({{ numerator }} as double) / cast({{ denominator }} as double), {{ decimals }})
        end as double
    )
{%- endmacro %}
