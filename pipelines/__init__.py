"""Luigi tasks of the daily FinOps pipeline (see pipelines/tasks.py).

luigi --module pipelines DailyPipeline --date 2026-01-31 --local-scheduler
"""

from luigi.tools.range import RangeDaily

from pipelines.tasks import (
    ArchiveRawExtract,
    DailyPipeline,
    DbtBuild,
    Export,
    LoadSource,
    Prune,
    Report,
)

__all__ = [
    "ArchiveRawExtract",
    "DailyPipeline",
    "DbtBuild",
    "Export",
    "LoadSource",
    "Prune",
    "RangeDaily",
    "Report",
]
