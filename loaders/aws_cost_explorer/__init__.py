"""AWS Cost Explorer source: daily costs per linked account, service, region and record type.

`mapping` turns GetCostAndUsage pages into `raw.aws_cost_explorer` rows and documents the
query scheme; the client (I/O, paging, retries) and `load()` come with their own issue.
"""
