"""The blocking raw GX suites check what ingestion guarantees, with the same bounds.

GX suite files are JSON and cannot import `ingestion.limits`: this test is what keeps them equal.
"""

from __future__ import annotations

import json
import re

import polars as pl
import pytest

from ingestion import limits
from warehouse.quality.runner import SUITES_DIR


def expectation(suite: str, kind: str, column: str) -> dict:
    [path] = SUITES_DIR.glob(f"raw_*/{suite}.json")
    data = json.loads(path.read_text(encoding="utf-8"))
    assert data["meta"]["severity"] == "blocking"
    [found] = [
        e["kwargs"]
        for e in data["expectations"]
        if e["type"] == kind and e["kwargs"].get("column") == column
    ]
    return found


def test_price_suite_bounds_are_the_ingestion_limits() -> None:
    ticker = expectation("raw_prices_daily", "expect_column_values_to_match_regex", "ticker")
    assert ticker["regex"] == limits.TICKER_PATTERN
    dates = expectation("raw_prices_daily", "expect_column_values_to_be_between", "session_date")
    # GX reads a bare date as a date and cannot compare it with `now`: midnight, as a timestamp.
    assert dates["min_value"] == limits.MIN_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%S")
    assert limits.MIN_TIMESTAMP.date() == limits.MIN_DATE
    assert dates["max_value"] == {"$PARAMETER": "now"}


def test_news_suite_bounds_are_the_ingestion_limits() -> None:
    published = expectation("raw_news_documents", "expect_column_values_to_be_between", "published_at")
    assert published["min_value"] == limits.MIN_TIMESTAMP.strftime("%Y-%m-%dT%H:%M:%S")
    assert published["max_value"] == {"$PARAMETER": "now"}
    body = expectation("raw_news_documents", "expect_column_values_to_be_between", "body_chars")
    assert body["min_value"] == 1
    cashtag = expectation("raw_news_annotations", "expect_column_values_to_match_regex", "annotation_key")
    assert cashtag["regex"] == limits.CASHTAG_PATTERN


@pytest.mark.parametrize(
    ("value", "ok"),
    [("^GSPC", True), ("BRK-B", True), ("BRK.B", True), ("EURUSD=X", True), ("A" * 15, True),
     ("A" * 16, False), ("BRK B", False), ("aapl", False), ("ΑAPL", False), ("ＡＡＰＬ", False),
     ("-A", False), ("", False), ("AAPL\n", False)],
)
def test_ticker_pattern(value: str, ok: bool) -> None:
    """Python's re (GX) and Rust's regex (Polars, the readers) agree on the pattern; a cashtag
    may be lower case ($aapl), a ticker may not."""
    assert (re.fullmatch(limits.TICKER_PATTERN, value) is not None) == ok
    assert pl.Series([value]).str.contains(limits.TICKER_PATTERN).item() == ok
    assert (re.fullmatch(limits.CASHTAG_PATTERN, f"${value}") is not None) == (ok or value == "aapl")
