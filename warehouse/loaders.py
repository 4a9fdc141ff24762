"""Idempotent, incremental merges of reader output into the warehouse.

The unit of change is a file. A file whose content hash equals the one in `audit.ingested_files`
is left alone (its rows, their `ingested_at` and its quarantine rows stay as they are); a new or
changed file has all its earlier raw and quarantine rows replaced by the new ones. Loading the
same batch twice therefore leaves the tables unchanged. Each load is one transaction of
set-based SQL over the batch frames, registered with DuckDB through Arrow.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime

import duckdb
import polars as pl

from ingestion.news import NewsBatch
from ingestion.prices import PriceBatch
from ingestion.quarantine import CSV_SOURCE_TYPE, DOCUMENTS_SOURCE_TYPE
from warehouse.schema import ensure_schema

PARAMETER = re.compile(r"\$(\w+)")


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


def manifest_hashes(con: duckdb.DuckDBPyConnection, source_name: str) -> dict[str, str]:
    """file_path -> content_hash of the files already loaded: the readers' `skip_hashes`."""
    ensure_schema(con)
    rows = con.execute(
        "SELECT file_path, content_hash FROM audit.ingested_files WHERE source_name = $source",
        {"source": source_name},
    ).fetchall()
    return dict(rows)


def load_news(
    con: duckdb.DuckDBPyConnection, batch: NewsBatch, *, now: datetime | None = None
) -> LoadResult:
    """Merge a news batch; a document id already loaded from another file is quarantined."""
    params = {"source": batch.source_name, "now": now or datetime.now(UTC)}
    frames = {
        "_incoming_files": batch.files,
        "_incoming_documents": batch.documents,
        "_incoming_annotations": batch.annotations,
        "_incoming_quarantine": batch.quarantine,
    }
    with _registered(con, frames), _transaction(con):
        ensure_schema(con)
        _stage_changed_files(con)
        _execute_all(
            con,
            """
            DELETE FROM raw.news_annotations WHERE document_id IN (
                SELECT document_id FROM raw.news_documents
                WHERE source_name = $source
                  AND file_path IN (SELECT file_path FROM _load_changed_files)
            );
            DELETE FROM raw.news_documents
            WHERE source_name = $source
              AND file_path IN (SELECT file_path FROM _load_changed_files);
            """,
            params,
        )
        _replace_quarantine(con, DOCUMENTS_SOURCE_TYPE, params)
        # Rows of this batch's files are gone, so any remaining row with the id is another file's.
        _execute_all(
            con,
            """
            CREATE OR REPLACE TEMP TABLE _load_document_conflicts AS
            SELECT d.document_id, d.file_path, d.body,
                   e.source_name AS existing_source, e.file_path AS existing_path
            FROM _incoming_documents d
            JOIN raw.news_documents e ON e.document_id = d.document_id
            WHERE d.file_path IN (SELECT file_path FROM _load_changed_files);

            INSERT INTO audit.quarantine BY NAME
            SELECT 'documents' AS source_type, $source AS source_name, file_path,
                   NULL AS row_number, document_id AS record_key,
                   printf('duplicate document id ''%s'': already loaded from %s (source %s)',
                          document_id, existing_path, existing_source) AS reason,
                   left(body, 1000) AS raw_value, $now AS quarantined_at
            FROM _load_document_conflicts;

            INSERT INTO raw.news_documents BY NAME
            SELECT d.* EXCLUDE (front_matter),
                   d.front_matter::JSON AS front_matter,
                   $now AS ingested_at
            FROM _incoming_documents d
            WHERE d.file_path IN (SELECT file_path FROM _load_changed_files)
              AND d.document_id NOT IN (SELECT document_id FROM _load_document_conflicts);

            INSERT INTO raw.news_annotations BY NAME
            SELECT a.*
            FROM _incoming_annotations a
            JOIN _incoming_documents d ON d.document_id = a.document_id
            WHERE d.file_path IN (SELECT file_path FROM _load_changed_files)
              AND d.document_id NOT IN (SELECT document_id FROM _load_document_conflicts);
            """,
            params,
        )
        _update_manifest(con, DOCUMENTS_SOURCE_TYPE, "raw.news_documents", params)
        return _result(con, len(batch.skipped_files) + batch.files.height)


