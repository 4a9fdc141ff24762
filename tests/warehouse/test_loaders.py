from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest

from ingestion.calendar import build_sessions
from ingestion.news import read_documents
from ingestion.prices import read_price_files
from tests.conftest import SAMPLES
from warehouse.loaders import LoadResult, load_news, load_prices, load_sessions, manifest_hashes

SEED = SAMPLES / "news" / "000_d3b65a32a009eb2b.txt"  # the seed document, byte for byte
HEADER = "Ticker,Date,Open,High,Low,Close,Adj Close,Volume\n"
TABLES = (
    "raw.news_documents",
    "raw.news_annotations",
    "raw.prices_daily",
    "raw.exchange_sessions",
    "audit.quarantine",
    "audit.ingested_files",
)
FIRST_LOAD = datetime(2024, 1, 1, tzinfo=UTC)
SECOND_LOAD = datetime(2024, 1, 2, tzinfo=UTC)


def write(root: Path, rel_path: str, content: str | bytes) -> None:
    path = root / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


@pytest.fixture
def con(tmp_path: Path):
    connection = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    yield connection
    connection.close()


def snapshot(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    return {table: sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr) for table in TABLES}


def assert_same_contents(con: duckdb.DuckDBPyConnection, before: str) -> None:
    """`before` is a schema holding copies of TABLES; compare both ways with EXCEPT ALL."""
    for table in TABLES:
        copy = f"{before}.{table.replace('.', '__')}"
        for left, right in ((table, copy), (copy, table)):
            extra = con.execute(f"SELECT count(*) FROM (FROM {left} EXCEPT ALL FROM {right})").fetchone()
            assert extra == (0,), f"{left} has rows {right} lacks"


def copy_tables(con: duckdb.DuckDBPyConnection, schema: str) -> None:
    con.execute(f"CREATE SCHEMA {schema}")
    for table in TABLES:
        con.execute(f"CREATE TABLE {schema}.{table.replace('.', '__')} AS FROM {table}")


def news_folder(root: Path) -> Path:
    folder = root / "news"
    write(folder, SEED.name, SEED.read_bytes())
    write(folder, "fb.txt", "---\nid: fb-1\npublished_at: 2012-07-26T20:05:00Z\n---\nFacebook posts results.\nFacebook: the social network.\n$FB: ticker of Facebook.\n")
    write(folder, "broken.txt", b"\xff\xfe")
    return folder


def price_folder(root: Path) -> Path:
    folder = root / "prices"
    write(folder, "FB.csv", HEADER + "FB,2012-07-26,10,11,9,10,10,100\nFB,2012-07-27,10,11,12,10,10,100\n")
    write(folder, "GSPC.csv", HEADER + "^GSPC,2012-07-26,1,2,1,2,2,0\n")
    return folder


def manifest_counts(con: duckdb.DuckDBPyConnection) -> list[tuple]:
    return con.execute(
        "SELECT records_read, records_loaded, records_quarantined FROM audit.ingested_files"
    ).fetchall()


def test_news_load_counts_and_contents(con, tmp_path: Path) -> None:
    result = load_news(con, read_documents(news_folder(tmp_path), "news"), now=FIRST_LOAD)

    assert result == LoadResult(read=3, loaded=2, quarantined=1, skipped_files=0)
    assert con.execute("SELECT count(*) FROM raw.news_annotations").fetchone() == (8,)
    published = con.execute(
        "SELECT published_at, front_matter->>'$.id', ingested_at FROM raw.news_documents WHERE document_id = 'fb-1'"
    ).fetchone()
    assert published == (datetime(2012, 7, 26, 20, 5, tzinfo=UTC), "fb-1", FIRST_LOAD)
    assert con.execute("SELECT file_path, quarantined_at FROM audit.quarantine").fetchall() == [
        ("broken.txt", FIRST_LOAD)
    ]
    assert all(read == loaded + quarantined for read, loaded, quarantined in manifest_counts(con))


def test_loading_twice_leaves_tables_identical(con, tmp_path: Path) -> None:
    news = read_documents(news_folder(tmp_path), "news")
    prices_folder = price_folder(tmp_path)
    prices = read_price_files(prices_folder, "prices")
    load_news(con, news, now=FIRST_LOAD)
    load_prices(con, prices, now=FIRST_LOAD)
    load_sessions(con, build_sessions("XNYS", date(2012, 7, 1), date(2012, 8, 1)))
    before = snapshot(con)
    copy_tables(con, "before")

    # Same batch objects (the manifest spots the unchanged hashes) and a fresh read with skip_hashes.
    assert load_news(con, news, now=SECOND_LOAD) == LoadResult(0, 0, 0, skipped_files=3)
    assert load_prices(con, prices, now=SECOND_LOAD) == LoadResult(0, 0, 0, skipped_files=2)
    # (the same files: rewritten, they would have new mtimes, which the manifest records)
    rereading = read_price_files(prices_folder, "prices", skip_hashes=manifest_hashes(con, "prices"))
    assert load_prices(con, rereading, now=SECOND_LOAD) == LoadResult(0, 0, 0, skipped_files=2)
    load_sessions(con, build_sessions("XNYS", date(2012, 7, 1), date(2012, 8, 1)))

    assert_same_contents(con, "before")
    assert snapshot(con) == before


