"""A second, independent generator of a year of daily cloud costs as FOCUS 1.2 Parquet
exports, with labelled anomaly events: data the anomaly detector was never tuned on.

Why a second generator: the detector (`int_daily_cost_series_scored` ->
`marts.fct_cost_anomalies`) was tuned on the project's simulated source, so its precision
and recall there say little about real bills. This module was written without reading that
source, the detector's dbt models or the event logic of bench/anomaly_precision_recall.py;
its parameters (below) are its own, chosen to look like real daily cost data. Only the FOCUS
column set and the file layout follow bench/focus_run.py, because the FOCUS import must
accept the files. bench/anomaly_independent.py runs the pipeline on it and scores the
detector.

What it writes into `--out DIR`:

    DIR/exports/provider_folder={aws,azure}/billing_month=YYYY-MM/*.parquet
        FOCUS 1.2 rows (InvoiceId and PricingCurrency make the import read them as 1.2),
        one day per row, one file per provider and billing month, written by one DuckDB
        `COPY (...) TO ... (partition_by ...)` from SQL (no Python loop over rows)
    DIR/labels.csv
        the labelled event days, one row per account x service x day: provider_name (the
        FOCUS ProviderName as written: 'AWS' or 'Microsoft'), sub_account_id, service_name,
        charge_date, event_id, kind (spike / drop), factor, event_days, typical_daily_cost
        (the account x service's level before trend, weekday and noise, billing currency),
        billing_currency. Outside `exports/`, so an import of that folder never sees it.

Everything random is a hash of (`--seed`, a key, a tag) in DuckDB, so a seed gives the same
files every time (with the same DuckDB version).

The estate (parameters are the module constants):

- Accounts: AWS linked accounts (ProviderName 'AWS', USD, two payer accounts) and Azure
  subscriptions (ProviderName 'Microsoft'; `EUR_SHARE` of them bill in EUR, under their own
  EUR billing account). Account size is Zipf-like: `TOP_ACCOUNT_DAILY` x rank^-`ACCOUNT_ZIPF`
  x lognormal(sigma `ACCOUNT_SIGMA`), where rank = 1 + i / (`--rows` / 1M) for the i-th
  account: a 10M estate is ten 1M estates' worth of accounts of the same sizes, not the 1M
  estate plus a long tail of tiny accounts. Big accounts use more services (2 + 30 x
  rank^-0.45 x U(0.6, 1.4), capped by the catalogue), drawn by popularity (weighted sampling
  without replacement); a service's share of its account is popularity x
  lognormal(sigma `SERVICE_SIGMA`). Each account x service runs in 1-5 regions (35/30/20/10/
  5 %; global services such as Route 53, CloudFront, Azure DNS in 'global' only), the home
  region taking most (others 0.4^k x lognormal(0.5)). A series is account x service x region.
  The number of accounts is chosen so that the file rows come out near `--rows` (about
  3,400 series at 1M rows over 365 days). Result: a few series of thousands a day, thousands
  below a dollar a day.
- Weekly seasonality: Compute, Databases, Analytics and AI series dip at weekends by a
  fraction drawn per series from U(5 %, 45 %); Networking, Integration and Security by
  U(0, 15 %); Storage and Management and Governance not at all.
- Trend: each series grows or shrinks by U(-35 %, +35 %) over the year (exponential).
- Noise: multiplicative lognormal, sigma drawn per series from U(4 %, 22 %); 0.6 of it shared
  by the regions of an account x service (a workload moves them together), 0.8 its own
  (0.6^2 + 0.8^2 = 1).
- Sporadic series: 15 % of home-region series and 33 % of the others (a quarter overall) bill
  only on some days, each day with a probability drawn per series from U(15 %, 90 %).
- Lifecycle: `ACCOUNT_LATE` of accounts open mid-year and `ACCOUNT_CLOSED` close; 10 % of
  series start on a day drawn from the year, 6 % stop.
- The 1st of the month: support plans (`SUPPORT_SHARE` of accounts; 'AWS Support
  (Business)' / '(Enterprise)', 'Azure Support'; max(100, 8 % of a month's spend)) and
  registrations ('Amazon Registrar' for 20 % of AWS accounts in 30 % of months; 'Azure App
  Service' domains for 15 % of subscriptions, every month, which lands on the same service
  as their App Service usage when they have it) as ChargeCategory 'Usage' with
  ChargeFrequency 'Recurring' and a month-long charge period; tax ('Tax', on the top five
  services of half the AWS accounts, every EUR subscription and a fifth of the USD ones,
  5-21 % of a month of the service).
- Credits and refunds: `PROMO_SHARE` of accounts get promotional credits ('Credit', negative,
  30-100 % of each usage row) for 30-120 days; 5 % of account x services get one one-off
  'Credit' (SLA credit) or 'Adjustment' (refund) of 1-10 days of their cost.
- Duplicated delivery: `DUPLICATE_SHARE` of the daily usage rows are in the files twice
  (a producer that re-delivered a part file's rows).
- Labelled events: `EVENTS_PER_MILLION` events per million `--rows`, each on its own
  account x service (so they never overlap), multiplying ALL its regions' daily usage by
  U(2.5, 6) (spike) or, for drops, by 0 (a fifth of them: no rows at all) or U(0.02, 0.3), for
  1 (60 %), 2 (30 %) or 3 (10 %) days. An event is placed where a detector could know it:
  at least `HISTORY_DAYS` days after its series began (for a spike: after its largest
  every-day region began, and before it stops; for a drop: after every region began, and
  before any stops). Drops only on account x services whose every region bills every day: a
  drop in a series that bills only on some days looks like an ordinary day off and is not
  observable, so it would be a label no detector can earn. Among the account x services that
  can have a drop, `DROP_PICK` get a drop, the others a spike (about 30 % drops overall).
  Events favour material spend: the account x services are drawn with weight
  sqrt(typical daily cost) (weighted sampling without replacement), so most events hit
  series of tens to thousands a day, some hit small ones.

The stats printed at the end are read back from the files (rows, series, sporadic share,
lifecycle, weekend dips by category, concentration, charge categories, duplicated rows) and
from labels.csv (events, labelled days).

    .venv/bin/python bench/independent_costs.py --rows 1000000 --seed 1 --out DIR
        [--days 365] [--end 2026-12-01] [--quiet]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

# --- parameters -------------------------------------------------------------------------
AWS_SHARE = 0.6  # of accounts; the rest are Azure subscriptions
EUR_SHARE = 0.35  # of Azure subscriptions
TOP_ACCOUNT_DAILY = 20000.0  # the largest account's spend per day (before its lognormal)
ACCOUNT_ZIPF = 1.1
ACCOUNT_SIGMA = 0.6
SERVICE_SIGMA = 1.3
ACCOUNT_LATE = 0.08  # accounts opened mid-year
ACCOUNT_CLOSED = 0.04  # accounts closed mid-year
SERIES_START = 0.10  # series that start mid-year
SERIES_STOP = 0.06  # series that stop mid-year
SPORADIC_HOME, SPORADIC_OTHER = 0.15, 0.33  # share of series billing on some days only
SUPPORT_SHARE = 0.6
PROMO_SHARE = 0.05
ONE_OFF_SHARE = 0.05  # account x services with one SLA credit or refund
DUPLICATE_SHARE = 0.003
EVENTS_PER_MILLION = 88
HISTORY_DAYS = 35
DROP_PICK = 0.55
USAGE_SHARE = 0.965  # daily usage rows / all rows (sizing: monthly, credits, duplicates)

# (name, FOCUS ServiceCategory, popularity, global?) per provider
AWS_SERVICES = [
    ("Amazon Elastic Compute Cloud", "Compute", 10, False),
    ("Amazon Simple Storage Service", "Storage", 9, False),
    ("Amazon CloudWatch", "Management and Governance", 7, False),
    ("Amazon Relational Database Service", "Databases", 6, False),
    ("Amazon Virtual Private Cloud", "Networking", 6, False),
    ("AWS Lambda", "Compute", 5, False),
    ("Elastic Load Balancing", "Networking", 5, False),
    ("Amazon DynamoDB", "Databases", 4, False),
    ("Amazon Elastic Kubernetes Service", "Compute", 3, False),
    ("Amazon Elastic Container Service", "Compute", 3, False),
    ("Amazon CloudFront", "Networking", 3, True),
    ("Amazon Route 53", "Networking", 3, True),
    ("AWS Key Management Service", "Security", 3, False),
    ("AWS Backup", "Storage", 2.5, False),
    ("AWS Config", "Management and Governance", 2.5, False),
    ("Amazon ElastiCache", "Databases", 2, False),
    ("Amazon Athena", "Analytics", 2, False),
    ("AWS Glue", "Analytics", 2, False),
    ("Amazon Elastic File System", "Storage", 2, False),
    ("Amazon Simple Queue Service", "Integration", 2, False),
    ("Amazon Simple Notification Service", "Integration", 2, False),
    ("AWS Secrets Manager", "Security", 2, False),
    ("AWS CloudTrail", "Management and Governance", 2, False),
    ("Amazon Redshift", "Databases", 1.5, False),
    ("Amazon Kinesis", "Analytics", 1.5, False),
    ("Amazon OpenSearch Service", "Analytics", 1.5, False),
    ("AWS WAF", "Security", 1.5, False),
    ("Amazon EMR", "Analytics", 1, False),
    ("Amazon SageMaker", "AI and Machine Learning", 1, False),
    ("Amazon Bedrock", "AI and Machine Learning", 0.7, False),
]
AZURE_SERVICES = [
    ("Virtual Machines", "Compute", 10, False),
    ("Storage", "Storage", 9, False),
    ("Azure SQL Database", "Databases", 5, False),
    ("Azure App Service", "Compute", 5, False),
    ("Azure Monitor", "Management and Governance", 5, False),
    ("Bandwidth", "Networking", 4, True),
    ("Virtual Network", "Networking", 4, False),
    ("Log Analytics", "Management and Governance", 4, False),
    ("Azure Kubernetes Service", "Compute", 3, False),
    ("Azure Cosmos DB", "Databases", 3, False),
    ("Azure Functions", "Compute", 3, False),
    ("Key Vault", "Security", 3, False),
    ("Azure Database for PostgreSQL", "Databases", 2, False),
    ("Azure Data Factory v2", "Analytics", 2, False),
    ("Microsoft Defender for Cloud", "Security", 2, False),
    ("Backup", "Storage", 2, False),
    ("Load Balancer", "Networking", 2, False),
    ("Azure DNS", "Networking", 2, True),
    ("Azure Synapse Analytics", "Analytics", 1.5, False),
    ("Azure Databricks", "Analytics", 1.5, False),
    ("Event Hubs", "Analytics", 1.5, False),
    ("Service Bus", "Integration", 1.5, False),
    ("Azure Cache for Redis", "Databases", 1.5, False),
    ("Azure AI Search", "AI and Machine Learning", 1, False),
    ("Azure OpenAI Service", "AI and Machine Learning", 1, False),
]
WEEKLY = ("Compute", "Databases", "Analytics", "AI and Machine Learning")  # dip 5-45 %
MILD = ("Networking", "Integration", "Security")  # dip 0-15 %; the rest: none
AWS_REGIONS = [
    ("us-east-1", "US East (N. Virginia)"), ("us-east-2", "US East (Ohio)"),
    ("us-west-2", "US West (Oregon)"), ("eu-west-1", "Europe (Ireland)"),
    ("eu-central-1", "Europe (Frankfurt)"), ("ap-southeast-1", "Asia Pacific (Singapore)"),
    ("ap-northeast-1", "Asia Pacific (Tokyo)"), ("ap-south-1", "Asia Pacific (Mumbai)"),
    ("ca-central-1", "Canada (Central)"), ("sa-east-1", "South America (Sao Paulo)"),
]  # fmt: skip
AZURE_REGIONS = [
    ("eastus", "East US"), ("eastus2", "East US 2"), ("westus2", "West US 2"),
    ("westeurope", "West Europe"), ("northeurope", "North Europe"), ("uksouth", "UK South"),
    ("centralus", "Central US"), ("southeastasia", "Southeast Asia"),
]  # fmt: skip
TEAMS = ["payments", "search", "data", "web", "mobile", "ml", "platform", "identity", "ads",
         "billing", "logistics", "media", "security", "crm", "analytics", "growth"]  # fmt: skip
ENVS = ["prod", "staging", "dev", "sandbox", "shared", "qa"]


def _str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _list(values: list[str]) -> str:
    return "[" + ", ".join(_str(v) for v in values) + "]"


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(_str(v) for v in values) + ")"


def _catalogue() -> str:
    rows = [
        f"({i}, {str(aws).lower()}, {_str(name)}, {_str(category)}, {weight}, "
        f"{str(is_global).lower()})"
        for aws, services in ((True, AWS_SERVICES), (False, AZURE_SERVICES))
        for i, (name, category, weight, is_global) in enumerate(services, start=0 if aws else 100)
    ]
    return (
        "create table catalogue as select * from (values " + ", ".join(rows) + ") as "
        "t(svc, is_aws, service_name, category, popularity, is_global)"
    )


def _setup(con: duckdb.DuckDBPyConnection, seed: int, days: int, start: date) -> None:
    """Random macros (hashes of the seed), the catalogue and the days."""
    con.execute(
        f"create macro u(a, b, c) as ((hash({seed}, a, b, c) % 1000000007) + 0.5) / 1000000007.0"
    )
    # a standard normal (Box-Muller) from two of those uniforms
    con.execute(
        "create macro nz(a, b, c) as "
        "sqrt(-2 * ln(u(a, b, c || '/1'))) * cos(2 * pi() * u(a, b, c || '/2'))"
    )
    con.execute(_catalogue())
    con.execute(
        f"create table days as select t, date '{start}' + t::int as day from range({days}) r(t)"
    )


def _estate(con: duckdb.DuckDBPyConnection, seed: int, days: int, cap: int, scale: float) -> None:
    """`cap` accounts by size rank (rank = 1 + i / `scale`), their services, regions and
    series."""
    aws_ids, aws_names = _list([r[0] for r in AWS_REGIONS]), _list([r[1] for r in AWS_REGIONS])
    az_ids, az_names = _list([r[0] for r in AZURE_REGIONS]), _list([r[1] for r in AZURE_REGIONS])
    con.execute("drop table if exists accounts")
    con.execute(f"""
