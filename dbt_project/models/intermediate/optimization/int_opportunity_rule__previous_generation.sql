{{ config(materialized='table') }}
-- Billing-data rule `previous_generation`: an Amazon EC2, RDS or ElastiCache instance of a
-- previous-generation family, which a current-generation family of the same size serves
-- for less (and faster). Changing an instance's type keeps its id, so its cost series
-- continues and the drop after the change is the realized saving. Rationale: AWS's
-- "previous generation instances" list and CUDOS's / Compute Optimizer's graviton and
-- generation checks. The family comes from the usage type (x_UsageType `<region
-- prefix>-BoxUsage:m4.large`, `InstanceUsage:db.r4.large`, `NodeUsage:cache.m4.large`, ...).
--
-- Price assumption: the share the suggested family saves against the old one at the same
-- size, from AWS's on-demand Linux prices in us-east-1 (large size; the ratio is about the
-- same in other regions and sizes): m3 -> m6i 28 %, m4 -> m6i 4 %, c3 -> c6i 19 %,
-- c4 -> c6i 15 %, r3 -> r6i 24 %, r4 -> r6i 5 %, i2 -> i3 63 %, d2 -> d3 28 %, t1/m1/m2/c1
-- -> t3/m6i/r6i/c6i 30 % (the oldest families, priced far above today's). Families without
-- a cheaper successor at the same size (g3, p2) are not listed: moving them is a
-- performance decision, not a saving. Spot and dedicated usage is matched like on-demand.
--
-- One row per instance and day (macros/resource_rule.sql); the series is the instance's
-- whole effective cost.
{%- set families = {
    'm3': ('m6i', 0.28), 'm4': ('m6i', 0.04), 'c3': ('c6i', 0.19), 'c4': ('c6i', 0.15),
    'r3': ('r6i', 0.24), 'r4': ('r6i', 0.05), 'i2': ('i3', 0.63), 'd2': ('d3', 0.28),
    't1': ('t3', 0.30), 'm1': ('m6i', 0.30), 'm2': ('r6i', 0.30), 'c1': ('c6i', 0.30),
} %}
{%- set family_pattern = '(boxusage|dedicatedusage|hostusage|spotusage|instanceusage|'
    ~ 'multi-azusage|nodeusage)[^:]*:(db[.]|cache[.])?([a-z0-9]+)[.]' %}
{%- set cases = namespace(successor='case instance_family', share='case instance_family') %}
{%- for name, (target, share) in families.items() %}
    {%- set cases.successor = cases.successor ~ " when '" ~ name ~ "' then '" ~ target ~ "'" %}
    {%- set cases.share = cases.share ~ " when '" ~ name ~ "' then " ~ share %}
{%- endfor %}
{%- set successor = cases.successor ~ ' end' %}
{%- set share = cases.share ~ ' end' %}
{{ resource_rule(
    rule='previous_generation',
    category='previous_generation',
    provider='AWS',
    derived={'instance_family': "regexp_extract(lower(x_usage_type), '" ~ family_pattern ~ "', 3)"},
    match="charge_category = 'Usage' and " ~ successor ~ " is not null",
    saved_cost='effective_cost * ' ~ share,
    action="'Move ' || resource_id || ' from the previous-generation ' || instance_family || ' family to ' || " ~ successor,
) }}
