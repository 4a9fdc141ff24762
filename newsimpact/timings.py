"""Where a run's time went: each step's time from the Dagster event log, dbt's slowest models.

Step times come from the STEP_START and STEP_SUCCESS / STEP_FAILURE events Dagster records for
every step (retries included: a step's time runs from its first start to its last end), so every
step is timed the same way without timers in the assets. `last_run.json` in the run state holds
the same figures for tools (a benchmark reads it).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from newsimpact.config import Settings

if TYPE_CHECKING:  # Dagster is imported by what runs it: a run found unchanged never does
    import dagster as dg

SLOWEST_MODELS = 5


@dataclass(frozen=True)
class StepTime:
    step: str  # the Dagster step key (`raw_news`, `gx_marts`, `landing__gdelt`, ...)
    seconds: float


@dataclass(frozen=True)
class RunTimings:
    steps: tuple[StepTime, ...]  # in the order they started; a pulled source's days summed
    total_seconds: float  # wall time of the runs, pulls included
    slowest_models: tuple[StepTime, ...] = ()  # dbt models of this run's build, slowest first


def collect_timings(
    instance: dg.DagsterInstance, run_ids: Sequence[str], settings: Settings
) -> RunTimings:
    """The timings of `run_ids` (pull runs, then the build run) from the instance's event log."""
    import dagster as dg

    step_events = {
        dg.DagsterEventType.STEP_START,
        dg.DagsterEventType.STEP_SUCCESS,
        dg.DagsterEventType.STEP_FAILURE,
    }
    run_events = {
        dg.DagsterEventType.RUN_START,
        dg.DagsterEventType.RUN_SUCCESS,
        dg.DagsterEventType.RUN_FAILURE,
    }
    started: dict[str, float] = {}
    seconds: dict[str, float] = {}
    total = 0.0
    first_run_start = None
    for run_id in run_ids:
        run_start = run_end = None
        run_started: dict[str, float] = {}
        run_ended: dict[str, float] = {}
        for entry in instance.all_logs(run_id, of_type=step_events | run_events):
            event_type = entry.dagster_event_type
            if event_type == dg.DagsterEventType.RUN_START:
                run_start = entry.timestamp
            elif event_type in run_events:
                run_end = entry.timestamp
            elif event_type == dg.DagsterEventType.STEP_START:
                run_started.setdefault(entry.step_key, entry.timestamp)
            else:
                run_ended[entry.step_key] = entry.timestamp
        for step, start in run_started.items():
            if step in run_ended:
                seconds[step] = seconds.get(step, 0.0) + run_ended[step] - start
                started.setdefault(step, start)
        if run_start is not None and run_end is not None:
            total += run_end - run_start
            if first_run_start is None:
                first_run_start = run_start
    steps = tuple(
        StepTime(step, round(seconds[step], 3)) for step in sorted(started, key=started.get)
    )
    return RunTimings(steps, round(total, 3), _slowest_models(settings, since=first_run_start))


def _slowest_models(settings: Settings, since: float | None) -> tuple[StepTime, ...]:
    """From dbt's run_results.json, when this run's dbt build wrote it."""
    results_path = settings.state_dir / "dbt" / "target" / "run_results.json"
    if since is None or not results_path.is_file() or results_path.stat().st_mtime < since:
        return ()
    models, _ = dbt_model_times(results_path)
    return tuple(StepTime(model.step, round(model.seconds, 3)) for model in models[:SLOWEST_MODELS])


def dbt_model_times(results_path: Path) -> tuple[list[StepTime], float | None]:
    """Every model of a dbt run_results.json, slowest first, and the run's whole elapsed time;
    nothing for a missing or half-written file (a killed dbt)."""
    try:
        data = json.loads(results_path.read_text(encoding="utf-8"))
        results = data["results"]
    except (OSError, ValueError, KeyError):
        return [], None
    models = [
        # model.<project>.<name>
        StepTime(result["unique_id"].rsplit(".", 1)[-1], float(result["execution_time"] or 0.0))
        for result in results
        if result.get("unique_id", "").startswith("model.")
    ]
    models.sort(key=lambda model: (-model.seconds, model.step))
    return models, data.get("elapsed_time")


def write_last_run(path: Path, run_id: str | None, status: str, timings: RunTimings) -> Path:
    """`{"run_id", "status", "total_seconds", "steps": [{"step", "seconds"}]}`, replaced whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(
        json.dumps(
            {
                "run_id": run_id,
                "status": status,
                "total_seconds": timings.total_seconds,
                "steps": [{"step": step.step, "seconds": step.seconds} for step in timings.steps],
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )
    partial.replace(path)
    return path