create table accounts as
with a as (
    select
        i as acct,
        u(i, 0, 'aws') < {AWS_SHARE} as is_aws,
        u(i, 0, 'eur') < {EUR_SHARE} as eur,
        {TOP_ACCOUNT_DAILY} * pow(1 + i / {scale}, -{ACCOUNT_ZIPF})
            * exp({ACCOUNT_SIGMA} * nz(i, 0, 'size') - {ACCOUNT_SIGMA**2 / 2}) as daily,
        2 + floor(30 * pow(1 + i / {scale}, -0.45) * (0.6 + 0.8 * u(i, 0, 'nsvc')))::int
            as n_svc,
        case when u(i, 0, 'late') < {ACCOUNT_LATE}
            then 20 + floor(280 * u(i, 0, 'late_day'))::int else 0 end as opened,
        case when u(i, 0, 'closed') < {ACCOUNT_CLOSED}
            then 120 + floor({days - 150} * u(i, 0, 'closed_day'))::int else {days} end
            as closed,
        floor(10 * u(i, 0, 'home'))::int as home,
        u(i, 0, 'support') < {SUPPORT_SHARE} as has_support,
        u(i, 0, 'registrar') as registrar,
        u(i, 0, 'tax') as tax_draw,
        0.05 + 0.16 * u(i, 0, 'tax_rate') as tax_rate,
        u(i, 0, 'promo') < {PROMO_SHARE} as has_promo,
        floor({days - 60} * u(i, 0, 'promo_day'))::int as promo_start,
        30 + floor(90 * u(i, 0, 'promo_len'))::int as promo_days,
        0.3 + 0.7 * u(i, 0, 'promo_share') as promo_share,
        md5('{seed}/account/' || i) as h
    from range({cap}) as r(i)
)
select
    * exclude (closed, eur),
    case when closed > opened + 60 then closed else {days} end as closed,
    case when is_aws then 'USD' when eur then 'EUR' else 'USD' end as currency,
    case
        when is_aws then
            '0' || lpad(cast(hash({seed}, acct, 'id') % 100000000000 as varchar), 11, '0')
        else substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-a'
            || substr(h, 18, 3) || '-' || substr(h, 21, 12)
    end as sub_account_id,
    {_list(TEAMS)}[1 + (hash({seed}, acct, 'team') % {len(TEAMS)})::int] || '-'
        || {_list(ENVS)}[1 + (hash({seed}, acct, 'env') % {len(ENVS)})::int] || '-' || acct
        as sub_account_name,
    case
        when is_aws and u(acct, 0, 'payer') < 0.7 then '381492650173'
        when is_aws then '590266174418'
        when eur then '74419388'
        else '61230045'
    end as billing_account_id,
    case
        when is_aws and u(acct, 0, 'payer') < 0.7 then 'acme-main-payer'
        when is_aws then 'acme-acquired-payer'
        when eur then 'Acme Europe GmbH'
        else 'Acme Inc.'
    end as billing_account_name