def test_changed_file_replaces_its_rows(con, tmp_path: Path) -> None:
    folder = news_folder(tmp_path)
    load_news(con, read_documents(folder, "news"), now=FIRST_LOAD)

    write(folder, "fb.txt", "---\nid: fb-2\n---\nFacebook revised results.\n$FB: ticker of Facebook.\n")
    write(folder, "broken.txt", "Now readable.\nMeta: the company.\n")
    result = load_news(
        con, read_documents(folder, "news", skip_hashes=manifest_hashes(con, "news")), now=SECOND_LOAD
    )

    assert result == LoadResult(read=2, loaded=2, quarantined=0, skipped_files=1)
    documents = con.execute(
        "SELECT document_id, file_path, ingested_at FROM raw.news_documents ORDER BY document_id"
    ).fetchall()
    assert documents == [
        (SEED.stem, SEED.name, FIRST_LOAD),  # unchanged file keeps its ingested_at
        ("broken", "broken.txt", SECOND_LOAD),
        ("fb-2", "fb.txt", SECOND_LOAD),
    ]
    assert con.execute(
        "SELECT annotation_key FROM raw.news_annotations WHERE document_id LIKE 'fb%'"
    ).fetchall() == [("$FB",)]
    assert con.execute("SELECT count(*) FROM audit.quarantine").fetchone() == (0,)
    assert con.execute(
        "SELECT file_path, records_loaded, ingested_at FROM audit.ingested_files ORDER BY file_path"
    ).fetchall() == [
        (SEED.name, 1, FIRST_LOAD),
        ("broken.txt", 1, SECOND_LOAD),
        ("fb.txt", 1, SECOND_LOAD),
    ]


def test_document_id_in_another_file_of_the_source_without_mtimes_keeps_the_lower_path(
    con, tmp_path: Path
) -> None:
    folder = news_folder(tmp_path)
    load_news(con, read_documents(folder, "news"), now=FIRST_LOAD)
    write(folder, "zz_copy.txt", "---\nid: fb-1\n---\nA copy.\nFacebook: the company.\n")

    result = load_news(con, read_documents(folder, "news", skip_hashes=manifest_hashes(con, "news")))

    assert result == LoadResult(read=1, loaded=0, quarantined=1, skipped_files=3)
    assert con.execute(
        "SELECT record_key, reason FROM audit.quarantine WHERE file_path = 'zz_copy.txt'"
    ).fetchall() == [(
        "fb-1",
        "superseded by fb.txt: document id 'fb-1' is in both files of this source and that one is"
        " newer (or as new, with a lower path)",
    )]
    assert con.execute("SELECT file_path FROM raw.news_documents WHERE document_id = 'fb-1'").fetchall() == [
        ("fb.txt",)
    ]
    assert con.execute("SELECT count(*) FROM raw.news_annotations WHERE document_id = 'fb-1'").fetchone() == (2,)


def test_prices_load_counts(con, tmp_path: Path) -> None:
    result = load_prices(con, read_price_files(price_folder(tmp_path), "prices"), now=FIRST_LOAD)

    assert result == LoadResult(read=3, loaded=2, quarantined=1, skipped_files=0)
    assert con.execute("SELECT ticker, session_date, adj_close, ingested_at FROM raw.prices_daily ORDER BY ticker").fetchall() == [
        ("FB", date(2012, 7, 26), 10.0, FIRST_LOAD),
        ("^GSPC", date(2012, 7, 26), 2.0, FIRST_LOAD),
    ]
    assert con.execute("SELECT file_path, row_number, record_key, reason FROM audit.quarantine").fetchall() == [
        ("FB.csv", 2, "FB@2012-07-27", "Low 12 > High 11")
    ]
    assert all(read == loaded + quarantined for read, loaded, quarantined in manifest_counts(con))


