"""The analyst's report: its queries, charts and page on a tiny serving file, then the real one
generated from the samples and opened in headless Chromium, offline."""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import polars as pl
import pytest
from scipy import stats

from newsimpact.cli import EXIT_FAILED, main
from tests.conftest import SAMPLES, SampleConfig, newsimpact, query, write_config
from warehouse.report import charts, page, queries, write_report

CHROMIUM = Path("/usr/bin/chromium")
BUILT_AT = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)
T_1 = stats.t.ppf(0.975, 1)  # the 95 % quantile for two values


@pytest.fixture
def tiny_serving(tmp_path: Path) -> Path:
    """A serving file with just the columns the report reads, and figures checked by hand."""
    path = tmp_path / "tiny.duckdb"
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            """
            create schema marts;
            create schema audit;
            create table marts.build_info as select
                'B1' as build_id, timestamptz '2026-11-25 06:00:00+00' as built_at,
                '^GSPC' as benchmark, 'XNYS' as calendar,
                '[[0, 0], [-1, 1]]' as event_windows, -1 as daily_window_start;
            create table audit.quarantine (source_name varchar, reason varchar);
            insert into audit.quarantine values
                ('news[0]', 'empty body'), ('news[0]', 'empty body'), ('prices[0]', 'bad ticker');
            create table audit.ingested_files (source_name varchar, source_type varchar,
                records_read bigint, records_loaded bigint, records_quarantined bigint);
            insert into audit.ingested_files values
                ('news[0]', 'documents', 3, 1, 2), ('news[0]', 'documents', 1, 1, 0),
                ('prices[0]', 'csv', 10, 9, 1);
            create table marts.dim_theme as select * from (values
                ('thm_a', 'Theme_A'), ('thm_b', 'Theme_B')) t(theme_id, theme_code);
            create table marts.bridge_event_theme as select * from (values
                ('e1', 'thm_a'), ('e2', 'thm_a'), ('e3', 'thm_a'), ('e3', 'thm_b'))
                t(event_id, theme_id);
            create table marts.dim_entity as select * from (values
                ('ent_x', 'X Corp', 'sec_x'), ('ent_y', 'Y <Inc>', 'sec_y'))
                t(entity_id, entity_name, security_id);
            create table marts.fct_news_event as select * from (values
                ('e1', 'X beats <estimates>', 'https://example.com/e1'),
                ('e2', 'X misses', 'javascript:alert(1)'),
                ('e3', 'Y and X', null)) t(event_id, title, url);
            create table marts.fct_event_impact as select * from (values
                ('e1', 'ent_x', 'sec_x', 'XX', date '2020-01-02', -1, 1, 'ok', 0.01, 1.0),
                ('e2', 'ent_x', 'sec_x', 'XX', date '2020-02-03', -1, 1, 'ok', 0.03, 3.0),
                ('e3', 'ent_y', 'sec_y', 'YY', date '2020-03-02', -1, 1, 'ok', -0.05, -2.0),
                ('e3', 'ent_x', 'sec_x', 'XX', date '2020-03-02', -1, 1,
                 'insufficient_history', 0.5, null),
                ('e1', 'ent_x', 'sec_x', 'XX', date '2020-01-02', 0, 0, 'ok', 0.002, 0.4))
                t(event_id, entity_id, security_id, ticker, event_session, window_start,
                  window_end, status, car, car_t);
            create table marts.fct_abnormal_return_daily as select * from (values
                ('e1', 'sec_x', -1, 0.01), ('e1', 'sec_x', 0, 0.02), ('e1', 'sec_x', 1, -0.01),
                ('e2', 'sec_x', -1, 0.03), ('e2', 'sec_x', 0, 0.00), ('e2', 'sec_x', 1, 0.01),
                ('e3', 'sec_y', -1, 0.01), ('e3', 'sec_y', 0, null), ('e3', 'sec_y', 1, 0.01))
                t(event_id, security_id, rel_day, abnormal_return);
            create table marts.mart_entity_daily as select * from (values
                ('ent_x', date '2020-01-02', 1, 'XX', 10.0, 0.01),
                ('ent_x', date '2020-02-03', 2, 'XX', 12.5, -0.02),
                ('ent_y', date '2020-03-02', 1, 'YY', null, null))
                t(entity_id, session, mention_count, ticker, close, abnormal_return);
            create table marts.fct_security_price_daily as select * from (values
                ('sec_x', 'XX', date '2019-12-30', 4.0), ('sec_x', 'XX', date '2019-12-31', 4.5),
                ('sec_x', 'XX', date '2020-01-02', 5.0), ('sec_x', 'XX', date '2020-01-03', 5.5),
                ('sec_x', 'XX', date '2020-02-03', 6.25), ('sec_x', 'XX', date '2020-02-04', 6.5),
                ('sec_x', 'XX', date '2020-02-05', 7.0), ('sec_y', 'YY', date '2020-01-02', 9.0))
                t(security_id, ticker, session_date, adj_close);
            -- decimal literals: the marts hold doubles
            alter table marts.fct_security_price_daily alter adj_close type double;
            alter table marts.fct_event_impact alter car type double;
            alter table marts.fct_event_impact alter car_t type double;
            alter table marts.fct_abnormal_return_daily alter abnormal_return type double;
            alter table marts.mart_entity_daily alter close type double;
            alter table marts.mart_entity_daily alter abnormal_return type double;
            """
        )
    return path


