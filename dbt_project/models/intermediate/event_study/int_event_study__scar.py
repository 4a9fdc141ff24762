"""One row per ok (event, security, window) of fct_event_impact: the standardised CAR and its p-value
(formulas in newsimpact/event_study_tests.py and the model's YAML).

Incremental like int_event_study__abnormal_returns: the pre-hook (in the YAML) deletes the pairs of
int_events__changes, a night appends their recomputed rows. The abnormal returns never enter memory
whole: events are split into hash buckets of at most `batch_rows` abnormal-return rows on average,
and `standardised_cars` runs per bucket (a CAR's figures depend only on its own pair's rows)."""

import math

import polars as pl

from newsimpact.event_study_tests import CAR_KEY, standardised_cars


def model(dbt, session):
    dbt.config(materialized="incremental", incremental_strategy="append", on_schema_change="fail")
    batch_rows = int(dbt.config.get("batch_rows"))
    cars = dbt.ref("fct_event_impact").filter("status = 'ok'")
    abnormal_returns = dbt.ref("int_event_study__abnormal_returns")
    changes = dbt.ref("int_events__changes").select("event_id, security_id")
    if dbt.is_incremental:
        cars = cars.join(changes, "event_id, security_id", how="semi")
        abnormal_returns = abnormal_returns.join(changes, "event_id, security_id", how="semi")
    cars.create_view("scar_cars")
    abnormal_returns.create_view("scar_abnormal_returns")
    row_count = session.sql("select count(*) from scar_abnormal_returns").fetchall()[0][0]
    buckets = max(1, math.ceil(row_count / batch_rows))
    in_bucket = f"hash(event_id) % {buckets} = ?"
    results = [
        standardised_cars(
            session.sql(f"select * from scar_cars where {in_bucket}", params=[bucket]).pl(),
            session.sql(f"select * from scar_abnormal_returns where {in_bucket}", params=[bucket]).pl(),
        )
        for bucket in range(buckets)
    ]
    session.execute("drop view scar_cars; drop view scar_abnormal_returns")
    # A relation on this connection: dbt-duckdb writes a DataFrame through another connection, whose
    # table the incremental materialisation's open transaction would not see.
    return session.from_arrow(pl.concat(results).sort(CAR_KEY).to_arrow())
