-- The FX rates into the reporting currency as validity ranges, for as-of joins: a rate of
-- the fx_rates seed holds from its rate_date until the next rate of the same currency
-- (half-open, the last one open-ended). The reporting currency itself gets rate 1 for all
-- time. Every mart that converts to the reporting currency joins this model on
-- currency = from_currency and valid_from <= day < valid_to, so a missing rate is null.
with

fx_rates as (
    select * from {{ ref('fx_rates') }}
),

ranged as (
    select
        from_currency,
        rate,
        rate_date as valid_from,
        coalesce(
            lead(rate_date) over (partition by from_currency order by rate_date),
            date '9999-12-31'
        ) as valid_to
    from fx_rates
    where to_currency = {{ reporting_currency() }}
),

identity as (
    select
        {{ reporting_currency() }} as from_currency,
        1 as rate,
        date '0001-01-01' as valid_from,
        date '9999-12-31' as valid_to
),

unioned as (
    select
        from_currency,
        rate,
        valid_from,
        valid_to
    from ranged
    where from_currency != {{ reporting_currency() }}

    union all

    select
        from_currency,
        rate,
        valid_from,
        valid_to
    from identity
),

final as (
    select
        cast(from_currency as string) as from_currency,
        {{ reporting_currency() }} as to_currency,
        cast(rate as decimal(18, 10)) as fx_rate,
        cast(valid_from as date) as valid_from,
        cast(valid_to as date) as valid_to
    from unioned
)

select * from final
