"""The event-study test statistics (marts.fct_event_scar, marts.mart_theme_significance and the
confounded windows) against an independent recomputation, and on synthetic data with a known answer.

On the samples every figure is recomputed from the raw price CSVs and exchange_calendars, straight
from the published formulas, with plain numpy / scipy loops: the OLS of ``tests/event_study_reference.py``
(its ``Series`` / ``Calendar``), the CAR variance as the matrix form sigma^2 1'(I + X0 (X'X)^-1 X0')1
of MacKinlay (1997), correlations by ``np.corrcoef`` pair by pair, ranks by ``scipy.stats.rankdata``.
Only the (event, security) pairs, the events' published_at and the theme tags come from the
warehouse; its statistic tables are read only to compare.

The synthetic checks call ``newsimpact.event_study_tests.event_study_tests`` -- the function the dbt
Python models run -- on returns drawn from a market model: with an injected abnormal return every test
rejects, under the null each rejects about 5 % of the time at the 5 % level.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy import stats

from newsimpact.event_study_tests import (
    MIN_COMMON_SESSIONS,
    _RankSums,
    _add_window_ranks,
    estimation_correlations,
    event_study_tests,
    event_study_tests_in_duckdb,
    rank_sums_in_duckdb,
    standardised_cars,
)

try:  # tests/ as a package, or as a plain folder on sys.path (pytest's default rootdir import)
    from tests import event_study_reference as ref
except ImportError:
    import event_study_reference as ref

TOLERANCE = 1e-9
STATISTICS = (
    "caar", "caar_se", "caar_ci_low", "caar_ci_high", "t_cross_section", "p_cross_section",
    "patell_z", "p_patell", "bmp_t", "p_bmp", "kp_t", "p_kp", "corrado_t", "p_corrado", "sign_z", "p_sign",
)
P_VALUES = tuple(c for c in STATISTICS if c.startswith("p_"))


# --------------------------------------------------------------------------------------------------
# Independent recomputation on the samples
# --------------------------------------------------------------------------------------------------


@dataclass
class Car:
    """One ok (event, security, window) recomputed from the CSVs."""

    event_id: str
    security_id: str
    window: tuple[int, int]
    session: int
    car: float
    scar: float | None
    n: int
    estimation_ar: dict[int, float]  # session_index -> AR (the OLS residuals)
    ranked_ar: dict[int, float]  # relative day -> AR over the estimation and event windows


def recompute_car(
    event_id: str, security_id: str, series, bench, s: int, window: tuple[int, int], cfg
) -> Car:
    e1, e2 = cfg.estimation_window
    rel_est = np.arange(e1, e2 + 1)
    r, m = series.take("ret", s + e1, s + e2), bench.take("ret", s + e1, s + e2)
    both = ~np.isnan(r) & ~np.isnan(m)
    n = int(both.sum())
    X = np.column_stack([np.ones(n), m[both]])
    coef, *_ = np.linalg.lstsq(X, r[both], rcond=None)
    resid = r[both] - X @ coef
    sigma2 = float(resid @ resid) / (n - 2)
    a, b = window
    rw, mw = series.take("ret", s + a, s + b), bench.take("ret", s + a, s + b)
    X0 = np.column_stack([np.ones(b - a + 1), mw])
    ar = rw - X0 @ coef
    ones = np.ones(b - a + 1)
    # MacKinlay (1997): V = sigma^2 (I + X0 (X'X)^-1 X0'), Var(CAR) = 1' V 1
    var_car = sigma2 * float(ones @ (np.eye(b - a + 1) + X0 @ np.linalg.inv(X.T @ X) @ X0.T) @ ones)
    ranked = {int(d): float(v) for d, v in zip(rel_est[both], resid)}
    ranked.update({d: float(v) for d, v in zip(range(a, b + 1), ar)})
    return Car(
        event_id=event_id, security_id=security_id, window=window, session=s, car=float(ar.sum()),
        scar=float(ar.sum() / math.sqrt(var_car)) if sigma2 > 0 else None, n=n,
        estimation_ar={int(i): float(v) for i, v in zip((s + rel_est)[both], resid)}, ranked_ar=ranked,
    )


def pair_correlation(a: dict[int, float], b: dict[int, float]) -> float:
    """The correlation of two CARs' estimation-window ARs ({session: AR}) on the sessions both
    have; 0 when they share fewer than MIN_COMMON_SESSIONS."""
    common = sorted(a.keys() & b.keys())
    if len(common) < MIN_COMMON_SESSIONS:
        return 0.0
    return float(np.corrcoef([a[k] for k in common], [b[k] for k in common])[0, 1])


def mean_pairwise_correlation(cars: list[Car]) -> float | None:
    """Kolari & Pynnönen's r: for each pair the correlation of the estimation-window ARs on common
    sessions, scaled by the share of event-window sessions the two windows share."""
    if len(cars) < 2:
        return None
    a, b = cars[0].window
    days = b - a + 1
    correlations = []
    for i in range(len(cars)):
        for j in range(i + 1, len(cars)):
            shared = max(0, days - abs(cars[i].session - cars[j].session)) / days
            correlations.append(pair_correlation(cars[i].estimation_ar, cars[j].estimation_ar) * shared)
    return float(np.mean(correlations))


def reference_tests(cars: list[Car]) -> dict[str, float | None]:
    out = dict.fromkeys(STATISTICS)
    n_events = len(cars)
    out["n_events"] = n_events
    if not n_events:
        return out
    car = np.array([c.car for c in cars])
    out["caar"] = car.mean()
    if n_events >= 2:
        se = car.std(ddof=1) / math.sqrt(n_events)
        q = stats.t.ppf(0.975, n_events - 1)
        out.update(caar_se=se, caar_ci_low=car.mean() - q * se, caar_ci_high=car.mean() + q * se)
        out["t_cross_section"] = car.mean() / se
        out["p_cross_section"] = 2 * stats.t.sf(abs(out["t_cross_section"]), n_events - 1)
    with_scar = [c for c in cars if c.scar is not None]
    scar = np.array([c.scar for c in with_scar])
    if with_scar:
        out["patell_z"] = scar.sum() / math.sqrt(sum((c.n - 2) / (c.n - 4) for c in with_scar))
        out["p_patell"] = 2 * stats.norm.sf(abs(out["patell_z"]))
    if len(with_scar) >= 2:
        k = len(with_scar)
        out["bmp_t"] = scar.mean() / (scar.std(ddof=1) / math.sqrt(k))
        out["p_bmp"] = 2 * stats.t.sf(abs(out["bmp_t"]), k - 1)
        r = mean_pairwise_correlation(with_scar)
        out["kp_t"] = out["bmp_t"] * math.sqrt((1 - r) / (1 + (k - 1) * r))
        out["p_kp"] = 2 * stats.t.sf(abs(out["kp_t"]), k - 1)
    # Corrado (1989) ranks, cumulated over the window (Cowan 1992, Campbell & Wasley 1993)
    by_day: dict[int, list[float]] = {}
    for c in cars:
        days = sorted(c.ranked_ar)
        u = stats.rankdata([c.ranked_ar[d] for d in days]) / (len(days) + 1)
        for d, value in zip(days, u):
            by_day.setdefault(d, []).append(float(value))
    mean_u = {d: np.mean(v) for d, v in by_day.items()}
    s_u = math.sqrt(np.mean([(v - 0.5) ** 2 for v in mean_u.values()]))
    a, b = cars[0].window
    out["corrado_t"] = sum(mean_u[d] - 0.5 for d in range(a, b + 1)) / (math.sqrt(b - a + 1) * s_u)
    out["p_corrado"] = 2 * stats.norm.sf(abs(out["corrado_t"]))
    # generalised sign test (Cowan 1992)
    p = np.mean([np.mean(np.array(list(c.estimation_ar.values())) > 0) for c in cars])
    w = int((car > 0).sum())
    out["sign_z"] = (w - n_events * p) / math.sqrt(n_events * p * (1 - p))
    out["p_sign"] = 2 * stats.norm.sf(abs(out["sign_z"]))
    return out


@pytest.fixture(scope="module")
def sample_study(sample_warehouse, sample_config):
    cfg = ref.EventStudyConfig.from_any(sample_config.event_study)
    prices = ref.load_prices(sample_config.prices_dir)
    with duckdb.connect(str(sample_warehouse), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        pairs = ref.linked_pairs_from_warehouse(con)
        start, end = ref.calendar_span(con, cfg.calendar, prices)
        themes = con.execute(
            "select bt.event_id, t.theme_code "
            "from marts.bridge_event_theme bt join marts.dim_theme t using (theme_id)"
        ).fetchall()
        theme_codes = [r[0] for r in con.execute("select theme_code from marts.dim_theme").fetchall()]
        scar_rows = con.execute(
            "select event_id, security_id, window_start, window_end, scar, p_scar, is_confounded, "
            "overlapping_event_ids from marts.fct_event_scar"
        ).fetchall()
        cursor = con.execute("select * from marts.mart_theme_significance")
        names = [d[0] for d in cursor.description]
        significance = [dict(zip(names, row)) for row in cursor.fetchall()]
    cal = ref.Calendar.load(cfg.calendar, start, end)
    impacts = ref.compute_reference(pairs, prices, cal, cfg)
    bench = ref.Series.build(prices.get(cfg.benchmark.upper(), {}), cal)
    sessions = {(p.event_id, p.security_id): cal.event_session_index(p.published_at) for p in pairs}
    series = {p.security_id: ref.Series.build(ref.security_bars(prices, p.tickers), cal) for p in pairs}
    cars = {}
    for (event_id, security_id, a, b), row in impacts.items():
        if row["status"] == "ok":
            cars[(event_id, security_id, a, b)] = recompute_car(
                event_id, security_id, series[security_id], bench, sessions[(event_id, security_id)], (a, b), cfg
            )
    # confounded: another event of the same security whose day 0 is at most b - a sessions away
    overlapping = {}
    for (event_id, security_id), s in sessions.items():
        if s is None:
            continue
        for a, b in cfg.event_windows:
            overlapping[(event_id, security_id, a, b)] = sorted(
                other for (other, other_security), t in sessions.items()
                if other_security == security_id and other != event_id and t is not None and abs(s - t) <= b - a
            )
    return dict(cfg=cfg, cars=cars, overlapping=overlapping, themes=themes, theme_codes=theme_codes,
                scar_rows=scar_rows, significance=significance)


def _close(a, b) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= TOLERANCE


@pytest.mark.slow
def test_scar_and_confounding_match_the_reference(sample_study):
    cars, overlapping = sample_study["cars"], sample_study["overlapping"]
    rows = {r[:4]: r for r in sample_study["scar_rows"]}
    assert set(rows) == set(cars)
    worst = 0.0
    for key, car in cars.items():
        _, _, _, _, scar, p_scar, is_confounded, ids = rows[key]
        p_ref = 2 * stats.t.sf(abs(car.scar), car.n - 2) if car.scar is not None else None
        assert _close(scar, car.scar) and _close(p_scar, p_ref), (key, scar, car.scar, p_scar, p_ref)
        if scar is not None:
            worst = max(worst, abs(scar - car.scar))
        assert list(ids) == overlapping[key] and is_confounded == bool(overlapping[key]), key
    print(f"max |scar - reference| = {worst:.3g}")


@pytest.mark.slow
def test_every_window_with_a_session_has_its_overlaps(sample_study, sample_work_file):
    with duckdb.connect(str(sample_work_file), read_only=True) as con:
        rows = con.execute(
            "select event_id, security_id, window_start, window_end, is_confounded, overlapping_event_count, "
            "overlapping_event_ids from intermediate.int_event_windows__overlaps"
        ).fetchall()
    got = {r[:4]: (r[4], r[5], list(r[6])) for r in rows}
    expected = {k: (bool(ids), len(ids), ids) for k, ids in sample_study["overlapping"].items()}
    assert got == expected
    assert sum(confounded for confounded, _, _ in got.values()) >= 2


@pytest.mark.slow
def test_apple_results_and_ipad_confound_each_other(sample_study):
    """samples/news: Q1 FY2010 results after the close of 2010-01-25 (day 0 = 2010-01-26) and the iPad
    unveiling at 13:00 New York time on 2010-01-27 (day 0 = 2010-01-27), one session apart."""
    results, ipad = "apple-2010-01-25-q1-fy2010-results", "apple-2010-01-27-ipad-unveiled"
    rows = {(r[0], r[2], r[3]): r for r in sample_study["scar_rows"] if r[1] == "sec_apple_common"}
    for window in ((-1, 1), (0, 1), (-5, 5)):
        assert rows[(results, *window)][6] and ipad in rows[(results, *window)][7], window
        assert rows[(ipad, *window)][6] and results in rows[(ipad, *window)][7], window
    assert not rows[(results, 0, 0)][6] and not rows[(ipad, 0, 0)][6]


@pytest.mark.slow
def test_theme_significance_matches_the_reference(sample_study):
    cfg, cars, overlapping = sample_study["cfg"], sample_study["cars"], sample_study["overlapping"]
    themes_of: dict[str, set[str]] = {}
    for event_id, theme_code in sample_study["themes"]:
        themes_of.setdefault(event_id, set()).add(theme_code)
    got = {(r["theme_code"], r["window_start"], r["window_end"], r["event_filter"]): r
           for r in sample_study["significance"]}
    expected_keys = {(t, a, b, f) for t in sample_study["theme_codes"] for a, b in cfg.event_windows
                     for f in ("all", "unconfounded")}
    assert set(got) == expected_keys
    worst = dict.fromkeys(STATISTICS, 0.0)
    for theme_code, a, b, event_filter in sorted(expected_keys):
        members = [c for key, c in sorted(cars.items())
                   if key[2:] == (a, b) and theme_code in themes_of.get(c.event_id, ())
                   and (event_filter == "all" or not overlapping[key])]
        expected = reference_tests(members)
        row = got[(theme_code, a, b, event_filter)]
        assert row["n_events"] == expected["n_events"], (theme_code, a, b, event_filter)
        for column in STATISTICS:
            assert _close(row[column], expected[column]), (theme_code, a, b, event_filter, column,
                                                            row[column], expected[column])
            if row[column] is not None:
                worst[column] = max(worst[column], abs(row[column] - expected[column]))
    # the samples exercise the cross-correlation: some themes have CARs on overlapping sessions
    assert any(r["kp_t"] is not None and abs(r["kp_t"] - r["bmp_t"]) > 1e-3 for r in got.values())
    print("max differences: " + ", ".join(f"{c} {v:.2g}" for c, v in worst.items()))


# --------------------------------------------------------------------------------------------------
# Synthetic market-model data with a known answer, through the real implementation
# --------------------------------------------------------------------------------------------------

ESTIMATION_DAYS = 100  # relative days -110..-11


def synthetic_inputs(
    seed: int, draws: int, events: int, window: tuple[int, int], effect: float, same_day_correlation: float = 0.0,
    decimals: int | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`draws` independent samples of `events` events each: R = 0.0005 + 1.1 Rm + e, e ~ N(0, 0.02),
    plus `effect` spread evenly over the event window; OLS per event as the pipeline does. With
    `same_day_correlation` > 0 every event of a draw is on the same session and their e are that
    correlated (an industry shock the market model does not remove): Kolari & Pynnönen's case.
    With `decimals`, the abnormal returns are rounded to that many, so that they tie."""
    rng = np.random.default_rng(seed)
    a, b = window
    rel_day = np.r_[np.arange(-ESTIMATION_DAYS - 10, -10), np.arange(a, b + 1)]
    is_estimation = rel_day < -10
    shape = (draws, events, rel_day.size)
    rm = rng.normal(0.0003, 0.01, shape)
    shock = rng.normal(0, 1, (draws, 1, rel_day.size))
    noise = 0.02 * (math.sqrt(1 - same_day_correlation) * rng.normal(0, 1, shape)
                    + math.sqrt(same_day_correlation) * shock)
    r = 0.0005 + 1.1 * rm + noise + np.where(is_estimation, 0.0, effect / (b - a + 1))
    x, y = rm[..., is_estimation], r[..., is_estimation]
    beta = ((x - x.mean(-1, keepdims=True)) * (y - y.mean(-1, keepdims=True))).sum(-1) / (
        (x - x.mean(-1, keepdims=True)) ** 2).sum(-1)
    alpha = y.mean(-1) - beta * x.mean(-1)
    ar = r - (alpha[..., None] + beta[..., None] * rm)
    if decimals is not None:
        ar = ar.round(decimals)
    sigma = np.sqrt((ar[..., is_estimation] ** 2).sum(-1) / (ESTIMATION_DAYS - 2))
    car = ar[..., ~is_estimation].sum(-1)
    # day 0 of each event somewhere in a 300-session calendar: estimation windows partly overlap
    day0 = np.full((draws, events), 300) if same_day_correlation else rng.integers(200, 500, (draws, events))
    draw_ids, event_ids = np.meshgrid(np.arange(draws), np.arange(events), indexing="ij")
    names = np.char.add(np.char.add("d", draw_ids.astype(str)), np.char.add("e", event_ids.astype(str)))
    observations = pl.DataFrame({
        "draw": draw_ids.ravel(), "event_id": names.ravel(), "security_id": "s",
        "window_start": a, "window_end": b, "car": car.ravel(), "sigma": sigma.ravel(),
    })
    abnormal_returns = pl.DataFrame({
        "event_id": np.repeat(names.ravel(), rel_day.size),
        "security_id": "s",
        "rel_day": np.tile(rel_day, draws * events),
        "session_index": (day0[..., None] + rel_day).ravel(),
        "is_estimation_day": np.tile(is_estimation, draws * events),
        "benchmark_return": rm.ravel(),
        "abnormal_return": ar.ravel(),
    })
    return observations, abnormal_returns


