"""The marts keep the public contract of docs/warehouse-contract.md, documented and enforced."""

from __future__ import annotations

import json

import pytest

from orchestration.dbt.project import dbt_project

# The contract's tables and columns: BI dashboards and other teams' models are built on these.
CONTRACT = {
    "fct_news_event": ["event_id", "source", "title", "url", "published_at", "event_session",
                       "sentiment", "entity_count", "theme_count", "ingested_at"],
    "dim_entity": ["entity_id", "entity_name", "entity_type", "security_id", "current_ticker",
                   "description", "mention_count", "first_seen_at", "last_seen_at"],
    "dim_security": ["security_id", "ticker", "valid_from", "valid_to", "company_name", "exchange"],
    "bridge_event_entity": ["event_id", "entity_id", "mentioned_as", "via_ticker"],
    "dim_theme": ["theme_id", "theme_code", "theme_name", "description", "event_count"],
    "bridge_event_theme": ["event_id", "theme_id"],
    "fct_event_impact": ["event_id", "entity_id", "security_id", "ticker", "event_session",
                         "window_start", "window_end", "status", "estimation_returns", "alpha",
                         "beta", "sigma", "raw_return", "benchmark_return", "car_market_adjusted",
                         "car", "car_t", "abnormal_volume_ratio"],
    "fct_abnormal_return_daily": ["event_id", "security_id", "ticker", "rel_day", "session",
                                  "return", "benchmark_return", "abnormal_return"],
    "mart_theme_impact": ["theme_id", "theme_code", "window_start", "window_end", "n_events", "caar",
                          "caar_t", "pct_positive", "mean_raw_return"],
    "mart_entity_daily": ["entity_id", "session", "mention_count", "avg_sentiment", "security_id",
                          "ticker", "close", "return", "abnormal_return"],
    "fct_security_price_daily": ["security_id", "ticker", "session_date", "close", "adj_close",
                                 "volume", "daily_return", "benchmark_return"],
    "fct_event_novelty": ["event_id", "entity_id", "published_at", "is_novel_entity",
                          "previous_event_id", "days_since_previous_story", "is_near_duplicate",
                          "near_duplicate_of"],
    "fct_event_theme_novelty": ["event_id", "entity_id", "theme_id", "published_at",
                                "is_novel_entity_theme", "previous_event_id",
                                "days_since_previous_story"],
    "mart_session_clustering": ["event_session", "event_count", "measured_event_count",
                                "measured_security_count", "is_clustered"],
    "fct_event_scar": ["event_id", "security_id", "window_start", "window_end", "estimation_returns",
                       "scar", "p_scar", "is_confounded", "overlapping_event_ids"],
    "mart_theme_significance": ["theme_code", "window_start", "window_end", "event_filter", "n_events",
                                "caar", "caar_se", "caar_ci_low", "caar_ci_high", "t_cross_section",
                                "p_cross_section", "patell_z", "p_patell", "bmp_t", "p_bmp", "kp_t", "p_kp",
                                "corrado_t", "p_corrado", "sign_z", "p_sign"],
}
TYPES = {
    ("fct_news_event", "published_at"): "timestamp with time zone",
    ("fct_news_event", "event_session"): "date",
    ("fct_news_event", "sentiment"): "double",
    ("bridge_event_entity", "via_ticker"): "boolean",
}


@pytest.fixture(scope="module")
def marts() -> dict[str, dict]:
    manifest = json.loads(dbt_project().manifest_path.read_text(encoding="utf-8"))
    return {
        node["name"]: node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "marts"
    }


@pytest.mark.parametrize("table", sorted(CONTRACT))
def test_every_contract_column_is_there_typed_documented_and_enforced(marts: dict, table: str):
    model = marts[table]
    columns = model["columns"]

    assert model["config"]["materialized"] in ("table", "incremental")  # a table BI tools read, never a view
    assert model["config"]["contract"]["enforced"] is True
    assert [c for c in CONTRACT[table] if c not in columns] == []
    assert [name for name, column in columns.items() if not column["description"].strip()] == []
    assert [name for name, column in columns.items() if not column.get("data_type")] == []
    assert model["description"].strip()


def test_contract_types_of_the_timing_columns(marts: dict):
    for (table, column), data_type in TYPES.items():
        assert marts[table]["columns"][column]["data_type"].lower() == data_type, (table, column)
