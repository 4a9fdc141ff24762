"""The report's HTML: one self-contained page (inline CSS and SVG, no script, no network).

Every number shown in a table cell carries its exact value in `data-value`, and every chart's
`<figure>` the figures it plots in `data-figures` (JSON), so a reader or a test can check them
against the marts.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from html import escape
from string import Template

import polars as pl

_PAGE = Template("""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>newsimpact report: build $build_id</title>
<style>
body { font: 14px/1.45 system-ui, sans-serif; color: #222; margin: 0 auto; max-width: 1100px;
       padding: 1em 1.5em 3em; }
h1 { font-size: 1.5em; margin-bottom: 0.2em; }
h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
h3 { font-size: 1em; margin: 1.2em 0 0.4em; }
p.what { color: #444; margin-top: 0.2em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 13px; }
th, td { padding: 0.25em 0.7em; border-bottom: 1px solid #eee; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
figure { margin: 0.8em 0; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: 12px; }
dl { display: grid; grid-template-columns: max-content auto; gap: 0.2em 1em; }
dt { color: #555; }
dd { margin: 0; }
.note { color: #555; font-size: 12px; }
</style>
</head>
<body>
<h1>What the news did to the stocks</h1>
<p class="what">Build <code>$build_id</code> of the newsimpact warehouse, read from its published
serving file; report written $generated_at.</p>
$sections
</body>
</html>
""")


_NOTHING = '<p class="nothing">Nothing to show: no event of this build has these figures.</p>'


@dataclass(frozen=True)
class Column:
    header: str
    key: str
    format: Callable[[object], str] = str
    number: bool = False
    is_html: bool = False  # the value is HTML already, escaped where it was built


def render_page(build_id: str, generated_at: datetime, sections: Sequence[str]) -> str:
    return _PAGE.substitute(
        build_id=escape(build_id),
        generated_at=escape(f"{generated_at:%Y-%m-%d %H:%M} UTC"),
        sections="\n".join(sections),
    )


def freshness_section(
    info: dict[str, object], ingested: pl.DataFrame, quarantine: pl.DataFrame, now: datetime
) -> str:
    built_at = info["built_at"]
    facts = [
        ("build id", f'<code id="build-id">{escape(str(info["build_id"]))}</code>'),
        ("built at",
         f'<span id="built-at">{built_at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC</span>'),
        ("age", f'<span id="build-age">{escape(age_text(built_at, now))}</span> when this report '
                "was written"),
        ("benchmark, calendar", escape(f"{info['benchmark']}, {info['calendar']}")),
        ("event windows", escape(str(info["event_windows"]))),
    ]
    quarantined = (
        table("quarantine", [Column("source", "source_name"), Column("reason", "reason"),
                             Column("records", "records", _integer, number=True)],
              quarantine)
        if quarantine.height
        else '<p id="quarantine-empty">No record was quarantined.</p>'
    )
    return section(
        "freshness",
        "1. Build freshness and quarantine",
        "Which build these figures come from, how old it is, and what ingestion read, loaded "
        "and rejected per source.",
        "<dl>" + "".join(f"<dt>{term}</dt><dd>{value}</dd>" for term, value in facts) + "</dl>",
        "<h3>Files ingested per source (audit.ingested_files)</h3>",
        table("ingested", [
            Column("source", "source_name"), Column("type", "source_type"),
            Column("files", "files", _integer, number=True),
            Column("read", "records_read", _integer, number=True),
            Column("loaded", "records_loaded", _integer, number=True),
            Column("quarantined", "records_quarantined", _integer, number=True),
        ], ingested),
        "<h3>Quarantined records by source and reason (audit.quarantine)</h3>",
        quarantined,
    )


def theme_section(frame: pl.DataFrame, source: str, chart_svg: str | None) -> str:
    """`chart_svg` is None when no theme has an event with figures."""
    shown = frame.filter(pl.col("event_filter") == "all")
    return section(
        "theme-caar",
        "2. Theme CAAR with 95 % confidence intervals",
        "The mean cumulative abnormal return (CAAR) of each theme's events per event window, with "
        "its 95 % t confidence interval (none with a single event).",
        f'<p class="note">Source: <code id="theme-caar-source">{escape(source)}</code>; the chart '
        "shows the event filter <code>all</code>; the table lists every filter.</p>",
        figure("theme-caar", chart_svg, _records(shown, ["theme_code", "window_start",
               "window_end", "n_events", "caar", "caar_ci_low", "caar_ci_high"]),
               "Dots: CAAR in % (green above zero, red below); bars: the 95 % confidence "
               "interval.") if chart_svg else _NOTHING,
        table("theme-caar-table", [
            Column("theme", "theme_code"), Column("window", "window", str),
            Column("filter", "event_filter"), Column("n", "n_events", _integer, number=True),
            Column("CAAR", "caar", percent, number=True),
            Column("95 % CI low", "caar_ci_low", percent, number=True),
            Column("95 % CI high", "caar_ci_high", percent, number=True),
        ], frame.with_columns(window=pl.format("[{}, {}]", "window_start", "window_end"))),
    )


def curves_section(frame: pl.DataFrame, chart_svg: str | None, first_day: int) -> str:
    """`chart_svg` is None when no event has an abnormal return on every day."""
    return section(
        "caar-curves",
        "3. CAAR curves by relative day",
        f"The mean cumulative abnormal return from day {first_day} to each relative day around "
        "the news, per theme, with its 95 % band.",
        figure("caar-curves", chart_svg,
               _records(frame, ["theme_code", "rel_day", "n", "mean", "ci_low", "ci_high"]),
               "From marts.fct_abnormal_return_daily: only event-security pairs with an abnormal "
               "return on every day of the window; n is their number per theme. Line: mean CAR "
               "in %; band: 95 % t interval; dotted: day 0, the first session the news could "
               "move.") if chart_svg else _NOTHING,
    )


def movers_section(frame: pl.DataFrame, window: tuple[int, int]) -> str:
    stories = frame.with_columns(
        story=pl.struct("title", "url").map_elements(_story_link, return_dtype=pl.String)
    )
    return section(
        "movers",
        "4. Biggest movers and their stories",
        f"The largest absolute cumulative abnormal returns over the window [{window[0]}, "
        f"{window[1]}] (status ok), with the news behind them.",
        table("movers-table", [
            Column("story", "story", is_html=True), Column("ticker", "ticker"),
            Column("session", "event_session", str), Column("CAR", "car", percent, number=True),
            Column("t", "car_t", _decimal, number=True),
        ], stories, value_of={"story": "event_id"}) if stories.height else _NOTHING,
    )


def timelines_section(
    entities: Sequence[tuple[str, str, pl.DataFrame, str]], margin_sessions: int
) -> str:
    """`entities`: (entity id, name, its timeline, its chart) per entity; `margin_sessions`: the
    sessions of price shown before the first and after the last news."""
    figures = [
        f'<h3 data-entity-id="{escape(entity_id, quote=True)}">{escape(name)}</h3>'
        + figure(f"entity-{number}", chart_svg,
                 _records(timeline, ["session", "ticker", "adj_close", "mention_count",
                                     "abnormal_return"]),
                 f"{escape(name)}: {timeline.height} sessions of prices, "
                 f"{timeline['mention_count'].count()} of them with news and "
                 f"{timeline['abnormal_return'].count()} with an abnormal return (none "
                 "without enough estimation history). Top: the daily adjusted close of its "
                 "security, a dot on each session with news (size = number of news items); "
                 "bottom: that session's abnormal return in %.")
        for number, (entity_id, name, timeline, chart_svg) in enumerate(entities, start=1)
    ]
    return section(
        "timelines",
        "5. Per-entity timelines",
        f"For the entities named by the most events: the daily price of their security from "
        f"{margin_sessions} sessions before their first news to {margin_sessions} "
        "after their last (marts.fct_security_price_daily), and the abnormal return the news "
        "came with (marts.mart_entity_daily).",
        *(figures or [_NOTHING]),
    )


def section(anchor: str, title: str, what: str, *parts: str) -> str:
    body = "\n".join(parts)
    return (f'<section id="{anchor}">\n<h2>{escape(title)}</h2>\n'
            f'<p class="what">{escape(what)}</p>\n{body}\n</section>')


def figure(name: str, chart_svg: str, figures: list[dict], caption: str) -> str:
    data = escape(json.dumps(figures, default=str), quote=True)
    return (f'<figure class="chart" id="figure-{name}" data-figures="{data}">\n{chart_svg}\n'
            f"<figcaption>{caption}</figcaption>\n</figure>")


def table(
    table_id: str,
    columns: Sequence[Column],
    frame: pl.DataFrame,
    value_of: dict[str, str] | None = None,
) -> str:
    """`value_of`: a column whose `data-value` comes from another one (e.g. a link's key)."""
    value_of = value_of or {}
    head = "".join(f"<th>{escape(column.header)}</th>" for column in columns)
    rows = []
    for record in frame.iter_rows(named=True):
        cells = []
        for column in columns:
            value = record[column.key]
            exact = json.dumps(record[value_of.get(column.key, column.key)], default=str)
            shown = "–" if value is None else column.format(value)
            shown = shown if column.is_html else escape(shown)
            cells.append(f'<td{" class=number" if column.number else ""} '
                         f'data-value="{escape(exact, quote=True)}">{shown}</td>')
        rows.append(f"<tr>{''.join(cells)}</tr>")
    return (f'<table id="{table_id}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(rows)}</tbody></table>")


def age_text(built_at: datetime, now: datetime) -> str:
    minutes = int((now - built_at).total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // (24 * 60)} days"


def percent(value: float) -> str:
    return f"{value * 100:.2f} %"


def _decimal(value: float) -> str:
    return f"{value:.2f}"


def _integer(value: int) -> str:
    return f"{value:,}"


def _story_link(story: dict) -> str:
    title = escape(story["title"] or "(untitled)")
    url = story["url"]
    if url and url.startswith(("https://", "http://")):
        return f'<a href="{escape(url, quote=True)}" rel="noopener noreferrer">{title}</a>'
    return title


def _records(frame: pl.DataFrame, columns: list[str]) -> list[dict]:
    return [
        {key: value.isoformat() if isinstance(value, date) else value
         for key, value in row.items()}
        for row in frame.select(columns).iter_rows(named=True)
    ]
