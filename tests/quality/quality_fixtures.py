"""A small, clean DuckDB warehouse (raw, intermediate, marts) that every quality suite accepts."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import duckdb

NOW = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
PARAMS = {"now": NOW, "min_estimation_returns": 120, "daily_window_start": -10, "daily_window_end": 10}

H1 = hashlib.sha256(b"d1").hexdigest()
H2 = hashlib.sha256(b"d2").hexdigest()

CLEAN_WAREHOUSE_SQL = f"""
CREATE SCHEMA raw; CREATE SCHEMA intermediate; CREATE SCHEMA marts;

CREATE TABLE raw.news_documents (
    document_id VARCHAR, source_name VARCHAR, file_path VARCHAR, published_at TIMESTAMPTZ,
    source VARCHAR, url VARCHAR, title VARCHAR, body VARCHAR, front_matter JSON,
    sentiment DOUBLE, content_hash VARCHAR, ingested_at TIMESTAMPTZ);
INSERT INTO raw.news_documents VALUES
 ('d1', 'news1', 'a/d1.txt', TIMESTAMPTZ '2024-03-01 15:00:00+00', 'wire', NULL, 'Apple up',
  'Apple shares rose.', '{{}}', 0.5, '{H1}', TIMESTAMPTZ '2024-12-01 00:00:00+00'),
 ('d2', 'news1', 'd2.txt', NULL, NULL, NULL, NULL,
  'Tim Cook spoke.', '{{}}', -0.2, '{H2}', TIMESTAMPTZ '2024-12-01 00:00:00+00');

CREATE TABLE raw.news_annotations (
    document_id VARCHAR, position INTEGER, kind VARCHAR, annotation_key VARCHAR, description VARCHAR);
INSERT INTO raw.news_annotations VALUES
 ('d1', 1, 'entity', 'Apple', 'Apple Inc. is a company'),
 ('d1', 2, 'ticker', '$AAPL', '$AAPL is the ticker of Apple'),
 ('d1', 3, 'theme', 'Earnings_Report', 'Quarterly results'),
 ('d2', 1, 'entity', 'Tim Cook', 'CEO of Apple');

CREATE TABLE raw.prices_daily (
    ticker VARCHAR, session_date DATE, open DOUBLE, high DOUBLE, low DOUBLE, close DOUBLE,
    adj_close DOUBLE, volume DOUBLE, source_name VARCHAR, file_path VARCHAR, row_number INTEGER,
    ingested_at TIMESTAMPTZ);
INSERT INTO raw.prices_daily VALUES
 ('AAPL', DATE '2024-02-29', 180, 182, 179, 181, 181, 1000, 'prices1', 'AAPL.csv', 1, NOW()),
 ('AAPL', DATE '2024-03-01', 181, 185, 180, 184, 184, 1500, 'prices1', 'AAPL.csv', 2, NOW()),
 ('AAPL', DATE '2024-03-04', 184, 186, 183, 183, 183, 0,    'prices1', 'AAPL.csv', 3, NOW()),
 ('^GSPC', DATE '2024-02-29', 5000, 5050, 4990, 5040, 5040, 0, 'prices1', 'GSPC.csv', 1, NOW()),
 ('^GSPC', DATE '2024-03-01', 5040, 5100, 5040, 5100, 5100, 0, 'prices1', 'GSPC.csv', 2, NOW()),
 ('^GSPC', DATE '2024-03-04', 5100, 5110, 5080, 5090, 5090, 0, 'prices1', 'GSPC.csv', 3, NOW());

CREATE TABLE raw.exchange_sessions (
    calendar_code VARCHAR, session_date DATE, session_index INTEGER, open_at TIMESTAMPTZ,
    close_at TIMESTAMPTZ, is_early_close BOOLEAN, ingested_at TIMESTAMPTZ);
INSERT INTO raw.exchange_sessions VALUES
 ('XNYS', DATE '2024-02-29', 0, TIMESTAMPTZ '2024-02-29 14:30:00+00', TIMESTAMPTZ '2024-02-29 21:00:00+00', false, NOW()),
 ('XNYS', DATE '2024-03-01', 1, TIMESTAMPTZ '2024-03-01 14:30:00+00', TIMESTAMPTZ '2024-03-01 21:00:00+00', false, NOW()),
 ('XNYS', DATE '2024-03-04', 2, TIMESTAMPTZ '2024-03-04 14:30:00+00', TIMESTAMPTZ '2024-03-04 21:00:00+00', false, NOW());

