"""The SEC security master in both of SEC's formats, the bundled snapshot and what is rejected."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ingestion.sec import (
    SEC_SOURCE_TYPE,
    SECURITY_MASTER_SCHEMA,
    SecFormatError,
    read_security_master,
    read_security_master_file,
)

SAMPLE = Path(__file__).parents[2] / "samples" / "sec" / "company_tickers_exchange.json"

# company_tickers.json as SEC serves it: an object keyed by row index, integer CIKs, no exchange.
COMPANY_TICKERS = (
    b'{"0":{"cik_str":320193,"ticker":"AAPL","title":"Apple Inc."},'
    b'"1":{"cik_str":789019,"ticker":"MSFT","title":"MICROSOFT CORP"},'
    b'"2":{"cik_str":1067983,"ticker":"BRK-B","title":"BERKSHIRE HATHAWAY INC"},'
    b'"3":{"cik_str":1045810,"ticker":"nvda","title":"NVIDIA CORP"}}'
)


def test_company_tickers_format() -> None:
    master, quarantine = read_security_master(COMPANY_TICKERS, file_path="company_tickers.json")
    assert quarantine.is_empty()
    assert master.schema == pl.Schema(SECURITY_MASTER_SCHEMA)
    assert master.rows() == [
        ("0000320193", "AAPL", "Apple Inc.", None),
        ("0000789019", "MSFT", "MICROSOFT CORP", None),
        ("0001067983", "BRK-B", "BERKSHIRE HATHAWAY INC", None),
        ("0001045810", "NVDA", "NVIDIA CORP", None),
    ]


def test_the_bundled_exchange_snapshot() -> None:
    master, quarantine = read_security_master_file(SAMPLE)
    assert master.height == 68
    assert quarantine.is_empty()
    assert master.filter(pl.col("ticker") == "BRK-B").row(0) == (
        "0001067983", "BRK-B", "BERKSHIRE HATHAWAY INC", "NYSE",
    )
    assert master["cik"].str.len_chars().unique().to_list() == [10]
    assert master["ticker"].is_unique().all()


def test_bad_rows_are_quarantined_with_reasons() -> None:
    body = json.dumps(
        {
            "fields": ["cik", "name", "ticker", "exchange"],
            "data": [
                [320193, "Apple Inc.", "AAPL", "Nasdaq"],  # 1: loaded
                [None, "No Cik Corp", "NOCIK", "NYSE"],  # 2
                [1045810, "NVIDIA CORP", None, "Nasdaq"],  # 3
                [789019, "", "MSFT", "Nasdaq"],  # 4
                [12345, "Bad Ticker Inc", "BAD TICKER", "OTC"],  # 5
                [111, "First Co", "DUPE", "NYSE"],  # 6: DUPE under two CIKs
                [222, "Second Co", "DUPE", "NYSE"],  # 7
                [320193, "Apple Inc.", "AAPL", "Nasdaq"],  # 8: a repeat of row 1
                [320193, "Apple Inc."],  # 9: the wrong shape
                ["12345678901", "Too Long Cik", "LONG", ""],  # 10
            ],
        }
    ).encode()
    master, quarantine = read_security_master(body, file_path="company_tickers_exchange.json")
    assert master.rows() == [("0000320193", "AAPL", "Apple Inc.", "Nasdaq")]
    reasons = dict(quarantine.select("row_number", "reason").iter_rows())
    assert reasons == {
        2: "missing cik",
        3: "missing ticker",
        4: "missing company name",
        5: "ticker 'BAD TICKER' is not a ticker "
        "(ASCII A-Z, 0-9 and . - ^ =, at most 15 characters)",
        6: "ticker DUPE is listed under different CIKs: 0000000111, 0000000222",
        7: "ticker DUPE is listed under different CIKs: 0000000111, 0000000222",
        8: "duplicate of ticker AAPL at row 1",
        9: "not a row of the file's fields",
        10: "cik '12345678901' is not a positive number of at most 10 digits",
    }
    assert quarantine.filter(pl.col("row_number") == 2)["record_key"].item() == "NOCIK"
    assert quarantine["source_type"].unique().to_list() == [SEC_SOURCE_TYPE]
    assert quarantine["file_path"].unique().to_list() == ["company_tickers_exchange.json"]
    assert master.height + quarantine.height == 10


@pytest.mark.parametrize(
    "body",
    [
        b"<!DOCTYPE html><html><body>Your Request Originates from an Undeclared Automated Tool"
        b"</body></html>",
        COMPANY_TICKERS[: len(COMPANY_TICKERS) // 2],
        b'{"message": "rate limited"}',
        b"[1, 2, 3]",
    ],
    ids=["html", "truncated", "other-json", "a-list"],
)
def test_a_body_in_neither_format_raises(body: bytes) -> None:
    with pytest.raises(SecFormatError, match="^company_tickers.json: "):
        read_security_master(body, file_path="company_tickers.json")
