"""Prices over HTTP: Yahoo chart JSON and Stooq CSV payloads, landed as the fetcher lands them."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from ingestion.landing import LandedPayload, land
from ingestion.price_api import (
    PRICE_API_SOURCE_TYPE,
    adjustment_changed,
    read_price_payloads,
)

NOW = datetime(2020, 9, 10, tzinfo=UTC)
SOURCE = "yahoo"
NEW_YORK_OPEN_UTC = timedelta(hours=13, minutes=30)  # 09:30 EDT

# AAPL around its 4:1 split of 2020-08-31 and the dividend of 2020-08-07 (0.205 a share after
# the split), as Yahoo serves them: prices split-adjusted, adjclose also dividend-adjusted.
# (session, open, high, low, close, adjclose, volume); 2020-08-10 has Yahoo's nulls.
AAPL_BARS = [
    ("2020-08-06", 110.40, 114.41, 109.80, 113.90, 112.42, 202428800),
    ("2020-08-07", 113.21, 113.68, 110.29, 111.11, 109.87, 198045600),
    ("2020-08-10", None, None, None, None, None, None),
    ("2020-08-28", 126.01, 126.44, 124.58, 124.81, 123.42, 187630000),
    ("2020-08-31", 127.58, 131.00, 126.00, 129.04, 127.60, 225702700),
    ("2020-09-01", 132.76, 134.80, 130.53, 134.18, 132.68, 151948100),
]


def epoch(session: str, open_utc: timedelta = NEW_YORK_OPEN_UTC) -> int:
    return int((datetime.fromisoformat(session).replace(tzinfo=UTC) + open_utc).timestamp())


def yahoo_chart(
    bars: list[tuple],
    *,
    symbol: str = "AAPL",
    time_zone: str = "America/New_York",
    open_utc: timedelta = NEW_YORK_OPEN_UTC,
    adjust: float = 1.0,
) -> bytes:
    """A v8 chart answer (interval=1d, events=div,splits, includeAdjustedClose=true)."""
    timestamps = [epoch(bar[0], open_utc) for bar in bars]
    names = ("open", "high", "low", "close", "adjclose", "volume")
    column = dict(zip(names, zip(*[bar[1:] for bar in bars])))
    adjclose = [None if value is None else round(value * adjust, 4) for value in column["adjclose"]]
    dividend_at, split_at = str(epoch("2020-08-07")), str(epoch("2020-08-31"))
    return json.dumps(
        {
            "chart": {
                "result": [
                    {
                        "meta": {
                            "currency": "USD",
                            "symbol": symbol,
                            "exchangeName": "NMS",
                            "fullExchangeName": "NasdaqGS",
                            "instrumentType": "EQUITY",
                            "firstTradeDate": 345479400,
                            "regularMarketTime": timestamps[-1] + 23400,
                            "hasPrePostMarketData": True,
                            "gmtoffset": -14400,
                            "timezone": "EDT",
                            "exchangeTimezoneName": time_zone,
                            "regularMarketPrice": column["close"][-1],
                            "chartPreviousClose": column["open"][0],
                            "priceHint": 2,
                            "dataGranularity": "1d",
                            "range": "",
                            "validRanges": ["1d", "5d", "1mo", "3mo", "6mo", "1y", "5y", "max"],
                        },
                        "timestamp": timestamps,
                        "events": {
                            "dividends": {dividend_at: {"amount": 0.205, "date": int(dividend_at)}},
                            "splits": {
                                split_at: {
                                    "date": int(split_at),
                                    "numerator": 4.0,
                                    "denominator": 1.0,
                                    "splitRatio": "4:1",
                                }
                            },
                        },
                        "indicators": {
                            "quote": [
                                {name: list(column[name]) for name in names if name != "adjclose"}
                            ],
                            "adjclose": [{"adjclose": adjclose}],
                        },
                    }
                ],
                "error": None,
            }
        }
    ).encode()


YAHOO_NOT_FOUND = (
    b'{"chart":{"result":null,"error":{"code":"Not Found",'
    b'"description":"No data found, symbol may be delisted"}}}'
)
HTML_PAGE = (
    b"<!DOCTYPE html><html lang=\"en\"><head><title>Yahoo</title></head>"
    b"<body>Will be right back...</body></html>"
)
STOOQ_CSV = (
    b"Date,Open,High,Low,Close,Volume\r\n"
    b"2020-08-28,126.01,126.44,124.58,124.81,187630000\r\n"
    b"2020-08-31,127.58,131,126,129.04,225702700\r\n"
    b"2020-09-01,132.76,134.8,130.53,134.18,151948100\r\n"
)

def land_price(root: Path, body: bytes, *, key: str = "AAPL", source: str = SOURCE,
               extension: str = ".json") -> LandedPayload:
    # Each payload a minute after the previous one: landing order is fetch order.
    landed = len(list(root.rglob("*.meta.json")))
    fetched_at = datetime(2020, 9, 2, 22, 0, tzinfo=UTC) + timedelta(minutes=landed)
    return land(
        root,
        source_name=source,
        partition=fetched_at.date().isoformat(),
        key=key,
        url=f"https://query1.finance.yahoo.com/v8/finance/chart/{key}",
        status=200,
        body=body,
        etag=None,
        last_modified=None,
        content_type="application/json",
        fetched_at=fetched_at,
        extension=extension,
    )


def read(root: Path, source: str = SOURCE, **options):
    return read_price_payloads(root / source, source, now=NOW, **{"provider": "yahoo", **options})


def counts(batch) -> tuple[int, int, int]:
    """(read, loaded, quarantined) of the batch's only file."""
    return batch.files.select("records_read", "records_loaded", "records_quarantined").row(0)


