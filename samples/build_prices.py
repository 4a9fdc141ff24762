"""Rebuild the bundled sample prices in ``samples/prices/`` from two packaged data sets.

Run from the repository root with the project's venv (both packages are dev dependencies)::

    .venv/bin/python samples/build_prices.py

Sources
-------
* ``bokeh-sampledata``: ``bokeh_sampledata/_data/stocks.csv.gz`` -> AAPL, FB, GOOG, IBM, MSFT
  (columns ``Ticker,Date,Open,High,Low,Close,Volume,Adj Close``).
* ``arch``: ``arch.data.sp500.load()`` -> the S&P 500 index, written as ticker ``^GSPC`` to
  ``GSPC.csv`` (columns ``Open,High,Low,Close,Adj Close,Volume``, indexed by ``Date``).

Output: one CSV per ticker with header ``Ticker,Date,Open,High,Low,Close,Adj Close,Volume``,
rows for the sessions 2009-01-01..2013-03-01 (both inclusive), sorted by date. Prices are written
with ``repr(float)`` (the shortest text that parses back to the very same double), so the numbers
in the files are exactly the packages' numbers: nothing is rounded, fixed or dropped. Volumes are
written as integers. Rows that would break the input rules (Low > High, non-positive price,
negative volume, duplicate dates, missing values) are reported on stderr, not repaired: the
ingestion quarantines them.

The script is deterministic: running it twice writes byte-identical files.
"""

from __future__ import annotations

import csv
import gzip
import math
import sys
from importlib import metadata
from pathlib import Path

import pandas as pd

START = "2009-01-01"
END = "2013-03-01"
BOKEH_TICKERS = ("AAPL", "FB", "GOOG", "IBM", "MSFT")
BENCHMARK_TICKER = "^GSPC"
BENCHMARK_FILE = "GSPC.csv"
HEADER = ["Ticker", "Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
PRICE_COLUMNS = ["Open", "High", "Low", "Close", "Adj Close"]

OUT_DIR = Path(__file__).resolve().parent / "prices"


def load_bokeh_stocks() -> pd.DataFrame:
    """The bokeh-sampledata stocks table; numbers parsed by Python's float() (correctly rounded)."""
    import bokeh_sampledata

    path = Path(bokeh_sampledata.__file__).resolve().parent / "_data" / "stocks.csv.gz"
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    df = pd.DataFrame(rows, dtype=object)
    for c in PRICE_COLUMNS + ["Volume"]:
        df[c] = [float(v) if v.strip() else math.nan for v in df[c]]
    return df


def load_sp500() -> pd.DataFrame:
    """The arch S&P 500 frame, as returned by ``arch.data.sp500.load()``, with a Date column."""
    from arch.data import sp500

    df = sp500.load()
    df = df.reset_index()
    df["Date"] = pd.to_datetime(df["Date"]).dt.strftime("%Y-%m-%d")
    df.insert(0, "Ticker", BENCHMARK_TICKER)
    return df


def fmt_price(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return repr(float(value))


def fmt_volume(value: float) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    as_float = float(value)
    if as_float.is_integer():
        return str(int(as_float))
    return repr(as_float)


def check(ticker: str, df: pd.DataFrame) -> list[str]:
    """Rule breaches of the input spec (reported, never fixed)."""
    problems: list[str] = []
    for row in df.to_dict("records"):
        values = {c: row[c] for c in PRICE_COLUMNS + ["Volume"]}
        where = f"{ticker}@{row['Date']}"
        missing = [c for c, v in values.items() if pd.isna(v)]
        if missing:
            problems.append(f"{where}: missing {', '.join(missing)}")
            continue
        if values["Low"] > values["High"]:
            problems.append(f"{where}: Low {values['Low']!r} > High {values['High']!r}")
        for c in PRICE_COLUMNS:
            if values[c] <= 0:
                problems.append(f"{where}: non-positive {c} {values[c]!r}")
        if values["Volume"] < 0:
            problems.append(f"{where}: negative Volume {values['Volume']!r}")
        for c in ("Open", "Close"):
            if not values["Low"] <= values[c] <= values["High"]:
                problems.append(
                    f"{where}: {c} {values[c]!r} outside [Low {values['Low']!r}, High {values['High']!r}]"
                    " (not a spec rule, informational)"
                )
    dup = df[df.duplicated("Date", keep=False)]
    for date in sorted(set(dup["Date"])):
        problems.append(f"{ticker}@{date}: duplicate date ({int((df['Date'] == date).sum())} rows)")
    return problems


def write(ticker: str, df: pd.DataFrame, filename: str) -> Path:
    path = OUT_DIR / filename
    df = df[(df["Date"] >= START) & (df["Date"] <= END)].sort_values("Date", kind="stable")
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for row in df.to_dict("records"):
            writer.writerow(
                [ticker, row["Date"]]
                + [fmt_price(row[c]) for c in PRICE_COLUMNS]
                + [fmt_volume(row["Volume"])]
            )
    for problem in check(ticker, df):
        print(f"WARNING {problem}", file=sys.stderr)
    print(f"{path.name}: {len(df)} rows, {df['Date'].min()}..{df['Date'].max()}")
    return path


def main() -> int:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    print(
        f"bokeh-sampledata {metadata.version('bokeh-sampledata')}, arch {metadata.version('arch')}, "
        f"range {START}..{END}"
    )
    stocks = load_bokeh_stocks()
    for ticker in BOKEH_TICKERS:
        frame = stocks[stocks["Ticker"] == ticker].rename(columns=lambda c: c.strip())
        write(ticker, frame, f"{ticker}.csv")
    write(BENCHMARK_TICKER, load_sp500(), BENCHMARK_FILE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
