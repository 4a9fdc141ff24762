"""Sources are reconciled with their folders: deletions, corrected documents, re-evaluated
duplicates, reader versions and work files of an older version (warehouse/loaders.py)."""

import os
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

import ingestion.quarantine
import warehouse.loaders as loaders
from ingestion.news import read_documents
from ingestion.prices import read_price_files
from tests.warehouse.test_loaders import (
    HEADER,
    con,  # noqa: F401 (fixture)
    manifest_counts,
    news_folder,
    price_folder,
    write,
)
from warehouse.loaders import (
    LISTING_SCHEMA,
    LoadResult,
    files_needing_reread,
    load_news,
    load_prices,
    manifest_hashes,
    manifest_stats,
)
from warehouse.schema import ensure_schema

FB_V2 = "---\nid: fb-1\npublished_at: 2012-07-26T20:05:00Z\n---\nFacebook posts corrected results.\nFacebook: the social network.\n"


def load(con, folder: Path, source: str, read, load_batch) -> list[LoadResult]:
    """As the ingestion asset does: read the changed files with their mtimes and load, again
    while files are flagged for re-reading."""
    results = []
    for _ in range(4):
        batch = read(
            folder, source, skip_hashes=manifest_hashes(con, source),
            skip_stats=manifest_stats(con, source),
        )
        paths = [*batch.files["file_path"].to_list(), *batch.skipped_files]
        mtimes = pl.DataFrame(
            [(path, datetime.fromtimestamp((folder / path).stat().st_mtime, UTC)) for path in paths],
            schema=LISTING_SCHEMA, orient="row",
        )
        results.append(load_batch(con, batch, modified_at=mtimes))
        if not files_needing_reread(con, source):
            return results
    raise AssertionError("still flagged for re-reading after 4 passes")


def touch(path: Path, moment: datetime) -> None:
    os.utime(path, (moment.timestamp(), moment.timestamp()))


def rows(con, sql: str) -> list[tuple]:
    return con.execute(sql).fetchall()


def assert_counts_add_up(con) -> None:
    """read = loaded + quarantined per file, and the manifest agrees with the tables."""
    assert all(read == loaded + quarantined for read, loaded, quarantined in manifest_counts(con))
    assert rows(
        con, "SELECT sum(records_loaded), sum(records_quarantined) FROM audit.ingested_files"
    ) == rows(
        con,
        "SELECT (SELECT count(*) FROM raw.news_documents), (SELECT count(*) FROM audit.quarantine)",
    )


# 1. Deleted inputs


def test_a_deleted_news_file_loses_its_rows_annotations_quarantine_and_manifest(con, tmp_path: Path) -> None:
    folder = news_folder(tmp_path)
    load(con, folder, "news", read_documents, load_news)
    (folder / "fb.txt").unlink()
    (folder / "broken.txt").unlink()

    [result] = load(con, folder, "news", read_documents, load_news)

    assert result == LoadResult(read=0, loaded=0, quarantined=0, skipped_files=1, removed_files=2, removed_records=2)
    assert rows(con, "SELECT file_path FROM audit.ingested_files") == [("000_d3b65a32a009eb2b.txt",)]
    assert rows(con, "SELECT count(*) FROM raw.news_documents WHERE document_id = 'fb-1'") == [(0,)]
    assert rows(con, "SELECT count(*) FROM raw.news_annotations WHERE document_id = 'fb-1'") == [(0,)]
    assert rows(con, "SELECT count(*) FROM audit.quarantine") == [(0,)]
    # Nothing left to remove: the next load is a no-op.
    [again] = load(con, folder, "news", read_documents, load_news)
    assert again == LoadResult(read=0, loaded=0, quarantined=0, skipped_files=1)


def test_a_deleted_price_file_loses_its_bars_and_another_source_is_untouched(con, tmp_path: Path) -> None:
    folder = price_folder(tmp_path)
    other = tmp_path / "other"
    write(other, "IBM.csv", HEADER + "IBM,2012-07-26,1,2,1,2,2,0\n")
    load(con, folder, "prices", read_price_files, load_prices)
    load(con, other, "other", read_price_files, load_prices)
    (folder / "FB.csv").unlink()

    [result] = load(con, folder, "prices", read_price_files, load_prices)

    assert result == LoadResult(read=0, loaded=0, quarantined=0, skipped_files=1, removed_files=1, removed_records=2)
    assert rows(con, "SELECT ticker FROM raw.prices_daily ORDER BY ticker") == [("IBM",), ("^GSPC",)]
    assert rows(con, "SELECT count(*) FROM audit.quarantine") == [(0,)]  # FB.csv's bad row went too
    assert rows(con, "SELECT source_name, file_path FROM audit.ingested_files ORDER BY 1, 2") == [
        ("other", "IBM.csv"),
        ("prices", "GSPC.csv"),
    ]


