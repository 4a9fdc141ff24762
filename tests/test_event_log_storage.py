"""The warehouse's Dagster instance keeps its SQLite event log connections open
(`newsimpact.runs.PooledSqliteEventLogStorage`): the same files, which Dagster's own storage reads."""

import logging
import time
from pathlib import Path

import dagster as dg
from dagster._core.events.log import EventLogEntry
from dagster._core.storage.event_log.sqlite.sqlite_event_log import SqliteEventLogStorage

from newsimpact.config import load_settings
from newsimpact.runs import PooledSqliteEventLogStorage, instance_for
from tests.conftest import write_config

EVENTS = 30
RUN_ID = "0a1b2c3d-run"


@dg.asset
def observed(context: dg.AssetExecutionContext) -> int:
    for i in range(EVENTS):
        context.log_event(dg.AssetObservation(asset_key="observed", metadata={"i": i}))
    return EVENTS


def _run_jobs(settings, runs: int) -> list[str]:
    job = dg.Definitions(assets=[observed], jobs=[dg.define_asset_job("observe", [observed])])
    with instance_for(settings) as instance:
        assert isinstance(instance.event_log_storage, PooledSqliteEventLogStorage)
        return [
            job.resolve_job_def("observe").execute_in_process(instance=instance).run_id
            for _ in range(runs)
        ]


def _observations(storage, run_id: str) -> list[int]:
    return [
        entry.dagster_event.event_specific_data.asset_observation.metadata["i"].value
        for entry in storage.get_logs_for_run(run_id)
        if entry.dagster_event and entry.dagster_event.event_type == dg.DagsterEventType.ASSET_OBSERVATION
    ]


def test_dagsters_own_event_log_reads_every_event_of_every_run(tmp_path: Path):
    for source in ("news", "prices"):
        (tmp_path / source).mkdir()
    settings = load_settings(write_config(tmp_path, news=tmp_path / "news", prices=tmp_path / "prices"))
    # more runs than shards kept: the first runs' engines were evicted and disposed
    run_ids = _run_jobs(settings, PooledSqliteEventLogStorage.KEPT_SHARDS + 2)

    events_dir = settings.dagster_home / "history" / "runs"
    plain = SqliteEventLogStorage(str(events_dir))
    try:
        for run_id in run_ids:
            assert _observations(plain, run_id) == list(range(EVENTS)), run_id
    finally:
        plain.dispose()
    assert {path.stem for path in events_dir.glob("*.db")} >= set(run_ids)


def test_it_keeps_at_most_kept_shards_engines_and_disposes_them_all(tmp_path: Path):
    storage = PooledSqliteEventLogStorage(str(tmp_path))
    shards = [f"shard_{i}" for i in range(PooledSqliteEventLogStorage.KEPT_SHARDS + 3)]
    for shard in shards:
        with storage.run_connection(shard) as connection:
            connection.exec_driver_sql("select 1")
    assert list(storage._engines) == shards[-PooledSqliteEventLogStorage.KEPT_SHARDS:]
    storage.dispose()
    assert not storage._engines


def test_a_watcher_sees_events_a_writer_with_kept_connections_commits(tmp_path: Path):
    """`newsimpact serve`'s UI follows a running run's log through `watch`: the run's process
    commits to the WAL, which Dagster's own watchdog (woken by the .db file only) would miss."""
    writer = PooledSqliteEventLogStorage(str(tmp_path))  # the run's process
    watcher = PooledSqliteEventLogStorage(str(tmp_path))  # the webserver
    seen: list[str] = []

    def follow(entry: EventLogEntry, _cursor: str) -> None:
        seen.append(entry.user_message)

    try:
        writer.store_event(_entry("first"))  # creates the run's file
        watcher.watch(RUN_ID, None, follow)
        time.sleep(0.5)
        writer.store_event(_entry("second"))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and len(seen) < 2:
            time.sleep(0.1)
    finally:
        watcher.end_watch(RUN_ID, follow)
        watcher.dispose()
        writer.dispose()
    assert seen == ["first", "second"]



def _entry(message: str) -> EventLogEntry:
    return EventLogEntry(
        error_info=None, level=logging.INFO, user_message=message, run_id=RUN_ID,
        timestamp=time.time(), step_key=None, job_name=None, dagster_event=None,
    )