SYNTHETIC_GROUP_BY = ["draw", "window_start", "window_end"]


def synthetic_study(*args, **kwargs) -> pl.DataFrame:
    return event_study_tests(*synthetic_inputs(*args, **kwargs), SYNTHETIC_GROUP_BY)


def synthetic_study_in_duckdb(
    *args, correlation_sample_size: int, batch_rows: int = 1_000_000, rank_parts: int = 0,
    **kwargs,
) -> pl.DataFrame:
    """The same study through `event_study_tests_in_duckdb`, the dbt model's bounded-memory path;
    with `rank_parts`, the Corrado rank sums come from `rank_sums_in_duckdb` run on that many parts
    of each group's events, as the dbt models keep them per month."""
    observations, abnormal_returns = synthetic_inputs(*args, **kwargs)
    with duckdb.connect() as con:
        con.register("observations", observations.to_arrow())
        con.register("standardised", standardised_cars(observations, abnormal_returns).to_arrow())
        con.register("abnormal_returns", abnormal_returns.to_arrow())
        rank_sums = None
        if rank_parts:
            con.execute(f"create table parted as select *, hash(event_id) % {rank_parts} as part from observations")
            parts = [
                rank_sums_in_duckdb(con, f"(select * from parted where part = {part})", "abnormal_returns",
                                    [*SYNTHETIC_GROUP_BY, "part"], batch_rows)
                for part in range(rank_parts)
            ]
            con.register("part_sums", pl.concat(parts).to_arrow())
            rank_sums = "part_sums"
        return event_study_tests_in_duckdb(
            con, "observations", "standardised", "abnormal_returns", SYNTHETIC_GROUP_BY,
            correlation_sample_size, batch_rows, rank_sums,
        )


