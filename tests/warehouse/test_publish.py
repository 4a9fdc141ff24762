"""Publishing a work file: what the serving file holds, kept builds, rollback, crash leftovers."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse.publish import (
    BuildInfo,
    RollbackError,
    build_id_for,
    list_builds,
    publish,
    read_build_info,
    rollback,
)

START = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def make_work_file(path: Path, events: int) -> Path:
    """A work file as a run leaves it: private schemas, marts with dbt's comments, audit tables."""
    with duckdb.connect(str(path)) as connection:
        connection.execute(
            f"""
            CREATE SCHEMA raw; CREATE SCHEMA marts; CREATE SCHEMA audit;
            CREATE TABLE raw.secret AS SELECT 1 AS x;
            CREATE TABLE marts.fct_news_event AS
                SELECT 'e' || (9 - i) AS event_id, DATE '2012-01-02' + i::INTEGER AS event_session,
                       ['a', 'b'] AS tags
                FROM range({events}) t(i);
            COMMENT ON TABLE marts.fct_news_event IS 'One row per news document.';
            COMMENT ON COLUMN marts.fct_news_event.event_id IS 'The document''s id.';
            CREATE TABLE audit.quarantine AS SELECT 'f.txt' AS file_path, 'empty' AS reason;
            CREATE TABLE audit.ingested_files AS SELECT 'f.txt' AS file_path;
            CREATE TABLE audit.internal_state AS SELECT 1 AS x;
            """
        )
    return path


def build_info(run_id: str, built_at: datetime) -> BuildInfo:
    return BuildInfo(
        build_id=build_id_for(run_id, built_at),
        run_id=run_id,
        built_at=built_at,
        config_path="/x/newsimpact.toml",
        config_sha256="0" * 64,
        benchmark="^GSPC",
        calendar="XNYS",
        estimation_window_start=-250,
        estimation_window_end=-11,
        min_estimation_returns=120,
        event_windows="[[0, 0]]",
        daily_window_start=-10,
        daily_window_end=10,
        newsimpact_version="0.1.0",
        duckdb_version=duckdb.__version__,
    )


def publish_build(folder: Path, number: int, events: int, keep: int = 3) -> Path:
    work = make_work_file(folder / f"work{number}.duckdb", events)
    info = build_info(f"{number:08d}-run", START + timedelta(hours=number))
    return publish(work, folder / "serving.duckdb", folder / "builds", info, keep=keep)


def test_the_serving_file_holds_the_public_tables_with_comments_and_build_info(tmp_path: Path):
    publish_build(tmp_path, 1, events=3)

    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as serving:
        tables = serving.execute(
            "SELECT schema_name || '.' || table_name, comment FROM duckdb_tables() ORDER BY 1"
        ).fetchall()
        columns = dict(serving.execute(
            "SELECT column_name, comment FROM duckdb_columns() "
            "WHERE table_name = 'fct_news_event'"
        ).fetchall())
        rows = serving.execute("SELECT event_id FROM marts.fct_news_event").fetchall()
        storage = serving.execute(
            "SELECT tags['storage_version'] FROM duckdb_databases() WHERE database_name = 'serving'"
        ).fetchall()
    info = read_build_info(tmp_path / "serving.duckdb")

    assert [name for name, _ in tables] == [
        "audit.ingested_files", "audit.quarantine", "marts.build_info", "marts.fct_news_event"
    ]
    assert dict(tables)["marts.fct_news_event"] == "One row per news document."
    assert columns["event_id"] == "The document's id."
    assert rows == [("e7",), ("e8",), ("e9",)]  # stored in a stable order
    assert storage == [("v1.0.0+",)]
    assert info["build_id"] == "20261125T070000Z-00000001"
    assert json.loads(info["row_counts"]) == {
        "audit.ingested_files": 1, "audit.quarantine": 1, "marts.fct_news_event": 3
    }


