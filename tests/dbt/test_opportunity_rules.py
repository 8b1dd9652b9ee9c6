"""The billing-data rules of the savings opportunities (issue #19) end to end: a FOCUS export
of our own with planted waste goes through one real `finops run` (the FOCUS import keeps its
last 35 days per resource, dbt builds the rules and the ledger), and every expected
opportunity and saving is worked out by hand below.

February 2026, one AWS account, rows per day:
* vol-gp2: an EBS gp2 volume storing for 10 a day on 02-01 .. 02-10, modified to gp3 on 02-11
  and 8 a day from then on;
* lb-idle: a load balancer charging 5 a day for its hours while its LCU usage is 0, all month;
* i-busy: an instance charging 12 a day for 24 hours, all month (no waste);
* eip-idle: an Elastic IP billed as idle (PublicIPv4:IdleAddress), 0.12 a day, all month;
* i-old: an m4.large instance at 2.40 a day on 02-01 .. 02-14, changed to m6i.large (same id)
  at 2.304 a day from 02-15;
* db-old: an RDS instance at 3 a day whose engine is in extended support (1.50 a day more),
  all month;
* snap-old, snap-year, snap-young: EBS snapshots at 0.40, 0.25 and 0.10 a day all month,
  first charged on 2025-01-20, 2025-02-01 and 2025-03-01 (the files of those months, read by
  the same import, bill them from then to the month's end);
* a Tax row without a resource.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import luigi
import pytest
from finops_testing import finops_env, run_pipeline
from focus_testing import fetch, write_rows

from loaders import focus_files

HEADER = [
    "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory",
    "ChargeClass", "ChargeFrequency", "ProviderName", "PublisherName", "InvoiceIssuerName",
    "SubAccountId", "SubAccountName", "ServiceName", "ServiceCategory", "RegionId",
    "PricingCategory", "BilledCost", "EffectiveCost", "ListCost", "ContractedCost",
    "ResourceId", "ResourceType", "ConsumedQuantity", "ConsumedUnit", "x_UsageType",
]  # fmt: skip
RUN_DATE = date(2026, 3, 1)
ACCOUNT = "333333333333"
VOLUME = "arn:aws:ec2:us-west-2:333333333333:volume/vol-gp2"
BALANCER = "arn:aws:elasticloadbalancing:us-west-2:333333333333:loadbalancer/app/lb-idle/1"
INSTANCE = "arn:aws:ec2:us-west-2:333333333333:instance/i-busy"
ADDRESS = "arn:aws:ec2:us-west-2:333333333333:elastic-ip/eipalloc-idle"
OLD_INSTANCE = "arn:aws:ec2:us-west-2:333333333333:instance/i-old"
DATABASE = "arn:aws:rds:us-west-2:333333333333:db:db-old"
SNAPSHOTS = {  # snapshot -> (first charge day, cost a day)
    "arn:aws:ec2:us-west-2:333333333333:snapshot/snap-old": (date(2025, 1, 20), "0.40"),
    "arn:aws:ec2:us-west-2:333333333333:snapshot/snap-year": (date(2025, 2, 1), "0.25"),
    "arn:aws:ec2:us-west-2:333333333333:snapshot/snap-young": (date(2025, 3, 1), "0.10"),
}
SNAP_OLD, SNAP_YEAR, SNAP_YOUNG = SNAPSHOTS


def _row(day: date, service: str, category: str, charge: str, cost: str, resource: str,
         kind: str, quantity: str, unit: str, usage_type: str) -> list[str]:  # fmt: skip
    start = f"{day}T00:00:00Z"
    end = f"{day + timedelta(days=1)}T00:00:00Z"
    period = day.replace(day=1)
    period_end = (period + timedelta(days=32)).replace(day=1)
    return [
        "999999999999", "Payer", "USD", f"{period}T00:00:00Z", f"{period_end}T00:00:00Z", start,
        end, charge, "", "Usage-Based", "AWS", "AWS", "AWS", ACCOUNT, "Apps", service,
        category, "us-west-2", "Standard", cost, cost, cost, cost, resource, kind, quantity,
        unit, usage_type,
    ]  # fmt: skip


def export_rows() -> list[list[str]]:
    rows = []
    for offset in range(28):
        day = date(2026, 2, 1) + timedelta(days=offset)
        gp2 = day <= date(2026, 2, 10)
        rows += [
            _row(day, "Amazon Elastic Block Store", "Storage", "Usage", "10" if gp2 else "8",
                 VOLUME, "Volume", "3.3333", "GB-Mo",
                 "USW2-EBS:VolumeUsage.gp2" if gp2 else "USW2-EBS:VolumeUsage.gp3"),
            _row(day, "Elastic Load Balancing", "Networking", "Usage", "5", BALANCER,
                 "LoadBalancer", "0", "LCU-Hrs", "USW2-LCUUsage"),
            _row(day, "Amazon Elastic Compute Cloud", "Compute", "Usage", "12", INSTANCE,
                 "Instance", "24", "Hrs", "USW2-BoxUsage:m7g.large"),
            _row(day, "Amazon Virtual Private Cloud", "Networking", "Usage", "0.12", ADDRESS,
                 "IP Address", "24", "Hrs", "USW2-PublicIPv4:IdleAddress"),
            _row(day, "Amazon Elastic Compute Cloud", "Compute", "Usage",
                 "2.40" if day < date(2026, 2, 15) else "2.304", OLD_INSTANCE, "Instance",
                 "24", "Hrs",
                 "USW2-BoxUsage:m4.large" if day < date(2026, 2, 15) else "USW2-BoxUsage:m6i.large"),
            _row(day, "Amazon Relational Database Service", "Database", "Usage", "3", DATABASE,
                 "DBInstance", "24", "Hrs", "USW2-InstanceUsage:db.m6i.large"),
            _row(day, "Amazon Relational Database Service", "Database", "Usage", "1.50", DATABASE,
                 "DBInstance", "48", "vCPU-Hrs", "USW2-ExtendedSupport:Yr1-Yr2:MySQL5.7"),
            _row(day, "Amazon Elastic Compute Cloud", "Compute", "Tax", "1", "", "", "", "", ""),
        ]  # fmt: skip
        rows += [_snapshot_row(day, snapshot) for snapshot in SNAPSHOTS]
    return rows


def _snapshot_row(day: date, snapshot: str) -> list[str]:
    return _row(day, "Amazon Elastic Compute Cloud", "Storage", "Usage", SNAPSHOTS[snapshot][1],
                snapshot, "Snapshot", "0.0161", "GB-Mo", "USW2-EBS:SnapshotUsage")  # fmt: skip


def first_month_rows(snapshot: str) -> list[list[str]]:
    """The snapshot's rows from its first charge day to the end of that month."""
    first = SNAPSHOTS[snapshot][0]
    days = [first + timedelta(days=n) for n in range(31)]
    return [_snapshot_row(day, snapshot) for day in days if day.month == first.month]


