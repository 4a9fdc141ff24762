"""One row per (theme, window, event filter) with at least one ok CAR: the event-study tests of
newsimpact/event_study_tests.py over the theme's CARs (int_theme_significance__observations).

Incremental per test: the pre-hook (in the YAML) deletes the tests whose input fingerprint
(int_theme_significance__inputs) changed or vanished, and the model computes the tests missing
from the table, so a night without a changed CAR computes nothing.

Memory stays bounded: the Corrado ranks come summed per month (int_theme_significance__rank_sums),
DuckDB joins the observations, Python gets the per-CAR rows in batches of whole groups (about
`event_study_batch_rows` rows) and one row per (group, relative day), and r of Kolari & Pynnoenen
reads at most `kp_correlation_sample_size` CARs per group (see event_study_tests_in_duckdb and
the YAML). At full scale the per-CAR rows read whole took 2.4 GB of the dbt process."""

from newsimpact.event_study_tests import event_study_tests_in_duckdb
from newsimpact.theme_models import build_missing_groups

GROUP_BY = ["theme_code", "window_start", "window_end", "event_filter"]


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    standardised = f"({dbt.ref('int_event_study__scar').sql_query()})"
    abnormal_returns = f"({dbt.ref('int_event_study__abnormal_returns').sql_query()})"
    rank_sums = f"({dbt.ref('int_theme_significance__rank_sums').sql_query()})"
    sample_size = int(dbt.config.get("kp_correlation_sample_size"))
    batch_rows = int(dbt.config.get("batch_rows"))
    return build_missing_groups(
        dbt, session, dbt.ref("int_theme_significance__inputs"),
        dbt.ref("int_theme_significance__observations"), GROUP_BY, "significance_observations",
        lambda observations: event_study_tests_in_duckdb(
            session, observations, standardised, abnormal_returns, GROUP_BY,
            correlation_sample_size=sample_size, batch_rows=batch_rows, rank_sums=rank_sums,
        ),
    )
