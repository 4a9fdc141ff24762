"""What the readers share: the hashed file listing, quarantine rows and per-file manifest stats.

Frames built here have the columns of `audit.quarantine` and `audit.ingested_files` minus the
timestamps, which the loader sets at load time.
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ingestion.limits import RAW_VALUE_MAX_CHARS, REASON_VALUE_MAX_CHARS

DOCUMENTS_SOURCE_TYPE = "documents"
CSV_SOURCE_TYPE = "csv"
TRUNCATED = " [truncated]"
NUL_REPLACEMENT = "\ufffd"
HASH_CHUNK_BYTES = 1024 * 1024

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
    "file_size": pl.Int64(),  # size and mtime when read: an equal pair skips the file unread
    "file_mtime_ns": pl.Int64(),
}


@dataclass(frozen=True)
class SourceFile:
    """One file of a source folder, read once: its bytes and their sha256.

    A file that must not be read (a link leaving the folder, a dangling link, a hidden or nameless
    file, a file over the size limit) has `problem` set, no data, and a hash that identifies it
    without its content being stored: readers quarantine it whole with `problem` as the reason.
    """

    rel_path: str  # relative to the source folder, '/'-separated
    data: bytes
    content_hash: str
    problem: str | None = None
    size: int | None = None  # of a file in a source folder, as listed (stat before reading)
    mtime_ns: int | None = None

    @property
    def stem(self) -> str:
        """`Path(rel_path).stem` without building a Path: once per document read."""
        name = self.rel_path.rpartition("/")[2]
        dot = name.rfind(".")
        return name[:dot] if 0 < dot < len(name) - 1 else name


@dataclass(frozen=True)
class SourceListing:
    files: tuple[SourceFile, ...]  # to read: new or changed since the last load
    skipped_files: tuple[str, ...]  # unchanged since the last load (stats or hash as recorded)
    # Skipped by their hash although their stats changed (touched, copied): (path, size,
    # mtime_ns) to record, so the next listing skips them unopened.
    restat_files: tuple[tuple[str, int, int], ...] = ()


@dataclass(frozen=True)
class QuarantineRecord:
    file_path: str
    reason: str
    raw_value: str | None
    row_number: int | None = None
    record_key: str | None = None


# A folder's files, sorted by path (`list_folder`): size and mtime from one lstat, links flagged.
FOLDER_LISTING_SCHEMA: dict[str, pl.DataType] = {
    "file_path": pl.String(),
    "file_size": pl.Int64(),
    "file_mtime_ns": pl.Int64(),
    "is_link": pl.Boolean(),
}
# The (size, mtime_ns) recorded for each file read from a folder
# (`warehouse.loaders.manifest_stats`): a file listed with the same pair is skipped unopened.
SKIP_STATS_SCHEMA: dict[str, pl.DataType] = {
    "file_path": pl.String(), "file_size": pl.Int64(), "file_mtime_ns": pl.Int64()
}


@dataclass(frozen=True)
class FolderChunk:
    """The files of one chunk of a folder (`read_chunks`), with the folder's one listing."""

    files: frozenset[str]
    listed: pl.DataFrame  # FOLDER_LISTING_SCHEMA


def list_source_files(
    root: Path,
    suffixes: Iterable[str],
    skip_hashes: Mapping[str, str],
    *,
    max_bytes: int,
    skip_stats: pl.DataFrame | None = None,
    chunk: FolderChunk | None = None,
) -> SourceListing:
    """Files under `root` (recursively, sorted by relative path) whose name ends in `suffixes`.

    With a `chunk`, the folder is not listed again (a chunk carries the listing) and a file not in
    the chunk is listed as skipped without being opened: a source is read in chunks
    (`read_chunks`), every chunk's listing naming every file present.

    A file is unchanged, and skipped, when its (size, mtime_ns) is the one `skip_stats`
    (SKIP_STATS_SCHEMA) records for its path (it is then neither opened nor hashed) or else its
    content hash equals `skip_hashes[path]`.

    A symbolic link is never read: a link whose target is outside `root` (its content must not
    reach the warehouse), a dangling link and a link inside `root` (its target is read under its
    own path, so reading the link too would load it twice) are listed with a `problem`, as are a
    hidden file (a name or folder starting with '.', which includes a file named just '.txt') and
    a file over `max_bytes`. Links to folders are not followed.
    """
    base = root.resolve()
    to_read: list[SourceFile] = []
    restat: list[tuple[str, int, int]] = []
    listed = list_folder(root, suffixes) if chunk is None else chunk.listed
    to_open = _to_open(listed, skip_stats)
    if chunk is not None:
        to_open = to_open.filter(pl.col("file_path").is_in(list(chunk.files)))
    skipped = listed.filter(~pl.col("file_path").is_in(to_open["file_path"].implode()))
    skipped_paths: list[str] = skipped["file_path"].to_list()
    skipped_by_hash: list[str] = []
    for rel_path, size, mtime_ns, is_link in to_open.iter_rows():
        file = _source_file(root / rel_path, rel_path, base, max_bytes, size, mtime_ns, is_link)
        if skip_hashes.get(rel_path) == file.content_hash:
            skipped_by_hash.append(rel_path)
            if file.size is not None and file.mtime_ns is not None:
                restat.append((rel_path, file.size, file.mtime_ns))
        else:
            to_read.append(file)
    if skipped_by_hash:
        skipped_paths = sorted([*skipped_paths, *skipped_by_hash])
    return SourceListing(tuple(to_read), tuple(skipped_paths), tuple(restat))


