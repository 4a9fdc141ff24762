"""Each suite passes on clean data and fails, naming the expectation and column(s), on data
that breaks it."""

from __future__ import annotations

import datetime as dt

import pytest

from warehouse.quality import ALL_SUITES, get_suite, run_suite, run_suites

from quality_fixtures import NOW, PARAMS


def test_every_suite_passes_on_clean_data(warehouse, tmp_path):
    outcomes = run_suites(warehouse, ALL_SUITES, params=PARAMS, data_docs_dir=tmp_path / "docs")
    failed = [o.summary() for o in outcomes if not o.success]
    assert not failed, "\n".join(failed)
    assert [o.suite for o in outcomes] == [s.name for s in ALL_SUITES]
    for outcome in outcomes:
        assert outcome.evaluated_expectations == outcome.successful_expectations > 0
        assert outcome.failures == [] and outcome.error is None and not outcome.blocks


# (suite, SQL that breaks the clean warehouse, substrings every one of which must appear in one
# failure message: the expectation and its column(s))
BREAKAGES = [
    pytest.param(
        "raw_news_documents",
        "INSERT INTO raw.news_documents SELECT * FROM raw.news_documents WHERE document_id = 'd1'",
        ["expect_column_values_to_be_unique(document_id)", "2 unexpected rows", "'d1'"],
        id="documents-duplicate-id",
    ),
    pytest.param(
        "raw_news_documents",
        "UPDATE raw.news_documents SET sentiment = 1.5 WHERE document_id = 'd2'",
        ["expect_column_values_to_be_between(sentiment, min_value=-1, max_value=1)", "1.5"],
        id="documents-sentiment-out-of-range",
    ),
    pytest.param(
        "raw_news_documents",
        "UPDATE raw.news_documents SET content_hash = 'ABC123' WHERE document_id = 'd1'",
        ["expect_column_values_to_match_regex(content_hash", "ABC123"],
        id="documents-bad-hash",
    ),
    pytest.param(
        "raw_news_documents",
        "UPDATE raw.news_documents SET published_at = TIMESTAMPTZ '2031-01-01 00:00:00+00' WHERE document_id = 'd1'",
        ["expect_column_values_to_be_between(published_at, max_value=2025-01-01", "2031-01-01"],
        id="documents-published-in-the-future",
    ),
    pytest.param(
        "raw_news_documents",
        "UPDATE raw.news_documents SET body = NULL WHERE document_id = 'd2'",
        ["expect_column_values_to_not_be_null(body_chars)", "'d2'"],
        id="documents-null-body",
    ),
    pytest.param(
        "raw_news_annotations",
        "INSERT INTO raw.news_annotations VALUES ('d1', 1, 'entity', 'Apple Inc', 'again')",
        ["expect_compound_columns_to_be_unique(document_id, position)", "position=1"],
        id="annotations-duplicate-grain",
    ),
    pytest.param(
        "raw_news_annotations",
        "UPDATE raw.news_annotations SET kind = 'person' WHERE position = 1 AND document_id = 'd2'",
        ["expect_column_values_to_be_in_set(kind", "'person'"],
        id="annotations-bad-kind",
    ),
    pytest.param(
        "raw_news_annotations",
        "UPDATE raw.news_annotations SET annotation_key = NULL WHERE position = 3",
        ["expect_column_values_to_not_be_null(annotation_key)"],
        id="annotations-null-key",
    ),
    pytest.param(
        "raw_news_annotations__integrity",
        "INSERT INTO raw.news_annotations VALUES ('ghost', 1, 'entity', 'X', 'y')",
        ["expect_table_row_count_to_equal(value=0): 1 row returned", "no document ghost"],
        id="annotations-orphan",
    ),
    pytest.param(
        "raw_prices_daily",
        "UPDATE raw.prices_daily SET low = 190 WHERE ticker = 'AAPL' AND session_date = DATE '2024-03-01'",
        ["expect_column_pair_values_a_to_be_greater_than_b(high, low, or_equal=True)", "ticker='AAPL'"],
        id="prices-low-above-high",
    ),
    pytest.param(
        "raw_prices_daily",
        "UPDATE raw.prices_daily SET close = 190 WHERE ticker = 'AAPL' AND session_date = DATE '2024-03-01'",
        ["expect_column_pair_values_a_to_be_greater_than_b(high, close, or_equal=True)"],
        id="prices-close-above-high",
    ),
    pytest.param(
        "raw_prices_daily",
        "INSERT INTO raw.prices_daily SELECT * FROM raw.prices_daily WHERE ticker = '^GSPC' LIMIT 1",
        ["expect_compound_columns_to_be_unique(ticker, session_date)", "'^GSPC'"],
        id="prices-duplicate-grain",
    ),
    pytest.param(
        "raw_prices_daily",
        "UPDATE raw.prices_daily SET adj_close = 0 WHERE ticker = 'AAPL' AND session_date = DATE '2024-03-04'",
        ["expect_column_values_to_be_between(adj_close, min_value=0, strict_min=True)"],
        id="prices-zero-adj-close",
    ),
    pytest.param(
        "raw_prices_daily",
        "UPDATE raw.prices_daily SET volume = -1 WHERE ticker = 'AAPL' AND session_date = DATE '2024-03-04'",
        ["expect_column_values_to_be_between(volume, min_value=0)", "volume=-1.0", "session_date=2024-03-04,"],
        id="prices-negative-volume",
    ),
    pytest.param(
        "raw_exchange_sessions__sequence",
        "UPDATE raw.exchange_sessions SET session_index = 5 WHERE session_date = DATE '2024-03-04'",
        ["expect_table_row_count_to_equal(value=0)", "session_index=5", "expected_index=2"],
        id="sessions-index-gap",
    ),
    pytest.param(
        "int_prices__daily_returns",
        "INSERT INTO intermediate.int_prices__daily_returns VALUES ('sec_aapl', DATE '2024-03-05', 2, true, 183, 0, 0.0, 0.0)",
        ["expect_compound_columns_to_be_unique(security_id, session_index)", "session_index=2"],
        id="returns-duplicate-grain",
    ),
    pytest.param(
        "int_prices__daily_returns",
        "UPDATE intermediate.int_prices__daily_returns SET \"return\" = 5.0 WHERE session_index = 2 AND security_id = 'sec_aapl'",
        ["expect_column_values_to_be_between(return, min_value=-0.9, max_value=3", "5.0"],
        id="returns-insane",
    ),
    pytest.param(
        "int_prices__daily_returns",
        "UPDATE intermediate.int_prices__daily_returns SET \"return\" = 0.1 WHERE security_id = 'sec_x' AND session_index = 1",
        ["expect_column_values_to_be_null(return) where has_bar == False", "'sec_x'"],
        id="returns-bridged-over-gap",
    ),
    pytest.param(
        "int_events__linked_securities",
        "UPDATE intermediate.int_events__linked_securities SET event_session = NULL WHERE event_id = 'd1'",
        ["expect_column_values_to_not_be_null(event_session) where published_at is not null", "'d1'"],
        id="linked-timed-event-without-session",
    ),
    pytest.param(
        "int_events__linked_securities",
        "INSERT INTO intermediate.int_events__linked_securities SELECT * FROM intermediate.int_events__linked_securities WHERE event_id = 'd2'",
        ["expect_compound_columns_to_be_unique(event_id, security_id)"],
        id="linked-duplicate-grain",
    ),
    pytest.param(
        "int_events__linked_securities",
        "UPDATE intermediate.int_events__linked_securities SET ticker = NULL WHERE event_id = 'd2'",
        ["expect_column_values_to_not_be_null(ticker)"],
        id="linked-null-ticker",
    ),
    pytest.param(
        "fct_news_event",
        "UPDATE marts.fct_news_event SET sentiment = 1.5 WHERE event_id = 'd1'",
        ["expect_column_values_to_be_between(sentiment, min_value=-1, max_value=1)", "event_id='d1'"],
        id="news-event-sentiment-1.5",
    ),
    pytest.param(
        "fct_news_event",
        "INSERT INTO marts.fct_news_event SELECT * FROM marts.fct_news_event WHERE event_id = 'd2'",
        ["expect_column_values_to_be_unique(event_id)"],
        id="news-event-duplicate",
    ),
    pytest.param(
        "dim_entity",
        "UPDATE marts.dim_entity SET entity_type = 'corporation' WHERE entity_id = 'ent_apple'",
        ["expect_column_values_to_be_in_set(entity_type", "'corporation'"],
        id="entity-bad-type",
    ),
    pytest.param(
        "dim_entity",
        "UPDATE marts.dim_entity SET security_id = 'sec_aapl' WHERE entity_id = 'ent_meta'",
        ["expect_column_values_to_be_unique(security_id)", "'sec_aapl'"],
        id="entity-two-entities-one-security",
    ),
    pytest.param(
        "dim_security",
        "INSERT INTO marts.dim_security VALUES ('sec_fb', 'FB2', DATE '2012-05-18', NULL, 'x', 'y')",
        ["expect_compound_columns_to_be_unique(security_id, valid_from)", "'sec_fb'"],
        id="security-duplicate-grain",
    ),
    pytest.param(
        "dim_security__periods",
        "INSERT INTO marts.dim_security VALUES ('sec_other', 'META', DATE '2020-01-01', DATE '2023-01-01', 'x', 'y')",
        ["expect_table_row_count_to_equal(value=0)", "ticker on two securities at once", "'META'"],
        id="security-ticker-reused-while-live",
    ),
    pytest.param(
        "bridge_event_entity",
        "INSERT INTO marts.bridge_event_entity VALUES ('d1', 'ent_apple', ['Apple'], false)",
        ["expect_compound_columns_to_be_unique(event_id, entity_id)"],
        id="bridge-entity-duplicate",
    ),
    pytest.param(
        "bridge_event_theme",
        "INSERT INTO marts.bridge_event_theme VALUES ('d1', 'th_earn')",
        ["expect_compound_columns_to_be_unique(event_id, theme_id)"],
        id="bridge-theme-duplicate",
    ),
    pytest.param(
        "dim_theme",
        "INSERT INTO marts.dim_theme VALUES ('th_earn', 'Other_Code', 'x', 'y', 0)",
        ["expect_column_values_to_be_unique(theme_id)", "'th_earn'"],
        id="theme-duplicate",
    ),
    pytest.param(
        "marts__referential_integrity",
        "INSERT INTO marts.bridge_event_entity VALUES ('d1', 'ent_ghost', ['Ghost'], false)",
        ["expect_table_row_count_to_equal(value=0)", "bridge_event_entity.entity_id", "'ent_ghost'"],
        id="marts-dangling-entity",
    ),
    pytest.param(
        "fct_event_impact",
        "UPDATE marts.fct_event_impact SET status = 'stale' WHERE event_id = 'd2' AND window_end = 1",
        ["expect_column_values_to_be_in_set(status", "'stale'", "event_id='d2'"],
        id="impact-bad-status",
    ),
    pytest.param(
        "fct_event_impact",
        "INSERT INTO marts.fct_event_impact SELECT * FROM marts.fct_event_impact WHERE event_id = 'd1'",
        [
            "expect_compound_columns_to_be_unique(event_id, security_id, window_start, window_end)",
            "4 unexpected rows",
        ],
        id="impact-duplicate-grain",
    ),
    pytest.param(
        "fct_event_impact",
        "UPDATE marts.fct_event_impact SET car = NULL WHERE event_id = 'd1' AND window_end = 1",
        ["expect_column_values_to_not_be_null(car) where status == 'ok'", "window_end=1"],
        id="impact-ok-without-car",
    ),
    pytest.param(
        "fct_event_impact",
        "UPDATE marts.fct_event_impact SET window_start = 2 WHERE event_id = 'd2' AND window_end = 1",
        ["expect_column_pair_values_a_to_be_greater_than_b(window_end, window_start, or_equal=True)"],
        id="impact-window-start-after-end",
    ),
    pytest.param(
        "fct_event_impact",
        "UPDATE marts.fct_event_impact SET estimation_returns = 50 WHERE event_id = 'd1' AND window_end = 0",
        ["expect_column_values_to_be_between(estimation_returns, min_value=120) where status == 'ok'"],
        id="impact-ok-with-too-few-returns",
    ),
    pytest.param(
        "fct_event_impact_completeness",
        "DELETE FROM marts.fct_event_impact WHERE event_id = 'd2' AND window_end = 1",
        ["expect_table_row_count_to_equal(value=0): 1 row returned", "problem='missing'", "event_id='d2'", "window_end=1"],
        id="impact-missing-event-window-row",
    ),
    pytest.param(
        "fct_event_impact_completeness",
        "INSERT INTO marts.fct_event_impact SELECT * REPLACE (5 AS window_end) FROM marts.fct_event_impact WHERE event_id = 'd1' AND window_end = 1",
        ["expect_table_row_count_to_equal(value=0)", "problem='unexpected'", "window_end=5"],
        id="impact-unconfigured-window",
    ),
    pytest.param(
        "fct_abnormal_return_daily",
        "INSERT INTO marts.fct_abnormal_return_daily VALUES ('d1', 'sec_aapl', 'AAPL', 0, DATE '2024-03-01', 0, 0, 0)",
        ["expect_compound_columns_to_be_unique(event_id, security_id, rel_day)", "rel_day=0"],
        id="daily-ar-duplicate-grain",
    ),
    pytest.param(
        "fct_abnormal_return_daily",
        "UPDATE marts.fct_abnormal_return_daily SET rel_day = 11 WHERE rel_day = 1",
        ["expect_column_values_to_be_between(rel_day, min_value=-10, max_value=10)", "11"],
        id="daily-ar-rel-day-outside-window",
    ),
    pytest.param(
        "mart_theme_impact",
        "UPDATE marts.mart_theme_impact SET pct_positive = 1.2 WHERE window_end = 1",
        ["expect_column_values_to_be_between(pct_positive, min_value=0, max_value=1)", "1.2"],
        id="theme-impact-pct-above-1",
    ),
    pytest.param(
        "mart_theme_impact",
        "INSERT INTO marts.mart_theme_impact SELECT * FROM marts.mart_theme_impact WHERE window_end = 0",
        ["expect_compound_columns_to_be_unique(theme_id, window_start, window_end)"],
        id="theme-impact-duplicate-grain",
    ),
    pytest.param(
        "mart_entity_daily",
        "INSERT INTO marts.mart_entity_daily SELECT * FROM marts.mart_entity_daily",
        ["expect_compound_columns_to_be_unique(entity_id, session)", "'ent_apple'"],
        id="entity-daily-duplicate-grain",
    ),
]


