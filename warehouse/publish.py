"""Write–audit–publish: the serving file BI tools read is only ever replaced whole.

A run builds and checks everything in its private work file. Only then `publish` writes the public
tables (schema `marts`, plus `audit.quarantine` and `audit.ingested_files`) into a new build file
in DuckDB's oldest storage format that holds them, keeps it among the last builds, and moves a copy
onto the serving path with `os.replace`. A reader that has the old file open keeps reading that
snapshot; the next connection opens the new one; nothing ever writes the serving file in place,
so its lock is never needed.

A new build is a patched copy of the last kept one when it can be (`_patch_base`): a night changes
a small part of each table, and rewriting every row of a 1 GB file cost most of a night's publish.
Only the partitions of a table (the rows sharing one value of a grain column) whose fingerprint
differs from the work table's are deleted and written again; see `_patch_table`. The work side's
fingerprints are kept beside the build (`<build_id>.fingerprints`, a DuckDB file about a seventh
of the build's size): the next publish compares with them instead of hashing every row of the
kept build again, and patches a copy of them as it patches the build.
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
FINGERPRINTS_SUFFIX = ".fingerprints"
_SQL_TYPES = {str: "VARCHAR", int: "INTEGER", datetime: "TIMESTAMPTZ"}  # of build_info's values
PARTIAL_SUFFIX = ".partial"
# A kept build whose deleted rows left more than this share of its blocks free is not patched: the
# next build is written whole, which compacts it.
MAX_FREE_SHARE_TO_PATCH = 0.25
# At most this many patched builds follow one written whole: the one after is written whole, with
# every table back in its grain's order and no space held by deleted rows (monthly, run nightly).
MAX_PATCHES_IN_A_ROW = 30
# A table whose changed partitions hold more than this share of its rows is written whole, sorted.
MAX_CHANGED_SHARE_TO_PATCH = 0.5
# A grain column whose changed partitions hold at most this share of a table's rows partitions it
# well enough: the next columns are not tried.
GOOD_PARTITIONING_SHARE = 0.1

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
    "patched_from": "The kept build this file is a patched copy of (only the partitions that "
    "changed were rewritten); null when it was written whole.",
    "patches_since_whole": "Builds patched in a row up to this one since one was written whole "
    "(0: this one was).",
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


@dataclass(frozen=True)
class Publication:
    build: Path
    patched_from: str | None  # the kept build this one is a patched copy of; None: written whole
    rows_written: int  # rows this publish wrote: every row of a build written whole


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
) -> Publication:
    """Publish the work file's public tables as build `info.build_id`.

    Each table's rows are stored in a stable order. Written whole, a table is sorted by its grain
    (`grains["marts.<table>"]`, the columns of a tested unique key, else its primary key) or else
    by all its columns. Patched, its unchanged rows keep their places and the rewritten partitions
    follow them, sorted by the grain.

    Every step before the final `os.replace` writes files nobody reads yet, so a crash at any
    moment leaves the serving file as it was; leftovers are removed by the next publish.
    """
    builds_dir.mkdir(parents=True, exist_ok=True)
    for leftover in builds_dir.glob(f"*{PARTIAL_SUFFIX}*"):
        leftover.unlink()
    build = builds_dir / f"{info.build_id}{BUILD_SUFFIX}"
    partial = build.with_name(build.name + PARTIAL_SUFFIX)
    fingerprints = fingerprints_of(build)
    partial_fingerprints = fingerprints.with_name(fingerprints.name + PARTIAL_SUFFIX)
    base = _patch_base(builds_dir, info, duckdb_settings)
    if base is not None:
        shutil.copyfile(base.path, partial)
    rows_written = _write_serving_file(
        work, partial, info, duckdb_settings, grains or {}, base, partial_fingerprints
    )
    # The build first: a crash between the two leaves a build without fingerprints (the next
    # publish hashes it), never fingerprints of a build that is not there.
    os.replace(partial, build)
    os.replace(partial_fingerprints, fingerprints)
    install(build, serving)
    for old in list_builds(builds_dir)[:-keep]:
        old.unlink()
    kept_fingerprints = set(map(fingerprints_of, list_builds(builds_dir)))
    for stale in set(builds_dir.glob(f"*{FINGERPRINTS_SUFFIX}")) - kept_fingerprints:
        stale.unlink()
    return Publication(build, base.build_id if base else None, rows_written)


def fingerprints_of(build: Path) -> Path:
    """Where the fingerprints of a kept build's partitions are (see `_patch_table`)."""
    return build.with_suffix(FINGERPRINTS_SUFFIX)


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


