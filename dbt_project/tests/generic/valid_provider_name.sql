{#
    Provider names are open-ended (FOCUS files bring any provider), so instead of a fixed
    accepted_values list: every value must be a normalised provider name (the value equals
    normalized_provider_name of itself, so 'Amazon Web Services', 'Microsoft' or ' AWS'
    fail), not empty, and 'All' only where allow_all (the provider_scope of every provider
    together). Fails with one row per offending value.
#}
{% test valid_provider_name(model, column_name, allow_all=false) %}

with

providers as (
    select {{ column_name }} as provider_name
    from {{ model }}
    where {{ column_name }} is not null
),

final as (
    select
        provider_name,
        count(*) as row_count
    from providers
    where
        trim(provider_name) = ''
        or provider_name != {{ normalized_provider_name('provider_name') }}
        {%- if not allow_all %}
            or provider_name = 'All'
        {%- endif %}
    group by provider_name
)

select * from final

{% endtest %}