from a
""")
    con.execute("drop table if exists account_services")
    con.execute(f"""
create table account_services as
with picked as (
    select
        a.acct, c.svc, c.service_name, c.category, c.is_global,
        a.acct * 1000 + c.svc as as_id,
        c.popularity * exp({SERVICE_SIGMA} * nz(a.acct, c.svc, 'svc_weight')
            - {SERVICE_SIGMA**2 / 2}) as weight
    from accounts as a
    join catalogue as c on c.is_aws = a.is_aws
    qualify row_number() over (
        partition by a.acct order by -ln(u(a.acct, c.svc, 'pick')) / c.popularity
    ) <= a.n_svc
)
select
    *,
    weight / sum(weight) over (partition by acct) as share,
    case
        when is_global then 1
        when u(as_id, 0, 'regions') < 0.35 then 1
        when u(as_id, 0, 'regions') < 0.65 then 2
        when u(as_id, 0, 'regions') < 0.85 then 3
        when u(as_id, 0, 'regions') < 0.95 then 4
        else 5
    end as n_regions
from picked
""")
    con.execute("drop table if exists series")
    con.execute(f"""
create table series as
with r as (
    select
        s.*,
        a.daily, a.opened, a.closed, a.home, a.is_aws,
        k as r_idx,
        s.as_id * 10 + k as series_id,
        case when k = 0 then 1.0
            else pow(0.4, k) * exp(0.5 * nz(s.as_id, k, 'region_weight') - 0.125) end
            as region_weight
    from account_services as s
    join accounts as a using (acct)
    join range(5) as k(k) on k.k < s.n_regions
),
placed as (
    select
        *,
        daily * share * region_weight / sum(region_weight) over (partition by as_id) as level,
        case
            when is_global then 'global'
            when is_aws then {aws_ids}[1 + (home + r_idx) % {len(AWS_REGIONS)}]
            else {az_ids}[1 + (home + r_idx) % {len(AZURE_REGIONS)}]
        end as region_id,
        case
            when is_global then 'Global'
            when is_aws then {aws_names}[1 + (home + r_idx) % {len(AWS_REGIONS)}]
            else {az_names}[1 + (home + r_idx) % {len(AZURE_REGIONS)}]
        end as region_name,
        u(series_id, 0, 'sporadic')
            < case when r_idx = 0 then {SPORADIC_HOME} else {SPORADIC_OTHER} end as sporadic,
        0.15 + 0.75 * u(series_id, 0, 'fill') as fill,
        case when u(series_id, 0, 'starts') < {SERIES_START}
            then 1 + floor({days - 35} * u(series_id, 0, 'start_day'))::int else 0 end
            as s_start,
        case when u(series_id, 0, 'stops') < {SERIES_STOP}
            then 30 + floor({days - 31} * u(series_id, 0, 'stop_day'))::int else {days} end
            as s_end,
        -0.35 + 0.7 * u(series_id, 0, 'trend') as trend,
        case
            when category in {_in(WEEKLY)} then 0.05 + 0.40 * u(series_id, 0, 'dip')
            when category in {_in(MILD)} then 0.15 * u(series_id, 0, 'dip')
            else 0
        end as dip,
        0.04 + 0.18 * u(series_id, 0, 'sigma') as sigma,
        1 + 0.3 * u(series_id, 0, 'list') as list_markup
    from r
)
select
    * exclude (s_start, s_end),
    greatest(opened, s_start) as active_start,
    least(closed, s_end) as active_end
