"""Are the injected theme effects found again in the published marts?

An injected theme passes when its CAAR[0,0] is within 3 standard errors of what the generator
expects of it and significant (two-sided p < 0.05 of the cross-sectional t test). The expectation
is the mean over the theme's events of the generator's `expected_day0_ar`: the injected effect
minus what the market model, fitted over each event's estimation window, absorbs of the effects
of the security's other events there. A theme without an injected effect passes when its CAAR[0,0]
is within the two-sided 5 % band (1.96 standard errors) of that same expectation: it is not 0,
since the other events' effects still reach it through the market model, and at 60,000 events
the difference is about one standard error. `null_rejection_rate` counts its tests against 0, as
the marts test them (each window and filter is one test).
"""

from pathlib import Path

import duckdb
import polars as pl

ALPHA = 0.05
Z_TWO_SIDED = 1.959964  # the standard normal's 97.5 % quantile: a two-sided test at ALPHA


def theme_recovery(warehouse: Path, injected: dict[str, float], events: Path) -> pl.DataFrame:
    """One row per theme: injected effect, expected and found CAAR[0,0], N, SE, p, and whether
    it is recovered. `events`: the generator's reference/events.parquet."""
    with duckdb.connect(str(warehouse), read_only=True) as con:
        frame = con.sql(
            "select theme_code, n_events, caar, caar_se, t_cross_section, p_cross_section "
            "from marts.mart_theme_significance "
            "where window_start = 0 and window_end = 0 and event_filter = 'all' order by theme_code"
        ).pl()
    expected = (
        pl.read_parquet(events)
        .group_by(theme_code="theme")
        .agg(expected=pl.col("expected_day0_ar").mean())
    )
    effect = pl.col("theme_code").replace_strict(injected, default=0.0, return_dtype=pl.Float64)
    frame = frame.join(expected, on="theme_code", how="left").with_columns(injected=effect)
    frame = frame.with_columns(
        within_3se=(pl.col("caar") - pl.col("expected")).abs() < 3 * pl.col("caar_se"),
        as_expected=(pl.col("caar") - pl.col("expected")).abs() < Z_TWO_SIDED * pl.col("caar_se"),
        significant=pl.col("p_cross_section") < ALPHA,
    )
    return frame.with_columns(
        recovered=pl.when(pl.col("injected") != 0)
        .then(pl.col("within_3se") & pl.col("significant")
              & (pl.col("caar").sign() == pl.col("injected").sign()))
        .otherwise(pl.col("as_expected"))
    )


def null_rejection_rate(warehouse: Path, injected: dict[str, float]) -> tuple[int, int]:
    """(significant, tests) over every window and filter of the themes without an effect."""
    names = ", ".join(f"'{name}'" for name in injected)
    with duckdb.connect(str(warehouse), read_only=True) as con:
        significant, tests = con.sql(
            f"select count(*) filter (where p_cross_section < {ALPHA}), count(p_cross_section) "
            f"from marts.mart_theme_significance where theme_code not in ({names})"
        ).fetchall()[0]
    return int(significant), int(tests)
