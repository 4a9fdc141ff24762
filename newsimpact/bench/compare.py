"""The warehouse's CARs against two independent implementations on the same CSV files.

* floor: a bare DuckDB event study (read the CSVs, returns, a rolling market model with window
  regr_* functions, CARs per window): about the least work any SQL engine must do, so the
  warehouse's time over it is the price of its checks, history and publication.
* peer: one OLS per event in numpy, the way the popular open event-study packages do it
  (slice the series around the event, regress, abnormal returns, sum).
Both align news the warehouse's way (the first session whose close is after publication) and keep
only fully measured CARs (the estimation window has >= min returns, every window day has R and Rm),
which must be exactly the warehouse's `status = 'ok'` rows.
"""

import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

KEY = ["event_id", "ticker", "window_start", "window_end"]


def warehouse_cars(warehouse: Path) -> pl.DataFrame:
    """The published fct_event_impact's ok CARs (read-only: as a BI reader would)."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.sql(
            "select event_id, ticker, window_start, window_end, car from marts.fct_event_impact "
            "where status = 'ok'"
        ).pl()


def floor_cars(
    prices: Path, events: Path, sessions: Path, benchmark: str, windows, estimation, min_n: int
) -> pl.DataFrame:
    """The bare DuckDB event study: one SQL statement over the CSV files."""
    e1, e2 = estimation
    window_values = ", ".join(f"({a}, {b})" for a, b in windows)
    sql = f"""
    with px as (
        select Ticker as ticker, Date as session_date, "Adj Close" as adj
        from read_csv('{prices}/**/*.csv', header = true,
            columns = {{'Ticker': 'VARCHAR', 'Date': 'DATE', 'Open': 'DOUBLE', 'High': 'DOUBLE',
                        'Low': 'DOUBLE', 'Close': 'DOUBLE', 'Adj Close': 'DOUBLE',
                        'Volume': 'DOUBLE'}})
    ),
    sessions as (select * from read_parquet('{sessions}')),
    rets as (
        select px.ticker, s.session_index as i,
            px.adj / lag(px.adj) over (partition by px.ticker order by s.session_index) - 1 as r
        from px join sessions s using (session_date)
    ),
    x as (
        select rets.ticker, rets.i, rets.r, bm.r as rm
        from rets join rets bm on bm.i = rets.i and bm.ticker = '{benchmark}'
        where rets.ticker <> '{benchmark}'
    ),
    mm as (
        select ticker, i,
            regr_count(r, rm) over w as n,
            regr_intercept(r, rm) over w as alpha,
            regr_slope(r, rm) over w as beta,
            regr_sxx(r, rm) over w as sxx
        from x
        window w as (partition by ticker order by i
                     range between {-e1} preceding and {-e2} preceding)
    ),
    ev as (
        select e.event_id, e.ticker, s.session_index as i0
        from read_parquet('{events}') e
        asof join sessions s on e.published_at < s.close_at
    ),
    w(window_start, window_end) as (values {window_values}),
    cars as (
        select ev.event_id, ev.ticker, w.window_start, w.window_end,
            count(x.r - x.rm) as days,
            sum(x.r - (mm.alpha + mm.beta * x.rm) order by x.i) as car,
            any_value(mm.n) as n, any_value(mm.sxx) as sxx
        from ev
        join mm on mm.ticker = ev.ticker and mm.i = ev.i0
        cross join w
        join x on x.ticker = ev.ticker and x.i between ev.i0 + w.window_start and ev.i0 + w.window_end
        group by all
    )
    select event_id, ticker, cast(window_start as integer) as window_start,
        cast(window_end as integer) as window_end, car
    from cars
    where days = window_end - window_start + 1 and n >= {min_n} and n > 2 and sxx > 0
    """
    with duckdb.connect() as con:
        return con.sql(sql).pl()


def peer_cars(
    prices: Path, events: Path, sessions: Path, benchmark: str, windows, estimation, min_n: int
) -> pl.DataFrame:
    """Per-event OLS in numpy, as event-study packages do: one regression per event."""
    e1, e2 = estimation
    cal = pl.read_parquet(sessions)
    closes = cal["close_at"].to_numpy()
    px = pl.read_csv(
        sorted(prices.rglob("*.csv")),
        schema_overrides={"Ticker": pl.String, "Date": pl.Date, "Adj Close": pl.Float64},
        columns=["Ticker", "Date", "Adj Close"],
    ).join(cal.select(Date="session_date", i="session_index"), on="Date")
    series: dict[str, np.ndarray] = {}
    for (ticker,), part in px.group_by("Ticker"):
        adj = np.full(len(closes), np.nan)
        adj[part["i"].to_numpy()] = part["Adj Close"].to_numpy()
        ret = np.full(len(closes), np.nan)
        ret[1:] = adj[1:] / adj[:-1] - 1
        series[ticker] = ret
    rm = series[benchmark]
    ev = pl.read_parquet(events)
    published = ev["published_at"].to_numpy()
    day0 = np.searchsorted(closes, published, side="right")
    rows: list[tuple] = []
    for event_id, ticker, i0 in zip(ev["event_id"], ev["ticker"], day0, strict=True):
        r = series.get(ticker)
        if r is None or i0 >= len(closes):
            continue
        lo, hi = i0 + e1, i0 + e2 + 1
        y, x = r[max(lo, 0):max(hi, 0)], rm[max(lo, 0):max(hi, 0)]
        ok = ~(np.isnan(y) | np.isnan(x))
        y, x = y[ok], x[ok]
        if len(y) < max(min_n, 3) or np.var(x) == 0:
            continue
        design = np.column_stack([np.ones(len(x)), x])
        (alpha, beta), *_ = np.linalg.lstsq(design, y, rcond=None)
        for a, b in windows:
            if i0 + a < 0 or i0 + b >= len(closes):
                continue
            ar = r[i0 + a:i0 + b + 1] - (alpha + beta * rm[i0 + a:i0 + b + 1])
            if np.isnan(ar).any():
                continue
            rows.append((event_id, ticker, a, b, float(np.sum(ar))))
    return pl.DataFrame(
        rows, schema={"event_id": pl.String, "ticker": pl.String, "window_start": pl.Int32,
                      "window_end": pl.Int32, "car": pl.Float64}, orient="row",
    )


def timed(function, *args) -> tuple[pl.DataFrame, float]:
    start = time.perf_counter()
    result = function(*args)
    return result, time.perf_counter() - start


def agreement(left: pl.DataFrame, right: pl.DataFrame) -> dict:
    """Key sets and the largest |ΔCAR| on the keys both have."""
    joined = left.join(right, on=KEY, how="full", suffix="_r", coalesce=True)
    both = joined.filter(pl.col("car").is_not_null() & pl.col("car_r").is_not_null())
    delta = (both["car"] - both["car_r"]).abs().max() if both.height else None
    return {
        "common": both.height,
        "only_left": joined.filter(pl.col("car_r").is_null()).height,
        "only_right": joined.filter(pl.col("car").is_null()).height,
        "max_abs_delta": float(delta) if delta is not None else None,
    }
