"""The one resource every newsimpact asset uses: the run's settings, lock and work file."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from newsimpact.config import Settings, load_settings
from newsimpact.runs import fail_stale_runs, run_lock
from warehouse.connection import DuckDBSettings, connect


# A process that opened the work file by hand gets this long to let go before a step fails.
LOCK_WAIT_SECONDS = 10.0


class WarehouseInUseError(RuntimeError):
    """Another process holds the work file; DuckDB allows one writer or many readers."""


class NewsimpactResource(dg.ConfigurableResource):
    """The config file's settings, read once per run, and connections to the private work file.

    For the whole run it holds the warehouse's run lock, so two runs never build at once, and a
    run left `STARTED` by a killed process is marked failed instead of blocking the queue for ever.
    Connections are opened per step and closed at its end, so dbt (a separate process) can take
    the file right after; the job runs one step at a time.
    """

    config_path: str
    verbose: bool = False  # dbt's log on the console instead of a file

    _settings: Settings | None = PrivateAttr(default=None)
    _started_at: datetime | None = PrivateAttr(default=None)

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[NewsimpactResource]:
        self._settings = load_settings(self.config_path)
        run_id = context.run.run_id if context.run else ""
        record = context.instance.get_run_record_by_id(run_id) if context.instance else None
        self._started_at = (
            datetime.fromtimestamp(record.start_time, UTC)
            if record is not None and record.start_time is not None
            else datetime.now(UTC)
        )
        with run_lock(self._settings, run_id):
            if context.instance is not None:
                fail_stale_runs(context.instance, keep_run_id=run_id)
            yield self

    def settings(self) -> Settings:
        return self._settings or load_settings(self.config_path)

    def run_started_at(self) -> datetime:
        """When the run started: no record it reads may be dated later, and the rows it loads
        carry this `ingested_at`, which lets the raw checks validate only them."""
        return self._started_at or datetime.now(UTC)

    def log_file(self, run_id: str, name: str) -> Path:
        logs = self.settings().logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"{run_id}-{name}.log"

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.settings().work_path
        path.parent.mkdir(parents=True, exist_ok=True)
        settings = self.settings()
        connection = _connect_waiting(
            path, read_only=read_only, serving=settings.warehouse_path,
            duckdb_settings=settings.duckdb_settings,
        )
        try:
            yield connection
        finally:
            connection.close()


def _connect_waiting(
    path: Path,
    *,
    read_only: bool,
    serving: Path,
    duckdb_settings: DuckDBSettings,
    wait_seconds: float = LOCK_WAIT_SECONDS,
) -> duckdb.DuckDBPyConnection:
    """Open the work file, waiting with backoff while another process holds its lock."""
    deadline = time.monotonic() + wait_seconds
    pause = 0.25
    while True:
        try:
            return connect(path, duckdb_settings, read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            if time.monotonic() + pause > deadline:
                raise WarehouseInUseError(
                    f"the work file {path} is open in another process (waited {wait_seconds:.0f} s); "
                    f"it is private to newsimpact runs (BI tools read {serving}): close that "
                    f"process and run again. DuckDB said: {error}"
                ) from error
            time.sleep(pause)
            pause = min(pause * 2, 2.0)