@pytest.mark.parametrize("window", [(0, 0), (-1, 1)])
def test_every_test_rejects_an_injected_abnormal_return(window):
    result = synthetic_study(seed=7, draws=1, events=200, window=window, effect=0.02).row(0, named=True)
    assert result["n_events"] == 200
    assert result["caar_ci_low"] < 0.02 < result["caar_ci_high"], result
    assert result["caar_ci_low"] > 0, result
    rejected = {p: result[p] < 0.05 for p in P_VALUES}
    assert all(rejected.values()), result


@pytest.mark.parametrize("window", [(0, 0), (-2, 2)])
def test_rejection_rates_under_the_null_are_near_nominal(window):
    result = synthetic_study(seed=11, draws=500, events=50, window=window, effect=0.0)
    assert result.height == 500
    rates = {p: float((result[p] < 0.05).mean()) for p in P_VALUES}
    print(f"{window} rejection rates at 5 %: " + ", ".join(f"{p} {v:.3f}" for p, v in rates.items()))
    assert all(0.02 <= v <= 0.09 for v in rates.values()), rates
    assert result["caar"].mean() == pytest.approx(0, abs=1e-3)


def test_scar_uses_the_forecast_error_variance():
    """One CAR by hand: n = 6, L = 2, mean Rm = 0.025, Sxx = 0.00175, sum over the window of
    (Rm_k - mean Rm) = 0.08 - 0.05 = 0.03, so Var(CAR) = 0.02^2 (2 + 4 / 6 + 0.0009 / 0.00175); 3 of
    the 6 estimation ARs are positive."""
    rm_est = np.array([0.0, 0.01, 0.02, 0.03, 0.04, 0.05])
    ar_est = np.array([0.01, -0.01, -0.01, 0.01, 0.01, -0.01])
    cars = pl.DataFrame({"event_id": ["e"], "security_id": ["s"], "window_start": [0], "window_end": [1],
                         "car": [0.03], "sigma": [0.02]})
    abnormal_returns = pl.DataFrame({
        "event_id": "e", "security_id": "s", "rel_day": [-8, -7, -6, -5, -4, -3, 0, 1],
        "session_index": [2, 3, 4, 5, 6, 7, 10, 11],
        "is_estimation_day": [True] * 6 + [False] * 2,
        "benchmark_return": [*rm_est, 0.045, 0.035], "abnormal_return": [*ar_est, 0.02, 0.01],
    })
    row = standardised_cars(cars, abnormal_returns).row(0, named=True)
    variance = 0.02**2 * (2 + 4 / 6 + 0.0009 / 0.00175)
    assert row["n"] == 6 and row["positive_share"] == 0.5
    assert row["scar"] == pytest.approx(0.03 / math.sqrt(variance), rel=1e-12)
    assert row["p_scar"] == pytest.approx(2 * stats.t.sf(0.03 / math.sqrt(variance), 4), rel=1e-12)


