"""The dbt project as dagster-dbt sees it, and the dbt CLI resource built from a config."""

from __future__ import annotations

import json
import os
import sys
from functools import cache, cached_property
from importlib.metadata import version
from pathlib import Path

from dagster_dbt import DbtCliResource, DbtProject
from packaging.version import Version

from newsimpact.config import EventStudyConfig, Settings
from warehouse.incremental import DBT_PROJECT_DIR, build_key, calendar_start

# The Python modules the dbt Python models import: part of the models' code (the build key).
MODEL_LIBRARY = tuple(
    Path(__file__).resolve().parents[2] / "newsimpact" / name
    for name in ("event_study_tests.py", "theme_models.py")
)
# One model at a time: each gets the whole `[duckdb]` memory limit. Four at a time cut the
# sample build by a quarter, but two large models side by side ran out of memory at full scale.
DBT_THREADS = 1


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
    """Parse the project into a fresh manifest (dagster-dbt's own preparation), unless the
    manifest is newer than every file of the project and the installed dbt: a parse costs
    seconds on every run.

    dagster-dbt runs the `dbt` on PATH: the venv's, also when it is not activated.
    """
    binaries = str(Path(sys.executable).parent)
    if binaries not in os.environ["PATH"].split(os.pathsep):
        os.environ["PATH"] = binaries + os.pathsep + os.environ["PATH"]
    project = dbt_project()
    if not _manifest_is_current(project.manifest_path):
        project.preparer.prepare(project)
    return project


_PROJECT_SOURCES = ("dbt_project.yml", "models", "macros", "seeds", "tests")


def _manifest_is_current(manifest: Path) -> bool:
    import dbt.version

    if not manifest.is_file():
        return False
    sources = [Path(dbt.version.__file__)]
    for name in _PROJECT_SOURCES:
        path = DBT_PROJECT_DIR / name
        sources += [path] if path.is_file() else [path, *path.rglob("*")]
    return manifest.stat().st_mtime_ns > max(source.stat().st_mtime_ns for source in sources)


def table_grains(manifest_path: Path) -> dict[str, tuple[str, ...]]:
    """Each table's grain as its `unique` test declares it, when every column of it is `not_null`
    in the model's contract: {"marts.fct_event_impact": ("event_id", "security_id", ...)}.

    Publish sorts a table by its grain: a total order, since the gate tests it before publishing,
    and cheaper than sorting by every column. Of several grains the one of fewest columns wins; a
    grain that is an expression, not a list of columns, is left out."""
    nodes = json.loads(manifest_path.read_text(encoding="utf-8"))["nodes"]
    grains: dict[str, tuple[str, ...]] = {}
    for test in nodes.values():
        metadata = test.get("test_metadata") or {}
        model = nodes.get(test.get("attached_node") or "")
        if metadata.get("name") != "unique" or model is None:
            continue
        key = str(metadata["kwargs"]["column_name"]).strip("() ")
        columns = tuple(column.strip() for column in key.split(","))
        not_null = all(
            any(constraint["type"] == "not_null"
                for constraint in model["columns"].get(column, {}).get("constraints", []))
            for column in columns
        )
        if not_null:
            table = f"{model['schema']}.{model['alias']}"
            shortest = min(grains.get(table, columns), columns, key=lambda grain: (len(grain), grain))
            grains[table] = shortest
    return grains


def dbt_executable() -> str:
    """`newsimpact-dbt`, installed beside this interpreter: dbt that dies with its parent.

    The venv is often used without activating it, so the path is taken from sys.executable.
    """
    return str(Path(sys.executable).parent / "newsimpact-dbt")


def write_dbt_profile(settings: Settings) -> Path:
    """A dbt profile pointing at this config's private work file; returns its folder.

    `threads` is dbt's (models run side by side on cursors of dbt's one DuckDB connection, which
    its memory limit bounds as a whole); `config_options` are DuckDB's, the `[duckdb]` section
    every other connection of the run gets too."""
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
        f"      threads: {DBT_THREADS}\n"
        # set once when dbt opens the file: as per-cursor `settings`, a second cursor's
        # SET temp_directory fails once DuckDB has spilled there
        "      config_options:\n"
        f"{duckdb_settings}"
        # No model relies on a table's row order (aggregates are ordered, publish sorts); kept,
        # it made the 126 M-row tables of the full-scale bench run out of memory.
        "        preserve_insertion_order: false\n",
        encoding="utf-8",
    )
    return settings.dbt_profiles_dir


class NewsimpactDbtCliResource(DbtCliResource):
    """dagster-dbt's resource without its two start-up costs of 2 s each per run, which a night
    on any data paid before dbt even started:

    - dagster-dbt asks the executable its version by running `dbt --version`, a second dbt
      process; the executable is `newsimpact-dbt`, this interpreter's dbt-core, so its version
      is the installed package's;
    - it loads the project into a dbt adapter in this process, used only to fetch row counts or
      column metadata, which the pipeline does not ask for.
    """

    @cached_property
    def _cli_version(self) -> Version:
        return Version(version("dbt-core"))

    def _initialize_dbt_core_adapter(self, args):  # noqa: ARG002 - dagster-dbt's signature
        return None


def dbt_resource(settings: Settings) -> DbtCliResource:
    return NewsimpactDbtCliResource(
        project_dir=dbt_project(),
        profiles_dir=str(write_dbt_profile(settings)),
        dbt_executable=dbt_executable(),
    )


def current_build_key(connection, settings: Settings) -> str:
    """The build key (warehouse.incremental) of this config, work file and dbt project."""
    calendar = calendar_start(connection, settings.event_study.calendar)
    return build_key(settings.event_study.dbt_vars(), calendar, DBT_PROJECT_DIR, MODEL_LIBRARY)
