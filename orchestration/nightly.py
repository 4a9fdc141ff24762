"""The nightly schedule, and the run seal under `newsimpact serve` (newsimpact/run_seal.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg

from newsimpact import run_seal
from newsimpact.config import Settings

NIGHTLY_SCHEDULE = "newsimpact_nightly"
SEAL_SENSOR = "newsimpact_seal_after_nightly"


def build_nightly_schedule(settings: Settings, pipeline, run_config: dict) -> dg.ScheduleDefinition:
    """At the configured cron: the pipeline, unless nothing changed since the last run sealed
    (then the tick is skipped, as `newsimpact run` returns early). The run it starts carries the
    inputs it listed, for `build_seal_sensor` to seal once the run succeeds."""

    @_nightly(settings, pipeline)
    def nightly(context: dg.ScheduleEvaluationContext):
        inputs = run_seal.inputs_digest(settings)
        if build := run_seal.sealed_build(settings, inputs):
            return dg.SkipReason(run_seal.unchanged_message(build))
        return dg.RunRequest(run_config=run_config, tags={run_seal.SEAL_INPUTS_TAG: inputs})

    return nightly


def _nightly(settings: Settings, job):
    """The decorator of the one nightly schedule, at the configured cron, on from the start."""
    return dg.schedule(
        name=NIGHTLY_SCHEDULE,
        job=job,
        cron_schedule=settings.schedule.cron,
        execution_timezone=settings.schedule.timezone,
        default_status=dg.DefaultScheduleStatus.RUNNING,
    )


def build_seal_sensor(settings: Settings, pipeline) -> dg.SensorDefinition:
    """Seals a run of the nightly schedule once Dagster records its success, if no run came
    after it (`run_seal.write_seal` checks the rest: a served build, its report, nothing to
    re-read)."""

    @dg.run_status_sensor(
        name=SEAL_SENSOR,
        run_status=dg.DagsterRunStatus.SUCCESS,
        monitored_jobs=[pipeline],
        default_status=dg.DefaultSensorStatus.RUNNING,
    )
    def seal_after_nightly(context: dg.RunStatusSensorContext):
        inputs = context.dagster_run.tags.get(run_seal.SEAL_INPUTS_TAG)
        if inputs is None:
            return dg.SkipReason("not a run of the nightly schedule")
        (latest,) = context.instance.get_run_records(limit=1)
        if latest.dagster_run.run_id != context.dagster_run.run_id:
            return dg.SkipReason("another run came after it: the next night decides")
        if not run_seal.write_seal(settings, inputs):
            return dg.SkipReason("not sealed: the next night runs the pipeline")
        return dg.SkipReason(f"sealed: {settings.state_dir / run_seal.SEAL_FILE}")

    return seal_after_nightly


def build_pull_schedule(settings: Settings, pull, run_config: dict) -> dg.ScheduleDefinition:
    """At the configured cron: pull the latest complete (UTC) day, and the undated sources (the
    pipeline follows each pull run; after a pull it decides itself what changed)."""

    @_nightly(settings, pull)
    def nightly(context: dg.ScheduleEvaluationContext):
        moment = context.scheduled_execution_time or datetime.now(UTC)
        day = moment.astimezone(UTC).date() - timedelta(days=1)
        if day < settings.pull.start_date:
            return dg.SkipReason(f"no complete day since [pull] start_date {settings.pull.start_date}")
        return dg.RunRequest(run_key=day.isoformat(), partition_key=day.isoformat(),
                             run_config=run_config)

    return nightly