def test_kolari_pynnonen_corrects_bmp_for_events_on_the_same_session():
    """30 events per draw on one session with AR cross-correlation 0.2: BMP's variance is understated
    by 1 + 29 * 0.2 = 6.8 and it over-rejects; KP's adjustment brings the rate back near 5 %."""
    result = synthetic_study(seed=5, draws=300, events=30, window=(0, 0), effect=0.0, same_day_correlation=0.2)
    rates = {p: float((result[p] < 0.05).mean()) for p in ("p_bmp", "p_kp")}
    print(f"clustered events, rejection rates at 5 %: {rates}")
    assert rates["p_bmp"] > 0.2, rates
    assert 0.02 <= rates["p_kp"] <= 0.09, rates


def test_the_cross_correlations_equal_a_pair_by_pair_computation():
    """rho_ij of Kolari & Pynnoenen, computed in blocks of rows over their own sessions, against
    np.corrcoef pair by pair on the sessions both CARs have: 100 CARs over ten years, so most pairs
    share no session, some fewer than MIN_COMMON_SESSIONS (rho 0), and every CAR misses some days."""
    rng = np.random.default_rng(11)
    day0 = rng.integers(300, 2800, size=100)
    estimation = {}
    for car, session in enumerate(day0):
        days = np.arange(session - 250, session - 10)
        days = days[rng.random(days.size) > 0.1]
        estimation[car] = dict(zip(days.tolist(), rng.normal(0, 0.02, days.size).tolist()))
    frame = pl.DataFrame(
        [
            {"event_id": f"e{car:03d}", "security_id": "s", "day0": int(day0[car]),
             "session_index": day, "abnormal_return": ar}
            for car, returns in estimation.items() for day, ar in returns.items()
        ],
        schema_overrides={"day0": pl.Int32, "session_index": pl.Int32},
    )

    rho, got_day0 = estimation_correlations(frame)

    expected = np.array([[pair_correlation(estimation[i], estimation[j]) for j in range(100)]
                         for i in range(100)])
    assert (got_day0 == day0).all()
    assert 0 < (expected == 0).sum() < 100 * 100  # pairs of both kinds
    assert np.abs(rho - expected).max() <= 1e-12