def _connect(path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(path), read_only=True)


def test_the_window_is_minus_one_to_one_when_measured_else_the_first():
    assert queries.report_window({"event_windows": "[[0, 0], [-1, 1]]"}) == (-1, 1)
    assert queries.report_window({"event_windows": "[[0, 1], [-5, 5]]"}) == (0, 1)


def test_theme_caar_is_computed_from_the_ok_rows_without_the_significance_mart(tiny_serving):
    with _connect(tiny_serving) as connection:
        frame, source = queries.theme_caar(connection)

    assert source.startswith("marts.fct_event_impact")
    window = frame.filter(window_start=-1, window_end=1)
    a = window.filter(theme_code="Theme_A").row(0, named=True)
    # Theme_A, [-1, 1]: cars 0.01, 0.03, -0.05 (e3's insufficient_history row is left out)
    mean = (0.01 + 0.03 - 0.05) / 3
    sd = math.sqrt(sum((car - mean) ** 2 for car in (0.01, 0.03, -0.05)) / 2)
    half = stats.t.ppf(0.975, 2) * sd / math.sqrt(3)
    assert (a["event_filter"], a["n_events"]) == ("all", 3)
    assert a["caar"] == pytest.approx(mean)
    assert (a["caar_ci_low"], a["caar_ci_high"]) == pytest.approx((mean - half, mean + half))
    b = window.filter(theme_code="Theme_B").row(0, named=True)
    assert (b["n_events"], b["caar"], b["caar_ci_low"], b["caar_ci_high"]) == (1, -0.05, None, None)


def test_theme_caar_comes_from_the_significance_mart_when_the_build_has_it(tiny_serving):
    with duckdb.connect(str(tiny_serving)) as connection:
        connection.execute(
            """
            create table marts.mart_theme_significance as select * from (values
                ('Theme_A', -1, 1, 'all', 3, 0.02, -0.01, 0.05, 1.7),
                ('Theme_A', -1, 1, 'unconfounded', 2, 0.03, -0.2, 0.26, 0.9),
                ('Theme_B', -1, 1, 'all', 0, null, null, null, null))
                t(theme_code, window_start, window_end, event_filter, n_events, caar,
                  caar_ci_low, caar_ci_high, caar_t);
            alter table marts.mart_theme_significance alter caar type double;
            alter table marts.mart_theme_significance alter caar_ci_low type double;
            alter table marts.mart_theme_significance alter caar_ci_high type double;
            """
        )
    with _connect(tiny_serving) as connection:
        frame, source = queries.theme_caar(connection)

    assert source == "marts.mart_theme_significance"
    assert frame.select("theme_code", "event_filter", "n_events", "caar", "caar_ci_low",
                        "caar_ci_high").rows() == [
        ("Theme_A", "all", 3, 0.02, -0.01, 0.05),
        ("Theme_A", "unconfounded", 2, 0.03, -0.2, 0.26),
    ]


def test_caar_curves_average_complete_paths_only(tiny_serving):
    with _connect(tiny_serving) as connection:
        curves = queries.caar_curves(connection)

    # e3 lacks day 0, so only e1 (0.01, 0.03, 0.02) and e2 (0.03, 0.03, 0.04) are averaged.
    a = curves.filter(theme_code="Theme_A")
    assert a["rel_day"].to_list() == [-1, 0, 1]
    assert a["n"].to_list() == [2, 2, 2]
    assert a["mean"].to_list() == pytest.approx([0.02, 0.03, 0.03])
    assert a["ci_low"][0] == pytest.approx(0.02 - T_1 * 0.01)
    assert a["ci_low"][1] is None  # no spread on day 0: no interval
    assert curves.filter(theme_code="Theme_B").is_empty()


