"""Daily prices fetched over HTTP (source type `price_api`): landed Yahoo chart JSON or Stooq CSV
payloads -> `raw.prices_daily` rows, one ticker series at a time.

A payload's `key` is its ticker. A ticker's series is REPLACED, never mixed: it is its newest
full payload plus the payloads fetched after it, a later payload winning on a session it shares
with an earlier one. A payload is full when its first session is on or before the first session
of the series so far (a full history starts at least as early; an incremental fetch starts
later). Each ticker is read as ONE virtual file: file_path = the ticker, content_hash = sha256 of
the sha256s of the payloads composing its series, so a new or changed payload re-reads the whole
series and the loader replaces the ticker's rows. `skip_hashes` applies to these virtual files.

A record is a session of the series, or a payload that cannot be read (quarantined whole: Yahoo's
error answer with its description, Stooq's "No data", an HTML page). Rows are validated by the
rules of `ingestion.prices` (`_check_rows`): a Yahoo null (a day without trades) is a missing
price and quarantines its row. Reasons name the payload and its row.

Yahoo: a bar's timestamp is the session's open, so its session date is the date in
meta.exchangeTimezoneName. Stooq has no adjusted close: adj_close = close.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Literal

import polars as pl

from ingestion import limits
from ingestion.landing import LandedPayload, landed_payloads
from ingestion.prices import (
    NUMBER_COLUMNS,
    PRICE_SCHEMA,
    PriceBatch,
    PriceFileError,
    _check_rows,
    _read_rows,
    ticker_from_file_stem,
)
from ingestion.quarantine import (
    QUARANTINE_SCHEMA,
    QuarantineRecord,
    SourceFile,
    file_stats_frame,
    quarantine_frame,
)

PRICE_API_SOURCE_TYPE = "price_api"
# Part of every ticker's change key: bump it when parsing or validation changes.
PRICE_API_PARSER_VERSION = "price-api-1"

Provider = Literal["yahoo", "stooq"]
STOOQ_NO_DATA = "no data"
# Yahoo's quote arrays, under the column names of ingestion.prices.
YAHOO_QUOTE_FIELDS = ("open", "high", "low", "close", "volume")
TEXT_ROW_SCHEMA: dict[str, pl.DataType] = {
    **{name: pl.String() for name in ("ticker", "date", *NUMBER_COLUMNS)},
    "file_path": pl.String(),
    "row_number": pl.Int32(),
    "raw_value": pl.String(),
    "size_reason": pl.String(),
    "payload_path": pl.String(),
    "payload_order": pl.Int32(),
}


class PricePayloadError(ValueError):
    """A payload that holds no price rows to read: quarantined whole."""


@dataclass(frozen=True)
class ParsedPayload:
    payload: LandedPayload
    rows: pl.DataFrame  # TEXT_ROW_SCHEMA without the payload columns; empty on error
    error: str | None  # why the payload cannot be read
    first_session: date | None  # its earliest session, None when it has none


def read_price_payloads(
    source_root: Path,
    source_name: str,
    *,
    provider: Provider,
    skip_hashes: Mapping[str, str] = {},
    now: datetime | None = None,
) -> PriceBatch:
    """Read every ticker's series from the landed payloads of `source_root` (see module docs).

    A ticker is skipped when `skip_hashes[ticker]` equals its series' content hash; its payloads
    are still parsed, since a payload's first session decides the series it belongs to (price
    payloads are small).
    """
    run_date = limits.utc_now(now).date()
    payloads_by_ticker: dict[str, list[LandedPayload]] = {}
    for payload in landed_payloads(source_root):  # oldest fetch first
        payloads_by_ticker.setdefault(ticker_from_file_stem(payload.key), []).append(payload)

    files: list[SourceFile] = []
    skipped: list[str] = []
    rejected_payloads: list[QuarantineRecord] = []
    row_frames: list[pl.DataFrame] = []
    for ticker, payloads in sorted(payloads_by_ticker.items()):
        series = _series([_parse(payload, ticker, provider) for payload in payloads])
        content_hash = hashlib.sha256(
            "".join(part.payload.sha256 for part in series).encode()
        ).hexdigest()
        if skip_hashes.get(ticker) == content_hash:
            skipped.append(ticker)
            continue
        files.append(SourceFile(ticker, b"", content_hash))
        rejected_payloads.extend(
            QuarantineRecord(
                ticker, f"{part.payload.rel_path}: {part.error}", None, record_key=ticker
            )
            for part in series
            if part.error is not None
        )
        row_frames.append(_overlaid(series, ticker))

    rows = pl.concat([pl.DataFrame(schema=TEXT_ROW_SCHEMA), *row_frames])
    checked = _check_rows(rows.with_columns(source_name=pl.lit(source_name)), run_date)
    rejected_rows = checked.filter(pl.col("reason") != "").select(
        source_type=pl.lit(PRICE_API_SOURCE_TYPE),
        source_name=pl.lit(source_name),
        file_path="file_path",
        row_number="row_number",
        record_key=pl.when(pl.col("session_date").is_not_null()).then(
            pl.format("{}@{}", "ticker", pl.col("session_date").dt.to_string("%Y-%m-%d"))
        ),
        reason=pl.format("{} row {}: {}", "payload_path", "row_number", "reason"),
        raw_value="raw_value",
    )
    quarantine = pl.concat(
        [
            quarantine_frame(
                rejected_payloads, source_type=PRICE_API_SOURCE_TYPE, source_name=source_name
            ),
            rejected_rows.cast(QUARANTINE_SCHEMA),
        ]
    )
    read_counts = dict(rows.group_by("file_path").len().iter_rows())
    for record in rejected_payloads:
        read_counts[record.file_path] = read_counts.get(record.file_path, 0) + 1
    return PriceBatch(
        source_name=source_name,
        prices=checked.filter(pl.col("reason") == "").select(PRICE_SCHEMA.keys()),
        quarantine=quarantine,
        files=file_stats_frame(
            files,
            source_type=PRICE_API_SOURCE_TYPE,
            source_name=source_name,
            read_counts=read_counts,
            quarantined_counts=dict(quarantine.group_by("file_path").len().iter_rows()),
        ),
        skipped_files=tuple(skipped),
    )


def adjustment_changed(
    stored: pl.DataFrame, fetched: pl.DataFrame, tolerance: float = 1e-6
) -> bool:
    """True when a fetched adj_close differs, relatively by more than `tolerance`, from the stored
    one of the same ticker and session: a split or dividend re-adjusted the past, so the ticker's
    full history must be fetched again."""
    key = ["ticker", "session_date"]
    both = stored.select(*key, "adj_close").join(
        fetched.select(*key, fetched_adj_close="adj_close"), on=key
    )
    relative = (pl.col("fetched_adj_close") - pl.col("adj_close")).abs() / pl.col("adj_close").abs()
    return bool(both.select((relative > tolerance).any()).item())


def _series(parsed: list[ParsedPayload]) -> list[ParsedPayload]:
    """The payloads composing the series: the newest full one and every one fetched after it."""
    series: list[ParsedPayload] = []
    first_session: date | None = None
    for part in parsed:
        start = part.first_session
        if start is not None and (first_session is None or start <= first_session):
            series, first_session = [part], start
        else:
            series.append(part)
    return series


def _overlaid(series: list[ParsedPayload], ticker: str) -> pl.DataFrame:
    """The series' rows under the virtual file `ticker`; a session keeps its latest payload's rows.

    Rows of one payload repeating a session all stay: `_check_rows` flags them as duplicates.
    """
    rows = pl.concat(
        [
            pl.DataFrame(schema=TEXT_ROW_SCHEMA),
            *(
                part.rows.with_columns(
                    ticker=pl.lit(ticker),
                    file_path=pl.lit(ticker),
                    payload_path=pl.lit(part.payload.rel_path),
                    payload_order=pl.lit(order, pl.Int32),
                ).select(TEXT_ROW_SCHEMA.keys())
                for order, part in enumerate(series)
                if part.error is None
            ),
        ]
    )
    return rows.filter(pl.col("payload_order") == pl.col("payload_order").max().over("date"))


def _parse(payload: LandedPayload, ticker: str, provider: Provider) -> ParsedPayload:
    try:
        if payload.size > limits.MAX_PRICE_FILE_BYTES:
            raise PricePayloadError(
                f"payload is {payload.size:,} bytes, over the "
                f"{limits.MAX_PRICE_FILE_BYTES:,}-byte limit"
            )
        data = payload.read_bytes()
        if provider == "yahoo":
            rows = _yahoo_rows(data, ticker)
        else:
            rows = _stooq_rows(data, payload, ticker)
    except (PricePayloadError, PriceFileError) as error:
        return ParsedPayload(payload, pl.DataFrame(), str(error), None)
    sessions = rows.get_column("date").str.strptime(pl.Date, "%Y-%m-%d", strict=False)
    return ParsedPayload(payload, rows, None, sessions.min())


def _yahoo_rows(data: bytes, ticker: str) -> pl.DataFrame:
    """The bars of a Yahoo v8 chart answer as text rows dated in the exchange's time zone."""
    try:
        chart = json.loads(data)["chart"]
    except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as error:
        start = data[:40].decode("utf-8", errors="replace")
        raise PricePayloadError(
            f"not Yahoo chart JSON ({type(error).__name__}: {error}); it starts with {start!r}"
        ) from None
    if chart.get("error"):
        error = chart["error"]
        raise PricePayloadError(
            f"Yahoo answered {error.get('code')!r} for {ticker}: {error.get('description')}"
        )
    try:
        result = chart["result"][0]
        meta = result["meta"]
        time_zone = meta["exchangeTimezoneName"]
        timestamps = result.get("timestamp") or []
        indicators = result.get("indicators", {})
        quote = indicators["quote"][0] if timestamps else {}
        adjclose = (indicators.get("adjclose") or [{}])[0].get("adjclose") if timestamps else []
    except (KeyError, IndexError, TypeError) as error:
        raise PricePayloadError(f"Yahoo chart JSON without {error}") from None
    if meta.get("symbol", ticker).upper() != ticker:
        raise PricePayloadError(f"Yahoo answered for {meta.get('symbol')!r}, not {ticker}")
    arrays = {
        "timestamp": timestamps,
        **{name: quote.get(name) or [None] * len(timestamps) for name in YAHOO_QUOTE_FIELDS},
        "adj_close": adjclose or [None] * len(timestamps),
    }
    if any(len(values) != len(timestamps) for values in arrays.values()):
        lengths = ", ".join(f"{name} {len(values)}" for name, values in arrays.items())
        raise PricePayloadError(f"Yahoo arrays of different lengths: {lengths}")
    try:
        bars = pl.DataFrame(
            arrays,
            schema={"timestamp": pl.Int64(), **{name: pl.Float64() for name in NUMBER_COLUMNS}},
            strict=False,
        )
        session = (
            pl.from_epoch("timestamp", time_unit="s")
            .dt.replace_time_zone("UTC")
            .dt.convert_time_zone(time_zone)
            .dt.date()
        )
        text = {name: pl.col(name).cast(pl.String).fill_null("") for name in NUMBER_COLUMNS}
        return bars.with_row_index("row_number", offset=1).select(
            date=session.dt.to_string("%Y-%m-%d"),
            **text,
            row_number=pl.col("row_number").cast(pl.Int32),
            raw_value=pl.concat_str(
                [
                    pl.col("timestamp").cast(pl.String),
                    *(value.replace("", "null") for value in text.values()),
                ],
                separator=",",
            ),
            size_reason=pl.lit(""),
        )
    except pl.exceptions.PolarsError as error:
        raise PricePayloadError(f"unreadable Yahoo bars: {error}".splitlines()[0]) from None


