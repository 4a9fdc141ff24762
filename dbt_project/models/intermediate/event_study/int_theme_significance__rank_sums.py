"""One row per (theme test, event quarter, relative day): the exact sums of the Corrado standardised
ranks U_t of the quarter's CARs (newsimpact.event_study_tests.rank_sums_in_duckdb), which
int_theme_significance__tests adds up over the quarters.

Incremental per (test, quarter): the pre-hook (in the YAML) deletes the quarters whose fingerprint
(int_theme_significance__rank_inputs) changed or vanished, and the model ranks the abnormal returns
of the quarters missing from the table only. New events reach the recent quarters, so a night ranks
the returns of those, not of the whole history; integer sums make the result equal a full build's."""

from newsimpact.event_study_tests import rank_sums_in_duckdb
from newsimpact.theme_models import groups_to_compute

GROUP_BY = ["theme_code", "window_start", "window_end", "event_filter", "event_quarter"]


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    with groups_to_compute(
        dbt, session, dbt.ref("int_theme_significance__rank_inputs"),
        dbt.ref("int_theme_significance__observations"), GROUP_BY, "rank_observations",
    ) as to_compute:
        if to_compute is None:
            return session.sql(f"select * from {dbt.this} limit 0")
        sums = rank_sums_in_duckdb(
            session,
            observations="rank_observations",
            abnormal_returns=f"({dbt.ref('int_event_study__abnormal_returns').sql_query()})",
            group_by=GROUP_BY,
            batch_rows=int(dbt.config.get("batch_rows")),
        )
    # A relation on this connection, as in int_event_study__scar.
    return session.from_arrow(
        sums.join(to_compute, on=GROUP_BY, how="left").sort([*GROUP_BY, "rel_day"]).to_arrow()
    )
