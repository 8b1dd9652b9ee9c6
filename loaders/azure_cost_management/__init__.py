"""Azure Cost Management source: daily costs per subscription, service, location, charge type.

`mapping` turns Query API answers into `raw.azure_cost_management` rows and documents the
query scheme; the client (I/O, nextLink paging, 429 handling) and `load()` come with their
own issue.
"""