@dataclass(frozen=True)
class _PatchBase:
    path: Path
    build_id: str
    patches_since_whole: int


def _patch_base(
    builds_dir: Path, info: BuildInfo, duckdb_settings: DuckDBSettings | None
) -> _PatchBase | None:
    """The last kept build, when the new one can be a patched copy of it: written by the same
    newsimpact and DuckDB versions, not too sparse, and not the last of MAX_PATCHES_IN_A_ROW."""
    builds = list_builds(builds_dir)
    if not builds:
        return None
    try:
        with connect(builds[-1], duckdb_settings, read_only=True) as connection:
            rows = connection.execute(
                "SELECT newsimpact_version, duckdb_version, patches_since_whole FROM marts.build_info"
            ).fetchall()
            total_blocks, free_blocks = connection.execute(
                "SELECT total_blocks, free_blocks FROM pragma_database_size()"
            ).fetchone()
    except duckdb.Error:  # not a build this version wrote: the next one is written whole
        return None
    if len(rows) != 1 or rows[0][:2] != (info.newsimpact_version, info.duckdb_version):
        return None
    if rows[0][2] + 1 > MAX_PATCHES_IN_A_ROW or free_blocks > MAX_FREE_SHARE_TO_PATCH * total_blocks:
        return None
    return _PatchBase(builds[-1], builds[-1].stem, rows[0][2])


def _write_serving_file(
    work: Path, target: Path, info: BuildInfo, duckdb_settings: DuckDBSettings | None,
    grains: Mapping[str, Sequence[str]], base: _PatchBase | None, fingerprints: Path,
) -> int:
    """Write the build file `target` (a copy of `base` to patch, if any) and the fingerprints of
    the partitions it compared (`fingerprints`); returns the rows written."""
    connection = connect(None, duckdb_settings)  # in memory: the work file is only attached, read-only
    try:
        connection.execute(f"ATTACH {_literal(work)} AS work (READ_ONLY)")
        storage = "" if base else f" (STORAGE_VERSION '{STORAGE_VERSION}')"
        connection.execute(f"ATTACH {_literal(target)} AS serving{storage}")
        known = _attach_base_fingerprints(connection, base)
        if known:  # patched with the build: rewriting all of them cost a second a night
            shutil.copyfile(fingerprints_of(base.path), fingerprints)
        connection.execute(f"ATTACH {_literal(fingerprints)} AS new_fingerprints")
        tables = connection.execute(
            """
            SELECT schema_name, table_name FROM duckdb_tables()
            WHERE database_name = 'work'
              AND (schema_name = 'marts' OR (schema_name = 'audit' AND table_name IN ?))
            ORDER BY schema_name, table_name
            """,
            [list(PUBLIC_AUDIT_TABLES)],
        ).fetchall()
        grains = {**_primary_keys(connection), **grains}
        existing = _table_columns(connection, "serving")
        wanted = _table_columns(connection, "work")
        for schema, table in existing.keys() - set(tables):
            connection.execute(f"DROP TABLE serving.{_identifier(schema)}.{_identifier(table)}")
        for schema in sorted({schema for schema, _ in tables} | {"marts"}):
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS serving.{_identifier(schema)}")
        rows_written = 0
        refreshed: set[str] = set()  # the fingerprint tables this publish brought up to date
        for schema, table in tables:
            name = f"{_identifier(schema)}.{_identifier(table)}"
            grain = grains.get(f"{schema}.{table}")
            patched = None
            if grain and existing.get((schema, table)) == wanted[(schema, table)]:
                patched = _patch_table(connection, schema, table, grain, known, refreshed)
            if patched is None:
                connection.execute(f"DROP TABLE IF EXISTS serving.{name}")
                # A stable row order: readers that forget ORDER BY see the same order every build.
                # A unique key is a total order too, and sorts faster than every column.
                order = ", ".join(map(_identifier, grain)) if grain else "ALL"
                connection.execute(
                    f"CREATE TABLE serving.{name} AS SELECT * FROM work.{name} ORDER BY {order}"
                )
                patched = connection.execute(f"SELECT count(*) FROM serving.{name}").fetchone()[0]
            rows_written += patched
        for stale in known - refreshed:  # of a column not tried, or a table not patched
            connection.execute(f"DROP TABLE new_fingerprints.{_identifier(stale)}")
        _copy_comments(connection)
        _write_build_info(connection, info, tables, base)
        connection.execute("DETACH serving")
        connection.execute("DETACH new_fingerprints")
    finally:
        connection.close()
    return rows_written


