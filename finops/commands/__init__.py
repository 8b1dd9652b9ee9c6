"""The `finops` subcommands; finops/cli.py parses the arguments and calls them.

One module per command or group, each importing its heavy libraries (Luigi, DuckDB,
pandas, the pipelines) only when it runs, so `finops --help` stays fast:
    run.py          run and backfill: DailyPipeline built by Luigi, progress and step lines
    signals.py      SIGTERM/SIGINT as RunInterrupted, so a stopped command unwinds
    dashboard.py    the Streamlit server and where it listens
    sql.py          read-only queries of the marts, as a table or CSV
    docs.py         dbt's docs site
    maintenance.py  prune (exports past the retention) and purge (a source's raw rows)
    spark.py        the dbt project on Spark
"""
