"""Who spends what in the simulated estate: accounts, subscriptions and their usage series.

Names are spelled exactly as the real APIs write them (Cost Explorer's SERVICE values, the
Query API's ServiceName / ResourceLocation values), so the dbt categorization seed built for
real data also covers the simulated source. Levels are typical daily costs, in the billing
currency, of a series in an account of scale 1.0; the generator spreads them log-normally.
"""

from __future__ import annotations

from dataclasses import dataclass

# ---------------------------------------------------------------- AWS

AWS_PAYER_ACCOUNT_ID = "111122223333"

# Cost Explorer SERVICE values used by the non-Usage record types.
AWS_TAX_SERVICE = "Tax"
AWS_SUPPORT_SERVICE = "AWS Support (Business)"
AWS_SAVINGS_PLAN_SERVICE = "Savings Plans for AWS Compute usage"
AWS_EC2_COMPUTE = "Amazon Elastic Compute Cloud - Compute"


@dataclass(frozen=True)
class Account:
    """An AWS linked account or an Azure subscription."""

    id: str
    name: str
    scale: float  # multiplies every series level
    weekend_factor: float  # Saturday/Sunday cost relative to a weekday
    currency: str = "USD"


AWS_ACCOUNTS = (
    Account("402193857611", "acme-prod", 1.0, 0.93),
    Account("519384726150", "acme-staging", 0.22, 0.55),
    Account("638271950443", "acme-dev", 0.15, 0.45),
    Account("747160392817", "acme-data", 0.6, 0.8),
    Account("856049281736", "acme-shared-services", 0.25, 0.97),
)
AWS_PROD, AWS_STAGING, AWS_DEV, AWS_DATA, AWS_SHARED = AWS_ACCOUNTS

# Typical daily cost (USD) of each Usage service in a prod-sized account.
AWS_SERVICE_LEVELS = {
    AWS_EC2_COMPUTE: 2400.0,
    "EC2 - Other": 420.0,
    "Amazon Relational Database Service": 950.0,
    "Amazon Simple Storage Service": 360.0,
    "AWS Lambda": 55.0,
    "Amazon CloudFront": 130.0,
    "Amazon DynamoDB": 150.0,
    "Amazon Elastic Container Service for Kubernetes": 210.0,
    "Amazon Elastic Container Service": 85.0,
    "AmazonCloudWatch": 115.0,
    "Amazon Virtual Private Cloud": 95.0,
    "AWS Key Management Service": 14.0,
    "Amazon Simple Queue Service": 12.0,
    "Amazon Simple Notification Service": 6.0,
    "Amazon Redshift": 620.0,
    "Amazon OpenSearch Service": 180.0,
    "Amazon ElastiCache": 165.0,
    "AWS Glue": 150.0,
    "Amazon Athena": 48.0,
    "Amazon SageMaker": 270.0,
    "Amazon Bedrock": 140.0,
    "Amazon Route 53": 9.0,
    "Amazon Elastic Load Balancing": 90.0,
    "Amazon Elastic File System": 70.0,
    "AWS Secrets Manager": 10.0,
    "Amazon Kinesis": 75.0,
    "Amazon EC2 Container Registry (ECR)": 18.0,
    "AWS CloudTrail": 22.0,
    "AWS Config": 36.0,
    "Amazon GuardDuty": 42.0,
    "AWS Security Hub": 26.0,
    "AWS WAF": 30.0,
    "AWS Backup": 48.0,
    "Amazon Managed Streaming for Apache Kafka": 145.0,
    "Amazon Elastic MapReduce": 230.0,
    "AWS Step Functions": 9.0,
    "Amazon API Gateway": 35.0,
    "AWS Systems Manager": 5.0,
    "Amazon QuickSight": 24.0,
    "Amazon Cognito": 12.0,
}

# Services billed without a region (Cost Explorer writes "global" for these).
AWS_GLOBAL_SERVICES = {"Amazon CloudFront", "Amazon Route 53"}

