"""Idempotent, incremental merges of reader output into the warehouse.

The unit of change is a file. A file whose content hash equals the one in `audit.ingested_files`
is left alone (its rows, their `ingested_at` and its quarantine rows stay as they are); a new or
changed file has all its earlier raw and quarantine rows replaced by the new ones. Loading the
same batch twice therefore leaves the tables unchanged. Each load is one transaction of
set-based SQL over the batch frames, registered with DuckDB through Arrow.

Sources are reconciled, not only appended (docs/architecture.md, "Runs, state and idempotency"):

* The change key of a file is its content hash AND the version of the reader that read it
  (`PARSER_VERSIONS`), so a new reader re-reads unchanged files.
* A batch lists every file present in its source folder (`files` read + `skipped_files`); a file
  of the source that is no longer there has its raw rows, annotations, quarantine rows and
  manifest row deleted, counted in `LoadResult.removed_files` / `removed_records`.
* Duplicate decisions that depended on another file are re-evaluated by re-reading. The reader
  owns parsing and its in-batch duplicate rules, so the only way to reproduce a decision exactly
  is to read the file again: when a load changes or removes a file, every OTHER file with a
  quarantine row for a key the load touched (a document id, a TICKER@DATE) is flagged
  `needs_reread` in the manifest, set-based, and `manifest_hashes` leaves it out so the next
  read re-reads it (the ingestion asset reads again in the same run until nothing is flagged).
* A document id in two files of the same source: the newest file wins (`modified_at`, then the
  lower path, as the reader's in-batch rule), the other is quarantined as superseded. A document
  quarantined by the reader as an in-batch duplicate is re-read alone, so the same rule decides
  whatever the order the files arrived in. In two different sources the id stays a conflict: the
  later-loaded one is quarantined with the reason.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import polars as pl

import ingestion.news
import ingestion.prices
from ingestion.news import NewsBatch
from ingestion.prices import PriceBatch
from ingestion.quarantine import CSV_SOURCE_TYPE, DOCUMENTS_SOURCE_TYPE
from ingestion.sec import SEC_SOURCE_TYPE
from warehouse.schema import ensure_schema

PARAMETER = re.compile(r"\$(\w+)")

# The reader version is part of a file's change key: a new reader re-reads unchanged files.
PARSER_VERSIONS: dict[str, str] = {
    DOCUMENTS_SOURCE_TYPE: ingestion.news.PARSER_VERSION,
    CSV_SOURCE_TYPE: ingestion.prices.PARSER_VERSION,
}


@dataclass(frozen=True)
class LoadResult:
    """Counts over the files this load wrote; read == loaded + quarantined always holds.

    A record is a document for news and a data row for prices (a price file rejected as a whole
    counts as one record).
    """

    read: int
    loaded: int
    quarantined: int
    skipped_files: int  # unchanged since the last load: skipped by the reader or by the manifest
    removed_files: int = 0  # in the manifest but no longer in the source folder: deleted
    removed_records: int = 0  # records_read of the removed files (their rows and quarantine rows)


def manifest_hashes(
    con: duckdb.DuckDBPyConnection, source_name: str, version: str | None = None
) -> dict[str, str]:
    """file_path -> content_hash of the files already loaded: the readers' `skip_hashes`.

    Files read by another reader version (`version`, default that of the file's source type in
    `PARSER_VERSIONS`), or flagged `needs_reread`, are left out: read again."""
    ensure_schema(con)
    current, params = _current_version(version)
    rows = con.execute(
        f"""
        SELECT file_path, content_hash FROM audit.ingested_files
        WHERE source_name = $source AND NOT coalesce(needs_reread, false)
          AND parser_version IS NOT DISTINCT FROM {current}
        """,
        {"source": source_name, **params},
    ).fetchall()
    return dict(rows)


def manifest_stats(
    con: duckdb.DuckDBPyConnection, source_name: str, version: str | None = None
) -> pl.DataFrame:
    """(file_path, file_size, file_mtime_ns) of the files `manifest_hashes` lists that were read
    from a folder: the readers' `skip_stats`, which skip a file without opening it. A frame, not
    a dict: a night compares 500,000 files with it."""
    ensure_schema(con)
    current, params = _current_version(version)
    return con.sql(
        f"""
        SELECT file_path, file_size, file_mtime_ns FROM audit.ingested_files
        WHERE source_name = $source AND NOT coalesce(needs_reread, false)
          AND parser_version IS NOT DISTINCT FROM {current}
          AND file_size IS NOT NULL AND file_mtime_ns IS NOT NULL
        """,
        params={"source": source_name, **params},
    ).pl()


def load_news(
    con: duckdb.DuckDBPyConnection,
    batch: NewsBatch,
    *,
    now: datetime | None = None,
    modified_at: pl.DataFrame | None = None,
    source_type: str = DOCUMENTS_SOURCE_TYPE,
    version: str | None = None,
) -> LoadResult:
    """Merge a news batch and reconcile the source with the files it lists.

    `modified_at` (LISTING_SCHEMA: each file's mtime) decides which of two files of the source
    holding the same document id wins (the newer; without mtimes, the lower path). A document id
    already loaded from another source is quarantined as a duplicate."""
    params = {
        "source": batch.source_name,
        "now": now or datetime.now(UTC),
        "source_type": source_type,
        "version": version or PARSER_VERSIONS[source_type],
    }
    frames = {
        "_incoming_files": batch.files,
        "_incoming_documents": batch.documents,
        "_incoming_annotations": batch.annotations,
        "_incoming_quarantine": batch.quarantine,
        **_listing_frames(batch.files, batch.skipped_files, modified_at),
        "_incoming_restat": pl.DataFrame(
            batch.restat_files, schema=RESTAT_SCHEMA, orient="row"
        ),
    }
    with _registered(con, frames), _transaction(con):
        ensure_schema(con)
        _stage_changed_files(con, params)
        _stage_removed_files(con, "raw.news_documents", params)
        _snapshot_keys(con, "raw.news_documents", "_load_old_keys", "_load_replaced_files", params)
        _execute_all(
            con,
            """
            DELETE FROM raw.news_annotations WHERE document_id IN (
                SELECT document_id FROM raw.news_documents
                WHERE source_name = $source
                  AND file_path IN (SELECT file_path FROM _load_replaced_files)
            );
            DELETE FROM raw.news_documents
            WHERE source_name = $source
              AND file_path IN (SELECT file_path FROM _load_replaced_files);
            """,
            params,
        )
        _replace_quarantine(con, params)
        # Rows of this batch's files are gone, so any remaining row with the id is another file's.
        _execute_all(
            con,
            """
            CREATE OR REPLACE TEMP TABLE _load_document_conflicts AS
            SELECT d.document_id, d.file_path, d.body,
                   e.source_name AS existing_source, e.file_path AS existing_path,
                   e.body AS existing_body,
                   e.source_name = $source AND (
                       coalesce(c.modified_at, TIMESTAMPTZ '0001-01-01 00:00:00+00')
                           > coalesce(p.modified_at, m.modified_at,
                                      TIMESTAMPTZ '0001-01-01 00:00:00+00')
                       OR (c.modified_at IS NOT DISTINCT FROM coalesce(p.modified_at, m.modified_at)
                           AND d.file_path < e.file_path)
                   ) AS incoming_wins
            FROM _incoming_documents d
            JOIN _load_changed_files c ON c.file_path = d.file_path
            JOIN raw.news_documents e ON e.document_id = d.document_id
            -- the existing file's mtime now when the batch lists it, else when it was read
            LEFT JOIN _incoming_present p
                   ON e.source_name = $source AND p.file_path = e.file_path
            LEFT JOIN audit.ingested_files m
                   ON m.source_name = e.source_name AND m.file_path = e.file_path;

            INSERT INTO _load_superseded_files
            SELECT existing_source, existing_path FROM _load_document_conflicts WHERE incoming_wins;

            INSERT INTO audit.quarantine BY NAME
            SELECT $source_type AS source_type, existing_source AS source_name,
                   existing_path AS file_path, NULL AS row_number, document_id AS record_key,
                   printf('superseded by %s: document id ''%s'' is in both files of this source and that one is newer (or as new, with a lower path)',
                          file_path, document_id) AS reason,
                   left(existing_body, 1000) AS raw_value, $now AS quarantined_at
            FROM _load_document_conflicts WHERE incoming_wins;

            DELETE FROM raw.news_annotations WHERE document_id IN (
                SELECT document_id FROM _load_document_conflicts WHERE incoming_wins
            );
            DELETE FROM raw.news_documents WHERE document_id IN (
                SELECT document_id FROM _load_document_conflicts WHERE incoming_wins
            );

            INSERT INTO audit.quarantine BY NAME
            SELECT $source_type AS source_type, $source AS source_name, file_path,
                   NULL AS row_number, document_id AS record_key,
                   CASE WHEN existing_source = $source
                        THEN printf('superseded by %s: document id ''%s'' is in both files of this source and that one is newer (or as new, with a lower path)',
                                    existing_path, document_id)
                        ELSE printf('duplicate document id ''%s'': already loaded from %s (source %s)',
                                    document_id, existing_path, existing_source)
                   END AS reason,
                   left(body, 1000) AS raw_value, $now AS quarantined_at
            FROM _load_document_conflicts WHERE NOT incoming_wins;

            INSERT INTO raw.news_documents BY NAME
            SELECT d.* EXCLUDE (front_matter),
                   d.front_matter::JSON AS front_matter,
                   $now AS ingested_at
            FROM _incoming_documents d
            WHERE d.file_path IN (SELECT file_path FROM _load_changed_files)
              AND d.document_id NOT IN (
                  SELECT document_id FROM _load_document_conflicts WHERE NOT incoming_wins
              );

            INSERT INTO raw.news_annotations BY NAME
            SELECT a.*
            FROM _incoming_annotations a
            JOIN _incoming_documents d ON d.document_id = a.document_id
            WHERE d.file_path IN (SELECT file_path FROM _load_changed_files)
              AND d.document_id NOT IN (
                  SELECT document_id FROM _load_document_conflicts WHERE NOT incoming_wins
              );
            """,
            params,
        )
        _update_manifest(con, "raw.news_documents", params)
        _snapshot_keys(con, "raw.news_documents", "_load_new_keys", "_load_changed_files", params)
        _flag_dependent_files(con, params)
        # The reader quarantines the later of two files of the batch holding the same id; re-read
        # alone, that file meets the loaded one here and the newer of the two wins.
        _execute_all(
            con,
            """
            UPDATE audit.ingested_files SET needs_reread = true
            WHERE source_name = $source
              AND file_path IN (
                  SELECT q.file_path FROM _incoming_quarantine q
                  JOIN _incoming_documents d
                    ON d.document_id = q.record_key AND d.file_path <> q.file_path
                  WHERE q.file_path IN (SELECT file_path FROM _load_changed_files)
              );
            """,
            params,
        )
        return _result(con, len(batch.skipped_files) + batch.files.height)


def load_prices(
    con: duckdb.DuckDBPyConnection,
    batch: PriceBatch,
    *,
    now: datetime | None = None,
    modified_at: pl.DataFrame | None = None,
    source_type: str = CSV_SOURCE_TYPE,
    version: str | None = None,
) -> LoadResult:
    """Merge a price batch and reconcile the source with the files it lists. A ticker+date
    already loaded from another file quarantines the new row: as a duplicate when its values are
    identical, as a conflict when they differ."""
    params = {
        "source": batch.source_name,
        "now": now or datetime.now(UTC),
        "source_type": source_type,
        "version": version or PARSER_VERSIONS[source_type],
    }
    frames = {
        "_incoming_files": batch.files,
        "_incoming_prices": batch.prices,
        "_incoming_quarantine": batch.quarantine,
        **_listing_frames(batch.files, batch.skipped_files, modified_at),
        "_incoming_restat": pl.DataFrame(
            batch.restat_files, schema=RESTAT_SCHEMA, orient="row"
        ),
    }
    with _registered(con, frames), _transaction(con):
        ensure_schema(con)
        _stage_changed_files(con, params)
        _stage_removed_files(con, "raw.prices_daily", params)
        _snapshot_keys(con, "raw.prices_daily", "_load_old_keys", "_load_replaced_files", params)
        _execute_all(
            con,
            """
            DELETE FROM raw.prices_daily
            WHERE source_name = $source
              AND file_path IN (SELECT file_path FROM _load_replaced_files);
            """,
            params,
        )
        _replace_quarantine(con, params)
        _execute_all(
            con,
            """
            CREATE OR REPLACE TEMP TABLE _load_price_conflicts AS
            SELECT p.file_path, p.row_number, p.ticker, p.session_date, p.raw_value,
                   e.file_path AS existing_path, e.row_number AS existing_row,
                   p.open = e.open AND p.high = e.high AND p.low = e.low AND p.close = e.close
                       AND p.adj_close = e.adj_close AND p.volume = e.volume AS is_identical
            FROM _incoming_prices p
            JOIN raw.prices_daily e ON e.ticker = p.ticker AND e.session_date = p.session_date
            WHERE p.file_path IN (SELECT file_path FROM _load_changed_files);

            INSERT INTO audit.quarantine BY NAME
            SELECT $source_type AS source_type, $source AS source_name, file_path, row_number,
                   ticker || '@' || strftime(session_date, '%Y-%m-%d') AS record_key,
                   CASE WHEN is_identical
                        THEN printf('duplicate of %s row %d', existing_path, existing_row)
                        ELSE printf('conflicting duplicate ticker+date (also in %s row %d)',
                                    existing_path, existing_row)
                   END AS reason,
                   raw_value, $now AS quarantined_at
            FROM _load_price_conflicts;

            INSERT INTO raw.prices_daily BY NAME
            SELECT p.* EXCLUDE (raw_value), $now AS ingested_at
            FROM _incoming_prices p
            WHERE p.file_path IN (SELECT file_path FROM _load_changed_files)
              AND (p.file_path, p.row_number) NOT IN (
                  SELECT (file_path, row_number) FROM _load_price_conflicts
              );
            """,
            params,
        )
        _update_manifest(con, "raw.prices_daily", params)
        _snapshot_keys(con, "raw.prices_daily", "_load_new_keys", "_load_changed_files", params)
        _flag_dependent_files(con, params)
        return _result(con, len(batch.skipped_files) + batch.files.height)


def files_needing_reread(
    con: duckdb.DuckDBPyConnection, source_name: str, version: str | None = None
) -> int:
    """Files of the source that the next read re-reads although unchanged (flagged, or read by
    another reader version): the ingestion asset reads again while this is above 0."""
    ensure_schema(con)
    current, params = _current_version(version)
    (count,) = con.execute(
        f"""
        SELECT count(*) FROM audit.ingested_files
        WHERE source_name = $source
          AND (coalesce(needs_reread, false)
               OR parser_version IS DISTINCT FROM {current})
        """,
        {"source": source_name, **params},
    ).fetchone()
    return int(count)


def file_counts(
    con: duckdb.DuckDBPyConnection, source_name: str, file_paths: list[str]
) -> tuple[int, int, int]:
    """(read, loaded, quarantined) of these files of the source, from the manifest."""
    read, loaded, quarantined = con.execute(
        """
        SELECT coalesce(sum(records_read), 0), coalesce(sum(records_loaded), 0),
               coalesce(sum(records_quarantined), 0)
        FROM audit.ingested_files
        WHERE source_name = $source AND list_contains($paths, file_path)
        """,
        {"source": source_name, "paths": file_paths},
    ).fetchone()
    return int(read), int(loaded), int(quarantined)


def load_sessions(
    con: duckdb.DuckDBPyConnection, sessions: pl.DataFrame, now: datetime | None = None
) -> int:
    """Replace the sessions of each calendar in `sessions` whose sessions differ from the stored
    ones; returns the number of sessions written. A calendar unchanged is left alone with its
    `ingested_at`, so the raw checks have nothing new to validate (a night without new input
    imports no Great Expectations)."""
    columns = "calendar_code, session_date, session_index, open_at, close_at, is_early_close"
    with _registered(con, {"_incoming_sessions": sessions}), _transaction(con):
        ensure_schema(con)
        _execute_all(
            con,
            f"""
            CREATE OR REPLACE TEMP TABLE _changed_calendars AS
            SELECT DISTINCT calendar_code FROM (
                (SELECT {columns} FROM _incoming_sessions
                 EXCEPT ALL SELECT {columns} FROM raw.exchange_sessions)
                UNION ALL
                (SELECT {columns} FROM raw.exchange_sessions
                 WHERE calendar_code IN (SELECT calendar_code FROM _incoming_sessions)
                 EXCEPT ALL SELECT {columns} FROM _incoming_sessions)
            );
            DELETE FROM raw.exchange_sessions
            WHERE calendar_code IN (SELECT calendar_code FROM _changed_calendars);
            """,
        )
        (written,), = con.execute(  # an INSERT's result is the count of rows it wrote
            f"""
            INSERT INTO raw.exchange_sessions BY NAME
            SELECT {columns}, $now AS ingested_at FROM _incoming_sessions
            WHERE calendar_code IN (SELECT calendar_code FROM _changed_calendars)
            """,
            {"now": now or datetime.now(UTC)},
        ).fetchall()
        con.execute("DROP TABLE _changed_calendars")
    return written


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    con.begin()
    try:
        yield
    except BaseException:
        con.rollback()
        raise
    con.commit()


@contextmanager
def _registered(
    con: duckdb.DuckDBPyConnection, frames: Mapping[str, pl.DataFrame]
) -> Iterator[None]:
    for name, frame in frames.items():
        con.register(name, frame.to_arrow())
    try:
        yield
    finally:
        for name in frames:
            con.unregister(name)


def _execute_all(
    con: duckdb.DuckDBPyConnection, script: str, params: Mapping[str, object] = {}
) -> None:
    """Run a ';'-separated script one statement at a time: DuckDB binds parameters only in a
    script's last statement, and refuses parameters a statement does not use. The scripts here
    have no ';' inside literals."""
    for statement in filter(str.strip, script.split(";")):
        used = set(PARAMETER.findall(statement))
        con.execute(statement, {name: value for name, value in params.items() if name in used})


def _current_version(version: str | None) -> tuple[str, dict[str, str]]:
    """SQL for the current reader version of a manifest row, and its parameters: `version` when
    the caller knows it (a reader whose version depends on its inputs), else by source type."""
    if version is not None:
        return "$version", {"version": version}
    params = {f"version_{index}": value for index, value in enumerate(PARSER_VERSIONS.values())}
    cases = " ".join(
        f"WHEN '{source_type}' THEN $version_{index}"
        for index, source_type in enumerate(PARSER_VERSIONS)
    )
    return f"(CASE source_type {cases} END)", params

RESTAT_SCHEMA: dict[str, pl.DataType] = {
    "file_path": pl.String(),
    "file_size": pl.Int64(),
    "file_mtime_ns": pl.Int64(),
}
LISTING_SCHEMA: dict[str, pl.DataType] = {
    "file_path": pl.String(),
    "modified_at": pl.Datetime("us", "UTC"),
}


def _listing_frames(
    files: pl.DataFrame, skipped_files: tuple[str, ...], modified_at: pl.DataFrame | None
) -> dict[str, pl.DataFrame]:
    """`_incoming_present`: every file in the source folder (read or skipped as unchanged), with
    its modification time when the caller knows it (`modified_at`: LISTING_SCHEMA, a row per
    file at most; files it does not list have none)."""
    paths = pl.concat([
        files.select(pl.col("file_path").cast(pl.String())),
        pl.DataFrame({"file_path": skipped_files}, schema={"file_path": pl.String()}),
    ]).unique().sort("file_path")
    times = pl.DataFrame(schema=LISTING_SCHEMA) if modified_at is None else modified_at
    frame = paths.join(times.cast(LISTING_SCHEMA), on="file_path", how="left")
    return {"_incoming_present": frame.select(list(LISTING_SCHEMA))}


def _stage_changed_files(con: duckdb.DuckDBPyConnection, params: Mapping[str, object]) -> None:
    """`_load_changed_files`: the batch's files that are new or changed since the manifest (other
    content, another reader version, or flagged for re-reading), with their mtime and whether
    their content (or reader version) changed, as opposed to a mere re-read."""
    _execute_all(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _load_changed_files AS
        SELECT f.*, p.modified_at,
               NOT EXISTS (
                   SELECT 1 FROM audit.ingested_files m
                   WHERE m.source_name = f.source_name
                     AND m.file_path = f.file_path
                     AND m.content_hash = f.content_hash
                     AND m.parser_version IS NOT DISTINCT FROM $version
               ) AS content_changed
        FROM _incoming_files f
        LEFT JOIN _incoming_present p ON p.file_path = f.file_path
        WHERE NOT EXISTS (
            SELECT 1 FROM audit.ingested_files m
            WHERE m.source_name = f.source_name
              AND m.file_path = f.file_path
              AND m.content_hash = f.content_hash
              AND m.parser_version IS NOT DISTINCT FROM $version
              AND NOT coalesce(m.needs_reread, false)
        );
        """,
        params,
    )


