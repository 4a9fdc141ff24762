"""Event-study test statistics for any grouping of CARs: the code behind the dbt Python models
`int_event_study__scar` and `int_theme_significance__tests` (dbt_project/models/intermediate/event_study).

A data team tests its own grouping with a dbt Python model of a few lines: build `observations`
(the group columns plus event_id, security_id, window_start, window_end, car, sigma for `ok` rows of
fct_event_impact) and call `event_study_tests(observations, abnormal_returns, group_by=[...])`.
Everything is column-wise (polars, numpy, scipy); the only Python loop is one per group, for the
cross-correlation matrix of Kolari & Pynnönen. Every floating-point aggregate runs over a fixed
sequence (rows sorted by key, or a group's values sorted by value), so two runs give bit-identical
results whatever order the inputs arrive in.

The dbt models run the same formulas on inputs that do not fit in memory.
`int_event_study__scar` calls `standardised_cars_in_duckdb`: DuckDB aggregates the abnormal
returns per pair and window (mean Rm and Sxx come from the rolling market model of day 0), and
the SCARs are computed batch by batch. The two others stream the abnormal returns from one DuckDB
sort in batches of whole (event, security) pairs:
`int_theme_significance__rank_sums` calls `rank_sums_in_duckdb` (exact Corrado rank sums per
group) and `int_theme_significance__tests` calls `event_study_tests_in_duckdb`, which gives
`group_tests` per-CAR and per-group summaries (Kolari & Pynnönen's r from a bounded sample of a
large group's CARs).

Inputs:

* ``abnormal_returns``: ``int_event_study__abnormal_returns``, one row per (event, security,
  relative day) over the estimation window and every event window, where R and Rm exist:
  event_id, security_id, rel_day, session_index, is_estimation_day, benchmark_return,
  abnormal_return. On estimation days these are the OLS residuals, so n = their count and
  sigma^2 = sum AR^2 / (n - 2), as in ``int_market_model__rolling``.
* ``observations``: one row per (group, event, security, window) with car and sigma; a CAR can sit in
  several groups (an event with two themes, the 'all' and 'unconfounded' filters).

Formulas (L = b - a + 1 days in the window [a, b]; n_i estimation returns of CAR i; N CARs in a group):

* Forecast-error-corrected variance of CAR_i (MacKinlay 1997, eq. 4.2 summed over the window;
  Campbell, Lo & MacKinlay 1997, 4.4): Var(CAR_i) = sigma_i^2 [L + L^2 / n_i + (sum_t (Rm_t - mean Rm))^2 / Sxx],
  mean Rm and Sxx over the estimation returns, sigma_i^2 = SSR / (n_i - 2).
  SCAR_i = CAR_i / sqrt(Var(CAR_i)) ~ t(n_i - 2) under the null: p_scar from Student's t, n_i - 2 df.
* Cross-sectional t: CAAR / (s(CAR) / sqrt N), s with N - 1 df; t(N - 1); the 95 % interval is
  CAAR +/- t_{0.975, N-1} s / sqrt N.
* Patell (1976) z: sum_i SCAR_i / sqrt(sum_i (n_i - 2) / (n_i - 4)), the variance of a t(n_i - 2); N(0, 1).
* BMP (Boehmer, Musumeci & Poulsen 1991): mean(SCAR) / (s(SCAR) / sqrt N), s with N - 1 df; t(N - 1).
* KP (Kolari & Pynnönen 2010): BMP t * sqrt((1 - r) / (1 + (N - 1) r)); t(N - 1). r is the mean over
  the pairs i < j of r_ij = rho_ij * max(0, L - |s_i - s_j|) / L: rho_ij the correlation of their
  estimation-window abnormal returns on the calendar sessions both have (0 when they share fewer
  than MIN_COMMON_SESSIONS), times the share of event-window sessions the two windows have in
  common (s = day-0 session). Events on the same session (KP's clustering) get rho_ij; windows
  that share no session, whose CARs cannot co-move, get 0.
* Corrado (1989) rank test in the cumulative form of Cowan (1992) and Campbell & Wasley (1993):
  for CAR i the M_i abnormal returns of the estimation window and the event window are ranked
  (average ranks for ties) and standardised U_it = rank / (M_i + 1) (Corrado & Zivney 1992);
  U_t = mean over the CARs with a return on relative day t; S_U = sqrt(mean over the T relative days
  of (U_t - 1/2)^2); z = sum_{t=a..b} (U_t - 1/2) / (sqrt(L) S_U); N(0, 1).
* Generalised sign test (Cowan 1992): p = mean over the CARs of the fraction of positive abnormal
  returns in their estimation window; w = number of positive CARs;
  z = (w - N p) / sqrt(N p (1 - p)); N(0, 1).

Every p-value is two-sided. A figure is null (None) when it is undefined: fewer than 2 CARs for the
t statistics, a zero deviation, sigma = 0 (a perfect fit has no SCAR and stays out of the SCAR-based
tests), n_i <= 4 for Patell.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import cache

import numpy as np
import polars as pl
import pyarrow as pa
from scipy import stats

CAR_KEY = ["event_id", "security_id", "window_start", "window_end"]
PAIR_KEY = ["event_id", "security_id"]
# A cross-correlation needs enough common sessions to mean anything; pairs with fewer count as 0.
MIN_COMMON_SESSIONS = 30
# Rows of the cross-correlation sums computed together (estimation_correlations).
_CORRELATION_ROW_BLOCK = 32


def _scipy(function, *columns: pl.Expr) -> pl.Expr:
    """`function` of the columns' values as float arrays (null in, null out; NaN out is null)."""
    names = [f"c{i}" for i in range(len(columns))]
    return pl.struct(**{n: c.cast(pl.Float64) for n, c in zip(names, columns)}).map_batches(
        lambda s: pl.Series(
            function(*(s.struct.field(n).to_numpy() for n in names)), dtype=pl.Float64
        ).fill_nan(None),
        return_dtype=pl.Float64,
    )