# (service, regions) used by each account; a second region costs SECONDARY_REGION_SHARE.
AWS_USAGE: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    AWS_PROD.id: (
        (AWS_EC2_COMPUTE, ("us-east-1", "eu-west-1")),
        ("EC2 - Other", ("us-east-1", "eu-west-1")),
        ("Amazon Relational Database Service", ("us-east-1", "eu-west-1")),
        ("Amazon Simple Storage Service", ("us-east-1", "eu-west-1")),
        ("Amazon Elastic Container Service for Kubernetes", ("us-east-1", "eu-west-1")),
        ("AmazonCloudWatch", ("us-east-1", "eu-west-1")),
        ("Amazon Virtual Private Cloud", ("us-east-1", "eu-west-1")),
        ("Amazon Elastic Load Balancing", ("us-east-1", "eu-west-1")),
        ("AWS Lambda", ("us-east-1",)),
        ("Amazon CloudFront", ("global",)),
        ("Amazon Route 53", ("global",)),
        ("Amazon DynamoDB", ("us-east-1",)),
        ("AWS Key Management Service", ("us-east-1",)),
        ("Amazon Simple Queue Service", ("us-east-1",)),
        ("Amazon Simple Notification Service", ("us-east-1",)),
        ("Amazon OpenSearch Service", ("us-east-1",)),
        ("Amazon ElastiCache", ("us-east-1",)),
        ("Amazon Bedrock", ("us-east-1",)),
        ("Amazon Elastic File System", ("us-east-1",)),
        ("AWS Secrets Manager", ("us-east-1",)),
        ("Amazon EC2 Container Registry (ECR)", ("us-east-1",)),
        ("Amazon API Gateway", ("us-east-1",)),
        ("AWS WAF", ("us-east-1",)),
        ("Amazon Cognito", ("us-east-1",)),
        ("Amazon Kinesis", ("us-east-1",)),
    ),
    AWS_STAGING.id: tuple(
        (service, ("us-east-1",))
        for service in (
            AWS_EC2_COMPUTE,
            "EC2 - Other",
            "Amazon Relational Database Service",
            "Amazon Simple Storage Service",
            "AWS Lambda",
            "Amazon DynamoDB",
            "Amazon Elastic Container Service for Kubernetes",
            "AmazonCloudWatch",
            "Amazon Virtual Private Cloud",
            "AWS Key Management Service",
            "Amazon Simple Queue Service",
            "Amazon ElastiCache",
            "Amazon OpenSearch Service",
            "Amazon Simple Notification Service",
            "Amazon Elastic Load Balancing",
            "Amazon EC2 Container Registry (ECR)",
            "Amazon API Gateway",
            "AWS Secrets Manager",
        )
    ),
    AWS_DEV.id: tuple(
        (service, ("us-west-2",))
        for service in (
            AWS_EC2_COMPUTE,
            "EC2 - Other",
            "Amazon Relational Database Service",
            "Amazon Simple Storage Service",
            "AWS Lambda",
            "Amazon DynamoDB",
            "AmazonCloudWatch",
            "Amazon Virtual Private Cloud",
            "AWS Key Management Service",
            "Amazon Simple Queue Service",
            "Amazon Simple Notification Service",
            "Amazon Elastic Load Balancing",
            "Amazon EC2 Container Registry (ECR)",
            "Amazon Bedrock",
            "Amazon SageMaker",
            "Amazon Elastic Container Service",
        )
    ),
    AWS_DATA.id: (
        ("Amazon Redshift", ("us-east-1",)),
        ("AWS Glue", ("us-east-1",)),
        ("Amazon Athena", ("us-east-1",)),
        ("Amazon SageMaker", ("us-east-1",)),
        ("Amazon Bedrock", ("us-east-1",)),
        ("Amazon Simple Storage Service", ("us-east-1", "eu-central-1")),
        ("Amazon Elastic MapReduce", ("us-east-1",)),
        ("Amazon Managed Streaming for Apache Kafka", ("us-east-1",)),
        ("Amazon Kinesis", ("us-east-1",)),
        (AWS_EC2_COMPUTE, ("us-east-1",)),
        ("EC2 - Other", ("us-east-1",)),
        ("AmazonCloudWatch", ("us-east-1",)),
        ("AWS Key Management Service", ("us-east-1",)),
        ("Amazon QuickSight", ("us-east-1",)),
        ("AWS Step Functions", ("us-east-1",)),
        ("AWS Lambda", ("us-east-1",)),
        ("Amazon Virtual Private Cloud", ("us-east-1",)),
    ),
    AWS_SHARED.id: (
        ("AWS CloudTrail", ("us-east-1",)),
        ("AWS Config", ("us-east-1",)),
        ("Amazon GuardDuty", ("us-east-1",)),
        ("AWS Security Hub", ("us-east-1",)),
        ("AWS Backup", ("us-east-1",)),
        ("Amazon Route 53", ("global",)),
        ("Amazon Simple Storage Service", ("us-east-1",)),
        ("AmazonCloudWatch", ("us-east-1",)),
        ("AWS Key Management Service", ("us-east-1",)),
        ("AWS Systems Manager", ("us-east-1",)),
        ("Amazon Virtual Private Cloud", ("us-east-1",)),
        (AWS_EC2_COMPUTE, ("us-east-1",)),
        ("EC2 - Other", ("us-east-1",)),
        ("AWS WAF", ("us-east-1",)),
        ("AWS Secrets Manager", ("us-east-1",)),
    ),
}

