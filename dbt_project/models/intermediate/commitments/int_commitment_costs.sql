-- The usage and purchase rows of every source, and every other row of a commitment (a
-- credit or correction on it), at the grain rate optimization reads: day x
-- provider x billing account x sub account x service x charge category x pricing category
-- x commitment discount (id, status) x billing currency, with the commitment's attributes
-- and the per-row savings of the FinOps Foundation's definitions summed (a row = a daily
-- row of the import's rollup: file rows of one day and every kept dimension, summed).
--   negotiated savings = max(list - contracted, 0), commitment savings = max(contracted -
--   effective, 0), total savings = max(list - effective, 0).
-- A missing list price (ListCost null or 0 on a row with effective cost) gives no savings
-- and is counted in list_cost_missing_effective_cost; a missing contracted price counts as
-- the list price, so no negotiated saving is invented from it.
--
-- Sources:
-- * FOCUS files: their rows as they are.
-- * Azure Cost Management: the Query API's commitment rows as staged
--   (stg_azure_cost_management__commitment_costs: usage by pricing model, used / unused per
--   benefit, purchases), their money as they are. The Query API gives no list or contracted
--   price: those come from the Cost Details reports (stg_azure_cost_management__price_details,
--   FINOPS_AZURE_PRICE_DETAILS), summed per day x scope x subscription x service x charge
--   type x currency x price_key (the benefit of a benefit row, the pricing model of a pricing
--   row) and joined at that grain - one price row per cost row, so nothing fans out. A row
--   without a price detail (setting off, HTTP 403, a day the report did not have) keeps a
--   null list price and counts in list_cost_missing_effective_cost, as does one whose report
--   left PayGPrice empty (EA prices reservation and savings plan usage without one).
-- * AWS Cost Explorer: the record types in FOCUS terms - Usage is on-demand usage
--   (Standard; list = contracted = its unblended cost), SavingsPlanCoveredUsage /
--   DiscountedUsage the usage a savings plan / reservation covered (Committed, Used; list =
--   its unblended cost, the on-demand price Cost Explorer shows for it), SavingsPlanRecurringFee
--   / RIFee the commitment's fee whose amortized cost is what it left unused (Committed,
--   Unused; no list price). Which commitment a row is of comes from Cost Explorer's
--   commitment operations (stg_aws_cost_explorer__commitment_utilization): a payer's Used
--   (Unused) rows of a day are split over its commitments of that kind in proportion to
--   each one's used (unused) amount that day (macros/ratio.sql `commitment_share`), so the
--   money stays the bill's: to the last decimal place when one commitment of the kind holds
--   it all, to the cent when several share it. With no commitment answer for the day the
--   rows keep a null commitment id (counted in coverage and savings, not in utilization).
--
-- Incremental on charge_date like the staging tables it reads
-- (macros/delete_days_to_rebuild.sql).
{{ config(**incremental_by_day()) }}
{% set columns = [
    'charge_date', 'provider_name', 'billing_account_id', 'sub_account_id', 'service_name',
    'charge_category', 'pricing_category', 'commitment_discount_id', 'commitment_discount_name',
    'commitment_discount_type', 'commitment_discount_category', 'commitment_discount_status',
    'commitment_discount_unit', 'commitment_discount_quantity', 'billing_currency',
    'billed_cost', 'effective_cost', 'list_cost', 'contracted_cost',
] %}
{% set share = 'coalesce(commitment_shares.commitment_share, 1)' %}
{% set list_price =
    "case when aws_rows.commitment_discount_status = 'Unused' then 0 else aws_rows.billed_cost end" %}
with

