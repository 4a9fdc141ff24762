"""Write–audit–publish end to end: BI readers during a run, a failing gate, `kill -9` at random.

Each test works on its own copy of a site (inputs, config, warehouse folder) built once from the
samples, through the real CLI in separate processes.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from newsimpact.config import Settings, load_settings
from tests.conftest import SAMPLES, newsimpact, snapshot, write_config
from warehouse.publish import read_build_info

pytestmark = pytest.mark.slow

READER = Path(__file__).parent / "serving_reader.py"
# 10 in every `make test` (each a kill, then at once a normal run); NEWSIMPACT_CRASH_TRIALS=20 for more.
CRASH_TRIALS = int(os.environ.get("NEWSIMPACT_CRASH_TRIALS", "10"))


@dataclass(frozen=True)
class Site:
    folder: Path
    config: Path

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    @property
    def news(self) -> Path:
        return self.folder / "inputs" / "news"

    def run(self) -> subprocess.CompletedProcess[str]:
        return newsimpact("run", "--config", str(self.config))

    def served_build(self) -> str:
        return str(read_build_info(self.settings.warehouse_path)["build_id"])

    def add_document(self, name: str, day: int) -> None:
        (self.news / f"{name}.txt").write_text(
            f"---\npublished_at: 2012-03-{day:02d}T15:00:00Z\ntitle: {name}\n---\n"
            f"Apple said something new ({name}).\n$AAPL: Apple Inc.\nProduct_Launch: A launch.\n",
            encoding="utf-8",
        )


def make_site(folder: Path) -> Site:
    inputs = folder / "inputs"
    if not inputs.exists():
        shutil.copytree(SAMPLES / "news", inputs / "news")
        shutil.copytree(SAMPLES / "prices", inputs / "prices")
    return Site(folder, write_config(folder, news=inputs / "news", prices=inputs / "prices"))


@pytest.fixture(scope="module")
def built_site(tmp_path_factory: pytest.TempPathFactory) -> tuple[Site, float]:
    """A site with one published build, and how long that full run took (seconds)."""
    site = make_site(tmp_path_factory.mktemp("built_site"))
    started = time.monotonic()
    result = site.run()
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return site, time.monotonic() - started


@pytest.fixture
def site(built_site: tuple[Site, float], tmp_path: Path) -> Site:
    """A copy of the built site of this test's own."""
    shutil.copytree(built_site[0].folder, tmp_path / "site")
    return make_site(tmp_path / "site")


