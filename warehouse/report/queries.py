"""What the report shows, read from a published serving file: one function per figure or table.

Every function takes a connection to the serving file (opened read-only) and returns a Polars
frame; the statistics the marts do not carry (CIs, mean CAR paths) are computed here.
"""

from __future__ import annotations

import json

import duckdb
import numpy as np
import polars as pl
from scipy import stats

CONFIDENCE = 0.95
SIGNIFICANCE_MART = "mart_theme_significance"
TIMELINE_MARGIN = 30  # sessions of price shown before the first and after the last news


def build_info(connection: duckdb.DuckDBPyConnection) -> dict[str, object]:
    cursor = connection.execute("select * from marts.build_info")
    names = [column[0] for column in cursor.description]
    (row,) = cursor.fetchall()
    return dict(zip(names, row, strict=True))


def report_window(info: dict[str, object]) -> tuple[int, int]:
    """[-1, 1] when the build measured it, else its first configured window."""
    windows = [tuple(window) for window in json.loads(str(info["event_windows"]))]
    return (-1, 1) if (-1, 1) in windows else windows[0]


def quarantine_counts(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.sql(
        """
        select source_name, reason, count(*) as records
        from audit.quarantine
        group by all
        order by source_name, records desc, reason
        """
    ).pl()


def ingested_counts(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    return connection.sql(
        """
        select source_name, source_type, count(*) as files, sum(records_read)::bigint as records_read,
               sum(records_loaded)::bigint as records_loaded,
               sum(records_quarantined)::bigint as records_quarantined
        from audit.ingested_files
        group by all
        order by source_name
        """
    ).pl()


def theme_caar(connection: duckdb.DuckDBPyConnection) -> tuple[pl.DataFrame, str]:
    """CAAR and its 95 % CI per (theme, window, event filter), and the table it came from.

    `marts.mart_theme_significance` when the build has it; else computed from the `ok` rows of
    `marts.fct_event_impact` (event filter `all`), as `mart_theme_impact` counts them.
    """
    columns = ["theme_code", "window_start", "window_end", "event_filter", "n_events", "caar",
               "caar_ci_low", "caar_ci_high"]
    if _table_exists(connection, "marts", SIGNIFICANCE_MART):
        frame = connection.sql(
            f"""
            select {', '.join(columns)} from marts.{SIGNIFICANCE_MART}
            where n_events > 0
            order by window_start, window_end, theme_code, event_filter
            """
        ).pl()
        return frame, f"marts.{SIGNIFICANCE_MART}"
    cars = """
        select t.theme_code, i.window_start, i.window_end, i.car
        from marts.fct_event_impact i
        join marts.bridge_event_theme b using (event_id)
        join marts.dim_theme t using (theme_id)
        where i.status = 'ok'
    """
    frame = (
        mean_with_ci(connection, cars, ["theme_code", "window_start", "window_end"], "car")
        .rename({"n": "n_events", "mean": "caar", "ci_low": "caar_ci_low",
                 "ci_high": "caar_ci_high"})
        .with_columns(event_filter=pl.lit("all"))
        .select(columns)
        .sort("window_start", "window_end", "theme_code")
    )
    return frame, "marts.fct_event_impact (status ok) x marts.bridge_event_theme"


def caar_curves(connection: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Mean cumulative abnormal return per (theme, relative day), with its 95 % band.

    CAR paths cumulate from the first day of `fct_abnormal_return_daily`'s window; only
    (event, security) pairs with an abnormal return on every day are kept, so every day of a
    theme averages the same paths.
    """
    # One list per path (a hash aggregate) rather than windows over the 10 M daily rows, which
    # sort them all: 1.9 s instead of 3 s at full bench scale.
    paths = """
        with paths as (
            select event_id,
                   list(rel_day order by rel_day) as days,
                   list(abnormal_return order by rel_day) as ars
            from marts.fct_abnormal_return_daily
            group by event_id, security_id
            having count(*) = count(abnormal_return)
        ),
        cars as (
            select event_id, unnest(days) as rel_day,
                   unnest(list_transform(ars, lambda ar, i: list_sum(ars[1:i]))) as car
            from paths
        )
        select t.theme_code, c.rel_day, c.car
        from cars c
        join marts.bridge_event_theme b using (event_id)
        join marts.dim_theme t using (theme_id)
    """
    return mean_with_ci(connection, paths, ["theme_code", "rel_day"], "car").sort("theme_code", "rel_day")


def mean_with_ci(
    connection: duckdb.DuckDBPyConnection, values: str, by: list[str], value: str
) -> pl.DataFrame:
    """n, mean, standard error (sd / sqrt n) and the two-sided t confidence interval of `value`
    per group of the query `values`; the error and interval are null for fewer than two values or
    a zero deviation. DuckDB aggregates: Python gets one row per group, not the values."""
    keys = ", ".join(by)
    grouped = connection.sql(
        f"""
        select {keys}, count({value}) as n, avg({value}) as mean, stddev_samp({value}) as sd
        from ({values}) group by {keys}
        """
    ).pl().with_columns(se=pl.col("sd") / pl.col("n").sqrt())
    n = grouped["n"].to_numpy()
    quantile = np.where(n >= 2, stats.t.ppf(0.5 + CONFIDENCE / 2, np.maximum(n - 1, 1)), np.nan)
    half_width = pl.Series("quantile", quantile).fill_nan(None) * grouped["se"]
    half_width = half_width.replace(0.0, None)  # no spread: no interval worth drawing
    return grouped.with_columns(
        ci_low=grouped["mean"] - half_width, ci_high=grouped["mean"] + half_width
    ).select(*by, "n", "mean", "se", "ci_low", "ci_high")


def biggest_movers(
    connection: duckdb.DuckDBPyConnection, window: tuple[int, int], limit: int = 10
) -> pl.DataFrame:
    return connection.sql(
        """
        select i.event_id, n.title, n.url, i.ticker, i.event_session, i.car, i.car_t
        from marts.fct_event_impact i
        join marts.fct_news_event n using (event_id)
        where i.status = 'ok' and i.window_start = ? and i.window_end = ?
        order by abs(i.car) desc, i.event_id, i.security_id
        limit ?
        """,
        params=[window[0], window[1], limit],
    ).pl()


def top_entities(connection: duckdb.DuckDBPyConnection, limit: int = 3) -> pl.DataFrame:
    """The entities that the most events name, among those whose primary security has a bar on
    a session with news (so their timeline has a price to draw)."""
    return connection.sql(
        """
        select e.entity_id, e.entity_name, count(distinct i.event_id) as events
        from marts.fct_event_impact i
        join marts.dim_entity e using (entity_id)
        where i.entity_id in (
            select entity_id from marts.mart_entity_daily where close is not null
        )
        group by all
        order by events desc, e.entity_name
        limit ?
        """,
        params=[limit],
    ).pl()


def entity_timeline(
    connection: duckdb.DuckDBPyConnection, entity_id: str, margin_sessions: int = TIMELINE_MARGIN
) -> pl.DataFrame:
    """The daily adjusted close of the entity's primary security, from `margin_sessions` bars
    before its first session with news to as many after its last, with the news on each session
    (mention count and abnormal return from `mart_entity_daily`, null on the other sessions)."""
    return connection.sql(
        """
        with prices as (
            select p.session_date as session, p.ticker, p.adj_close,
                   row_number() over (order by p.session_date) as bar_number
            from marts.fct_security_price_daily p
            join marts.dim_entity e using (security_id)
            where e.entity_id = $entity_id
        ),
        news as (
            select session, mention_count, abnormal_return
            from marts.mart_entity_daily
            where entity_id = $entity_id
        ),
        span as (
            select min(p.bar_number) - $margin as first_bar, max(p.bar_number) + $margin as last_bar
            from prices p
            join news n using (session)
        )
        select p.session, p.ticker, p.adj_close, n.mention_count, n.abnormal_return
        from prices p
        cross join span
        left join news n using (session)
        where p.bar_number between span.first_bar and span.last_bar
        order by p.session
        """,
        params={"entity_id": entity_id, "margin": margin_sessions},
    ).pl()


def _table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = connection.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
        [schema, table],
    ).fetchall()
    return bool(found[0][0])

