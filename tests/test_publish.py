"""`warehouse.publish` on small DuckDB files: a build written whole, then one patched from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from warehouse.publish import BuildInfo, build_id_for, publish

GRAINS = {"marts.fct_prices": ("security_id", "session")}


def _info(run_id: str, built_at: datetime) -> BuildInfo:
    return BuildInfo(
        build_id=build_id_for(run_id, built_at), run_id=run_id, built_at=built_at,
        config_path="newsimpact.toml", config_sha256="0" * 64, benchmark="^GSPC", calendar="XNYS",
        estimation_window_start=-250, estimation_window_end=-11, min_estimation_returns=120,
        event_windows="[[0, 0]]", daily_window_start=-5, daily_window_end=10,
        newsimpact_version="test", duckdb_version=duckdb.__version__,
    )


def _comments(path: Path, database: str = "") -> set[tuple[str, str | None, str | None]]:
    """(table, column or None, comment) of every marts table and column but build_info."""
    with duckdb.connect(str(path), read_only=True) as connection:
        return set(connection.execute("""
            SELECT table_name, NULL, nullif(comment, '') FROM duckdb_tables()
            WHERE schema_name = 'marts' AND table_name <> 'build_info'
            UNION ALL
            SELECT table_name, column_name, nullif(comment, '') FROM duckdb_columns()
            WHERE schema_name = 'marts' AND table_name <> 'build_info'
        """).fetchall())


def _rows(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as connection:
        return connection.execute("SELECT * FROM marts.fct_prices ORDER BY ALL").fetchall()


def test_a_patched_build_has_the_work_files_rows_and_comments(tmp_path: Path):
    work, serving, builds = tmp_path / "work.duckdb", tmp_path / "serving.duckdb", tmp_path / "builds"
    with duckdb.connect(str(work)) as connection:
        connection.execute("""
            CREATE SCHEMA marts;
            CREATE TABLE marts.fct_prices AS
            SELECT 'sec_' || (i % 20) AS security_id, DATE '2026-01-01' + CAST(i // 20 AS INTEGER) AS session,
                   CAST(i AS DOUBLE) / 2 AS close
            FROM range(2000) AS t(i);
            COMMENT ON TABLE marts.fct_prices IS 'Daily closes.';
            COMMENT ON COLUMN marts.fct_prices.security_id IS 'The security.';
            COMMENT ON COLUMN marts.fct_prices.session IS 'The session.';
            COMMENT ON COLUMN marts.fct_prices.close IS 'The close.';
        """)
    built_at = datetime(2026, 12, 7, 6, tzinfo=UTC)
    first = publish(work, serving, builds, _info("first-run", built_at), keep=3, grains=GRAINS)
    assert first.patched_from is None
    assert _comments(serving) == _comments(work)

    # A night: one new session (a partition of the second grain column), a changed column
    # comment, a removed one and a changed table comment.
    with duckdb.connect(str(work)) as connection:
        connection.execute("""
            INSERT INTO marts.fct_prices
            SELECT 'sec_' || i, DATE '2026-01-01' + 100, 1.0 FROM range(20) AS t(i);
            COMMENT ON TABLE marts.fct_prices IS 'Daily closes, adjusted.';
            COMMENT ON COLUMN marts.fct_prices.close IS 'The adjusted close.';
            COMMENT ON COLUMN marts.fct_prices.session IS NULL;
        """)
    second = publish(
        work, serving, builds, _info("second-run", built_at + timedelta(days=1)), keep=3,
        grains=GRAINS,
    )
    assert second.patched_from == first.build.stem
    assert second.rows_written == 20  # the new session's partition only
    assert _rows(serving) == _rows(work)
    assert ("fct_prices", None, "Daily closes, adjusted.") in _comments(serving)
    assert _comments(serving) == _comments(work)
    assert _comments(first.build) != _comments(work)  # the kept build is left as it was
