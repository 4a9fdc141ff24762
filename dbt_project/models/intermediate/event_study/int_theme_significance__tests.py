"""One row per (theme, window, event filter) with at least one ok CAR: the event-study tests of
newsimpact/event_study_tests.py over the theme's CARs, all of them or the unconfounded ones.

Memory stays bounded: DuckDB joins the observations and ranks the abnormal returns, Python gets one
row per (group, CAR) and per (group, relative day), and r of Kolari & Pynnoenen reads at most
`kp_correlation_sample_size` CARs per group (see event_study_tests_in_duckdb and the YAML)."""

from newsimpact.event_study_tests import event_study_tests_in_duckdb

GROUP_BY = ["theme_code", "window_start", "window_end", "event_filter"]


def model(dbt, session):
    dbt.config(materialized="table")
    sample_size = int(dbt.config.get("kp_correlation_sample_size"))
    dbt.ref("fct_event_impact").filter("status = 'ok'").create_view("significance_cars")
    dbt.ref("bridge_event_theme").create_view("significance_event_themes")
    dbt.ref("dim_theme").create_view("significance_themes")
    dbt.ref("int_event_windows__overlaps").create_view("significance_overlaps")
    dbt.ref("int_event_study__scar").create_view("significance_standardised")
    dbt.ref("int_event_study__abnormal_returns").create_view("significance_abnormal_returns")
    session.execute("""
        create or replace temp view significance_observations as
        with themed as (
            select t.theme_code, c.event_id, c.security_id, c.window_start, c.window_end, c.car
            from significance_cars as c
            inner join significance_event_themes as bt using (event_id)
            inner join significance_themes as t using (theme_id)
        )
        select *, 'all' as event_filter from themed
        union all
        select *, 'unconfounded' as event_filter from themed
        where not exists (
            select 1 from significance_overlaps as o
            where o.is_confounded
                and o.event_id = themed.event_id and o.security_id = themed.security_id
                and o.window_start = themed.window_start and o.window_end = themed.window_end
        )
    """)
    tests = event_study_tests_in_duckdb(
        session,
        observations="significance_observations",
        standardised="significance_standardised",
        abnormal_returns="significance_abnormal_returns",
        group_by=GROUP_BY,
        correlation_sample_size=sample_size,
    )
    for view in ("observations", "cars", "event_themes", "themes", "overlaps", "standardised", "abnormal_returns"):
        session.execute(f"drop view significance_{view}")
    return tests
