"""Sensors: the pipeline after every pull run, and after files are dropped into a documents folder."""

import hashlib
from pathlib import Path

import dagster as dg

from newsimpact.config import Settings


def build_after_pull_sensor(pull_job: str, pipeline_job: str, run_config: dict) -> dg.SensorDefinition:
    """A finished pull run, succeeded or failed, starts the pipeline: one failing source must not
    keep the others' new data (or the publish) from the warehouse."""

    @dg.sensor(
        name="newsimpact_build_after_pull",
        job_name=pipeline_job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def build_after_pull(context: dg.SensorEvaluationContext):
        finished = context.instance.get_run_records(
            dg.RunsFilter(
                job_name=pull_job,
                statuses=[dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE],
            ),
            limit=1,
        )
        if not finished or finished[0].dagster_run.run_id == context.cursor:
            return dg.SkipReason("no pull run finished since the last build")
        run_id = finished[0].dagster_run.run_id
        context.update_cursor(run_id)
        return dg.RunRequest(run_key=f"after-{run_id}", run_config=run_config)

    return build_after_pull


def documents_sensor(settings: Settings, pipeline_job: str, run_config: dict) -> dg.SensorDefinition:
    """Files added, changed or removed in a `documents` folder start the pipeline (ingestion
    reads only what changed). The cursor is a fingerprint of every file's path, size and mtime."""
    folders = [source.path for source in settings.news_sources if source.type == "documents"]

    @dg.sensor(
        name="newsimpact_documents_dropped",
        job_name=pipeline_job,
        minimum_interval_seconds=60,
        default_status=dg.DefaultSensorStatus.STOPPED,
        description="Runs the pipeline when files change in a documents folder (off by "
        "default: turn it on in the UI when people drop documents during the day).",
    )
    def documents_dropped(context: dg.SensorEvaluationContext):
        fingerprint = _fingerprint(folders)
        if context.cursor is None:  # first evaluation: remember the folders as they are
            context.update_cursor(fingerprint)
            return dg.SkipReason("watching the documents folders from now on")
        if fingerprint == context.cursor:
            return dg.SkipReason("no document changed")
        context.update_cursor(fingerprint)
        return dg.RunRequest(run_key=f"documents-{fingerprint}", run_config=run_config)

    return documents_dropped


def _fingerprint(folders: list[Path]) -> str:
    digest = hashlib.sha256()
    for folder in folders:
        for path in sorted(folder.rglob("*.txt")):
            try:
                stat = path.stat()
            except OSError:
                continue
            digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:32]
