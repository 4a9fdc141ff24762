"""The last steps of every run: publish the build, once every blocking check upstream passed, then
write the analyst's report from the published file."""


import json
from collections.abc import Sequence
from datetime import UTC, datetime
from importlib.metadata import version

import dagster as dg
import duckdb

from orchestration.dbt.project import current_build_key, dbt_project, table_grains
from orchestration.resources import NewsimpactResource
from warehouse.incremental import inputs_state, record_published_inputs
from warehouse.publish import BuildInfo, build_id_for, publish, read_build_info

SERVING = dg.AssetKey(["serving", "warehouse"])
REPORT = dg.AssetKey(["serving", "report"])
# Metadata of the dbt step's observation of SERVING when no input changed since the served build
UNCHANGED_BUILD = "unchanged_build"


def build_publish_asset(marts: Sequence[dg.AssetKey]) -> dg.AssetsDefinition:
    """The serving file as an asset downstream of every mart.

    Dagster runs it only when all its upstream assets materialised and no blocking check on them
    or their ancestors failed: a failed gate publishes nothing, yesterday's file stays.
    """

    @dg.asset(key=SERVING, deps=list(marts), group_name="serving", kinds={"duckdb"})
    def published_warehouse(context: dg.AssetExecutionContext, newsimpact: NewsimpactResource):
        """The file BI tools open: marts and audit tables, in DuckDB storage v1.0.0, commented."""
        settings = newsimpact.settings()
        study = settings.event_study
        built_at = datetime.now(UTC)
        run_id = context.run.run_id
        info = BuildInfo(
            build_id=build_id_for(run_id, built_at),
            run_id=run_id,
            built_at=built_at,
            config_path=str(settings.config_path),
            config_sha256=settings.config_sha256,
            benchmark=study.benchmark,
            calendar=study.calendar,
            estimation_window_start=study.estimation_window[0],
            estimation_window_end=study.estimation_window[1],
            min_estimation_returns=study.min_estimation_returns,
            event_windows=json.dumps([list(window) for window in study.event_windows]),
            daily_window_start=study.daily_window[0],
            daily_window_end=study.daily_window[1],
            newsimpact_version=version("newsimpact"),
            duckdb_version=duckdb.__version__,
        )
        publication = publish(
            settings.work_path,
            settings.warehouse_path,
            settings.builds_dir,
            info,
            keep=settings.keep_builds,
            duckdb_settings=settings.duckdb_settings,
            grains=table_grains(dbt_project().manifest_path),
        )
        return dg.MaterializeResult(
            metadata={
                "build_id": info.build_id,
                "serving_file": dg.MetadataValue.path(str(settings.warehouse_path)),
                "kept_build": dg.MetadataValue.path(str(publication.build)),
                # a patched copy of the last kept build rewrites only what changed
                "patched_from": publication.patched_from or "none: written whole",
                "rows_written": publication.rows_written,
            }
        )

    return published_warehouse


@dg.asset(key=REPORT, deps=[SERVING], group_name="serving", kinds={"html"})
def analyst_report(newsimpact: NewsimpactResource):
    """The analyst's static HTML report, read from the serving file just published."""
    # imported here: its charts (matplotlib, scipy) take a second to import, which a run that
    # publishes nothing (no new input) should not pay
    from warehouse.report import write_report

    settings = newsimpact.settings()
    report = write_report(
        settings.warehouse_path, settings.report_path, duckdb_settings=settings.duckdb_settings
    )
    # Served and reported: a later run from the same inputs has nothing to do (the dbt step).
    served = read_build_info(settings.warehouse_path, settings.duckdb_settings)
    with newsimpact.connect() as connection:
        inputs = inputs_state(connection, current_build_key(connection, settings), settings.config_sha256)
        record_published_inputs(connection, inputs, str(served["build_id"]))
    return dg.MaterializeResult(metadata={"report": dg.MetadataValue.path(str(report))})