def load_prices(
    con: duckdb.DuckDBPyConnection, batch: PriceBatch, *, now: datetime | None = None
) -> LoadResult:
    """Merge a price batch. A ticker+date already loaded from another file quarantines the new row:
    as a duplicate when its values are identical, as a conflict when they differ."""
    params = {"source": batch.source_name, "now": now or datetime.now(UTC)}
    frames = {
        "_incoming_files": batch.files,
        "_incoming_prices": batch.prices,
        "_incoming_quarantine": batch.quarantine,
    }
    with _registered(con, frames), _transaction(con):
        ensure_schema(con)
        _stage_changed_files(con)
        _execute_all(
            con,
            """
            DELETE FROM raw.prices_daily
            WHERE source_name = $source
              AND file_path IN (SELECT file_path FROM _load_changed_files);
            """,
            params,
        )
        _replace_quarantine(con, CSV_SOURCE_TYPE, params)
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
            SELECT 'csv' AS source_type, $source AS source_name, file_path, row_number,
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
        _update_manifest(con, CSV_SOURCE_TYPE, "raw.prices_daily", params)
        return _result(con, len(batch.skipped_files) + batch.files.height)


def load_sessions(con: duckdb.DuckDBPyConnection, sessions: pl.DataFrame) -> int:
    """Replace every row of the calendars in `sessions`; returns the number of sessions written."""
    with _registered(con, {"_incoming_sessions": sessions}), _transaction(con):
        ensure_schema(con)
        _execute_all(
            con,
            """
            DELETE FROM raw.exchange_sessions
            WHERE calendar_code IN (SELECT calendar_code FROM _incoming_sessions);
            INSERT INTO raw.exchange_sessions BY NAME SELECT * FROM _incoming_sessions;
            """
        )
    return sessions.height


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


def _stage_changed_files(con: duckdb.DuckDBPyConnection) -> None:
    """`_load_changed_files`: the batch's files that are new or changed since the manifest."""
    _execute_all(
        con,
        """
        CREATE OR REPLACE TEMP TABLE _load_changed_files AS
        SELECT f.*
        FROM _incoming_files f
        WHERE NOT EXISTS (
            SELECT 1 FROM audit.ingested_files m
            WHERE m.source_name = f.source_name
              AND m.file_path = f.file_path
              AND m.content_hash = f.content_hash
        );
        """
    )


def _replace_quarantine(
    con: duckdb.DuckDBPyConnection, source_type: str, params: Mapping[str, object]
) -> None:
    _execute_all(
        con,
        """
        DELETE FROM audit.quarantine
        WHERE source_type = $source_type AND source_name = $source
          AND file_path IN (SELECT file_path FROM _load_changed_files);

        INSERT INTO audit.quarantine BY NAME
        SELECT q.*, $now AS quarantined_at
        FROM _incoming_quarantine q
        WHERE q.file_path IN (SELECT file_path FROM _load_changed_files);
        """,
        {**params, "source_type": source_type},
    )


def _update_manifest(
    con: duckdb.DuckDBPyConnection,
    source_type: str,
    loaded_table: str,
    params: Mapping[str, object],
) -> None:
    """Record the changed files, counting from the tables (cross-file duplicates included)."""
    _execute_all(
        con,
        f"""
        DELETE FROM audit.ingested_files
        WHERE source_name = $source AND file_path IN (SELECT file_path FROM _load_changed_files);

        INSERT INTO audit.ingested_files BY NAME
        SELECT f.source_name, f.file_path, f.source_type, f.content_hash, f.records_read,
               (SELECT count(*) FROM {loaded_table} t
                WHERE t.source_name = f.source_name AND t.file_path = f.file_path
               ) AS records_loaded,
               (SELECT count(*) FROM audit.quarantine q
                WHERE q.source_type = $source_type AND q.source_name = f.source_name
                  AND q.file_path = f.file_path) AS records_quarantined,
               $now AS ingested_at
        FROM _load_changed_files f;
        """,
        {**params, "source_type": source_type},
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
    return LoadResult(int(read), int(loaded), int(quarantined), files_in_batch - int(changed))


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
