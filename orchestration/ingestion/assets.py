"""Thin Dagster wrappers around the Polars readers and the DuckDB loaders.

Each run reads only files that changed since the last load (the `audit.ingested_files`
manifest), so the nightly run processes new data, and re-reading the same files changes nothing.
A batch lists every file of its folder, so the loader also removes what was deleted there; files
whose duplicate verdict depended on a changed file are re-read in further passes of the run.
"""


import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import dagster as dg

from ingestion.calendar import build_sessions, index_epoch
from ingestion.news import read_documents
from ingestion.prices import read_price_files
from newsimpact.config import SourceConfig
from orchestration.resources import NewsimpactResource
from warehouse.loaders import (
    LoadResult,
    data_date_range,
    file_counts,
    files_needing_reread,
    load_news,
    load_prices,
    load_sessions,
    manifest_hashes,
)
from warehouse.schema import ensure_schema

NEWS_DOCUMENTS = dg.AssetKey(["raw", "news_documents"])
NEWS_ANNOTATIONS = dg.AssetKey(["raw", "news_annotations"])
PRICES_DAILY = dg.AssetKey(["raw", "prices_daily"])
EXCHANGE_SESSIONS = dg.AssetKey(["raw", "exchange_sessions"])


# Passes over the sources in one run: a pass re-reads the files the previous one flagged (a
# duplicate verdict that depended on a file that changed). What is still flagged after the last
# pass is re-read by the next run.
MAX_PASSES = 4


def _modified_at(root: Path, batch: Any) -> dict[str, datetime]:
    """Modification time (UTC) of every file the batch lists: newer wins among duplicate ids."""
    mtimes = {}
    for rel_path in [*batch.files["file_path"].to_list(), *batch.skipped_files]:
        try:
            mtimes[rel_path] = datetime.fromtimestamp((root / rel_path).stat().st_mtime, UTC)
        except OSError:  # gone since it was read: the next run removes it
            continue
    return mtimes


def _ingest(
    context: dg.AssetExecutionContext,
    newsimpact: NewsimpactResource,
    sources: Sequence[SourceConfig],
    read: Callable[..., Any],
    load: Callable[..., LoadResult],
) -> dg.MetadataValue:
    """Reads each source's changed files and loads them; returns the per-source counts.

    read / loaded / quarantined count the files written by this run (once, however many passes
    read them), skipped_files the files present and left alone, removed_* the deleted files."""
    now = newsimpact.run_started_at()
    written: dict[str, set[str]] = {source.name: set() for source in sources}
    present: dict[str, int] = {}
    removed: dict[str, tuple[int, int]] = {source.name: (0, 0) for source in sources}
    totals: dict[str, dict[str, int]] = {}
    with newsimpact.connect() as connection:  # manifest_hashes creates the schema when missing
        for pass_number in range(MAX_PASSES):
            for source in sources:
                if pass_number and not files_needing_reread(connection, source.name):
                    continue
                if not source.path.is_dir():  # never reconcile a vanished folder into nothing
                    raise dg.Failure(f"{source.name}: source folder not found: {source.path}")
                batch = read(
                    source.path,
                    source.name,
                    skip_hashes=manifest_hashes(connection, source.name),
                    now=now,
                )
                counts = load(
                    connection, batch, now=now, modified_at=_modified_at(source.path, batch)
                )
                written[source.name] |= set(batch.files["file_path"].to_list())
                present[source.name] = batch.files.height + len(batch.skipped_files)
                files, records = removed[source.name]
                removed[source.name] = (
                    files + counts.removed_files, records + counts.removed_records
                )
                context.log.info(f"{source.name} ({source.path}), pass {pass_number + 1}: {counts}")
            if not any(files_needing_reread(connection, source.name) for source in sources):
                break
        for source in sources:
            read_count, loaded, quarantined = file_counts(
                connection, source.name, sorted(written[source.name])
            )
            counts = LoadResult(
                read_count,
                loaded,
                quarantined,
                present[source.name] - len(written[source.name]),
                *removed[source.name],
            )
            totals[source.name] = dataclasses.asdict(counts)
    return dg.MetadataValue.json(totals)


@dg.multi_asset(
    specs=[
        dg.AssetSpec(NEWS_DOCUMENTS, group_name="raw", kinds={"polars", "duckdb"},
                     description="One row per news document (latest version of each id)."),
        dg.AssetSpec(NEWS_ANNOTATIONS, group_name="raw", kinds={"polars", "duckdb"},
                     description="Entity, ticker and theme annotation lines of each document."),
    ],
)
def raw_news(context: dg.AssetExecutionContext, newsimpact: NewsimpactResource):
    """Reads every `[[sources.news]]` folder; rejected files go to `audit.quarantine`."""
    sources = _ingest(
        context, newsimpact, newsimpact.settings().news_sources, read_documents, load_news
    )
    yield dg.MaterializeResult(asset_key=NEWS_DOCUMENTS, metadata={"sources": sources})
    yield dg.MaterializeResult(asset_key=NEWS_ANNOTATIONS, metadata={"sources": sources})


@dg.asset(key=PRICES_DAILY, group_name="raw", kinds={"polars", "duckdb"})
def raw_prices(context: dg.AssetExecutionContext, newsimpact: NewsimpactResource):
    """Daily bars of every `[[sources.prices]]` folder; rejected rows go to `audit.quarantine`."""
    sources = _ingest(
        context, newsimpact, newsimpact.settings().price_sources, read_price_files, load_prices
    )
    return dg.MaterializeResult(metadata={"sources": sources})


@dg.asset(
    key=EXCHANGE_SESSIONS,
    group_name="raw",
    kinds={"duckdb"},
    deps=[NEWS_DOCUMENTS, PRICES_DAILY],
)
def raw_exchange_sessions(newsimpact: NewsimpactResource):
    """Sessions of the configured exchange calendar (open/close in UTC, early closes included).

    The range runs from the calendar's index epoch (`ingestion.calendar.SESSION_INDEX_EPOCH`, or
    the data's first date minus the event study's reach when earlier) to the data's last date
    plus that reach. Indexes count from the epoch, so adding an old document (or any data) does
    not shift the index of existing sessions. Starting at the epoch rather than at the data is
    what keeps indexes 0-based, as the quality suite and the dbt consecutive-index test require.
    """
    settings = newsimpact.settings()
    with newsimpact.connect() as connection:
        ensure_schema(connection)
        first, last = data_date_range(connection)
        # Calendar days per session is about 7/5; the margin also covers long holiday runs.
        margin = timedelta(days=settings.event_study.sessions_reach * 7 // 5 + 30)
        calendar = settings.event_study.calendar
        sessions = build_sessions(calendar, min(index_epoch(calendar), first - margin), last + margin)
        load_sessions(connection, sessions)
    return dg.MaterializeResult(
        metadata={
            "calendar": settings.event_study.calendar,
            "sessions": len(sessions),
            "first_session": str(sessions["session_date"].min()),
            "last_session": str(sessions["session_date"].max()),
        }
    )
