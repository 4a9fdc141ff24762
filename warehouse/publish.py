"""Write–audit–publish: the serving file BI tools read is only ever replaced whole.

A run builds and checks everything in its private work file. Only then `publish` copies the public
tables (schema `marts`, plus `audit.quarantine` and `audit.ingested_files`) into a new file in
DuckDB's oldest storage format that holds them, keeps it among the last builds, and moves a copy
onto the serving path with `os.replace`. A reader that has the old file open keeps reading that
snapshot; the next connection opens the new one; nothing ever writes the serving file in place,
so its lock is never needed.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

import duckdb

from warehouse.connection import DuckDBSettings, connect

# Readable by DuckDB 1.0 and later (DBeaver, Metabase, Evidence ship 1.x drivers).
STORAGE_VERSION = "v1.0.0"
PUBLIC_AUDIT_TABLES = ("quarantine", "ingested_files")
BUILD_SUFFIX = ".duckdb"
_SQL_TYPES = {str: "VARCHAR", int: "INTEGER", datetime: "TIMESTAMPTZ"}  # of build_info's values
PARTIAL_SUFFIX = ".partial"

BUILD_INFO_COMMENTS = {
    "": "The build in this file: which run built it, when, from which config and with which "
    "event-study settings. One row.",
    "build_id": "Identifier of this published build (UTC build time and run id); "
    "`newsimpact rollback --to` takes it.",
    "run_id": "The Dagster run that built it (visible in `newsimpact serve`'s UI).",
    "built_at": "When the build was published (UTC).",
    "config_path": "The newsimpact TOML config the run read.",
    "config_sha256": "sha256 of that config file's bytes: two builds with the same hash used the "
    "same settings.",
    "benchmark": "Market index ticker of the market model ([event_study] benchmark).",
    "calendar": "Exchange calendar code sessions are aligned to ([event_study] calendar).",
    "estimation_window_start": "First relative session of the estimation window.",
    "estimation_window_end": "Last relative session of the estimation window.",
    "min_estimation_returns": "Returns a market model needs, else status insufficient_history.",
    "event_windows": "The event windows [start, end] of fct_event_impact, as JSON.",
    "daily_window_start": "First relative day of fct_abnormal_return_daily.",
    "daily_window_end": "Last relative day of fct_abnormal_return_daily.",
    "row_counts": "Rows of every table of this file at publication, as JSON "
    '({"marts.fct_event_impact": 160, ...}).',
    "newsimpact_version": "Version of newsimpact that built it.",
    "duckdb_version": "Version of DuckDB that wrote it (the file is in storage format v1.0.0).",
}


@dataclass(frozen=True)
class BuildInfo:
    build_id: str
    run_id: str
    built_at: datetime
    config_path: str
    config_sha256: str
    benchmark: str
    calendar: str
    estimation_window_start: int
    estimation_window_end: int
    min_estimation_returns: int
    event_windows: str
    daily_window_start: int
    daily_window_end: int
    newsimpact_version: str
    duckdb_version: str


def build_id_for(run_id: str, built_at: datetime) -> str:
    """Sorts by time: `20261125T061502Z-1a2b3c4d`."""
    return f"{built_at:%Y%m%dT%H%M%SZ}-{run_id[:8]}"


def publish(
    work: Path,
    serving: Path,
    builds_dir: Path,
    info: BuildInfo,
    keep: int,
    duckdb_settings: DuckDBSettings | None = None,
    grains: Mapping[str, Sequence[str]] | None = None,
) -> Path:
    """Publish the work file's public tables as build `info.build_id`; returns the build file.

    Each table's rows are stored in a stable order: by its grain (`grains["marts.<table>"]`, the
    columns of a tested unique key) or else by all its columns.

    Every step before the final `os.replace` writes files nobody reads yet, so a crash at any
    moment leaves the serving file as it was; leftovers are removed by the next publish.
    """
    builds_dir.mkdir(parents=True, exist_ok=True)
    for leftover in builds_dir.glob(f"*{PARTIAL_SUFFIX}*"):
        leftover.unlink()
    partial = builds_dir / f"{info.build_id}{BUILD_SUFFIX}{PARTIAL_SUFFIX}"
    _write_serving_file(work, partial, info, duckdb_settings, grains or {})
    build = builds_dir / f"{info.build_id}{BUILD_SUFFIX}"
    os.replace(partial, build)
    install(build, serving)
    for old in list_builds(builds_dir)[:-keep]:
        old.unlink()
    return build


def install(build: Path, serving: Path) -> None:
    """Atomically make `build` the serving file (a copy: a BI tool that opens the serving file
    read-write cannot change the kept build)."""
    serving.parent.mkdir(parents=True, exist_ok=True)
    incoming = serving.with_name(f".{serving.name}.incoming")
    shutil.copyfile(build, incoming)
    _fsync(incoming)
    # A WAL beside the serving path can only be a stale one (nothing writes the serving file);
    # DuckDB would replay it into the new file.
    serving.with_name(serving.name + ".wal").unlink(missing_ok=True)
    os.replace(incoming, serving)
    _fsync(serving.parent)


class RollbackError(RuntimeError):
    """No kept build to go back to, or not the one asked for."""


def rollback(
    serving: Path,
    builds_dir: Path,
    to: str | None = None,
    duckdb_settings: DuckDBSettings | None = None,
) -> Path:
    """Serve the kept build `to`, else the one published before the current one; returns it."""
    builds = list_builds(builds_dir)
    if to is not None:
        chosen = builds_dir / f"{to}{BUILD_SUFFIX}"
        if chosen not in builds:
            kept = ", ".join(build.stem for build in builds) or "none"
            raise RollbackError(f"no kept build {to!r} in {builds_dir} (kept: {kept})")
    else:
        current = read_build_info(serving, duckdb_settings) if serving.exists() else None
        current_id = str(current["build_id"]) if current else None
        older = [build for build in builds if current_id is None or build.stem < current_id]
        if not older:
            raise RollbackError(
                f"no build older than the served one ({current_id}) is kept in {builds_dir}"
            )
        chosen = older[-1]
    install(chosen, serving)
    return chosen


def list_builds(builds_dir: Path) -> list[Path]:
    """Kept builds, oldest first."""
    return sorted(builds_dir.glob(f"*{BUILD_SUFFIX}")) if builds_dir.is_dir() else []


def read_build_info(
    path: Path, duckdb_settings: DuckDBSettings | None = None
) -> dict[str, object] | None:
    """The `marts.build_info` row of a published file, or None when it has none."""
    with connect(path, duckdb_settings, read_only=True) as connection:
        try:
            cursor = connection.execute("SELECT * FROM marts.build_info")
        except duckdb.CatalogException:
            return None
        names = [column[0] for column in cursor.description]
        row = cursor.fetchone()
    return dict(zip(names, row, strict=True)) if row else None


def _write_serving_file(
    work: Path, target: Path, info: BuildInfo, duckdb_settings: DuckDBSettings | None,
    grains: Mapping[str, Sequence[str]],
) -> None:
    connection = connect(None, duckdb_settings)  # in memory: the work file is only attached, read-only
    try:
        connection.execute(f"ATTACH {_literal(work)} AS work (READ_ONLY)")
        connection.execute(
            f"ATTACH {_literal(target)} AS serving (STORAGE_VERSION '{STORAGE_VERSION}')"
        )
        tables = connection.execute(
            """
            SELECT schema_name, table_name, comment FROM duckdb_tables()
            WHERE database_name = 'work'
              AND (schema_name = 'marts' OR (schema_name = 'audit' AND table_name IN ?))
            ORDER BY schema_name, table_name
            """,
            [list(PUBLIC_AUDIT_TABLES)],
        ).fetchall()
        for schema in sorted({schema for schema, _, _ in tables} | {"marts"}):
            connection.execute(f"CREATE SCHEMA serving.{_identifier(schema)}")
        for schema, table, comment in tables:
            name = f"{_identifier(schema)}.{_identifier(table)}"
            # A stable row order: readers that forget ORDER BY see the same order every build.
            # A unique key is a total order too, and sorts faster than every column.
            grain = grains.get(f"{schema}.{table}")
            order = ", ".join(map(_identifier, grain)) if grain else "ALL"
            connection.execute(
                f"CREATE TABLE serving.{name} AS SELECT * FROM work.{name} ORDER BY {order}"
            )
            _comment(connection, f"TABLE serving.{name}", comment)
        for schema, table, column, comment in connection.execute(
            """
            SELECT c.schema_name, c.table_name, c.column_name, c.comment
            FROM duckdb_columns() c
            JOIN duckdb_tables() t ON t.database_name = 'serving'
             AND t.schema_name = c.schema_name AND t.table_name = c.table_name
            WHERE c.database_name = 'work' AND c.comment IS NOT NULL
            """
        ).fetchall():
            _comment(
                connection,
                f"COLUMN serving.{_identifier(schema)}.{_identifier(table)}.{_identifier(column)}",
                comment,
            )
        _write_build_info(connection, info, [(schema, table) for schema, table, _ in tables])
        connection.execute("DETACH serving")
    finally:
        connection.close()


def _write_build_info(
    connection: duckdb.DuckDBPyConnection, info: BuildInfo, tables: list[tuple[str, str]]
) -> None:
    row_counts = {
        f"{schema}.{table}": connection.execute(
            f"SELECT count(*) FROM serving.{_identifier(schema)}.{_identifier(table)}"
        ).fetchone()[0]
        for schema, table in tables
    }
    values = {**asdict(info), "row_counts": json.dumps(row_counts, sort_keys=True)}
    columns = ", ".join(
        f"{name} {_SQL_TYPES[type(value)]} NOT NULL" for name, value in values.items()
    )
    connection.execute(f"CREATE TABLE serving.marts.build_info ({columns})")
    connection.execute(
        "INSERT INTO serving.marts.build_info BY NAME SELECT "
        + ", ".join(f"${name} AS {name}" for name in values),
        values,
    )
    for column, comment in BUILD_INFO_COMMENTS.items():
        target = f"COLUMN serving.marts.build_info.{column}" if column else "TABLE serving.marts.build_info"
        _comment(connection, target, comment)


def _comment(connection: duckdb.DuckDBPyConnection, target: str, comment: str | None) -> None:
    if comment:
        connection.execute(f"COMMENT ON {target} IS {_literal(comment)}")


def _literal(value: object) -> str:
    """A SQL string literal: ATTACH and COMMENT ON take no bound parameters."""
    return "'" + str(value).replace("'", "''") + "'"


def _identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _fsync(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
