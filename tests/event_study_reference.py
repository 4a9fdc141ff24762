"""Independent reference implementation of the event study (warehouse contract, MacKinlay 1997).

Written from ``docs/warehouse-contract.md`` only: it reads the raw price CSVs, takes the
sessions from ``exchange_calendars`` and does the maths with numpy (OLS by ``numpy.linalg.lstsq``).
Nothing here reuses the dbt SQL, so ``tests/test_event_study_independent.py`` can compare the two.

Definitions implemented (see the contract):

* event_session: the first calendar session whose close is after ``published_at`` (a time at or after
  the close, the early close included, belongs to the next session).
* R_t = AdjClose_t / AdjClose at the previous calendar session - 1, null (NaN) when either bar is
  missing; the benchmark's Rm_t likewise. A day outside the calendar has no bar.
* Estimation window [s+E1, s+E2]: OLS of R on Rm over the days where both are non-null; n their count;
  no model when n < min_estimation_returns; sigma^2 = SSR / (n - 2).
* AR = R - (alpha + beta Rm); CAR[a, b] = sum AR; car_t = CAR / (sigma sqrt(b - a + 1)).
* raw_return = prod(1 + R) - 1, benchmark_return = prod(1 + Rm) - 1, car_market_adjusted = sum(R - Rm)
  (for ok and insufficient_history rows).
* abnormal_volume_ratio = mean volume of the bars in the event window / mean volume of the bars in the
  estimation window (for [0, 0]: day-0 volume / mean estimation volume); null when either has no bar.
* status, first match wins: no_timestamp, no_price_coverage (no bar in the window), missing_prices,
  insufficient_history, ok.

Run standalone against a warehouse file (e.g. a scratch build)::

    .venv/bin/python tests/event_study_reference.py WAREHOUSE.duckdb --prices samples/prices
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

# A fit with SSR <= PERFECT_FIT_TOLERANCE * Syy (R^2 within 1e-12 of 1, e.g. the benchmark regressed on
# itself) is a perfect fit: sigma = 0 and car_t is null, rather than ratios of rounding noise.
PERFECT_FIT_TOLERANCE = 1e-12

FIGURES = (
    "estimation_returns",
    "alpha",
    "beta",
    "sigma",
    "raw_return",
    "benchmark_return",
    "car_market_adjusted",
    "car",
    "car_t",
    "abnormal_volume_ratio",
)


@dataclass(frozen=True)
class EventStudyConfig:
    benchmark: str = "^GSPC"
    calendar: str = "XNYS"
    estimation_window: tuple[int, int] = (-250, -11)
    min_estimation_returns: int = 120
    event_windows: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (-1, 1), (-5, 5))

    @classmethod
    def from_any(cls, obj) -> "EventStudyConfig":
        """Accept this class, a mapping or any object with the config's attribute names."""
        if isinstance(obj, cls):
            return obj
        get = obj.get if isinstance(obj, dict) else (lambda k, d=None: getattr(obj, k, d))
        d = cls()
        return cls(
            benchmark=get("benchmark", d.benchmark),
            calendar=get("calendar", d.calendar),
            estimation_window=tuple(int(x) for x in get("estimation_window", d.estimation_window)),
            min_estimation_returns=int(get("min_estimation_returns", d.min_estimation_returns)),
            event_windows=tuple(tuple(int(x) for x in w) for w in get("event_windows", d.event_windows)),
        )


# --------------------------------------------------------------------------------------------------
# Prices
# --------------------------------------------------------------------------------------------------


@dataclass
class Bar:
    adj_close: float
    volume: float


def _ticker_from_filename(path: Path) -> str:
    # AAPL.csv -> AAPL; Stooq's aapl.us.txt -> AAPL
    return path.name.split(".")[0].upper()


