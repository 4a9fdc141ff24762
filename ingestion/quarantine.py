"""What the readers share: the hashed file listing, quarantine rows and per-file manifest stats.

Frames built here have the columns of `audit.quarantine` and `audit.ingested_files` minus the
timestamps, which the loader sets at load time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import polars as pl

DOCUMENTS_SOURCE_TYPE = "documents"
CSV_SOURCE_TYPE = "csv"

# Keeps whole-file raw values readable in BI tools without storing megabytes per rejected file.
RAW_VALUE_MAX_CHARS = 1000

QUARANTINE_SCHEMA: dict[str, pl.DataType] = {
    "source_type": pl.String(),
    "source_name": pl.String(),
    "file_path": pl.String(),
    "row_number": pl.Int32(),
    "record_key": pl.String(),
    "reason": pl.String(),
    "raw_value": pl.String(),
}

FILE_STATS_SCHEMA: dict[str, pl.DataType] = {
    "source_type": pl.String(),
    "source_name": pl.String(),
    "file_path": pl.String(),
    "content_hash": pl.String(),
    "records_read": pl.Int64(),
    "records_loaded": pl.Int64(),
    "records_quarantined": pl.Int64(),
}


@dataclass(frozen=True)
class SourceFile:
    """One file of a source folder, read once: its bytes and their sha256."""

    rel_path: str  # relative to the source folder, '/'-separated
    data: bytes
    content_hash: str

    @property
    def stem(self) -> str:
        return Path(self.rel_path).stem


@dataclass(frozen=True)
class SourceListing:
    files: tuple[SourceFile, ...]  # to read: new or changed since the last load
    skipped_files: tuple[str, ...]  # unchanged since the last load (hash equals skip_hashes)


@dataclass(frozen=True)
class QuarantineRecord:
    file_path: str
    reason: str
    raw_value: str
    row_number: int | None = None
    record_key: str | None = None


def list_source_files(
    root: Path, suffixes: Iterable[str], skip_hashes: Mapping[str, str]
) -> SourceListing:
    """Files under `root` (recursively, sorted by relative path) whose suffix is in `suffixes`."""
    wanted = {suffix.lower() for suffix in suffixes}
    paths = sorted(
        (p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in wanted),
        key=lambda p: p.relative_to(root).as_posix(),
    )
    to_read: list[SourceFile] = []
    skipped: list[str] = []
    for path in paths:
        rel_path = path.relative_to(root).as_posix()
        data = path.read_bytes()
        content_hash = hashlib.sha256(data).hexdigest()
        if skip_hashes.get(rel_path) == content_hash:
            skipped.append(rel_path)
        else:
            to_read.append(SourceFile(rel_path, data, content_hash))
    return SourceListing(tuple(to_read), tuple(skipped))


def truncate_raw_value(text: str) -> str:
    if len(text) <= RAW_VALUE_MAX_CHARS:
        return text
    return text[:RAW_VALUE_MAX_CHARS] + " [truncated]"


def quarantine_frame(
    records: Iterable[QuarantineRecord], *, source_type: str, source_name: str
) -> pl.DataFrame:
    rows = [
        {
            "source_type": source_type,
            "source_name": source_name,
            "file_path": record.file_path,
            "row_number": record.row_number,
            "record_key": record.record_key,
            "reason": record.reason,
            "raw_value": truncate_raw_value(record.raw_value),
        }
        for record in records
    ]
    return pl.DataFrame(rows, schema=QUARANTINE_SCHEMA)


def file_stats_frame(
    files: Iterable[SourceFile],
    *,
    source_type: str,
    source_name: str,
    read_counts: Mapping[str, int],
    quarantined_counts: Mapping[str, int],
) -> pl.DataFrame:
    """One row per file read; loaded = read - quarantined, so the counts always add up."""
    rows = []
    for file in files:
        read = read_counts.get(file.rel_path, 0)
        quarantined = quarantined_counts.get(file.rel_path, 0)
        rows.append(
            {
                "source_type": source_type,
                "source_name": source_name,
                "file_path": file.rel_path,
                "content_hash": file.content_hash,
                "records_read": read,
                "records_loaded": read - quarantined,
                "records_quarantined": quarantined,
            }
        )
    return pl.DataFrame(rows, schema=FILE_STATS_SCHEMA)