from placed
where least(closed, s_end) > greatest(opened, s_start) + 7
""")


def _size(con: duckdb.DuckDBPyConnection, seed: int, days: int, rows: int) -> int:
    """Keep the first N accounts (by size rank) whose expected file rows reach `rows`."""
    scale = max(1.0, rows / 1_000_000)
    cap = max(60, rows // 1500)
    while True:
        _estate(con, seed, days, cap, scale)
        found = con.execute(f"""
            with per_account as (
                select acct, sum((active_end - active_start)
                    * case when sporadic then fill else 1 end) as usage_rows
                from series group by acct
            )
            select min(acct) from (
                select acct, sum(usage_rows) over (order by acct) as running from per_account
            ) where running >= {rows * USAGE_SHARE}
        """).fetchone()[0]
        if found is not None:
            break
        cap *= 2
    accounts = int(found) + 1
    for table in ("accounts", "account_services", "series"):
        con.execute(f"delete from {table} where acct >= {accounts}")
    return accounts


def _events(con: duckdb.DuckDBPyConnection, n_events: int) -> None:
    con.execute(f"""
create table events as
with windows as (
    select
        as_id, acct,
        bool_and(not sporadic) as all_daily,
        max(active_start) as all_start,
        min(active_end) as all_end,
        arg_max(active_start, level) filter (where not sporadic) as main_start,
        arg_max(active_end, level) filter (where not sporadic) as main_end,
        sum(level) as level_as
    from series
    group by as_id, acct
),
candidates as (
    select
        *,
        case
            when all_daily and all_end - all_start >= {HISTORY_DAYS} + 4
                and u(as_id, 0, 'kind') < {DROP_PICK} then 'drop'
            when main_start is not null and main_end - main_start >= {HISTORY_DAYS} + 4
                then 'spike'
        end as kind,
        case when u(as_id, 0, 'duration') < 0.6 then 1
            when u(as_id, 0, 'duration') < 0.9 then 2 else 3 end as n_days
    from windows
),
picked as (
    select *
    from candidates
    where kind is not null and level_as > 0
    order by -ln(u(as_id, 0, 'event')) / sqrt(level_as)
    limit {n_events}
),
placed as (
    select
        *,
        case kind when 'drop' then all_start else main_start end + {HISTORY_DAYS} as lo,
        case kind when 'drop' then all_end else main_end end - 1 as hi
    from picked
)
select
    row_number() over (order by as_id)::int as event_id,
    as_id, acct, kind, n_days, level_as,
    lo + floor(u(as_id, 0, 'when') * (hi - lo - n_days + 2))::int as first_t,
    case
        when kind = 'spike' then 2.5 + 3.5 * u(as_id, 0, 'factor')
        when u(as_id, 0, 'outage') < 0.2 then 0.0
        else 0.02 + 0.28 * u(as_id, 0, 'factor')
    end as factor
