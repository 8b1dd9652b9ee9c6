{{ config(materialized='table') }}
-- Billing-data rule `old_snapshot`: a storage snapshot still billed 12 months or more after
-- its first charge. Snapshots are taken for a restore or a migration and then forgotten;
-- a year on, few are ever restored, yet each is billed every month (EBS standard snapshot
-- storage USD 0.05 per GB-month, Azure managed disk snapshots per GB-month). Rationale: the
-- FinOps toolkit's and CUDOS's "snapshots older than" checks and Trusted Advisor's retention
-- advice; 12 months is the issue's threshold (a year of restore points kept on purpose
-- belongs in a backup plan with its own retention, which deletes them itself). The
-- snapshot's age is the time since its first charge in the FOCUS files the import ever
-- read (stg_focus_files__snapshot_spans: every billing period, not only the resource
-- grain's last days), so a first import of a year of files flags the same snapshots as a
-- year of daily runs. The snapshots are the rows the import kept spans for (loaders/
-- focus_files/mapping.py SNAPSHOT_SQL: ResourceId, ResourceType or x_UsageType naming a
-- snapshot). Price assumption: deleting it saves its whole charge. An EBS snapshot is
-- incremental and its blocks that a later snapshot still needs move to that one, so the
-- real saving can be lower - realized savings measure it; archiving instead (EBS Snapshots
-- Archive, 75 % cheaper storage with a 90-day minimum) saves less but keeps it.
--
-- One row per snapshot and day (macros/resource_rule.sql); a day matches once the snapshot
-- is 12 months old; the series is the snapshot's whole effective cost.
{%- set old_on = add_months('first_charge_date', 12) %}
{{ resource_rule(
    rule='old_snapshot',
    category='idle',
    match="charge_category = 'Usage' and first_charge_date is not null and charge_date >= " ~ old_on,
    saved_cost='effective_cost',
    action="'Delete the snapshot ' || resource_id || ', billed since ' || cast(first_charge_date as string) || ' (or archive it if it must be kept)'",
    first_charges=true,
) }}