CREATE TABLE intermediate.int_prices__daily_returns (
    security_id VARCHAR, session_date DATE, session_index INTEGER, has_bar BOOLEAN,
    adj_close DOUBLE, volume DOUBLE, "return" DOUBLE, benchmark_return DOUBLE);
INSERT INTO intermediate.int_prices__daily_returns VALUES
 ('sec_aapl', DATE '2024-02-29', 0, true, 181, 1000, NULL, NULL),
 ('sec_aapl', DATE '2024-03-01', 1, true, 184, 1500, 0.0166, 0.0119),
 ('sec_aapl', DATE '2024-03-04', 2, true, 183, 0, -0.0054, -0.0019),
 ('sec_x', DATE '2024-02-29', 0, true, 10, 5, NULL, NULL),
 ('sec_x', DATE '2024-03-01', 1, false, NULL, NULL, NULL, 0.0119),
 ('sec_x', DATE '2024-03-04', 2, true, 11, 7, NULL, -0.0019);

CREATE TABLE intermediate.int_events__linked_securities (
    event_id VARCHAR, entity_id VARCHAR, security_id VARCHAR, ticker VARCHAR, via_ticker BOOLEAN,
    event_session DATE, event_session_index INTEGER, published_at TIMESTAMPTZ);
INSERT INTO intermediate.int_events__linked_securities VALUES
 ('d1', 'ent_apple', 'sec_aapl', 'AAPL', true, DATE '2024-03-01', 1, TIMESTAMPTZ '2024-03-01 15:00:00+00'),
 ('d2', 'ent_apple', 'sec_aapl', 'AAPL', false, NULL, NULL, NULL);

CREATE TABLE marts.fct_news_event (
    event_id VARCHAR, source VARCHAR, title VARCHAR, url VARCHAR, published_at TIMESTAMPTZ,
    event_session DATE, sentiment DOUBLE, entity_count INTEGER, theme_count INTEGER,
    ingested_at TIMESTAMPTZ);
INSERT INTO marts.fct_news_event VALUES
 ('d1', 'wire', 'Apple up', NULL, TIMESTAMPTZ '2024-03-01 15:00:00+00', DATE '2024-03-01', 0.5, 1, 1, NOW()),
 ('d2', NULL, NULL, NULL, NULL, NULL, -0.2, 2, 0, NOW());

CREATE TABLE marts.dim_entity (
    entity_id VARCHAR, entity_name VARCHAR, entity_type VARCHAR, security_id VARCHAR,
    current_ticker VARCHAR, description VARCHAR, mention_count INTEGER,
    first_seen_at TIMESTAMPTZ, last_seen_at TIMESTAMPTZ);
INSERT INTO marts.dim_entity VALUES
 ('ent_apple', 'Apple Inc.', 'company', 'sec_aapl', 'AAPL', NULL, 2, TIMESTAMPTZ '2024-03-01 15:00:00+00', TIMESTAMPTZ '2024-03-01 15:00:00+00'),
 ('ent_cook', 'Tim Cook', 'person', NULL, NULL, NULL, 1, NULL, NULL),
 ('ent_meta', 'Meta Platforms, Inc.', 'company', 'sec_fb', 'META', NULL, 0, NULL, NULL);

CREATE TABLE marts.dim_security (
    security_id VARCHAR, ticker VARCHAR, valid_from DATE, valid_to DATE, company_name VARCHAR,
    exchange VARCHAR);
INSERT INTO marts.dim_security VALUES
 ('sec_aapl', 'AAPL', DATE '1980-12-12', NULL, 'Apple Inc.', 'NASDAQ'),
 ('sec_fb', 'FB', DATE '2012-05-18', DATE '2022-06-09', 'Meta Platforms, Inc.', 'NASDAQ'),
 ('sec_fb', 'META', DATE '2022-06-09', NULL, 'Meta Platforms, Inc.', 'NASDAQ');

