"""The one `Definitions` of newsimpact: ingestion, dbt and quality assets, the job, the schedule.

`dagster dev` loads `defs` (the config comes from NEWSIMPACT_CONFIG, else `newsimpact.toml` in
the working folder); `newsimpact run` builds the same definitions from its `--config`.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg

from newsimpact.config import Settings, load_settings
from orchestration.dbt.assets import build_dbt_assets
from orchestration.dbt.project import dbt_resource
from orchestration.ingestion.assets import raw_exchange_sessions, raw_news, raw_prices
from orchestration.quality.checks import build_quality_checks
from orchestration.resources import NewsimpactResource

PIPELINE_JOB = "newsimpact_pipeline"
QUALITY_JOB = "newsimpact_quality_checks"
NIGHTLY_SCHEDULE = "newsimpact_nightly"


def build_definitions(settings: Settings) -> dg.Definitions:
    quality_checks = build_quality_checks()
    # One step at a time: DuckDB allows a single writer, and dbt runs as its own process.
    pipeline = dg.define_asset_job(
        PIPELINE_JOB,
        selection=dg.AssetSelection.all(),
        description="Ingest news and prices, build the calendar and every dbt model, run every check.",
        executor_def=dg.in_process_executor,
    )
    checks_only = dg.define_asset_job(
        QUALITY_JOB,
        selection=dg.AssetSelection.checks(*quality_checks),
        description="Great Expectations suites over the warehouse as it is, without rebuilding it.",
        executor_def=dg.in_process_executor,
    )
    return dg.Definitions(
        assets=[raw_news, raw_prices, raw_exchange_sessions, build_dbt_assets()],
        asset_checks=quality_checks,
        jobs=[pipeline, checks_only],
        schedules=[
            dg.ScheduleDefinition(
                name=NIGHTLY_SCHEDULE,
                job=pipeline,
                cron_schedule=settings.schedule.cron,
                execution_timezone=settings.schedule.timezone,
                default_status=dg.DefaultScheduleStatus.RUNNING,
            )
        ],
        resources={
            "newsimpact": NewsimpactResource(config_path=str(settings.config_path)),
            "dbt": dbt_resource(settings),
        },
        executor=dg.in_process_executor,
    )


def config_path_from_environment() -> Path:
    return Path(os.environ.get("NEWSIMPACT_CONFIG", "newsimpact.toml"))


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions(load_settings(config_path_from_environment()))
