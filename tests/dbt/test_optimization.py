"""The savings opportunities ledger (issue #19, marts.fct_optimization_opportunities) and its
KPIs on the rate-optimization export of tests/commitments_testing.py, through the shared real
`finops run` (conftest `commitments_home`): every figure worked out by hand from its rows.
The ledger's rules on fixed rows (status, estimate, realized savings, duplicates) are dbt unit
tests (models/intermediate/optimization, models/marts/optimization); the report and the
webhook: tests/pipelines/test_opportunity_alerts.py.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from commitments_testing import PLAN
from focus_testing import fetch


@pytest.fixture(scope="session")
def commitments_built(commitments_home: Path) -> Path:
    return commitments_home / "data" / "finops.duckdb"


def test_the_unused_savings_plan_is_one_open_opportunity_by_hand(commitments_built: Path):
    # GIVEN the export: an AWS savings plan that left USD 30 unused on 2026-01-10 (its last
    # and only day), an Azure reservation fully used
    rows = fetch(
        commitments_built,
        "select source, provider_name, sub_account_id, resource_id, category, "
        "billing_currency, first_seen, last_seen, status, estimated_monthly_savings, "
        "realized_monthly_savings, duplicate_of from marts.fct_optimization_opportunities",
    )
    # THEN the ledger holds one opportunity, the plan's: open (the rule held on the last day
    # of AWS data), 30 a day over the one day of the plan's series = 900 a month; the fully
    # used reservation is none
    assert rows == [
        ("rule:unused_commitment", "AWS", "222222222222", PLAN, "unused_commitment", "USD",
         date(2026, 1, 10), date(2026, 1, 10), "open", Decimal("900"), None, None),
    ]  # fmt: skip
    # ... under a stable id: md5 of the source and the rule's key of the commitment
    [(same,)] = fetch(
        commitments_built,
        "select opportunity_id = md5(concat_ws('|', 'rule:unused_commitment', "
        "md5(concat_ws('|', 'rule:unused_commitment', 'AWS', ?, 'USD')))) "
        "from marts.fct_optimization_opportunities",
        [PLAN],
    )
    assert same


def test_potential_savings_share_of_the_last_30_days_effective_cost(commitments_built: Path):
    # GIVEN AWS's effective cost of the last 30 days: 60 + 10 + 30 + 40 + 20 = 160 (the
    # purchase's effective cost is 0), and Azure's, with no opportunity
    rows = fetch(
        commitments_built,
        "select kpi_id, open_potential_savings, potential_savings_share "
        "from marts.fct_cost_kpis where kpi_id in ('aws_billed', 'aws_effective', "
        "'azure_effective', 'all_effective') order by kpi_id",
    )
    [(azure_30d,)] = fetch(
        commitments_built,
        "select sum(effective_cost_reporting) from marts.fct_daily_costs "
        "where provider_name = 'Azure'",
    )
    # THEN the share is 900 / 160 on both AWS rows, 0 for Azure, 900 / (160 + Azure) for All
    assert rows == [
        ("all_effective", Decimal("900"), round(900 / (160 + float(azure_30d)), 6)),
        ("aws_billed", Decimal("900"), 5.625),
        ("aws_effective", Decimal("900"), 5.625),
        ("azure_effective", Decimal("0"), 0.0),
    ]
