"""The suite files: valid GX, and each one passes on clean data and fails on bad data."""

from __future__ import annotations

import datetime as dt

import pytest
from quality_fixtures import PARAMS

from warehouse.quality import LAYERS, load_suites, run_suites
from warehouse.quality.runner import SUITES_DIR

SUITES = {suite.name: suite for suite in load_suites()}

# For each suite: SQL that breaks one value it checks, the column named in the message and the
# key of the offending row, as the message shows it.
BREAKS = {
    "raw_news_documents": (
        "UPDATE raw.news_documents SET content_hash = 'not-a-hash' WHERE document_id = 'd2'",
        "content_hash", "document_id='d2'"),
    "raw_news_annotations": (
        "UPDATE raw.news_annotations SET annotation_key = 'AAPL' WHERE position = 2",
        "annotation_key", "document_id='d1', position=2"),
    "raw_prices_daily": (
        "UPDATE raw.prices_daily SET low = 190 WHERE ticker = 'AAPL' AND session_date = '2024-03-01'",
        "low", "ticker='AAPL', session_date=2024-03-01"),
    "raw_exchange_sessions": (
        "UPDATE raw.exchange_sessions SET close_at = open_at WHERE session_index = 1",
        "close_at", "calendar_code='XNYS', session_date=2024-03-01"),
    "int_prices__daily_returns": (
        "UPDATE intermediate.int_prices__daily_returns SET \"return\" = 0.01 WHERE NOT has_bar",
        "return", "security_id='sec_x', session_date=2024-03-01"),
    "int_prices__daily_returns__outliers": (
        "UPDATE intermediate.int_prices__daily_returns SET \"return\" = 0.7 WHERE session_index = 2",
        "return", "security_id='sec_aapl', session_date=2024-03-04"),
    "int_events__linked_securities": (
        "UPDATE intermediate.int_events__linked_securities SET event_session = NULL WHERE event_id = 'd1'",
        "event_session", "event_id='d1', security_id='sec_aapl'"),
    "fct_news_event": (
        "UPDATE marts.fct_news_event SET sentiment = 1.5 WHERE event_id = 'd1'",
        "sentiment", "event_id='d1'"),
    "dim_entity": (
        "UPDATE marts.dim_entity SET entity_type = 'planet' WHERE entity_id = 'ent_cook'",
        "entity_type", "entity_id='ent_cook'"),
    "dim_security": (
        "UPDATE marts.dim_security SET ticker = 'meta' WHERE ticker = 'META'",
        "ticker", "security_id='sec_fb', valid_from=2022-06-09"),
    "dim_theme": (
        "UPDATE marts.dim_theme SET event_count = -1",
        "event_count", "theme_id='th_earn'"),
    "fct_event_impact": (
        "UPDATE marts.fct_event_impact SET status = 'fine' WHERE event_id = 'd2' AND window_end = 1",
        "status", "event_id='d2', security_id='sec_aapl', window_start=0, window_end=1"),
    "fct_abnormal_return_daily": (
        "UPDATE marts.fct_abnormal_return_daily SET rel_day = 11 WHERE rel_day = 1",
        "rel_day", "event_id='d1', security_id='sec_aapl', rel_day=11"),
    "mart_theme_impact": (
        "UPDATE marts.mart_theme_impact SET pct_positive = 1.2 WHERE window_end = 1",
        "pct_positive", "theme_id='th_earn', window_start=0, window_end=1"),
    "mart_entity_daily": (
        "UPDATE marts.mart_entity_daily SET close = 0",
        "close", "entity_id='ent_apple', session=2024-03-01"),
}


def test_every_suite_file_is_a_valid_gx_suite_with_its_meta():
    import great_expectations as gx

    files = sorted(SUITES_DIR.rglob("*.json"))
    assert len(files) == len(SUITES), "suite names must be unique"
    for suite in SUITES.values():
        gx_suite = suite.gx_suite()
        assert isinstance(gx_suite, gx.ExpectationSuite) and gx_suite.expectations, suite.name
        assert (SUITES_DIR / suite.layer / f"{suite.name}.json").exists()
        assert suite.layer in LAYERS and suite.severity in ("blocking", "warning")
        assert len(suite.dataset.split(".")) == 2 and suite.description and suite.key