def _two_sided_normal(z: pl.Expr) -> pl.Expr:
    return _scipy(lambda z: 2 * stats.norm.sf(np.abs(z)), z)


def _two_sided_t(t: pl.Expr, df: pl.Expr) -> pl.Expr:
    return _scipy(lambda t, df: 2 * stats.t.sf(np.abs(t), df), t, df)


def _t_quantile_975(df: pl.Expr) -> pl.Expr:
    return _scipy(lambda df: stats.t.ppf(0.975, df), df)


def _finite(expr: pl.Expr) -> pl.Expr:
    """NaN and infinities (0 / 0, x / 0) become null."""
    return pl.when(expr.is_finite()).then(expr)


def standardised_cars(
    cars: pl.DataFrame, abnormal_returns: pl.DataFrame, *, returns_sorted: bool = False
) -> pl.DataFrame:
    """One row per distinct (event, security, window) of `cars`: n, SCAR, p_scar and the
    estimation-window share of positive abnormal returns. `returns_sorted`: the abnormal returns
    are already sorted by (event_id, security_id, rel_day), which saves sorting them again."""
    cars = cars.select([*CAR_KEY, "car", "sigma"]).unique(CAR_KEY).sort(CAR_KEY)
    ar = abnormal_returns if returns_sorted else abnormal_returns.sort([*PAIR_KEY, "rel_day"])
    estimation = (
        ar.filter(pl.col("is_estimation_day"))
        .group_by(PAIR_KEY, maintain_order=True)
        .agg(
            n=pl.len(),
            positive_returns=(pl.col("abnormal_return") > 0).sum(),
            mean_rm=pl.col("benchmark_return").mean(),
            sxx=((pl.col("benchmark_return") - pl.col("benchmark_return").mean()) ** 2).sum(),
        )
    )
    # the days some window covers, before the join repeats them per window
    event_days = ar.filter(pl.col("rel_day").is_between(cars["window_start"].min(), cars["window_end"].max()))
    window_days = (
        cars.select(CAR_KEY)
        .join(event_days, on=PAIR_KEY)
        .filter(pl.col("rel_day").is_between(pl.col("window_start"), pl.col("window_end")))
        .sort([*CAR_KEY, "rel_day"])
        .group_by(CAR_KEY, maintain_order=True)
        .agg(sum_rm=pl.col("benchmark_return").sum())
    )
    return _standardised(
        cars.join(estimation, on=PAIR_KEY, how="left").join(window_days, on=CAR_KEY, how="left")
    )


def _standardised(moments: pl.DataFrame) -> pl.DataFrame:
    """SCAR and p_scar of CARs with their estimation moments: columns CAR_KEY, car, sigma, n,
    positive_returns, mean_rm and sxx (of Rm over the n estimation returns) and sum_rm (of Rm over
    the window's days)."""
    days = pl.col("window_end") - pl.col("window_start") + 1
    window_rm_deviation = pl.col("sum_rm") - days * pl.col("mean_rm")  # sum_k (Rm_k - mean Rm)
    variance_factor = days + days**2 / pl.col("n") + window_rm_deviation**2 / pl.col("sxx")
    scar = pl.col("car") / (pl.col("sigma") * variance_factor.sqrt())
    return (
        moments.with_columns(
            scar=pl.when(pl.col("sigma") > 0).then(_finite(scar)),
            positive_share=pl.col("positive_returns") / pl.col("n"),
        )
        .with_columns(p_scar=_two_sided_t(pl.col("scar"), pl.col("n") - 2))
        .select([*CAR_KEY, pl.col("n").cast(pl.UInt32), "positive_share", "scar", "p_scar"])
    )


