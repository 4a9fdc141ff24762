"""The runner: bounded batches, failures that never crash, offline and pruned Data Docs."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys

import pytest
from quality_fixtures import PARAMS

import warehouse.quality.data_docs as data_docs
import warehouse.quality.runner as runner
from warehouse.quality import load_suites, run_suites, write_data_docs

SESSIONS = load_suites("raw_calendar")


def _many_sessions(warehouse, rows: int) -> None:
    warehouse.execute(
        f"""
        DELETE FROM raw.exchange_sessions;
        INSERT INTO raw.exchange_sessions
        SELECT 'XNYS', day, i, day + INTERVAL 14 HOUR, day + INTERVAL 21 HOUR, false, NOW()
        FROM (SELECT CAST(i AS INTEGER) AS i, DATE '2000-01-01' + CAST(i AS INTEGER) AS day FROM range({rows}) r(i))
        """
    )


def test_a_table_larger_than_a_batch_is_validated_in_batches_up_to_its_last_row(warehouse, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_ROWS", 1000)
    _many_sessions(warehouse, 2500)
    warehouse.execute("UPDATE raw.exchange_sessions SET close_at = open_at WHERE session_index = 2499")

    [outcome] = run_suites(warehouse, SESSIONS, PARAMS)

    assert (outcome.batch_count, outcome.row_count) == (3, 2500)
    assert not outcome.success
    [message] = outcome.failures
    assert "'close_at'" in message and "1 unexpected row of 2500" in message
    assert "session_date=2006-11-04" in message  # the last row: 2000-01-01 + 2499 days


def test_dates_and_timestamps_reach_gx_in_nanoseconds_so_it_compares_them_column_wise(warehouse):
    """GX compares a datetime column with its bounds column-wise only in nanoseconds (else one
    Python call per row); a value beyond what nanoseconds hold keeps its unit, and is still checked."""
    import duckdb

    con = duckdb.connect()
    sql = """
        SELECT DATE '2012-07-26' AS session_date, TIMESTAMPTZ '2012-07-26 20:05:00+00' AS published_at
        UNION ALL SELECT DATE '2012-07-27', TIMESTAMPTZ '2012-07-27 09:00:00+02'
    """
    [frame] = runner._batches(con, sql, {})
    assert {str(dtype) for dtype in frame.dtypes} == {"datetime64[ns]"}
    assert str(frame["published_at"][1]) == "2012-07-27 07:00:00"  # naive UTC
    [far] = runner._batches(con, "SELECT DATE '2300-01-01' AS session_date", {})
    assert str(far["session_date"].dtype) != "datetime64[ns]" and far["session_date"][0].year == 2300

    for too_early_or_late in ("1960-01-01", "2300-01-01"):  # column-wise, then row by row
        warehouse.execute(f"UPDATE raw.prices_daily SET session_date = DATE '{too_early_or_late}' WHERE rowid = 0")
        [outcome] = run_suites(warehouse, load_suites("raw_prices"), PARAMS)
        [message] = outcome.failures
        assert "'session_date'" in message and f"session_date={too_early_or_late}" in message


def test_mostly_is_decided_over_all_batches(warehouse, monkeypatch):
    monkeypatch.setattr(runner, "BATCH_ROWS", 2)
    outliers = load_suites("intermediate")
    outliers = [s for s in outliers if s.name == "int_prices__daily_returns__outliers"]
    warehouse.execute("UPDATE intermediate.int_prices__daily_returns SET \"return\" = 0.7 WHERE session_index = 2")

    [outcome] = run_suites(warehouse, outliers, PARAMS)

    assert outcome.batch_count == 3 and not outcome.success
    assert "2 unexpected rows of 6" in outcome.failures[0]


def test_an_empty_selection_of_a_row_wise_suite_passes_without_calling_gx(warehouse, monkeypatch):
    """Row-by-row expectations hold over no rows: a night that loaded nothing does not import
    GX. Its count of expectations is the suite's, all successful; no page is rendered."""
    warehouse.execute("DELETE FROM raw.exchange_sessions")
    monkeypatch.setattr(runner, "_validate", None)  # calling GX would raise, failing the outcome
    [suite] = SESSIONS
    [outcome] = run_suites(warehouse, SESSIONS, PARAMS)
    assert suite.row_wise and outcome.success and outcome.result is None
    assert (outcome.batch_count, outcome.row_count) == (0, 0)
    assert outcome.evaluated_expectations == outcome.successful_expectations == len(suite.expectations)


