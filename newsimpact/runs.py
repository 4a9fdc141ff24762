"""Run state of a warehouse: its Dagster instance, the lock one run holds, stale-run recovery."""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from newsimpact.config import Settings

_DAGSTER_YAML = """\
# Written by newsimpact: the Dagster instance of this warehouse (CLI runs, `newsimpact serve`).
telemetry:
  enabled: false
# One run at a time: runs of a warehouse share its work file (the run lock enforces it too).
concurrency:
  runs:
    max_concurrent_runs: 1
"""

_ACTIVE = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING)


class RunInProgressError(RuntimeError):
    """Another newsimpact run holds this warehouse's run lock."""


def prepare_dagster_home(settings: Settings) -> Path:
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    (settings.dagster_home / "dagster.yaml").write_text(_DAGSTER_YAML, encoding="utf-8")
    return settings.dagster_home


@contextmanager
def instance_for(settings: Settings) -> Iterator[dg.DagsterInstance]:
    """The instance `newsimpact serve` and `dev` show for this config, so CLI runs appear there."""
    with dg.DagsterInstance.from_config(str(prepare_dagster_home(settings))) as instance:
        yield instance


@contextmanager
def run_lock(settings: Settings, run_id: str) -> Iterator[None]:
    """Held for a whole run. The kernel releases it when the process dies, however it dies."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.state_dir / "run.lock", "a+", encoding="utf-8") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            raise RunInProgressError(
                f"another newsimpact run is building {settings.warehouse_path} "
                f"({lock.read().strip() or 'holder unknown'}); wait for it to finish"
            ) from None
        lock.seek(0)
        lock.truncate()
        lock.write(f"PID {os.getpid()}, run {run_id}\n")
        lock.flush()
        try:
            yield
        finally:
            lock.truncate(0)


def fail_stale_runs(instance: dg.DagsterInstance, keep_run_id: str = "") -> list[str]:
    """Mark failed every run still `STARTED` but for `keep_run_id`; returns their ids.

    Only call it while holding the run lock: then no other run of this warehouse is alive, so a
    started run is one whose process was killed. Left alone it would count against
    `max_concurrent_runs` for ever and the nightly schedule would never launch again.
    """
    stale = [
        run
        for run in instance.get_runs(filters=dg.RunsFilter(statuses=list(_ACTIVE)))
        if run.run_id != keep_run_id
    ]
    for run in stale:
        instance.report_run_failed(run, "its process died (found by the next newsimpact run)")
    return [run.run_id for run in stale]


def prune_logs(settings: Settings, keep: int = 30) -> None:
    """Keep the log files of the newest `keep` runs."""
    if not settings.logs_dir.is_dir():
        return
    logs = sorted(settings.logs_dir.glob("*.log"), key=lambda path: path.stat().st_mtime)
    for old in logs[:-keep]:
        old.unlink(missing_ok=True)