def standardised_cars_in_duckdb(
    con, cars: str, abnormal_returns: str, market_models: str, batch_rows: int
) -> pl.DataFrame:
    """`standardised_cars` for inputs too large for memory, read from DuckDB relations (names or
    subqueries), without sorting the abnormal returns: one hash aggregate per pair counts its
    estimation returns and the positive ones and lists its event-window days' Rm in day order,
    from which each window's sum of Rm is taken (the same bits whatever order the rows come in);
    mean Rm and Sxx over the estimation returns
    are those of the pair's day-0 market model (`market_models`: int_market_model__rolling, window
    aggregates over the same returns). Python computes SCAR and its p-value batch by batch.
    `abnormal_returns` may hold pairs `cars` has not: they are left out."""
    key = ", ".join(CAR_KEY)
    [(first_day, last_day)] = con.execute(f"select min(window_start), max(window_end) from {cars}").fetchall()
    if first_day is None:  # no CARs
        first_day, last_day = 0, -1
    stream = con.sql(f"""
        with cars as (
            select {key}, car, sigma from {cars}
        ),
        pairs as (
            select event_id, security_id,
                   nullif(count(*) filter (where is_estimation_day), 0) as n,
                   count(*) filter (where is_estimation_day and abnormal_return > 0) as positive_returns,
                   min(session_index - rel_day) as day0_session_index,
                   list({{'rel_day': rel_day, 'rm': benchmark_return}} order by rel_day)
                       filter (where rel_day between {int(first_day)} and {int(last_day)}) as event_days
            from {abnormal_returns}
            group by event_id, security_id
        )
        select c.*, p.n, p.positive_returns,
               m.mean_benchmark_return as mean_rm, m.benchmark_sxx as sxx,
               -- in day order: the same bits whatever order the rows came in
               list_sum(list_transform(
                   list_filter(p.event_days, lambda d: d.rel_day between c.window_start and c.window_end),
                   lambda d: d.rm
               )) as sum_rm
        from cars as c
        left join pairs as p
            on p.event_id = c.event_id and p.security_id = c.security_id
        left join {market_models} as m
            on m.security_id = c.security_id and m.session_index = p.day0_session_index
    """).to_arrow_reader(batch_rows)
    results = [_standardised(pl.from_arrow(batch)) for batch in stream]
    if not results:
        results.append(_standardised(pl.from_arrow(stream.schema.empty_table())))
    return pl.concat(results)


def _standardised_ranks(cars: pl.DataFrame, abnormal_returns: pl.DataFrame) -> pl.DataFrame:
    """U_it = rank / (M_i + 1) of each CAR's abnormal returns over its estimation and event windows."""
    return (
        cars.select(CAR_KEY)
        .unique()
        .join(abnormal_returns, on=PAIR_KEY)
        .filter(
            pl.col("is_estimation_day")
            | pl.col("rel_day").is_between(pl.col("window_start"), pl.col("window_end"))
        )
        .with_columns(
            u=pl.col("abnormal_return").rank("average").over(CAR_KEY) / (pl.len().over(CAR_KEY) + 1)
        )
        .select([*CAR_KEY, "rel_day", "u"])
    )


def mean_cross_correlation(estimation_returns: pl.DataFrame, window_days: int) -> float | None:
    """r of Kolari & Pynnönen: the mean over the pairs i < j of the correlation of their CARs, estimated
    as rho_ij * max(0, L - |s_i - s_j|) / L. rho_ij is the correlation of their estimation abnormal
    returns on the calendar sessions both have (0 with fewer than MIN_COMMON_SESSIONS), the second
    factor the share of the L event-window sessions both windows cover (s = day 0): 1 for events on the
    same session (KP's case), 0 for windows that do not overlap, whose CARs share no session.
    Columns event_id, security_id, day0, session_index, abnormal_return; None for fewer than 2 CARs."""
    correlations = estimation_correlations(estimation_returns)
    return None if correlations is None else mean_over_pairs(*correlations, window_days)


def estimation_correlations(estimation_returns: pl.DataFrame) -> tuple[np.ndarray, np.ndarray] | None:
    """rho_ij of `mean_cross_correlation` and each CAR's day-0 session: the part that does not depend
    on the window, so the windows of one set of CARs share it."""
    cars = estimation_returns.select(*PAIR_KEY, "day0").unique(PAIR_KEY).sort(PAIR_KEY)
    if cars.height < 2:
        return None
    returns = estimation_returns.join(cars.select(PAIR_KEY).with_row_index("row"), on=PAIR_KEY)
    # one row per CAR, one column per session any of them has (in session order), NaN where absent
    sessions, column = np.unique(returns["session_index"].to_numpy(), return_inverse=True)
    x = np.full((cars.height, sessions.size), np.nan)
    x[returns["row"].to_numpy(), column] = returns["abnormal_return"].to_numpy().astype(float)
    day0 = cars["day0"].to_numpy().astype(float)
    present = (~np.isnan(x)).astype(float)
    x = np.nan_to_num(x)
    # [i, j]: sessions both have; sums over them of x_i, x_i^2 and x_i x_j. Row by row, a CAR's
    # sums need only the sessions from its first to its last: an estimation window spans a tenth
    # of a sample's sessions over ten years, so rows in blocks of close first sessions read about
    # a fifth of the columns.
    first = present.argmax(axis=1)
    last = sessions.size - 1 - present[:, ::-1].argmax(axis=1)
    common, sum_x, sum_xx, sum_xy = (np.empty((cars.height, cars.height)) for _ in range(4))
    by_first = np.argsort(first, kind="stable")
    for start in range(0, cars.height, _CORRELATION_ROW_BLOCK):
        rows = by_first[start:start + _CORRELATION_ROW_BLOCK]
        span = slice(first[rows].min(), last[rows].max() + 1)
        x_rows, present_rows = x[rows, span], present[rows, span]
        present_all, x_all = present[:, span].T, x[:, span].T
        common[rows] = present_rows @ present_all
        sum_x[rows] = x_rows @ present_all
        sum_xx[rows] = (x_rows * x_rows) @ present_all
        sum_xy[rows] = x_rows @ x_all
    with np.errstate(divide="ignore", invalid="ignore"):
        cov = sum_xy - sum_x * sum_x.T / common
        var_i = sum_xx - sum_x**2 / common
        rho = cov / np.sqrt(var_i * var_i.T)
    return np.where((common >= MIN_COMMON_SESSIONS) & np.isfinite(rho), rho, 0.0), day0


