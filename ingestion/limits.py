"""What ingestion accepts: every limit and bound the readers enforce, in one place.

A record that breaks one of these is quarantined with a reason naming the field and its
(truncated) value; the run goes on. docs/inputs.md ("What ingestion rejects") describes them, and
tests/ingestion/test_limits.py checks that the blocking raw GX suites use the same bounds.
"""

from __future__ import annotations

import unicodedata
from datetime import UTC, date, datetime

# Dates and timestamps: from MIN_DATE to the run's own time (`now`, passed by the caller). Earlier
# dates are typing errors (0001-01-01) and break the exchange calendars; later ones are news or
# bars from the future.
MIN_DATE = date(1970, 1, 1)
MIN_TIMESTAMP = datetime(MIN_DATE.year, MIN_DATE.month, MIN_DATE.day, tzinfo=UTC)

# Whole files, checked from the file size before the file is read.
MAX_DOCUMENT_FILE_BYTES = 1024 * 1024  # a news document
MAX_PRICE_FILE_BYTES = 200 * 1024 * 1024  # a price CSV
MAX_FEED_PAYLOAD_BYTES = 20 * 1024 * 1024  # one fetched RSS/Atom feed, as received

# Tickers: ASCII upper-case letters, digits and . - ^ = (^GSPC, BRK-B, BRK.B, EURUSD=X), at most
# MAX_TICKER_CHARS. Non-ASCII look-alikes (Greek or Cyrillic A, full-width letters) are rejected,
# never converted to ASCII. A cashtag annotation key is `$` + a ticker (letters of either case).
MAX_TICKER_CHARS = 15
TICKER_PATTERN = rf"^[A-Z0-9^][A-Z0-9.\-^=]{{0,{MAX_TICKER_CHARS - 1}}}$"
CASHTAG_PATTERN = rf"^\$[A-Za-z0-9^][A-Za-z0-9.\-^=]{{0,{MAX_TICKER_CHARS - 1}}}$"

# Price CSV cells: any cell longer than this (in UTF-8 bytes) quarantines its row; checked with
# `str.len_bytes()` before any other work on the cell.
MAX_PRICE_CELL_BYTES = 100

# News documents (characters of the parsed values).
MAX_DOCUMENT_ID_CHARS = 200
MAX_TITLE_CHARS = 1_000
MAX_SOURCE_CHARS = 200
MAX_URL_CHARS = 2_048
MAX_BODY_CHARS = MAX_DOCUMENT_FILE_BYTES  # a body can never be longer than its file
MAX_ANNOTATION_KEY_CHARS = 80
MAX_ANNOTATION_DESCRIPTION_CHARS = 2_000
MAX_ANNOTATIONS_PER_DOCUMENT = 200

# Quarantine itself: the raw value kept for a rejected record, and a value quoted in a reason.
RAW_VALUE_MAX_CHARS = 1_000
REASON_VALUE_MAX_CHARS = 60


def shown(value: str) -> str:
    """A value as a reason quotes it: repr, cut to REASON_VALUE_MAX_CHARS characters, and its NFKC
    form when that differs (so 'ＡＡＰＬ' says why it is not AAPL)."""
    cut = value if len(value) <= REASON_VALUE_MAX_CHARS else value[:REASON_VALUE_MAX_CHARS] + "…"
    text = repr(cut)
    normal = unicodedata.normalize("NFKC", cut)
    return text if normal == cut else f"{text} (NFKC {normal!r})"


def utc_now(now: datetime | None) -> datetime:
    """The run time readers check against: `now` (time zone required) or the current UTC time."""
    if now is None:
        return datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return now.astimezone(UTC)
