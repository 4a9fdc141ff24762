from datetime import date
from pathlib import Path

import polars as pl

from ingestion.limits import RAW_VALUE_MAX_CHARS
from ingestion.prices import read_price_files, ticker_from_file_stem
from ingestion.quarantine import TRUNCATED

HEADER = "Ticker,Date,Open,High,Low,Close,Adj Close,Volume\n"


def write(root: Path, rel_path: str, content: str | bytes) -> None:
    path = root / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


def reasons_by_row(batch, file_path: str) -> dict[int | None, str]:
    rows = batch.quarantine.filter(pl.col("file_path") == file_path)
    return dict(zip(rows["row_number"], rows["reason"], strict=True))


def assert_counts_add_up(batch) -> None:
    files = batch.files
    assert (files["records_read"] == files["records_loaded"] + files["records_quarantined"]).all()
    assert files["records_loaded"].sum() == batch.prices.height
    assert files["records_quarantined"].sum() == batch.quarantine.height


def test_reads_header_variants_and_defaults(tmp_path: Path) -> None:
    write(tmp_path, "AAPL.csv", "date,OPEN,high,Low,close,volume\n2012-01-03,10,11,9,10.5,100\n")
    write(tmp_path, "stooq/msft.us.txt", "Date,Open,High,Low,Close,AdjClose,Volume\n2012-01-03,5,6,4,5.5,5.25,7\n")
    write(tmp_path, "index.csv", "Symbol,Date,Open,High,Low,Close,adj_close,Volume\n^gspc,2012-01-03,1,2,1,2,2,0\n")

    batch = read_price_files(tmp_path, "prices")

    assert batch.quarantine.is_empty()
    rows = {row["ticker"]: row for row in batch.prices.to_dicts()}
    assert set(rows) == {"AAPL", "MSFT", "^GSPC"}
    assert rows["AAPL"]["adj_close"] == 10.5  # no Adj Close column: the close
    assert rows["AAPL"]["session_date"] == date(2012, 1, 3)
    assert rows["AAPL"]["row_number"] == 1
    assert rows["AAPL"]["raw_value"] == "2012-01-03,10,11,9,10.5,100"
    assert rows["MSFT"]["adj_close"] == 5.25
    assert rows["MSFT"]["file_path"] == "stooq/msft.us.txt"
    assert rows["^GSPC"]["volume"] == 0.0
    assert ticker_from_file_stem("aapl.us") == "AAPL"
    assert_counts_add_up(batch)


def test_each_bad_row_is_quarantined_with_its_reason(tmp_path: Path) -> None:
    write(
        tmp_path,
        "X.csv",
        HEADER
        + "X,2012-01-03,10,11,9,10,10,100\n"  # 1 good
        + "X,2012/01/04,10,11,9,10,10,100\n"  # 2 unparseable date
        + "X,2012-01-05,ten,11,9,10,10,100\n"  # 3 unparseable number
        + "X,2012-01-06,10,11,9,,10,100\n"  # 4 missing close
        + "X,2012-01-09,10,9,11,10,10,100\n"  # 5 low > high
        + "X,2012-01-10,12,11,9,10,10,100\n"  # 6 open above high
        + "X,2012-01-11,10,11,9,8,10,100\n"  # 7 close below low
        + "X,2012-01-12,10,11,0,10,10,100\n"  # 8 non-positive low (and open outside? no: 10 in [0,11])
        + "X,2012-01-13,10,11,9,10,10,-5\n"  # 9 negative volume
        + "X,2012-01-14,10,11,9,10,nan,100\n"  # 10 non-finite adj close
        + "\n"  # blank line: not a record
        + "X,2012-01-17,10,11,9,10,10,100\n",  # 12 good
    )

    batch = read_price_files(tmp_path, "prices")

    assert batch.prices["row_number"].to_list() == [1, 12]
    assert reasons_by_row(batch, "X.csv") == {
        2: "unparseable Date '2012/01/04'",
        3: "unparseable Open 'ten'",
        4: "missing Close",
        5: "Low 11 > High 9",
        6: "Open 12 outside [Low 9, High 11]",
        7: "Close 8 outside [Low 9, High 11]",
        8: "non-positive Low 0",
        9: "negative Volume -5",
        10: "unparseable Adj Close 'nan'",
    }
    quarantined = batch.quarantine.filter(pl.col("row_number") == 5).to_dicts()[0]
    assert quarantined["record_key"] == "X@2012-01-09"
    assert quarantined["raw_value"] == "X,2012-01-09,10,9,11,10,10,100"
    assert quarantined["source_type"] == "csv"
    assert batch.quarantine.filter(pl.col("row_number") == 2)["record_key"].to_list() == [None]
    assert batch.files["records_read"].to_list() == [11]
    assert_counts_add_up(batch)