SECONDARY_REGION_SHARE = 0.35

# A Compute Savings Plan covers part of prod's EC2 in its main region.
AWS_SAVINGS_PLAN = (AWS_PROD.id, AWS_EC2_COMPUTE, "us-east-1")
# Promotional credits on dev (Credit record type) and a rare refund on staging (Refund).
AWS_CREDIT_SERIES = (
    (AWS_DEV.id, AWS_EC2_COMPUTE, "us-west-2"),
    (AWS_DEV.id, "Amazon SageMaker", "us-west-2"),
)
AWS_REFUND_SERIES = (AWS_STAGING.id, "Amazon Relational Database Service", "us-east-1")
# Business support is billed to the shared-services account, computed on the whole org.
AWS_SUPPORT_ACCOUNT = AWS_SHARED.id

# ---------------------------------------------------------------- Azure

AZURE_SUBSCRIPTIONS = (
    Account("3f2c9a71-5b8e-4d21-9c4a-7e1f0b6d2a58", "contoso-prod", 1.0, 0.92),
    Account("8a4e1d2b-9c37-4f6a-b15e-2d9c8f7a3e41", "contoso-dev", 0.2, 0.5),
    Account("c1b7e9f4-2a6d-4e83-8f05-9d3a6b2c7e19", "contoso-data", 0.5, 0.85),
    Account("e5d9a3c8-7f1b-4b6e-a2d4-6c8e1f3b9a07", "contoso-prod-eu", 0.6, 0.9, currency="EUR"),
)
AZURE_PROD, AZURE_DEV, AZURE_DATA, AZURE_EU = AZURE_SUBSCRIPTIONS

# Typical daily cost (billing currency) of each ServiceName in a prod-sized subscription.
AZURE_SERVICE_LEVELS = {
    "Virtual Machines": 1500.0,
    "Storage": 260.0,
    "Azure App Service": 210.0,
    "SQL Database": 480.0,
    "Azure Cosmos DB": 190.0,
    "Azure Kubernetes Service": 60.0,
    "Bandwidth": 45.0,
    "Azure Monitor": 38.0,
    "Log Analytics": 85.0,
    "Key Vault": 4.0,
    "Functions": 22.0,
    "Virtual Network": 30.0,
    "Load Balancer": 28.0,
    "Azure DNS": 3.0,
    "Application Gateway": 70.0,
    "Container Registry": 8.0,
    "Redis Cache": 95.0,
    "Azure Front Door Service": 55.0,
    "Microsoft Defender for Cloud": 65.0,
    "Cognitive Services": 120.0,
    "Azure Synapse Analytics": 310.0,
    "Azure Data Factory v2": 90.0,
    "Azure Databricks": 380.0,
    "Event Hubs": 40.0,
    "Azure Cognitive Search": 110.0,
    "Azure Database for PostgreSQL": 160.0,
    "Service Bus": 18.0,
    "Backup": 35.0,
}

