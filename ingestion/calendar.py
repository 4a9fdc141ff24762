"""Exchange sessions from `exchange_calendars` -> `raw.exchange_sessions`."""

from __future__ import annotations

from datetime import date

import exchange_calendars
import pandas as pd
import polars as pl

SESSION_SCHEMA: dict[str, pl.DataType] = {
    "calendar_code": pl.String(),
    "session_date": pl.Date(),
    "session_index": pl.Int32(),
    "open_at": pl.Datetime("us", "UTC"),
    "close_at": pl.Datetime("us", "UTC"),
    "is_early_close": pl.Boolean(),
}

# session_index 0 is the calendar's first session on or after this date (or on or after its
# `bound_min` when that is later), whatever range is built, so indexes do not move when the data's
# first date does. A date before any plausible market data: a document dated 1900 moves nothing.
# Only a range starting before the epoch counts from its own first session instead (indexes stay
# >= 0, which the quality suite and the dbt test of consecutive indexes from 0 require).
SESSION_INDEX_EPOCH = date(1885, 1, 1)


def index_epoch(calendar_code: str) -> date:
    """The date session_index counts from for this calendar (see SESSION_INDEX_EPOCH)."""
    lower = type(exchange_calendars.get_calendar(calendar_code)).bound_min()
    epoch = pd.Timestamp(SESSION_INDEX_EPOCH)
    return (max(epoch, lower) if lower is not None else epoch).date()


def build_sessions(calendar_code: str, start: date, end: date) -> pl.DataFrame:
    """Every session of `calendar_code` from `start` to `end` (both inclusive), one row each.

    `start` and `end` are clipped to the calendar's supported bounds (`bound_min` / `bound_max`
    of its class, when it has them), so the frame may begin later or end earlier than asked.
    Open and close times are UTC, early closes included (13:00 New York on the day after
    Thanksgiving is 18:00Z). `session_index` counts sessions from `index_epoch(calendar_code)`
    (or from `start` when that is earlier), so a session's index is the same whatever range is
    asked for: an old document widening the range shifts nothing.
    """
    # The default-range instance is cached by exchange_calendars; it only tells us the class.
    calendar_class = type(exchange_calendars.get_calendar(calendar_code))
    lower, upper = calendar_class.bound_min(), calendar_class.bound_max()
    first = max(pd.Timestamp(start), lower) if lower is not None else pd.Timestamp(start)
    last = min(pd.Timestamp(end), upper) if upper is not None else pd.Timestamp(end)
    if first > last:
        return pl.DataFrame(schema=SESSION_SCHEMA)
    # Built from the epoch (or `first` when earlier), so the session counted from is in the frame.
    build_first = min(first, pd.Timestamp(index_epoch(calendar_code)))

    try:
        calendar = exchange_calendars.get_calendar(calendar_code, start=build_first, end=last)
    except exchange_calendars.errors.NoSessionsError:
        return pl.DataFrame(schema=SESSION_SCHEMA)
    schedule = calendar.schedule
    schedule = schedule.assign(is_early_close=schedule.index.isin(calendar.early_closes))
    return (
        pl.from_pandas(schedule[["open", "close", "is_early_close"]].reset_index(names="session"))
        .select(
            calendar_code=pl.lit(calendar_code),
            session_date=pl.col("session").cast(pl.Date),
            session_index=pl.int_range(pl.len()),
            open_at=pl.col("open"),
            close_at=pl.col("close"),
            is_early_close=pl.col("is_early_close"),
        )
        .filter(pl.col("session_date") >= first.date())
        .cast(SESSION_SCHEMA)
    )
