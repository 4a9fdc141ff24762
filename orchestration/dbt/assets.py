"""All dbt models, seeds and tests as Dagster assets and asset checks."""

import json
import logging
from contextlib import ExitStack, redirect_stdout

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from newsimpact.config import Settings
from orchestration.dbt.project import current_build_key, dbt_project
from orchestration.dbt.translator import NewsimpactDbtTranslator
from orchestration.publish.assets import SERVING, UNCHANGED_BUILD
from orchestration.resources import NewsimpactResource
from warehouse.incremental import inputs_state, published_build_of, record_build_key, take_build_key
from warehouse.publish import read_build_info

# A run tagged with this (`newsimpact run --full-refresh`, or by hand in the UI) rebuilds every
# incremental model from scratch.
FULL_REFRESH_TAG = "newsimpact/full_refresh"


def build_dbt_assets() -> dg.AssetsDefinition:
    """Built on demand, not at import: the manifest may first need a `dbt parse`."""
    project = dbt_project()

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        dagster_dbt_translator=NewsimpactDbtTranslator(),
    )
    def newsimpact_dbt_assets(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, newsimpact: NewsimpactResource
    ):
        """`dbt build` in the work file: seeds, models and their tests, with the config's vars.

        Incremental models recompute what changed since the last build, unless the build key
        (config, calendar, model code: `warehouse.incremental`) changed, the last build did not
        finish, or the run is tagged `newsimpact/full_refresh`: then everything is rebuilt.
        A run whose inputs (files ingested, calendar, security master, config, build key) are
        those of the build being served builds nothing: the checks, publish and report after it
        do not run either.
        dagster-dbt echoes dbt's log on stdout; it goes to a log file unless the run is verbose.
        """
        settings = newsimpact.settings()
        dbt_vars = settings.event_study.dbt_vars()
        requested = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        # A subset (chosen in the UI) leaves the models it skips behind: it and the next build
        # start from scratch, since the change tables would not match the models left behind.
        subset = context.selected_asset_keys != context.assets_def.keys
        with newsimpact.connect() as connection:
            key = current_build_key(connection, settings)
            previous_key = take_build_key(connection)
            unchanged_build = None if requested or subset or previous_key != key else published_build_of(
                connection, inputs_state(connection, key, settings.config_sha256))
            if unchanged_build is not None and unchanged_build == _served_build_id(settings):
                # Nothing to build: no step downstream runs, the published build stays.
                record_build_key(connection, key)
                context.log.info(f"dbt: skipped (no input changed since build {unchanged_build})")
                # Dagster would warn once per dbt test that the skipped publish is not gated on it
                logging.getLogger("dagster._core.execution.plan.active").addFilter(
                    lambda record: "emitted no result in step" not in record.getMessage())
                yield dg.AssetObservation(asset_key=SERVING, metadata={UNCHANGED_BUILD: unchanged_build})
                return
        full_refresh = requested or subset or previous_key != key
        context.log.info(
            "dbt: full refresh (" + (
                "requested" if requested
                else "a subset of the models" if subset
                else "first build, or the last one did not finish" if previous_key is None
                else "the config, calendar or models changed"
            ) + ")" if full_refresh else "dbt: incremental"
        )
        log_file = newsimpact.log_file(context.run.run_id, "dbt")
        with ExitStack() as quiet:
            if not newsimpact.verbose:
                quiet.enter_context(redirect_stdout(quiet.enter_context(log_file.open("w"))))
            yield from dbt.cli(
                [
                    "build", "--vars", json.dumps(dbt_vars),
                    # The run's dbt log (above) keeps what dbt prints; dbt's own debug file,
                    # every SQL statement as JSON, cost a second a night to write.
                    "--log-level-file", "none",
                    # unit tests check the models' code, not the data: `make test` runs them
                    "--exclude-resource-type", "unit_test",
                    *(["--full-refresh"] if full_refresh else []),
                ],
                context=context,
                target_path=settings.state_dir / "dbt" / "target",
            ).stream()
        if not subset:
            with newsimpact.connect() as connection:
                record_build_key(connection, key)
        context.log.info(f"dbt log: {log_file}")

    return newsimpact_dbt_assets


def _served_build_id(settings: Settings) -> object:
    """The build BI tools see, if the serving file and the report of it are both in place."""
    if not (settings.warehouse_path.exists() and settings.report_path.exists()):
        return None
    info = read_build_info(settings.warehouse_path, settings.duckdb_settings)
    return info["build_id"] if info else None
