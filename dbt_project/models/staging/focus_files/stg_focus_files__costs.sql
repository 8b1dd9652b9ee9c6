-- An incremental table, not a view (macros/delete_days_to_rebuild.sql): a daily build restages
-- only the days a load changed, and the tests of this model and of the views over it
-- (int_landed_cost_rows_unpivoted; int_focus_costs_aggregated is incremental too) read stored keys and a stored
-- charge_date instead of hashing and re-deriving the whole raw table on every test.
{{ config(**incremental_by_day()) }}
-- FOCUS file rows (already daily) in the vocabulary of the API staging models, one row per
-- raw row. The rules that make FOCUS files from different producers agree live here:
-- ProviderName normalised ('AWS' / 'Amazon Web Services' -> 'AWS', 'Microsoft' / 'Azure' ->
-- 'Azure', others kept), case variants of the FOCUS enumerations normalised ('Usage-based'
-- -> 'Usage-Based'; a value FOCUS does not know becomes null and stays visible in
-- x_charge_type), Azure's '-2' / 'Unassigned' placeholders null, Azure ARM paths reduced to
-- the ids the Azure API staging uses, a row without a region in region 'global'.
{%- set charge_category = focus_charge_category('charge_category') -%}
{%- set charge_class -%}
    case when lower(trim(charge_class)) = 'correction' then 'Correction' end
{%- endset -%}
{%- set charge_frequency -%}
    case replace(replace(lower(trim(charge_frequency)), '-', ''), ' ', '')
        when 'onetime' then 'One-Time'
        when 'recurring' then 'Recurring'
        when 'usagebased' then 'Usage-Based'
    end
{%- endset -%}
{%- set billing_account = azure_billing_account('trim(billing_account_id)', 'trim(billing_account_id)') %}

with

source as (
    select * from {{ source('focus_files', 'focus_costs') }}
    {{ rebuilt_days_filter(ref('stg_finops__load_ledger'), column='charge_date') }}
),