def mean_over_pairs(rho: np.ndarray, day0: np.ndarray, window_days: int) -> float:
    shared_window = np.clip(window_days - np.abs(day0[:, None] - day0[None, :]), 0, None) / window_days
    upper = np.triu_indices(rho.shape[0], k=1)
    return float((rho * shared_window)[upper].mean())


def event_study_tests(
    observations: pl.DataFrame, abnormal_returns: pl.DataFrame, group_by: Sequence[str]
) -> pl.DataFrame:
    """One row per group of `observations`: n_events, caar, caar_se, the 95 % interval and every test
    statistic with its two-sided p-value (see the module docstring)."""
    group_by = list(group_by)
    if not {"window_start", "window_end"} <= set(group_by):
        raise ValueError("group_by must hold window_start and window_end: the tests are per window")
    group_car_key = list(dict.fromkeys([*group_by, *CAR_KEY]))  # group_by holds the window too
    observations = observations.sort(group_car_key)
    per_car = standardised_cars(observations, abnormal_returns)
    rows = observations.select([*group_car_key, "car"]).join(per_car, on=CAR_KEY, how="left")

    ranks = (
        rows.select(group_car_key)
        .join(_standardised_ranks(observations, abnormal_returns), on=CAR_KEY)
        .sort([*group_by, "rel_day", *CAR_KEY])
    )
    mean_ranks = ranks.group_by([*group_by, "rel_day"], maintain_order=True).agg(u=pl.col("u").mean())

    estimation = abnormal_returns.filter(pl.col("is_estimation_day")).select(
        *PAIR_KEY, "session_index", "abnormal_return", day0=pl.col("session_index") - pl.col("rel_day")
    )
    group_estimation = (
        rows.filter(pl.col("scar").is_not_null())  # the CARs of the BMP statistic that KP adjusts
        .select(list(dict.fromkeys([*group_by, *PAIR_KEY])))
        .unique()
        .join(estimation, on=PAIR_KEY)
    )
    correlation_rows = []
    for key, members in group_estimation.partition_by(group_by, as_dict=True).items():
        group = dict(zip(group_by, key))
        days = group["window_end"] - group["window_start"] + 1
        correlation_rows.append({**group, "mean_r": mean_cross_correlation(members, days)})
    correlations = pl.DataFrame(
        correlation_rows, schema={**{c: observations.schema[c] for c in group_by}, "mean_r": pl.Float64}
    )
    return group_tests(rows, mean_ranks, correlations, group_by)