from placed
""")
    con.execute("""
create table event_days as
select e.*, e.first_t + k as t
from events as e join range(3) as k(k) on k.k < e.n_days
""")


def _rows_sql(days: int, start: date) -> str:
    """Every file row: daily usage, duplicates, 1st-of-month charges, tax, credits."""
    return f"""
with usage as (
    select
        s.acct, s.series_id, s.service_name, s.category, s.region_id, s.region_name,
        s.list_markup, d.t, d.day,
        s.level * exp(ln(1 + s.trend) * d.t / {days})
            * case when isodow(d.day) >= 6 then 1 - s.dip else 1 end
            * exp(s.sigma * (0.6 * nz(s.as_id, d.t, 'common') + 0.8 * nz(s.series_id, d.t, 'own'))
                - s.sigma * s.sigma / 2)
            * coalesce(e.factor, 1) as cost
    from series as s
    join days as d on d.t >= s.active_start and d.t < s.active_end
    left join event_days as e on e.as_id = s.as_id and e.t = d.t
    where (not s.sporadic or u(s.series_id, d.t, 'bills') < s.fill)
        and coalesce(e.factor, 1) > 0
),
months as (
    select t, day from days where dayofmonth(day) = 1
),
monthly as (
    -- support plans
    select
        a.acct,
        case when not a.is_aws then 'Azure Support'
            when a.daily > 1500 then 'AWS Support (Enterprise)'
            else 'AWS Support (Business)' end as service_name,
        'Other' as category, 'global' as region_id, 'Global' as region_name,
        m.t, m.day, 'Usage' as charge_category, 'Recurring' as charge_frequency,
        greatest(100, 0.08 * 30.4 * a.daily) as cost
    from accounts as a join months as m on m.t >= a.opened and m.t < a.closed
    where a.has_support
    union all
    -- domain registrations and renewals
    select
        a.acct,
        case when a.is_aws then 'Amazon Registrar' else 'Azure App Service' end,
        case when a.is_aws then 'Networking' else 'Compute' end,
        'global', 'Global', m.t, m.day, 'Usage', 'Recurring',
        5 + 85 * u(a.acct, m.t, 'registration')
    from accounts as a join months as m on m.t >= a.opened and m.t < a.closed
    where (a.is_aws and a.registrar < 0.2 and u(a.acct, m.t, 'renews') < 0.3)
        or (not a.is_aws and a.registrar < 0.15)
    union all
    -- tax on the top five services of an account
    select
        s.acct, s.service_name, s.category, 'global', 'Global', m.t, m.day, 'Tax',
        'Recurring', a.tax_rate * 30.4 * s.daily * s.share
    from (
        select *, row_number() over (partition by acct order by share desc) as rank
        from account_services join (select acct, daily from accounts) using (acct)
    ) as s
    join accounts as a using (acct)
    join months as m on m.t >= a.opened and m.t < a.closed
    where s.rank <= 5
        and ((a.is_aws and a.tax_draw < 0.5) or a.currency = 'EUR'
            or (not a.is_aws and a.tax_draw < 0.2))
),
one_off as (
    -- one SLA credit or refund per drawn account x service
    select
        w.acct, w.service_name, w.category, 'global' as region_id, 'Global' as region_name,
        d.t, d.day,
        case when u(w.as_id, 0, 'one_off_kind') < 0.5 then 'Credit' else 'Adjustment' end
            as charge_category,
        'One-Time' as charge_frequency,
        -(1 + 9 * u(w.as_id, 0, 'one_off_size')) * w.level_as as cost
    from (
        select as_id, acct, any_value(service_name) as service_name,
            any_value(category) as category, sum(level) as level_as,
            min(active_start) as first_t, max(active_end) as end_t
        from series group by as_id, acct
    ) as w
    join days as d
        on d.t = w.first_t + floor((w.end_t - w.first_t) * u(w.as_id, 0, 'one_off_day'))::int
    where u(w.as_id, 0, 'one_off') < {ONE_OFF_SHARE}
),
all_rows as (
    select acct, service_name, category, region_id, region_name, t, day,
        'Usage' as charge_category, 'Usage-Based' as charge_frequency, cost,
        cost * list_markup as list_cost
    from usage
    union all
    -- the duplicated delivery
    select acct, service_name, category, region_id, region_name, t, day,
        'Usage', 'Usage-Based', cost, cost * list_markup
    from usage where u(series_id, t, 'duplicate') < {DUPLICATE_SHARE}
    union all
    -- promotional credits against each usage row in the promotion's days
    select g.acct, g.service_name, g.category, g.region_id, g.region_name, g.t, g.day,
        'Credit', 'Usage-Based', -a.promo_share * g.cost, -a.promo_share * g.cost
    from usage as g join accounts as a using (acct)
    where a.has_promo and g.t >= a.promo_start and g.t < a.promo_start + a.promo_days
    union all
    select *, cost from monthly
    union all
    select *, cost from one_off
)
select
    case when a.is_aws then 'AWS' else 'Microsoft' end as ProviderName,
    case when a.is_aws then 'Amazon Web Services, Inc.' else 'Microsoft' end as PublisherName,
    case when a.is_aws then 'Amazon Web Services, Inc.' else 'Microsoft' end
        as InvoiceIssuerName,
    a.billing_account_id as BillingAccountId,
    a.billing_account_name as BillingAccountName,
    a.sub_account_id as SubAccountId,
    a.sub_account_name as SubAccountName,
    a.currency as BillingCurrency,
    a.currency as PricingCurrency,
    'INV-' || a.billing_account_id || '-' || strftime(x.day, '%Y%m') as InvoiceId,
    cast(date_trunc('month', x.day) as timestamp) as BillingPeriodStart,
    cast(date_trunc('month', x.day) + interval 1 month as timestamp) as BillingPeriodEnd,
    cast(x.day as timestamp) as ChargePeriodStart,
    case when x.charge_frequency = 'Usage-Based' then cast(x.day + 1 as timestamp)
        else cast(date_trunc('month', x.day) + interval 1 month as timestamp) end
        as ChargePeriodEnd,
    x.charge_category as ChargeCategory,
    null::varchar as ChargeClass,
    x.charge_frequency as ChargeFrequency,
    x.service_name || case x.charge_category when 'Usage' then '' else ' ' || lower(
        x.charge_category) end as ChargeDescription,
    x.service_name as ServiceName,
    x.category as ServiceCategory,
    x.region_id as RegionId,
    x.region_name as RegionName,
    case when x.charge_category = 'Usage' then 'Standard' end as PricingCategory,
    x.cost as BilledCost,
    x.cost as EffectiveCost,
    x.list_cost as ListCost,
    x.cost as ContractedCost,
    case when x.charge_frequency = 'Usage-Based' then round(x.list_cost / 0.05, 4) end
        as ConsumedQuantity,
    case when x.charge_frequency <> 'Usage-Based' then null
        when x.category = 'Storage' then 'GB-Mo' when x.category = 'Networking' then 'GB'
        when x.category in ('Compute', 'Databases') then 'Hours' else 'Requests' end
        as ConsumedUnit,
    case when a.is_aws then 'aws' else 'azure' end as provider_folder,
    strftime(x.day, '%Y-%m') as billing_month