# 2. Corrected documents


def test_a_corrected_document_under_a_new_name_replaces_the_older_file(con, tmp_path: Path) -> None:
    folder = news_folder(tmp_path)
    touch(folder / "fb.txt", datetime(2024, 1, 1, tzinfo=UTC))
    load(con, folder, "news", read_documents, load_news)
    write(folder, "aa_fb_corrected.txt", FB_V2)  # sorts before fb.txt, but is newer

    [result] = load(con, folder, "news", read_documents, load_news)

    assert result == LoadResult(read=1, loaded=1, quarantined=0, skipped_files=3)
    assert rows(con, "SELECT file_path, body FROM raw.news_documents WHERE document_id = 'fb-1'") == [
        ("aa_fb_corrected.txt", "Facebook posts corrected results.")
    ]
    assert rows(con, "SELECT count(*) FROM raw.news_annotations WHERE document_id = 'fb-1'") == [(1,)]
    [(reason,)] = rows(con, "SELECT reason FROM audit.quarantine WHERE file_path = 'fb.txt'")
    assert reason.startswith("superseded by aa_fb_corrected.txt: document id 'fb-1'")
    assert rows(con, "SELECT records_read, records_loaded, records_quarantined FROM audit.ingested_files WHERE file_path = 'fb.txt'") == [(1, 0, 1)]
    assert_counts_add_up(con)

    # Deleting the correction brings the older version back: its verdict is re-evaluated.
    (folder / "aa_fb_corrected.txt").unlink()
    load(con, folder, "news", read_documents, load_news)
    assert rows(con, "SELECT file_path FROM raw.news_documents WHERE document_id = 'fb-1'") == [("fb.txt",)]
    assert rows(con, "SELECT count(*) FROM audit.quarantine WHERE record_key = 'fb-1'") == [(0,)]
    assert_counts_add_up(con)


def test_an_older_file_with_a_loaded_id_is_quarantined_as_superseded(con, tmp_path: Path) -> None:
    folder = news_folder(tmp_path)
    load(con, folder, "news", read_documents, load_news)
    write(folder, "aa_old_copy.txt", FB_V2)
    touch(folder / "aa_old_copy.txt", datetime(2000, 1, 1, tzinfo=UTC))

    [result] = load(con, folder, "news", read_documents, load_news)

    assert result == LoadResult(read=1, loaded=0, quarantined=1, skipped_files=3)
    assert rows(con, "SELECT file_path FROM raw.news_documents WHERE document_id = 'fb-1'") == [("fb.txt",)]
    [(reason,)] = rows(con, "SELECT reason FROM audit.quarantine WHERE file_path = 'aa_old_copy.txt'")
    assert reason.startswith("superseded by fb.txt")


def test_the_newer_file_wins_whatever_order_the_files_arrived_in(tmp_path: Path) -> None:
    folder = news_folder(tmp_path)
    touch(folder / "fb.txt", datetime(2024, 1, 1, tzinfo=UTC))
    write(folder, "zz_fb_corrected.txt", FB_V2)  # newer; read in the same batch, after fb.txt

    with duckdb.connect(str(tmp_path / "fresh.duckdb")) as fresh:
        load(fresh, folder, "news", read_documents, load_news)
        fresh_state = rows(fresh, "SELECT document_id, file_path, body FROM raw.news_documents ORDER BY 1")
        fresh_quarantine = rows(fresh, "SELECT file_path, record_key FROM audit.quarantine ORDER BY 1")
        assert_counts_add_up(fresh)

    assert ("fb-1", "zz_fb_corrected.txt", "Facebook posts corrected results.") in fresh_state
    assert ("fb.txt", "fb-1") in fresh_quarantine


def test_the_same_id_in_two_sources_stays_a_conflict(con, tmp_path: Path) -> None:
    folder = news_folder(tmp_path)
    other = tmp_path / "other"
    write(other, "fb_again.txt", FB_V2)
    load(con, folder, "news", read_documents, load_news)

    [result] = load(con, other, "wire", read_documents, load_news)

    assert result == LoadResult(read=1, loaded=0, quarantined=1, skipped_files=0)
    assert rows(con, "SELECT reason FROM audit.quarantine WHERE source_name = 'wire'") == [
        ("duplicate document id 'fb-1': already loaded from fb.txt (source news)",)
    ]