def group_tests(
    rows: pl.DataFrame, mean_ranks: pl.DataFrame, correlations: pl.DataFrame, group_by: Sequence[str]
) -> pl.DataFrame:
    """The tests of `event_study_tests` from per-CAR and per-group summaries: `rows` one row per
    (group, CAR) with car and the `standardised_cars` columns, `mean_ranks` the group's mean U_t per
    relative day (column u), `correlations` the group's r of Kolari & Pynnoenen (column mean_r)."""
    group_by = list(group_by)
    # Each floating-point aggregate runs over its values sorted by value: the same sequence, so
    # the same bits, whatever order the rows come in (no sort of the rows by CAR needed).
    car = pl.col("car").sort()
    scar = pl.col("scar").drop_nulls().sort()
    moments = rows.group_by(group_by).agg(
        n_events=pl.len().cast(pl.Int64),
        caar=car.mean(),
        sd_car=car.std(ddof=1),
        n_scar=scar.len(),
        sum_scar=scar.sum(),
        sd_scar=scar.std(ddof=1),
        patell_variance=((pl.col("n") - 2) / (pl.col("n") - 4))
        .filter(pl.col("scar").is_not_null())
        .sort()
        .sum(),
        min_n=pl.col("n").min(),
        positive_cars=(pl.col("car") > 0).sum(),
        positive_share=pl.col("positive_share").sort().mean(),
    ).sort(group_by)
    in_window = pl.col("rel_day").is_between(pl.col("window_start"), pl.col("window_end"))
    rank_stats = (
        mean_ranks.sort([*group_by, "rel_day"])
        .group_by(group_by, maintain_order=True)
        .agg(
            s_u=((pl.col("u") - 0.5) ** 2).mean().sqrt(),
            window_rank_sum=(pl.col("u") - 0.5).filter(in_window).sum(),
        )
        .with_columns(
            corrado_t=_finite(
                pl.col("window_rank_sum")
                / ((pl.col("window_end") - pl.col("window_start") + 1).sqrt() * pl.col("s_u"))
            )
        )
        .select([*group_by, "corrado_t"])
    )

    two_plus = pl.col("n_events") >= 2
    se = pl.col("sd_car") / pl.col("n_events").sqrt()
    bmp_t = pl.when(pl.col("n_scar") >= 2).then(
        _finite(pl.col("sum_scar") / pl.col("n_scar") / (pl.col("sd_scar") / pl.col("n_scar").sqrt()))
    )
    r = pl.col("mean_r")
    p = pl.col("positive_share")
    return (
        moments.join(rank_stats, on=group_by, how="left", nulls_equal=True)
        .join(correlations, on=group_by, how="left", nulls_equal=True)
        .with_columns(
            caar_se=pl.when(two_plus).then(se),
            t_cross_section=pl.when(two_plus).then(_finite(pl.col("caar") / se)),
            patell_z=pl.when((pl.col("min_n") > 4) & (pl.col("n_scar") >= 1)).then(
                _finite(pl.col("sum_scar") / pl.col("patell_variance").sqrt())
            ),
            bmp_t=bmp_t,
            kp_t=_finite(bmp_t * ((1 - r) / (1 + (pl.col("n_scar") - 1) * r)).sqrt()),
            sign_z=_finite(
                (pl.col("positive_cars") - pl.col("n_events") * p)
                / (pl.col("n_events") * p * (1 - p)).sqrt()
            ),
        )
        .with_columns(
            caar_ci_low=pl.col("caar") - _t_quantile_975(pl.col("n_events") - 1) * pl.col("caar_se"),
            caar_ci_high=pl.col("caar") + _t_quantile_975(pl.col("n_events") - 1) * pl.col("caar_se"),
            p_cross_section=_two_sided_t(pl.col("t_cross_section"), pl.col("n_events") - 1),
            p_patell=_two_sided_normal(pl.col("patell_z")),
            p_bmp=_two_sided_t(pl.col("bmp_t"), pl.col("n_scar") - 1),
            p_kp=_two_sided_t(pl.col("kp_t"), pl.col("n_scar") - 1),
            p_corrado=_two_sided_normal(pl.col("corrado_t")),
            p_sign=_two_sided_normal(pl.col("sign_z")),
        )
        .select(
            *group_by, "n_events", "caar", "caar_se", "caar_ci_low", "caar_ci_high",
            "t_cross_section", "p_cross_section", "patell_z", "p_patell", "bmp_t", "p_bmp",
            "kp_t", "p_kp", "corrado_t", "p_corrado", "sign_z", "p_sign",
        )
    )


# U_t sums in fixed point (units of 2^-52): integer sums are exact in any order, so batches,
# months and DuckDB's parallel aggregate give the same mean rank on every run.
_U_SCALE = 2**52


def event_study_tests_in_duckdb(
    con,
    observations: str,
    standardised: str,
    abnormal_returns: str,
    group_by: Sequence[str],
    correlation_sample_size: int,
    batch_rows: int = 1_000_000,
    rank_sums: str | None = None,
) -> pl.DataFrame:
    """`event_study_tests` for inputs too large for memory, read from DuckDB relations (names or
    subqueries): `observations` as for `event_study_tests`, `standardised` the `standardised_cars` of
    its CARs (int_event_study__scar), `abnormal_returns` int_event_study__abnormal_returns.
    `rank_sums`: the groups' `rank_sums_in_duckdb`, kept from an earlier run (by finer groups, as
    int_theme_significance__rank_sums keeps them per month); computed here when None.

    Python holds one batch at a time: of abnormal returns (`batch_rows` rows) or of whole groups'
    CARs (about `batch_rows`; a larger group alone). The Corrado U_t come summed per group and
    relative day (`rank_sums_in_duckdb`); r of Kolari & Pynnoenen is the mean over the pairs of at most
    `correlation_sample_size` CARs per group, those with the smallest hash(event_id, security_id): all
    of them in a smaller group (then every figure equals `event_study_tests`' within 1e-15),
    otherwise a fixed pseudo-random sample, whose mean over its pairs is an unbiased estimate of the
    mean over all pairs, at O(sample^2) instead of O(N^2) memory and time."""
    group_by = list(group_by)
    group_key = ", ".join(group_by)
    group_schema = con.sql(f"select {group_key} from {observations} limit 0").pl().schema
    if rank_sums is None:
        computed = rank_sums_in_duckdb(con, observations, abnormal_returns, group_by, batch_rows)
        con.register("computed_rank_sums", computed.to_arrow())
    try:
        mean_ranks = _mean_ranks(con, rank_sums or "computed_rank_sums", group_by)
    finally:
        if rank_sums is None:
            con.unregister("computed_rank_sums")

    # Each CAR with its standardised figures, joined once: the Kolari-Pynnoenen sample and every
    # batch of group_tests read them.
    group_car_columns = ", ".join(f"o.{c}" for c in dict.fromkeys([*group_by, *CAR_KEY]))
    con.execute(f"""
        create or replace temp table test_rows as
        select {group_car_columns}, o.car, s.n, s.positive_share, s.scar
        from {observations} as o
        left join {standardised} as s using (event_id, security_id, window_start, window_end)
    """)
    try:
        correlations = _kp_correlations(con, abnormal_returns, group_by, group_schema, correlation_sample_size)
        return _tests_in_batches(con, group_by, batch_rows, mean_ranks, correlations)
    finally:
        con.execute("drop table test_rows")