@pytest.mark.parametrize(("suite_name", "breaking_sql", "expected"), BREAKAGES)
def test_suite_fails_on_broken_data(warehouse, suite_name, breaking_sql, expected):
    suite = get_suite(suite_name)
    assert run_suite(warehouse, suite, params=PARAMS).success, "precondition: clean data passes"

    warehouse.execute(breaking_sql)
    outcome = run_suite(warehouse, suite, params=PARAMS)

    assert not outcome.success
    assert outcome.error is None
    assert outcome.blocks == (suite.severity == "blocking")
    assert outcome.successful_expectations < outcome.evaluated_expectations
    assert any(all(s in msg for s in expected) for msg in outcome.failures), outcome.failures


def test_every_suite_has_a_breaking_case():
    broken = {p.values[0] for p in BREAKAGES}
    untested = {s.name for s in ALL_SUITES} - broken - {
        "int_prices__daily_returns__outliers",  # tested below (warning severity)
        "raw_exchange_sessions",  # tested below
    }
    assert not untested


def test_outlier_suite_is_a_warning_that_does_not_block(warehouse):
    suite = get_suite("int_prices__daily_returns__outliers")
    assert suite.severity == "warning"
    warehouse.execute(
        "UPDATE intermediate.int_prices__daily_returns SET \"return\" = 0.6 "
        "WHERE security_id = 'sec_aapl' AND session_index = 2"
    )
    outcome = run_suite(warehouse, suite, params=PARAMS)
    assert not outcome.success
    assert not outcome.blocks
    (msg,) = outcome.failures
    assert "expect_column_values_to_be_between(return, min_value=-0.5, max_value=0.5, mostly=0.999)" in msg
    assert "mostly=0.999" in msg and "0.6" in msg
    # ...while the blocking sane-bounds suite still accepts a 60% move.
    assert run_suite(warehouse, get_suite("int_prices__daily_returns"), params=PARAMS).success