AZURE_USAGE: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    AZURE_PROD.id: (
        ("Virtual Machines", ("eastus", "westus2")),
        ("Storage", ("eastus", "westus2")),
        ("Azure App Service", ("eastus",)),
        ("SQL Database", ("eastus",)),
        ("Azure Cosmos DB", ("eastus",)),
        ("Azure Kubernetes Service", ("eastus",)),
        ("Bandwidth", ("eastus",)),
        ("Azure Monitor", ("eastus",)),
        ("Log Analytics", ("eastus",)),
        ("Key Vault", ("eastus",)),
        ("Functions", ("eastus",)),
        ("Virtual Network", ("eastus",)),
        ("Load Balancer", ("eastus",)),
        ("Azure DNS", ("global",)),
        ("Application Gateway", ("eastus",)),
        ("Container Registry", ("eastus",)),
        ("Redis Cache", ("eastus",)),
        ("Azure Front Door Service", ("global",)),
        ("Microsoft Defender for Cloud", ("eastus",)),
    ),
    AZURE_DEV.id: tuple(
        (service, ("eastus",))
        for service in (
            "Virtual Machines",
            "Storage",
            "Azure App Service",
            "SQL Database",
            "Functions",
            "Key Vault",
            "Virtual Network",
            "Cognitive Services",
            "Container Registry",
        )
    ),
    AZURE_DATA.id: tuple(
        (service, ("eastus2",))
        for service in (
            "Azure Synapse Analytics",
            "Azure Data Factory v2",
            "Azure Databricks",
            "Storage",
            "Event Hubs",
            "Azure Cognitive Search",
            "Cognitive Services",
            "Azure Database for PostgreSQL",
            "Virtual Machines",
        )
    ),
    AZURE_EU.id: (
        ("Virtual Machines", ("westeurope", "northeurope")),
        ("Storage", ("westeurope", "northeurope")),
        ("SQL Database", ("westeurope",)),
        ("Azure App Service", ("westeurope",)),
        ("Azure Kubernetes Service", ("westeurope",)),
        ("Bandwidth", ("westeurope",)),
        ("Azure Monitor", ("westeurope",)),
        ("Key Vault", ("westeurope",)),
        ("Service Bus", ("westeurope",)),
        ("Backup", ("westeurope",)),
        ("Load Balancer", ("westeurope",)),
    ),
}

# A VM reservation on prod (Purchase in ActualCost, spread + UnusedReservation in Amortized).
AZURE_RESERVATION = (AZURE_PROD.id, "Virtual Machines", "eastus")
# ... as the Query API's BenefitId / BenefitName and the reservations list name it: a 1-year
# reservation billed monthly, ending AZURE_RESERVATION_ENDS_AFTER_DAYS after the load's as-of
# day (so the demo always has an Azure commitment in the 61-90-day expiry horizon).
AZURE_RESERVATION_ID = (
    "/providers/Microsoft.Capacity/reservationOrders/6d1f0e2a-8b3c-4e5d-9f6a-7b8c9d0e1f2a"
    "/reservations/0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f"
)
AZURE_RESERVATION_NAME = "VM_RI_D4s_v5_eastus"
AZURE_RESERVATION_SKU = "Standard_D4s_v5"
AZURE_RESERVATION_TERM = "P1Y"
AZURE_RESERVATION_BILLING_PLAN = "Monthly"
AZURE_RESERVATION_ENDS_AFTER_DAYS = 75
# Reservation purchases are not tied to a resource: the Query API has no location for them.
AZURE_PURCHASE_LOCATION = "Unassigned"
# Credits (negative Adjustment rows) on dev, a rare refund on data.
AZURE_CREDIT_SERIES = (AZURE_DEV.id, "Virtual Machines", "eastus")
AZURE_REFUND_SERIES = (AZURE_DATA.id, "Azure Databricks", "eastus2")