def series_hash(*payloads: LandedPayload) -> str:
    return hashlib.sha256("".join(p.sha256 for p in payloads).encode()).hexdigest()


def test_yahoo_rows_dated_in_exchange_time(tmp_path: Path) -> None:
    payload = land_price(tmp_path, yahoo_chart(AAPL_BARS))
    batch = read(tmp_path)

    prices = batch.prices.sort("session_date")
    assert prices["session_date"].to_list() == [
        date(2020, 8, 6), date(2020, 8, 7), date(2020, 8, 28), date(2020, 8, 31), date(2020, 9, 1)
    ]
    first = prices.row(0, named=True)
    assert (first["ticker"], first["open"], first["high"], first["low"], first["close"]) == (
        "AAPL", 110.40, 114.41, 109.80, 113.90
    )
    assert (first["adj_close"], first["volume"]) == (112.42, 202428800.0)
    assert (first["file_path"], first["row_number"], first["source_name"]) == ("AAPL", 1, SOURCE)

    rejected = batch.quarantine.row(0, named=True)
    assert batch.quarantine.height == 1
    assert (rejected["file_path"], rejected["row_number"]) == ("AAPL", 3)
    assert rejected["record_key"] == "AAPL@2020-08-10"
    assert rejected["reason"].startswith(f"{payload.rel_path} row 3: missing Open; missing High")
    assert rejected["source_type"] == PRICE_API_SOURCE_TYPE

    files = batch.files.row(0, named=True)
    assert files["file_path"] == "AAPL"
    assert files["content_hash"] == series_hash(payload)
    assert counts(batch) == (6, 5, 1)


def test_session_date_is_the_exchange_date_not_the_utc_date(tmp_path: Path) -> None:
    # Tokyo bars stamped at 00:00 JST = 15:00 UTC the day before.
    bars = [("2020-09-01", 7350.0, 7420.0, 7300.0, 7401.0, 7401.0, 5460000)]
    land_price(
        tmp_path,
        yahoo_chart(bars, symbol="7203.T", time_zone="Asia/Tokyo", open_utc=timedelta(hours=-9)),
        key="7203.T",
    )
    prices = read(tmp_path).prices
    assert prices["session_date"].to_list() == [date(2020, 9, 1)]
    assert prices["ticker"].to_list() == ["7203.T"]


def test_an_incremental_payload_overlays_the_full_one(tmp_path: Path) -> None:
    full = land_price(tmp_path, yahoo_chart(AAPL_BARS[:5]))
    later = [
        ("2020-08-31", 127.58, 131.00, 126.00, 129.10, 127.66, 225702700),  # revised
        ("2020-09-01", 132.76, 134.80, 130.53, 134.18, 132.68, 151948100),
    ]
    incremental = land_price(tmp_path, yahoo_chart(later))
    batch = read(tmp_path)

    prices = batch.prices.sort("session_date")
    assert prices["session_date"].to_list()[-3:] == [
        date(2020, 8, 28), date(2020, 8, 31), date(2020, 9, 1)
    ]
    assert prices.filter(pl.col("session_date") == date(2020, 8, 31))["close"].item() == 129.10
    assert batch.files["content_hash"].item() == series_hash(full, incremental)
    # 4 sessions of the full payload (one of them null) + 2 of the incremental one, 1 overlaid.
    assert counts(batch) == (6, 5, 1)


def test_a_readjusted_full_history_replaces_everything(tmp_path: Path) -> None:
    land_price(tmp_path, yahoo_chart(AAPL_BARS[:4]))
    land_price(tmp_path, yahoo_chart(AAPL_BARS[4:]))
    readjusted = land_price(tmp_path, yahoo_chart(AAPL_BARS, adjust=0.99))
    batch = read(tmp_path)

    assert batch.files["content_hash"].item() == series_hash(readjusted)
    expected = {
        date.fromisoformat(bar[0]): round(bar[5] * 0.99, 4)
        for bar in AAPL_BARS
        if bar[5] is not None
    }
    assert dict(batch.prices.select("session_date", "adj_close").iter_rows()) == expected
    assert counts(batch) == (6, 5, 1)
    assert batch.quarantine["reason"].item().startswith(readjusted.rel_path)


