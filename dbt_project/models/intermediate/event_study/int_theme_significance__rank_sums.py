"""One row per (theme test, event quarter, relative day): the exact sums of the Corrado standardised
ranks U_t of the quarter's CARs (newsimpact.event_study_tests.rank_sums_in_duckdb), which
int_theme_significance__tests adds up over the quarters.

Incremental per (test, quarter): the pre-hook (in the YAML) deletes the quarters whose fingerprint
(int_theme_significance__rank_inputs) changed or vanished, and the model ranks the abnormal returns
of the quarters missing from the table only. New events reach the recent quarters, so a night ranks
the returns of those, not of the whole history; integer sums make the result equal a full build's."""

from newsimpact.event_study_tests import rank_sums_in_duckdb

GROUP_BY = ["theme_code", "window_start", "window_end", "event_filter", "event_quarter"]


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    group_key = ", ".join(GROUP_BY)
    inputs = dbt.ref("int_theme_significance__rank_inputs")
    if dbt.is_incremental:
        kept = session.sql(f"select distinct {group_key} from {dbt.this}")
        inputs = inputs.join(kept, group_key, how="anti")
    to_compute = inputs.pl()
    if dbt.is_incremental and to_compute.is_empty():
        return session.sql(f"select * from {dbt.this} limit 0")
    # a table, not a view: the ranking reads the observations several times
    observations = dbt.ref("int_theme_significance__observations")
    to_read = observations.join(inputs.select(group_key), group_key, how="semi")
    session.execute(f"create temp table rank_observations as {to_read.sql_query()}")
    try:
        sums = rank_sums_in_duckdb(
            session,
            observations="rank_observations",
            abnormal_returns=f"({dbt.ref('int_event_study__abnormal_returns').sql_query()})",
            group_by=GROUP_BY,
            batch_rows=int(dbt.config.get("batch_rows")),
        )
    finally:
        session.execute("drop table rank_observations")
    # A relation on this connection, as in int_event_study__scar.
    return session.from_arrow(
        sums.join(to_compute, on=GROUP_BY, how="left").sort([*GROUP_BY, "rel_day"]).to_arrow()
    )
