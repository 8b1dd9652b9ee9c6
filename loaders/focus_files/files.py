"""Where FOCUS files come from: one file, a local folder (recursive) or `s3://bucket/prefix`.

S3 objects are downloaded to a local work folder first (DuckDB here has no httpfs), with
boto3's standard settings: credentials from its chain, the endpoint from
`AWS_ENDPOINT_URL_S3` / `AWS_ENDPOINT_URL` (MinIO, moto, ...). Every file is hashed
(SHA-256 of its bytes) on the way: the hashes identify a file set, which is how a re-import
of the same files is recognised without reading them again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

log = logging.getLogger("finops.loaders.focus_files")

DATA_SUFFIXES = (".csv", ".csv.gz", ".parquet")
CHUNK = 1 << 20
MAX_METADATA_BYTES = 1 << 20


class FocusSourceError(RuntimeError):
    """The location cannot be read (missing path, bucket, permission, no FOCUS file)."""


@dataclass(frozen=True)
class FocusFile:
    """One data file, local (downloaded when it came from S3)."""

    name: str  # how errors and the import record name it: relative path or s3:// URL
    path: Path  # local file DuckDB reads
    sha256: str
    size: int

    @property
    def is_csv(self) -> bool:
        return self.path.name.lower().endswith((".csv", ".csv.gz"))


@dataclass(frozen=True)
class FileSet:
    """Every data file of one location, and the FOCUS versions its metadata declares."""

    location: str
    files: tuple[FocusFile, ...]
    declared_versions: tuple[tuple[str, str], ...]  # (metadata file, FocusVersion)


def is_data_file(name: str) -> bool:
    lower = name.lower()
    return lower.endswith(DATA_SUFFIXES) and not Path(lower).name.startswith((".", "_"))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _declared_version(path: Path) -> str | None:
    """`FocusVersion` of a FOCUS metadata (schema) JSON object, else None."""
    if path.stat().st_size > MAX_METADATA_BYTES:
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(document, dict) and "FocusVersion" in document:
        return str(document["FocusVersion"])
    return None


def _local(location: str) -> FileSet:
    root = Path(location).expanduser()
    if not root.exists():
        raise FocusSourceError(f"FINOPS_FOCUS_PATH {location}: no such file or folder")
    candidates = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
    base = root.parent if root.is_file() else root
    files, declared = [], []
    for path in candidates:
        name = str(path.relative_to(base))
        if is_data_file(path.name):
            files.append(FocusFile(name, path, sha256_of(path), path.stat().st_size))
        elif path.name.lower().endswith(".json") and (version := _declared_version(path)):
            declared.append((name, version))
    return _checked(FileSet(location, tuple(files), tuple(declared)))


def _checked(file_set: FileSet) -> FileSet:
    """At least one file, and no two with the same contents: a copy left beside an export
    (`part-0 (1).csv`) would count every row twice."""
    if not file_set.files:
        raise FocusSourceError(
            f"FINOPS_FOCUS_PATH {file_set.location}: no FOCUS file ({', '.join(DATA_SUFFIXES)})"
        )
    seen: dict[str, str] = {}
    for file in file_set.files:
        if file.sha256 in seen:
            raise FocusSourceError(
                f"FINOPS_FOCUS_PATH {file_set.location}: {seen[file.sha256]} and {file.name} "
                "have the same contents; their rows would be counted twice (remove the copy)"
            )
        seen[file.sha256] = file.name
    return file_set


def parse_s3_url(location: str) -> tuple[str, str]:
    parts = urlsplit(location)
    if parts.scheme != "s3" or not parts.netloc:
        raise FocusSourceError(f"FINOPS_FOCUS_PATH {location}: expected s3://bucket/prefix")
    return parts.netloc, parts.path.lstrip("/")


def _s3_keys(client: Any, bucket: str, prefix: str) -> Iterator[str]:
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            yield item["Key"]


def _s3(location: str, work_dir: Path, client: Any | None) -> FileSet:
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, prefix = parse_s3_url(location)
    client = client or boto3.client("s3")
    try:
        keys = list(_s3_keys(client, bucket, prefix))
        if prefix and not prefix.endswith("/") and prefix in keys:  # one object
            keys = [prefix]
        else:  # a folder: `team/focus` must not take `team/focus2/...`
            folder = prefix.rstrip("/") + "/" if prefix else ""
            keys = [k for k in keys if k.startswith(folder)]
        files, declared = [], []
        (work_dir / "s3").mkdir(parents=True, exist_ok=True)
        for index, key in enumerate(sorted(keys)):
            if key.endswith("/") or not (is_data_file(key) or key.lower().endswith(".json")):
                continue
            # a flat local name (never a path built from the key: no `..` escapes)
            local = work_dir / "s3" / f"{index:06d}_{Path(key).name}"
            digest = hashlib.sha256()
            body = client.get_object(Bucket=bucket, Key=key)["Body"]
            with open(local, "wb") as handle:
                while chunk := body.read(CHUNK):
                    digest.update(chunk)
                    handle.write(chunk)
            name = f"s3://{bucket}/{key}"
            if is_data_file(key):
                files.append(FocusFile(name, local, digest.hexdigest(), local.stat().st_size))
            elif version := _declared_version(local):
                declared.append((name, version))
    except (ClientError, BotoCoreError) as exc:
        raise FocusSourceError(
            f"FINOPS_FOCUS_PATH {location}: cannot read bucket {bucket!r}: {exc}"
        ) from None
    log.info("focus_files: downloaded %d file(s) from s3://%s/%s", len(files), bucket, prefix)
    return _checked(FileSet(location, tuple(files), tuple(declared)))


def listing_signature(location: str, s3_client: Any | None = None) -> str | None:
    """A fingerprint of what is at `location` without reading any file: every data and
    metadata file's name, size and modification (local: mtime and inode; S3: ETag and
    LastModified from ListObjectsV2). The same signature as at the last import means the
    same file set; a new, changed, replaced or removed file changes it. None when the
    location cannot be listed (the import then says why)."""
    entries: list[tuple[Any, ...]] = []
    try:
        if location.lower().startswith("s3://"):
            import boto3

            bucket, prefix = parse_s3_url(location)
            client = s3_client or boto3.client("s3")
            for page in client.get_paginator("list_objects_v2").paginate(
                Bucket=bucket, Prefix=prefix
            ):
                for item in page.get("Contents", []):
                    key = item["Key"]
                    if is_data_file(key) or key.lower().endswith(".json"):
                        entries.append(
                            (key, item["Size"], item.get("ETag", ""), str(item["LastModified"]))
                        )
        else:
            root = Path(location).expanduser()
            candidates = [root] if root.is_file() else sorted(root.rglob("*"))
            for path in candidates:
                if not path.is_file():
                    continue
                if is_data_file(path.name) or path.name.lower().endswith(".json"):
                    stat = path.stat()
                    entries.append((str(path), stat.st_size, stat.st_mtime_ns, stat.st_ino))
    except Exception as exc:  # any listing failure means "not the same set"
        log.info("focus_files: cannot list %s (%s): the import will run", location, exc)
        return None
    if not entries:
        return None
    digest = hashlib.sha256(json.dumps(sorted(entries), default=str).encode("utf-8"))
    return digest.hexdigest()


def collect(location: str, work_dir: Path, s3_client: Any | None = None) -> FileSet:
    """The file set at `location`: local files as they are, S3 objects downloaded."""
    if location.lower().startswith("s3://"):
        return _s3(location, work_dir, s3_client)
    return _local(location)