def load_prices(prices_dir: str | Path) -> dict[str, dict[dt.date, Bar]]:
    """ticker -> {date: Bar} from every CSV under the folder; rule-breaking rows are left out."""
    out: dict[str, dict[dt.date, Bar]] = {}
    seen: dict[tuple[str, dt.date], tuple] = {}
    conflicting: set[tuple[str, dt.date]] = set()
    files = sorted(
        p for p in Path(prices_dir).rglob("*") if p.is_file() and p.suffix.lower() in (".csv", ".txt")
    )
    for path in files:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            try:
                header = next(reader)
            except StopIteration:
                continue
            cols = {h.strip().lower(): i for i, h in enumerate(header)}
            tcol = cols.get("ticker", cols.get("symbol"))
            for row in reader:
                if not row or all(not c.strip() for c in row):
                    continue
                try:
                    raw_ticker = row[tcol].strip() if tcol is not None else _ticker_from_filename(path)
                    ticker = raw_ticker.upper()
                    date = dt.date.fromisoformat(row[cols["date"]].strip())
                    o, h, l, c = (float(row[cols[k]]) for k in ("open", "high", "low", "close"))
                    adj_text = row[cols["adj close"]].strip() if "adj close" in cols else ""
                    adj = float(adj_text) if adj_text else c
                    vol = float(row[cols["volume"]])
                except (ValueError, KeyError, IndexError):
                    continue
                values = (o, h, l, c, adj, vol)
                broken = any(math.isnan(v) for v in values) or min(o, h, l, c, adj) <= 0
                if broken or vol < 0 or l > h:
                    continue
                key = (ticker, date)
                if key in seen:
                    if seen[key] != values:
                        conflicting.add(key)
                    continue
                seen[key] = values
                out.setdefault(ticker, {})[date] = Bar(adj, vol)
    for ticker, date in conflicting:
        out[ticker].pop(date, None)
    return out


# --------------------------------------------------------------------------------------------------
# Calendar
# --------------------------------------------------------------------------------------------------


@dataclass
class Calendar:
    dates: list[dt.date]
    closes_utc: list[dt.datetime]
    index: dict[dt.date, int] = field(init=False)

    def __post_init__(self):
        self.index = {d: i for i, d in enumerate(self.dates)}

    @classmethod
    def load(cls, code: str, start: dt.date, end: dt.date) -> "Calendar":
        import exchange_calendars as xc

        cal = xc.get_calendar(code, start=start.isoformat(), end=end.isoformat())
        sched = cal.schedule
        dates = [ts.date() for ts in sched.index]
        closes = [ts.to_pydatetime() for ts in sched["close"]]  # tz-aware UTC
        return cls(dates, closes)

    def event_session_index(self, published_at: dt.datetime | None) -> int | None:
        if published_at is None:
            return None
        if published_at.tzinfo is None:
            published_at = published_at.replace(tzinfo=dt.timezone.utc)
        for i, close in enumerate(self.closes_utc):  # small calendars: linear scan keeps it obvious
            if close > published_at:
                return i
        return None  # after the calendar's last close


# --------------------------------------------------------------------------------------------------
# Event study
# --------------------------------------------------------------------------------------------------


@dataclass
class Series:
    """A security's series aligned to the calendar: NaN where there is no bar / no return."""

    adj: np.ndarray
    volume: np.ndarray
    ret: np.ndarray

    @classmethod
    def build(cls, bars: dict[dt.date, Bar], cal: Calendar) -> "Series":
        n = len(cal.dates)
        adj = np.full(n, np.nan)
        vol = np.full(n, np.nan)
        for d, bar in bars.items():
            i = cal.index.get(d)
            if i is not None:  # a bar on a non-session date has no place in the calendar
                adj[i] = bar.adj_close
                vol[i] = bar.volume
        ret = np.full(n, np.nan)
        ret[1:] = adj[1:] / adj[:-1] - 1.0  # NaN whenever either side is missing
        return cls(adj, vol, ret)

    def take(self, attr: str, lo: int, hi: int) -> np.ndarray:
        """Values for calendar indices lo..hi inclusive; NaN outside the calendar."""
        arr = getattr(self, attr)
        idx = np.arange(lo, hi + 1)
        out = np.full(idx.size, np.nan)
        ok = (idx >= 0) & (idx < arr.size)
        out[ok] = arr[idx[ok]]
        return out


def _nanmean_or_none(x: np.ndarray) -> float | None:
    x = x[~np.isnan(x)]
    return float(x.mean()) if x.size else None


