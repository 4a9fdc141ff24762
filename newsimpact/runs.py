"""Run state of a warehouse: its Dagster instance, the lock one run holds, stale-run recovery."""

from __future__ import annotations

import fcntl
import json
import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import sqlalchemy
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from watchdog.events import PatternMatchingEventHandler
from watchdog.observers import Observer

from newsimpact.config import Settings

_DAGSTER_YAML = """\
# Written by newsimpact: the Dagster instance of this warehouse (CLI runs, `newsimpact serve`).
telemetry:
  enabled: false
# One run at a time: runs of a warehouse share its work file (the run lock enforces it too).
concurrency:
  runs:
    max_concurrent_runs: 1
# Dagster's SQLite event log in its usual folder, keeping its connections open (see the class).
event_log_storage:
  module: newsimpact.runs
  class: PooledSqliteEventLogStorage
  config:
    base_dir: {event_log_dir}
"""


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's SQLite event log (same files, same SQLite settings) that keeps an engine, and
    its pooled connections, for each of the `KEPT_SHARDS` shards (a run's file, the index) used
    last.

    Dagster's own opens a new engine and connection for every event and closes them after it;
    closing the last connection to a WAL database also checkpoints it. A night stores about 800
    events (step outputs, check evaluations, materializations): 400 of them took 3.6 s that way
    and 1.3 s with the connection kept."""

    KEPT_SHARDS = 8

    def __init__(self, base_dir: str, inst_data=None):
        self._engines: OrderedDict[str, sqlalchemy.Engine] = OrderedDict()  # the base class connects
        super().__init__(base_dir, inst_data)

    @classmethod
    def from_config_value(cls, inst_data, config_value):
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def _connect(self, shard: str):
        with self._db_lock:  # held while the connection is in use: no engine is disposed under it
            with self._engine(shard).connect() as connection, connection.begin():
                yield connection

    def _engine(self, shard: str) -> sqlalchemy.Engine:
        if shard in self._engines:
            self._engines.move_to_end(shard)
            return self._engines[shard]
        engine = sqlalchemy.create_engine(
            self.conn_string_for_shard(shard), connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS}
        )
        if shard not in self._initialized_dbs:
            self._initdb(engine)
            self._initialized_dbs.add(shard)
        self._engines[shard] = engine
        while len(self._engines) > self.KEPT_SHARDS:
            self._engines.popitem(last=False)[1].dispose()
        return engine

    def watch(self, run_id: str, cursor: str | None, callback) -> None:
        """Dagster's `watch`, whose watchdog also wakes on the run's WAL file (see below)."""
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = _RunLogWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (
            watchdog, self._obs.schedule(watchdog, self._base_dir, recursive=True)
        )

    def _dispose_engines(self) -> None:
        while self._engines:
            self._engines.popitem()[1].dispose()

    def wipe(self) -> None:
        with self._db_lock:
            self._dispose_engines()  # before the shards' files are deleted
        super().wipe()

    def dispose(self) -> None:
        with self._db_lock:
            self._dispose_engines()
        super().dispose()


class _RunLogWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watchdog of a run's event file, which the UI's live log of a running run
    follows, woken by the file's WAL too: with the writer's connection kept open, a commit lands
    in the WAL and reaches the file itself only at a checkpoint, every thousand pages or so."""

    def __init__(self, storage: SqliteEventLogStorage, run_id: str, callback, cursor: str | None):
        super().__init__(storage, run_id, callback, cursor)
        PatternMatchingEventHandler.__init__(self, patterns=[self._log_path, f"{self._log_path}-wal"])

    def on_modified(self, event) -> None:
        self._process_log()


_ACTIVE = (dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.CANCELING)


class RunInProgressError(RuntimeError):
    """Another newsimpact run holds this warehouse's run lock."""


def prepare_dagster_home(settings: Settings) -> Path:
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    event_log_dir = json.dumps(str(settings.dagster_home / "history" / "runs"))  # Dagster's default
    (settings.dagster_home / "dagster.yaml").write_text(
        _DAGSTER_YAML.format(event_log_dir=event_log_dir), encoding="utf-8"
    )
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
