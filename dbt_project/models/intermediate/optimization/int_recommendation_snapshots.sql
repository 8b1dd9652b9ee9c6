-- The latest snapshot of each recommendation source: the last run date its API answered
-- (with recommendations or none), so a recommendation missing from it is gone.
select
    cast(null as string) as source,
    cast(null as date) as latest_snapshot_date
where false
