-- Every (service_category, service_subcategory) pair of the service mapping is a pair
-- FOCUS 1.2 defines. Returns the mapping rows whose pair is not.
with

service_mapping as (
    select * from {{ ref('service_category_mapping') }}
),

focus_categories as (
    select * from {{ ref('focus_service_categories') }}
),

final as (
    select service_mapping.*
    from service_mapping
    left join focus_categories
        on
            service_mapping.service_category = focus_categories.service_category
            and service_mapping.service_subcategory = focus_categories.service_subcategory
    where focus_categories.service_category is null
)

select * from final
