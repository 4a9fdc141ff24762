"""The run seal (`newsimpact.run_seal`): what a run with nothing new may skip, and what breaks it.

A site of its own with copies of the samples, its outputs written by hand: no pipeline runs here
(tests/test_pipeline.py runs the CLI on a sealed site)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import duckdb
import pytest
from dagster._daemon.types import DaemonHeartbeat  # what `newsimpact serve`'s daemon writes

from newsimpact.config import Settings, load_settings
from newsimpact import run_seal
from newsimpact.run_seal import code_files, inputs_digest, sealed_build, write_seal
from newsimpact.runs import instance_for
from warehouse.quality.runner import SUITES_DIR
from tests.conftest import SAMPLES, write_config

BUILD_ID = "20261127T000000Z-test"


@pytest.fixture
def site(tmp_path: Path) -> Settings:
    news, prices = tmp_path / "news", tmp_path / "prices"
    shutil.copytree(SAMPLES / "news", news)
    shutil.copytree(SAMPLES / "prices", prices)
    return load_settings(write_config(tmp_path / "site", news=news, prices=prices))


def _shift_mtime(path: Path, seconds: int) -> None:
    info = path.stat()
    os.utime(path, ns=(info.st_atime_ns, info.st_mtime_ns + seconds * 10**9))


def test_the_inputs_digest_sees_every_change_to_a_source_folder_and_to_the_config(site: Settings):
    news = site.news_sources[0].path
    prices = site.price_sources[0].path
    first = inputs_digest(site)
    assert inputs_digest(site) == first

    # a file touched, and touched back
    document = sorted(news.glob("*.txt"))[0]
    _shift_mtime(document, 1)
    assert inputs_digest(site) != first
    _shift_mtime(document, -1)
    assert inputs_digest(site) == first

    # a file moved in with an old modification time (`mv` keeps it), in a subfolder
    (news / "later").mkdir()
    moved = news / "later" / "copy.txt"
    shutil.copy2(document, moved)
    assert inputs_digest(site) != first
    moved.unlink()
    (news / "later").rmdir()
    assert inputs_digest(site) == first

    # a file rewritten to another size, its modification time put back
    bars = prices / "IBM.csv"
    info = bars.stat()
    bars.write_text(bars.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    os.utime(bars, ns=(info.st_atime_ns, info.st_mtime_ns))
    assert inputs_digest(site) != first

    # a file deleted
    changed = inputs_digest(site)
    (prices / "MSFT.csv").unlink()
    assert inputs_digest(site) not in (first, changed)

    # another config: the same folders, another event window
    before = inputs_digest(site)
    config = site.config_path
    config.write_text(config.read_text(encoding="utf-8")
                      + "\n[event_study]\nevent_windows = [[0, 0], [0, 2]]\n", encoding="utf-8")
    assert inputs_digest(load_settings(config)) != before


def test_the_code_is_the_packages_modules_and_suites_not_what_runs_write_beside_them(site: Settings):
    files = code_files()
    assert Path(run_seal.__file__) in files
    assert any(SUITES_DIR in path.parents for path in files)
    # `make run` writes the sample warehouse, its run state and Data Docs into the `warehouse`
    # package's folder of a clone (git-ignored names, removed again)
    first = inputs_digest(site)
    folder = SUITES_DIR.parents[1]
    written = [folder / f"seal_test_{os.getpid()}.duckdb",
               folder / f".seal_test_{os.getpid()}" / "state.py",
               folder / f"seal_test_{os.getpid()}_data_docs" / "index.html"]
    try:
        for path in written:
            path.parent.mkdir(exist_ok=True)
            path.write_text("written by a run", encoding="utf-8")
        assert inputs_digest(site) == first
    finally:
        for path in written:
            path.unlink(missing_ok=True)
            if path.parent != folder:
                path.parent.rmdir()


def _write_outputs(settings: Settings) -> None:
    """A served build and its report, and a work file with nothing left to re-read."""
    settings.state_dir.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.work_path)) as work:
        work.execute("CREATE SCHEMA audit")
        work.execute("CREATE TABLE audit.ingested_files (file_path VARCHAR, needs_reread BOOLEAN)")
        work.execute("INSERT INTO audit.ingested_files VALUES ('a.txt', false), ('b.txt', NULL)")
    with duckdb.connect(str(settings.warehouse_path)) as serving:
        serving.execute("CREATE SCHEMA marts")
        serving.execute(f"CREATE TABLE marts.build_info AS SELECT '{BUILD_ID}' AS build_id")
    settings.report_path.write_text("<html></html>", encoding="utf-8")


def test_a_seal_holds_until_an_output_changes(site: Settings):
    inputs = inputs_digest(site)
    assert sealed_build(site, inputs) is None  # never sealed

    _write_outputs(site)
    assert write_seal(site, inputs)
    assert sealed_build(site, inputs) == BUILD_ID
    assert sealed_build(site, "other inputs") is None

    # the work file written since (a run from the UI, `newsimpact check`)
    _shift_mtime(site.work_path, 1)
    assert sealed_build(site, inputs) is None
    assert write_seal(site, inputs)

    # another build served (a rollback replaces the serving file)
    rolled_back = site.warehouse_path.with_name("previous.duckdb")
    shutil.copy2(site.warehouse_path, rolled_back)
    os.replace(rolled_back, site.warehouse_path)
    assert sealed_build(site, inputs) is None
    assert write_seal(site, inputs)

    # the report deleted
    site.report_path.unlink()
    assert sealed_build(site, inputs) is None
    assert not write_seal(site, inputs)  # nothing sealed without a report of the served build
    site.report_path.write_text("<html></html>", encoding="utf-8")
    assert write_seal(site, inputs)

    # a run recorded by Dagster (from the UI, a sensor or the schedule), even one that did nothing
    # else; not the heartbeats `newsimpact serve`'s daemon writes into the same database
    runs = site.dagster_home / "history" / "runs.db"
    with instance_for(site) as instance:
        assert write_seal(site, inputs)  # the instance created its (empty) run records
        written = runs.stat().st_mtime_ns
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time(), "SENSOR", "test", None))
        assert runs.stat().st_mtime_ns != written
        assert sealed_build(site, inputs) == BUILD_ID

        assert _a_run_that_does_nothing.execute_in_process(instance=instance).success
    assert sealed_build(site, inputs) is None

    # run records that cannot be read: no seal holds, and none is written
    runs.write_bytes(b"not a database")
    assert sealed_build(site, inputs) is None
    assert not write_seal(site, inputs)


@dg.op
def _nothing() -> None:
    pass


@dg.job
def _a_run_that_does_nothing() -> None:
    _nothing()


def test_no_seal_while_the_ingestion_has_files_to_reread(site: Settings):
    inputs = inputs_digest(site)
    _write_outputs(site)
    with duckdb.connect(str(site.work_path)) as work:
        work.execute("UPDATE audit.ingested_files SET needs_reread = true WHERE file_path = 'a.txt'")
    assert not write_seal(site, inputs)
    assert sealed_build(site, inputs) is None


def test_no_seal_while_another_process_holds_the_serving_file_for_writing(site: Settings):
    inputs = inputs_digest(site)
    _write_outputs(site)
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys; connection = duckdb.connect(sys.argv[1]); "
         "print('ready', flush=True); sys.stdin.read()", str(site.warehouse_path)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        assert not write_seal(site, inputs)
    finally:
        holder.communicate("", timeout=60)
    assert write_seal(site, inputs)
