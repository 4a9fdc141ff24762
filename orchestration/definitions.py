"""The one `Definitions` of newsimpact: ingestion, dbt, quality and publish assets, the job, the
schedule.

`newsimpact serve`/`dev` load `defs` (the config comes from NEWSIMPACT_CONFIG, else
`newsimpact.toml` in the working folder); `newsimpact run` builds the same definitions from its
`--config`.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from newsimpact.config import Settings, load_settings
from newsimpact.progress import progress_logger
from orchestration.dbt.assets import build_dbt_assets
from orchestration.dbt.project import dbt_resource
from orchestration.ingestion.assets import raw_exchange_sessions, raw_news, raw_prices
from orchestration.publish.assets import build_publish_asset
from orchestration.quality.checks import build_quality_checks
from orchestration.resources import NewsimpactResource

PIPELINE_JOB = "newsimpact_pipeline"
QUALITY_JOB = "newsimpact_quality_checks"
NIGHTLY_SCHEDULE = "newsimpact_nightly"


def build_definitions(settings: Settings, *, verbose: bool = False) -> dg.Definitions:
    quality_checks = build_quality_checks()
    dbt_assets = build_dbt_assets()
    marts = [key for key in dbt_assets.keys if key.path[0] == "marts"]
    # One step at a time: DuckDB allows a single writer, and dbt runs as its own process.
    pipeline = dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.all(),
        description="Ingest news and prices, build every dbt model in the work file, run every "
        "check, then publish the serving file.",
        executor_def=dg.in_process_executor,
    )
    checks_only = dg.define_asset_job(
        QUALITY_JOB,
        selection=dg.AssetSelection.checks(*quality_checks),
        description="Great Expectations suites over the work file as it is, without rebuilding it.",
        executor_def=dg.in_process_executor,
    )
    return dg.Definitions(
        assets=[raw_news, raw_prices, raw_exchange_sessions, dbt_assets, build_publish_asset(marts)],
        asset_checks=quality_checks,
        jobs=[pipeline, checks_only],
        schedules=[
            dg.ScheduleDefinition(
                name=NIGHTLY_SCHEDULE,
                job=pipeline,
                cron_schedule=settings.schedule.cron,
                execution_timezone=settings.schedule.timezone,
                default_status=dg.DefaultScheduleStatus.RUNNING,
                # The nightly's events are in the UI; `newsimpact serve`'s console stays quiet.
                run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
            )
        ],
        resources={
            "newsimpact": NewsimpactResource(config_path=str(settings.config_path), verbose=verbose),
            "dbt": dbt_resource(settings),
        },
        executor=dg.in_process_executor,
        # The CLI selects `progress` (or `console` with --verbose) in its run config.
        loggers={"console": dg.colored_console_logger, "progress": progress_logger},
    )


def config_path_from_environment() -> Path:
    return Path(os.environ.get("NEWSIMPACT_CONFIG", "newsimpact.toml"))


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings(config_path_from_environment()))