def test_gx_itself_passes_every_row_wise_suite_over_no_rows(warehouse):
    """The shortcut above agrees with GX: each row-wise suite of the project, run through GX on
    an empty frame of its columns, has every expectation successful."""
    values = {name: runner._naive_utc(value) for name, value in PARAMS.items()}
    row_wise = [suite for suite in load_suites() if suite.row_wise]
    assert len(row_wise) >= 10
    for suite in row_wise:
        outcome = runner.SuiteOutcome(suite.name, suite.dataset, suite.layer, suite.severity, True, 0, 0)
        frames = runner._batches(warehouse, suite.query(None) + " LIMIT 0", PARAMS)
        totals = runner._validate(suite, runner._PandasDatasource(), frames, values, outcome)
        assert len(totals) == len(suite.expectations), suite.name
        assert all(runner._succeeded(total) for total in totals.values()), suite.name


def test_an_empty_selection_of_a_table_level_suite_is_still_validated_by_gx(warehouse):
    warehouse.execute("DELETE FROM raw.exchange_sessions")
    [sessions] = SESSIONS
    data = {**sessions.data, "expectations": [
        *sessions.expectations,
        {"type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    ]}
    suite = runner.Suite(data, *[getattr(sessions, name) for name in
                                 ("name", "dataset", "layer", "severity", "description", "key")])
    assert not suite.row_wise
    [outcome] = run_suites(warehouse, [suite], PARAMS)
    assert not outcome.success and (outcome.batch_count, outcome.row_count) == (1, 0)
    assert outcome.successful_expectations == len(sessions.expectations)


def test_a_missing_table_is_a_failed_outcome_not_a_crash(warehouse):
    warehouse.execute("DROP TABLE raw.exchange_sessions")
    [outcome] = run_suites(warehouse, SESSIONS, PARAMS)
    assert not outcome.success and outcome.blocks
    assert "raw_exchange_sessions could not run on raw.exchange_sessions" in outcome.failures[0]


def test_a_suite_names_the_rows_a_run_loaded_or_writes_its_own_condition(tmp_path):
    """`loaded_rows` is a name in LOADED_ROWS or a SQL condition; a misspelt name is an error
    naming the file, not a query that fails every night."""
    shipped = runner.SUITES_DIR / "marts" / "fct_event_impact.json"
    data = json.loads(shipped.read_text())
    since = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)
    assert runner.LOADED_ROWS["changed_events"] in runner.Suite.from_file(shipped).query(since)

    own, misspelt = tmp_path / "own.json", tmp_path / "misspelt.json"
    own.write_text(json.dumps({**data, "meta": {**data["meta"], "loaded_rows": "tested.car > 0"}}))
    assert runner.Suite.from_file(own).query(since).endswith(" AS tested WHERE tested.car > 0")
    assert " WHERE " not in runner.Suite.from_file(own).query(None)  # a checks-only run: every row
    misspelt.write_text(json.dumps({**data, "meta": {**data["meta"], "loaded_rows": "changed_event"}}))
    with pytest.raises(ValueError, match=r"misspelt\.json: loaded_rows 'changed_event' is not one of"):
        runner.Suite.from_file(misspelt)


def test_importing_the_package_does_not_import_great_expectations():
    code = "import sys, warehouse.quality, orchestration.quality.checks; print('great_expectations' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_the_data_docs_index_reads_offline_and_lists_every_suite(warehouse, tmp_path):
    warehouse.execute("UPDATE marts.dim_theme SET event_count = -1")
    outcomes = run_suites(warehouse, load_suites(), PARAMS)

    index = write_data_docs(tmp_path, outcomes, run_name="run-1")

    page = index.read_text(encoding="utf-8")
    assert "<script" not in page and not re.search(r"(href|src)=\"https?://", page)
    for outcome in outcomes:
        assert f"<td>{outcome.suite}</td>" in page
        [link] = re.findall(rf'href="(validations/{outcome.suite}/[^"]+\.html)"', page)
        assert (tmp_path / link).exists()
    assert "FAILED" in page and "event_count" in page


def test_data_docs_keep_the_newest_validations_of_each_suite(warehouse, tmp_path, monkeypatch):
    monkeypatch.setattr(data_docs, "KEEP_VALIDATIONS", 2)
    for run in range(3):
        write_data_docs(tmp_path, run_suites(warehouse, SESSIONS, PARAMS), run_name=f"run-{run}")

    folder = tmp_path / "validations" / "raw_exchange_sessions"
    assert len(list(folder.glob("*.html"))) == 2 and len(list(folder.glob("*.json"))) == 2
    assert len(re.findall(r'href="validations/', (tmp_path / "index.html").read_text())) == 2
