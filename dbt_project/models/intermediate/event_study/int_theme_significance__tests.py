"""One row per (theme, window, event filter) with at least one ok CAR: the event-study tests of
newsimpact/event_study_tests.py over the theme's CARs, all of them or the unconfounded ones."""

import polars as pl

from newsimpact.event_study_tests import event_study_tests

GROUP_BY = ["theme_code", "window_start", "window_end", "event_filter"]


def model(dbt, session):
    dbt.config(materialized="table")
    cars = dbt.ref("fct_event_impact").filter("status = 'ok'").pl()
    themes = dbt.ref("bridge_event_theme").pl().join(dbt.ref("dim_theme").pl(), on="theme_id")
    confounded = dbt.ref("int_event_windows__overlaps").filter("is_confounded").pl()
    keys = ["event_id", "security_id", "window_start", "window_end"]
    themed = cars.join(themes.select("event_id", "theme_code"), on="event_id")
    observations = pl.concat(
        [
            themed.with_columns(event_filter=pl.lit("all")),
            themed.join(confounded.select(keys), on=keys, how="anti")
            .with_columns(event_filter=pl.lit("unconfounded")),
        ]
    )
    abnormal_returns = dbt.ref("int_event_study__abnormal_returns").pl()
    return event_study_tests(observations, abnormal_returns, GROUP_BY)