def write_export(folder: Path, february: list[list[str]]) -> Path:
    """The three snapshots' first months and February 2026 as four monthly files."""
    for snapshot in SNAPSHOTS:
        month = SNAPSHOTS[snapshot][0].strftime("%Y-%m")
        write_rows(folder / f"focus-{month}.csv", HEADER, first_month_rows(snapshot))
    return write_rows(folder / "focus-2026-02.csv", HEADER, february)


@pytest.fixture(scope="module")
def rules_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("rules_home")
    export = write_export(home / "focus-export", export_rows())
    with pytest.MonkeyPatch.context() as mp:
        for name in list(os.environ):
            if name.startswith("FINOPS_"):
                mp.delenv(name)
        for name, value in finops_env(
            home, FINOPS_SOURCES="focus", FINOPS_FOCUS_PATH=str(export.parent)
        ).items():
            mp.setenv(name, value)
        result = run_pipeline(RUN_DATE)
        assert result.status == luigi.execution_summary.LuigiStatusCode.SUCCESS, result.summary_text
    yield home


def test_the_planted_waste_is_in_the_ledger_with_its_savings(rules_home: Path) -> None:
    db = rules_home / "data" / "finops.duckdb"
    rows = fetch(
        db,
        "select source, resource_id, category, first_seen, last_seen, status, "
        "estimated_monthly_savings, realized_monthly_savings, duplicate_of "
        "from marts.fct_optimization_opportunities order by source, resource_id",
    )
    assert rows == [
        # 1.50 a day of extended support: 45 a month, open
        ("rule:extended_support", DATABASE, "other", date(2026, 2, 1), date(2026, 2, 28),
         "open", Decimal("45"), None, None),
        # gp2 10 a day on 02-01 .. 02-10: 20 % of it = 2 a day, 60 a month; gone on 02-11
        # (18 days of gp3 to the last charge date 02-28), and the volume's cost fell from
        # 10 to 8 a day: realized (10 - 8) x 30 = 60
        ("rule:gp2_volume", VOLUME, "storage_tier", date(2026, 2, 1), date(2026, 2, 10),
         "gone", Decimal("60"), Decimal("60"), None),
        # billed idle every day: the whole 0.12 a day, 3.60 a month, open
        ("rule:idle_public_ip", ADDRESS, "idle", date(2026, 2, 1), date(2026, 2, 28),
         "open", Decimal("3.6"), None, None),
        # 5 a day with no LCU consumed from 02-01: the rule holds from the 7th idle day
        # (02-07) to the last (02-28), open; 5 a day wasted = 150 a month
        ("rule:idle_resource", BALANCER, "idle", date(2026, 2, 7), date(2026, 2, 28),
         "open", Decimal("150"), None, None),
        # snap-old is 12 months old (first charged 2025-01-20, in January 2025's file) on
        # every day of February 2026: its whole 0.40 a day, 12 a month, open; snap-year
        # turns 12 months on 2026-02-01, its first day here: 0.25 a day, 7.50 a month;
        # snap-young (first charged 2025-03-01) is not old yet
        ("rule:old_snapshot", SNAP_OLD, "idle", date(2026, 2, 1), date(2026, 2, 28),
         "open", Decimal("12"), None, None),
        ("rule:old_snapshot", SNAP_YEAR, "idle", date(2026, 2, 1), date(2026, 2, 28),
         "open", Decimal("7.5"), None, None),
        # m4 on 02-01 .. 02-14: 4 % of 2.40 = 0.096 a day, 2.88 a month; gone on 02-15 (14
        # days of m6i to 02-28), and the instance's cost fell from 2.40 to 2.304 a day:
        # realized 0.096 x 30 = 2.88
        ("rule:previous_generation", OLD_INSTANCE, "previous_generation", date(2026, 2, 1),
         date(2026, 2, 14), "gone", Decimal("2.88"), Decimal("2.88"), None),
    ]  # fmt: skip
    # ... the busy instance and the Tax row are no opportunity, and the resource grain kept
    # the export's last 35 days (all of February 2026, none of 2025) of the nine resources,
    # without the Tax row
    assert fetch(
        db,
        "select resource_id, count(*), sum(billed_cost) from raw.focus_resource_costs "
        "group by all order by all",
    ) == [
        (ADDRESS, 28, Decimal("3.36")),
        (INSTANCE, 28, Decimal("336")),
        (OLD_INSTANCE, 28, Decimal("65.856")),
        (SNAP_OLD, 28, Decimal("11.2")),
        (SNAP_YEAR, 28, Decimal("7")),
        (SNAP_YOUNG, 28, Decimal("2.8")),
        (VOLUME, 28, Decimal("244")),
        (BALANCER, 28, Decimal("140")),
        (DATABASE, 56, Decimal("126")),
    ]