def _stage_removed_files(
    con: duckdb.DuckDBPyConnection,
    loaded_table: str,
    params: Mapping[str, object],
) -> None:
    """`_load_removed_files`: files of the source with a manifest, raw or quarantine row that are
    no longer in its folder; `_load_replaced_files`: those and the changed files, whose earlier
    rows all go."""
    _execute_all(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE _load_removed_files AS
        SELECT file_path, sum(records_read) AS records_read, bool_or(in_manifest) AS in_manifest
        FROM (
            SELECT file_path, records_read, true AS in_manifest FROM audit.ingested_files
            WHERE source_name = $source AND source_type = $source_type
            UNION ALL
            SELECT file_path, 0, false FROM {loaded_table} WHERE source_name = $source
            UNION ALL
            SELECT file_path, 0, false FROM audit.quarantine
            WHERE source_name = $source AND source_type = $source_type
        )
        WHERE file_path NOT IN (SELECT file_path FROM _incoming_present)
        GROUP BY file_path;

        CREATE OR REPLACE TEMP TABLE _load_superseded_files (
            source_name VARCHAR, file_path VARCHAR
        );

        CREATE OR REPLACE TEMP TABLE _load_replaced_files AS
        SELECT file_path FROM _load_removed_files
        UNION
        SELECT file_path FROM _load_changed_files;
        """,
        params,
    )


_KEY_OF_LOADED_ROW = {
    "raw.news_documents": "document_id",
    "raw.prices_daily": "ticker || '@' || strftime(session_date, '%Y-%m-%d')",
}


def _snapshot_keys(
    con: duckdb.DuckDBPyConnection,
    loaded_table: str,
    table: str,
    files_table: str,
    params: Mapping[str, object],
) -> None:
    """`table`: (file_path, record_key, loaded) of the source's files in `files_table`: their
    loaded rows and their quarantine rows that name a key."""
    key = _KEY_OF_LOADED_ROW[loaded_table]
    _execute_all(
        con,
        f"""
        CREATE OR REPLACE TEMP TABLE {table} AS
        SELECT file_path, {key} AS record_key, true AS loaded FROM {loaded_table}
        WHERE source_name = $source AND file_path IN (SELECT file_path FROM {files_table})
        UNION ALL
        SELECT file_path, record_key, false FROM audit.quarantine
        WHERE source_type = $source_type AND source_name = $source
          AND file_path IN (SELECT file_path FROM {files_table})
          AND record_key IS NOT NULL;
        """,
        params,
    )


def _flag_dependent_files(con: duckdb.DuckDBPyConnection, params: Mapping[str, object]) -> None:
    """Flag for re-reading every other file (of any source of the type) with a quarantine row for
    a key this load touched: its duplicate verdict may have depended on a replaced file. Files
    this load itself just decided on (`_load_superseded_files`: documents superseded by a newer
    file of the batch) are not.

    Touched: every key, before and after, of a file removed or whose content (or reader version)
    changed; for a file merely re-read, only the keys it started or stopped holding in the raw
    table. So re-reading files whose verdicts stay the same flags nothing: two files quarantined
    for the same key do not re-read each other for ever."""
    _execute_all(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _load_touched_keys AS
        WITH content_changed AS (
            SELECT file_path FROM _load_removed_files
            UNION
            SELECT file_path FROM _load_changed_files WHERE content_changed
        ),
        -- Only a key that a quarantine row names can flag a file: the rest are left out first
        -- (a first load touches every key it loads, and few are quarantined).
        quarantined AS (
            SELECT record_key FROM audit.quarantine WHERE source_type = $source_type
        ),
        old_keys AS (
            SELECT * FROM _load_old_keys SEMI JOIN quarantined USING (record_key)
        ),
        new_keys AS (
            SELECT * FROM _load_new_keys SEMI JOIN quarantined USING (record_key)
        )
        SELECT record_key FROM old_keys
        WHERE file_path IN (SELECT file_path FROM content_changed)
        UNION
        SELECT record_key FROM new_keys
        WHERE file_path IN (SELECT file_path FROM content_changed)
        UNION
        (SELECT record_key FROM old_keys WHERE loaded
         EXCEPT SELECT record_key FROM new_keys WHERE loaded)
        UNION
        (SELECT record_key FROM new_keys WHERE loaded
         EXCEPT SELECT record_key FROM old_keys WHERE loaded);

        UPDATE audit.ingested_files m SET needs_reread = true
        WHERE m.source_type = $source_type
          AND NOT (m.source_name = $source
                   AND m.file_path IN (SELECT file_path FROM _load_replaced_files))
          AND (m.source_name, m.file_path) NOT IN (
              SELECT (source_name, file_path) FROM _load_superseded_files
          )
          AND EXISTS (
              SELECT 1 FROM audit.quarantine q
              WHERE q.source_type = m.source_type AND q.source_name = m.source_name
                AND q.file_path = m.file_path
                AND q.record_key IN (SELECT record_key FROM _load_touched_keys)
          );
        """,
        params,
    )