def test_a_table_with_a_grain_is_stored_in_the_grains_order(tmp_path: Path):
    """By its grain (day, then ticker), not by all its columns (ticker first)."""
    work = make_work_file(tmp_path / "work.duckdb", events=3)
    with duckdb.connect(str(work)) as connection:
        connection.execute(
            "CREATE TABLE marts.fct_prices AS SELECT * FROM (VALUES ('a', 2, 1.0), ('c', 1, 2.0), "
            "('b', 1, 3.0)) AS bars(ticker, day, close)"
        )
    info = build_info("00000001-run", START)
    publish(work, tmp_path / "serving.duckdb", tmp_path / "builds", info, keep=1,
            grains={"marts.fct_prices": ("day", "ticker")})

    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as serving:
        prices = serving.execute("SELECT ticker, day FROM marts.fct_prices").fetchall()
        events = serving.execute("SELECT event_id FROM marts.fct_news_event").fetchall()

    assert prices == [("b", 1), ("c", 1), ("a", 2)]
    assert events == [("e7",), ("e8",), ("e9",)]  # no grain given: by all its columns


def test_the_newest_builds_are_kept_and_rollback_serves_the_one_before(tmp_path: Path):
    for number in range(1, 5):
        publish_build(tmp_path, number, events=number, keep=3)
    serving = tmp_path / "serving.duckdb"

    assert [build.stem for build in list_builds(tmp_path / "builds")] == [
        "20261125T080000Z-00000002", "20261125T090000Z-00000003", "20261125T100000Z-00000004"
    ]
    assert read_build_info(serving)["build_id"] == "20261125T100000Z-00000004"

    rollback(serving, tmp_path / "builds")
    assert read_build_info(serving)["build_id"] == "20261125T090000Z-00000003"
    rollback(serving, tmp_path / "builds")
    assert read_build_info(serving)["build_id"] == "20261125T080000Z-00000002"
    with pytest.raises(RollbackError, match="no build older"):
        rollback(serving, tmp_path / "builds")

    rollback(serving, tmp_path / "builds", to="20261125T100000Z-00000004")
    with duckdb.connect(str(serving), read_only=True) as connection:
        assert connection.sql("SELECT count(*) FROM marts.fct_news_event").fetchall() == [(4,)]
    with pytest.raises(RollbackError, match="no kept build 'nope'"):
        rollback(serving, tmp_path / "builds", to="nope")


def test_a_reader_of_the_old_file_keeps_its_snapshot_while_the_next_one_sees_the_new(
    tmp_path: Path,
):
    publish_build(tmp_path, 1, events=3)
    serving = tmp_path / "serving.duckdb"
    with duckdb.connect(str(serving), read_only=True) as old_reader:
        publish_build(tmp_path, 2, events=5)  # needs no lock on the serving file

        assert old_reader.sql("SELECT count(*) FROM marts.fct_news_event").fetchall() == [(3,)]
        # Another process: within one process DuckDB shares the database a path already has open.
        new_reader = subprocess.run(
            [sys.executable, "-c", "import duckdb, sys; print(duckdb.connect(sys.argv[1], "
             "read_only=True).sql('SELECT count(*) FROM marts.fct_news_event').fetchall())",
             str(serving)],
            capture_output=True, text=True, check=True,
        )
        assert new_reader.stdout.strip() == "[(5,)]"


def test_leftovers_of_a_crashed_publish_are_removed_and_never_served(tmp_path: Path):
    publish_build(tmp_path, 1, events=3)
    builds = tmp_path / "builds"
    (builds / "20261125T080000Z-00000002.duckdb.partial").write_bytes(b"half a file")
    (tmp_path / "serving.duckdb.wal").write_bytes(b"stale")

    publish_build(tmp_path, 3, events=4)

    assert sorted(path.name for path in builds.iterdir()) == [
        "20261125T070000Z-00000001.duckdb", "20261125T090000Z-00000003.duckdb"
    ]
    assert not (tmp_path / "serving.duckdb.wal").exists()
    assert read_build_info(tmp_path / "serving.duckdb")["build_id"] == "20261125T090000Z-00000003"