CREATE TABLE marts.bridge_event_entity (
    event_id VARCHAR, entity_id VARCHAR, mentioned_as VARCHAR[], via_ticker BOOLEAN);
INSERT INTO marts.bridge_event_entity VALUES
 ('d1', 'ent_apple', ['Apple', '$AAPL'], true),
 ('d2', 'ent_cook', ['Tim Cook'], false),
 ('d2', 'ent_apple', ['Apple'], false);

CREATE TABLE marts.dim_theme (
    theme_id VARCHAR, theme_code VARCHAR, theme_name VARCHAR, description VARCHAR, event_count INTEGER);
INSERT INTO marts.dim_theme VALUES ('th_earn', 'Earnings_Report', 'Earnings Report', 'Quarterly results', 1);

CREATE TABLE marts.bridge_event_theme (event_id VARCHAR, theme_id VARCHAR);
INSERT INTO marts.bridge_event_theme VALUES ('d1', 'th_earn');

CREATE TABLE marts.fct_event_impact (
    event_id VARCHAR, entity_id VARCHAR, security_id VARCHAR, ticker VARCHAR, event_session DATE,
    window_start INTEGER, window_end INTEGER, status VARCHAR, estimation_returns INTEGER,
    alpha DOUBLE, beta DOUBLE, sigma DOUBLE, raw_return DOUBLE, benchmark_return DOUBLE,
    car_market_adjusted DOUBLE, car DOUBLE, car_t DOUBLE, abnormal_volume_ratio DOUBLE);
INSERT INTO marts.fct_event_impact VALUES
 ('d1', 'ent_apple', 'sec_aapl', 'AAPL', DATE '2024-03-01', 0, 0, 'ok', 240, 0.0001, 1.1, 0.012, 0.0166, 0.0119, 0.0047, 0.0034, 0.28, 1.3),
 ('d1', 'ent_apple', 'sec_aapl', 'AAPL', DATE '2024-03-01', 0, 1, 'ok', 240, 0.0001, 1.1, 0.012, 0.0111, 0.0100, 0.0011, 0.0008, 0.05, NULL),
 ('d2', 'ent_apple', 'sec_aapl', 'AAPL', NULL, 0, 0, 'no_timestamp', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 ('d2', 'ent_apple', 'sec_aapl', 'AAPL', NULL, 0, 1, 'no_timestamp', NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);

CREATE TABLE marts.fct_abnormal_return_daily (
    event_id VARCHAR, security_id VARCHAR, ticker VARCHAR, rel_day INTEGER, session DATE,
    "return" DOUBLE, benchmark_return DOUBLE, abnormal_return DOUBLE);
INSERT INTO marts.fct_abnormal_return_daily VALUES
 ('d1', 'sec_aapl', 'AAPL', -1, DATE '2024-02-29', NULL, NULL, NULL),
 ('d1', 'sec_aapl', 'AAPL', 0, DATE '2024-03-01', 0.0166, 0.0119, 0.0034),
 ('d1', 'sec_aapl', 'AAPL', 1, DATE '2024-03-04', -0.0054, -0.0019, -0.0026);

CREATE TABLE marts.mart_theme_impact (
    theme_id VARCHAR, theme_code VARCHAR, window_start INTEGER, window_end INTEGER,
    n_events INTEGER, caar DOUBLE, caar_t DOUBLE, pct_positive DOUBLE, mean_raw_return DOUBLE);
INSERT INTO marts.mart_theme_impact VALUES
 ('th_earn', 'Earnings_Report', 0, 0, 1, 0.0034, NULL, 1.0, 0.0166),
 ('th_earn', 'Earnings_Report', 0, 1, 1, 0.0008, NULL, 1.0, 0.0111);

CREATE TABLE marts.mart_entity_daily (
    entity_id VARCHAR, session DATE, mention_count INTEGER, avg_sentiment DOUBLE, ticker VARCHAR,
    close DOUBLE, "return" DOUBLE, abnormal_return DOUBLE);
INSERT INTO marts.mart_entity_daily VALUES
 ('ent_apple', DATE '2024-03-01', 1, 0.5, 'AAPL', 184, 0.0166, NULL);
"""


def build_clean_warehouse(path: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(str(path))
    con.execute(CLEAN_WAREHOUSE_SQL)
    return con