def _replace_quarantine(con: duckdb.DuckDBPyConnection, params: Mapping[str, object]) -> None:
    _execute_all(
        con,
        """
        DELETE FROM audit.quarantine
        WHERE source_type = $source_type AND source_name = $source
          AND file_path IN (SELECT file_path FROM _load_replaced_files);

        INSERT INTO audit.quarantine BY NAME
        SELECT q.*, $now AS quarantined_at
        FROM _incoming_quarantine q
        WHERE q.file_path IN (SELECT file_path FROM _load_changed_files);
        """,
        params,
    )


def _update_manifest(
    con: duckdb.DuckDBPyConnection,
    loaded_table: str,
    params: Mapping[str, object],
) -> None:
    """Record the changed files and drop the removed ones; then recount every file of the source
    from the tables (cross-file duplicates and superseded documents included)."""
    _execute_all(
        con,
        f"""
        DELETE FROM audit.ingested_files
        WHERE source_name = $source AND file_path IN (SELECT file_path FROM _load_replaced_files);

        INSERT INTO audit.ingested_files BY NAME
        SELECT f.source_name, f.file_path, f.source_type, f.content_hash, f.records_read,
               0 AS records_loaded, 0 AS records_quarantined, $now AS ingested_at,
               $version AS parser_version, f.modified_at, false AS needs_reread,
               f.file_size, f.file_mtime_ns
        FROM _load_changed_files f;

        UPDATE audit.ingested_files m
        SET file_size = r.file_size, file_mtime_ns = r.file_mtime_ns
        FROM _incoming_restat r
        WHERE m.source_name = $source AND m.file_path = r.file_path;

        UPDATE audit.ingested_files m SET
            records_loaded = (SELECT count(*) FROM {loaded_table} t
                              WHERE t.source_name = m.source_name AND t.file_path = m.file_path),
            records_quarantined = (SELECT count(*) FROM audit.quarantine q
                                   WHERE q.source_type = m.source_type
                                     AND q.source_name = m.source_name
                                     AND q.file_path = m.file_path)
        WHERE m.source_name = $source;
        """,
        params,
    )