def test_the_bounded_memory_path_equals_the_in_memory_one():
    """Below the sample size every figure of the dbt model's path equals event_study_tests' (only the
    Corrado mean ranks are summed differently: in fixed point, within 1e-15)."""
    study = dict(seed=3, draws=20, events=40, window=(-1, 1), effect=0.01, same_day_correlation=0.2)
    expected = synthetic_study(**study).sort(SYNTHETIC_GROUP_BY)
    actual = synthetic_study_in_duckdb(**study, correlation_sample_size=40).sort(SYNTHETIC_GROUP_BY)
    assert actual.columns == expected.columns and actual.height == 20
    for column in STATISTICS:
        difference = (actual[column] - expected[column]).abs().max()
        assert difference <= 1e-12, (column, difference)
    # abnormal returns streamed in batches of about 300 rows, the 800 CARs read in batches of
    # whole groups of about 300: exactly the same
    batched = synthetic_study_in_duckdb(**study, correlation_sample_size=40, batch_rows=300)
    assert batched.sort(SYNTHETIC_GROUP_BY).equals(actual)
    # rank sums kept for 3 parts of the events each, as per month, then added: exactly the same
    parted = synthetic_study_in_duckdb(**study, correlation_sample_size=40, rank_parts=3)
    assert parted.sort(SYNTHETIC_GROUP_BY).equals(actual)


