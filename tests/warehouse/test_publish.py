"""Publishing a work file: what the serving file holds, kept builds, rollback, crash leftovers."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from warehouse.publish import (
    BuildInfo,
    Publication,
    RollbackError,
    _fingerprints_query,
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


def publish_number(work: Path, folder: Path, number: int, grains=None, keep: int = 3) -> Publication:
    """Build `number` of `work`, `number` hours after START, into folder/serving.duckdb and
    folder/builds."""
    info = build_info(f"{number:08d}-run", START + timedelta(hours=number))
    return publish(work, folder / "serving.duckdb", folder / "builds", info, keep=keep, grains=grains)


def publish_build(folder: Path, number: int, events: int, keep: int = 3) -> Publication:
    """`publish_number` of a work file of its own with `events` events."""
    return publish_number(make_work_file(folder / f"work{number}.duckdb", events), folder, number, keep=keep)


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
    (builds / "20261125T080000Z-00000002.fingerprints.partial").write_bytes(b"half a file")
    (builds / "20261125T073000Z-00000000.fingerprints").write_bytes(b"of no kept build")
    (tmp_path / "serving.duckdb.wal").write_bytes(b"stale")

    publish_build(tmp_path, 3, events=4)

    assert sorted(path.name for path in builds.iterdir()) == [
        "20261125T070000Z-00000001.duckdb", "20261125T070000Z-00000001.fingerprints",
        "20261125T090000Z-00000003.duckdb", "20261125T090000Z-00000003.fingerprints",
    ]
    assert not (tmp_path / "serving.duckdb.wal").exists()
    assert read_build_info(tmp_path / "serving.duckdb")["build_id"] == "20261125T090000Z-00000003"


def add_prices(work: Path) -> None:
    """marts.fct_prices: tickers a, b, c on days 1..100, grain (day, ticker)."""
    with duckdb.connect(str(work)) as connection:
        connection.execute(
            "CREATE TABLE marts.fct_prices AS SELECT ticker, day, day * 1.5 AS close "
            "FROM (VALUES ('a'), ('b'), ('c')) AS t(ticker), range(1, 101) AS d(day)"
        )


PRICE_GRAINS = {"marts.fct_prices": ("day", "ticker")}


def second_build(
    folder: Path, change: str, grains=PRICE_GRAINS, keep: int = 3
) -> tuple[Path, Publication]:
    """A work file with prices published as build 1, then changed by the SQL `change` and
    published as build 2: the work file and build 2."""
    work = make_work_file(folder / "work.duckdb", events=3)
    add_prices(work)
    publish_number(work, folder, 1, grains, keep=keep)
    with duckdb.connect(str(work)) as connection:
        connection.execute(change)
    return work, publish_number(work, folder, 2, grains, keep=keep)


def test_the_next_build_patches_a_copy_of_the_last_one_rewriting_only_what_changed(tmp_path: Path):
    work = make_work_file(tmp_path / "work.duckdb", events=3)
    add_prices(work)
    first = publish_number(work, tmp_path, 1, PRICE_GRAINS)
    with duckdb.connect(str(first.build), read_only=True) as connection:
        before = connection.execute("SELECT ticker, day, close FROM marts.fct_prices").fetchall()
    with duckdb.connect(str(work)) as connection:
        connection.execute("""
            INSERT INTO marts.fct_prices VALUES ('a', 101, 0.5), ('b', 101, 0.5), ('c', 101, 0.5);
            UPDATE marts.fct_prices SET close = -1 WHERE ticker = 'b' AND day = 50;
            DELETE FROM marts.fct_prices WHERE day = 10;
            COMMENT ON TABLE marts.fct_news_event IS NULL;
            COMMENT ON COLUMN marts.fct_prices.close IS 'Close.';
        """)
        wanted = connection.execute("SELECT * FROM marts.fct_prices ORDER BY ALL").fetchall()

    second = publish_number(work, tmp_path, 2, PRICE_GRAINS)

    assert first.patched_from is None
    assert second.patched_from == "20261125T070000Z-00000001"
    # Days 50 (a changed bar) and 101 (new), 3 bars each, and the 5 rows of the tables without
    # a grain (3 events, 1 quarantine row, 1 file), which are written whole.
    assert second.rows_written == 6 + 5
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as serving:
        stored = serving.execute("SELECT ticker, day, close FROM marts.fct_prices").fetchall()
        comments = serving.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE table_name LIKE 'fct%' ORDER BY 1"
        ).fetchall()
        close_comment = serving.execute(
            "SELECT comment FROM duckdb_columns() WHERE column_name = 'close'"
        ).fetchall()
        info = serving.execute("SELECT patched_from, patches_since_whole, row_counts FROM marts.build_info").fetchall()
    assert sorted(stored) == wanted
    # Unchanged rows keep their places; the rewritten days follow, in the grain's order.
    kept = [row for row in before if row[1] not in (10, 50)]
    assert stored == kept + [("a", 50, 75.0), ("b", 50, -1.0), ("c", 50, 75.0),
                             ("a", 101, 0.5), ("b", 101, 0.5), ("c", 101, 0.5)]
    assert comments == [("fct_news_event", None), ("fct_prices", None)]
    assert close_comment == [("Close.",)]
    assert info[0][:2] == ("20261125T070000Z-00000001", 1)
    assert json.loads(info[0][2])["marts.fct_prices"] == 300


def test_the_next_build_compares_the_work_file_with_the_fingerprints_kept_beside_the_last(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("warehouse.publish.MAX_FREE_SHARE_TO_PATCH", 1.0)  # a patch in a row
    work, second = second_build(tmp_path, "UPDATE marts.fct_prices SET close = -1 WHERE day = 50")
    fingerprints = second.build.with_suffix(".fingerprints")
    with duckdb.connect(str(fingerprints)) as connection:
        # The work side's partitions by day, as the second build holds them.
        assert connection.execute('SELECT count(*) FROM "marts.fct_prices.day"').fetchall() == [(100,)]
        # A wrong fingerprint for day 7: the next build rewrites that day although the work file
        # did not change, so the kept fingerprints are what it compares with, not the build's rows.
        connection.execute('UPDATE "marts.fct_prices.day" SET x = xor(x, 1) WHERE day = 7')

    # 3 bars, and the 5 rows of the tables without a grain, written whole.
    assert publish_number(work, tmp_path, 3, PRICE_GRAINS).rows_written == 3 + 5

    # Without the last build's fingerprints, its rows are hashed: only the changed day is found.
    list_builds(tmp_path / "builds")[-1].with_suffix(".fingerprints").unlink()
    with duckdb.connect(str(work)) as connection:
        connection.execute("UPDATE marts.fct_prices SET close = -2 WHERE day = 60")
        wanted = connection.execute("SELECT * FROM marts.fct_prices ORDER BY ALL").fetchall()
    assert publish_number(work, tmp_path, 4, PRICE_GRAINS).rows_written == 3 + 5
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as serving:
        assert serving.execute("SELECT * FROM marts.fct_prices ORDER BY ALL").fetchall() == wanted


def test_a_table_mostly_changed_or_of_new_columns_is_written_whole_in_its_grains_order(
    tmp_path: Path,
):
    work = make_work_file(tmp_path / "work.duckdb", events=3)
    add_prices(work)
    with duckdb.connect(str(work)) as connection:
        connection.execute("CREATE TABLE marts.fct_volumes AS SELECT * FROM marts.fct_prices")
    grains = {**PRICE_GRAINS, "marts.fct_volumes": ("day", "ticker")}
    publish_number(work, tmp_path, 1, grains)
    with duckdb.connect(str(work)) as connection:
        # every bar of a and b changes (two thirds of the rows); fct_volumes gets a column
        connection.execute("""
            CREATE OR REPLACE TABLE marts.fct_prices AS
                SELECT * FROM marts.fct_prices ORDER BY ticker DESC, day DESC;
            UPDATE marts.fct_prices SET close = close + 1 WHERE ticker IN ('a', 'b');
            ALTER TABLE marts.fct_volumes ADD COLUMN volume INTEGER DEFAULT 7;
        """)

    second = publish_number(work, tmp_path, 2, grains)

    assert second.patched_from == "20261125T070000Z-00000001"
    assert second.rows_written == 300 + 300 + 5
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as serving:
        prices = serving.execute("SELECT day, ticker, close FROM marts.fct_prices").fetchall()
        volumes = serving.execute("SELECT DISTINCT volume FROM marts.fct_volumes").fetchall()
    assert prices == sorted(prices)  # (day, ticker): the grain's order, not the work table's
    assert prices[:2] == [(1, "a", 2.5), (1, "b", 2.5)]
    assert volumes == [(7,)]


def test_a_build_is_written_whole_after_max_patches_in_a_row_or_on_a_new_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr("warehouse.publish.MAX_PATCHES_IN_A_ROW", 2)
    monkeypatch.setattr("warehouse.publish.MAX_FREE_SHARE_TO_PATCH", 1.0)  # tested below
    work = make_work_file(tmp_path / "work.duckdb", events=3)
    add_prices(work)
    infos = [build_info(f"{number:08d}-run", START + timedelta(hours=number)) for number in range(5)]
    infos[4] = replace(infos[4], newsimpact_version="0.2.0")

    published = [
        publish(work, tmp_path / "serving.duckdb", tmp_path / "builds", info, keep=9,
                grains=PRICE_GRAINS)
        for info in infos
    ]

    assert [publication.patched_from is not None for publication in published] == [
        False, True, True, False, False
    ]
    assert [publication.rows_written for publication in published] == [305, 5, 5, 305, 305]
    patches = [read_build_info(publication.build)["patches_since_whole"] for publication in published]
    assert patches == [0, 1, 2, 0, 0]


@pytest.mark.parametrize("max_free_share", [0.0, 1.0])
def test_a_build_with_too_many_free_blocks_is_not_patched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, max_free_share: float
):
    """A patch that rewrites tables frees the blocks they held; past the share, the next build is
    written whole (which compacts the file)."""
    monkeypatch.setattr("warehouse.publish.MAX_FREE_SHARE_TO_PATCH", 1.0)
    work, second = second_build(
        tmp_path, "UPDATE marts.fct_prices SET close = 0 WHERE day <= 20", keep=9
    )
    with duckdb.connect(str(second.build), read_only=True) as connection:
        free_blocks = connection.execute("SELECT free_blocks FROM pragma_database_size()").fetchone()[0]
    monkeypatch.setattr("warehouse.publish.MAX_FREE_SHARE_TO_PATCH", max_free_share)

    third = publish_number(work, tmp_path, 3, PRICE_GRAINS, keep=9)

    assert second.patched_from is not None and free_blocks > 0
    assert (third.patched_from is not None) == (max_free_share == 1.0)


def test_a_table_is_patched_by_the_grain_column_whose_changed_partitions_are_smallest(
    tmp_path: Path,
):
    """Grain (ticker, day): a new day changes every ticker's partition, but one day's only."""
    grains = {"marts.fct_prices": ("ticker", "day")}
    _, second = second_build(
        tmp_path, "INSERT INTO marts.fct_prices VALUES ('a', 101, 1), ('b', 101, 2), ('c', 101, 3)",
        grains,
    )

    assert second.rows_written == 3 + 5
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as serving:
        assert serving.execute("SELECT count(*) FROM marts.fct_prices").fetchall() == [(303,)]


def test_a_change_in_any_column_reaches_the_patched_build(tmp_path: Path):
    """Every column is fingerprinted, even one named like a table alias."""
    work = make_work_file(tmp_path / "work.duckdb", events=3)
    with duckdb.connect(str(work)) as connection:
        connection.execute(
            "CREATE TABLE marts.fct_rows AS SELECT i AS id, 1 AS r, ['x'] AS tags FROM range(50) t(i)"
        )
    grains = {"marts.fct_rows": ("id",)}
    publish_number(work, tmp_path, 1, grains)
    with duckdb.connect(str(work)) as connection:
        connection.execute("UPDATE marts.fct_rows SET tags = ['y'] WHERE id = 7")

    second = publish_number(work, tmp_path, 2, grains)

    assert second.rows_written == 1 + 5
    with duckdb.connect(str(tmp_path / "serving.duckdb"), read_only=True) as serving:
        assert serving.execute("SELECT tags FROM marts.fct_rows WHERE id = 7").fetchall() == [(["y"],)]


def test_the_fingerprints_kept_beside_each_patched_build_are_those_of_its_rows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """They are a patched copy of the last build's: a partition rewritten in the build is
    rewritten in them, and a column not tried (or a table gone) leaves no stale fingerprints."""
    monkeypatch.setattr("warehouse.publish.MAX_FREE_SHARE_TO_PATCH", 1.0)  # patches in a row
    work = make_work_file(tmp_path / "work.duckdb", events=3)
    with duckdb.connect(str(work)) as connection:
        connection.execute("""
            CREATE TABLE marts.fct_bars AS SELECT 't' || ticker AS ticker, day, day * 1.5 AS close
            FROM range(20) AS t(ticker), range(1, 51) AS d(day);
            CREATE TABLE marts.fct_volumes AS SELECT day, 10 AS volume FROM range(1, 51) AS d(day);
        """)
    grains = {"marts.fct_bars": ("ticker", "day"), "marts.fct_volumes": ("day",)}
    changes = [
        None,  # build 1, written whole: no fingerprints yet
        # a new day changes every ticker: both columns are tried, the day patches
        "INSERT INTO marts.fct_bars SELECT 't' || i, 51, 1 FROM range(20) AS t(i);"
        "INSERT INTO marts.fct_volumes VALUES (51, 11)",
        # one ticker's history rewritten: the ticker column is enough, the day's is not tried
        "UPDATE marts.fct_bars SET close = close + 1 WHERE ticker = 't3'",
        # the next day: the day's fingerprints are those of build 3's rows again
        "INSERT INTO marts.fct_bars SELECT 't' || i, 52, 1 FROM range(20) AS t(i)",
        "DROP TABLE marts.fct_volumes",  # its fingerprints go with it
    ]
    stored_tables = []
    for number, change in enumerate(changes, start=1):
        if change:
            with duckdb.connect(str(work)) as connection:
                connection.execute(change)
        build = publish_number(work, tmp_path, number, grains, keep=9).build
        with duckdb.connect(str(build.with_suffix(".fingerprints")), read_only=True) as connection:
            connection.execute(f"ATTACH '{build}' AS build (READ_ONLY)")
            tables = [name for (name,) in connection.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = current_database() ORDER BY 1"
            ).fetchall()]
            for name in tables:
                schema, table, column = name.split(".")
                kept = connection.execute(f'SELECT * FROM "{name}" ORDER BY ALL').fetchall()
                fresh = connection.execute(
                    _fingerprints_query(f'build."{schema}"."{table}"', f'"{column}"') + " ORDER BY ALL"
                ).fetchall()
                assert kept == fresh, f"build {number}: {name}"
            with duckdb.connect(str(work), read_only=True) as work_connection:
                wanted = work_connection.execute("SELECT * FROM marts.fct_bars ORDER BY ALL").fetchall()
            assert connection.execute("SELECT * FROM build.marts.fct_bars ORDER BY ALL").fetchall() == wanted
        stored_tables.append(tables)

    assert stored_tables == [
        [],
        ["marts.fct_bars.day", "marts.fct_bars.ticker", "marts.fct_volumes.day"],
        ["marts.fct_bars.ticker", "marts.fct_volumes.day"],
        ["marts.fct_bars.day", "marts.fct_bars.ticker", "marts.fct_volumes.day"],
        ["marts.fct_bars.ticker"],  # nothing changed: the ticker column was enough
    ]