def read_chunks(
    root: Path, suffixes: Iterable[str], skip_stats: pl.DataFrame | None, max_bytes: int
) -> list[FolderChunk]:
    """The files `list_source_files` may have to open (their stats changed, or new), in path order,
    cut into chunks of at most `max_bytes` (a larger file alone): a first load of a large
    folder is read and loaded a chunk at a time, in bounded memory. At least one chunk, so a
    source whose files are all unchanged is still reconciled (deleted files). The folder is
    listed once, here: each chunk carries the listing."""
    listed = list_folder(root, suffixes)
    chunks: list[frozenset[str]] = []
    chunk: list[str] = []
    size = 0
    to_open = _to_open(listed, skip_stats).select("file_path", "file_size")
    for rel_path, file_size in to_open.iter_rows():
        if chunk and size + file_size > max_bytes:
            chunks.append(frozenset(chunk))
            chunk, size = [], 0
        chunk.append(rel_path)
        size += file_size
    return [FolderChunk(files, listed) for files in [*chunks, frozenset(chunk)]]


# Listings of every file of a folder, taken just before a run (the run seal lists the sources to
# decide whether to run at all), that the run's ingestion takes instead of listing the folder
# again: 2.5 s for a folder of 500,000 documents. Set for one run only (`reuse_listings`).
_TAKEN_LISTINGS: ContextVar[dict[Path, pl.DataFrame] | None] = ContextVar(
    "taken_listings", default=None
)


@contextmanager
def reuse_listings(listings: Mapping[Path, pl.DataFrame]) -> Iterator[None]:
    """Within the block, `list_folder(root, ...)` takes the listing of `root` given here (every
    file, `list_folder(root, ("",))`) the first time, instead of listing the folder. A file that
    lands after the listing was taken is read by the next run."""
    token = _TAKEN_LISTINGS.set({root.resolve(): listed for root, listed in listings.items()})
    try:
        yield
    finally:
        _TAKEN_LISTINGS.reset(token)


