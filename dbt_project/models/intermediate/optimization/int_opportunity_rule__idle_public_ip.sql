{{ config(materialized='table') }}
-- Billing-data rule `idle_public_ip`: an AWS public IPv4 address that is allocated but not
-- attached to a running resource - an idle Elastic IP. AWS bills every public IPv4 address
-- by the hour since February 2024 (USD 0.005 an hour in every commercial region, VPC pricing
-- page), and an idle one under its own usage type (x_UsageType `<region
-- prefix>-PublicIPv4:IdleAddress`; before February 2024 `ElasticIP:IdleAddress`), so the
-- bill itself says which addresses serve nothing. Rationale: CUDOS's and Trusted Advisor's
-- "unassociated Elastic IP addresses" check. Price assumption: none - releasing the address
-- saves its whole idle-address charge (an address that is then attached again pays the
-- in-use rate instead, which is not waste).
--
-- Azure's billing data does not tell an unassociated public IP from an associated one (the
-- same meter); its idle addresses reach the ledger through Azure Advisor instead.
-- One row per address and day (macros/resource_rule.sql); the series is the address's
-- whole effective cost.
{{ resource_rule(
    rule='idle_public_ip',
    category='idle',
    provider='AWS',
    match="charge_category = 'Usage' and (lower(x_usage_type) like '%publicipv4:idleaddress' or lower(x_usage_type) like '%elasticip:idleaddress')",
    saved_cost='effective_cost',
    action="'Release the idle public IPv4 address ' || resource_id",
) }}