def test_a_sampled_correlation_still_corrects_bmp_for_clustered_events():
    """The KP r from 10 of each group's 30 clustered CARs (45 of the 435 pairs) is still about 0.2, so
    KP still brings BMP's over-rejection back near 5 %; the other figures do not sample."""
    study = dict(seed=5, draws=300, events=30, window=(0, 0), effect=0.0, same_day_correlation=0.2)
    full = synthetic_study(**study).sort(SYNTHETIC_GROUP_BY)
    sampled = synthetic_study_in_duckdb(**study, correlation_sample_size=10).sort(SYNTHETIC_GROUP_BY)
    for column in (c for c in STATISTICS if c not in ("kp_t", "p_kp")):
        assert (sampled[column] - full[column]).abs().max() <= 1e-12, column
    assert (sampled["kp_t"] != full["kp_t"]).any()  # the sample did kick in
    rates = {p: float((sampled[p] < 0.05).mean()) for p in ("p_bmp", "p_kp")}
    print(f"clustered events, KP r from 10 of 30 CARs, rejection rates at 5 %: {rates}")
    assert rates["p_bmp"] > 0.2, rates
    assert 0.02 <= rates["p_kp"] <= 0.09, rates


def test_tied_abnormal_returns_share_their_average_rank():
    """Abnormal returns rounded to 0.001 tie within a pair: the streamed Corrado ranks give each
    tie its average rank, as polars' rank("average") does in event_study_tests, in any batch size."""
    study = dict(seed=4, draws=8, events=20, window=(-1, 1), effect=0.01, decimals=3)
    _, abnormal_returns = synthetic_inputs(**study)
    tied = abnormal_returns.group_by("event_id").agg(pl.len() - pl.col("abnormal_return").n_unique())
    assert tied["len"].min() >= 10  # every pair has ties
    expected = synthetic_study(**study).sort(SYNTHETIC_GROUP_BY)
    for batch_rows in (1_000_000, 250):
        actual = synthetic_study_in_duckdb(**study, correlation_sample_size=20, batch_rows=batch_rows)
        difference = (actual.sort(SYNTHETIC_GROUP_BY)["corrado_t"] - expected["corrado_t"]).abs().max()
        assert difference <= 1e-12, (batch_rows, difference)


