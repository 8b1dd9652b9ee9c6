{{ config(materialized='table') }}
-- Billing-data rule `extended_support`: a charge for running a database or Kubernetes
-- version past the end of its standard support. Amazon RDS (MySQL, PostgreSQL, Aurora) and
-- Amazon EKS bill it under usage types naming extended support (x_UsageType
-- `<region prefix>-ExtendedSupport:Yr1-Yr2:MySQL5.7`, `<region prefix>-AmazonEKS-Hours:
-- extendedSupport`). Upgrading to a version in standard support removes it. Rationale: the
-- charge is pure overhead (CUDOS's "Extended Support" dashboard). Price assumptions (AWS
-- pricing pages): RDS bills extended support per vCPU-hour on top of the instance, so an
-- upgrade saves the whole charge; EKS bills an extended-support cluster USD 0.60 an hour
-- instead of 0.10 in standard support, so an upgrade saves 5/6 of it.
--
-- One row per resource (database instance, cluster) and day (macros/resource_rule.sql); the
-- series is the resource's whole effective cost, which keeps its id across the upgrade.
{%- set eks_saving_share = '5 / 6' %}
{{ resource_rule(
    rule='extended_support',
    category='other',
    provider='AWS',
    match="lower(x_usage_type) like '%extendedsupport%'",
    saved_cost="case when lower(x_usage_type) like '%amazoneks%' then cast(effective_cost as double) * " ~ eks_saving_share ~ " else cast(effective_cost as double) end",
    action="'Upgrade ' || resource_id || ' to a version in standard support (extended support is billed: ' || x_usage_type || ')'",
) }}
