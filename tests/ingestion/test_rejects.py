"""What ingestion rejects (ingestion/limits.py, docs/inputs.md): every rule a blocking raw GX
check applies is enforced by the readers, so one bad record is quarantined and the run goes on."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ingestion import limits
from ingestion.news import read_documents
from ingestion.prices import read_price_files
from ingestion.quarantine import TRUNCATED

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
HEADER = "Ticker,Date,Open,High,Low,Close,Adj Close,Volume\n"
GOOD_DOC = "Apple shipped a phone.\nApple: Apple Inc. makes phones.\n$AAPL: the ticker of Apple.\n"


def write(root: Path, rel_path: str, content: str | bytes) -> Path:
    path = root / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def doc(published_at: str | None = None, annotations: str = "$AAPL: the ticker of Apple.\n", **fields: str) -> str:
    front = {"published_at": published_at, **fields}
    lines = [f"{key}: {value}" for key, value in front.items() if value is not None]
    head = "---\n" + "\n".join(lines) + "\n---\n" if lines else ""
    return head + "Apple shipped a phone.\n" + annotations


def reasons(batch) -> dict[str, str]:
    """file_path -> the reasons of its quarantine rows, joined."""
    grouped = batch.quarantine.group_by("file_path").agg(pl.col("reason").str.join(" | "))
    return dict(grouped.iter_rows())


def assert_counts_add_up(batch, loaded: pl.DataFrame) -> None:
    files = batch.files
    assert (files["records_read"] == files["records_loaded"] + files["records_quarantined"]).all()
    assert files["records_loaded"].sum() == loaded.height
    assert files["records_quarantined"].sum() == batch.quarantine.height


# News ----------------------------------------------------------------------------------------


def test_published_at_outside_1970_to_the_run_time_is_quarantined(tmp_path: Path) -> None:
    write(tmp_path, "far_future.txt", doc("2099-01-01T00:00:00Z"))
    write(tmp_path, "tomorrow.txt", doc((NOW + timedelta(days=1)).isoformat()))
    write(tmp_path, "a_second_late.txt", doc((NOW + timedelta(seconds=1)).isoformat()))
    write(tmp_path, "before_1970.txt", doc("1969-12-31T23:59:59Z"))
    write(tmp_path, "at_now.txt", doc(NOW.isoformat()))
    write(tmp_path, "epoch.txt", doc("1970-01-01T00:00:00Z"))

    batch = read_documents(tmp_path, "news", now=NOW)

    assert sorted(batch.documents["document_id"]) == ["at_now", "epoch"]
    got = reasons(batch)
    assert set(got) == {"far_future.txt", "tomorrow.txt", "a_second_late.txt", "before_1970.txt"}
    assert "published_at '2099-01-01T00:00:00Z' is outside [1970-01-01T00:00:00Z" in got["far_future.txt"]
    assert "the run time 2026-11-25T12:00:00Z" in got["tomorrow.txt"]
    assert_counts_add_up(batch, batch.documents)


def test_now_defaults_to_the_current_time(tmp_path: Path) -> None:
    write(tmp_path, "tomorrow.txt", doc((datetime.now(UTC) + timedelta(days=1)).isoformat()))
    write(tmp_path, "yesterday.txt", doc((datetime.now(UTC) - timedelta(days=1)).isoformat()))

    batch = read_documents(tmp_path, "news")

    assert batch.documents["document_id"].to_list() == ["yesterday"]
    assert list(reasons(batch)) == ["tomorrow.txt"]


def test_nul_bytes_are_quarantined_not_loaded(tmp_path: Path) -> None:
    write(tmp_path, "nuls.txt", b"\0" * 4096)
    write(tmp_path, "one_nul.txt", GOOD_DOC.replace("phone", "ph\0one"))
    write(tmp_path, "good.txt", GOOD_DOC)

    batch = read_documents(tmp_path, "news", now=NOW)

    assert batch.documents["document_id"].to_list() == ["good"]
    got = reasons(batch)
    assert got["nuls.txt"].startswith("NUL byte at character 0")
    assert got["one_nul.txt"].startswith("NUL byte at character")
    assert not batch.quarantine["raw_value"].str.contains("\0", literal=True).any()


@pytest.mark.parametrize(
    "key",
    ["$", "$$", "$ΑAPL", "$АAPL", "$ＡＡＰＬ", "$ AAPL", "$AAPL\u200b", "$" + "A" * 16],
    ids=["empty", "double", "greek", "cyrillic", "fullwidth", "inner_space", "zwsp", "long"],
)
def test_a_bad_cashtag_quarantines_its_document_and_makes_no_entity(tmp_path: Path, key: str) -> None:
    write(tmp_path, "bad.txt", doc(annotations=f"Apple: Apple Inc.\n{key}: not a ticker.\n"))
    write(tmp_path, "good.txt", GOOD_DOC)

    batch = read_documents(tmp_path, "news", now=NOW)

    assert batch.documents["document_id"].to_list() == ["good"]
    assert batch.annotations["document_id"].unique().to_list() == ["good"]
    reason = reasons(batch)["bad.txt"]
    assert reason.startswith("annotation 2: cashtag ") and "the whole document is quarantined" in reason
    assert_counts_add_up(batch, batch.documents)


def test_homoglyph_reason_shows_the_nfkc_form_without_converting(tmp_path: Path) -> None:
    write(tmp_path, "fullwidth.txt", doc(annotations="$ＡＡＰＬ: Apple.\n"))

    batch = read_documents(tmp_path, "news", now=NOW)

    assert batch.documents.is_empty() and batch.annotations.is_empty()
    assert "'$ＡＡＰＬ' (NFKC '$AAPL')" in reasons(batch)["fullwidth.txt"]


def test_valid_cashtags_are_loaded(tmp_path: Path) -> None:
    keys = ["$AAPL", "$BRK.B", "$BRK-B", "$^GSPC", "$EURUSD=X", "$meta"]
    write(tmp_path, "good.txt", doc(annotations="".join(f"{key}: a ticker.\n" for key in keys)))

    batch = read_documents(tmp_path, "news", now=NOW)

    assert batch.quarantine.is_empty()
    assert batch.annotations["annotation_key"].to_list() == keys


def test_documents_over_the_annotation_cap_are_quarantined(tmp_path: Path) -> None:
    cap = limits.MAX_ANNOTATIONS_PER_DOCUMENT
    write(tmp_path, "at_cap.txt", doc(annotations="".join(f"$T{i}: t.\n" for i in range(cap))))
    write(tmp_path, "spam.txt", doc(annotations="".join(f"$T{i}: t.\n" for i in range(10_000))))

    batch = read_documents(tmp_path, "news", now=NOW)

    assert batch.documents["document_id"].to_list() == ["at_cap"]
    assert batch.annotations.height == cap
    assert reasons(batch)["spam.txt"].startswith(f"10,000 annotation lines, over the {cap}-annotation limit")
    assert len(batch.quarantine["raw_value"][0]) == limits.RAW_VALUE_MAX_CHARS + len(TRUNCATED)


@pytest.mark.parametrize(
    ("field", "max_chars"),
    [
        ("title", limits.MAX_TITLE_CHARS),
        ("source", limits.MAX_SOURCE_CHARS),
        ("url", limits.MAX_URL_CHARS),
        ("id", limits.MAX_DOCUMENT_ID_CHARS),
    ],
)
def test_over_long_fields_are_quarantined_with_a_short_reason(
    tmp_path: Path, field: str, max_chars: int
) -> None:
    write(tmp_path, "at_limit.txt", doc("2020-01-01T00:00:00Z", **{field: "x" * max_chars}))
    write(tmp_path, "over.txt", doc("2020-01-01T00:00:00Z", **{field: "y" * (max_chars + 1)}))

    batch = read_documents(tmp_path, "news", now=NOW)

    assert batch.documents.height == 1 and batch.documents["file_path"].to_list() == ["at_limit.txt"]
    reason = reasons(batch)["over.txt"]
    assert f"{max_chars + 1:,} characters, over the {max_chars:,}-character limit" in reason
    assert len(reason) < 300


def test_over_long_annotation_description_is_quarantined(tmp_path: Path) -> None:
    too_long = "d" * (limits.MAX_ANNOTATION_DESCRIPTION_CHARS + 1)
    write(tmp_path, "long.txt", doc(annotations=f"Apple: {too_long}\n"))

    batch = read_documents(tmp_path, "news", now=NOW)

    assert batch.documents.is_empty()
    assert reasons(batch)["long.txt"].startswith("annotation 1: description 'ddd")


# Files: links, odd names, sizes ----------------------------------------------------------------


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    secret = write(tmp_path / "elsewhere", "secret.csv", "SECRET-CONTENT,1\n")
    return secret


@pytest.mark.parametrize("reader", ["news", "prices"])
def test_links_out_of_the_folder_dangling_links_and_hidden_files_are_quarantined_unread(
    tmp_path: Path, outside: Path, reader: str
) -> None:
    root = tmp_path / "source"
    suffix = ".txt" if reader == "news" else ".csv"
    good = GOOD_DOC if reader == "news" else HEADER + "AAPL,2020-01-02,1,2,1,2,2,10\n"
    write(root, f"good{suffix}", good)
    write(root, f".hidden{suffix}", good)
    write(root, suffix, good)  # a file named just '.txt' / '.csv'
    write(root, f".git/inside{suffix}", good)
    (root / f"out{suffix}").symlink_to(outside)
    (root / f"passwd{suffix}").symlink_to("/etc/passwd")
    (root / f"dangling{suffix}").symlink_to(root / "missing")
    (root / f"inside{suffix}").symlink_to(root / f"good{suffix}")

    if reader == "news":
        batch = read_documents(root, "src", now=NOW)
        loaded = batch.documents
    else:
        batch = read_price_files(root, "src", now=NOW)
        loaded = batch.prices

    got = reasons(batch)
    assert "outside the source folder" in got[f"out{suffix}"]
    assert "outside the source folder" in got[f"passwd{suffix}"]
    assert got[f"dangling{suffix}"].startswith("dangling symbolic link")
    for hidden in (f".hidden{suffix}", suffix, f".git/inside{suffix}"):
        assert got[hidden].startswith("hidden file"), hidden
    # A link inside the folder is not read either: its target is read once, under its own path.
    assert got[f"inside{suffix}"] == (
        f"symbolic link to good{suffix}, inside the source folder: "
        "not read (a file in the folder is read under its own path, once)"
    )
    assert batch.quarantine["raw_value"].is_null().all()
    assert set(loaded["file_path"]) == {f"good{suffix}"}
    assert_counts_add_up(batch, loaded)


@pytest.mark.parametrize("reader", ["news", "prices"])
def test_a_file_over_the_size_limit_is_quarantined_whole_unread(tmp_path: Path, reader: str) -> None:
    if reader == "news":
        write(tmp_path, "big.txt", GOOD_DOC * 100)
        batch = read_documents(tmp_path, "news", now=NOW, max_bytes=1000)
    else:
        write(tmp_path, "big.csv", HEADER + "AAPL,2020-01-02,1,2,1,2,2,10\n" * 100)
        batch = read_price_files(tmp_path, "prices", now=NOW, max_bytes=1000)

    [row] = batch.quarantine.to_dicts()
    assert row["reason"].endswith("over the 1,000-byte limit")
    assert row["raw_value"] is None and row["row_number"] is None
    assert batch.files["records_read"].to_list() == [1]
    assert batch.files["content_hash"].str.len_chars().to_list() == [64]


def test_the_default_price_file_limit_is_the_constant() -> None:
    assert read_price_files.__kwdefaults__["max_bytes"] == limits.MAX_PRICE_FILE_BYTES
    assert read_documents.__kwdefaults__["max_bytes"] == limits.MAX_DOCUMENT_FILE_BYTES


# Prices ----------------------------------------------------------------------------------------


def price_rows(*rows: str) -> str:
    return HEADER + "".join(f"{row}\n" for row in rows)


def test_tickers_must_be_ascii_ticker_syntax(tmp_path: Path) -> None:
    write(
        tmp_path,
        "tickers.csv",
        price_rows(
            "^gspc,2020-01-02,1,2,1,2,2,0",
            "BRK-B,2020-01-02,1,2,1,2,2,0",
            "BRK.B,2020-01-02,1,2,1,2,2,0",
            "EURUSD=X,2020-01-02,1,2,1,2,2,0",
            "BRK B,2020-01-02,1,2,1,2,2,0",
            '"BRK\nB",2020-01-02,1,2,1,2,2,0',
            "ΑAPL,2020-01-02,1,2,1,2,2,0",
            "АAPL,2020-01-02,1,2,1,2,2,0",
            "ＡＡＰＬ,2020-01-02,1,2,1,2,2,0",
            "ABCDEFGHIJKLMNOP,2020-01-02,1,2,1,2,2,0",
            "-AAPL,2020-01-02,1,2,1,2,2,0",
        ),
    )
    write(tmp_path, "BRK B.csv", "Date,Open,High,Low,Close,Volume\n2020-01-02,1,2,1,2,0\n")

    batch = read_price_files(tmp_path, "prices", now=NOW)

    assert sorted(batch.prices["ticker"]) == ["BRK-B", "BRK.B", "EURUSD=X", "^GSPC"]
    rejected = batch.quarantine.filter(pl.col("file_path") == "tickers.csv")
    assert rejected["row_number"].to_list() == [5, 6, 7, 8, 9, 10, 11]
    assert rejected["reason"].str.contains("is not a ticker").all()
    assert "Ticker 'BRK\\nB'" in rejected["reason"][1]
    assert "'ＡＡＰＬ' (NFKC 'AAPL')" in rejected["reason"][4]
    [from_stem] = reasons(batch)["BRK B.csv"].split(" | ")
    assert from_stem.startswith("Ticker 'BRK B' is not a ticker")
    assert_counts_add_up(batch, batch.prices)


def test_session_dates_must_be_from_1970_to_the_run_date(tmp_path: Path) -> None:
    today = NOW.date()
    write(
        tmp_path,
        "AAPL.csv",
        "Date,Open,High,Low,Close,Volume\n"
        "0001-01-01,1,2,1,2,0\n"
        "9999-12-31,1,2,1,2,0\n"
        "1969-12-31,1,2,1,2,0\n"
        f"{today + timedelta(days=1)},1,2,1,2,0\n"
        "1970-01-01,1,2,1,2,0\n"
        f"{today},1,2,1,2,0\n",
    )

    batch = read_price_files(tmp_path, "prices", now=NOW)

    assert batch.prices["session_date"].to_list() == [date(1970, 1, 1), today]
    got = dict(zip(batch.quarantine["row_number"], batch.quarantine["reason"], strict=True))
    assert got[1] == f"Date 0001-01-01 is outside [1970-01-01, the run date {today}]"
    assert set(got) == {1, 2, 3, 4}
    assert_counts_add_up(batch, batch.prices)


def test_a_huge_cell_is_quarantined_cheaply_with_a_truncated_raw_value(tmp_path: Path) -> None:
    huge = "A" * 1_000_000
    write(tmp_path, "p.csv", price_rows(f"{huge},2020-01-02,1,2,1,2,2,0", "AAPL,2020-01-02,1,2,1,2,2,0"))

    batch = read_price_files(tmp_path, "prices", now=NOW)

    assert batch.prices["ticker"].to_list() == ["AAPL"]
    [row] = batch.quarantine.to_dicts()
    assert row["reason"] == "column 1 ('Ticker'): cell is 1000000 bytes, over the 100-byte limit"
    assert len(row["raw_value"]) == limits.RAW_VALUE_MAX_CHARS + len(TRUNCATED)
    assert row["record_key"] is None
    assert batch.prices["raw_value"].str.len_chars().max() <= limits.RAW_VALUE_MAX_CHARS


def test_an_implausible_but_possible_move_is_loaded(tmp_path: Path) -> None:
    write(tmp_path, "X.csv", "Date,Open,High,Low,Close,Volume\n2020-01-02,1,1,1,1,5\n2020-01-03,1,5,1,5,5\n")

    batch = read_price_files(tmp_path, "prices", now=NOW)

    assert batch.quarantine.is_empty() and batch.prices.height == 2


@pytest.mark.skipif(not hasattr(os, "symlink"), reason="no symbolic links")
def test_a_link_to_a_folder_outside_is_not_followed(tmp_path: Path, outside: Path) -> None:
    root = tmp_path / "source"
    root.mkdir()
    (root / "dir").symlink_to(outside.parent, target_is_directory=True)

    batch = read_price_files(root, "prices", now=NOW)

    assert batch.prices.is_empty()
    assert not batch.quarantine["raw_value"].drop_nulls().str.contains("SECRET").any()
