"""All dbt models, seeds and tests as Dagster assets and asset checks."""

import json

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
        """`dbt build`: seeds, models and their tests, with the event-study settings of the config."""
        settings = newsimpact.settings()
        yield from dbt.cli(
            ["build", "--vars", json.dumps(settings.event_study.dbt_vars())],
            context=context,
            target_path=settings.state_dir / "dbt" / "target",
        ).stream()

    return newsimpact_dbt_assets