def _stooq_rows(data: bytes, payload: LandedPayload, ticker: str) -> pl.DataFrame:
    """Stooq's daily CSV, read by the price CSV reader; Stooq's "No data" body is no payload."""
    if data.decode("utf-8", errors="replace").strip().lower() == STOOQ_NO_DATA:
        raise PricePayloadError(f"Stooq has no data for {ticker}")
    file = SourceFile(payload.rel_path, data, payload.sha256)
    return _read_rows(file).drop("ticker", "file_path")


def readjusted_tickers(
    landed: list[LandedPayload], new: list[LandedPayload], *, provider: Provider
) -> dict[str, date]:
    """Tickers whose new (incremental) payload disagrees with their series as landed before it,
    with the series' first session: their history must be fetched again from that day at the
    latest (`adjustment_changed`), so that the new payload is full and replaces the series."""
    new_paths = {payload.rel_path for payload in new}
    tickers: dict[str, date] = {}
    for payload in new:
        ticker = ticker_from_file_stem(payload.key)
        earlier = [
            _parse(other, ticker, provider) for other in landed
            if other.key == payload.key and other.rel_path not in new_paths
        ]
        if not earlier:  # a first fetch is a full history
            continue
        series = _series(earlier)
        stored = _adjusted_closes(_overlaid(series, ticker))
        fetched = _adjusted_closes(_overlaid([_parse(payload, ticker, provider)], ticker))
        first = min((part.first_session for part in series if part.first_session), default=None)
        if first is not None and adjustment_changed(stored, fetched):
            tickers[ticker] = min(first, tickers.get(ticker, first))
    return tickers


def _adjusted_closes(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        "ticker",
        session_date=pl.col("date").str.strptime(pl.Date, "%Y-%m-%d", strict=False),
        adj_close=pl.col("adj_close").cast(pl.Float64, strict=False),
    ).drop_nulls()
