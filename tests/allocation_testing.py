"""A FOCUS export with tags and allocation rules of our own (issue #18), shared by the
allocation tests: the commitments export (tests/commitments_testing.py, AWS in USD, Azure in
EUR) whose rows carry `team` and `env` tags in several spellings, an account map, and a
shared-cost rule of every kind - proportional, by percentages, even, and proportional on a
day whose base is zero. Every figure the tests expect is worked out by hand from these rows
(tests/dbt/test_allocation.py).
"""

from __future__ import annotations

from pathlib import Path

from commitments_testing import HEADER, ROWS
from focus_testing import write_rows

KEYS = "team,env"
# One Tags value per row of commitments_testing.ROWS, in their order (effective / billed):
TAGS = [
    "",  # 0 AWS savings plan purchase (billed 100): untagged - the account map says platform
    '{"team": "web"}',  # 1 AWS EC2 covered by the plan (effective 60)
    '{"Team": "data"}',  # 2 AWS Lambda covered (effective 10): another spelling of the key
    "NULL",  # 3 AWS plan unused (effective 30): untagged - the account map says platform
    '{"TEAM": "web", "env": ""}',  # 4 AWS EC2 on demand (40): env given without a value
    '{"team": "storage"}',  # 5 AWS S3 (20): matched by the shared-storage rule first
    "",  # 6 Azure reservation purchase (billed 300): the Azure purchase rule
    '{"team": "data"}',  # 7 Azure VM covered by the reservation (effective 50)
    "{}",  # 8 Azure VM on demand (50): nothing - unallocated
]
RULES = """\
keys:
  team:
    account_map:
      "222222222222": platform
    shared_rules:
      - name: shared-storage
        match:
          service_name: ["Amazon Simple Storage Service"]
        split: proportional
        to: [web, data]
      - name: azure-purchases
        match:
          sub_account_id: ["/subscriptions/SUB-1"]
          charge_category: [Purchase]
        split: percentages
        to: [web, data]
        percentages:
          web: 60
          data: 40
  env:
    shared_rules:
      - name: purchases
        match:
          charge_category: [Purchase]
        split: even
        to: [prod, dev, test]
      - name: storage
        match:
          service_name: ["Amazon Simple Storage Service"]
        split: proportional
        to: [prod, dev]
"""


def write_tagged_export(folder: Path) -> Path:
    """The export with its Tags column, as one monthly FOCUS CSV file in `folder`."""
    return write_rows(
        folder / "focus-2026-01.csv",
        [*HEADER, "Tags"],
        [[*row, tags] for row, tags in zip(ROWS, TAGS, strict=True)],
    )


def write_rules(path: Path) -> Path:
    path.write_text(RULES)
    return path


# A FOCUS 1.3 export of another AWS payer, December 2025: ServiceProviderName and
# HostProviderName instead of the deprecated ProviderName and PublisherName, and an EC2 node's
# day split by the provider over the two pods it ran (split cost allocation): the allocated
# charges replace their origin charge (100 = 60 + 40), each with AllocatedTags = the origin's
# Tags and its pod's. A Lambda row is not split.
SPLIT_DAY = "2025-12-15"
HEADER_1_3 = [
    "BillingAccountId", "BillingAccountName", "BillingCurrency", "BillingPeriodStart",
    "BillingPeriodEnd", "ChargePeriodStart", "ChargePeriodEnd", "ChargeCategory",
    "ChargeClass", "ServiceProviderName", "HostProviderName", "InvoiceIssuerName",
    "SubAccountId", "ServiceName", "ServiceCategory", "BilledCost", "EffectiveCost", "ListCost",
    "ContractedCost", "Tags", "AllocatedMethodId", "AllocatedResourceId", "AllocatedTags",
]  # fmt: skip


def _split_row(service: str, cost: str, tags: str, method: str, pod: str, pod_tags: str):
    return [
        "333333333333", "Second payer", "USD", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z",
        f"{SPLIT_DAY}T00:00:00Z", "2025-12-16T00:00:00Z", "Usage", "", "AWS", "AWS", "AWS",
        "444444444444", service, "Compute", cost, cost, cost, cost, tags, method, pod, pod_tags,
    ]  # fmt: skip


ROWS_1_3 = [
    _split_row("Amazon Elastic Compute Cloud", "60", '{"cluster": "prod"}', "aws-eks-split",
               "pod-web", '{"cluster": "prod", "team": "web"}'),
    _split_row("Amazon Elastic Compute Cloud", "40", '{"cluster": "prod"}', "aws-eks-split",
               "pod-data", '{"cluster": "prod", "team": "data"}'),
    _split_row("AWS Lambda", "5", '{"team": "web"}', "", "", ""),
]  # fmt: skip


def write_focus_1_3_export(folder: Path) -> Path:
    """The second payer's FOCUS 1.3 export as one monthly CSV file in `folder`."""
    return write_rows(folder / "focus-1.3-2025-12.csv", HEADER_1_3, ROWS_1_3)