def test_potential_savings_count_the_open_opportunity_only(rules_home: Path) -> None:
    # GIVEN AWS's effective cost of the last 30 days: 244 + 336 + 140 + 28 tax = 748, and
    # the address 3.36, the old instance 65.856, the database 126 and the snapshots
    # 11.2 + 7 + 2.8: 964.216
    [(share, potential)] = fetch(
        rules_home / "data" / "finops.duckdb",
        "select potential_savings_share, open_potential_savings from marts.fct_cost_kpis "
        "where kpi_id = 'aws_effective'",
    )
    # THEN the open ones - the idle load balancer's 150 a month, the idle address's 3.60,
    # the extended support's 45 and the old snapshots' 12 + 7.50 (the gp2 volume and the
    # old instance are gone) - are 218.10 / 964.216
    assert potential == Decimal("218.1")
    assert share == round(218.1 / 964.216, 6)


def _spans(db: Path) -> list[tuple]:
    return fetch(
        db,
        "select billing_period_start, resource_id, first_charge_date, last_charge_date, "
        "x_source_rows from raw.focus_snapshot_spans order by all",
    )


def test_the_snapshots_first_charges_are_kept_from_every_period(rules_home: Path) -> None:
    # GIVEN the import of the four monthly files (the resource grain keeps February 2026)
    # THEN every snapshot's span of every billing period is kept, its first charge included
    assert _spans(rules_home / "data" / "finops.duckdb") == [
        (date(2025, 1, 1), SNAP_OLD, date(2025, 1, 20), date(2025, 1, 31), 12),
        (date(2025, 2, 1), SNAP_YEAR, date(2025, 2, 1), date(2025, 2, 28), 28),
        (date(2025, 3, 1), SNAP_YOUNG, date(2025, 3, 1), date(2025, 3, 31), 31),
        (date(2026, 2, 1), SNAP_OLD, date(2026, 2, 1), date(2026, 2, 28), 28),
        (date(2026, 2, 1), SNAP_YEAR, date(2026, 2, 1), date(2026, 2, 28), 28),
        (date(2026, 2, 1), SNAP_YOUNG, date(2026, 2, 1), date(2026, 2, 28), 28),
    ]


def test_daily_imports_keep_the_spans_a_first_import_would(tmp_path: Path) -> None:
    # GIVEN the export as it was on 2026-02-15 (the current month's file up to 02-14; the
    # snapshots' 2025 files as they are), imported
    february = export_rows()
    daily, first = tmp_path / "daily.duckdb", tmp_path / "first.duckdb"
    folder = tmp_path / "export"
    write_export(folder, [row for row in february if row[5] < "2026-02-15"])
    focus_files.load(daily, str(folder), resource_days=35)
    # WHEN the month's file grows to 02-28 and the daily import reads it alone
    write_export(folder, february)
    again = focus_files.load(daily, str(folder), resource_days=35)
    assert [load.scope for load in again.loads] == ["AWS/999999999999@2026-02-01"]
    # THEN the spans and the resource grain equal those of one import of the final files
    focus_files.load(first, str(folder), resource_days=35)
    assert _spans(daily) == _spans(first) and len(_spans(first)) == 6
    grain = (
        "select * exclude (_window_start, _window_end, _load_id, _loaded_at) "
        "from raw.focus_resource_costs order by all"
    )
    assert fetch(daily, grain) == fetch(first, grain)
    # ... and with the resource grain off, no span is kept
    focus_files.load(daily, str(folder), resource_days=0)
    assert _spans(daily) == []