def _result(con: duckdb.DuckDBPyConnection, files_in_batch: int) -> LoadResult:
    read, loaded, quarantined, changed = con.execute(
        """
        SELECT coalesce(sum(m.records_read), 0), coalesce(sum(m.records_loaded), 0),
               coalesce(sum(m.records_quarantined), 0), count(*)
        FROM _load_changed_files f
        JOIN audit.ingested_files m ON m.source_name = f.source_name AND m.file_path = f.file_path
        """
    ).fetchone()
    removed_files, removed_records = con.execute(
        """
        SELECT count(*) FILTER (WHERE in_manifest), coalesce(sum(records_read), 0)
        FROM _load_removed_files
        """
    ).fetchone()
    return LoadResult(
        int(read),
        int(loaded),
        int(quarantined),
        files_in_batch - int(changed),
        int(removed_files),
        int(removed_records),
    )


def data_date_range(con: duckdb.DuckDBPyConnection) -> tuple[date, date]:
    """First and last date of any loaded price bar or dated document (UTC dates).

    Raises when nothing dated is loaded yet: there is no range to build a calendar for.
    """
    first, last = con.sql(
        """
        select min(day), max(day) from (
            select session_date as day from raw.prices_daily
            union all
            select cast(timezone('UTC', published_at) as date) from raw.news_documents
            where published_at is not null
        )
        """
    ).fetchall()[0]
    if first is None:
        raise ValueError("no price bar and no dated news document loaded: nothing to align to")
    return first, last