renamed as (
    select
        ---------- ids
        -- The raw row's identity: its natural key within the source and scope.
        {{ surrogate_key([
            '_source', '_scope', 'billing_period_start', 'charge_date', 'billing_account_id',
            'billing_account_name', 'sub_account_id', 'sub_account_name', 'provider_name',
            'publisher_name', 'invoice_issuer_name', 'service_name', 'service_category',
            'service_subcategory', 'region_id', 'region_name', 'charge_category', 'charge_class',
            'charge_frequency', 'pricing_category', 'billing_currency', 'consumed_unit',
            'x_service_code', 'commitment_discount_id', 'commitment_discount_name',
            'commitment_discount_type', 'commitment_discount_category',
            'commitment_discount_status', 'commitment_discount_unit', 'x_allocation_tags',
        ]) }} as cost_row_id,
        -- Azure writes /providers/Microsoft.Billing/billingAccounts/{id}: keep the id.
        {{ billing_account }} as billing_account_id,
        -- Azure writes /subscriptions/{guid}: the lower-case guid, as the Azure API staging;
        -- a row without a sub account belongs to its billing account.
        {{ focus_sub_account_id(billing_account) }} as sub_account_id,
        _scope as scope,
        -- The billing account the rows belong to, as the load scope names it
        -- (`<ProviderName>/<BillingAccountId>`, the values as the file wrote them).
        trim(provider_name) || '/' || trim(billing_account_id) as billing_account_scope,
        _load_id as load_id,

        ---------- strings
        {{ normalized_provider_name('provider_name') }} as provider_name,
        trim(provider_name) as x_provider_name,
        {{ null_if_placeholder('billing_account_name') }} as billing_account_name,
        {{ null_if_placeholder('sub_account_name') }} as sub_account_name,
        {{ null_if_placeholder('publisher_name') }} as publisher_name,
        {{ null_if_placeholder('invoice_issuer_name') }} as invoice_issuer_name,
        trim(service_name) as service_name,
        {{ null_if_placeholder('service_category') }} as service_category,
        {{ null_if_placeholder('service_subcategory') }} as service_subcategory,
        -- No region (or a placeholder) -> 'global', like the API staging models.
        coalesce(
            lower({{ null_if_placeholder('region_id') }}),
            lower({{ null_if_placeholder('region_name') }}),
            'global'
        ) as region_id,
        {{ null_if_placeholder('region_name') }} as region_name,
        -- The region as the file named it (id and name): part of the cost line's key.
        coalesce(
            nullif(
                concat_ws(' / ', {{ null_if_placeholder('region_id') }}, {{ null_if_placeholder('region_name') }}),
                ''
            ),
            'global'
        ) as x_region_name,
        {{ charge_category }} as charge_category,
        {{ charge_class }} as charge_class,
        {{ charge_frequency }} as charge_frequency,
        -- The charge as the file classified it (normalised where FOCUS knows the value, as
        -- written where not), e.g. 'Usage / Usage-Based' or 'Adjustment / Correction / One-Time'.
        concat_ws(
            ' / ',
            coalesce({{ charge_category }}, trim(charge_category)),
            coalesce({{ charge_class }}, {{ null_if_placeholder('charge_class') }}),
            coalesce({{ charge_frequency }}, {{ null_if_placeholder('charge_frequency') }})
        ) as x_charge_type,
        case lower(trim(pricing_category))
            when 'standard' then 'Standard'
            when 'on-demand' then 'Standard'
            when 'dynamic' then 'Dynamic'
            when 'committed' then 'Committed'
            when 'commitment-based' then 'Committed'
            when 'other' then 'Other'
            else {{ null_if_placeholder('pricing_category') }}
        end as pricing_category,
        upper(trim(billing_currency)) as billing_currency,
        {{ null_if_placeholder('consumed_unit') }} as consumed_unit,
        {{ null_if_placeholder('x_service_code') }} as x_service_code,
        {{ null_if_placeholder('commitment_discount_id') }} as commitment_discount_id,
        {{ null_if_placeholder('commitment_discount_name') }} as commitment_discount_name,
        {{ null_if_placeholder('commitment_discount_type') }} as commitment_discount_type,
        case lower(trim(commitment_discount_category))
            when 'spend' then 'Spend'
            when 'usage' then 'Usage'
            else {{ null_if_placeholder('commitment_discount_category') }}
        end as commitment_discount_category,
        case lower(trim(commitment_discount_status))
            when 'used' then 'Used'
            when 'unused' then 'Unused'
            else {{ null_if_placeholder('commitment_discount_status') }}
        end as commitment_discount_status,
        {{ null_if_placeholder('commitment_discount_unit') }} as commitment_discount_unit,
        -- The row's values of the allocation keys (FINOPS_ALLOCATION_TAGS), a JSON object
        -- the import wrote from the file's Tags; null without keys or tags.
        x_allocation_tags,
        x_focus_version,
        x_file_set_sha256,
        _source as x_source,

        ---------- numerics
        cast(billed_cost as decimal(38, 10)) as billed_cost,
        cast(effective_cost as decimal(38, 10)) as effective_cost,
        cast(list_cost as decimal(38, 10)) as list_cost,
        cast(contracted_cost as decimal(38, 10)) as contracted_cost,
        cast(consumed_quantity as decimal(38, 10)) as consumed_quantity,
        cast(commitment_discount_quantity as decimal(38, 10)) as commitment_discount_quantity,
        x_source_rows,
        -- copies of rows the file held more than once (billed as the file bills them)
        coalesce(x_duplicate_rows, 0) as x_duplicate_rows,
        cast(coalesce(x_duplicate_billed_cost, 0) as decimal(38, 10)) as x_duplicate_billed_cost,

        ---------- booleans
        -- FOCUS has no estimated flag: a billing period counts as estimated when it was
        -- loaded before the 5th day after it ended (providers invoice around then).
        _loaded_at < billing_period_end + interval 4 day as is_estimated,

        ---------- dates
        charge_date,
        billing_period_start,
        billing_period_end,
        _loaded_at as loaded_at,
        {{ loaded_through(ref('stg_finops__load_ledger')) }} as _loaded_through

    from source
)

select * from renamed