def _attach_base_fingerprints(
    connection: duckdb.DuckDBPyConnection, base: _PatchBase | None
) -> set[str]:
    """Attach the fingerprints kept beside `base` as base_fingerprints; returns the names of its
    tables (none without a readable file: the kept build is then hashed)."""
    path = fingerprints_of(base.path) if base else None
    if path is None or not path.is_file():
        return set()
    try:
        connection.execute(f"ATTACH {_literal(path)} AS base_fingerprints (READ_ONLY)")
    except duckdb.Error:
        return set()
    return {name for (name,) in connection.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = 'base_fingerprints'"
    ).fetchall()}


def _patch_table(
    connection: duckdb.DuckDBPyConnection, schema: str, table: str, grain: Sequence[str],
    known: set[str], refreshed: set[str],
) -> int | None:
    """Make serving.`schema`.`table` hold work's rows by rewriting the partitions that differ;
    returns the rows written, or None when more than MAX_CHANGED_SHARE_TO_PATCH of them would be.

    A partition is the rows sharing one value of one grain column. Its fingerprint is its row
    count with the XOR and the sum of its rows' 64-bit hashes (every column). The grain's columns
    are tried in order until the differing partitions hold at most GOOD_PARTITIONING_SHARE of the
    rows (else the best of them is used): the event of new abnormal returns, the day of a new
    session's bars, the security of a rewritten price history. Both tables have the same
    columns, and no two rows of either share the grain (the gate tests it before publishing).

    The work side's fingerprints go to new_fingerprints."<schema>.<table>.<column>" (added to
    `refreshed`): once the table is patched, they are the serving side's. The serving side's come
    from base_fingerprints when the kept build has them (`known`), else from hashing its rows.
    new_fingerprints starts as a copy of base_fingerprints when there is one: a known table gets
    only its changed partitions' rows rewritten."""
    name = f"{_identifier(schema)}.{_identifier(table)}"
    total = connection.execute(f"SELECT count(*) FROM work.{name}").fetchone()[0]
    tried = []  # (rows deleted and written, rows written, column, temp table of its changes)
    for index, column in enumerate(map(_identifier, grain)):
        stored = f"{schema}.{table}.{grain[index]}"
        work_side = "work_fingerprints"
        connection.execute(
            f"CREATE OR REPLACE TEMP TABLE {work_side} AS " + _fingerprints_query(f"work.{name}", column)
        )
        serving_side = (
            f"base_fingerprints.{_identifier(stored)}" if stored in known
            else f"({_fingerprints_query(f'serving.{name}', column)})"
        )
        changes = f"changed_partitions_{index}"
        connection.execute(f"""
            CREATE OR REPLACE TEMP TABLE {changes} AS
            SELECT {column}, w.n AS rows_in_work, s.n AS rows_in_serving
            FROM {work_side} AS w
            FULL JOIN {serving_side} AS s USING ({column})
            WHERE (w.n, w.x, w.s) IS DISTINCT FROM (s.n, s.x, s.s)
        """)
        target = f"new_fingerprints.{_identifier(stored)}"
        if stored in known:
            changed = _in_partitions(column, changes)
            connection.execute(f"""
                DELETE FROM {target} WHERE {changed};
                INSERT INTO {target} SELECT * FROM {work_side} WHERE {changed}
            """)
        else:
            connection.execute(f"CREATE OR REPLACE TABLE {target} AS SELECT * FROM {work_side}")
        connection.execute(f"DROP TABLE {work_side}")
        refreshed.add(stored)
        written, deleted = connection.execute(
            f"SELECT coalesce(sum(rows_in_work), 0), coalesce(sum(rows_in_serving), 0) FROM {changes}"
        ).fetchone()
        tried.append((written + deleted, int(written), column, changes))
        if written + deleted <= GOOD_PARTITIONING_SHARE * total:
            break
    _, written, column, changes = min(tried)
    patchable = written <= MAX_CHANGED_SHARE_TO_PATCH * total
    if patchable:
        changed = _in_partitions(column, changes)
        connection.execute(f"DELETE FROM serving.{name} WHERE {changed}")
        connection.execute(
            f"INSERT INTO serving.{name} SELECT * FROM work.{name} WHERE {changed} "
            f"ORDER BY {', '.join(map(_identifier, grain))}"
        )
    for *_, table in tried:
        connection.execute(f"DROP TABLE {table}")
    return written if patchable else None