def test_calendar_session_close_before_open_fails(warehouse):
    warehouse.execute(
        "UPDATE raw.exchange_sessions SET close_at = open_at WHERE session_date = DATE '2024-03-01'"
    )
    outcome = run_suite(warehouse, get_suite("raw_exchange_sessions"), params=PARAMS)
    assert not outcome.success
    assert any(
        "expect_column_pair_values_a_to_be_greater_than_b(close_at, open_at, or_equal=False)" in m
        for m in outcome.failures
    ), outcome.failures


def test_completeness_uses_the_configured_windows(warehouse):
    suite = get_suite("fct_event_impact_completeness")
    params = {**PARAMS, "event_windows": [[0, 0], [0, 1], [-1, 1]]}
    outcome = run_suite(warehouse, suite, params=params)
    assert not outcome.success
    (msg,) = outcome.failures
    assert "2 rows returned" in msg  # 2 linked (event, security) pairs x the new window
    assert "window_start=-1" in msg and "problem='missing'" in msg


def test_future_is_relative_to_the_run_time(warehouse):
    suite = get_suite("raw_news_documents")
    early = {**PARAMS, "now": dt.datetime(2024, 3, 1, 12, 0, tzinfo=dt.UTC)}  # before d1 and ingestion
    outcome = run_suite(warehouse, suite, params=early)
    assert not outcome.success
    assert any("expect_column_values_to_be_between(published_at" in m for m in outcome.failures)
    # A naive `now` is taken as UTC.
    assert run_suite(warehouse, suite, params={**PARAMS, "now": NOW.replace(tzinfo=None)}).success


def test_empty_tables_pass(warehouse):
    warehouse.execute("DELETE FROM marts.fct_event_impact; DELETE FROM intermediate.int_events__linked_securities")
    outcomes = run_suites(
        warehouse, [get_suite("fct_event_impact"), get_suite("fct_event_impact_completeness")], params=PARAMS
    )
    assert all(o.success for o in outcomes), [o.summary() for o in outcomes]
    assert [o.row_count for o in outcomes] == [0, 0]