def event_impact(
    series: Series, bench: Series, s: int | None, has_timestamp: bool, window: tuple[int, int],
    cfg: EventStudyConfig,
) -> dict:
    """Every fct_event_impact figure for one (event, security, window)."""
    a, b = window
    row = {k: None for k in FIGURES}
    row["event_session_index"] = s
    if not has_timestamp:
        row["status"] = "no_timestamp"
        return row
    if s is None:  # published after the calendar's last close
        row["status"] = "no_price_coverage"
        return row

    # --- market model at day 0
    e1, e2 = cfg.estimation_window
    est_r = series.take("ret", s + e1, s + e2)
    est_m = bench.take("ret", s + e1, s + e2)
    both = ~np.isnan(est_r) & ~np.isnan(est_m)
    n = int(both.sum())
    row["estimation_returns"] = n
    alpha = beta = sigma = None
    if n >= cfg.min_estimation_returns and n > 2:
        y, x = est_r[both], est_m[both]
        X = np.column_stack([np.ones(n), x])
        coef, *_ = np.linalg.lstsq(X, y, rcond=None)
        if np.ptp(x) > 0:
            alpha, beta = float(coef[0]), float(coef[1])
            resid = y - X @ coef
            ssr, syy = float(resid @ resid), float(((y - y.mean()) ** 2).sum())
            sigma = 0.0 if ssr <= PERFECT_FIT_TOLERANCE * syy else math.sqrt(ssr / (n - 2))
    row.update(alpha=alpha, beta=beta, sigma=sigma)

    # --- event window
    r = series.take("ret", s + a, s + b)
    m = bench.take("ret", s + a, s + b)
    vol = series.take("volume", s + a, s + b)
    est_vol = series.take("volume", s + e1, s + e2)
    n_bars = int((~np.isnan(series.take("adj", s + a, s + b))).sum())
    mean_vol, mean_est_vol = _nanmean_or_none(vol), _nanmean_or_none(est_vol)
    if mean_vol is not None and mean_est_vol:
        row["abnormal_volume_ratio"] = mean_vol / mean_est_vol

    if n_bars == 0:
        row["status"] = "no_price_coverage"
        return row
    if np.isnan(r).any() or np.isnan(m).any():
        row["status"] = "missing_prices"
        return row
    row["raw_return"] = float(np.prod(1.0 + r) - 1.0)
    row["benchmark_return"] = float(np.prod(1.0 + m) - 1.0)
    row["car_market_adjusted"] = float(np.sum(r - m))
    if sigma is None:
        row["status"] = "insufficient_history"
        return row
    ar = r - (alpha + beta * m)
    car = float(ar.sum())
    row["status"] = "ok"
    row["car"] = car
    row["car_t"] = car / (sigma * math.sqrt(b - a + 1)) if sigma > 0 else None
    return row


@dataclass(frozen=True)
class LinkedPair:
    event_id: str
    security_id: str
    tickers: tuple[tuple[str, dt.date | None, dt.date | None], ...]  # (ticker, valid_from, valid_to)
    published_at: dt.datetime | None


def security_bars(prices: dict[str, dict[dt.date, Bar]], tickers) -> dict[dt.date, Bar]:
    """A security's bars: each ticker's bars inside its period [valid_from, valid_to] (inclusive)."""
    out: dict[dt.date, Bar] = {}
    for ticker, valid_from, valid_to in tickers:
        for d, bar in prices.get(ticker, {}).items():
            if (valid_from is None or d >= valid_from) and (valid_to is None or d <= valid_to):
                out[d] = bar
    return out


def compute_reference(
    pairs: list[LinkedPair], prices: dict[str, dict[dt.date, Bar]], cal: Calendar, cfg: EventStudyConfig
) -> dict[tuple[str, str, int, int], dict]:
    """(event_id, security_id, window_start, window_end) -> figures, for every pair and window."""
    bench = Series.build(prices.get(cfg.benchmark.upper(), {}), cal)
    cache: dict[tuple, Series] = {}
    out = {}
    for p in pairs:
        if p.tickers not in cache:
            # a security without any bar is an all-NaN series (status no_price_coverage)
            cache[p.tickers] = Series.build(security_bars(prices, p.tickers), cal)
        series = cache[p.tickers]
        s = cal.event_session_index(p.published_at)
        for w in cfg.event_windows:
            row = event_impact(series, bench, s, p.published_at is not None, tuple(w), cfg)
            row["event_session"] = cal.dates[s] if s is not None else None
            out[(p.event_id, p.security_id, int(w[0]), int(w[1]))] = row
    return out


# --------------------------------------------------------------------------------------------------
# Reading the linked pairs from a warehouse and comparing
# --------------------------------------------------------------------------------------------------


def _has_table(con, schema: str, table: str) -> bool:
    return bool(
        con.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchone()[0]
    )


def linked_pairs_from_warehouse(con) -> list[LinkedPair]:
    """The (event, security) pairs of marts.fct_event_impact with the event's published_at and the
    security's ticker periods (marts.dim_security when present, else the row's ticker)."""
    rows = con.execute(
        """
        select distinct fi.event_id, fi.security_id, fi.ticker, ne.published_at
        from marts.fct_event_impact as fi
        left join marts.fct_news_event as ne on ne.event_id = fi.event_id
        """
    ).fetchall()
    periods: dict[str, list] = {}
    if _has_table(con, "marts", "dim_security"):
        for sid, ticker, vf, vt in con.execute(
            "select security_id, ticker, valid_from, valid_to from marts.dim_security"
        ).fetchall():
            periods.setdefault(sid, []).append((ticker.upper(), vf, vt))
    pairs = []
    for event_id, security_id, ticker, published_at in rows:
        tickers = tuple(sorted(periods.get(security_id) or [(ticker.upper(), None, None)], key=str))
        if published_at is not None and published_at.tzinfo is None:
            published_at = published_at.replace(tzinfo=dt.timezone.utc)
        pairs.append(LinkedPair(event_id, security_id, tickers, published_at))
    return pairs


