"""A synthetic, seeded universe for the benchmark: prices, SEC master, documents, nights, config.

Everything is drawn at once with numpy (one matrix of returns, one vector of events), so a
5,000-ticker x 10-year universe is generated in seconds; Python loops only write files.
Returns follow the market model R = alpha + beta * Rm + noise, plus a known day-0 effect for the
injected themes, so the warehouse's estimates can be checked against what was put in.
"""

import json
import shutil
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl

from ingestion.calendar import build_sessions

BENCHMARK = "^GSPC"
CALENDAR = "XNYS"
# Injected day-0 abnormal returns by theme; the other themes move nothing.
INJECTED = {"Earnings_Beat": 0.02, "Product_Recall": -0.015, "Contract_Win": 0.01}
NULL_THEMES = ("Analyst_Note", "Conference_Talk", "Board_Change", "Market_Chatter", "Index_Review")
EVENT_WINDOWS = [[0, 0], [0, 1], [-1, 1], [-5, 5]]
ESTIMATION_WINDOW = [-250, -11]
MIN_ESTIMATION_RETURNS = 120
TICKERS_PER_FILE = 200  # base price files: a few multi-ticker CSVs, not one file per ticker
DOCS_PER_FOLDER = 5000
# Issue 8's night at full scale: one new session of 5,000 bars and 2,000 of 500,000 documents,
# nine times an average day's share (a busy news day).
NIGHT_DOCS_SHARE = 250


@dataclass(frozen=True)
class Scale:
    tickers: int
    years: int
    docs: int
    nights: int  # the last night gets no new input at all


SCALES = {
    "tiny": Scale(15, 2, 300, 2),
    "small": Scale(100, 3, 3_000, 3),
    "medium": Scale(500, 10, 50_000, 3),
    "full": Scale(5_000, 10, 500_000, 3),
}


@dataclass
class Universe:
    """Where the generated inputs are, and what a night adds."""

    root: Path
    config: Path
    warehouse: Path
    tickers: list[str]
    sessions: list[date]  # every generated session, nights included
    build_sessions: int  # sessions in the initial build
    night_price_files: list[Path]  # per data night: the day file, to be moved into prices/
    night_doc_dirs: list[Path]  # per data night: the folder of its documents
    base_rows: int
    base_docs: int
    night_rows: list[int] = field(default_factory=list)
    night_docs: list[int] = field(default_factory=list)


