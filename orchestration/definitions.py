"""The one `Definitions` of newsimpact: ingestion, dbt, quality, publish and report assets, the
job, the schedule.

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
from orchestration.ingestion.assets import build_ingestion_assets
from orchestration.nightly import build_nightly_schedule, build_pull_schedule, build_seal_sensor
from orchestration.publish.assets import analyst_report, build_publish_asset
from orchestration.pull.assets import build_pull_asset
from orchestration.pull.sensors import build_after_pull_sensor, documents_sensor
from orchestration.quality.checks import build_quality_checks
from orchestration.resources import NewsimpactResource

PIPELINE_JOB = "newsimpact_pipeline"
PULL_JOB = "newsimpact_pull"
QUALITY_JOB = "newsimpact_quality_checks"


def build_definitions(settings: Settings, *, verbose: bool = False) -> dg.Definitions:
    quality_checks = build_quality_checks()
    dbt_assets = build_dbt_assets()
    marts = [key for key in dbt_assets.keys if key.path[0] == "marts"]
    pull_assets = [build_pull_asset(settings, source) for source in settings.pulled_sources]
    # One step at a time: DuckDB allows a single writer, and dbt runs as its own process.
    pipeline = dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.all() - dg.AssetSelection.groups("landing"),
        description="Ingest news and prices, build every dbt model in the work file, run every "
        "check, then publish the serving file and write the report from it.",
        executor_def=dg.in_process_executor,
    )
    checks_only = dg.define_asset_job(
        QUALITY_JOB,
        selection=dg.AssetSelection.checks(*quality_checks),
        description="Great Expectations suites over the work file as it is, without rebuilding it.",
        executor_def=dg.in_process_executor,
    )
    # The nightly's events are in the UI; `newsimpact serve`'s console stays quiet.
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    jobs = [pipeline, checks_only]
    sensors = [documents_sensor(settings, PIPELINE_JOB, quiet)]
    if pull_assets:
        # Each source fails alone: the pipeline runs after the pull job whatever its outcome.
        pull = dg.define_asset_job(
            PULL_JOB,
            selection=dg.AssetSelection.groups("landing"),
            description="Fetch every pulled source into the landing zone (dated sources: the "
            "run's day partitions).",
            executor_def=dg.in_process_executor,
        )
        jobs.append(pull)
        sensors.append(build_after_pull_sensor(PULL_JOB, PIPELINE_JOB, quiet))
        nightly = build_pull_schedule(settings, pull, quiet)
    else:
        nightly = build_nightly_schedule(settings, pipeline, quiet)
        sensors.append(build_seal_sensor(settings, pipeline))
    return dg.Definitions(
        assets=[*pull_assets, *build_ingestion_assets(settings), dbt_assets,
                build_publish_asset(marts), analyst_report],
        asset_checks=quality_checks,
        jobs=jobs,
        schedules=[nightly],
        sensors=sensors,
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