def load_security_master(
    con: duckdb.DuckDBPyConnection,
    master: pl.DataFrame,
    quarantine: pl.DataFrame,
    *,
    source_name: str,
    file_path: str,
    content_hash: str,
    version: str,
    now: datetime | None = None,
) -> LoadResult:
    """Replace the source's security master with this snapshot (one file, loaded whole).

    `master` has cik, ticker, company_name, exchange; `quarantine` the rejected rows (columns of
    audit.quarantine without quarantined_at). The previous snapshot's rows, quarantine rows and
    manifest row go; read == loaded + quarantined holds for the new one."""
    params = {
        "source": source_name,
        "source_type": SEC_SOURCE_TYPE,
        "file_path": file_path,
        "hash": content_hash,
        "version": version,
        "now": now or datetime.now(UTC),
        "read": master.height + quarantine.height,
        "loaded": master.height,
        "quarantined": quarantine.height,
    }
    with _registered(con, {"_incoming_master": master, "_incoming_quarantine": quarantine}), \
            _transaction(con):
        ensure_schema(con)
        _execute_all(
            con,
            """
            DELETE FROM raw.security_master WHERE source_name = $source;
            DELETE FROM audit.quarantine WHERE source_name = $source AND source_type = $source_type;
            DELETE FROM audit.ingested_files WHERE source_name = $source;

            INSERT INTO raw.security_master BY NAME
            SELECT $source AS source_name, cik, ticker, company_name, exchange,
                   $file_path AS file_path, $now AS ingested_at
            FROM _incoming_master;

            INSERT INTO audit.quarantine BY NAME
            SELECT q.*, $now AS quarantined_at FROM _incoming_quarantine q;

            INSERT INTO audit.ingested_files BY NAME
            SELECT $source AS source_name, $file_path AS file_path, $source_type AS source_type,
                   $hash AS content_hash, $read AS records_read, $loaded AS records_loaded,
                   $quarantined AS records_quarantined, $now AS ingested_at,
                   $version AS parser_version, CAST(NULL AS TIMESTAMPTZ) AS modified_at,
                   false AS needs_reread;
            """,
            params,
        )
    return LoadResult(params["read"], params["loaded"], params["quarantined"], 0)


def security_master_frame(con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    """Every loaded security-master row (cik, ticker, company_name, exchange): the gazetteer's."""
    ensure_schema(con)
    return con.sql(
        "SELECT DISTINCT cik, ticker, company_name, exchange FROM raw.security_master ORDER BY ALL"
    ).pl()


def known_documents(con: duckdb.DuckDBPyConnection, source_name: str) -> dict[str, str]:
    """document_id -> content_hash of the source's loaded documents: a pulled item seen again
    unchanged is not a new record."""
    ensure_schema(con)
    rows = con.execute(
        "SELECT document_id, content_hash FROM raw.news_documents WHERE source_name = $source",
        {"source": source_name},
    ).fetchall()
    return dict(rows)


def duplicate_count(
    con: duckdb.DuckDBPyConnection, source_name: str, file_paths: list[str]
) -> int:
    """Quarantined records of these files that are duplicates of a record loaded elsewhere."""
    (count,) = con.execute(
        """
        SELECT count(*) FROM audit.quarantine
        WHERE source_name = $source AND list_contains($paths, file_path)
          AND (reason LIKE 'duplicate%' OR reason LIKE 'superseded%')
        """,
        {"source": source_name, "paths": file_paths},
    ).fetchone()
    return int(count)
