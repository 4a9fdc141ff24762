"""The analyst's report: a static HTML page, read offline, built from a published serving file.

`write_report` reads only the serving file, through a read-only connection (never the work
file): the report shows exactly what BI users see.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from warehouse.connection import DuckDBSettings, connect
from warehouse.report import charts, page, queries

TOP_ENTITIES = 3


def write_report(
    serving: Path,
    output: Path,
    now: datetime | None = None,
    duckdb_settings: DuckDBSettings | None = None,
) -> Path:
    """Write the report of the build in `serving` to `output`, replaced whole (never half-written)."""
    now = now or datetime.now(UTC)
    with connect(serving, duckdb_settings, read_only=True) as connection:
        html = render_report(connection, now)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    os.replace(partial, output)
    return output


def render_report(connection: duckdb.DuckDBPyConnection, now: datetime) -> str:
    info = queries.build_info(connection)
    window = queries.report_window(info)
    themes, source = queries.theme_caar(connection)
    curves = queries.caar_curves(connection)
    timelines = []
    for number, (entity_id, name) in enumerate(
        queries.top_entities(connection, TOP_ENTITIES).select("entity_id", "entity_name").rows(),
        start=1,
    ):
        timeline = queries.entity_timeline(connection, entity_id)
        timelines.append(
            (entity_id, name, timeline,
             charts.entity_timeline_chart(timeline, name, f"entity-{number}"))
        )
    sections = [
        page.freshness_section(info, queries.ingested_counts(connection),
                               queries.quarantine_counts(connection), now),
        page.theme_section(themes, source,
                           charts.theme_caar_chart(themes) if themes.height else None),
        page.curves_section(curves, charts.caar_curves_chart(curves) if curves.height else None,
                            int(info["daily_window_start"])),
        page.movers_section(queries.biggest_movers(connection, window), window),
        page.timelines_section(timelines, queries.TIMELINE_MARGIN),
    ]
    return page.render_page(str(info["build_id"]), now, sections)