def ticker_names(n: int) -> list[str]:
    """'QAAAA', 'QAAAB', ...: five letters starting with Q, none a real seed ticker of the project."""
    letters = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZ"))
    idx = np.arange(n)
    digits = [(idx // 26**p) % 26 for p in (3, 2, 1, 0)]
    return ["Q" + "".join(parts) for parts in zip(*(letters[d] for d in digits), strict=True)]


def generate(root: Path, scale: Scale, seed: int = 20261126, today: date | None = None) -> Universe:
    """Write the universe under `root` (emptied first) and return where everything is."""
    rng = np.random.default_rng(seed)
    today = today or datetime.now(UTC).date()
    end = today - timedelta(days=1)  # the last session's close is in the past: nothing is future
    frame = build_sessions(CALENDAR, end - timedelta(days=round(365.25 * scale.years)), end)
    dates = frame["session_date"].to_list()
    closes = frame["close_at"].to_numpy().astype("datetime64[us]")
    n_sessions, n_tickers = len(dates), scale.tickers
    data_nights = max(scale.nights - 1, 0)
    n_build = n_sessions - data_nights

    # Market and stock returns: (sessions x tickers), vectorised.
    rm = rng.normal(0.0003, 0.01, n_sessions)
    rm[0] = 0.0
    alpha = rng.normal(0.0, 0.0003, n_tickers)
    beta = rng.uniform(0.5, 1.5, n_tickers)
    sigma = rng.uniform(0.01, 0.025, n_tickers)
    returns = alpha + np.outer(rm, beta) + rng.normal(size=(n_sessions, n_tickers)) * sigma

    # Events: distinct (session, ticker) pairs, so two injected effects never stack.
    # Each data night gets 1 document in NIGHT_DOCS_SHARE of the scale's (at least one).
    first_event = min(260, n_sessions // 2)
    span = n_build - first_event
    per_night = min(max(1, round(scale.docs / NIGHT_DOCS_SHARE)), n_tickers)
    n_base = min(max(scale.docs - per_night * data_nights, 0), span * n_tickers)
    flat = np.sort(rng.choice(span * n_tickers, size=n_base, replace=False))
    night_tickers = [rng.choice(n_tickers, size=per_night, replace=False) for _ in range(data_nights)]
    ev_session = np.concatenate(
        [first_event + flat // n_tickers, np.repeat(np.arange(n_build, n_sessions), per_night)]
    ).astype(np.int64)
    ev_ticker = np.concatenate([flat % n_tickers, *night_tickers]).astype(np.int64)
    n_docs = len(ev_session)
    themes = np.array([*INJECTED, *NULL_THEMES])
    ev_theme = rng.integers(0, len(themes), n_docs)
    effects = np.array([*INJECTED.values(), *[0.0] * len(NULL_THEMES)])
    returns[ev_session, ev_ticker] += effects[ev_theme]
    expected_day0 = _expected_day0(rm, ev_session, ev_ticker, effects[ev_theme], n_tickers)
    returns[0, :] = 0.0

    # Publication: half during the event session (before its close), half the evening before
    # (after the previous close): both align to the event session.
    before_close = rng.random(n_docs) < 0.5
    minutes = rng.integers(30, 300, n_docs).astype("timedelta64[m]")
    prev_close = closes[np.maximum(ev_session - 1, 0)]
    published = np.where(before_close, closes[ev_session] - minutes, prev_close + minutes)

    root.mkdir(parents=True, exist_ok=True)
    for sub in ("prices", "news", "sec", "nights", "warehouse"):
        _clear(root / sub)
    tickers = ticker_names(n_tickers)
    bars = _bars(rng, returns, rm)
    base_rows = _write_base_prices(root / "prices", tickers, dates, bars, n_build)
    night_files = [
        _write_day(root / "nights" / f"prices_{k}", tickers, dates, bars, n_build + k)
        for k in range(data_nights)
    ]
    _write_sec(root / "sec" / "company_tickers_exchange.json", tickers)
    doc_counts = _write_documents(
        root, tickers, themes, ev_session, ev_ticker, ev_theme, published, n_build
    )
    doc_counts += [0] * (1 + data_nights - len(doc_counts))
    _clear(root / "reference")
    pl.DataFrame(
        {
            "event_id": [f"bench-{i:07d}" for i in range(n_docs)],
            "ticker": np.array(tickers)[ev_ticker],
            "theme": themes[ev_theme],
            "published_at": published,
            "expected_day0_ar": expected_day0,
        }
    ).with_columns(pl.col("published_at").dt.replace_time_zone("UTC")).write_parquet(
        root / "reference" / "events.parquet"
    )
    frame.select(
        "session_date", session_index=pl.int_range(pl.len()), close_at="close_at"
    ).write_parquet(root / "reference" / "sessions.parquet")
    warehouse = root / "warehouse" / "bench.duckdb"
    config = _write_config(root, warehouse)
    return Universe(
        root=root,
        config=config,
        warehouse=warehouse,
        tickers=tickers,
        sessions=dates,
        build_sessions=n_build,
        night_price_files=night_files,
        night_doc_dirs=[root / "nights" / f"news_{k}" for k in range(data_nights)],
        base_rows=base_rows,
        base_docs=doc_counts[0],
        night_rows=[n_tickers + 1] * data_nights,
        night_docs=doc_counts[1:],
    )


def _expected_day0(
    rm: np.ndarray, ev_session: np.ndarray, ev_ticker: np.ndarray, effect: np.ndarray, n_tickers: int
) -> np.ndarray:
    """Per event, the day-0 abnormal return the market model should find, noise aside: its
    injected effect minus the model's fit, over the event's estimation window, of the effects
    injected there. A security's other events sit in its estimation windows (they are not
    event-free), so its alpha and beta absorb some of their effects: at full scale that moves a
    theme's CAAR by about one standard error. OLS is linear in the returns, so the noise-free
    part can be fitted on its own; sums over each window come from cumulative sums."""
    injected = np.zeros((rm.size, n_tickers))
    injected[ev_session, ev_ticker] = effect
    zero = np.zeros((1, n_tickers))
    cum_y = np.vstack([zero, np.cumsum(injected, axis=0)])
    cum_xy = np.vstack([zero, np.cumsum(injected * rm[:, None], axis=0)])
    cum_x, cum_xx = np.r_[0.0, np.cumsum(rm)], np.r_[0.0, np.cumsum(rm * rm)]
    # sessions [start, stop) of the window; session 0 has no return (no previous close)
    start = np.maximum(ev_session + ESTIMATION_WINDOW[0], 1)
    stop = ev_session + ESTIMATION_WINDOW[1] + 1
    n = stop - start
    sy = cum_y[stop, ev_ticker] - cum_y[start, ev_ticker]
    sxy = cum_xy[stop, ev_ticker] - cum_xy[start, ev_ticker]
    sx, sxx = cum_x[stop] - cum_x[start], cum_xx[stop] - cum_xx[start]
    beta = (sxy - sx * sy / n) / (sxx - sx * sx / n)
    alpha = (sy - beta * sx) / n
    return effect - alpha - beta * rm[ev_session]


def _clear(folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)


def _bars(rng: np.random.Generator, returns: np.ndarray, rm: np.ndarray) -> dict[str, np.ndarray]:
    """OHLCV matrices (sessions x 1 + tickers; column 0 is the benchmark) from the returns."""
    all_returns = np.column_stack([rm, returns])
    start = np.concatenate([[1000.0], rng.uniform(10, 200, returns.shape[1])])
    close = start * np.cumprod(1.0 + all_returns, axis=0)
    prev = np.vstack([close[:1], close[:-1]])
    open_ = prev * (1.0 + rng.normal(0, 0.002, close.shape))
    high = np.maximum(open_, close) * (1.0 + rng.uniform(0, 0.01, close.shape))
    low = np.minimum(open_, close) * (1.0 - rng.uniform(0, 0.01, close.shape))
    volume = rng.integers(100_000, 5_000_000, close.shape)
    volume[:, 0] *= 1000
    return {"Open": open_, "High": high, "Low": low, "Close": close, "Volume": volume}


def _long_frame(tickers: list[str], dates: list[date], bars: dict, rows: slice, cols: slice):
    """The CSV rows of sessions `rows` x columns `cols` (0 = benchmark), in the sample format."""
    names = np.array([BENCHMARK, *tickers])[cols]
    days = np.array(dates, dtype="datetime64[D]")[rows]
    n_days, n_names = len(days), len(names)
    close = bars["Close"][rows, cols]
    return pl.DataFrame(
        {
            "Ticker": np.tile(names, n_days),
            "Date": np.repeat(days, n_names),
            "Open": bars["Open"][rows, cols].ravel(),
            "High": bars["High"][rows, cols].ravel(),
            "Low": bars["Low"][rows, cols].ravel(),
            "Close": close.ravel(),
            "Adj Close": close.ravel(),
            "Volume": bars["Volume"][rows, cols].ravel(),
        }
    ).sort("Ticker", "Date", maintain_order=True)


def _write_base_prices(folder: Path, tickers, dates, bars, n_build: int) -> int:
    """The build's history: the benchmark's own file plus multi-ticker files of 200 tickers."""
    rows = slice(0, n_build)
    _long_frame(tickers, dates, bars, rows, slice(0, 1)).write_csv(folder / "GSPC.csv")
    count = n_build
    for first in range(1, len(tickers) + 1, TICKERS_PER_FILE):
        cols = slice(first, min(first + TICKERS_PER_FILE, len(tickers) + 1))
        part = _long_frame(tickers, dates, bars, rows, cols)
        part.write_csv(folder / f"tickers_{first:05d}.csv")
        count += part.height
    return count


def _write_day(folder: Path, tickers, dates, bars, session: int) -> Path:
    """One session of bars for every ticker and the benchmark: the file a user drops for a day."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"day_{dates[session].isoformat()}.csv"
    _long_frame(tickers, dates, bars, slice(session, session + 1), slice(0, None)).write_csv(path)
    return path


def _write_sec(path: Path, tickers: list[str]) -> None:
    """SEC's company_tickers_exchange.json shape: every synthetic ticker is a listed company."""
    data = [
        [9_000_000 + i, f"{_company(t).upper()} INC", t, "NYSE"] for i, t in enumerate(tickers)
    ]
    path.write_text(json.dumps({"fields": ["cik", "name", "ticker", "exchange"], "data": data}))


def _company(ticker: str) -> str:
    return f"{ticker.capitalize()} Holdings"


def _write_documents(root, tickers, themes, ev_session, ev_ticker, ev_theme, published, n_build):
    """One `.txt` per event: front matter, a body, the company, its cashtag and the theme."""
    counts = [0] * (1 + max(int(ev_session.max()) + 1 - n_build, 0))
    stamps = np.datetime_as_string(published, unit="s")
    for k in range(len(counts) - 1):
        (root / "nights" / f"news_{k}").mkdir(parents=True, exist_ok=True)
    for i in range(len(ev_session)):
        session, ticker, theme = int(ev_session[i]), tickers[ev_ticker[i]], themes[ev_theme[i]]
        if session < n_build:
            folder = root / "news" / f"batch_{i // DOCS_PER_FOLDER:04d}"
            counts[0] += 1
        else:
            k = session - n_build
            folder = root / "nights" / f"news_{k}"
            counts[1 + k] += 1
        folder.mkdir(parents=True, exist_ok=True)
        company = _company(ticker)
        text = (
            f"---\nid: bench-{i:07d}\npublished_at: {stamps[i]}Z\nsource: bench-wire\n"
            f"title: {company} news {i}\n---\n"
            f"{company} ({ticker}) was in the news today, in a synthetic item about "
            f"{theme.replace('_', ' ').lower()}.\n"
            f"{company}: {company} is a synthetic listed company of the benchmark universe.\n"
            f"${ticker}: ${ticker} is the stock ticker of {company}.\n"
            f"{theme}: A synthetic theme of the benchmark.\n"
        )
        (folder / f"{i:07d}.txt").write_text(text)
    return counts


def _write_config(root: Path, warehouse: Path) -> Path:
    """The bench warehouse's config: local folders only (documents, csv, the SEC file)."""
    path = root / "bench.toml"
    path.write_text(
        "# Generated by `python -m newsimpact.bench`: the synthetic benchmark universe.\n"
        "[warehouse]\n"
        f'path = "{warehouse.relative_to(root).as_posix()}"\n\n'
        '[[sources.news]]\ntype = "documents"\npath = "news"\n\n'
        '[[sources.prices]]\ntype = "csv"\npath = "prices"\n\n'
        '[[sources.securities]]\ntype = "sec_company_tickers"\n'
        'path = "sec/company_tickers_exchange.json"\n\n'
        "[event_study]\n"
        f'benchmark = "{BENCHMARK}"\ncalendar = "{CALENDAR}"\n'
        f"estimation_window = {ESTIMATION_WINDOW}\n"
        f"min_estimation_returns = {MIN_ESTIMATION_RETURNS}\n"
        f"event_windows = {EVENT_WINDOWS}\n"
    )
    return path
