"""DDL of the schemas written by Python: `raw` (reader output) and `audit` (quarantine, manifest).

Column names and types follow docs/architecture.md; dbt reads these tables through `source()`s.
"""

from __future__ import annotations

import duckdb

DDL = """
CREATE SCHEMA IF NOT EXISTS raw;
CREATE SCHEMA IF NOT EXISTS audit;

CREATE TABLE IF NOT EXISTS raw.news_documents (
    document_id   VARCHAR PRIMARY KEY,
    source_name   VARCHAR NOT NULL,
    file_path     VARCHAR NOT NULL,
    published_at  TIMESTAMPTZ,
    source        VARCHAR,
    url           VARCHAR,
    title         VARCHAR,
    body          VARCHAR NOT NULL,
    front_matter  JSON NOT NULL,
    sentiment     DOUBLE NOT NULL,
    content_hash  VARCHAR NOT NULL,
    ingested_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS raw.news_annotations (
    document_id     VARCHAR NOT NULL,
    position        INTEGER NOT NULL,
    kind            VARCHAR NOT NULL CHECK (kind IN ('entity', 'ticker', 'theme')),
    annotation_key  VARCHAR NOT NULL,
    description     VARCHAR NOT NULL,
    PRIMARY KEY (document_id, position)
);

CREATE TABLE IF NOT EXISTS raw.prices_daily (
    ticker        VARCHAR NOT NULL,
    session_date  DATE NOT NULL,
    open          DOUBLE NOT NULL,
    high          DOUBLE NOT NULL,
    low           DOUBLE NOT NULL,
    close         DOUBLE NOT NULL,
    adj_close     DOUBLE NOT NULL,
    volume        DOUBLE NOT NULL,
    source_name   VARCHAR NOT NULL,
    file_path     VARCHAR NOT NULL,
    row_number    INTEGER NOT NULL,
    ingested_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (ticker, session_date)
);

CREATE TABLE IF NOT EXISTS raw.exchange_sessions (
    calendar_code   VARCHAR NOT NULL,
    session_date    DATE NOT NULL,
    session_index   INTEGER NOT NULL,
    open_at         TIMESTAMPTZ NOT NULL,
    close_at        TIMESTAMPTZ NOT NULL,
    is_early_close  BOOLEAN NOT NULL,
    ingested_at     TIMESTAMPTZ NOT NULL,  -- when the calendar was last written (it changed)
    PRIMARY KEY (calendar_code, session_date)
);

-- The security master as its source lists it (SEC company_tickers*.json): the latest snapshot of
-- each source, replaced whole when a new one is loaded.
CREATE TABLE IF NOT EXISTS raw.security_master (
    source_name   VARCHAR NOT NULL,
    cik           VARCHAR NOT NULL,   -- 10 digits, zero-padded
    ticker        VARCHAR NOT NULL,
    company_name  VARCHAR NOT NULL,   -- SEC's title, as written ("NVIDIA CORP")
    exchange      VARCHAR,            -- Nasdaq, NYSE, OTC, CBOE... (null in company_tickers.json)
    file_path     VARCHAR NOT NULL,
    ingested_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_name, ticker)
);

CREATE TABLE IF NOT EXISTS audit.quarantine (
    source_type     VARCHAR NOT NULL,
    source_name     VARCHAR NOT NULL,
    file_path       VARCHAR NOT NULL,
    row_number      INTEGER,
    record_key      VARCHAR,
    reason          VARCHAR NOT NULL,
    raw_value       VARCHAR,
    quarantined_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS audit.ingested_files (
    source_name          VARCHAR NOT NULL,
    file_path            VARCHAR NOT NULL,
    source_type          VARCHAR NOT NULL,
    content_hash         VARCHAR NOT NULL,
    records_read         BIGINT NOT NULL,
    records_loaded       BIGINT NOT NULL,
    records_quarantined  BIGINT NOT NULL,
    ingested_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (source_name, file_path)
);
"""

