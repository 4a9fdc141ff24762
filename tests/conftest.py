"""Shared fixtures: the whole pipeline run once on the bundled samples, in a temporary folder."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from newsimpact.config import EventStudyConfig, Settings, load_settings

REPO_ROOT = Path(__file__).resolve().parents[1]
SAMPLES = REPO_ROOT / "samples"


def newsimpact(*args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    """The installed CLI in a separate process, as a user or the nightly job runs it."""
    return subprocess.run(
        [sys.executable, "-m", "newsimpact", *args], capture_output=True, text=True, timeout=timeout
    )


def dbt(work: Path, folder: Path, dbt_vars: dict, *args: str) -> subprocess.CompletedProcess[str]:
    """The dbt CLI on the project, against the DuckDB file `work` (profile and target in `folder`)."""
    from orchestration.dbt.project import DBT_PROJECT_DIR

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "profiles.yml").write_text(
        "newsimpact:\n  target: t\n  outputs:\n    t:\n"
        f"      type: duckdb\n      path: {json.dumps(str(work))}\n      threads: 1\n",
        encoding="utf-8",
    )
    return subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), *args, "--profiles-dir", str(folder),
         "--target-path", str(folder / "target"), "--vars", json.dumps(dbt_vars)],
        cwd=DBT_PROJECT_DIR, capture_output=True, text=True, timeout=600,
    )


def query(database: Path, sql: str) -> list[tuple]:
    with duckdb.connect(str(database), read_only=True) as connection:
        return connection.sql(sql).fetchall()


def snapshot(
    database: Path, schemas: tuple[str, ...] = ("marts",), *, without: tuple[str, ...] = ()
) -> dict[str, list[tuple]]:
    """Every row of every table in `schemas`, but for the columns `without`, sorted, so two builds
    can be compared. Their stored order depends on the builds a serving file was patched from
    (tests/warehouse/test_publish.py checks it); `marts.build_info` names the run and time of its
    build, so it is left out.
    """
    with duckdb.connect(str(database), read_only=True) as connection:
        tables = connection.execute(
            "select table_schema || '.' || table_name from information_schema.tables "
            "where table_schema in (select unnest(?)) and table_name <> 'build_info' order by 1",
            [list(schemas)],
        ).fetchall()
        result = {}
        for (table,) in tables:
            cursor = connection.execute(f"select * from {table}")
            kept = [i for i, column in enumerate(cursor.description) if column[0] not in without]
            rows = [tuple(row[i] for i in kept) for row in cursor.fetchall()]
            result[table] = sorted(rows, key=repr)
        return result


def write_config(folder: Path, *, news: Path, prices: Path, extra: str = "") -> Path:
    """A config in `folder` whose warehouse lives there too, reading the given source folders."""
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "newsimpact.toml"
    config.write_text(
        f"""
[warehouse]
path = "newsimpact.duckdb"

[[sources.news]]
type = "documents"
path = "{news.as_posix()}"

[[sources.prices]]
type = "csv"
path = "{prices.as_posix()}"
{extra}
""",
        encoding="utf-8",
    )
    return config


@dataclass(frozen=True)
class SampleConfig:
    settings: Settings
    news_dir: Path
    prices_dir: Path

    @property
    def event_study(self) -> EventStudyConfig:
        return self.settings.event_study


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest() -> Path:
    """The dbt manifest the definitions load, parsed once per session as the CLI does."""
    from orchestration.dbt.project import prepare_dbt_project

    return prepare_dbt_project().manifest_path


@pytest.fixture(scope="session")
def sample_config(tmp_path_factory: pytest.TempPathFactory) -> SampleConfig:
    folder = tmp_path_factory.mktemp("sample_run")
    config = write_config(folder, news=SAMPLES / "news", prices=SAMPLES / "prices")
    return SampleConfig(load_settings(config), SAMPLES / "news", SAMPLES / "prices")


@pytest.fixture(scope="session")
def sample_work_file(sample_config: SampleConfig, sample_run: int) -> Path:
    """Path of the private work file of the sample run (raw, staging, intermediate, marts)."""
    assert sample_run == 0, "newsimpact run on the samples failed: see the captured output"
    return sample_config.settings.work_path


@pytest.fixture(scope="session")
def sample_run(sample_config: SampleConfig) -> int:
    """Exit code of `newsimpact run` on the samples (the real CLI, Dagster job, dbt and GX)."""
    from newsimpact.cli import main

    return main(["run", "--config", str(sample_config.settings.config_path)])


@pytest.fixture(scope="session")
def sample_warehouse(sample_config: SampleConfig, sample_run: int) -> Path:
    """Path of the serving file published from the samples (marts, audit); open it read-only."""
    assert sample_run == 0, "newsimpact run on the samples failed: see the captured output"
    return sample_config.settings.warehouse_path