def start_reader(serving: Path, mode: str, stop: Path) -> subprocess.Popen[str]:
    reader = subprocess.Popen(
        [sys.executable, str(READER), str(serving), mode, str(stop)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    assert reader.stdout.readline().strip() == "ready", reader.stderr.read()
    return reader


def test_bi_readers_and_the_nightly_run_never_block_each_other(site: Site, tmp_path: Path):
    before = site.served_build()
    site.add_document("reader_test_a", 5)
    site.add_document("reader_test_b", 6)
    stop = tmp_path / "stop"
    holding = start_reader(site.settings.warehouse_path, "hold", stop)
    polling = start_reader(site.settings.warehouse_path, "poll", stop)

    result = site.run()
    time.sleep(1.5)  # the polling reader's next connections see the new build
    stop.touch()
    held, polled = (json.loads(reader.communicate(timeout=60)[0]) for reader in (holding, polling))
    print(f"holding reader: {held}\npolling reader: {polled}")  # figures for `pytest -s`

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    after = site.served_build()
    assert after != before
    assert held == {"seen": [before], "errors": [], "incomplete": [], "queries": held["queries"]}
    assert polled == {"seen": [before, after], "errors": [], "incomplete": [],
                      "queries": polled["queries"]}
    assert held["queries"] >= 20 and polled["queries"] >= 20


def test_a_failing_gate_publishes_nothing_and_keeps_yesterdays_file(site: Site):
    serving = site.settings.warehouse_path
    yesterday = site.served_build()
    digest = hashlib.sha256(serving.read_bytes()).hexdigest()
    site.add_document("new_today", 8)  # a change that would be published...
    site.config.write_text(  # ...but a benchmark without prices fails a blocking dbt test
        site.config.read_text(encoding="utf-8") + '\n[event_study]\nbenchmark = "NOSUCH"\n',
        encoding="utf-8",
    )

    result = site.run()
    status = newsimpact("status", "--config", str(site.config))

    assert result.returncode == 1
    assert hashlib.sha256(serving.read_bytes()).hexdigest() == digest
    assert "FAILED, nothing published" in result.stdout
    assert f"BI users still see {yesterday}" in result.stdout
    assert "benchmark 'NOSUCH' (config key event_study.benchmark)" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    assert f"build {yesterday}" in status.stdout and "FAILURE" in status.stdout


def _stale_runs(settings: Settings) -> list[str]:
    with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
        started = instance.get_runs(filters=dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
    return [run.run_id for run in started]


def _work_file_is_free(work: Path, seconds: float = 10) -> bool:
    """No process (an orphaned dbt, say) holds the work file."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            duckdb.connect(str(work)).close()
            return True
        except duckdb.IOException:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)


def test_kill_9_at_random_moments_never_serves_a_half_build_and_the_next_run_recovers(
    site: Site, built_site: tuple[Site, float], tmp_path: Path
):
    rng = random.Random(20261125)
    run_seconds = built_site[1]
    settings = site.settings
    previous = site.served_build()
    for trial in range(CRASH_TRIALS):
        site.add_document(f"crash_{trial}", 1 + trial % 28)
        killed = subprocess.Popen(
            [sys.executable, "-m", "newsimpact", "run", "--config", str(site.config)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(0.5, run_seconds))
        killed.kill()  # SIGKILL: no handler runs, only the kernel cleans up
        killed.wait()

        served = read_build_info(settings.warehouse_path)
        newest_kept = sorted(settings.builds_dir.glob("*.duckdb"))[-1].stem
        # The previous build, or the killed run's own if it got through its publish step.
        assert served["build_id"] in {previous, newest_kept}, trial
        with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
            counts = {
                table: connection.execute(f"select count(*) from {table}").fetchall()[0][0]
                for table in json.loads(served["row_counts"])
            }
        assert counts == json.loads(served["row_counts"]), trial
        assert _work_file_is_free(settings.work_path), f"trial {trial}: the work file is held"

        recovery = site.run()

        assert recovery.returncode == 0, (trial, recovery.stdout[-3000:], recovery.stderr[-3000:])
        assert _stale_runs(settings) == [], trial
        previous = site.served_build()

    clean = make_site(tmp_path / "clean")
    shutil.rmtree(clean.news)
    shutil.copytree(site.news, clean.news)
    assert clean.run().returncode == 0
    # `ingested_at` says when each document was first loaded: the clean build loaded all at once.
    assert snapshot(settings.warehouse_path, without=("ingested_at",)) == snapshot(
        clean.settings.warehouse_path, without=("ingested_at",)
    )


def _free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _skipped_ticks(settings: Settings, after: float) -> list[str]:
    """The skipped ticks of the daemon's schedule since `after` (epoch seconds), as their
    serialised bodies (they hold the skip reason): Dagster's own tick records."""
    database = settings.dagster_home / "schedules" / "schedules.db"
    if not database.exists():
        return []
    with closing(sqlite3.connect(f"{database.as_uri()}?mode=ro", uri=True)) as connection:
        return [body for (body,) in connection.execute(
            "SELECT tick_body FROM job_ticks"
            " WHERE type = 'SCHEDULE' AND status = 'SKIPPED' AND timestamp > ? ORDER BY id",
            [after],
        )]


def test_serve_fires_the_schedule_by_itself_even_after_a_killed_run(site: Site):
    """`newsimpact serve` on a schedule of every minute, after a run was killed mid-way; once
    the scheduled run is sealed, the next minutes skip (nothing changed)."""
    site.config.write_text(
        site.config.read_text(encoding="utf-8") + '\n[schedule]\ncron = "* * * * *"\n',
        encoding="utf-8",
    )
    settings = site.settings
    site.add_document("served_by_the_schedule", 7)
    killed = subprocess.Popen(
        [sys.executable, "-m", "newsimpact", "run", "--config", str(site.config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(12)  # into the run: it is recorded STARTED in the instance
    killed.kill()
    killed.wait()
    port = _free_port()
    serve = subprocess.Popen(
        [sys.executable, "-m", "newsimpact", "serve", "--config", str(site.config),
         "--port", str(port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        deadline = time.monotonic() + 240
        scheduled = []
        while time.monotonic() < deadline and not scheduled:
            time.sleep(5)
            with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
                scheduled = [
                    run for run in instance.get_runs(
                        filters=dg.RunsFilter(tags={"dagster/schedule_name": "newsimpact_nightly"},
                                              statuses=[dg.DagsterRunStatus.SUCCESS])
                    )
                ]
        listening = subprocess.run(
            ["python3", "-c", f"import urllib.request; print(urllib.request.urlopen("
             f"'http://127.0.0.1:{port}/server_info', timeout=10).status)"],
            capture_output=True, text=True,
        ).stdout.strip()
        # the daemon's run status sensor seals the scheduled run; the next ticks skip the night
        seal = settings.state_dir / "run_seal.json"
        while time.monotonic() < deadline + 120 and not seal.exists():
            time.sleep(5)
        sealed_at = time.time()
        skipped = []
        while time.monotonic() < deadline + 240 and not skipped:
            time.sleep(5)
            skipped = _skipped_ticks(settings, after=sealed_at)
        with dg.DagsterInstance.from_config(str(settings.dagster_home)) as instance:
            runs_after_the_seal = [
                record.dagster_run.run_id for record in instance.get_run_records()
                if record.create_timestamp.timestamp() >= sealed_at
            ]
    finally:
        serve.terminate()
        output = serve.communicate(timeout=90)[0]

    assert scheduled, output[-3000:]
    assert listening == "200"
    assert seal.exists(), output[-3000:]
    assert skipped and "nothing changed since the last run" in skipped[0], output[-3000:]
    assert runs_after_the_seal == []
    assert serve.returncode == 0
    assert "served_by_the_schedule" in json.dumps(
        duckdb.connect(str(settings.warehouse_path), read_only=True)
        .sql("select list(event_id) from marts.fct_news_event").fetchall()[0][0]
    )
    assert len(output.splitlines()) < 40, output  # quiet: no daemon heartbeat lines