def test_biggest_movers_rank_by_absolute_car_in_the_window(tiny_serving):
    with _connect(tiny_serving) as connection:
        movers = queries.biggest_movers(connection, (-1, 1), limit=2)

    assert movers.select("event_id", "ticker", "car").rows() == [("e3", "YY", -0.05),
                                                                  ("e2", "XX", 0.03)]


def test_top_entities_have_prices_on_their_news_days(tiny_serving):
    with _connect(tiny_serving) as connection:
        top = queries.top_entities(connection)

    assert top.rows() == [("ent_x", "X Corp", 3)]  # ent_y has no close on its news day


def test_a_timeline_is_the_daily_price_from_before_the_first_to_after_the_last_news(tiny_serving):
    with _connect(tiny_serving) as connection:
        timeline = queries.entity_timeline(connection, "ent_x", margin_sessions=1)

    # One bar before 2020-01-02 and one after 2020-02-03; the news sessions carry their figures.
    assert timeline.rows() == [
        (date(2019, 12, 31), "XX", 4.5, None, None),
        (date(2020, 1, 2), "XX", 5.0, 1, 0.01),
        (date(2020, 1, 3), "XX", 5.5, None, None),
        (date(2020, 2, 3), "XX", 6.25, 2, -0.02),
        (date(2020, 2, 4), "XX", 6.5, None, None),
    ]


def test_a_chart_is_inline_svg_with_its_own_ids_and_marks():
    frame = pl.DataFrame({
        "theme_code": ["A", "A"], "rel_day": [0, 1], "n": [2, 2], "mean": [0.01, 0.02],
        "se": [0.01, 0.01], "ci_low": [None, 0.0], "ci_high": [None, 0.04],
    })
    svg = charts.caar_curves_chart(frame, name="curves")

    assert svg.startswith('<svg data-chart="curves"')
    assert "<?xml" not in svg and "<!DOCTYPE" not in svg
    ids = re.findall(r'\bid="([^"]+)"', svg)
    assert ids and all(identifier.startswith("curves-") for identifier in ids)
    assert all(reference[len("url(#"):].startswith("curves-")
               for reference in re.findall(r"url\(#[^)]+", svg))
    assert any(identifier.startswith("curves-mark-") for identifier in ids)


def test_the_report_is_one_offline_page_with_every_section(tiny_serving, tmp_path):
    now = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    serving_bytes = tiny_serving.read_bytes()
    report = write_report(tiny_serving, tmp_path / "out" / "report.html", now=now)
    html = report.read_text(encoding="utf-8")

    assert tiny_serving.read_bytes() == serving_bytes  # read-only: BI users' file is untouched
    assert not list(report.parent.glob("*.partial"))
    for forbidden in ("<script", "<link", "src=", "@import", "url(http"):
        assert forbidden not in html
    assert "default-src 'none'" in html  # the browser refuses any request the page might make
    assert [int(n) for n in re.findall(r'<section id="[^"]+">\n<h2>(\d)\.', html)] == [1, 2, 3,
                                                                                     4, 5]
    assert '<code id="build-id">B1</code>' in html
    assert '<span id="build-age">3 h</span>' in html
    assert html.count("<svg ") == 3  # theme CAAR, CAAR curves, one entity (Y has no price)
    # Titles are escaped; only http(s) URLs become links.
    assert "X beats &lt;estimates&gt;" in html and "<estimates>" not in html
    assert '<a href="https://example.com/e1"' in html and "javascript:" not in html


def test_the_freshness_section_counts_quarantine_and_files_per_source(tiny_serving):
    with _connect(tiny_serving) as connection:
        html = page.freshness_section(queries.build_info(connection),
                                      queries.ingested_counts(connection),
                                      queries.quarantine_counts(connection), BUILT_AT)

    quarantine = re.search(r'<table id="quarantine">.*?</table>', html).group(0)
    assert re.findall(r"<tr><td[^>]*>([^<]+)</td><td[^>]*>([^<]+)</td><td[^>]*>(\d+)</td>",
                      quarantine) == [("news[0]", "empty body", "2"),
                                      ("prices[0]", "bad ticker", "1")]
    ingested = re.search(r'<table id="ingested">.*?</table>', html).group(0)
    assert "<td class=number data-value=\"4\">4</td>" in ingested  # news: 3 + 1 read


