"""All dbt models, seeds and tests as Dagster assets and asset checks."""

import json
from contextlib import ExitStack, redirect_stdout

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.project import DBT_PROJECT_DIR, dbt_project
from orchestration.dbt.translator import NewsimpactDbtTranslator
from orchestration.resources import NewsimpactResource
from warehouse.incremental import build_key, calendar_start, record_build_key, take_build_key

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
        dagster-dbt echoes dbt's log on stdout; it goes to a log file unless the run is verbose.
        """
        settings = newsimpact.settings()
        dbt_vars = settings.event_study.dbt_vars()
        with newsimpact.connect() as connection:
            key = build_key(
                dbt_vars, calendar_start(connection, settings.event_study.calendar), DBT_PROJECT_DIR
            )
            previous_key = take_build_key(connection)
        requested = context.run.tags.get(FULL_REFRESH_TAG) == "true"
        # A subset (chosen in the UI) leaves the models it skips behind: it and the next build
        # start from scratch, since the change tables would not match the models left behind.
        subset = context.selected_asset_keys != context.assets_def.keys
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
