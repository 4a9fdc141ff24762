"""The dbt project as dagster-dbt sees it, and the dbt CLI resource built from a config."""

from __future__ import annotations

import json
import os
import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from newsimpact.config import EventStudyConfig, Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"


@cache
def dbt_project() -> DbtProject:
    """The dbt project; `dagster dev` re-parses it on load, the CLI calls `prepare_dbt_project`.

    dbt_project.yml has no var defaults, so parsing gets the config's defaults.
    """
    project = DbtProject(
        project_dir=DBT_PROJECT_DIR,
        prepare_project_cli_args=[
            "parse", "--quiet", "--vars", json.dumps(EventStudyConfig().dbt_vars())
        ],
    )
    project.prepare_if_dev()
    return project


def prepare_dbt_project() -> DbtProject:
    """Parse the project into a fresh manifest (dagster-dbt's own preparation).

    dagster-dbt runs the `dbt` on PATH: the venv's, also when it is not activated.
    """
    binaries = str(Path(sys.executable).parent)
    if binaries not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = binaries + os.pathsep + os.environ["PATH"]
    project = dbt_project()
    project.preparer.prepare(project)
    return project


def dbt_executable() -> str:
    """`newsimpact-dbt`, installed beside this interpreter: dbt that dies with its parent.

    The venv is often used without activating it, so the path is taken from sys.executable.
    """
    return str(Path(sys.executable).parent / "newsimpact-dbt")


def write_dbt_profile(settings: Settings) -> Path:
    """A dbt profile pointing at this config's private work file; returns its folder.

    `threads` is dbt's (one model at a time: DuckDB has one writer); `settings` are DuckDB's,
    the `[duckdb]` section every other connection of the run gets too."""
    settings.dbt_profiles_dir.mkdir(parents=True, exist_ok=True)
    duckdb_settings = "".join(
        f"        {name}: {json.dumps(value)}\n" for name, value in settings.duckdb_settings.items()
    )
    (settings.dbt_profiles_dir / "profiles.yml").write_text(
        f"# Written by newsimpact from {settings.config_path}; edit that config, not this file.\n"
        "newsimpact:\n"
        "  target: work\n"
        "  outputs:\n"
        "    work:\n"
        "      type: duckdb\n"
        f"      path: {json.dumps(str(settings.work_path))}\n"
        "      threads: 1\n"
        "      settings:\n"
        f"{duckdb_settings}",
        encoding="utf-8",
    )
    return settings.dbt_profiles_dir


def dbt_resource(settings: Settings) -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(write_dbt_profile(settings)),
        dbt_executable=dbt_executable(),
    )
