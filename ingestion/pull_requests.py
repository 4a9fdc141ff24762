"""What a pulled source asks for on one run: the HTTP requests of each source type.

Pure functions of the source's config, the partitions being filled, the run time and what the
landing zone already holds, so a night asks only for what is new:

* feed: every URL, conditionally (ETag / Last-Modified of its last payload);
* gdelt_gkg: the 96 fifteen-minute GKG files of each day, except slots already landed and slots
  not yet published (later than the run time minus GKG_DELAY);
* yahoo / stooq: per ticker, from the last landed session minus `overlap_days` (a full history
  from HISTORY_DAYS before the first partition when nothing is landed yet) to the partition's end;
* sec_company_tickers: the one file, conditionally.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from ingestion.fetch import FetchRequest
from ingestion.landing import LandedPayload
from newsimpact.config import SourceConfig

GKG_SLOT = timedelta(minutes=15)
GKG_DELAY = timedelta(minutes=20)  # GDELT publishes a slot a few minutes after it ends
# A full price history starts this long before the first partition: the market model's
# estimation window (250 sessions by default) needs about a year of sessions before an event.
HISTORY_DAYS = 400


def plan_requests(
    source: SourceConfig,
    *,
    partitions: Sequence[date],
    now: datetime,
    landed: Sequence[LandedPayload],
    headers: dict[str, str],
) -> list[FetchRequest]:
    """The requests of one run of `source` (`partitions`: the days being filled, oldest first;
    an undated source fetches into the run's own day)."""
    today = now.astimezone(UTC).date().isoformat()
    match source.type:
        case "feed":
            return [
                FetchRequest(source.name, today, url, url, ".xml", expect="xml", headers=headers)
                for url in source.urls
            ]
        case "sec_company_tickers":
            assert source.url is not None
            return [
                FetchRequest(source.name, today, "company_tickers", source.url, ".json",
                             expect="json", headers=headers)
            ]
        case "gdelt_gkg":
            return list(_gkg_requests(source, partitions, now, landed, headers))
        case "yahoo" | "stooq":
            return [
                price_request(source, ticker, first, partitions[-1], headers)
                for ticker, first in _price_ranges(source, partitions, landed).items()
            ]
    raise ValueError(f"{source.name}: {source.type} is not a pulled source type")


def gkg_slot_url(base_url: str, slot: datetime) -> str:
    return f"{base_url.rstrip('/')}/{slot:%Y%m%d%H%M%S}.gkg.csv.zip"


def _gkg_requests(
    source: SourceConfig,
    partitions: Sequence[date],
    now: datetime,
    landed: Sequence[LandedPayload],
    headers: dict[str, str],
) -> Iterable[FetchRequest]:
    assert source.url is not None
    have = {payload.key for payload in landed}
    for day in partitions:
        start = datetime.combine(day, time(), UTC)
        for index in range(24 * 60 // 15):
            slot = start + index * GKG_SLOT
            key = f"{slot:%Y%m%d%H%M%S}"
            if key in have or slot + GKG_SLOT + GKG_DELAY > now:
                continue
            yield FetchRequest(source.name, day.isoformat(), key, gkg_slot_url(source.url, slot),
                               ".zip", expect="zip", conditional=False, headers=headers)


def _price_ranges(
    source: SourceConfig, partitions: Sequence[date], landed: Sequence[LandedPayload]
) -> dict[str, date]:
    """ticker -> first day to ask for: the newest landed payload's last session minus the overlap,
    else a full history."""
    history_start = partitions[0] - timedelta(days=HISTORY_DAYS)
    last_session: dict[str, date] = {}
    for payload in reversed(landed):  # newest first: usually one payload read per ticker
        if payload.key not in last_session and (last := last_session_of(payload)) is not None:
            last_session[payload.key] = last
    ranges = {}
    for ticker in source.tickers:
        last = last_session.get(ticker)
        ranges[ticker] = (
            history_start if last is None
            else min(last - timedelta(days=source.overlap_days * 7 // 5 + 1), partitions[0])
        )
    return ranges


def price_request(
    source: SourceConfig, ticker: str, first: date, last: date, headers: dict[str, str]
) -> FetchRequest:
    """The provider's daily-history request for `ticker` from `first` to `last` (inclusive)."""
    assert source.url is not None
    base = source.url.rstrip("/")
    if source.type == "yahoo":
        period1 = int(datetime.combine(first, time(), UTC).timestamp())
        period2 = int(datetime.combine(last + timedelta(days=1), time(), UTC).timestamp())
        url = (f"{base}/v8/finance/chart/{ticker}?period1={period1}&period2={period2}"
               "&interval=1d&events=div%2Csplits&includeAdjustedClose=true")
        return FetchRequest(source.name, last.isoformat(), ticker, url, ".json", expect="json",
                            conditional=False, headers=headers)
    symbol = ticker.lower() if ticker.startswith("^") else f"{ticker.lower()}.us"
    url = f"{base}/q/d/l/?s={symbol}&i=d&d1={first:%Y%m%d}&d2={last:%Y%m%d}"
    return FetchRequest(source.name, last.isoformat(), ticker, url, ".csv", expect="csv",
                        conditional=False, headers=headers)


def last_session_of(payload: LandedPayload) -> date | None:
    """The last session date a landed price payload holds (None when it holds none)."""
    body = payload.read_bytes()
    if payload.rel_path.endswith(".json.gz"):
        try:
            result = json.loads(body)["chart"]["result"][0]
            stamps = result.get("timestamp") or []
        except (ValueError, KeyError, IndexError, TypeError):
            return None
        return datetime.fromtimestamp(max(stamps), UTC).date() if stamps else None
    lines = body.decode("utf-8", "replace").strip().splitlines()
    try:
        return date.fromisoformat(lines[-1].split(",")[0]) if len(lines) > 1 else None
    except ValueError:
        return None
