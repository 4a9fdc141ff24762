from datetime import UTC, date, datetime

import polars as pl

from ingestion.calendar import SESSION_SCHEMA, build_sessions, index_epoch


def session(frame: pl.DataFrame, day: date) -> dict:
    [row] = frame.filter(pl.col("session_date") == day).to_dicts()
    return row


def test_sessions_follow_the_exchange_calendar() -> None:
    frame = build_sessions("XNYS", date(2001, 9, 1), date(2012, 12, 31))
    days = set(frame["session_date"])

    assert dict(frame.schema) == SESSION_SCHEMA
    assert {date(2001, 9, 10), date(2001, 9, 17)} <= days
    assert not {date(2001, 9, d) for d in range(11, 15)} & days  # closed after 9/11
    assert not {date(2012, 10, 29), date(2012, 10, 30)} & days  # hurricane Sandy
    assert date(2012, 11, 22) not in days  # Thanksgiving

    black_friday = session(frame, date(2012, 11, 23))
    assert black_friday["close_at"] == datetime(2012, 11, 23, 18, 0, tzinfo=UTC)
    assert black_friday["is_early_close"] is True
    assert session(frame, date(2012, 11, 26))["is_early_close"] is False

    # New York moved to daylight saving time on 2012-03-11.
    assert session(frame, date(2012, 3, 9))["close_at"] == datetime(2012, 3, 9, 21, 0, tzinfo=UTC)
    assert session(frame, date(2012, 3, 12))["close_at"] == datetime(2012, 3, 12, 20, 0, tzinfo=UTC)
    assert session(frame, date(2012, 3, 12))["open_at"] == datetime(2012, 3, 12, 13, 30, tzinfo=UTC)


def test_session_index_is_consecutive_and_stable() -> None:
    frame = build_sessions("XNYS", date(2012, 1, 1), date(2012, 12, 31))

    first = frame["session_index"][0]
    assert frame["session_index"].to_list() == list(range(first, first + frame.height))
    assert frame["session_date"].is_sorted()
    assert frame.height == 250
    assert frame.equals(build_sessions("XNYS", date(2012, 1, 1), date(2012, 12, 31)))


def test_range_without_sessions_is_empty() -> None:
    frame = build_sessions("XNYS", date(2012, 11, 24), date(2012, 11, 25))
    assert frame.is_empty()
    assert dict(frame.schema) == SESSION_SCHEMA


def test_session_index_counts_from_a_fixed_epoch_not_from_the_range_start() -> None:
    narrow = build_sessions("XNYS", date(2012, 1, 1), date(2012, 12, 31))
    from_1900 = build_sessions("XNYS", date(1900, 1, 1), date(2012, 12, 31))
    from_epoch = build_sessions("XNYS", index_epoch("XNYS"), date(2012, 12, 31))

    assert from_epoch["session_index"][0] == 0  # a range from the epoch is 0-based
    assert narrow.equals(from_1900.filter(pl.col("session_date") >= date(2012, 1, 1)))
    assert narrow.equals(from_epoch.filter(pl.col("session_date") >= date(2012, 1, 1)))
