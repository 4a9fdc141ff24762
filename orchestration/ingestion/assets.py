"""Thin Dagster wrappers around the Polars readers and the DuckDB loaders.

Each run reads only files that changed since the last load (the `audit.ingested_files`
manifest), so the nightly run processes new data, and re-reading the same files changes nothing.
A batch lists every file of its folder, so the loader also removes what was deleted there; files
whose duplicate verdict depended on a changed file are re-read in further passes of the run.
"""


import dataclasses
import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from ingestion.calendar import build_sessions, index_epoch
from ingestion.extraction import build_gazetteer, load_taxonomy
from ingestion.feeds import FEED_PARSER_VERSION, FEED_SOURCE_TYPE, read_feed_payloads
from ingestion.gdelt import GDELT_PARSER_VERSION, GDELT_SOURCE_TYPE, read_gkg_payloads
from ingestion.landing import landed_payloads
from ingestion.news import read_documents
from ingestion.price_api import (
    PRICE_API_PARSER_VERSION,
    PRICE_API_SOURCE_TYPE,
    read_price_payloads,
)
from ingestion.prices import PRICE_FILE_SUFFIXES, read_price_files
from ingestion.quarantine import CSV_SOURCE_TYPE, DOCUMENTS_SOURCE_TYPE, FolderChunk, read_chunks
from ingestion.sec import SEC_PARSER_VERSION, SEC_SOURCE_TYPE, SecFormatError, read_security_master
from newsimpact.config import Settings, SourceConfig
from orchestration.dbt.project import DBT_PROJECT_DIR
from orchestration.pull.assets import landing_key
from orchestration.resources import NewsimpactResource
from warehouse.loaders import (
    LISTING_SCHEMA,
    PARSER_VERSIONS,
    LoadResult,
    data_date_range,
    duplicate_count,
    file_counts,
    files_needing_reread,
    known_documents,
    load_news,
    load_prices,
    load_security_master,
    load_sessions,
    manifest_hashes,
    manifest_stats,
    security_master_frame,
)
from warehouse.schema import ensure_schema

NEWS_DOCUMENTS = dg.AssetKey(["raw", "news_documents"])
NEWS_ANNOTATIONS = dg.AssetKey(["raw", "news_annotations"])
PRICES_DAILY = dg.AssetKey(["raw", "prices_daily"])
EXCHANGE_SESSIONS = dg.AssetKey(["raw", "exchange_sessions"])
SECURITY_MASTER = dg.AssetKey(["raw", "security_master"])
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"  # the curated entities: part of the gazetteer
TAXONOMY_PATH = SEEDS_DIR / "ref_theme_taxonomy.csv"  # theme code -> keywords / GDELT codes


# Passes over the sources in one run: a pass re-reads the files the previous one flagged (a
# duplicate verdict that depended on a file that changed). What is still flagged after the last
# pass is re-read by the next run.
MAX_PASSES = 4


# A first load of a large folder is read and loaded in chunks of about this many file bytes:
# the readers' frames take several times the text they hold.
CHUNK_BYTES = 64 * 2**20