focus_costs as (
    select * from {{ ref('stg_focus_files__costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

aws_costs as (
    select * from {{ ref('stg_aws_cost_explorer__costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

aws_commitment_days as (
    select * from {{ ref('stg_aws_cost_explorer__commitment_utilization') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

azure_commitment_costs as (
    select * from {{ ref('stg_azure_cost_management__commitment_costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

azure_price_details as (
    select * from {{ ref('stg_azure_cost_management__price_details') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger')) }}
),

azure_prices as (
    select
        charge_date,
        scope,
        sub_account_id,
        service_name,
        x_charge_type,
        billing_currency,
        price_key,
        sum(list_cost) as list_cost,
        sum(contracted_cost) as contracted_cost
    from azure_price_details
    group by
        charge_date,
        scope,
        sub_account_id,
        service_name,
        x_charge_type,
        billing_currency,
        price_key
),

azure_costs as (
    select
        {%- for column in columns %}
            {%- if column in ('list_cost', 'contracted_cost') %}
                azure_prices.{{ column }}
            {%- else %}
                azure_commitment_costs.{{ column }}
            {%- endif %}
            {%- if not loop.last %},{% endif %}
        {%- endfor %}
    from azure_commitment_costs
    left join azure_prices
        on
            azure_commitment_costs.charge_date = azure_prices.charge_date
            and azure_commitment_costs.scope = azure_prices.scope
            and azure_commitment_costs.sub_account_id = azure_prices.sub_account_id
            and azure_commitment_costs.service_name = azure_prices.service_name
            and azure_commitment_costs.x_charge_type = azure_prices.x_charge_type
            and azure_commitment_costs.billing_currency = azure_prices.billing_currency
            and azure_commitment_costs.price_key = azure_prices.price_key
),

aws_rows as (
    select
        *,
        case
            when x_charge_type like 'SavingsPlan%' then 'SavingsPlan'
            when x_charge_type in ('DiscountedUsage', 'RIFee') then 'Reservation'
        end as commitment_kind,
        case
            when x_charge_type in ('SavingsPlanCoveredUsage', 'DiscountedUsage') then 'Used'
            when x_charge_type in ('SavingsPlanRecurringFee', 'RIFee') then 'Unused'
        end as commitment_discount_status
    from aws_costs
    where
        x_charge_type in (
            'Usage', 'SavingsPlanCoveredUsage', 'DiscountedUsage', 'SavingsPlanRecurringFee',
            'RIFee'
        )
),

aws_commitment_amounts as (
    select
        charge_date,
        billing_account_id,
        commitment_kind,
        'Used' as commitment_discount_status,
        commitment_discount_id,
        commitment_discount_type,
        commitment_discount_category,
        used_amount as commitment_amount
    from aws_commitment_days

    union all

    select
        charge_date,
        billing_account_id,
        commitment_kind,
        'Unused' as commitment_discount_status,
        commitment_discount_id,
        commitment_discount_type,
        commitment_discount_category,
        unused_amount as commitment_amount
    from aws_commitment_days
),

aws_commitment_totals as (
    select
        *,
        sum(commitment_amount) over (
            partition by charge_date, billing_account_id, commitment_kind, commitment_discount_status
        ) as kind_amount
    from aws_commitment_amounts
),

aws_commitment_shares as (
    select
        *,
        commitment_amount / kind_amount as commitment_share
    from aws_commitment_totals
    where commitment_amount != 0
),

aws_split as (
    select
        aws_rows.charge_date,
        aws_rows.provider_name,
        aws_rows.billing_account_id,
        aws_rows.sub_account_id,
        aws_rows.service_name,
        'Usage' as charge_category,
        case when aws_rows.commitment_kind is null then 'Standard' else 'Committed' end
            as pricing_category,
        commitment_shares.commitment_discount_id,
        cast(null as string) as commitment_discount_name,
        commitment_shares.commitment_discount_type,
        coalesce(
            commitment_shares.commitment_discount_category,
            case aws_rows.commitment_kind when 'SavingsPlan' then 'Spend' when 'Reservation' then 'Usage' end
        ) as commitment_discount_category,
        aws_rows.commitment_discount_status,
        cast(null as string) as commitment_discount_unit,
        cast(null as decimal(38, 10)) as commitment_discount_quantity,
        aws_rows.billing_currency,
        {{ commitment_share('aws_rows.billed_cost', share) }} as billed_cost,
        {{ commitment_share('aws_rows.effective_cost', share) }} as effective_cost,
        {{ commitment_share(list_price, share) }} as list_cost,
        {{ commitment_share(list_price, share) }} as contracted_cost
    from aws_rows
    left join aws_commitment_shares as commitment_shares
        on
            aws_rows.charge_date = commitment_shares.charge_date
            and aws_rows.billing_account_id = commitment_shares.billing_account_id
            and aws_rows.commitment_kind = commitment_shares.commitment_kind
            and aws_rows.commitment_discount_status = commitment_shares.commitment_discount_status
),

costs as (
    {%- for relation in ['focus_costs', 'azure_costs', 'aws_split'] %}
        select {{ columns | join(', ') }} from {{ relation }}
        {%- if not loop.last %}
            union all
        {%- endif %}
    {%- endfor %}
),

priced as (
    select
        *,
        coalesce(list_cost, 0) as list_price_cost,
        case
            when coalesce(contracted_cost, 0) = 0 and coalesce(list_cost, 0) != 0 then list_cost
            else coalesce(contracted_cost, 0)
        end as contracted_price_cost
    from costs
    where
        charge_category in ('Usage', 'Purchase')
        or commitment_discount_id is not null
),

grouped as (
    select
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        charge_category,
        pricing_category,
        commitment_discount_id,
        commitment_discount_status,
        billing_currency,
        max(commitment_discount_name) as commitment_discount_name,
        max(commitment_discount_type) as commitment_discount_type,
        max(commitment_discount_category) as commitment_discount_category,
        max(commitment_discount_unit) as commitment_discount_unit,
        sum(commitment_discount_quantity) as commitment_discount_quantity,
        sum(billed_cost) as billed_cost,
        sum(effective_cost) as effective_cost,
        sum(list_price_cost) as list_cost,
        sum(contracted_price_cost) as contracted_cost,
        sum(greatest(list_price_cost - contracted_price_cost, 0)) as negotiated_savings,
        sum(greatest(contracted_price_cost - effective_cost, 0)) as commitment_savings,
        sum(greatest(list_price_cost - effective_cost, 0)) as total_savings,
        sum(case when list_price_cost = 0 then effective_cost else 0 end)
            as list_cost_missing_effective_cost
    from priced
    group by
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        charge_category,
        pricing_category,
        commitment_discount_id,
        commitment_discount_status,
        billing_currency
),

final as (
    select
        {{ surrogate_key([
            'charge_date', 'provider_name', 'billing_account_id', 'sub_account_id', 'service_name',
            'charge_category', 'pricing_category', 'commitment_discount_id',
            'commitment_discount_status', 'billing_currency',
        ]) }} as commitment_cost_id,
        charge_date,
        provider_name,
        billing_account_id,
        sub_account_id,
        service_name,
        charge_category,
        pricing_category,
        commitment_discount_id,
        commitment_discount_name,
        commitment_discount_type,
        commitment_discount_category,
        commitment_discount_status,
        commitment_discount_unit,
        cast(commitment_discount_quantity as decimal(38, 10)) as commitment_discount_quantity,
        billing_currency,
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(list_cost as decimal(38, 10)) as list_cost,
        cast(contracted_cost as decimal(38, 10)) as contracted_cost,
        cast(negotiated_savings as decimal(38, 10)) as negotiated_savings,
        cast(commitment_savings as decimal(38, 10)) as commitment_savings,
        cast(total_savings as decimal(38, 10)) as total_savings,
        cast(list_cost_missing_effective_cost as decimal(38, 10)) as list_cost_missing_effective_cost,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through
    from grouped
)

select * from final
