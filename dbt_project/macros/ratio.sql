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


{#- An AWS cost row's part of a commitment (int_commitment_costs): the amount as it is when
    the row's commitment holds all of it (share 1), else amount x share at decimal(38, 10). -#}
{% macro commitment_share(amount, share='commitment_share') -%}
    case
        when {{ share }} = 1 then {{ amount }}
        else cast({{ amount }} * {{ share }} as decimal(38, 10))
    end
{%- endmacro %}


{#- `amount` x `share` at decimal(38, 10), exact over the parts of one row: every part but the
    first (`is_first`) is the rounded product, the first takes the amount less the others, so
    the parts of the row (the rows of the window `partition by row_columns`) sum to it
    exactly. The allocation splits (int_cost_allocation_split: tag cuts, shared rules). -#}
{% macro exact_share(amount, share, is_first, row_columns) -%}
    case
        when {{ is_first }}
            then {{ amount }} - (
                sum(cast({{ amount }} * {{ share }} as decimal(38, 10))) over (
                    partition by {{ row_columns | join(', ') }}
                ) - cast({{ amount }} * {{ share }} as decimal(38, 10))
            )
        else cast({{ amount }} * {{ share }} as decimal(38, 10))
    end
{%- endmacro %}