# Columns added after the first release: a work file written by an older version gets them here
# (CREATE TABLE IF NOT EXISTS leaves an existing table's shape alone). A NULL parser_version
# never equals the current one, so an upgraded work file re-reads its files once.
MIGRATIONS = """
ALTER TABLE audit.ingested_files ADD COLUMN IF NOT EXISTS parser_version VARCHAR;
ALTER TABLE audit.ingested_files ADD COLUMN IF NOT EXISTS modified_at TIMESTAMPTZ;
ALTER TABLE audit.ingested_files ADD COLUMN IF NOT EXISTS needs_reread BOOLEAN DEFAULT false;
ALTER TABLE audit.ingested_files ADD COLUMN IF NOT EXISTS file_size BIGINT;
ALTER TABLE audit.ingested_files ADD COLUMN IF NOT EXISTS file_mtime_ns BIGINT;
ALTER TABLE raw.exchange_sessions ADD COLUMN IF NOT EXISTS ingested_at TIMESTAMPTZ;
"""


# The audit tables are published to BI users: their comments travel with them.
AUDIT_COMMENTS = """
COMMENT ON TABLE audit.quarantine IS 'One row per rejected input record (a whole file, or a price row), with the reason. Nothing read is dropped silently: every record is loaded or here.';
COMMENT ON COLUMN audit.quarantine.source_type IS 'documents (news files) or csv (price files).';
COMMENT ON COLUMN audit.quarantine.source_name IS 'The config source it came from: news[0], prices[0], or its name key.';
COMMENT ON COLUMN audit.quarantine.file_path IS 'Path of the file, relative to its source folder.';
COMMENT ON COLUMN audit.quarantine.row_number IS '1-based data row of a price file; null when the whole file was rejected.';
COMMENT ON COLUMN audit.quarantine.record_key IS 'The document id, or TICKER@YYYY-MM-DD for a price row, when known.';
COMMENT ON COLUMN audit.quarantine.reason IS 'What is wrong, in a sentence.';
COMMENT ON COLUMN audit.quarantine.raw_value IS 'The raw line, or the start of the file.';
COMMENT ON COLUMN audit.quarantine.quarantined_at IS 'When the file was read (UTC).';
COMMENT ON TABLE audit.ingested_files IS 'One row per input file loaded: its content hash and how many records were read, loaded and quarantined (read = loaded + quarantined).';
COMMENT ON COLUMN audit.ingested_files.source_name IS 'The config source: news[0], prices[0], or its name key.';
COMMENT ON COLUMN audit.ingested_files.file_path IS 'Path of the file, relative to its source folder.';
COMMENT ON COLUMN audit.ingested_files.source_type IS 'documents (news files) or csv (price files).';
COMMENT ON COLUMN audit.ingested_files.content_hash IS 'sha256 of the file bytes: an unchanged file is not read again.';
COMMENT ON COLUMN audit.ingested_files.records_read IS 'Documents (news) or data rows (prices) read from the file.';
COMMENT ON COLUMN audit.ingested_files.records_loaded IS 'Records of the file in the raw tables.';
COMMENT ON COLUMN audit.ingested_files.records_quarantined IS 'Records of the file in audit.quarantine.';
COMMENT ON COLUMN audit.ingested_files.ingested_at IS 'When this version of the file was loaded (UTC).';
COMMENT ON COLUMN audit.ingested_files.parser_version IS 'Version of the reader that read the file: a new version reads unchanged files again.';
COMMENT ON COLUMN audit.ingested_files.modified_at IS 'Modification time of the file when it was read (UTC): among files of a source holding the same document id, the newest wins.';
COMMENT ON COLUMN audit.ingested_files.file_size IS 'Size in bytes of the file when it was read (null for pulled payloads): with file_mtime_ns, an unchanged pair skips the file without reading it.';
COMMENT ON COLUMN audit.ingested_files.file_mtime_ns IS 'Modification time of the file when it was read, in nanoseconds since 1970 (null for pulled payloads).';
COMMENT ON COLUMN audit.ingested_files.needs_reread IS 'True when a decision about this file (a duplicate) depended on another file that has since changed: the next read re-reads it.';
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw and audit schemas and tables when missing and add the columns a work file
    of an older version lacks; existing data is left alone."""
    con.execute(DDL)
    for statement in filter(str.strip, MIGRATIONS.split(";")):
        con.execute(statement)
    con.execute(AUDIT_COMMENTS)