def test_price_duplicates_against_other_files(con, tmp_path: Path) -> None:
    folder = price_folder(tmp_path)
    load_prices(con, read_price_files(folder, "prices"), now=FIRST_LOAD)
    write(folder, "more/FB_again.csv", HEADER + "FB,2012-07-26,10,11,9,10,10,100\nFB,2012-07-30,10,11,9,10,10,100\n")
    again = load_prices(con, read_price_files(folder, "prices", skip_hashes=manifest_hashes(con, "prices")))
    write(folder, "more/FB_conflict.csv", HEADER + "FB,2012-07-26,10,11,9,10.5,10.5,100\n")
    conflict = load_prices(con, read_price_files(folder, "prices", skip_hashes=manifest_hashes(con, "prices")))

    assert again == LoadResult(read=2, loaded=1, quarantined=1, skipped_files=2)
    assert conflict == LoadResult(read=1, loaded=0, quarantined=1, skipped_files=3)
    assert con.execute(
        "SELECT file_path, row_number, record_key, reason, raw_value FROM audit.quarantine"
        " WHERE file_path LIKE 'more/%' ORDER BY file_path"
    ).fetchall() == [
        ("more/FB_again.csv", 1, "FB@2012-07-26", "duplicate of FB.csv row 1", "FB,2012-07-26,10,11,9,10,10,100"),
        (
            "more/FB_conflict.csv",
            1,
            "FB@2012-07-26",
            "conflicting duplicate ticker+date (also in FB.csv row 1)",
            "FB,2012-07-26,10,11,9,10.5,10.5,100",
        ),
    ]
    assert con.execute(
        "SELECT session_date, file_path FROM raw.prices_daily WHERE ticker = 'FB' ORDER BY session_date"
    ).fetchall() == [(date(2012, 7, 26), "FB.csv"), (date(2012, 7, 30), "more/FB_again.csv")]
    assert all(read == loaded + quarantined for read, loaded, quarantined in manifest_counts(con))


def test_changed_price_file_replaces_rows_and_quarantine(con, tmp_path: Path) -> None:
    folder = price_folder(tmp_path)
    load_prices(con, read_price_files(folder, "prices"), now=FIRST_LOAD)
    write(folder, "FB.csv", HEADER + "FB,2012-07-27,10,12,9,11,11,100\n")

    result = load_prices(con, read_price_files(folder, "prices", skip_hashes=manifest_hashes(con, "prices")), now=SECOND_LOAD)

    assert result == LoadResult(read=1, loaded=1, quarantined=0, skipped_files=1)
    assert con.execute("SELECT ticker, session_date, close, ingested_at FROM raw.prices_daily ORDER BY ticker").fetchall() == [
        ("FB", date(2012, 7, 27), 11.0, SECOND_LOAD),
        ("^GSPC", date(2012, 7, 26), 2.0, FIRST_LOAD),
    ]
    assert con.execute("SELECT count(*) FROM audit.quarantine").fetchone() == (0,)


def test_the_same_calendar_again_is_left_alone(con) -> None:
    """Its rows keep their `ingested_at`: the raw calendar checks select nothing new."""
    sessions = build_sessions("XNYS", date(2012, 1, 1), date(2012, 12, 31))
    assert load_sessions(con, sessions, now=FIRST_LOAD) == 250
    assert load_sessions(con, sessions, now=SECOND_LOAD) == 0
    assert con.execute(
        "SELECT count(*), min(ingested_at), max(ingested_at) FROM raw.exchange_sessions"
    ).fetchall() == [(250, FIRST_LOAD, FIRST_LOAD)]
    # one session changed (an early close): the calendar is written again, whole
    changed = sessions.with_columns(is_early_close=pl.col("session_date") == date(2012, 3, 1))
    assert load_sessions(con, changed, now=SECOND_LOAD) == 250
    assert con.execute(
        "SELECT count(*) FILTER (is_early_close), min(ingested_at) FROM raw.exchange_sessions"
    ).fetchall() == [(changed["is_early_close"].sum(), SECOND_LOAD)]


def test_sessions_replace_the_calendar(con) -> None:
    load_sessions(con, build_sessions("XNYS", date(2012, 1, 1), date(2012, 12, 31)))
    written = load_sessions(con, build_sessions("XNYS", date(2012, 11, 1), date(2012, 11, 30)))

    assert written == 21
    assert con.execute(
        "SELECT min(session_date), max(session_date), max(session_index) - min(session_index), count(*)"
        " FROM raw.exchange_sessions"
    ).fetchone() == (date(2012, 11, 1), date(2012, 11, 30), 20, 21)
    assert con.execute(
        "SELECT close_at FROM raw.exchange_sessions WHERE session_date = DATE '2012-11-23'"
    ).fetchone() == (datetime(2012, 11, 23, 18, 0, tzinfo=UTC),)


def test_data_persists_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with duckdb.connect(str(path)) as first:
        load_news(first, read_documents(news_folder(tmp_path), "news"))
    with duckdb.connect(str(path)) as second:
        assert second.execute("SELECT count(*) FROM raw.news_documents").fetchone() == (2,)
        assert manifest_hashes(second, "news").keys() == {SEED.name, "fb.txt", "broken.txt"}
