"""The single, cached handle on the dbt project, and the dbt CLI resource built from a config."""

from __future__ import annotations

import sys
from functools import cache
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject

from newsimpact.config import Settings

DBT_PROJECT_DIR = Path(__file__).resolve().parents[2] / "dbt_project"
_PROJECT_SOURCES = ("dbt_project.yml", "models", "seeds", "macros", "tests")


@cache
def dbt_project() -> DbtProject:
    """The dbt project with a manifest that is up to date with its files.

    `dbt parse` runs only when a model, seed, macro or test is newer than the manifest, so
    loading the definitions stays fast and a fresh clone needs no separate build step.
    """
    project = DbtProject(project_dir=DBT_PROJECT_DIR)
    if _manifest_is_stale(project):
        # The committed profiles.yml is enough to parse: parsing never opens the warehouse.
        parser = DbtCliResource(project_dir=project, dbt_executable=dbt_executable())
        parser.cli(["parse", "--quiet"], target_path=project.target_path).wait()
    return project


def _manifest_is_stale(project: DbtProject) -> bool:
    manifest = project.manifest_path
    if not manifest.exists():
        return True
    built_at = manifest.stat().st_mtime
    for name in _PROJECT_SOURCES:
        source = DBT_PROJECT_DIR / name
        files = source.rglob("*") if source.is_dir() else [source]
        if any(path.stat().st_mtime > built_at for path in files if path.is_file()):
            return True
    return False


def dbt_executable() -> str:
    """The `dbt` installed beside this interpreter: the venv is often used without activating it."""
    return str(Path(sys.executable).parent / "dbt")


def write_dbt_profile(settings: Settings) -> Path:
    """A dbt profile pointing at this config's warehouse; returns its folder."""
    settings.dbt_profiles_dir.mkdir(parents=True, exist_ok=True)
    (settings.dbt_profiles_dir / "profiles.yml").write_text(
        f"# Written by newsimpact from {settings.config_path}; edit that config, not this file.\n"
        "newsimpact:\n"
        "  target: warehouse\n"
        "  outputs:\n"
        "    warehouse:\n"
        "      type: duckdb\n"
        f"      path: {_yaml_string(str(settings.warehouse_path))}\n"
        "      threads: 1\n",
        encoding="utf-8",
    )
    return settings.dbt_profiles_dir


def dbt_resource(settings: Settings) -> DbtCliResource:
    return DbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(write_dbt_profile(settings)),
        dbt_executable=dbt_executable(),
    )


def _yaml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
