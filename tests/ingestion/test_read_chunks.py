"""`read_chunks` and `list_source_files(chunk=...)`: a folder read a chunk at a time."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import polars as pl
import pytest

from ingestion.quarantine import SKIP_STATS_SCHEMA, FolderChunk, list_source_files, read_chunks
from orchestration.ingestion.assets import _read_ahead


def _files(chunks: list[FolderChunk]) -> list[frozenset[str]]:
    return [chunk.files for chunk in chunks]


def _recorded(folder: Path, *names: str) -> pl.DataFrame:
    """The skip stats a manifest would hold for `names`, as listed now."""
    infos = {name: os.stat(folder / name) for name in names}
    rows = [(name, info.st_size, info.st_mtime_ns) for name, info in infos.items()]
    return pl.DataFrame(rows, schema=SKIP_STATS_SCHEMA, orient="row")


def _folder(tmp_path: Path) -> Path:
    for name, size in (("a.csv", 40), ("b.csv", 40), ("c.csv", 100), ("d.csv", 10), ("e.txt", 5)):
        (tmp_path / name).write_bytes(b"x" * size)
    return tmp_path


def test_chunks_cut_the_files_to_open_by_bytes_in_path_order(tmp_path: Path):
    folder = _folder(tmp_path)
    # a file larger than the limit is a chunk of its own; unmatched suffixes are not listed
    assert _files(read_chunks(folder, [".csv"], None, max_bytes=80)) == [
        frozenset({"a.csv", "b.csv"}), frozenset({"c.csv"}), frozenset({"d.csv"})
    ]
    unchanged = _recorded(folder, "b.csv")
    assert _files(read_chunks(folder, [".csv"], unchanged, max_bytes=80)) == [
        frozenset({"a.csv"}), frozenset({"c.csv"}), frozenset({"d.csv"})
    ]


def test_a_folder_with_nothing_to_open_is_one_empty_chunk(tmp_path: Path):
    folder = _folder(tmp_path)
    stats = _recorded(folder, "a.csv", "b.csv", "c.csv", "d.csv")
    assert _files(read_chunks(folder, [".csv"], stats, max_bytes=80)) == [frozenset()]
    # a recorded size or mtime that differs is a change: the file is opened again
    touched = stats.with_columns(
        pl.when(pl.col("file_path") == "a.csv").then(pl.col("file_mtime_ns") + 1)
        .otherwise(pl.col("file_mtime_ns")).alias("file_mtime_ns")
    )
    assert _files(read_chunks(folder, [".csv"], touched, max_bytes=80)) == [frozenset({"a.csv"})]


def test_a_chunk_listing_opens_its_files_and_lists_every_other_as_skipped(tmp_path: Path):
    folder = _folder(tmp_path)
    chunks = read_chunks(folder, [".csv"], None, max_bytes=80)
    chunk = next(chunk for chunk in chunks if "c.csv" in chunk.files)
    (folder / "f.csv").write_bytes(b"x")  # after the listing: the chunk's listing does not see it
    listing = list_source_files(folder, [".csv"], {}, max_bytes=1000, chunk=chunk)
    assert [file.rel_path for file in listing.files] == ["c.csv"]
    assert listing.skipped_files == ("a.csv", "b.csv", "d.csv")
    assert listing.restat_files == ()


def test_nested_folders_are_listed_and_an_unreadable_one_stops_the_listing(tmp_path: Path, monkeypatch):
    """Files in subfolders are listed under their relative paths (sorted, a folder's link not
    followed); a subfolder that cannot be listed raises, naming it, rather than having its files
    count as deleted. (Tests run as root, which reads every folder: the refusal is simulated.)"""
    import pytest

    import ingestion.quarantine as quarantine

    folder = _folder(tmp_path)
    (folder / "sub" / "deeper").mkdir(parents=True)
    (folder / "sub" / "deeper" / "g.csv").write_bytes(b"x")
    (folder / "sub" / "h.CSV").write_bytes(b"x")
    (folder / "linked").symlink_to(folder / "sub", target_is_directory=True)
    assert quarantine.list_folder(folder, [".csv"])["file_path"].to_list() == [
        "a.csv", "b.csv", "c.csv", "d.csv", "sub/deeper/g.csv", "sub/h.CSV",
    ]

    scandir = os.scandir

    def refusing(path):
        if str(path).endswith("deeper"):
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(quarantine.os, "scandir", refusing)
    with pytest.raises(PermissionError, match=r"cannot list .*deeper \(Permission denied\)"):
        read_chunks(folder, [".csv"], None, max_bytes=80)


def test_listing_times_are_each_files_mtime_and_a_links_its_targets(tmp_path: Path):
    """The loader's `modified_at` (newer file wins among duplicate ids) comes from the listing,
    to the microsecond; a link's is its target's, and a dangling link has none."""
    from datetime import UTC, datetime

    from orchestration.ingestion.assets import _listing_times

    folder = _folder(tmp_path)
    os.utime(folder / "a.csv", ns=(0, 1_700_000_000_123_456_789))
    os.utime(folder / "c.csv", ns=(0, 1_600_000_000_000_000_000))
    (folder / "link.csv").symlink_to(folder / "c.csv")
    (folder / "dangling.csv").symlink_to(folder / "gone.csv")
    [chunk] = read_chunks(folder, [".csv"], None, max_bytes=10_000)
    times = dict(_listing_times(folder, chunk).iter_rows())
    assert sorted(times) == ["a.csv", "b.csv", "c.csv", "d.csv", "link.csv"]
    assert times["a.csv"] == datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)
    assert times["link.csv"] == times["c.csv"] == datetime.fromtimestamp(1_600_000_000, UTC)


def test_a_listing_taken_before_the_run_is_read_once_instead_of_the_folder(tmp_path: Path):
    """The run seal lists every source folder before a run; within `reuse_listings` the
    ingestion's first listing of that folder is that one, filtered to its suffixes (the folder
    is not listed again: a file added since is not in it), and a later one lists the folder."""
    from ingestion.quarantine import list_folder, reuse_listings

    folder = _folder(tmp_path)
    taken = list_folder(folder, ("",))
    (folder / "f.csv").write_bytes(b"x")  # lands after the seal listed the folder
    with reuse_listings({folder / ".": taken}):  # the same folder, however it is written
        first = read_chunks(folder, [".CSV"], None, max_bytes=1000)
        again = list_folder(folder, [".csv"])
    assert first[0].listed.equals(taken.filter(pl.col("file_path") != "e.txt"))
    assert "f.csv" in again["file_path"].to_list()
    assert "f.csv" in list_folder(folder, [".csv"])["file_path"].to_list()  # outside: listed


def test_the_next_chunk_is_read_while_this_one_loads_and_never_the_one_after():
    started: list[int] = []
    threads: set[str] = set()

    def read(chunk: int) -> str:
        started.append(chunk)
        threads.add(threading.current_thread().name)
        return f"batch {chunk}"

    loaded = []
    for chunk, batch in _read_ahead(iter(range(4)), read):
        deadline = time.monotonic() + 10
        while chunk < 3 and chunk + 1 not in started and time.monotonic() < deadline:
            time.sleep(0.01)
        assert started == list(range(min(chunk + 2, 4)))  # chunk + 1 read during this load
        loaded.append((chunk, batch))
    assert loaded == [(chunk, f"batch {chunk}") for chunk in range(4)]
    assert threading.current_thread().name not in threads


def test_a_chunk_that_fails_to_read_raises_in_the_loading_loop():
    def read(chunk: int) -> int:
        if chunk == 1:
            raise ValueError("chunk 1 unreadable")
        return chunk

    loaded = []
    with pytest.raises(ValueError, match="chunk 1 unreadable"):
        for chunk, _batch in _read_ahead(iter(range(3)), read):
            loaded.append(chunk)
    assert loaded == [0]
