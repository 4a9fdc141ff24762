"""The project's dbt data tests fail on the rows they must catch. Its `unique` test on a composite
key (macros/unique_key_test.sql groups by a hash of the key, then by the key itself) passes on the
built rows and fails on a duplicated one, with one failure per repeated key, as dbt's own test
would. The marts declare their grains with it (no primary key, docs/quality.md); on an
incremental table it reads the rows the build recomputed, as the completeness test of
fct_event_impact does. The singular tests of ticker periods and of dense daily series are
broken here too."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from tests.conftest import SampleConfig, dbt

ABNORMAL_RETURNS = "intermediate.int_event_study__abnormal_returns"
SELECT_UNIQUE = "test_name:unique,int_event_study__abnormal_returns"


def _run_data_test(
    work: Path, folder: Path, sample_config: SampleConfig, select: str = SELECT_UNIQUE
) -> dict:
    done = dbt(work, folder, sample_config.event_study.dbt_vars(), "test", "--select", select)
    results = json.loads((folder / "target" / "run_results.json").read_text(encoding="utf-8"))
    [result] = results["results"]
    return {"returncode": done.returncode, "status": result["status"], "failures": result["failures"]}


def _passing_copy(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path, select: str = SELECT_UNIQUE
) -> Path:
    """A copy of the sample work file, on which the selected test passes before it is broken."""
    work = tmp_path / "work.duckdb"
    shutil.copy(sample_work_file, work)
    assert _run_data_test(work, tmp_path / "clean", sample_config, select) == {
        "returncode": 0, "status": "pass", "failures": 0,
    }
    return work


def test_composite_unique_test_fails_on_each_repeated_key(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    work = _passing_copy(sample_work_file, sample_config, tmp_path)
    with duckdb.connect(str(work)) as connection:
        rows = connection.execute(f"select count(*) from {ABNORMAL_RETURNS}").fetchone()[0]
        # Two keys repeated (one of them three times), and a row that differs from a kept one only
        # in rel_day, which is a new key and no failure.
        connection.execute(
            f"""
            insert into {ABNORMAL_RETURNS}
            select * from (select * from {ABNORMAL_RETURNS} order by all limit 1);
            insert into {ABNORMAL_RETURNS}
            select * from (select * from {ABNORMAL_RETURNS} order by all desc limit 1);
            insert into {ABNORMAL_RETURNS}
            select * from (select * from {ABNORMAL_RETURNS} order by all desc limit 1);
            insert into {ABNORMAL_RETURNS}
            select * replace (rel_day + 100000 as rel_day)
            from (select * from {ABNORMAL_RETURNS} order by all limit 1);
            """
        )
        assert connection.execute(f"select count(*) from {ABNORMAL_RETURNS}").fetchone()[0] == rows + 4

    assert _run_data_test(work, tmp_path / "duplicated", sample_config) == {
        "returncode": 1, "status": "fail", "failures": 2,
    }


def test_a_mart_grain_fails_on_a_repeated_key(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    select = "test_name:unique,bridge_event_entity"
    work = _passing_copy(sample_work_file, sample_config, tmp_path, select)
    with duckdb.connect(str(work)) as connection:
        connection.execute(
            "insert into marts.bridge_event_entity select * from marts.bridge_event_entity limit 1"
        )
    assert _run_data_test(work, tmp_path / "duplicated", sample_config, select) == {
        "returncode": 1, "status": "fail", "failures": 1,
    }


def test_the_daily_price_grain_reads_the_days_the_build_recomputed(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    """fct_security_price_daily has no session index: its test reads each changed security's days
    from the session of its change (int_prices__changes) on, the rows the pre-hook deleted."""
    work = tmp_path / "work.duckdb"
    shutil.copy(sample_work_file, work)
    prices = "marts.fct_security_price_daily"
    with duckdb.connect(str(work)) as connection:
        security, first, last = connection.execute(
            f"select security_id, min(session_date), max(session_date) from {prices} "
            "group by all order by security_id limit 1"
        ).fetchone()
        # as after a night that recomputed this security from its last day, and no other
        connection.execute(
            "update intermediate.int_prices__changes set recompute_from_index = ("
            " select session_index from staging.stg_calendar__sessions where session_date = ?)"
            " where security_id = ?",
            [last, security],
        )
        connection.execute(
            "delete from intermediate.int_prices__changes where security_id <> ?", [security]
        )
        for day in (first, last):
            connection.execute(
                f"insert into {prices} select * from {prices} "
                "where security_id = ? and session_date = ?",
                [security, day],
            )
    # the repeated last day is one failure; the first day, kept by that night, was tested before
    select = "test_name:unique,fct_security_price_daily"
    assert _run_data_test(work, tmp_path / "night", sample_config, select) == {
        "returncode": 1, "status": "fail", "failures": 1,
    }


def test_overlapping_ticker_periods_fail_before_they_repeat_a_security_bar(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    """int_prices__security_bars has no grain test of its own: (security, day) is unique because
    the raw bars' key is (ticker, day) and `ticker_periods_do_not_overlap` holds. A period that
    gives security A the ticker of security B too repeats A's days, and that test fails on it."""
    select = "ticker_periods_do_not_overlap"
    work = _passing_copy(sample_work_file, sample_config, tmp_path, select)
    periods = "intermediate.int_securities__ticker_periods"
    bars = "intermediate.int_prices__security_bars"
    with duckdb.connect(str(work)) as connection:
        repeated = f"select count(*) from (select 1 from {bars} group by security_id, session_date having count(*) > 1)"
        assert connection.execute(repeated).fetchone() == (0,)
        # two equities with one open period each, and bars in it
        (a, a_ticker, a_from), (b, b_ticker, b_from) = connection.execute(
            f"""
            select security_id, any_value(ticker), any_value(valid_from)
            from {periods} where security_type = 'equity' group by security_id
            having count(*) = 1 and bool_and(valid_to is null)
               and security_id in (select security_id from {bars})
            order by 1 limit 2
            """
        ).fetchall()
        assert a_from != b_from  # else the periods' (security_id, valid_from) test catches it
        connection.execute(
            f"insert into {periods} select * replace (? as security_id) from {periods} "
            "where security_id = ? and ticker = ?",
            [a, b, b_ticker],
        )
        # from the raw bars alone: the days both tickers have a bar on, in both periods
        both = connection.execute(
            "select count(*) from raw.prices_daily x join raw.prices_daily y using (session_date) "
            "where x.ticker = ? and y.ticker = ? and session_date >= greatest(?, ?)",
            [a_ticker, b_ticker, a_from, b_from],
        ).fetchone()[0]
        assert both > 0
        assert connection.execute(repeated).fetchone() == (both,)
    # b's ticker on two securities at once; a with two overlapping periods
    assert _run_data_test(work, tmp_path / "overlapping", sample_config, select) == {
        "returncode": 1, "status": "fail", "failures": 2,
    }


