"""One row per ok (event, security, window) of fct_event_impact: the standardised CAR and its p-value
(formulas in newsimpact/event_study_tests.py and the model's YAML).

Incremental like int_event_study__abnormal_returns: the pre-hook (in the YAML) deletes the pairs of
int_events__changes, a night appends their recomputed rows. The abnormal returns never enter memory:
DuckDB aggregates them per pair and window, and Python standardises the CARs in batches of
`batch_rows` rows (standardised_cars_in_duckdb)."""

from newsimpact.event_study_tests import CAR_KEY, standardised_cars_in_duckdb


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    batch_rows = int(dbt.config.get("batch_rows"))
    cars = dbt.ref("fct_event_impact").filter("status = 'ok'")
    abnormal_returns = dbt.ref("int_event_study__abnormal_returns")
    if dbt.is_incremental:
        changes = dbt.ref("int_events__changes").select("event_id, security_id")
        cars = cars.join(changes, "event_id, security_id", how="semi")
        abnormal_returns = abnormal_returns.join(changes, "event_id, security_id", how="semi")
    results = standardised_cars_in_duckdb(
        session,
        f"({cars.sql_query()})",
        f"({abnormal_returns.sql_query()})",
        f"({dbt.ref('int_market_model__rolling').sql_query()})",
        batch_rows,
    )
    # A relation on this connection: dbt-duckdb writes a DataFrame through another connection, whose
    # table the incremental materialisation's open transaction would not see.
    return session.from_arrow(results.sort(CAR_KEY).to_arrow())
