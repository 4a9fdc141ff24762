import os
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
        "novelty_days": 7,
        "cluster_min_securities": 2,
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
        ("[event_study]\nnovelty_days = 0\n", "event_study.novelty_days", "between 1 and 3650"),
        ("[event_study]\nnovelty_days = 7.5\n", "event_study.novelty_days", "integer"),
        ("[event_study]\ncluster_min_securities = 1\n", "event_study.cluster_min_securities", "between 2"),
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


def _hostile_paths(tmp_path: Path) -> None:
    (tmp_path / "a_folder.duckdb").mkdir()
    (tmp_path / "notes.txt").write_text("not a database\n" * 10, encoding="utf-8")
    (tmp_path / ".notes").write_text("a file where the run state folder goes\n", encoding="utf-8")
    (tmp_path / "readonly").mkdir()
    (tmp_path / "readonly").chmod(0o555)


@pytest.mark.parametrize(
    ("body", "key", "problem"),
    [
        ("[event_study]\nbenchmark = \"^GSPC' and session_date < '2011-06-01\"\n", "event_study.benchmark", "not a ticker"),
        ("[event_study]\nbenchmark = \"O'REILLY\"\n", "event_study.benchmark", "not a ticker"),
        ("[event_study]\nbenchmark = 'SPY; drop table x'\n", "event_study.benchmark", "not a ticker"),
        ("[event_study]\nbenchmark = 'ABCDEFGHIJKLMNOP'\n", "event_study.benchmark", "not a ticker"),
        ("[event_study]\nestimation_window = [-10000000, -11]\n", "event_study.estimation_window", "within ±5000"),
        ("[event_study]\ndaily_window = [-100000, 100000]\n", "event_study.daily_window", "within ±5000"),
        ("[event_study]\nevent_windows = [[0, 9999999]]\n", "event_study.event_windows[0]", "within ±5000"),
        ("[schedule]\ncron = 'every day at six'\n", "schedule.cron", "not a valid cron"),
        ("[schedule]\ncron = '0 25 * * *'\n", "schedule.cron", "not a valid cron"),
        ("[schedule]\ntimezone = 'Mars/Olympus_Mons'\n", "schedule.timezone", "unknown time zone"),
        ("[schedule]\ntimezone = '../../etc/passwd'\n", "schedule.timezone", "unknown time zone"),
        ("[schedule]\ntimezone = 'America'\n", "schedule.timezone", "unknown time zone"),
        ("[duckdb]\nmemory_limit = 'lots'\n", "duckdb.memory_limit", "not a memory size"),
        ("[duckdb]\nmemory_limit = '2'\n", "duckdb.memory_limit", "not a memory size"),
        ("[duckdb]\nmemory_limit = 2\n", "duckdb.memory_limit", "non-empty string"),
        ("[duckdb]\nthreads = 0\n", "duckdb.threads", "between 1 and 1024"),
        ("[duckdb]\nthreads = '4'\n", "duckdb.threads", "must be an integer"),
        ("[duckdb]\ntemp_directory = 'notes.txt'\n", "duckdb.temp_directory", "is a file"),
        ("[duckdb]\nspill = true\n", "duckdb.spill", "unknown key"),
        ("[warehouse]\npath = 'a_folder.duckdb'\n", "warehouse.path", "is a folder"),
        ("[warehouse]\npath = 'notes.txt'\n", "warehouse.path", "not a DuckDB file"),
        ("[warehouse]\npath = 'notes.txt/newsimpact.duckdb'\n", "warehouse.path", "is not a folder"),
        ("[warehouse]\npath = 'notes.duckdb'\n", "warehouse.path", "which is a file"),
        pytest.param(
            "[warehouse]\npath = 'readonly/newsimpact.duckdb'\n", "warehouse.path", "not writable",
            marks=pytest.mark.skipif(os.geteuid() == 0, reason="root may write a read-only folder"),
        ),
    ],
)
def test_a_hostile_value_is_refused_before_anything_is_written(
    tmp_path: Path, body: str, key: str, problem: str
):
    for folder in ("samples/news", "samples/prices"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    _hostile_paths(tmp_path)
    config = tmp_path / "bad.toml"
    config.write_text(body, encoding="utf-8")
    before = sorted(tmp_path.rglob("*"))

    with pytest.raises(ConfigError) as raised:
        load_settings(config)

    assert raised.value.key == key
    assert str(config) in str(raised.value)
    assert problem in str(raised.value)
    assert sorted(tmp_path.rglob("*")) == before


def test_an_existing_duckdb_file_and_sane_values_are_accepted(tmp_path: Path):
    import duckdb

    for folder in ("samples/news", "samples/prices"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    duckdb.connect(str(tmp_path / "served.duckdb")).close()
    config = tmp_path / "ok.toml"
    config.write_text(
        "[warehouse]\npath = 'new/folder/served.duckdb'\n"
        "[event_study]\nbenchmark = 'brk-b'\nestimation_window = [-5000, -11]\n"
        "[schedule]\ncron = '30 5 * * 1-5'\ntimezone = 'America/New_York'\n",
        encoding="utf-8",
    )
    settings = load_settings(config)
    assert settings.event_study.benchmark == "BRK-B"
    assert settings.schedule.timezone == "America/New_York"
    config.write_text("[warehouse]\npath = 'served.duckdb'\n", encoding="utf-8")
    assert load_settings(config).warehouse_path == tmp_path / "served.duckdb"


def test_a_warehouse_folder_the_run_cannot_write_is_refused(tmp_path: Path, monkeypatch):
    """As root a chmod'ed folder is writable; a read-only mount is not: os.access tells."""
    import newsimpact.config as config_module

    for folder in ("samples/news", "samples/prices"):
        (tmp_path / folder).mkdir(parents=True, exist_ok=True)
    config = tmp_path / "ok.toml"
    config.write_text("", encoding="utf-8")
    monkeypatch.setattr(config_module.os, "access", lambda path, mode: False)

    with pytest.raises(ConfigError, match="not writable") as raised:
        load_settings(config)
    assert raised.value.key == "warehouse.path"


def test_the_duckdb_section_defaults_to_2gb_every_core_and_a_spill_folder_in_the_run_state(
    tmp_path: Path,
):
    for folder in ("samples/news", "samples/prices"):
        (tmp_path / folder).mkdir(parents=True)
    config = tmp_path / "empty.toml"
    config.write_text("", encoding="utf-8")

    settings = load_settings(config)

    assert settings.duckdb_settings == {
        "memory_limit": "2GB",
        "threads": os.cpu_count(),
        "temp_directory": str(settings.state_dir / "duckdb_tmp"),
    }


def test_the_duckdb_section_is_read_with_paths_relative_to_the_config(tmp_path: Path):
    for folder in ("samples/news", "samples/prices"):
        (tmp_path / folder).mkdir(parents=True)
    config = tmp_path / "tuned.toml"
    config.write_text(
        "[duckdb]\nmemory_limit = '512 MiB'\nthreads = 3\ntemp_directory = 'spill'\n",
        encoding="utf-8",
    )

    assert load_settings(config).duckdb_settings == {
        "memory_limit": "512 MiB", "threads": 3, "temp_directory": str(tmp_path / "spill"),
    }
