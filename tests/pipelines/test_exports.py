"""Export location: retention pruning with an injected clock, on a real folder tree."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from pipelines.exports import AREAS, LocalExportStore


def make_tree(root: Path, days: list[date]) -> None:
    for area in AREAS:
        for day in days:
            folder = root / area / day.isoformat()
            folder.mkdir(parents=True)
            (folder / "file.txt").write_text(area)


@pytest.mark.parametrize(
    ("retention", "expected_kept"),
    [
        pytest.param(30, 31, id="30-day retention keeps the cutoff day"),
        pytest.param(7, 8, id="7-day retention"),
    ],
)
def test_prune_removes_only_our_dated_folders_older_than_retention(
    tmp_path: Path, retention, expected_kept
):
    # GIVEN 60 days of exports in every area, plus things that are not ours
    today = date(2026, 11, 26)
    days = [today - timedelta(days=n) for n in range(60)]
    make_tree(tmp_path, days)
    (tmp_path / "processed" / "not-a-date").mkdir()
    (tmp_path / "processed" / "2020-01-01.txt").write_text("a file, not a run folder")
    (tmp_path / "elsewhere" / "2020-01-01").mkdir(parents=True)

    # WHEN pruning with the clock set to `today`
    removed = LocalExportStore(tmp_path).prune(today, retention)

    # THEN exactly the folders older than the cutoff are gone, in every area
    cutoff = today - timedelta(days=retention)
    assert len(removed) == len(AREAS) * (60 - expected_kept)
    for area in AREAS:
        kept = sorted(
            p.name for p in (tmp_path / area).iterdir() if p.is_dir() and p.name[0] == "2"
        )
        assert len(kept) == expected_kept
        assert min(kept) == cutoff.isoformat()
    # and nothing that is not a dated run folder of ours was touched
    assert (tmp_path / "processed" / "not-a-date").is_dir()
    assert (tmp_path / "processed" / "2020-01-01.txt").is_file()
    assert (tmp_path / "elsewhere" / "2020-01-01").is_dir()


def test_prune_dry_run_lists_without_deleting(tmp_path: Path):
    # GIVEN exports 40 and 10 days old
    today = date(2026, 11, 26)
    make_tree(tmp_path, [today - timedelta(days=40), today - timedelta(days=10)])

    # WHEN a dry run prunes with 30 days retention
    removed = LocalExportStore(tmp_path).prune(today, 30, dry_run=True)

    # THEN it names the old folders but leaves them in place
    old = (today - timedelta(days=40)).isoformat()
    assert removed == [f"{area}/{old}" for area in AREAS]
    assert all((tmp_path / area / old).is_dir() for area in AREAS)