def calendar_span(con, code: str, prices) -> tuple[dt.date, dt.date]:
    """The span of sessions the pipeline loaded (raw.exchange_sessions), else around the prices."""
    if _has_table(con, "raw", "exchange_sessions"):
        lo, hi = con.execute(
            "select min(session_date), max(session_date) from raw.exchange_sessions where calendar_code = ?",
            [code],
        ).fetchone()
        if lo is not None:
            return lo, hi
    dates = [d for bars in prices.values() for d in bars]
    return min(dates) - dt.timedelta(days=400), max(dates) + dt.timedelta(days=400)


def warehouse_rows(con) -> dict[tuple[str, str, int, int], dict]:
    cols = ["event_id", "security_id", "window_start", "window_end", "status", "event_session", *FIGURES]
    out = {}
    for rec in con.execute(f"select {', '.join(cols)} from marts.fct_event_impact").fetchall():
        row = dict(zip(cols, rec))
        out[(row["event_id"], row["security_id"], row["window_start"], row["window_end"])] = row
    return out


def compare(reference: dict, warehouse: dict, tol: float = 1e-9) -> list[str]:
    """Human-readable differences; empty when every row matches to `tol` absolute."""
    problems = []
    missing, extra = set(reference) - set(warehouse), set(warehouse) - set(reference)
    problems += [f"row missing from the warehouse: {k}" for k in sorted(missing)]
    problems += [f"unexpected warehouse row: {k}" for k in sorted(extra)]
    for key in sorted(set(reference) & set(warehouse)):
        ref, got = reference[key], warehouse[key]
        for col in ("status", "event_session"):
            if ref[col] != got[col]:
                problems.append(f"{key} {col}: warehouse {got[col]!r} != reference {ref[col]!r}")
        for col in FIGURES:
            r, g = ref[col], got[col]
            if r is None or g is None or (isinstance(g, float) and math.isnan(g)):
                if not (r is None and (g is None or (isinstance(g, float) and math.isnan(g)))):
                    problems.append(f"{key} {col}: warehouse {g!r} != reference {r!r}")
            elif abs(float(r) - float(g)) > tol:
                problems.append(
                    f"{key} {col}: warehouse {g!r} != reference {r!r} (diff {abs(r - g):.3g})"
                )
    return problems


def run(warehouse_path: str | Path, prices_dir: str | Path, cfg: EventStudyConfig | None = None):
    """(reference rows, warehouse rows) for a built warehouse file, opened read-only."""
    import duckdb

    cfg = cfg or EventStudyConfig()
    prices = load_prices(prices_dir)
    con = duckdb.connect(str(warehouse_path), read_only=True)
    try:
        con.execute("set TimeZone = 'UTC'")
        pairs = linked_pairs_from_warehouse(con)
        start, end = calendar_span(con, cfg.calendar, prices)
        got = warehouse_rows(con)
    finally:
        con.close()
    cal = Calendar.load(cfg.calendar, start, end)
    return compute_reference(pairs, prices, cal, cfg), got


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("warehouse")
    ap.add_argument("--prices", default=str(Path(__file__).resolve().parents[1] / "samples" / "prices"))
    ap.add_argument("--tol", type=float, default=1e-9)
    args = ap.parse_args(argv)
    reference, got = run(args.warehouse, args.prices)
    problems = compare(reference, got, args.tol)
    statuses: dict[str, int] = {}
    for row in reference.values():
        statuses[row["status"]] = statuses.get(row["status"], 0) + 1
    print(f"{len(reference)} reference rows, {len(got)} warehouse rows; reference statuses {statuses}")
    worst = {c: max((abs(float(r[c]) - float(got[k][c])) for k, r in reference.items()
                     if k in got and r[c] is not None and got[k][c] is not None), default=0.0)
             for c in FIGURES}
    print("largest absolute differences: " + ", ".join(f"{c} {v:.2g}" for c, v in worst.items()))
    for p in problems[:50]:
        print("  " + p)
    print("OK: every row matches" if not problems else f"{len(problems)} differences")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
