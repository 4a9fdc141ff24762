"""The one way newsimpact opens DuckDB: with the `[duckdb]` settings of its config."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import duckdb

DuckDBSettings = Mapping[str, str | int]


def connect(
    path: Path | None, duckdb_settings: DuckDBSettings | None, *, read_only: bool = False
) -> duckdb.DuckDBPyConnection:
    """A connection to `path` (None: in memory) with memory_limit, threads and temp_directory.

    Without settings (a caller outside a configured run, e.g. a test) DuckDB's defaults apply.
    """
    config = {name: str(value) for name, value in (duckdb_settings or {}).items()}
    database = ":memory:" if path is None else str(path)
    return duckdb.connect(database, read_only=read_only, config=config)