def test_a_row_gets_every_reason_that_applies(tmp_path: Path) -> None:
    write(tmp_path, "Y.csv", HEADER + "Y,someday,-1,11,9,10,10,-1\n")
    batch = read_price_files(tmp_path, "prices")
    assert reasons_by_row(batch, "Y.csv") == {
        1: "unparseable Date 'someday'; non-positive Open -1; negative Volume -1; "
        "Open -1 outside [Low 9, High 11]"
    }


def test_whole_file_rejections(tmp_path: Path) -> None:
    write(tmp_path, "A.csv", "Date,Open,Close\n2012-01-03,1,1\n")
    write(tmp_path, "B.csv", b"Date,Open,High,Low,Close,Volume\n2012-01-03,1,1,1,1,\xff\n")
    write(tmp_path, "C.csv", "")
    write(tmp_path, "D.csv", "Ticker,Symbol,Date,Open,High,Low,Close,Volume\n")

    batch = read_price_files(tmp_path, "prices")

    assert batch.prices.is_empty()
    assert reasons_by_row(batch, "A.csv") == {None: "missing required column(s): High, Low, Volume"}
    assert reasons_by_row(batch, "B.csv") == {None: "not valid UTF-8: byte 0xff at offset 51"}
    assert reasons_by_row(batch, "C.csv") == {None: "empty file: a header row is required"}
    assert reasons_by_row(batch, "D.csv") == {None: "columns 'Ticker' and 'Symbol' both give the Ticker"}
    assert batch.files["records_read"].to_list() == [1, 1, 1, 1]
    assert_counts_add_up(batch)


def test_duplicates_inside_the_batch(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", HEADER + "X,2012-01-03,10,11,9,10,10,100\nX,2012-01-04,10,11,9,10,10,100\n")
    write(
        tmp_path,
        "b.csv",
        HEADER
        + "X,2012-01-03,10,11,9,10,10,100\n"  # identical to a.csv row 1
        + "X,2012-01-04,10,11,9,10.5,10,100\n"  # conflicts with a.csv row 2
        + "X,2012-01-05,10,11,9,10,10,100\n"
        + "X,2012-01-05,10,11,9,10,10,100\n",  # identical to row 3 of the same file
    )

    batch = read_price_files(tmp_path, "prices")

    loaded = batch.prices.select("file_path", "row_number").rows()
    assert loaded == [("a.csv", 1), ("b.csv", 3)]
    assert reasons_by_row(batch, "a.csv") == {
        2: "conflicting duplicate ticker+date (also in b.csv row 2)"
    }
    assert reasons_by_row(batch, "b.csv") == {
        1: "duplicate of a.csv row 1",
        2: "conflicting duplicate ticker+date (also in a.csv row 2)",
        4: "duplicate of b.csv row 3",
    }
    assert_counts_add_up(batch)


def test_unchanged_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a.csv", HEADER + "X,2012-01-03,10,11,9,10,10,100\n")
    first = read_price_files(tmp_path, "prices")
    hashes = dict(zip(first.files["file_path"], first.files["content_hash"], strict=True))

    second = read_price_files(tmp_path, "prices", skip_hashes=hashes)

    assert second.skipped_files == ("a.csv",)
    assert second.prices.is_empty() and second.files.is_empty()


def test_a_quarantined_rows_raw_value_is_cut_only_past_the_limit(tmp_path: Path) -> None:
    """Up to RAW_VALUE_MAX_CHARS characters a row's raw value is the row itself; one more and it
    is cut, with the marker; a NUL anywhere in the file is shown as U+FFFD."""
    prefix = "NOPE,2012-01-03,1,2,1,2,2,0,"  # an unparseable date: quarantined, raw value kept
    fits = prefix + "é" * (RAW_VALUE_MAX_CHARS - len(prefix))  # 1000 characters, more bytes
    over = prefix + "x" * (RAW_VALUE_MAX_CHARS + 1 - len(prefix))
    header = "Date,Ticker,Open,High,Low,Close,Adj Close,Volume,Note\n"
    write(tmp_path, "fits.csv", header + fits + "\n")
    write(tmp_path, "over.csv", header + over + "\n")
    write(tmp_path, "nul.csv", header + prefix + "a\0b\n")

    batch = read_price_files(tmp_path, "prices")

    raw = dict(zip(batch.quarantine["file_path"], batch.quarantine["raw_value"], strict=True))
    assert raw["fits.csv"] == fits
    assert raw["over.csv"] == over[:RAW_VALUE_MAX_CHARS] + TRUNCATED
    assert raw["nul.csv"] == prefix + "a\ufffdb"
    assert_counts_add_up(batch)