def test_window_ranks_in_batches_equal_a_plain_average_rank():
    """The compiled ranking, fed batches whose relative days lie before, after, around and inside
    the earlier ones (the sums widen both ways), adds exactly the fixed-point U_t of each CAR's
    returns ranked on their own with ties averaged (Polars' rank): per set of groups and day, in
    units of 2^-52. A pair and window without a set (the last row of the sums) adds nothing."""
    rng = np.random.default_rng(3)
    windows = [(0, 2), (-1, 1)]
    sets = 3  # set 3: no CAR
    batches, pair = [], 0
    for first, last in [(3, 6), (-4, 0), (-2, 8), (1, 2)]:  # later, earlier, both, inside
        rows = []
        for _ in range(4):
            days = rng.permutation(np.arange(first, last + 1))[: rng.integers(2, last - first + 2)]
            returns = rng.integers(-2, 3, days.size) / 100  # ties within a pair
            rows.append(pl.DataFrame({"pair_index": pair, "rel_day": days.astype(np.int32),
                                      "abnormal_return": returns}))
            pair += 1
        batches.append(pl.concat(rows).with_columns(is_estimation_day=pl.col("rel_day") < -1))
    set_of_key = rng.integers(0, sets + 1, pair * len(windows))
    sums = _RankSums(sets + 1)
    for batch in batches:
        _add_window_ranks(sums, {name: batch[name].to_numpy() for name in batch.columns}, windows, set_of_key)
    actual = pl.from_arrow(sums.table()).select(
        pl.col("group_index").alias("group_set"), "rel_day", "n",
        u=pl.col("u_high").cast(pl.Int128) * 2**26 + pl.col("u_low").cast(pl.Int128),
    ).sort("group_set", "rel_day")

    cars = pl.concat(
        pl.concat(batches).with_columns(window=pl.lit(index), start=pl.lit(start), end=pl.lit(end))
        for index, (start, end) in enumerate(windows)
    ).filter(pl.col("is_estimation_day") | pl.col("rel_day").is_between(pl.col("start"), pl.col("end")))
    key_sets = pl.DataFrame({"key": np.arange(set_of_key.size), "group_set": set_of_key})
    expected = (
        cars.with_columns(
            key=pl.col("pair_index") * len(windows) + pl.col("window"),
            u=pl.col("abnormal_return").rank("average").over("pair_index", "window")
            / (pl.len().over("pair_index", "window") + 1),
        )
        .join(key_sets, on="key")
        .filter(pl.col("group_set") < sets)
        .group_by("group_set", "rel_day")
        .agg(n=pl.len().cast(pl.Int64), u=(pl.col("u") * 2**52 + 0.5).floor().cast(pl.Int128).sum())
        .sort("group_set", "rel_day")
    )
    assert actual.height > 0 and expected["n"].sum() > 0
    assert actual.equals(expected.select(actual.columns))
    assert sums.first_day == -4 and sums.n.shape[1] == 8 - -4 + 1