def _listing_times(root: Path, chunk: FolderChunk) -> pl.DataFrame:
    """Modification time (UTC) of every file the folder's listing holds: newer wins among
    duplicate ids. A link's time is its target's (a dangling link has none)."""
    targets = []
    for rel_path in chunk.listed.filter(pl.col("is_link"))["file_path"]:
        try:
            targets.append((rel_path, (root / rel_path).stat().st_mtime_ns))
        except OSError:  # dangling, or gone since it was listed
            continue
    mtimes = pl.concat([
        chunk.listed.filter(~pl.col("is_link")).select("file_path", "file_mtime_ns"),
        pl.DataFrame(
            targets, schema={"file_path": pl.String(), "file_mtime_ns": pl.Int64()}, orient="row"
        ),
    ])
    modified_at = pl.from_epoch(pl.col("file_mtime_ns") // 1000, time_unit="us")
    return mtimes.select("file_path", modified_at=modified_at.dt.replace_time_zone("UTC"))


def _one_chunk(_skip_stats: pl.DataFrame) -> list[FolderChunk | None]:
    """Landed payloads: a night's pull is small, read whole."""
    return [None]


def _fetched_at(root: Path) -> pl.DataFrame:
    """A landed payload's 'modification time' is when it was fetched: the newest version wins."""
    rows = [(payload.rel_path, payload.fetched_at) for payload in landed_payloads(root)]
    return pl.DataFrame(rows, schema=LISTING_SCHEMA, orient="row")


@dataclasses.dataclass(frozen=True)
class Reading:
    """How one source is read: its reader bound to its inputs, its version, its file times."""

    source: SourceConfig
    root: Path  # the source folder, or its landing folder
    source_type: str  # as recorded in audit tables
    version: str  # part of each file's change key
    # (skip_hashes, skip_stats, now, chunk) -> batch; skip_stats: (size, mtime_ns) of folder
    # files (`manifest_stats`); chunk: the files to read (None: all)
    read: Callable[..., Any]
    # chunk -> the files' modification times (`warehouse.loaders.LISTING_SCHEMA`), or None
    modified_at: Callable[[FolderChunk | None], pl.DataFrame | None]
    chunks: Callable[[pl.DataFrame], list[FolderChunk | None]] = _one_chunk


def _news_readings(settings: Settings, connection: Any) -> list[Reading]:
    readings = []
    extraction = None
    for source in settings.news_sources:
        if source.type == "documents":
            root = source.path
            readings.append(Reading(
                source, root, DOCUMENTS_SOURCE_TYPE, PARSER_VERSIONS[DOCUMENTS_SOURCE_TYPE],
                # parsing processes: as many as DuckDB may use threads
                partial(_read_documents, root, source.name, settings.duckdb.threads),
                partial(_listing_times, root),
                partial(read_chunks, root, [".txt"], max_bytes=CHUNK_BYTES),
            ))
            continue
        if extraction is None:  # built once: the gazetteer reads the loaded security master
            gazetteer = build_gazetteer(SEEDS_DIR, security_master_frame(connection))
            extraction = {"gazetteer": gazetteer, "taxonomy": load_taxonomy(TAXONOMY_PATH)}
        root = settings.landing_dir / source.name
        known = known_documents(connection, source.name)
        if source.type == "feed":
            reader, source_type, version = read_feed_payloads, FEED_SOURCE_TYPE, FEED_PARSER_VERSION
            options = {**extraction, "known_documents": known}
        else:
            reader, source_type, version = (
                read_gkg_payloads, GDELT_SOURCE_TYPE, GDELT_PARSER_VERSION
            )
            # the same URL in two GKG files: the loader keeps the newer one
            options = {**extraction, "require_company": source.require_company}
        readings.append(Reading(
            source, root, source_type,
            # extraction depends on the gazetteer: a new security master re-reads the payloads
            f"{version}+{extraction['gazetteer'].version[:16]}",
            partial(_read_landed, reader, root, source.name, options),
            lambda _chunk, root=root: _fetched_at(root),
        ))
    return readings


def _price_readings(settings: Settings) -> list[Reading]:
    readings = []
    for source in settings.price_sources:
        if source.type == "csv":
            root = source.path
            readings.append(Reading(
                source, root, CSV_SOURCE_TYPE, PARSER_VERSIONS[CSV_SOURCE_TYPE],
                partial(_read_price_files, root, source.name), partial(_listing_times, root),
                partial(read_chunks, root, PRICE_FILE_SUFFIXES, max_bytes=CHUNK_BYTES),
            ))
            continue
        root = settings.landing_dir / source.name
        readings.append(Reading(
            source, root, PRICE_API_SOURCE_TYPE, PRICE_API_PARSER_VERSION,
            partial(_read_landed, read_price_payloads, root, source.name,
                    {"provider": source.type}),
            lambda _chunk: None,
        ))
    return readings


def _read_documents(
    root: Path, name: str, workers: int, skip_hashes: Mapping[str, str],
    skip_stats: pl.DataFrame, now: datetime, chunk: FolderChunk | None,
) -> Any:
    return read_documents(
        root, name, skip_hashes=skip_hashes, skip_stats=skip_stats, now=now, workers=workers,
        chunk=chunk,
    )


def _read_price_files(
    root: Path, name: str, skip_hashes: Mapping[str, str],
    skip_stats: pl.DataFrame, now: datetime, chunk: FolderChunk | None,
) -> Any:
    return read_price_files(
        root, name, skip_hashes=skip_hashes, skip_stats=skip_stats, now=now, chunk=chunk
    )


def _read_landed(
    reader: Callable[..., Any], root: Path, name: str, options: Mapping[str, Any],
    skip_hashes: Mapping[str, str], _skip_stats: pl.DataFrame, now: datetime,
    _chunk: None,
) -> Any:
    """Landed payloads are listed from their metadata with their hash: no stats to compare."""
    return reader(root, name, skip_hashes=skip_hashes, now=now, **options)


def _ingest(
    context: dg.AssetExecutionContext,
    newsimpact: NewsimpactResource,
    readings_for: Callable[[Any], Sequence[Reading]],
    load: Callable[..., LoadResult],
) -> dg.MetadataValue:
    """Reads each source's changed files and loads them; returns the per-source counts.

    read / loaded / quarantined count the files written by this run (once, however many passes
    read them), skipped_files the files present and left alone, removed_* the deleted files;
    unchanged_records / filtered_records what pulled sources saw again or filtered out."""
    now = newsimpact.run_started_at()
    totals: dict[str, dict[str, int]] = {}
    with newsimpact.connect() as connection:  # manifest_hashes creates the schema when missing
        readings = [
            reading for reading in readings_for(connection) if _present(connection, reading)
        ]
        written: dict[str, set[str]] = {reading.source.name: set() for reading in readings}
        present: dict[str, int] = {}
        removed = {reading.source.name: (0, 0) for reading in readings}
        seen_again = {reading.source.name: (0, 0) for reading in readings}
        for pass_number in range(MAX_PASSES):
            for reading in readings:
                name = reading.source.name
                if pass_number and not files_needing_reread(connection, name, reading.version):
                    continue
                stats = manifest_stats(connection, name, reading.version)
                # One pass's hashes serve all its chunks: loading a chunk writes only its own
                # files' manifest rows (a file it flags is re-read by the next pass).
                read = partial(
                    reading.read, manifest_hashes(connection, name, reading.version), stats, now
                )
                for chunk, batch in _read_ahead(reading.chunks(stats), read):
                    counts = load(
                        connection, batch, now=now, modified_at=reading.modified_at(chunk),
                        source_type=reading.source_type, version=reading.version,
                    )
                    written[name] |= set(batch.files["file_path"].to_list())
                    present[name] = batch.files.height + len(batch.skipped_files)
                    files, records = removed[name]
                    removed[name] = (files + counts.removed_files, records + counts.removed_records)
                    unchanged, filtered = seen_again[name]
                    seen_again[name] = (
                        unchanged + getattr(batch, "unchanged_documents", 0),
                        filtered + getattr(batch, "filtered_records", 0),
                    )
                    context.log.info(f"{name} ({reading.root}), pass {pass_number + 1}: {counts}")
            if not any(
                files_needing_reread(connection, reading.source.name, reading.version)
                for reading in readings
            ):
                break
        for reading in readings:
            name = reading.source.name
            read_count, loaded, quarantined = file_counts(connection, name, sorted(written[name]))
            counts = LoadResult(
                read_count, loaded, quarantined, present[name] - len(written[name]), *removed[name]
            )
            totals[name] = {
                **dataclasses.asdict(counts),
                "source_type": reading.source_type,
                "duplicates": duplicate_count(connection, name, sorted(written[name])),
                "unchanged_records": seen_again[name][0],
                "filtered_records": seen_again[name][1],
            }
    return dg.MetadataValue.json(totals)


def _read_ahead(
    chunks: Iterable[FolderChunk | None], read: Callable[[FolderChunk | None], Any]
) -> Iterator[tuple[FolderChunk | None, Any]]:
    """(chunk, read(chunk)) in order, the next chunk read in a thread while the caller loads
    this one: reading (Polars, parsing processes) and loading (DuckDB) both release the GIL, so
    on two cores they overlap. At most two chunks' batches are held at once."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="read-ahead") as pool:
        pending: tuple[FolderChunk | None, Future] | None = None
        for chunk in chunks:
            future = pool.submit(read, chunk)
            if pending is not None:
                yield pending[0], pending[1].result()
            pending = (chunk, future)
        if pending is not None:
            yield pending[0], pending[1].result()


def _present(connection: Any, reading: Reading) -> bool:
    """A source folder that vanished is never reconciled into nothing; a landing folder not
    created yet (nothing pulled so far) is simply skipped."""
    if reading.root.is_dir():
        return True
    if reading.source.pulled and not manifest_hashes(connection, reading.source.name, reading.version):
        return False
    where = "landing folder" if reading.source.pulled else "source folder"
    raise dg.Failure(f"{reading.source.name}: {where} not found: {reading.root}")


def build_ingestion_assets(settings: Settings) -> list[dg.AssetsDefinition]:
    """raw/security_master, raw/news_*, raw/prices_daily: upstream of them, as lineage only, the
    landing assets of the pulled sources (they run in the pull job, before)."""

    def landed(sources: Sequence[SourceConfig]) -> list[dg.AssetKey]:
        return [landing_key(source.name) for source in sources if source.pulled]

    @dg.asset(
        key=SECURITY_MASTER, group_name="raw", kinds={"polars", "duckdb"},
        deps=landed(settings.security_sources),
    )
    def raw_security_master(context: dg.AssetExecutionContext, newsimpact: NewsimpactResource):
        """Companies and tickers of every `[[sources.securities]]` (SEC company_tickers), the
        latest snapshot of each; linked to the curated seeds by dbt (seeds win)."""
        settings = newsimpact.settings()
        counts = {}
        with newsimpact.connect() as connection:
            for source in settings.security_sources:
                counts[source.name] = _load_master(connection, settings, source, newsimpact)
                context.log.info(f"{source.name}: {counts[source.name]}")
        return dg.MaterializeResult(metadata={"sources": dg.MetadataValue.json(counts)})

    @dg.multi_asset(
        specs=[
            dg.AssetSpec(NEWS_DOCUMENTS, group_name="raw", kinds={"polars", "duckdb"},
                         deps=[SECURITY_MASTER, *landed(settings.news_sources)],
                         description="One row per news document (latest version of each id)."),
            dg.AssetSpec(NEWS_ANNOTATIONS, group_name="raw", kinds={"polars", "duckdb"},
                         deps=[SECURITY_MASTER, *landed(settings.news_sources)],
                         description="Entity, ticker and theme annotations of each document "
                         "(annotation lines, else extracted)."),
        ],
    )
    def raw_news(context: dg.AssetExecutionContext, newsimpact: NewsimpactResource):
        """Reads every `[[sources.news]]`: document folders, and landed feeds and GKG files;
        rejected records go to `audit.quarantine`."""
        settings = newsimpact.settings()
        sources = _ingest(context, newsimpact, partial(_news_readings, settings), load_news)
        yield dg.MaterializeResult(asset_key=NEWS_DOCUMENTS, metadata={"sources": sources})
        yield dg.MaterializeResult(asset_key=NEWS_ANNOTATIONS, metadata={"sources": sources})

    @dg.asset(
        key=PRICES_DAILY, group_name="raw", kinds={"polars", "duckdb"},
        deps=landed(settings.price_sources),
    )
    def raw_prices(context: dg.AssetExecutionContext, newsimpact: NewsimpactResource):
        """Daily bars of every `[[sources.prices]]`: CSV folders and landed provider payloads;
        rejected rows go to `audit.quarantine`."""
        settings = newsimpact.settings()
        sources = _ingest(
            context, newsimpact, lambda _connection: _price_readings(settings), load_prices
        )
        return dg.MaterializeResult(metadata={"sources": sources})

    return [raw_security_master, raw_news, raw_prices, raw_exchange_sessions]


def _load_master(
    connection: Any, settings: Settings, source: SourceConfig, newsimpact: NewsimpactResource
) -> dict[str, Any]:
    """Load the newest snapshot of one security source unless it is already loaded."""
    if source.path is not None:
        data, file_path = source.path.read_bytes(), source.path.name
    else:
        payloads = landed_payloads(settings.landing_dir / source.name)
        if not payloads:  # nothing pulled yet: keep what is loaded
            return _master_counts(LoadResult(0, 0, 0, 0))
        data, file_path = payloads[-1].read_bytes(), payloads[-1].rel_path
    content_hash = hashlib.sha256(data).hexdigest()
    if manifest_hashes(connection, source.name, SEC_PARSER_VERSION).get(file_path) == content_hash:
        return _master_counts(LoadResult(0, 0, 0, 1))
    try:
        master, quarantine = read_security_master(
            data, file_path=file_path, source_name=source.name
        )
    except SecFormatError as error:
        raise dg.Failure(f"{source.name}: {error}") from None
    counts = load_security_master(
        connection, master, quarantine, source_name=source.name, file_path=file_path,
        content_hash=content_hash, version=SEC_PARSER_VERSION, now=newsimpact.run_started_at(),
    )
    return _master_counts(counts)


def _master_counts(counts: LoadResult) -> dict[str, Any]:
    return {**dataclasses.asdict(counts), "source_type": SEC_SOURCE_TYPE}


@dg.asset(
    key=EXCHANGE_SESSIONS,
    group_name="raw",
    kinds={"duckdb"},
    deps=[NEWS_DOCUMENTS, PRICES_DAILY],
)
def raw_exchange_sessions(newsimpact: NewsimpactResource):
    """Sessions of the configured exchange calendar (open/close in UTC, early closes included).

    The range runs from the calendar's index epoch (`ingestion.calendar.SESSION_INDEX_EPOCH`, or
    the data's first date minus the event study's backward reach when earlier) to the data's last
    date plus its forward reach (the latest window end), not the estimation window's length.
    Indexes count from the epoch, so adding an old document (or any data) does not shift the
    index of existing sessions. Starting at the epoch rather than at the data is
    what keeps indexes 0-based, as the quality suite and the dbt consecutive-index test require.
    """
    settings = newsimpact.settings()
    with newsimpact.connect() as connection:
        ensure_schema(connection)
        first, last = data_date_range(connection)
        before, after = settings.event_study.sessions_reach
        calendar = settings.event_study.calendar
        sessions = build_sessions(
            calendar,
            min(index_epoch(calendar), first - _calendar_days(before)),
            last + _calendar_days(after),
        )
        written = load_sessions(connection, sessions, now=newsimpact.run_started_at())
    return dg.MaterializeResult(
        metadata={
            "calendar": settings.event_study.calendar,
            "sessions": len(sessions),
            "sessions_written": written,  # 0: the same calendar as before, left alone
            "first_session": str(sessions["session_date"].min()),
            "last_session": str(sessions["session_date"].max()),
        }
    )


def _calendar_days(sessions: int) -> timedelta:
    """Calendar days that hold `sessions` sessions: about 7/5 each, and a margin for long holiday
    runs."""
    return timedelta(days=sessions * 7 // 5 + 30)
