"""Incremental builds equal full rebuilds, bit for bit (docs/incremental.md).

Two copies of the sample work file get the same change to their raw tables, night after night:
one is built incrementally (`dbt build`), the other from scratch (`dbt build --full-refresh`).
After every night each intermediate and mart table holds exactly the same rows in both, doubles
compared exactly. The change tables say what the incremental build recomputed, so the test also
sees that a night recomputes only what changed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from tests.conftest import SampleConfig, dbt

# (what happens that night, the SQL applied to both raw layers, the changes the night must see)
NIGHTS = [
    (
        "three months of new bars and the documents of the same months",
        """
        insert into raw.prices_daily select * from held.prices where session_date <= date '2012-12-31';
        insert into raw.news_documents select * from held.documents;
        insert into raw.news_annotations select * from held.annotations;
        """,
        {"prices": {"appended"}, "events": {"new"}},
    ),
    (
        "an echo of Apple's Q1 FY2010 results the day before: it confounds that story's windows",
        """
        insert into raw.news_documents
        select * replace ('echo-' || document_id as document_id, published_at - interval 1 day as published_at)
        from raw.news_documents where document_id = 'apple-2010-01-25-q1-fy2010-results';
        insert into raw.news_annotations
        select * replace ('echo-' || document_id as document_id)
        from raw.news_annotations where document_id = 'apple-2010-01-25-q1-fy2010-results';
        """,
        {"prices": set(), "events": {"new"}},
    ),
    (
        "the echo moved a month later: the stories it confounded no longer are",
        "update raw.news_documents set published_at = published_at + interval 30 day "
        "where document_id = 'echo-apple-2010-01-25-q1-fy2010-results'",
        {"prices": set(), "events": {"relinked"}},
    ),
    (
        "the rest of the bars",
        "insert into raw.prices_daily select * from held.prices where session_date > date '2012-12-31'",
        {"prices": {"appended"}, "events": {"prices"}},
    ),
    (
        "AAPL's whole history re-adjusted (a split)",
        "update raw.prices_daily set adj_close = adj_close / 2 where ticker = 'AAPL'",
        {"prices": {"rewritten"}, "events": {"prices"}},
    ),
    (
        "one MSFT bar corrected mid-history, three documents deleted",
        """
        update raw.prices_daily set adj_close = adj_close * 1.01
        where ticker = 'MSFT' and session_date = date '2011-05-03';
        create temp table gone as select document_id from raw.news_documents order by document_id limit 3;
        delete from raw.news_annotations where document_id in (select document_id from gone);
        delete from raw.news_documents where document_id in (select document_id from gone);
        """,
        {"prices": {"rewritten"}, "events": {"removed", "prices"}},
    ),
    (
        "the benchmark's history re-adjusted from 2012",
        "update raw.prices_daily set adj_close = adj_close * 1.5 "
        "where ticker = '^GSPC' and session_date >= date '2012-01-01'",
        {"prices": {"rewritten", "benchmark"}, "events": {"prices"}},
    ),
    (
        "IBM's bars removed, a document's timestamp moved by three days",
        """
        delete from raw.prices_daily where ticker = 'IBM';
        update raw.news_documents set published_at = published_at + interval 3 day
        where document_id = (select max(document_id) from raw.news_documents where published_at is not null);
        """,
        {"prices": {"removed"}, "events": {"prices", "relinked"}},
    ),
    (
        "the calendar gains a session",
        """
        insert into raw.exchange_sessions
        select calendar_code, session_date + 3, session_index + 1, open_at + interval 3 day,
               close_at + interval 3 day, is_early_close, ingested_at
        from raw.exchange_sessions order by session_index desc limit 1
        """,
        {"prices": {"calendar"}, "events": set()},
    ),
    ("nothing", "select 1", {"prices": set(), "events": set()}),
]

# What the incremental build must show after some nights, besides matching the full rebuild: the
# echo confounds the story's [-1, 1] window, then (moved away) no longer does.
_CONFOUNDERS = (
    "select overlapping_event_ids from intermediate.int_event_windows__overlaps "
    "where event_id = 'apple-2010-01-25-q1-fy2010-results' and window_start = -1 and window_end = 1"
)
AFTER_NIGHT = {
    NIGHTS[1][0]: (_CONFOUNDERS, [(["apple-2010-01-27-ipad-unveiled", "echo-apple-2010-01-25-q1-fy2010-results"],)]),
    NIGHTS[2][0]: (_CONFOUNDERS, [(["apple-2010-01-27-ipad-unveiled"],)]),
}


def _dbt_build(work: Path, folder: Path, dbt_vars: dict, *full_refresh: str) -> None:
    done = dbt(work, folder, dbt_vars, "build", "--quiet", "--exclude-resource-type", "unit_test", *full_refresh)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def _differences(left: Path, right: Path) -> dict[str, tuple[int, int]]:
    """Rows of each intermediate and mart table found in one file and not the other (EXCEPT ALL)."""
    with duckdb.connect() as connection:
        connection.execute(f"attach '{left}' as l (read_only)")
        connection.execute(f"attach '{right}' as r (read_only)")
        tables = connection.execute(
            "select schema_name || '.' || table_name from duckdb_tables() where database_name = 'l' "
            "and schema_name in ('intermediate', 'marts') and table_name not like '%\\_\\_changes' escape '\\'"
        ).fetchall()
        assert len(tables) > 30
        found = {}
        for (table,) in tables:
            counts = [
                connection.execute(
                    f"select count(*) from (select * from {a}.{table} except all select * from {b}.{table})"
                ).fetchall()[0][0]
                for a, b in (("l", "r"), ("r", "l"))
            ]
            if any(counts):
                found[table] = tuple(counts)
        return found


def _change_kinds(work: Path) -> dict[str, set[str]]:
    with duckdb.connect(str(work), read_only=True) as connection:
        return {
            name: {kind for (kind,) in connection.execute(
                f"select distinct change_kind from intermediate.{table}").fetchall()}
            for name, table in (("prices", "int_prices__changes"), ("events", "int_events__changes"))
        }


def _stored_tests(work: Path, table: str = "int_theme_significance__tests") -> set[tuple]:
    """The theme tests (or rank-sum months) with the first row id they are stored under: a
    recomputed one gets new ones."""
    key = "theme_code, window_start, window_end, event_filter"
    if table == "int_theme_significance__rank_sums":
        key += ", event_month"
    with duckdb.connect(str(work), read_only=True) as connection:
        return set(connection.execute(
            f"select min(rowid), {key} from intermediate.{table} group by all").fetchall())


def _leftover_tables(work: Path) -> list[str]:
    with duckdb.connect(str(work), read_only=True) as connection:
        return [name for (name,) in connection.execute(
            "select table_name from duckdb_tables() where table_name like '%dbt_tmp%'").fetchall()]


@pytest.fixture(scope="module")
def truncated_sites(sample_work_file: Path, tmp_path_factory: pytest.TempPathFactory):
    """Two copies of the sample work file without the bars after 2012-10-01 and the documents
    after 2012-06-01 (held aside in another file), both built from scratch."""
    folder = tmp_path_factory.mktemp("incremental")
    held = folder / "held.duckdb"
    with duckdb.connect(str(held)) as connection:
        connection.execute(f"attach '{sample_work_file}' as work (read_only)")
        connection.execute("create table prices as select * from work.raw.prices_daily where session_date > date '2012-10-01'")
        connection.execute("create table documents as select * from work.raw.news_documents where published_at > timestamp '2012-06-01'")
        connection.execute("create table annotations as select * from work.raw.news_annotations where document_id in (select document_id from documents)")
    sites = {name: folder / f"{name}.duckdb" for name in ("incremental", "full")}
    for work in sites.values():
        shutil.copy(sample_work_file, work)
        with duckdb.connect(str(work)) as connection:
            connection.execute(f"attach '{held}' as held (read_only)")
            connection.execute("delete from raw.prices_daily where (ticker, session_date) in (select ticker, session_date from held.prices)")
            connection.execute("delete from raw.news_annotations where document_id in (select document_id from held.documents)")
            connection.execute("delete from raw.news_documents where document_id in (select document_id from held.documents)")
    return folder, held, sites


def test_incremental_nights_equal_full_rebuilds(truncated_sites, sample_config: SampleConfig):
    folder, held, sites = truncated_sites
    dbt_vars = sample_config.event_study.dbt_vars()
    for work in sites.values():
        _dbt_build(work, folder / "profiles" / work.stem, dbt_vars, "--full-refresh")
    for night, sql, expected_kinds in NIGHTS:
        for work in sites.values():
            with duckdb.connect(str(work)) as connection:
                connection.execute(f"attach '{held}' as held (read_only)")
                connection.execute(sql)
        tests_before = _stored_tests(sites["incremental"])
        months_before = _stored_tests(sites["incremental"], "int_theme_significance__rank_sums")
        _dbt_build(sites["incremental"], folder / "profiles" / "incremental", dbt_vars)
        _dbt_build(sites["full"], folder / "profiles" / "full", dbt_vars, "--full-refresh")
        assert _change_kinds(sites["incremental"]) == expected_kinds, night
        assert _differences(sites["incremental"], sites["full"]) == {}, night
        if night in AFTER_NIGHT:
            sql, expected = AFTER_NIGHT[night]
            with duckdb.connect(str(sites["incremental"]), read_only=True) as connection:
                assert connection.execute(sql).fetchall() == expected, night
        # theme tests are recomputed when their CARs changed: always with new events, never without
        # any changed event (a changed history may leave every CAR as it was: a split's halving)
        recomputed = _stored_tests(sites["incremental"]) != tests_before
        if "new" in expected_kinds["events"] or not expected_kinds["events"]:
            assert recomputed == bool(expected_kinds["events"]), night
        # the Corrado rank sums: new events re-rank the months they reach, and keep the older ones
        months_after = _stored_tests(sites["incremental"], "int_theme_significance__rank_sums")
        kept = months_after & months_before
        if not expected_kinds["events"]:
            assert months_after == months_before, night
        elif expected_kinds["events"] == {"new"}:
            assert kept and kept != months_after, night
        assert _leftover_tables(sites["incremental"]) == [], night


def test_entity_days_that_differ_from_their_mentions_are_recomputed(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    """mart_entity_daily's pre-hook deletes the rows that differ from int_entities__daily_mentions
    or are gone from it; the incremental run then adds them again as a full build would: a day
    with another mention count, a priced day stored with another security under the same ticker
    (its prices are that other security's), and a day that no longer has any mention."""
    work = tmp_path / "work.duckdb"
    shutil.copy(sample_work_file, work)
    mart = "marts.mart_entity_daily"
    with duckdb.connect(str(work)) as connection:
        built = connection.execute(f"select * from {mart} order by all").fetchall()
        connection.execute(f"""
            update {mart} set mention_count = mention_count + 1
            where (entity_id, session) = (select (entity_id, session) from {mart} order by all limit 1);
            update {mart} set security_id = 'sec_elsewhere', close = close * 2
            where (entity_id, session) = (
                select (entity_id, session) from {mart} where close is not null order by all desc limit 1
            );
            insert into {mart} (entity_id, session, mention_count)
            values ('ent_no_longer_mentioned', date '2001-01-02', 1);
        """)
        assert connection.execute(f"select * from {mart} order by all").fetchall() != built

    done = dbt(work, tmp_path, sample_config.event_study.dbt_vars(), "run", "--select", "mart_entity_daily")

    assert done.returncode == 0, done.stdout[-4000:]
    with duckdb.connect(str(work), read_only=True) as connection:
        assert connection.execute(f"select * from {mart} order by all").fetchall() == built
