"""Where exports go: a folder laid out like the S3 bucket (`processed/`, `kpis/`, `reports/`).

Keys are `<area>/<YYYY-MM-DD>/<file>`; a run's folder holds a `_manifest.json` written last,
so a reader that sees the manifest sees the whole set. Every file is written to a temporary
name and renamed into place.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import duckdb

AREAS = ("processed", "kpis", "reports")
DATE_FOLDER = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MART_TABLES = ("fct_daily_costs", "fct_cost_kpis", "fct_cost_anomalies")


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(payload)
    os.replace(tmp, path)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


@dataclass(frozen=True)
class LocalExportStore:
    """The export location when no bucket is configured: a local folder."""

    root: Path

    def folder(self, area: str, run_date: date) -> Path:
        return self.root / area / run_date.isoformat()

    def export_marts(self, serving_path: Path, run_date: date) -> list[str]:
        """Write every mart as Parquet and CSV and the KPIs as JSON; return the keys written."""
        keys: list[str] = []
        processed = self.folder("processed", run_date)
        processed.mkdir(parents=True, exist_ok=True)
        con = duckdb.connect(str(serving_path), read_only=True)
        try:
            for table in MART_TABLES:
                for fmt, options in (
                    ("parquet", "format parquet"),
                    ("csv", "format csv, header true"),
                ):
                    target = processed / f"{table}.{fmt}"
                    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
                    con.execute(f"copy (select * from marts.{table}) to '{tmp}' ({options})")
                    os.replace(tmp, target)
                    keys.append(self._key(target))
            cursor = con.execute(
                "select * from marts.fct_cost_kpis order by provider_scope, cost_basis"
            )
            columns = [d[0] for d in cursor.description]
            kpis = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        finally:
            con.close()
        kpi_path = self.folder("kpis", run_date) / "kpis.json"
        atomic_write_text(
            kpi_path,
            json.dumps({"run_date": run_date.isoformat(), "kpis": kpis}, indent=2, default=str),
        )
        keys.append(self._key(kpi_path))
        return keys

    def put_text(self, area: str, run_date: date, name: str, text: str) -> str:
        path = self.folder(area, run_date) / name
        atomic_write_text(path, text)
        return self._key(path)

    def write_manifest(self, run_date: date, keys: list[str]) -> str:
        """Written last: its presence says the run's set of files is complete."""
        payload = {"run_date": run_date.isoformat(), "files": sorted(keys)}
        return self.put_text("processed", run_date, "_manifest.json", json.dumps(payload, indent=2))

    def prune(self, today: date, retention_days: int, dry_run: bool = False) -> list[str]:
        """Delete our dated folders older than the retention; `today` is the clock.

        Only folders named YYYY-MM-DD directly under our three areas are candidates, so a
        misconfigured root never loses anything else.
        """
        cutoff = today - timedelta(days=retention_days)
        removed: list[str] = []
        for area in AREAS:
            base = self.root / area
            if not base.is_dir():
                continue
            for child in sorted(base.iterdir()):
                if not (child.is_dir() and DATE_FOLDER.match(child.name)):
                    continue
                try:
                    folder_date = date.fromisoformat(child.name)
                except ValueError:
                    continue
                if folder_date < cutoff:
                    removed.append(self._key(child))
                    if not dry_run:
                        shutil.rmtree(child)
        return removed

    def _key(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()
