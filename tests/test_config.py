from pathlib import Path

import pytest

from newsimpact.config import ConfigError, EventStudyConfig, load_settings
from tests.conftest import REPO_ROOT


def test_repository_config_points_at_the_bundled_samples():
    settings = load_settings(REPO_ROOT / "newsimpact.toml")

    assert settings.warehouse_path == REPO_ROOT / "warehouse" / "newsimpact.duckdb"
    assert [s.path for s in settings.news_sources] == [REPO_ROOT / "samples" / "news"]
    assert [s.path for s in settings.price_sources] == [REPO_ROOT / "samples" / "prices"]
    assert settings.event_study == EventStudyConfig()
    assert settings.schedule.cron == "0 6 * * *"


def test_every_key_has_the_spec_default(tmp_path: Path):
    (tmp_path / "samples" / "news").mkdir(parents=True)
    (tmp_path / "samples" / "prices").mkdir(parents=True)
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")

    settings = load_settings(config)

    assert settings.warehouse_path == tmp_path / "warehouse" / "newsimpact.duckdb"
    assert [(s.name, s.type) for s in settings.news_sources] == [("news[0]", "documents")]
    assert [(s.name, s.type) for s in settings.price_sources] == [("prices[0]", "csv")]
    assert settings.event_study.dbt_vars() == {
        "benchmark_ticker": "^GSPC",
        "calendar_code": "XNYS",
        "estimation_window_start": -250,
        "estimation_window_end": -11,
        "min_estimation_returns": 120,
        "event_windows": [[0, 0], [0, 1], [-1, 1], [-5, 5]],
        "daily_window_start": -10,
        "daily_window_end": 10,
    }


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ("[warehouse]\npth = 'x'\n", "warehouse.pth", "unknown key"),
        ("[[sources.news]]\ntype = 'rss'\npath = 'n'\n", "sources.news[0].type", "unknown source type 'rss'"),
        ("[[sources.news]]\ntype = 'documents'\npath = 'missing'\n", "sources.news[0].path", "folder not found"),
        ("[event_study]\nestimation_window = [-11, -250]\n", "event_study.estimation_window", "start <= end"),
        ("[event_study]\nestimation_window = [-250, 0]\n", "event_study.estimation_window", "before day 0"),
        ("[event_study]\nevent_windows = [[0, 1], [0]]\n", "event_study.event_windows[1]", "[start, end]"),
        ("[event_study]\nmin_estimation_returns = 'many'\n", "event_study.min_estimation_returns", "integer"),
        ("[event_study]\nmin_estimation_returns = 500\n", "event_study.min_estimation_returns", "at most"),
        ("[event_study]\ncalendar = 'XMOON'\n", "event_study.calendar", "unknown exchange calendar"),
        ("[warehouse\n", "-", "not valid TOML"),
    ],
)
def test_a_config_error_names_the_file_and_the_key(tmp_path: Path, body: str, key: str, problem: str):
    for folder in ("samples/news", "samples/prices", "n"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    config = tmp_path / "bad.toml"
    config.write_text(body, encoding="utf-8")

    with pytest.raises(ConfigError) as raised:
        load_settings(config)

    assert raised.value.key == key
    assert str(config) in str(raised.value)
    assert problem in str(raised.value)


def test_a_missing_config_file_is_a_config_error(tmp_path: Path):
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "nope.toml")
