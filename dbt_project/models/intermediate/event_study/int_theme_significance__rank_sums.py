"""One row per (theme test, event month, relative day): the exact sums of the Corrado standardised
ranks U_t of the month's CARs (newsimpact.event_study_tests.rank_sums_in_duckdb), which
int_theme_significance__tests adds up over the months.

Incremental per (test, month): the pre-hook (in the YAML) deletes the months whose fingerprint
(int_theme_significance__rank_inputs) changed or vanished, and the model ranks the abnormal returns
of the months missing from the table only. New events reach the recent months, so a night ranks
the returns of those, not of the whole history; integer sums make the result equal a full build's."""

from newsimpact.event_study_tests import rank_sums_in_duckdb
from newsimpact.theme_models import build_missing_groups

GROUP_BY = ["theme_code", "window_start", "window_end", "event_filter", "event_month"]


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    abnormal_returns = f"({dbt.ref('int_event_study__abnormal_returns').sql_query()})"
    batch_rows = int(dbt.config.get("batch_rows"))
    return build_missing_groups(
        dbt, session, dbt.ref("int_theme_significance__rank_inputs"),
        dbt.ref("int_theme_significance__observations"), GROUP_BY, "rank_observations",
        lambda observations: rank_sums_in_duckdb(
            session, observations, abnormal_returns, GROUP_BY, batch_rows
        ),
        order_by=["rel_day"],
    )