# 3. Re-evaluated duplicates


def test_a_conflicting_price_row_loads_once_the_row_it_conflicted_with_is_gone(con, tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    write(folder, "a.csv", HEADER + "FB,2012-07-26,10,11,9,10,10,100\nFB,2012-07-27,10,11,9,10,10,100\n")
    load(con, folder, "prices", read_price_files, load_prices)
    write(folder, "b.csv", HEADER + "FB,2012-07-26,10,11,9,10.5,10.5,100\n")
    load(con, folder, "prices", read_price_files, load_prices)
    assert rows(con, "SELECT reason FROM audit.quarantine WHERE file_path = 'b.csv'") == [
        ("conflicting duplicate ticker+date (also in a.csv row 1)",)
    ]

    write(folder, "a.csv", HEADER + "FB,2012-07-27,10,11,9,10,10,100\n")
    results = load(con, folder, "prices", read_price_files, load_prices)

    assert len(results) == 2  # b.csv was re-read in a second pass
    assert rows(con, "SELECT file_path, close FROM raw.prices_daily WHERE session_date = DATE '2012-07-26'") == [
        ("b.csv", 10.5)
    ]
    assert rows(con, "SELECT count(*) FROM audit.quarantine") == [(0,)]
    assert all(read == loaded + quarantined for read, loaded, quarantined in manifest_counts(con))


def test_rows_the_reader_rejected_as_in_batch_conflicts_load_once_the_other_file_is_gone(
    con, tmp_path: Path
) -> None:
    folder = tmp_path / "prices"
    write(folder, "a.csv", HEADER + "FB,2012-07-26,10,11,9,10,10,100\n")
    write(folder, "b.csv", HEADER + "FB,2012-07-26,10,11,9,10.5,10.5,100\n")
    load(con, folder, "prices", read_price_files, load_prices)
    assert rows(con, "SELECT count(*) FROM raw.prices_daily") == [(0,)]  # both quarantined

    (folder / "a.csv").unlink()
    load(con, folder, "prices", read_price_files, load_prices)

    assert rows(con, "SELECT file_path, close FROM raw.prices_daily") == [("b.csv", 10.5)]
    assert rows(con, "SELECT count(*) FROM audit.quarantine") == [(0,)]


# 4. Reader versions


def test_a_new_parser_version_rereads_unchanged_files(con, tmp_path: Path, monkeypatch) -> None:
    folder = price_folder(tmp_path)
    load(con, folder, "prices", read_price_files, load_prices)
    assert rows(con, "SELECT DISTINCT parser_version FROM audit.ingested_files") == [
        (loaders.PARSER_VERSIONS["csv"],)
    ]
    [unchanged] = load(con, folder, "prices", read_price_files, load_prices)
    assert unchanged.skipped_files == 2

    monkeypatch.setitem(loaders.PARSER_VERSIONS, "csv", "prices-test-2")
    [reread] = load(con, folder, "prices", read_price_files, load_prices)

    assert reread == LoadResult(read=3, loaded=2, quarantined=1, skipped_files=0)
    assert rows(con, "SELECT DISTINCT parser_version FROM audit.ingested_files") == [("prices-test-2",)]


# Work files of an older version

OLD_MANIFEST = """
CREATE SCHEMA audit;
CREATE TABLE audit.ingested_files (
    source_name VARCHAR NOT NULL, file_path VARCHAR NOT NULL, source_type VARCHAR NOT NULL,
    content_hash VARCHAR NOT NULL, records_read BIGINT NOT NULL, records_loaded BIGINT NOT NULL,
    records_quarantined BIGINT NOT NULL, ingested_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_name, file_path)
);
"""


def test_a_work_file_of_the_previous_version_is_migrated_and_reread_once(tmp_path: Path) -> None:
    folder = price_folder(tmp_path)
    path = tmp_path / "old.duckdb"
    with duckdb.connect(str(path)) as old:
        old.execute(OLD_MANIFEST)
        old.execute(
            "INSERT INTO audit.ingested_files VALUES ('prices', 'GSPC.csv', 'csv', 'x', 1, 1, 0, now())"
        )

    with duckdb.connect(str(path)) as con:
        ensure_schema(con)
        columns = {name for (name,) in rows(con, "SELECT column_name FROM information_schema.columns WHERE table_name = 'ingested_files'")}
        assert {"parser_version", "modified_at", "needs_reread", "file_size", "file_mtime_ns"} <= columns
        [result] = load(con, folder, "prices", read_price_files, load_prices)
        ensure_schema(con)  # idempotent on the new shape

        assert result.read == 3 and result.skipped_files == 0
        assert rows(con, "SELECT count(*) FROM audit.ingested_files WHERE parser_version IS NULL") == [(0,)]
        assert rows(con, "SELECT ticker, session_date FROM raw.prices_daily ORDER BY 1") == [
            ("FB", date(2012, 7, 26)),
            ("^GSPC", date(2012, 7, 26)),
        ]


def test_files_quarantined_for_the_same_key_do_not_reread_each_other_for_ever(con, tmp_path: Path) -> None:
    folder = news_folder(tmp_path)
    for name, moment in (("b_copy.txt", datetime(2001, 1, 1, tzinfo=UTC)), ("c_copy.txt", datetime(2002, 1, 1, tzinfo=UTC))):
        write(folder, name, FB_V2)
        touch(folder / name, moment)
    load(con, folder, "news", read_documents, load_news)
    assert rows(con, "SELECT file_path FROM raw.news_documents WHERE document_id = 'fb-1'") == [("fb.txt",)]

    write(folder, "fb.txt", FB_V2.replace("corrected", "final"))  # the winner changes: re-evaluate
    load(con, folder, "news", read_documents, load_news)
    [again] = load(con, folder, "news", read_documents, load_news)

    assert again == LoadResult(read=0, loaded=0, quarantined=0, skipped_files=5)
    assert rows(con, "SELECT file_path, body FROM raw.news_documents WHERE document_id = 'fb-1'") == [
        ("fb.txt", "Facebook posts final results.")
    ]
    assert rows(con, "SELECT file_path FROM audit.quarantine WHERE record_key = 'fb-1' ORDER BY 1") == [
        ("b_copy.txt",),
        ("c_copy.txt",),
    ]
    assert_counts_add_up(con)


def test_identical_duplicates_of_a_removed_row_resolve_to_one_loaded_row(con, tmp_path: Path) -> None:
    folder = tmp_path / "prices"
    write(folder, "a.csv", HEADER + "FB,2012-07-26,10,11,9,10,10,100\n")
    load(con, folder, "prices", read_price_files, load_prices)
    write(folder, "b.csv", HEADER + "FB,2012-07-26,10,11,9,10,10,100\n")
    write(folder, "c.csv", HEADER + "FB,2012-07-26,10,11,9,10,10,100\n")
    load(con, folder, "prices", read_price_files, load_prices)
    (folder / "a.csv").unlink()

    load(con, folder, "prices", read_price_files, load_prices)
    [again] = load(con, folder, "prices", read_price_files, load_prices)

    assert again == LoadResult(read=0, loaded=0, quarantined=0, skipped_files=2)
    assert rows(con, "SELECT file_path FROM raw.prices_daily") == [("b.csv",)]
    assert rows(con, "SELECT file_path, reason FROM audit.quarantine") == [("c.csv", "duplicate of b.csv row 1")]


# 5. Unchanged files skipped by their size and modification time


def test_a_file_with_its_recorded_size_and_mtime_is_skipped_unopened(
    con, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = news_folder(tmp_path)
    load(con, folder, "news", read_documents, load_news)
    recorded = manifest_stats(con, "news")
    assert sorted(recorded.iter_rows()) == sorted(
        (path.name, path.stat().st_size, path.stat().st_mtime_ns) for path in folder.glob("*.txt")
    )
    opened: list[str] = []
    read_file = ingestion.quarantine._source_file
    monkeypatch.setattr(
        ingestion.quarantine, "_source_file",
        lambda path, rel_path, *rest: opened.append(rel_path) or read_file(path, rel_path, *rest),
    )

    [unchanged] = load(con, folder, "news", read_documents, load_news)
    assert opened == [] and unchanged.skipped_files == len(recorded) and unchanged.read == 0

    fb = folder / "fb.txt"
    touch(fb, datetime(2003, 1, 1, tzinfo=UTC))  # a new mtime, the same bytes: hashed, skipped
    [touched] = load(con, folder, "news", read_documents, load_news)
    assert opened == ["fb.txt"] and touched.read == 0 and touched.skipped_files == len(recorded)
    load(con, folder, "news", read_documents, load_news)  # its new stats were recorded
    assert opened == ["fb.txt"]

    write(folder, "fb.txt", fb.read_text(encoding="utf-8").replace("Facebook", "FACEBOOK"))
    [changed] = load(con, folder, "news", read_documents, load_news)
    assert changed.read == 1  # the same size, another mtime and hash: read again
    assert ("fb.txt", fb.stat().st_size, fb.stat().st_mtime_ns) in manifest_stats(con, "news").rows()
    assert_counts_add_up(con)
