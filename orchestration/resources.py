"""The one resource every newsimpact asset uses: the settings of a config file and its warehouse."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg
import duckdb

from newsimpact.config import Settings, load_settings


class WarehouseInUseError(RuntimeError):
    """Another process holds the DuckDB file; DuckDB allows one writer or many readers."""


class NewsimpactResource(dg.ConfigurableResource):
    """Settings from `newsimpact.toml` and connections to the DuckDB warehouse they name.

    Connections are opened per step and closed at its end, so dbt (a separate process) can take
    the file right after; the job runs one step at a time.
    """

    config_path: str

    def settings(self) -> Settings:
        return load_settings(self.config_path)

    @contextmanager
    def connect(self, *, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        path = self.settings().warehouse_path
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            connection = duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as error:
            if "lock" not in str(error).lower():
                raise
            raise WarehouseInUseError(
                f"the warehouse {path} is open in another process (a BI tool, dagster dev or "
                f"another run): close that connection and run again. DuckDB said: {error}"
            ) from error
        try:
            yield connection
        finally:
            connection.close()
