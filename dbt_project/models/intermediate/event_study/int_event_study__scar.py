"""One row per ok (event, security, window) of fct_event_impact: the standardised CAR and its p-value
(formulas in newsimpact/event_study_tests.py and the model's YAML)."""

from newsimpact.event_study_tests import standardised_cars


def model(dbt, session):
    dbt.config(materialized="table")
    cars = dbt.ref("fct_event_impact").filter("status = 'ok'").pl()
    abnormal_returns = dbt.ref("int_event_study__abnormal_returns").pl()
    return standardised_cars(cars, abnormal_returns)
