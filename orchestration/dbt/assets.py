"""All dbt models, seeds and tests as Dagster assets and asset checks."""

import json
from contextlib import ExitStack, redirect_stdout

import dagster as dg
from dagster_dbt import DbtCliResource, dbt_assets

from orchestration.dbt.project import dbt_project
from orchestration.dbt.translator import NewsimpactDbtTranslator
from orchestration.resources import NewsimpactResource


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

        dagster-dbt echoes dbt's log on stdout; it goes to a log file unless the run is verbose.
        """
        settings = newsimpact.settings()
        log_file = newsimpact.log_file(context.run.run_id, "dbt")
        with ExitStack() as quiet:
            if not newsimpact.verbose:
                quiet.enter_context(redirect_stdout(quiet.enter_context(log_file.open("w"))))
            yield from dbt.cli(
                ["build", "--vars", json.dumps(settings.event_study.dbt_vars())],
                context=context,
                target_path=settings.state_dir / "dbt" / "target",
            ).stream()
        context.log.info(f"dbt log: {log_file}")

    return newsimpact_dbt_assets
