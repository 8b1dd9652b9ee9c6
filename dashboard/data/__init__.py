"""Every query the dashboard runs, one cached function per question asked of the marts.

The dashboard reads only the serving copy of the marts (`Settings.serving_path`), which the
pipeline publishes by an atomic rename after each build. Each published version is attached
read-only to one in-memory DuckDB instance (`connection.version_snapshot`) and every query
runs on a cursor of it: the pages of all sessions share its buffer pool, a query that
started on the previous version reads it whole while the new one is renamed into place, and
the warehouse the pipeline writes is never opened at all.

Values are always bound parameters and every aggregation runs in DuckDB: the pages only
ever receive aggregated rows (a few hundred at most), never the raw fct_daily_costs rows;
the one exception is the CSV export of those rows, which DuckDB itself writes on click.

Cached functions take a `Source` (the file and its modification time) as their first
argument: a newly published serving copy has a new mtime, so it is read at once instead of
after the TTL.

The package, one module per reason to change:
    types.py       the filter and result types (CostFilter, Source, Summary, ...)
    connection.py  the snapshot of each published version, cursors, parameter binding
    serving.py     what the serving copy holds (summary, filter options)
    costs.py       costs under the filters: totals, daily series, services, accounts, CSV
    anomalies.py   flagged days, total-series anomalies, root causes, a series' history
    forecast.py    the month's forecast, its daily series, accuracy, KPIs
    operations.py  freshness, failed loads, the last load's restatements
    commitments.py commitment utilization, coverage, savings (ESR), expiry; their CSVs
    allocation.py  showback by allocation key, month over month, untagged cost, chargeback
"""
