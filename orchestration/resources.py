"""The one resource every newsimpact asset uses: the run's settings, lock and work file."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
import duckdb
from pydantic import PrivateAttr

from newsimpact.config import Settings, load_settings
from newsimpact.runs import fail_stale_runs, run_lock


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

    @contextmanager
    def yield_for_execution(self, context: dg.InitResourceContext) -> Iterator[NewsimpactResource]:
        self._settings = load_settings(self.config_path)
        run_id = context.run.run_id if context.run else ""
        with run_lock(self._settings, run_id):
            if context.instance is not None:
                fail_stale_runs(context.instance, keep_run_id=run_id)
            yield self

    def settings(self) -> Settings:
        return self._settings or load_settings(self.config_path)

    def log_file(self, run_id: str, name: str) -> Path:
        logs = self.settings().logs_dir
        logs.mkdir(parents=True, exist_ok=True)
        return logs / f"{run_id}-{name}.log"

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.settings().work_path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            raise WarehouseInUseError(
                f"the work file {path} is open in another process; it is private to newsimpact "
                f"runs (BI tools read {self.settings().warehouse_path}): close that process and "
                f"run again. DuckDB said: {error}"
            ) from error
        try:
            yield connection
        finally:
            connection.close()
