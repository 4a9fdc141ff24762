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


def build_sessions(calendar_code: str, start: date, end: date) -> pl.DataFrame:
    """Every session of `calendar_code` from `start` to `end` (both inclusive), one row each.

    `start` and `end` are clipped to the calendar's supported bounds (`bound_min` / `bound_max`
    of its class, when it has them), so the frame may begin later or end earlier than asked.
    Open and close times are UTC, early closes included (13:00 New York on the day after
    Thanksgiving is 18:00Z); `session_index` counts from 0 at the first returned session, so it
    is stable for a given (calendar_code, start, end).
    """
    # The default-range instance is cached by exchange_calendars; it only tells us the class.
    calendar_class = type(exchange_calendars.get_calendar(calendar_code))
    lower, upper = calendar_class.bound_min(), calendar_class.bound_max()
    first = max(pd.Timestamp(start), lower) if lower is not None else pd.Timestamp(start)
    last = min(pd.Timestamp(end), upper) if upper is not None else pd.Timestamp(end)
    if first > last:
        return pl.DataFrame(schema=SESSION_SCHEMA)

    try:
        calendar = exchange_calendars.get_calendar(calendar_code, start=first, end=last)
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
        .cast(SESSION_SCHEMA)
    )
