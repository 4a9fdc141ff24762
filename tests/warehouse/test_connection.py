"""Every DuckDB connection newsimpact opens, and dbt's profile, carry the `[duckdb]` section."""

from pathlib import Path

import yaml

from newsimpact.config import load_settings
from orchestration.dbt.project import write_dbt_profile
from orchestration.resources import NewsimpactResource
from tests.conftest import write_config
from warehouse.connection import connect

DUCKDB_SECTION = '\n[duckdb]\nmemory_limit = "300MB"\nthreads = 1\ntemp_directory = "spill"\n'


def _config(tmp_path: Path) -> Path:
    (tmp_path / "news").mkdir()
    (tmp_path / "prices").mkdir()
    return write_config(
        tmp_path / "run", news=tmp_path / "news", prices=tmp_path / "prices", extra=DUCKDB_SECTION
    )


def _current(connection, name: str) -> str:
    return connection.execute("SELECT current_setting(?)", [name]).fetchone()[0]


def test_the_work_file_connection_of_a_run_carries_the_duckdb_section(tmp_path: Path):
    resource = NewsimpactResource(config_path=str(_config(tmp_path)))

    with resource.connect() as connection:
        assert _current(connection, "memory_limit") in ("300.0 MB", "286.1 MiB")
        assert _current(connection, "threads") == 1
        assert _current(connection, "temp_directory") == str(tmp_path / "run" / "spill")


def test_the_helper_applies_the_settings_to_files_and_to_memory(tmp_path: Path):
    settings = load_settings(_config(tmp_path))

    for path in (tmp_path / "any.duckdb", None):
        with connect(path, settings.duckdb_settings) as connection:
            assert _current(connection, "threads") == 1
            assert _current(connection, "temp_directory") == str(tmp_path / "run" / "spill")


def test_the_dbt_profile_carries_the_duckdb_section(tmp_path: Path):
    settings = load_settings(_config(tmp_path))

    profile = yaml.safe_load((write_dbt_profile(settings) / "profiles.yml").read_text())

    work = profile["newsimpact"]["outputs"]["work"]
    assert work["path"] == str(settings.work_path)
    assert work["config_options"] == {
        "memory_limit": "300MB", "threads": 1, "temp_directory": str(tmp_path / "run" / "spill"),
        "preserve_insertion_order": False,
    }