def test_rank_sums_of_overlapping_groups_equal_each_group_ranked_alone():
    """A CAR counts in several groups (a theme's 'all' and 'unconfounded' filters): the rank sums
    are kept per set of groups and added to each group of the set at the end. Each group ranked on
    its own, where every set is one group, gives exactly the same cells."""
    observations, abnormal_returns = synthetic_inputs(seed=9, draws=6, events=25, window=(-1, 1), effect=0.01)
    number = pl.col("event_id").str.extract(r"e(\d+)$").cast(pl.Int64)
    # three overlapping groups: every CAR, the even events, the events 0 to 9
    groups = pl.concat([
        observations.with_columns(kind=pl.lit("all")),
        observations.filter(number % 2 == 0).with_columns(kind=pl.lit("even")),
        observations.filter(number < 10).with_columns(kind=pl.lit("first")),
    ])
    group_by = ["kind", "draw", "window_start", "window_end"]
    with duckdb.connect() as con:
        con.register("observations", groups.to_arrow())
        con.register("abnormal_returns", abnormal_returns.to_arrow())
        together = rank_sums_in_duckdb(con, "observations", "abnormal_returns", group_by, batch_rows=500)
        alone = pl.concat([
            rank_sums_in_duckdb(con, f"(select * from observations where kind = '{kind}')",
                                "abnormal_returns", group_by, batch_rows=500)
            for kind in ("all", "even", "first")
        ])
    key = [*group_by, "rel_day"]
    assert together.height == alone.height == 3 * 6 * (ESTIMATION_DAYS + 3)
    assert together.sort(key).equals(alone.sort(key))
