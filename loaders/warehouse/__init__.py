"""The one writer of the raw layer: replace a (source, scope, window) in one transaction.

Every load goes through a `LoadAttempt` (attempts.py), which hands each scope's mapped rows
to `replace_window` (writes.py). It deletes the rows that the same source previously landed
for the same scope and window and inserts the new ones in a single DuckDB transaction, and
records the load in `raw.load_ledger`. A rerun therefore replaces instead of appending, a
restated amount replaces the old one, and a failure (bad row, crash, killed process) leaves
the previous data as it was - and the attempt records it as a `failed` ledger row. A load
may replace more raw tables of the same scope and window in that transaction
(`with_tables`: e.g. Azure's commitment rows beside its costs), under its one ledger row. In
the same transaction, before the delete, the writer records in `raw.load_restatements` every
per-day total (day x account x currency x billed/effective) the load changes on days an
earlier load had already covered.

Raw tables keep the API's grain and values; amounts are exact decimals. Windows are
half-open, `[window_start, window_end)`, like Cost Explorer's TimePeriod.

Rows arrive as a list of dicts (an API page's mapped rows), as a `pyarrow.Table` with the
raw table's columns (bulk loads, the scale bench), or as `StagedRows`, a query over the
loader's own DuckDB connection to which the warehouse is attached (the FOCUS import: its
rolled-up rows never leave DuckDB); validation.py checks them before anything is written.
Staged rows may say where they sit among the rows of other windows (`StagedBatch`): in one
`LoadAttempt.writing(together=True)` transaction their inserts are then made by one
statement at its end (`insert_deferred`), which DuckDB runs on every core.
The package's parts: schema.py (the raw tables and ledgers), locking.py (one writer at a
time), validation.py, writes.py, attempts.py, purge.py (`finops purge`, demo rows) and
publish.py (the serving copy).
"""

from loaders.warehouse.attempts import LoadAttempt
from loaders.warehouse.locking import (
    WarehouseBusyError,
    attached_writer,
    connect_writer,
    writer_connection,
    writer_lock,
)
from loaders.warehouse.publish import publish_serving_copy
from loaders.warehouse.purge import purge_source, purge_window
from loaders.warehouse.schema import ensure_raw_schema, table_exists
from loaders.warehouse.validation import LoadValidationError, StagedBatch, StagedRows
from loaders.warehouse.writes import LoadResult, record_failed_load, replace_window

__all__ = [
    "LoadAttempt",
    "LoadResult",
    "LoadValidationError",
    "StagedBatch",
    "StagedRows",
    "WarehouseBusyError",
    "attached_writer",
    "connect_writer",
    "ensure_raw_schema",
    "publish_serving_copy",
    "purge_source",
    "purge_window",
    "record_failed_load",
    "replace_window",
    "table_exists",
    "writer_connection",
    "writer_lock",
]