def test_every_suite_can_fail():
    assert sorted(BREAKS) == sorted(SUITES)


def test_every_suite_passes_on_clean_data(warehouse):
    outcomes = run_suites(warehouse, SUITES.values(), PARAMS)
    assert [(o.suite, o.failures) for o in outcomes if not o.success] == []
    assert all(o.evaluated_expectations == o.successful_expectations > 0 for o in outcomes)


@pytest.mark.parametrize("name", sorted(BREAKS))
def test_a_suite_fails_on_bad_data_naming_the_column_and_an_example_key(warehouse, name):
    sql, column, key = BREAKS[name]
    warehouse.execute(sql)

    [outcome] = run_suites(warehouse, [SUITES[name]], PARAMS)

    assert not outcome.success and outcome.blocks == (SUITES[name].severity == "blocking")
    assert all(message.startswith(f"{name}: ") for message in outcome.failures)
    assert [m for m in outcome.failures if f"'{column}'" in m and key in m], outcome.failures


def test_now_is_a_suite_parameter(warehouse):
    warehouse.execute("UPDATE raw.news_documents SET published_at = TIMESTAMPTZ '2030-01-01 00:00:00+00'")
    suite = SUITES["raw_news_documents"]

    [before] = run_suites(warehouse, [suite], {"now": dt.datetime(2029, 12, 31, tzinfo=dt.UTC)})
    [after] = run_suites(warehouse, [suite], {"now": dt.datetime(2030, 1, 2, tzinfo=dt.UTC)})

    assert not before.success and "published_at" in before.failures[0]
    assert after.success


def test_min_estimation_returns_is_a_suite_parameter(warehouse):
    suite = SUITES["fct_event_impact"]
    [enough] = run_suites(warehouse, [suite], {**PARAMS, "min_estimation_returns": 240})
    [too_few] = run_suites(warehouse, [suite], {**PARAMS, "min_estimation_returns": 241})
    assert enough.success
    assert not too_few.success and "estimation_returns" in too_few.failures[0]
    assert "where status == 'ok'" in too_few.failures[0]


def test_raw_suites_check_only_the_rows_loaded_since_the_run_started(warehouse):
    warehouse.execute("UPDATE raw.news_documents SET sentiment = 2 WHERE document_id = 'd1'")
    suite = SUITES["raw_news_documents"]

    [later] = run_suites(warehouse, [suite], {**PARAMS, "loaded_since": dt.datetime(2024, 12, 2, tzinfo=dt.UTC)})
    [earlier] = run_suites(warehouse, [suite], {**PARAMS, "loaded_since": dt.datetime(2024, 11, 30, tzinfo=dt.UTC)})
    [every_row] = run_suites(warehouse, [suite], PARAMS)

    assert later.success and later.row_count == 0
    assert not earlier.success and earlier.row_count == 2
    assert not every_row.success and every_row.row_count == 2


def test_daily_return_suites_check_each_changed_securitys_recomputed_days_only(warehouse):
    warehouse.execute("""
        CREATE TABLE intermediate.int_prices__changes (security_id VARCHAR, recompute_from_index INTEGER);
        INSERT INTO intermediate.int_prices__changes VALUES ('sec_aapl', 2), ('sec_x', 1);
    """)
    suites = [SUITES["int_prices__daily_returns"], SUITES["int_prices__daily_returns__outliers"]]
    in_a_run = {**PARAMS, "loaded_since": dt.datetime(2024, 12, 2, tzinfo=dt.UTC)}

    # sec_aapl from session 2, sec_x from session 1: not every row from the earliest change on
    assert [outcome.row_count for outcome in run_suites(warehouse, suites, in_a_run)] == [3, 3]
    warehouse.execute("DELETE FROM intermediate.int_prices__changes")  # a night without new bars
    assert [outcome.row_count for outcome in run_suites(warehouse, suites, in_a_run)] == [0, 0]
    assert [outcome.row_count for outcome in run_suites(warehouse, suites, PARAMS)] == [6, 6]
