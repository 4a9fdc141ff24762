"""Issue 8 part 1 end to end: nights of `newsimpact run` (the real CLI, Dagster job, dbt, GX and
publish) on copies of the sample folders build incrementally what changed, fall back to a full
refresh when the build key says so, and publish the marts a fresh site builds from the same inputs.

Night 1 holds back AAPL's and MSFT's bars after 2012-10-01 and three documents; the other series
still end on the samples' last date, so the calendar (built up to the data's last date) stays the
same and the change tables list only what the nights change.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from newsimpact.cli import main
from newsimpact.config import EventStudyConfig, Settings, load_settings
from tests.conftest import SAMPLES, query, snapshot, write_config
from warehouse.incremental import build_key, record_build_key, take_build_key
from warehouse.publish import read_build_info

CUT_TICKERS = ("AAPL", "MSFT")
CUT_AFTER = "2012-10-01"
HELD_DOCUMENTS = (
    "031_apple-htc-settlement.txt",
    "033_google-q4-2012-results.txt",
    "035_microsoft-q2-fy2013-results.txt",
)
REWRITTEN_TICKER = "IBM"
# fct_news_event carries where and when each document was read: not the same in another site
INPUT_COLUMNS = ("file_path", "ingested_at")


def _run(config: Path, *flags: str) -> Settings:
    assert main(["run", "--config", str(config), *flags]) == 0
    return load_settings(config)


def _dbt_decision(settings: Settings) -> str:
    """The dbt asset's "dbt: incremental" / "dbt: full refresh (...)" / "dbt: skipped (...)" line
    of the last run."""
    run_id = json.loads((settings.state_dir / "last_run.json").read_text())["run_id"]
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        messages = [entry.user_message for entry in instance.all_logs(run_id)]
    return next(message for message in messages if message.startswith("dbt: "))


def _changes(settings: Settings) -> tuple[set[tuple], set[tuple]]:
    """(security_id, change_kind) of int_prices__changes, (event_id, security_id, change_kind) of
    int_events__changes, as the last build left them in the work file."""
    prices = query(
        settings.work_path, "select security_id, change_kind from intermediate.int_prices__changes"
    )
    events = query(
        settings.work_path,
        "select event_id, security_id, change_kind from intermediate.int_events__changes",
    )
    return set(prices), set(events)


def _security_ids(settings: Settings, tickers: tuple[str, ...]) -> set[str]:
    with duckdb.connect(str(settings.work_path), read_only=True) as connection:
        rows = connection.execute(
            "select distinct security_id from marts.dim_security where list_contains(?, ticker)",
            [list(tickers)],
        ).fetchall()
    return {security_id for (security_id,) in rows}


def _events_read_from(settings: Settings, file_names: tuple[str, ...]) -> set[str]:
    events = query(settings.work_path, "select event_id, file_path from marts.fct_news_event")
    return {event for event, file_path in events if Path(file_path).name in file_names}


def _write_prices(path: Path, rows: list[list[str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        csv.writer(file, lineterminator="\n").writerows(rows)


def _read_prices(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as file:
        return list(csv.reader(file))


@pytest.mark.slow
def test_nights_of_runs_build_incrementally_what_changed(tmp_path: Path):
    news, prices = tmp_path / "inputs" / "news", tmp_path / "inputs" / "prices"
    shutil.copytree(SAMPLES / "news", news)
    shutil.copytree(SAMPLES / "prices", prices)
    config = write_config(tmp_path / "site", news=news, prices=prices)

    # night 1: a first build without the held back bars and documents
    for ticker in CUT_TICKERS:
        header, *bars = _read_prices(prices / f"{ticker}.csv")
        kept = [bar for bar in bars if bar[1] <= CUT_AFTER]
        _write_prices(prices / f"{ticker}.csv", [header, *kept])
    for name in HELD_DOCUMENTS:
        (news / name).unlink()
    settings = _run(config)
    assert _dbt_decision(settings) == "dbt: full refresh (first build, or the last one did not finish)"

    # night 2: the held back bars appended, the held back documents dropped in
    for ticker in CUT_TICKERS:
        shutil.copy(SAMPLES / "prices" / f"{ticker}.csv", prices / f"{ticker}.csv")
    for name in HELD_DOCUMENTS:
        shutil.copy(SAMPLES / "news" / name, news / name)
    _run(config)
    assert _dbt_decision(settings) == "dbt: incremental"
    appended = _security_ids(settings, CUT_TICKERS)
    price_changes, event_changes = _changes(settings)
    assert price_changes == {(security, "appended") for security in appended}
    new_events = {event for event, _, kind in event_changes if kind == "new"}
    assert new_events == _events_read_from(settings, HELD_DOCUMENTS)
    assert {kind for _, _, kind in event_changes} == {"new", "prices"}
    assert {security for _, security, kind in event_changes if kind == "prices"} <= appended

    # night 3: one ticker's history re-adjusted (every adjusted close halved)
    header, *bars = _read_prices(prices / f"{REWRITTEN_TICKER}.csv")
    _write_prices(
        prices / f"{REWRITTEN_TICKER}.csv",
        [header, *([*bar[:6], repr(float(bar[6]) / 2), *bar[7:]] for bar in bars)],
    )
    _run(config)
    assert _dbt_decision(settings) == "dbt: incremental"
    rewritten = _security_ids(settings, (REWRITTEN_TICKER,))
    price_changes, event_changes = _changes(settings)
    assert price_changes == {(security, "rewritten") for security in rewritten}
    assert {(security, kind) for _, security, kind in event_changes} == {
        (security, "prices") for security in rewritten
    }

    # a fresh site built once from the same inputs, its full refresh requested by hand, publishes
    # the marts the three nights built
    fresh = _run(write_config(tmp_path / "fresh", news=news, prices=prices), "--full-refresh")
    assert _dbt_decision(fresh) == "dbt: full refresh (requested)"
    nightly_marts = snapshot(settings.warehouse_path, without=INPUT_COLUMNS)
    assert snapshot(fresh.warehouse_path, without=INPUT_COLUMNS) == nightly_marts

    # night 4: a new event window changes the build key: everything is rebuilt
    windows = [*EventStudyConfig().event_windows, (0, 2)]
    write_config(tmp_path / "site", news=news, prices=prices,
                 extra=f"[event_study]\nevent_windows = {json.dumps(windows)}\n")
    _run(config)
    assert _dbt_decision(settings) == "dbt: full refresh (the config, calendar or models changed)"
    measured_windows = query(
        settings.warehouse_path,
        "select distinct window_start, window_end from marts.fct_event_impact order by all",
    )
    assert measured_windows == sorted(windows)
    rebuilt_marts = snapshot(settings.warehouse_path)

    # night 5: nothing new (a file touched, its content the same): nothing is built, checked or
    # published, BI users keep the same build
    served = read_build_info(settings.warehouse_path)["build_id"]
    touched = news / HELD_DOCUMENTS[0]
    os.utime(touched, ns=(touched.stat().st_atime_ns, touched.stat().st_mtime_ns + 10**9))
    _run(config)
    assert _dbt_decision(settings) == f"dbt: skipped (no input changed since build {served})"
    assert read_build_info(settings.warehouse_path)["build_id"] == served
    assert snapshot(settings.warehouse_path) == rebuilt_marts

    # night 6: nothing new, a full refresh requested: built and published again, the same marts
    _run(config, "--full-refresh")
    assert _dbt_decision(settings) == "dbt: full refresh (requested)"
    assert read_build_info(settings.warehouse_path)["build_id"] != served
    assert snapshot(settings.warehouse_path) == rebuilt_marts


def test_the_build_key_changes_with_the_vars_the_calendar_start_and_the_model_code(tmp_path: Path):
    project = tmp_path / "dbt_project"
    for name in ("dbt_project.yml", "models/prices.sql", "macros/returns.sql", "seeds/themes.csv",
                 "target/compiled.sql", "logs/dbt.log", "README.md"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text(name, encoding="utf-8")
    dbt_vars = {"benchmark_ticker": "^GSPC", "event_windows": [[0, 0], [0, 1]]}
    key = build_key(dbt_vars, "1885-02-02", project)

    assert build_key(dict(reversed(dbt_vars.items())), "1885-02-02", project) == key
    assert build_key({**dbt_vars, "event_windows": [[0, 0], [0, 2]]}, "1885-02-02", project) != key
    assert build_key(dbt_vars, "1990-01-02", project) != key
    # dbt's own output and the project's docs are not code
    for name in ("target/compiled.sql", "logs/dbt.log", "README.md"):
        (project / name).write_text("changed", encoding="utf-8")
    assert build_key(dbt_vars, "1885-02-02", project) == key
    for name in ("models/prices.sql", "macros/returns.sql", "seeds/themes.csv", "dbt_project.yml"):
        before = (project / name).read_text(encoding="utf-8")
        (project / name).write_text(before + " ", encoding="utf-8")
        assert build_key(dbt_vars, "1885-02-02", project) != key, name
        (project / name).write_text(before, encoding="utf-8")
    (project / "models" / "events.sql").write_text("select 1", encoding="utf-8")
    assert build_key(dbt_vars, "1885-02-02", project) != key
    # the Python modules the Python models import are their code too
    library = tmp_path / "event_study_tests.py"
    library.write_text("def tests(): ...", encoding="utf-8")
    key = build_key(dbt_vars, "1885-02-02", project, [library])
    library.write_text("def tests(): return 1", encoding="utf-8")
    assert build_key(dbt_vars, "1885-02-02", project, [library]) != key


def test_a_build_that_does_not_finish_leaves_no_build_key():
    with duckdb.connect() as connection:
        assert take_build_key(connection) is None
        record_build_key(connection, "key of a complete build")
        assert take_build_key(connection) == "key of a complete build"
        # taken at the start of a build that never records its own: the next one finds none
        assert take_build_key(connection) is None
        record_build_key(connection, "first")
        record_build_key(connection, "second")
        assert take_build_key(connection) == "second"