def test_age_reads_in_minutes_hours_then_days():
    assert page.age_text(BUILT_AT, datetime(2026, 11, 25, 6, 59, tzinfo=UTC)) == "59 min"
    assert page.age_text(BUILT_AT, datetime(2026, 11, 26, 8, 0, tzinfo=UTC)) == "26 h"
    assert page.age_text(BUILT_AT, datetime(2026, 11, 29, 6, 0, tzinfo=UTC)) == "4 days"


@pytest.mark.slow
def test_the_sample_report_opens_offline_and_shows_the_marts_figures(
    sample_config: SampleConfig, sample_warehouse: Path, tmp_path: Path
):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install -y chromium` (.ci/run does)")
    from playwright.sync_api import sync_playwright

    assert sample_config.settings.report_path.exists(), "the pipeline's report step wrote none"
    output = tmp_path / "report.html"
    result = newsimpact("report", "--config", str(sample_config.settings.config_path),
                        "--output", str(output))
    assert result.returncode == 0, result.stderr
    assert f"Report: {output}" in result.stdout

    requests, console_errors = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--no-first-run"],
        )
        try:
            context = browser.new_context(viewport={"width": 1200, "height": 900})
            context.route(lambda url: not url.startswith("file:"), lambda route: route.abort())
            browser_page = context.new_page()
            browser_page.on("request", lambda request: requests.append(request.url))
            browser_page.on("console", lambda message: message.type == "error"
                            and console_errors.append(message.text))
            browser_page.on("pageerror", lambda error: console_errors.append(str(error)))
            browser_page.goto(output.as_uri(), wait_until="load")
            charts_drawn = browser_page.eval_on_selector_all("svg", _DRAWN_JS)
            shown = browser_page.evaluate(_SHOWN_JS)
            screenshot = tmp_path / "report.png"
            browser_page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()

    assert requests == [output.as_uri()], "the report asked for something beyond its own file"
    assert console_errors == []
    assert len(charts_drawn) >= 3
    for chart in charts_drawn:
        assert chart["width"] > 0 and chart["height"] > 0, chart
        assert chart["marks"] > 0 and chart["drawnMarks"] > 0, chart
    _assert_matches_the_marts(sample_warehouse, shown)
    print(f"\nScreenshot: {screenshot}\n  the whole report page of build {shown['buildId']}: "
          f"build freshness and quarantine tables, the theme CAAR chart and table "
          f"({len(shown['tables']['theme-caar-table'])} rows), {len(charts_drawn)} charts "
          f"(CAAR curves per theme, one timeline per top entity), the movers table.")


# Per <svg>: its drawn size, and how many of its plotted marks exist and have a drawn area.
_DRAWN_JS = """svgs => svgs.map(svg => {
    const box = svg.getBoundingClientRect();
    const marks = [...svg.querySelectorAll('[id*="-mark-"]')];
    const drawn = marks.filter(mark => {
        const b = mark.getBBox();
        return b.width > 0 || b.height > 0;
    });
    return {chart: svg.dataset.chart, width: box.width, height: box.height,
            marks: marks.length, drawnMarks: drawn.length};
})"""

# What the page shows: the build id, each table's exact cell values, each chart's figures.
_SHOWN_JS = """() => ({
    buildId: document.getElementById('build-id').textContent,
    themeSource: document.getElementById('theme-caar-source').textContent,
    quarantineEmpty: document.getElementById('quarantine-empty') !== null,
    tables: Object.fromEntries([...document.querySelectorAll('table')].map(table => [table.id,
        [...table.tBodies[0].rows].map(row => [...row.cells].map(
            cell => JSON.parse(cell.dataset.value)))])),
    texts: Object.fromEntries([...document.querySelectorAll('table')].map(table => [table.id,
        [...table.tBodies[0].rows].map(row => [...row.cells].map(cell => cell.innerText))])),
    figures: Object.fromEntries([...document.querySelectorAll('figure.chart')].map(
        figure => [figure.id, JSON.parse(figure.dataset.figures)])),
    entities: [...document.querySelectorAll('h3[data-entity-id]')].map(h => h.dataset.entityId),
})"""


def _assert_matches_the_marts(serving: Path, shown: dict) -> None:
    """Every figure checked against the serving file, queried here independently."""
    [(build_id, windows)] = query(serving, "select build_id, event_windows from marts.build_info")
    assert shown["buildId"] == build_id

    ingested = query(serving, """
        select source_name, any_value(source_type), count(*), sum(records_read)::bigint,
               sum(records_loaded)::bigint, sum(records_quarantined)::bigint
        from audit.ingested_files group by source_name order by source_name""")
    assert [tuple(row) for row in shown["tables"]["ingested"]] == ingested
    quarantined = query(serving, "select source_name, reason, count(*) from audit.quarantine "
                                 "group by all order by all")
    if quarantined:
        assert sorted(tuple(row) for row in shown["tables"]["quarantine"]) == quarantined
    else:
        assert shown["quarantineEmpty"]

    # Theme CAAR: n and CAAR as marts.mart_theme_impact has them; the CI from the car values.
    theme_rows = shown["tables"]["theme-caar-table"]
    assert theme_rows, "no theme CAAR shown"
    if shown["themeSource"] == "marts.mart_theme_significance":
        expected = query(serving, """
            select theme_code, '[' || window_start || ', ' || window_end || ']', event_filter,
                   n_events, caar, caar_ci_low, caar_ci_high
            from marts.mart_theme_significance where n_events > 0""")
        assert len(theme_rows) == len(expected)
        for row, mart_row in zip(sorted(theme_rows), sorted(expected), strict=True):
            assert row[:3] == list(mart_row[:3])
            assert row[3:] == pytest.approx(list(mart_row[3:]))
    else:
        impact = {
            (theme, f"[{start}, {end}]"): (n, caar)
            for theme, start, end, n, caar in query(serving, """
                select theme_code, window_start, window_end, n_events, caar
                from marts.mart_theme_impact where n_events > 0""")
        }
        cars = defaultdict(list)
        for theme, start, end, car in query(serving, """
                select t.theme_code, i.window_start, i.window_end, i.car
                from marts.fct_event_impact i join marts.bridge_event_theme using (event_id)
                join marts.dim_theme t using (theme_id) where i.status = 'ok'"""):
            cars[(theme, f"[{start}, {end}]")].append(car)
        assert {(row[0], row[1]) for row in theme_rows} == set(impact)
        for theme, window, event_filter, n, caar, low, high in theme_rows:
            assert event_filter == "all"
            assert (n, caar) == pytest.approx(impact[(theme, window)])
            assert (low, high) == pytest.approx(_t_interval(cars[(theme, window)]))
    # What the reader sees is the exact value, rounded.
    for row, texts in zip(theme_rows, shown["texts"]["theme-caar-table"], strict=True):
        assert texts[3] == str(row[3])
        assert texts[4:] == [f"{v * 100:.2f} %" if v is not None else "–" for v in row[4:]]
    chart_points = {(p["theme_code"], p["window_start"], p["window_end"]): p["caar"]
                    for p in shown["figures"]["figure-theme-caar"]}
    assert chart_points == pytest.approx({
        (row[0], *map(int, row[1].strip("[]").split(", "))): row[4]
        for row in theme_rows if row[2] == "all"
    })

    # CAAR curves: the mean CAR path per theme, recomputed from the daily abnormal returns.
    paths = defaultdict(list)
    for event, security, ars in query(serving, """
            select event_id, security_id, list(abnormal_return order by rel_day)
            from marts.fct_abnormal_return_daily group by all"""):
        if all(ar is not None for ar in ars):
            paths[event, security] = [sum(ars[: day + 1]) for day in range(len(ars))]
    by_theme = defaultdict(list)
    for event, security, theme in query(serving, """
            select distinct d.event_id, d.security_id, t.theme_code
            from marts.fct_abnormal_return_daily d join marts.bridge_event_theme using (event_id)
            join marts.dim_theme t using (theme_id)"""):
        if (event, security) in paths:
            by_theme[theme].append(paths[event, security])
    curves = shown["figures"]["figure-caar-curves"]
    assert {point["theme_code"] for point in curves} == set(by_theme)
    for point in curves:
        theme_paths = by_theme[point["theme_code"]]
        day = point["rel_day"] - min(p["rel_day"] for p in curves)
        assert point["n"] == len(theme_paths)
        assert point["mean"] == pytest.approx(sum(p[day] for p in theme_paths) / len(theme_paths))

    # Movers: the largest |car| of the window [-1, 1] (or the first configured one).
    window = [-1, 1] if [-1, 1] in json.loads(windows) else json.loads(windows)[0]
    movers = query(serving, f"""
        select event_id, ticker, event_session::varchar, car, car_t from marts.fct_event_impact
        where status = 'ok' and window_start = {window[0]} and window_end = {window[1]}
        order by abs(car) desc, event_id, security_id limit 10""")
    assert [tuple(row) for row in shown["tables"]["movers-table"]] == movers

    # Timelines: the daily adjusted closes of each entity's security from 30 bars before its
    # first to 30 after its last news session, and that news as mart_entity_daily has it.
    assert shown["entities"]
    for number, entity_id in enumerate(shown["entities"], start=1):
        expected = query(serving, f"""
            with bars as (
                select p.session_date, p.adj_close,
                       row_number() over (order by p.session_date) as bar
                from marts.fct_security_price_daily p
                where p.security_id = (select security_id from marts.dim_entity
                                       where entity_id = '{entity_id}')
            ),
            news as (select * from marts.mart_entity_daily where entity_id = '{entity_id}')
            select b.session_date::varchar, b.adj_close, n.mention_count, n.abnormal_return
            from bars b left join news n on n.session = b.session_date
            where b.bar between (select min(bar) - 30 from bars join news on session = session_date)
                            and (select max(bar) + 30 from bars join news on session = session_date)
            order by b.session_date""")
        plotted = [(p["session"], p["adj_close"], p["mention_count"], p["abnormal_return"])
                   for p in shown["figures"][f"figure-entity-{number}"]]
        assert len(plotted) > 60 and plotted == expected


def _t_interval(values: list[float]) -> tuple[float | None, float | None]:
    if len(values) < 2:
        return None, None
    mean = sum(values) / len(values)
    sd = math.sqrt(sum((value - mean) ** 2 for value in values) / (len(values) - 1))
    half = stats.t.ppf(0.975, len(values) - 1) * sd / math.sqrt(len(values))
    return (None, None) if half == 0 else (mean - half, mean + half)


def test_the_run_summary_names_the_report_and_a_failure_after_publishing(tmp_path):
    from newsimpact.summary import RunSummary

    summary = RunSummary(
        command="run", warehouse_path=tmp_path / "w.duckdb", data_docs=tmp_path / "docs",
        logs_dir=tmp_path / "logs", run_id="r1", run_succeeded=False,
        failed_steps=["serving__report: boom"], published_build="B1",
        report=tmp_path / "w_report.html",
    )

    text = summary.render()
    assert "newsimpact run r1: FAILED after publishing build B1" in text
    assert f"Report (HTML, opens offline): {tmp_path / 'w_report.html'}" in text


def test_the_run_summary_warns_when_a_source_loaded_none_of_what_it_read(tmp_path):
    """Every record read quarantined is no failure (the run goes on and publishes), but likely a
    format change upstream: the summary says so. Duplicates only, or nothing read, is no warning."""
    from newsimpact.summary import RunCounts, RunSummary

    summary = RunSummary(
        command="run", warehouse_path=tmp_path / "w.duckdb", data_docs=tmp_path / "docs",
        logs_dir=tmp_path / "logs", run_id="r1", run_succeeded=True, failed_steps=[],
        published_build="B1",
        this_run=[
            RunCounts("news", read=40, loaded=0, quarantined=40, skipped_files=3, duplicates=2),
            RunCounts("feed", read=5, loaded=0, quarantined=5, skipped_files=0, duplicates=5),
            RunCounts("prices", read=0, loaded=0, quarantined=0, skipped_files=9),
            RunCounts("more_news", read=10, loaded=9, quarantined=1, skipped_files=0),
        ],
    )

    warnings = [line for line in summary.render().splitlines() if "WARNING" in line]
    assert warnings == [
        "  WARNING news: none of the 40 records this run read was loaded, and 38 were quarantined "
        "for a problem (audit.quarantine says which): has the source's format changed?"
    ]


def test_a_build_without_figures_says_so_instead_of_drawing_empty_charts(tiny_serving, tmp_path):
    with duckdb.connect(str(tiny_serving)) as connection:
        connection.execute("update marts.fct_event_impact set status = 'missing_prices'")
        connection.execute("delete from marts.fct_abnormal_return_daily")
        connection.execute("delete from marts.mart_entity_daily")
    html = write_report(tiny_serving, tmp_path / "report.html").read_text(encoding="utf-8")

    assert "<svg" not in html
    assert html.count('<p class="nothing">') == 4  # themes, curves, movers, timelines


def test_the_report_command_needs_a_published_build(tmp_path, capsys):
    config = write_config(tmp_path, news=SAMPLES / "news", prices=SAMPLES / "prices")

    assert main(["report", "--config", str(config)]) == EXIT_FAILED
    assert "no build is published yet" in capsys.readouterr().err
    assert not (tmp_path / "newsimpact_report.html").exists()