def list_folder(root: Path, suffixes: Iterable[str]) -> pl.DataFrame:
    """The files under `root` ending in `suffixes` (FOLDER_LISTING_SCHEMA), sorted by path. One
    lstat per file: it tells a link from a regular file and, for a file, is its stat. Links to
    folders are not followed. `os.scandir`, not `Path.rglob`, and columns, not a tuple per
    file: a night lists every file of a 500,000-document folder."""
    wanted = tuple(suffix.lower() for suffix in suffixes)
    taken = _TAKEN_LISTINGS.get()
    if taken is not None and (listed := taken.pop(root.resolve(), None)) is not None:
        lowered = pl.col("file_path").str.to_lowercase()
        return listed.filter(pl.any_horizontal(lowered.str.ends_with(suffix) for suffix in wanted))
    paths: list[str] = []
    sizes: list[int] = []
    mtimes: list[int] = []
    links: list[bool] = []
    folders = [(str(root), "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as entries:
                for entry in entries:
                    rel_path = prefix + entry.name
                    if entry.is_dir(follow_symlinks=False):
                        folders.append((entry.path, rel_path + "/"))
                    elif entry.name.lower().endswith(wanted) and (
                        info := _link_or_file_stat(entry)
                    ) is not None:
                        paths.append(rel_path)
                        sizes.append(info.st_size)
                        mtimes.append(info.st_mtime_ns)
                        links.append(stat.S_ISLNK(info.st_mode))
        except (FileNotFoundError, NotADirectoryError):  # gone since its parent was listed
            continue
        except PermissionError as error:  # never skipped: its files would count as deleted
            raise PermissionError(
                f"cannot list {folder} ({error.strerror}): its files would count as deleted"
            ) from None
    columns = {"file_path": paths, "file_size": sizes, "file_mtime_ns": mtimes, "is_link": links}
    return pl.DataFrame(columns, schema=FOLDER_LISTING_SCHEMA).sort("file_path")


def _to_open(listed: pl.DataFrame, skip_stats: pl.DataFrame | None) -> pl.DataFrame:
    """The listed files to open: all but those whose (size, mtime_ns) is the recorded one.
    A link is always opened (to find what it points to now)."""
    if skip_stats is None or skip_stats.is_empty():
        return listed
    keys = list(SKIP_STATS_SCHEMA)
    unchanged = listed.filter(~pl.col("is_link")).join(
        skip_stats.select(keys).cast(SKIP_STATS_SCHEMA), on=keys, how="semi"
    )
    return listed.filter(~pl.col("file_path").is_in(unchanged["file_path"].implode()))


def problem_record(file: SourceFile) -> QuarantineRecord | None:
    """The quarantine record of a file listed with a problem (no raw value: it was not read)."""
    return None if file.problem is None else QuarantineRecord(file.rel_path, file.problem, None)


def _link_or_file_stat(entry: os.DirEntry) -> os.stat_result | None:
    """The lstat of a symbolic link or a regular file; None for anything else."""
    try:
        info = entry.stat(follow_symlinks=False)
    except OSError:  # gone since the folder was listed
        return None
    return info if stat.S_ISLNK(info.st_mode) or stat.S_ISREG(info.st_mode) else None


def _source_file(
    path: Path, rel_path: str, base: Path, max_bytes: int, size: int, mtime_ns: int, is_link: bool
) -> SourceFile:
    """`size`, `mtime_ns` and `is_link` are the file's lstat, taken before reading: a file changed
    in between is recorded with its older stats, so the next listing hashes it again instead of
    skipping it."""
    if rel_path.startswith(".") or "/." in rel_path:  # a part starting with '.'; '/'-separated
        return _unread(rel_path, "hidden file (its name or a folder's starts with '.'): not read")
    if is_link:
        target = path.resolve()
        if not target.exists():
            return _unread(rel_path, f"dangling symbolic link to {target}: not read")
        if not target.is_relative_to(base):
            return _unread(
                rel_path, f"symbolic link to {target}, outside the source folder: not read"
            )
        return _unread(
            rel_path,
            f"symbolic link to {target.relative_to(base).as_posix()}, inside the source folder: "
            "not read (a file in the folder is read under its own path, once)",
        )
    if size > max_bytes:
        return SourceFile(
            rel_path,
            b"",
            _file_hash(path),
            f"file is {size:,} bytes, over the {max_bytes:,}-byte limit",
            size,
            mtime_ns,
        )
    data = path.read_bytes()
    return SourceFile(rel_path, data, hashlib.sha256(data).hexdigest(), None, size, mtime_ns)


def _unread(rel_path: str, problem: str) -> SourceFile:
    # The hash of the problem itself: an unchanged problem is skipped like an unchanged file.
    return SourceFile(rel_path, b"", hashlib.sha256(problem.encode()).hexdigest(), problem)


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def truncate_raw_value(text: str | None) -> str | None:
    """At most RAW_VALUE_MAX_CHARS characters (then a marker), NUL shown as U+FFFD."""
    if text is None:
        return None
    text = text.replace("\0", NUL_REPLACEMENT)
    if len(text) <= RAW_VALUE_MAX_CHARS:
        return text
    return text[:RAW_VALUE_MAX_CHARS] + TRUNCATED


def truncated(text: pl.Expr) -> pl.Expr:
    """`truncate_raw_value` as a Polars expression."""
    text = text.str.slice(0, RAW_VALUE_MAX_CHARS + 1).str.replace_all(
        "\0", NUL_REPLACEMENT, literal=True
    )
    return (
        pl.when(text.str.len_chars() > RAW_VALUE_MAX_CHARS)
        .then(text.str.slice(0, RAW_VALUE_MAX_CHARS) + TRUNCATED)
        .otherwise(text)
    )


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
                "file_size": file.size,
                "file_mtime_ns": file.mtime_ns,
            }
        )
    return pl.DataFrame(rows, schema=FILE_STATS_SCHEMA)


def shown_expr(text: pl.Expr) -> pl.Expr:
    """`ingestion.limits.shown` as a Polars expression: quoted, cut, line breaks escaped, other
    control characters as U+FFFD, and the NFKC form when it differs."""
    cut = pl.when(text.str.len_chars() > REASON_VALUE_MAX_CHARS).then(
        text.str.slice(0, REASON_VALUE_MAX_CHARS) + "…"
    ).otherwise(text)
    visible = (
        cut.str.replace_all("\n", "\\n", literal=True)
        .str.replace_all("\r", "\\r", literal=True)
        .str.replace_all("\t", "\\t", literal=True)
        .str.replace_all(r"\p{Cc}", NUL_REPLACEMENT)
    )
    normal = visible.str.normalize("NFKC")
    quoted = pl.format("'{}'", visible)
    with_normal = pl.format("{} (NFKC '{}')", quoted, normal)
    return pl.when(normal == visible).then(quoted).otherwise(with_normal)