def _kp_correlations(
    con, abnormal_returns: str, group_by: list[str], group_schema, correlation_sample_size: int
) -> pl.DataFrame:
    """r of Kolari & Pynnoenen per group (column mean_r), from the CARs of temp table test_rows."""
    group_key = ", ".join(group_by)
    # min_by(..., n): a top-n per group, without sorting every group's CARs as row_number() did.
    # Its list is in hash order, so groups with the same sample (the windows of one theme, mostly)
    # have equal lists and share one sample_index: one rho matrix serves them all. A group holds
    # a window, so its rows are distinct (event, security) pairs.
    con.execute(f"""
        create or replace temp table kp_samples as
        select {group_key}, dense_rank() over (order by members) as sample_index, members
        from (
            select {group_key}, min_by(
                struct_pack(event_id := event_id, security_id := security_id),
                struct_pack(h := hash(event_id, security_id), e := event_id, s := security_id),
                {int(correlation_sample_size)}
            ) as members
            from test_rows
            where scar is not null  -- the CARs of the BMP statistic that KP adjusts
            group by all
        )
    """)
    # One sample's returns at a time; ordered by sample, each read skips the others' row groups.
    con.execute(f"""
        create or replace temp table kp_returns as
        select m.sample_index, m.event_id, m.security_id, a.session_index - a.rel_day as day0,
            a.session_index, a.abnormal_return
        from (  -- not `select distinct i, unnest(l, recursive := true)`: DuckDB 2.0.1 keeps one
                -- row per (i, first field) there (duckdb/duckdb#17278), losing an event's 2nd security
            select distinct sample_index, event_id, security_id
            from (select sample_index, unnest(members, recursive := true) from kp_samples)
        ) as m
        inner join {abnormal_returns} as a using (event_id, security_id)
        where a.is_estimation_day
        order by m.sample_index
    """)
    samples = con.sql(f"select {group_key}, sample_index from kp_samples order by sample_index").pl()
    correlation_rows = []
    for (sample_index,), groups_of_sample in samples.group_by("sample_index", maintain_order=True):
        correlations = estimation_correlations(con.sql(
            "select * exclude (sample_index) from kp_returns where sample_index = ?", params=[sample_index]
        ).pl())
        for group in groups_of_sample.drop("sample_index").iter_rows(named=True):
            days = group["window_end"] - group["window_start"] + 1
            mean_r = None if correlations is None else mean_over_pairs(*correlations, days)
            correlation_rows.append({**group, "mean_r": mean_r})
    con.execute("drop table kp_returns; drop table kp_samples")
    return pl.DataFrame(correlation_rows, schema={**group_schema, "mean_r": pl.Float64})


def _tests_in_batches(con, group_by: list[str], batch_rows: int, mean_ranks, correlations) -> pl.DataFrame:
    """group_tests over temp table test_rows, in batches of whole groups."""
    group_key = ", ".join(group_by)
    # The per-CAR rows in batches of whole groups (a group's figures need only its own CARs):
    # a group's batch is the number of CARs before it, in group order, over batch_rows.
    con.execute(f"""
        create or replace temp table test_batches as
        select {group_key}, coalesce(sum(cars) over (
            order by {group_key} rows between unbounded preceding and 1 preceding
        ), 0) // {int(batch_rows)} as batch
        from (select {group_key}, count(*) as cars from test_rows group by all)
    """)
    same_group = " and ".join(f"r.{c} is not distinct from b.{c}" for c in group_by)
    try:
        batches = con.sql("select distinct batch from test_batches order by batch").fetchall()
        return pl.concat([
            group_tests(
                con.sql(f"""
                    -- what group_tests reads: the CARs' keys would only cost their conversion
                    select {group_key}, car, n, positive_share, scar from test_rows as r
                    semi join (select * from test_batches where batch = {batch}) as b on {same_group}
                """).pl(),
                mean_ranks, correlations, group_by,
            )
            for (batch,) in batches or [(-1,)]  # no CAR: one empty batch, the empty result
        ])
    finally:
        con.execute("drop table test_batches")


def _mean_ranks(con, rank_sums: str, group_by: list[str]) -> pl.DataFrame:
    """U_t per group and relative day from `rank_sums_in_duckdb` rows, summed over finer groups."""
    return con.sql(f"""
        select {", ".join(group_by)}, rel_day,
            cast(sum(u_high)::hugeint * {_U_LOW_SCALE} + sum(u_low) as double) / {_U_SCALE} / sum(n) as u
        from {rank_sums} group by all
    """).pl()