from all_rows as x
join accounts as a using (acct)
"""


def generate(out: Path, rows: int, seed: int, days: int = 365, end: date | None = None) -> dict:
    """Write `out`/exports and `out`/labels.csv; return the generator's own figures."""
    end = end or date(2026, 12, 1)
    start = end - timedelta(days=days)
    exports = out / "exports"
    shutil.rmtree(exports, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    try:
        con.execute("set preserve_insertion_order = false")
        _setup(con, seed, days, start)
        accounts = _size(con, seed, days, rows)
        n_events = max(1, round(EVENTS_PER_MILLION * rows / 1_000_000))
        _events(con, n_events)
        con.execute(
            f"copy ({_rows_sql(days, start)}) to '{exports}' (format parquet, "
            "partition_by (provider_folder, billing_month))"
        )
        con.execute(f"""
            copy (
                select
                    case when a.is_aws then 'AWS' else 'Microsoft' end as provider_name,
                    a.sub_account_id, s.service_name, d.day as charge_date, e.event_id,
                    e.kind, round(e.factor, 3) as factor, e.n_days as event_days,
                    round(e.level_as, 2) as typical_daily_cost,
                    a.currency as billing_currency
                from event_days as e
                join accounts as a using (acct)
                join account_services as s using (as_id)
                join days as d using (t)
                order by charge_date, event_id
            ) to '{out / "labels.csv"}' (header true)
        """)
        [(series, services)] = con.execute(
            "select count(*), count(distinct as_id) from series"
        ).fetchall()
    finally:
        con.close()
    return {"accounts": accounts, "series": series, "account_services": services}


def stats(out: Path, days: int, end: date) -> list[str]:
    """What the files and labels hold, read back from them."""
    start = end - timedelta(days=days)
    files = sorted((out / "exports").rglob("*.parquet"))
    src = f"read_parquet('{out}/exports/**/*.parquet', hive_partitioning = false)"
    con = duckdb.connect()
    lines: list[str] = []
    try:
        con.execute("set preserve_insertion_order = false")
        con.execute(f"create view f as select * from {src}")
        con.execute("""
            create table daily as
            select ProviderName as p, SubAccountId as a, ServiceName as s, RegionId as r,
                any_value(ServiceCategory) as category,
                cast(ChargePeriodStart as date) as day, sum(BilledCost) as cost
            from f where ChargeCategory = 'Usage' and ChargeFrequency = 'Usage-Based'
            group by all
        """)
        [(n, accounts, aws, eur)] = con.execute("""
            select count(*), count(distinct SubAccountId),
                count(distinct SubAccountId) filter (where ProviderName = 'AWS'),
                count(distinct SubAccountId) filter (where BillingCurrency = 'EUR')
            from f
        """).fetchall()
        size = sum(p.stat().st_size for p in files) / 2**20
        lines.append(
            f"rows {n:,} in {len(files)} files ({size:,.0f} MB); {accounts} accounts "
            f"({aws} AWS, {accounts - aws} Azure of which {eur} EUR)"
        )
        [(series, services, sporadic, started, stopped)] = con.execute(f"""
            with s as (
                select p, a, s, r, count(*) as n, min(day) as first, max(day) as last
                from daily group by all
            )
            select count(*), count(distinct (p, a, s)),
                avg(case when n < 0.95 * (last - first + 1) then 1 else 0 end),
                avg(case when first > date '{start}' + 7 then 1 else 0 end),
                avg(case when last < date '{end}' - 8 then 1 else 0 end)
            from s
        """).fetchall()
        lines.append(
            f"series (account x service x region, daily usage) {series:,}; account x "
            f"services {services:,}; billing on < 95 % of their days {sporadic:.1%}; "
            f"starting after day 7 {started:.1%}; stopping before the last week {stopped:.1%}"
        )
        [(top1, top10, tiny, biggest)] = con.execute("""
            with s as (
                select p, a, s, r, sum(cost) as cost, avg(cost) as per_day
                from daily group by all
            ),
            ranked as (select *, percent_rank() over (order by cost desc) as pr from s)
            select
                sum(cost) filter (where pr < 0.01) / sum(cost),
                sum(cost) filter (where pr < 0.10) / sum(cost),
                avg(case when per_day < 1 then 1 else 0 end),
                max(per_day)
            from ranked
        """).fetchall()
        lines.append(
            f"concentration: top 1 % of series {top1:.0%} of usage cost, top 10 % "
            f"{top10:.0%}; {tiny:.0%} of series below 1 a day; largest {biggest:,.0f} a day"
        )
        for name, categories in (("weekly categories", WEEKLY), ("Storage", ("Storage",))):
            [(quantiles, k)] = con.execute(f"""
                with s as (
                    select p, a, s, r,
                        avg(cost) filter (where isodow(day) >= 6)
                            / avg(cost) filter (where isodow(day) < 6) as ratio,
                        count(*) as n, max(day) - min(day) + 1 as span
                    from daily where category in {_in(categories)}
                    group by all
                )
                select quantile_cont(1 - ratio, [0.1, 0.5, 0.9]), count(*)
                from s where n >= 0.95 * span and n >= 60
            """).fetchall()
            dips = " / ".join(f"{q:.0%}" for q in quantiles) if k else "n/a"
            lines.append(
                f"weekend dip (1 - weekend mean / weekday mean), {name}, {k:,} every-day "
                f"series: 10/50/90 % quantiles {dips}"
            )
        by_charge = con.execute("""
            select ChargeCategory, ChargeFrequency, count(*), sum(BilledCost)
            from f group by all order by 1, 2
        """).fetchall()
        lines.append(
            "charges: "
            + "; ".join(f"{c}/{fr} {k:,} rows {cost:,.0f}" for c, fr, k, cost in by_charge)
        )
        [(duplicated,)] = con.execute("select count(*) - count(distinct hash(f)) from f").fetchall()
        lines.append(f"duplicated rows (a row present twice): {duplicated:,}")
        [(events, spikes, drops, labelled, outages, q)] = con.execute(f"""
            select count(distinct event_id),
                count(distinct event_id) filter (where kind = 'spike'),
                count(distinct event_id) filter (where kind = 'drop'),
                count(*),
                count(distinct event_id) filter (where factor = 0),
                quantile_cont(typical_daily_cost, [0.1, 0.5, 0.9])
            from read_csv('{out / "labels.csv"}')
        """).fetchall()
        lines.append(
            f"events {events} ({spikes} spikes, {drops} drops of which {outages} to zero), "
            f"{labelled} labelled account x service days; typical daily cost of the "
            f"events' series 10/50/90 %: {q[0]:,.1f} / {q[1]:,.1f} / {q[2]:,.1f}"
        )
    finally:
        con.close()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--end",
        type=date.fromisoformat,
        default=date(2026, 12, 1),
        help="the day after the last charge day (default 2026-12-01)",
    )
    parser.add_argument("--out", type=Path, required=True, help="exports/ and labels.csv go here")
    parser.add_argument("--quiet", action="store_true", help="no stats (faster)")
    args = parser.parse_args()
    began = time.perf_counter()
    figures = generate(args.out, args.rows, args.seed, args.days, args.end)
    seconds = time.perf_counter() - began
    print(
        f"independent_costs: --rows {args.rows:,} --seed {args.seed}: {figures['accounts']} "
        f"accounts, {figures['series']:,} series, {figures['account_services']:,} account x "
        f"services, written in {seconds:.1f} s to {args.out}",
        flush=True,
    )
    if not args.quiet:
        for line in stats(args.out, args.days, args.end):
            print("  " + line)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