def _in_partitions(column: str, partitions: str) -> str:
    """A condition: `column`'s value is one of those in the table `partitions`. The range first:
    a cheap test on the scan (which skips the row groups outside it) that leaves the IN's hash
    lookup a night's partitions rather than every row (1.1 s to 0.4 s over 10.5 M rows)."""
    return (
        f"{column} BETWEEN (SELECT min({column}) FROM {partitions})"
        f" AND (SELECT max({column}) FROM {partitions})"
        f" AND {column} IN (SELECT {column} FROM {partitions})"
    )


def _fingerprints_query(relation: str, column: str) -> str:
    """Each partition of `relation` by `column`: its rows, and the XOR and sum of their hashes."""
    return f"""
        SELECT {column}, count(*) AS n, bit_xor(h) AS x, sum(h::HUGEINT) AS s
        FROM (SELECT {column}, hash(*COLUMNS(*)) AS h FROM {relation}) GROUP BY {column}
    """


def _primary_keys(connection: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, ...]]:
    """The work file's primary keys, as grains: {"audit.ingested_files": ("source_name", ...)}."""
    return {
        f"{schema}.{table}": tuple(columns)
        for schema, table, columns in connection.execute(
            """
            SELECT schema_name, table_name, constraint_column_names FROM duckdb_constraints()
            WHERE database_name = 'work' AND constraint_type = 'PRIMARY KEY'
            """
        ).fetchall()
    }


def _table_columns(
    connection: duckdb.DuckDBPyConnection, database: str
) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """Each table of `database`: its columns' names and types, in order."""
    columns: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for schema, table, column, data_type in connection.execute(
        """
        SELECT schema_name, table_name, column_name, data_type FROM duckdb_columns()
        WHERE database_name = ? ORDER BY schema_name, table_name, column_index
        """,
        [database],
    ).fetchall():
        columns.setdefault((schema, table), []).append((column, data_type))
    return columns


def _write_build_info(
    connection: duckdb.DuckDBPyConnection, info: BuildInfo, tables: list[tuple[str, str]],
    base: _PatchBase | None,
) -> None:
    row_counts = {
        f"{schema}.{table}": connection.execute(
            f"SELECT count(*) FROM serving.{_identifier(schema)}.{_identifier(table)}"
        ).fetchone()[0]
        for schema, table in tables
    }
    values = {
        **asdict(info),
        "row_counts": json.dumps(row_counts, sort_keys=True),
        "patched_from": base.build_id if base else None,
        "patches_since_whole": base.patches_since_whole + 1 if base else 0,
    }
    columns = ", ".join(
        "patched_from VARCHAR" if name == "patched_from"  # null: written whole
        else f"{name} {_SQL_TYPES[type(value)]} NOT NULL"
        for name, value in values.items()
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


def _copy_comments(connection: duckdb.DuckDBPyConnection) -> None:
    """Give the serving tables and columns the work file's comments, where they differ: a patched
    copy already holds most of them (a COMMENT per column cost 0.5 s of a night)."""
    for schema, table, column, comment in connection.execute(
        """
        WITH comments AS (
            SELECT database_name, schema_name, table_name, NULL AS column_name, comment
            FROM duckdb_tables()
            UNION ALL
            SELECT database_name, schema_name, table_name, column_name, comment
            FROM duckdb_columns()
        )
        SELECT w.schema_name, w.table_name, w.column_name, w.comment
        FROM comments w
        JOIN comments s ON s.database_name = 'serving' AND s.schema_name = w.schema_name
         AND s.table_name = w.table_name AND s.column_name IS NOT DISTINCT FROM w.column_name
        WHERE w.database_name = 'work'
          AND nullif(s.comment, '') IS DISTINCT FROM nullif(w.comment, '')
        ORDER BY ALL
        """
    ).fetchall():
        target = f"serving.{_identifier(schema)}.{_identifier(table)}"
        if column is None:
            _comment(connection, f"TABLE {target}", comment)
        else:
            _comment(connection, f"COLUMN {target}.{_identifier(column)}", comment)


def _comment(connection: duckdb.DuckDBPyConnection, target: str, comment: str | None) -> None:
    # NULL too: a patched copy may hold a comment the work file no longer has
    connection.execute(f"COMMENT ON {target} IS {_literal(comment) if comment else 'NULL'}")


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