def rank_sums_in_duckdb(
    con, observations: str, abnormal_returns: str, group_by: Sequence[str], batch_rows: int = 1_000_000
) -> pl.DataFrame:
    """The Corrado U_t of each group's CARs summed per relative day, exactly, in memory bounded by
    `batch_rows`: columns `group_by`, rel_day, n (the count of U_t) and u_high, u_low (their sum in
    units of 2^-52 is u_high * 2^26 + u_low). Integer sums of disjoint sets of CARs add up, so sums
    kept per finer group (a month of events) give the group's mean rank exactly.

    DuckDB sorts the abnormal returns of the observations' (event, security) pairs by pair once
    (spilling to disk when large) and streams them in batches of `batch_rows`; a compiled loop
    sorts each pair's returns, ranks them for every window with running counts
    (`_add_window_ranks`) and adds the fixed-point U_t to the sums of the pair and window's set of
    groups, which go to each group of the set at the end. Integer sums are exact in any order, so
    batches and sets change nothing."""
    group_columns = ", ".join(group_by)
    # Groups, windows and pairs numbered from their distinct values (no sort of every member)
    con.execute(f"""
        create or replace temp table rank_members as
        with members as (
            select distinct {", ".join(dict.fromkeys([*group_by, *CAR_KEY]))} from {observations}
        ),
        groups as (
            select {group_columns}, row_number() over (order by {group_columns}) - 1 as group_index,
                dense_rank() over (order by window_start, window_end) - 1 as window_index
            from (select distinct {group_columns} from members)
        ),
        pairs as (
            select event_id, security_id, row_number() over (order by event_id, security_id) - 1 as pair_index
            from (select distinct event_id, security_id from members)
        )
        select p.pair_index, g.group_index, g.window_index, m.*
        from members as m
        inner join groups as g using ({group_columns})
        inner join pairs as p using (event_id, security_id)
    """)
    try:
        windows = con.sql("select distinct window_start, window_end from rank_members order by all").fetchall()
        # Pair and window -> its set of groups. Many (pair, window) keys have the same set (a month
        # of one theme's CARs), so U_t is summed per set and the sets' sums added to their groups
        # at the end, rather than each return repeated for every group it counts in.
        con.execute(f"""
            create or replace temp table rank_key_sets as
            select pair_index * {len(windows)} + window_index as key, group_indexes,
                   dense_rank() over (order by group_indexes) - 1 as group_set
            from (select pair_index, window_index, list(group_index order by group_index) as group_indexes
                  from rank_members group by all)
        """)
        key_sets = con.sql("select key, group_set from rank_key_sets").fetchnumpy()
        group_sets = con.sql(
            "select distinct group_set, unnest(group_indexes) as group_index from rank_key_sets order by all"
        ).fetchnumpy()
        [(pairs, groups, set_count)] = con.execute(
            "select count(distinct pair_index), count(distinct group_index), "
            "(select count(distinct group_set) from rank_key_sets) from rank_members"
        ).fetchall()
        # a key no CAR has (a pair without that window) adds to the extra set `set_count`, left out
        set_of_key = np.full(pairs * len(windows), set_count, dtype=np.int64)
        set_of_key[key_sets["key"]] = key_sets["group_set"]
        sums = _RankSums(set_count + 1)
        stream = con.sql(f"""
            select p.pair_index, a.rel_day, a.is_estimation_day, a.abnormal_return
            from {abnormal_returns} as a
            inner join (select distinct event_id, security_id, pair_index from rank_members) as p
                using (event_id, security_id)
            order by p.pair_index
        """).to_arrow_reader(batch_rows)
        for pairs in _whole_pairs(stream):
            _add_window_ranks(sums, pairs, windows, set_of_key)
        group_sums = sums.regrouped(group_sets["group_set"], group_sets["group_index"], groups)
        con.register("batch_rank_sums", group_sums.table())
        try:
            return con.sql(f"""
                select {", ".join(f"g.{c}" for c in group_by)}, s.rel_day, s.n, s.u_high, s.u_low
                from batch_rank_sums as s
                inner join (select distinct group_index, {group_columns} from rank_members) as g
                    using (group_index)
            """).pl()
        finally:
            con.unregister("batch_rank_sums")
    finally:
        con.execute("drop table if exists rank_members; drop table if exists rank_key_sets")


def _whole_pairs(batches: pa.RecordBatchReader) -> Iterator[dict[str, np.ndarray]]:
    """The columns of a stream sorted by pair_index, as numpy arrays, cut so that no pair spans two
    parts: a batch's last pair waits for the rows the next batch may add to it. Only that pair's
    rows are copied; the rest of a batch is passed on as Arrow gave it."""
    pending: dict[str, np.ndarray] | None = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        columns = {name: batch.column(name).to_numpy(zero_copy_only=False) for name in batch.schema.names}
        if pending is not None:
            # the pending pair's rows in this batch
            head = int(np.searchsorted(columns["pair_index"], pending["pair_index"][0], side="right"))
            pending = {name: np.concatenate([pending[name], values[:head]]) for name, values in columns.items()}
            if head == batch.num_rows:
                continue
            yield pending
            columns = {name: values[head:] for name, values in columns.items()}
        pair = columns["pair_index"]
        complete = int(np.searchsorted(pair, pair[-1], side="left"))
        if complete:
            yield {name: values[:complete] for name, values in columns.items()}
        pending = {name: values[complete:] for name, values in columns.items()}
    if pending is not None:
        yield pending


# A fixed-point U is split in two halves of 26 bits: the int64 sums of either half stay exact for
# up to 2^37 returns a cell.
_U_LOW_SCALE = 2**26


