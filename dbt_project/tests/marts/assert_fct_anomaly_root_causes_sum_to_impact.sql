-- Per total anomaly and dimension (account, service, region), the contributions of
-- fct_anomaly_root_causes sum to the anomaly's cost_impact to the cent, and the actual costs
-- to its actual_cost. Returns the anomalies and dimensions that do not (a dimension with no
-- row at all shows up with a null sum).
with

total_anomalies as (
    select * from {{ ref('fct_cost_total_anomalies') }}
),

root_causes as (
    select * from {{ ref('fct_anomaly_root_causes') }}
),

dimensions as (
    select dimension_names.dimension from (values ('account'), ('service'), ('region')) as dimension_names (dimension)
),

sums as (
    select
        total_anomaly_id,
        dimension,
        sum(contribution) as contribution,
        sum(actual_cost) as actual_cost
    from root_causes
    group by total_anomaly_id, dimension
),

final as (
    select
        total_anomalies.total_anomaly_id,
        total_anomalies.provider_scope,
        total_anomalies.charge_date,
        dimensions.dimension,
        total_anomalies.cost_impact,
        sums.contribution
    from total_anomalies
    cross join dimensions
    left join sums
        on
            total_anomalies.total_anomaly_id = sums.total_anomaly_id
            and dimensions.dimension = sums.dimension
    where
        sums.contribution is null
        or abs(sums.contribution - total_anomalies.cost_impact) >= 0.005
        or sums.actual_cost != total_anomalies.actual_cost
)

select * from final