def test_adjustment_changed(tmp_path: Path) -> None:
    land_price(tmp_path, yahoo_chart(AAPL_BARS))
    stored = read(tmp_path).prices
    assert not adjustment_changed(stored, stored)
    assert not adjustment_changed(stored, stored.with_columns(pl.col("adj_close") * (1 + 1e-9)))
    assert adjustment_changed(stored, stored.with_columns(pl.col("adj_close") * 0.99))
    # Only overlapping sessions of the same ticker count.
    other = stored.with_columns(ticker=pl.lit("MSFT"), adj_close=pl.col("adj_close") * 2)
    assert not adjustment_changed(stored, other)
    later = stored.with_columns(session_date=pl.col("session_date") + timedelta(days=400))
    assert not adjustment_changed(stored, later.with_columns(pl.col("adj_close") * 2))


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (
            YAHOO_NOT_FOUND,
            "Yahoo answered 'Not Found' for AAPL: No data found, symbol may be delisted",
        ),
        (HTML_PAGE, "not Yahoo chart JSON (JSONDecodeError: "),
        (yahoo_chart(AAPL_BARS, symbol="MSFT"), "Yahoo answered for 'MSFT', not AAPL"),
    ],
    ids=["error-json", "html", "other-symbol"],
)
def test_an_unreadable_yahoo_payload_is_quarantined_whole(
    tmp_path: Path, body: bytes, reason: str
) -> None:
    payload = land_price(tmp_path, body)
    batch = read(tmp_path)
    assert batch.prices.is_empty()
    rejected = batch.quarantine.row(0, named=True)
    assert rejected["reason"].startswith(f"{payload.rel_path}: {reason}")
    assert (rejected["file_path"], rejected["row_number"]) == ("AAPL", None)
    assert rejected["record_key"] == "AAPL"
    assert counts(batch) == (1, 0, 1)


def test_an_error_after_a_full_history_keeps_the_history(tmp_path: Path) -> None:
    full = land_price(tmp_path, yahoo_chart(AAPL_BARS))
    failed = land_price(tmp_path, YAHOO_NOT_FOUND)
    batch = read(tmp_path)
    assert batch.prices.height == 5
    assert batch.files["content_hash"].item() == series_hash(full, failed)
    assert counts(batch) == (7, 5, 2)


def test_an_unchanged_series_is_skipped(tmp_path: Path) -> None:
    full = land_price(tmp_path, yahoo_chart(AAPL_BARS))
    batch = read(tmp_path, skip_hashes={"AAPL": series_hash(full)})
    assert batch.skipped_files == ("AAPL",)
    assert batch.prices.is_empty() and batch.files.is_empty()
    # A new payload changes the series' hash: the whole series is read again.
    land_price(tmp_path, yahoo_chart(AAPL_BARS[-1:]))
    again = read(tmp_path, skip_hashes={"AAPL": series_hash(full)})
    assert again.prices.height == 5


def test_stooq_csv(tmp_path: Path) -> None:
    payload = land_price(tmp_path, STOOQ_CSV, key="aapl.us", source="stooq", extension=".csv")
    land_price(tmp_path, b"No data", key="zzzz.us", source="stooq", extension=".csv")
    html = land_price(tmp_path, HTML_PAGE, key="msft.us", source="stooq", extension=".csv")
    batch = read(tmp_path, "stooq", provider="stooq")

    prices = batch.prices.sort("session_date")
    assert prices["ticker"].unique().to_list() == ["AAPL"]
    assert prices["adj_close"].to_list() == prices["close"].to_list()  # Stooq: no adjusted close
    assert prices.row(1, named=True) | {"raw_value": None} == {
        "ticker": "AAPL", "session_date": date(2020, 8, 31), "open": 127.58, "high": 131.0,
        "low": 126.0, "close": 129.04, "adj_close": 129.04, "volume": 225702700.0,
        "source_name": "stooq", "file_path": "AAPL", "row_number": 2, "raw_value": None,
    }
    reasons = dict(batch.quarantine.select("file_path", "reason").iter_rows())
    assert reasons["ZZZZ"].endswith(": Stooq has no data for ZZZZ")
    assert reasons["MSFT"].startswith(f"{html.rel_path}: missing required column(s)")
    files = {row[0]: row[1:] for row in batch.files.select(
        "file_path", "records_read", "records_loaded", "records_quarantined").iter_rows()}
    assert files == {"AAPL": (3, 3, 0), "MSFT": (1, 0, 1), "ZZZZ": (1, 0, 1)}
    aapl_hash = batch.files.filter(pl.col("file_path") == "AAPL")["content_hash"].item()
    assert aapl_hash == series_hash(payload)