class _RankSums:
    """Exact sums of fixed-point U_t and their count per (group, relative day), as int64 grids. The
    days grow with the batches: the stream itself tells which relative days there are, with no
    scan before it."""

    def __init__(self, groups: int):
        self.first_day = 0
        self.high, self.low, self.n = (np.zeros((groups, 0), dtype=np.int64) for _ in range(3))

    def cover(self, first: int, last: int) -> None:
        """Widen the sums to the relative days [first, last] too (new columns hold zeros)."""
        days = self.n.shape[1]
        if days:
            if self.first_day <= first and last < self.first_day + days:
                return
            first, last = min(first, self.first_day), max(last, self.first_day + days - 1)
        shift = self.first_day - first if days else 0
        for name in ("high", "low", "n"):
            wider = np.zeros((self.n.shape[0], last - first + 1), dtype=np.int64)
            wider[:, shift:shift + days] = getattr(self, name)
            setattr(self, name, wider)
        self.first_day = first

    def regrouped(self, rows: np.ndarray, groups: np.ndarray, count: int) -> _RankSums:
        """The sums of `count` groups, row `rows[i]` of these sums adding to group `groups[i]`."""
        result = _RankSums(count)
        result.first_day = self.first_day
        for name in ("high", "low", "n"):
            total = np.zeros((count, self.n.shape[1]), dtype=np.int64)
            np.add.at(total, groups, getattr(self, name)[rows])
            setattr(result, name, total)
        return result

    def table(self) -> pa.Table:
        days = max(self.n.shape[1], 1)  # no days: no cell
        cell = np.flatnonzero(self.n)
        return pa.table({
            "group_index": cell // days,
            "rel_day": (cell % days + self.first_day).astype(np.int32),
            "n": self.n.ravel()[cell],
            "u_high": self.high.ravel()[cell],
            "u_low": self.low.ravel()[cell],
        })


def _add_window_ranks(
    sums: _RankSums, rows: dict[str, np.ndarray], windows: list[tuple[int, int]],
    set_of_key: np.ndarray,
) -> None:
    """Rank whole pairs' abnormal returns (rows sorted by pair) for every window and add U_t
    to the sums of that pair and window's set of groups (`set_of_key[pair * windows + window]`;
    a key whose set is the last row of `sums` has no CAR and adds nothing)."""
    rel_day = rows["rel_day"]
    if rel_day.size == 0:
        return
    sums.cover(int(rel_day.min()), int(rel_day.max()))
    starts, ends = (np.array(bound, dtype=np.int64) for bound in zip(*windows))
    _window_ranks_kernel()(
        rows["pair_index"].astype(np.int64, copy=False), rel_day,
        rows["is_estimation_day"].astype(np.bool_, copy=False),
        rows["abnormal_return"].astype(np.float64, copy=False),
        starts, ends, set_of_key, sums.n.shape[0] - 1, sums.first_day, sums.high, sums.low, sums.n,
    )


@cache
def _window_ranks_kernel():
    """`_rank_pairs` compiled by numba (cached on disk): one pass over each pair and window, where
    numpy needed a dozen whole-batch arrays per window. Imported when first used: only the rank
    sums need it."""
    import numba

    return numba.njit(cache=True, nogil=True)(_rank_pairs)


def _rank_pairs(pair, rel_day, is_estimation_day, abnormal_return, window_starts, window_ends,
                set_of_key, no_set, first_day, high, low, n):
    """The loops of `_add_window_ranks`. A CAR ranks the returns of its estimation window and its
    own event window: each pair's returns are sorted once, and within window w a return's rank is
    the count of w's returns up to it in that order (the same figure as ranking w's returns alone).
    Tied returns (equal within a pair, rare) share their average rank le - (eq - 1) / 2, with le
    the count of w's returns at or below them and eq their ties in w. U = rank / (M + 1), M the
    CAR's count of returns, in fixed point rounded half away from zero as DuckDB's round() (exact:
    U * 2^52 < 2^52)."""
    windows = window_starts.size
    size = pair.size
    first = 0
    while first < size:
        last = first
        while last + 1 < size and pair[last + 1] == pair[first]:
            last += 1
        order = first + np.argsort(abnormal_return[first:last + 1])
        returns_sorted = abnormal_return[order]
        days_sorted = rel_day[order]
        estimation_sorted = is_estimation_day[order]
        pair_returns = order.size
        for window in range(windows):
            group_set = set_of_key[pair[first] * windows + window]
            if group_set == no_set:
                continue
            member = estimation_sorted | (
                (days_sorted >= window_starts[window]) & (days_sorted <= window_ends[window])
            )
            returns = member.sum()
            below = 0
            tie_first = 0
            while tie_first < pair_returns:
                tie_last = tie_first
                while tie_last + 1 < pair_returns and returns_sorted[tie_last + 1] == returns_sorted[tie_first]:
                    tie_last += 1
                ties = member[tie_first:tie_last + 1].sum()
                below += ties
                u = (below - (ties - 1) / 2) / (returns + 1)
                u_fixed = np.floor(u * _U_SCALE + 0.5)
                u_high = np.int64(np.floor(u_fixed / _U_LOW_SCALE))
                u_low = np.int64(u_fixed - u_high * _U_LOW_SCALE)
                for row in range(tie_first, tie_last + 1):
                    if member[row]:
                        day = days_sorted[row] - first_day
                        high[group_set, day] += u_high
                        low[group_set, day] += u_low
                        n[group_set, day] += 1
                tie_first = tie_last + 1
        first = last + 1