def test_a_daily_series_with_a_missing_session_fails_the_density_test(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    """The rolling market model's ROWS frame counts sessions by rows: each security's daily series
    must have a row at every session from its first to its last. A series missing a session
    inside it fails the test once per security; one missing its last session does not."""
    select = "int_prices__daily_returns_series_are_dense"
    work = _passing_copy(sample_work_file, sample_config, tmp_path, select)
    daily = "intermediate.int_prices__daily_returns"
    with duckdb.connect(str(work)) as connection:
        spans = connection.execute(
            f"select security_id, min(session_index), max(session_index) from {daily} "
            "group by all having count(*) >= 3 order by 1 limit 3"
        ).fetchall()
        assert len(spans) == 3
        (a, a_first, _), (b, b_first, b_last), (c, _, c_last) = spans
        for security, session in [(a, a_first + 1), (b, (b_first + b_last) // 2), (c, c_last)]:
            connection.execute(
                f"delete from {daily} where security_id = ? and session_index = ?", [security, session]
            )
    assert _run_data_test(work, tmp_path / "gaps", sample_config, select) == {
        "returncode": 1, "status": "fail", "failures": 2,
    }


def test_event_impact_completeness_reads_the_pairs_the_build_recomputed(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    """fct_event_impact_has_every_linked_window compares the linked pairs' windows with the
    table's rows for the pairs int_events__changes lists: a missing or an invented window of a
    recomputed pair fails it; a kept pair was tested by the build that wrote it."""
    select = "fct_event_impact_has_every_linked_window"
    work = _passing_copy(sample_work_file, sample_config, tmp_path, select)
    impact = "marts.fct_event_impact"
    changes = "intermediate.int_events__changes"
    with duckdb.connect(str(work)) as connection:
        (recomputed_event, recomputed_security), (kept_event, kept_security) = connection.execute(
            f"select distinct event_id, security_id from {impact} order by all limit 2"
        ).fetchall()
        # as after a night that recomputed one pair and no other
        connection.execute(
            f"delete from {changes} where (event_id, security_id) <> (?, ?)",
            [recomputed_event, recomputed_security],
        )
        # each pair loses its first window; the recomputed one gains a window nobody configured
        for event, security in [(recomputed_event, recomputed_security), (kept_event, kept_security)]:
            connection.execute(
                f"delete from {impact} where event_id = ? and security_id = ? and (window_start, window_end) = "
                f"(select (window_start, window_end) from {impact} where event_id = ? and security_id = ? "
                "order by all limit 1)",
                [event, security, event, security],
            )
        connection.execute(
            f"insert into {impact} select * replace (window_end + 1000 as window_end) from {impact} "
            "where event_id = ? and security_id = ? order by all limit 1",
            [recomputed_event, recomputed_security],
        )
    assert _run_data_test(work, tmp_path / "night", sample_config, select) == {
        "returncode": 1, "status": "fail", "failures": 2,
    }
