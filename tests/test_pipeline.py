"""The whole job end to end: the real CLI, Dagster job, dbt project and GX suites on DuckDB files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from newsimpact.config import load_settings
from newsimpact.run_seal import SEAL_INPUTS_TAG, break_seal, inputs_digest
from newsimpact.runs import instance_for
from warehouse.publish import read_build_info
from warehouse.schema import ensure_schema
from tests.conftest import SAMPLES, SampleConfig, newsimpact, query, snapshot, write_config

pytestmark = pytest.mark.slow

MARTS = (
    "fct_news_event",
    "dim_entity",
    "dim_security",
    "bridge_event_entity",
    "dim_theme",
    "bridge_event_theme",
    "fct_event_impact",
    "fct_abnormal_return_daily",
    "mart_theme_impact",
    "mart_entity_daily",
    "fct_security_price_daily",
    "fct_event_novelty",
    "fct_event_theme_novelty",
    "mart_session_clustering",
    "fct_event_scar",
    "mart_theme_significance",
)
SEED_DOCUMENT = "000_d3b65a32a009eb2b"


def sample_price_rows() -> int:
    return sum(len(path.read_text().splitlines()) - 1 for path in (SAMPLES / "prices").glob("*.csv"))


def test_the_sample_run_builds_every_mart_of_the_contract(sample_warehouse: Path):
    tables = {name.split(".")[1]: rows for name, rows in snapshot(sample_warehouse).items()}

    assert set(MARTS) <= set(tables)
    assert all(tables[name] for name in MARTS), [name for name in MARTS if not tables[name]]
    assert len(tables["fct_news_event"]) == len(list((SAMPLES / "news").glob("*.txt")))


def test_every_record_read_is_loaded_or_quarantined(sample_warehouse: Path, sample_work_file: Path):
    files = query(
        sample_warehouse,
        "select source_type, file_path, records_read, records_loaded, records_quarantined "
        "from audit.ingested_files",
    )

    assert len(files) == len(list((SAMPLES / "news").glob("*.txt"))) + len(
        list((SAMPLES / "prices").glob("*.csv"))
    )
    assert all(read == loaded + quarantined for _, _, read, loaded, quarantined in files)
    assert query(sample_work_file, "select count(*) from raw.prices_daily") == [(sample_price_rows(),)]


def test_the_seed_document_resolves_to_entities_a_ticker_and_themes(sample_warehouse: Path):
    event = query(
        sample_warehouse,
        f"select published_at, event_session, entity_count, theme_count "
        f"from marts.fct_news_event where event_id = '{SEED_DOCUMENT}'",
    )
    entities = query(
        sample_warehouse,
        f"""
        select e.entity_name, e.entity_type, e.current_ticker, b.via_ticker
        from marts.bridge_event_entity b join marts.dim_entity e using (entity_id)
        where b.event_id = '{SEED_DOCUMENT}' order by e.entity_type
        """,
    )
    themes = query(
        sample_warehouse,
        f"""
        select t.theme_code from marts.bridge_event_theme b join marts.dim_theme t using (theme_id)
        where b.event_id = '{SEED_DOCUMENT}' order by 1
        """,
    )

    assert event == [(None, None, 2, 3)]
    assert entities == [
        ("Meta Platforms, Inc.", "company", "META", True),
        ("Mark Zuckerberg", "person", None, False),
    ]
    assert [code for (code,) in themes] == [
        "AI_Labor_Strategy",
        "Ethics_and_Privacy",
        "Industry_Competition",
    ]


def test_meta_facebook_and_their_tickers_are_one_entity_and_one_security(sample_work_file: Path):
    resolved = query(
        sample_work_file,
        """
        select distinct a.annotation_key, b.entity_id, e.security_id
        from raw.news_annotations a
        join marts.bridge_event_entity b on b.event_id = a.document_id
        join marts.dim_entity e using (entity_id)
        where a.annotation_key in ('Meta', '$META', 'Facebook', 'Facebook, Inc.', '$FB')
          and list_contains(b.mentioned_as_list, a.annotation_key)
        """,
    )

    assert {key for key, _, _ in resolved} == {"Meta", "$META", "Facebook", "Facebook, Inc.", "$FB"}
    assert len({(entity, security) for _, entity, security in resolved}) == 1
    periods = query(
        sample_work_file,
        f"select ticker, valid_from, valid_to from marts.dim_security "
        f"where security_id = '{resolved[0][2]}' order by valid_from",
    )
    assert [(ticker, str(start), str(end)) for ticker, start, end in periods] == [
        ("FB", "2012-05-18", "2022-06-08"),
        ("META", "2022-06-09", "None"),
    ]


def test_impact_rows_exist_for_every_status_of_the_samples(sample_warehouse: Path):
    rows = dict(
        query(
            sample_warehouse,
            "select status, count(*) from marts.fct_event_impact group by status",
        )
    )
    no_timestamp = query(
        sample_warehouse,
        f"select distinct status, ticker from marts.fct_event_impact where event_id = '{SEED_DOCUMENT}'",
    )
    before_listing = query(
        sample_warehouse,
        "select distinct i.status, i.ticker from marts.fct_event_impact i "
        "join marts.fct_news_event n using (event_id) "
        "where i.security_id = 'sec_meta_class_a' and n.published_at < '2012-05-01'",
    )

    assert rows["ok"] > 0
    assert no_timestamp == [("no_timestamp", "META")]
    assert before_listing == [("no_price_coverage", "FB")]


def test_the_run_is_recorded_in_the_instance_dagster_dev_shows(
    sample_config: SampleConfig, sample_warehouse: Path
):
    with dg.DagsterInstance.from_config(str(sample_config.settings.dagster_home)) as instance:
        runs = instance.get_runs()

    assert [run.job_name for run in runs][-1:] == ["newsimpact_pipeline"]
    assert runs[-1].status == dg.DagsterRunStatus.SUCCESS
    assert (sample_config.settings.data_docs_dir / "index.html").exists()


def test_the_run_writes_its_step_times_to_last_run_json(
    sample_config: SampleConfig, sample_warehouse: Path
):
    last_run = json.loads((sample_config.settings.state_dir / "last_run.json").read_text())
    with dg.DagsterInstance.from_config(str(sample_config.settings.dagster_home)) as instance:
        pipeline_runs = [
            run.run_id for run in instance.get_runs() if run.job_name == "newsimpact_pipeline"
        ]

    assert set(last_run) == {"run_id", "status", "total_seconds", "steps"}
    assert last_run["run_id"] in pipeline_runs
    assert last_run["status"] == "succeeded"
    steps = {step["step"]: step["seconds"] for step in last_run["steps"]}
    assert all(set(step) == {"step", "seconds"} for step in last_run["steps"])
    assert {"raw_news", "raw__prices_daily", "newsimpact_dbt_assets", "gx_marts",
            "serving__warehouse", "serving__report"} <= set(steps)
    assert all(isinstance(seconds, float) and seconds >= 0 for seconds in steps.values())
    assert steps["newsimpact_dbt_assets"] > 0
    assert sum(steps.values()) <= last_run["total_seconds"]


def test_running_twice_leaves_identical_marts_and_raw_tables(
    sample_config: SampleConfig, sample_warehouse: Path, sample_work_file: Path
):
    before = snapshot(sample_warehouse), snapshot(sample_work_file, ("raw", "audit"))
    # without the last run's seal (as after a failed run) the pipeline runs and finds no change
    break_seal(sample_config.settings)

    second = newsimpact("run", "--config", str(sample_config.settings.config_path))

    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    this_run = second.stdout.split("Ingested by this run")[1].split("Checks:")[0]
    assert [line.split() for line in this_run.strip().splitlines()[1:]] == [
        ["news[0]", "0", "0", "0", "(0)", "36", "(0)", "0", "(0)"],
        ["prices[0]", "0", "0", "0", "(0)", "6", "(0)", "0", "(0)"],
    ]
    assert (snapshot(sample_warehouse), snapshot(sample_work_file, ("raw", "audit"))) == before
    # nothing changed: nothing built, checked or published
    assert "succeeded, no input changed: build" in second.stdout
    labels = _timing_labels(second.stdout)
    assert {"ingest news", "ingest prices", "dbt build + tests", "total"} <= set(labels)
    assert not {"checks: marts", "publish", "report"} & set(labels)

    # that run sealed its inputs and outputs (`status` reading them leaves the seal whole): the
    # next run returns before the pipeline starts
    status = newsimpact("status", "--config", str(sample_config.settings.config_path))
    assert "\nSealed " in status.stdout, status.stdout
    sealed = newsimpact("run", "--config", str(sample_config.settings.config_path))
    assert sealed.returncode == 0, sealed.stdout[-3000:] + sealed.stderr[-3000:]
    served = read_build_info(sample_warehouse)["build_id"]
    assert f"nothing changed since the last run (sources, config, code): build {served} " \
           "stays published" in sealed.stdout
    assert "Ingested by this run" not in sealed.stdout
    last_run = json.loads((sample_config.settings.state_dir / "last_run.json").read_text())
    assert (last_run["run_id"], last_run["status"]) == (None, "unchanged")
    assert (snapshot(sample_warehouse), snapshot(sample_work_file, ("raw", "audit"))) == before

    # a full refresh builds and publishes again: the same marts
    third = newsimpact("run", "--full-refresh", "--config", str(sample_config.settings.config_path))
    assert third.returncode == 0, third.stdout[-3000:] + third.stderr[-3000:]
    assert snapshot(sample_warehouse) == before[0]
    labels = _timing_labels(third.stdout)
    assert {"ingest news", "ingest prices", "dbt build + tests", "checks: marts", "publish",
            "report", "total"} <= set(labels)
    dbt_row = labels.index("dbt build + tests")
    models = [label for label in labels[dbt_row + 1:] if label.startswith("model ")]
    assert len(models) == 5, labels  # dbt's slowest models, from its run_results.json


def test_the_nightly_schedule_skips_a_sealed_night_and_its_run_is_sealed_after_it_succeeds(
    sample_config: SampleConfig, sample_warehouse: Path
):
    """What `newsimpact serve`'s daemon does each night, with its own tick and sensor calls."""
    from orchestration.definitions import PIPELINE_JOB, build_definitions
    from orchestration.nightly import NIGHTLY_SCHEDULE, SEAL_SENSOR

    settings = sample_config.settings
    definitions = build_definitions(settings)
    schedule = definitions.resolve_schedule_def(NIGHTLY_SCHEDULE)
    seal_sensor = definitions.resolve_sensor_def(SEAL_SENSOR)
    before = snapshot(sample_warehouse)
    break_seal(settings)  # as after a run that failed

    with instance_for(settings) as instance:
        def tick():
            with dg.build_schedule_context(instance=instance) as context:
                return schedule.evaluate_tick(context)

        def seal_after(result: dg.ExecuteInProcessResult):
            (success,) = instance.get_records_for_run(
                result.run_id, of_type=dg.DagsterEventType.RUN_SUCCESS
            ).records
            return seal_sensor(dg.build_run_status_sensor_context(
                sensor_name=SEAL_SENSOR, dagster_event=success.event_log_entry.dagster_event,
                dagster_instance=instance, dagster_run=result.dagster_run,
            ))

        (request,) = tick().run_requests
        assert request.tags[SEAL_INPUTS_TAG] == inputs_digest(settings)
        pipeline = definitions.resolve_job_def(PIPELINE_JOB)
        # a run started by hand is not sealed: what it read was never listed
        by_hand = pipeline.execute_in_process(instance=instance, run_config=request.run_config)
        assert by_hand.success
        assert "not a run of the nightly schedule" in seal_after(by_hand).skip_message
        nightly = pipeline.execute_in_process(
            instance=instance, run_config=request.run_config, tags=request.tags
        )
        assert nightly.success
        assert tick().run_requests  # sealed only once Dagster has recorded the run's success
        assert "sealed:" in seal_after(nightly).skip_message
        skipped = tick()
        assert not skipped.run_requests
        served = read_build_info(sample_warehouse)["build_id"]
        assert skipped.skip_message == (
            f"nothing changed since the last run (sources, config, code): build {served} "
            "stays published"
        )
        # a run after the nightly one: the seal is not written for the earlier run
        assert pipeline.execute_in_process(instance=instance, run_config=request.run_config).success
        assert tick().run_requests
        assert "another run came after it" in seal_after(nightly).skip_message
    assert snapshot(sample_warehouse) == before


def _timing_labels(summary: str) -> list[str]:
    timings = summary.split("Time by step")[1].split("\n\n")[0].splitlines()[1:]
    return [line.rsplit(None, 1)[0].strip() for line in timings]


def _corrupt_inputs(folder: Path) -> tuple[Path, Path]:
    news, prices = folder / "news", folder / "prices"
    shutil.copytree(SAMPLES / "news", news)
    shutil.copytree(SAMPLES / "prices", prices)
    (news / "latin1.txt").write_bytes("Caf\xe9 news body.\nCaf\xe9: a place.\n".encode("latin-1"))
    (news / "broken_front_matter.txt").write_text(
        "---\nid: broken\npublished_at 2012-01-01T10:00:00Z\n---\nBody text.\n", encoding="utf-8"
    )
    with (prices / "IBM.csv").open("a", encoding="utf-8") as ibm:
        ibm.write("IBM,2013-03-04,200.0,190.0,210.0,201.0,201.0,1000\n")  # Low above High
    (prices / "XYZ.csv").write_text(
        "Date,Open,High,Low,Close,Volume\n2012-01-03,10,11,9,10.5,100\nnot-a-date,10,11,9,10.5,100\n",
        encoding="utf-8",
    )
    return news, prices


def test_corrupt_inputs_are_quarantined_and_the_run_finishes(tmp_path: Path):
    news, prices = _corrupt_inputs(tmp_path / "inputs")
    config = write_config(tmp_path / "run", news=news, prices=prices)
    warehouse = load_settings(config).warehouse_path

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    quarantine = query(
        warehouse,
        "select source_type, file_path, row_number, reason from audit.quarantine order by file_path",
    )
    by_file = {(path, row): reason for _, path, row, reason in quarantine}
    assert set(by_file) == {
        ("IBM.csv", 1048),
        ("XYZ.csv", 2),
        ("broken_front_matter.txt", None),
        ("latin1.txt", None),
    }
    assert "UTF-8" in by_file[("latin1.txt", None)]
    assert "front matter" in by_file[("broken_front_matter.txt", None)]
    assert "Low" in by_file[("IBM.csv", 1048)] and "High" in by_file[("IBM.csv", 1048)]
    assert "date" in by_file[("XYZ.csv", 2)].lower()
    totals = query(
        warehouse,
        "select sum(records_read), sum(records_loaded), sum(records_quarantined) "
        "from audit.ingested_files",
    )[0]
    assert totals[0] == totals[1] + totals[2] and totals[2] == 4
    work = load_settings(config).work_path
    assert query(work, "select count(*) from raw.prices_daily where ticker = 'XYZ'") == [(1,)]
    this_run = result.stdout.split("Ingested by this run")[1].split("Checks:")[0]
    # source, read, loaded, quarantined (duplicates), unchanged files (records), removed files
    # (records)
    assert [line.split() for line in this_run.strip().splitlines()[1:]] == [
        ["news[0]", "38", "36", "2", "(0)", "0", "(0)", "0", "(0)"],
        ["prices[0]", str(sample_price_rows() + 3), str(sample_price_rows() + 1), "2", "(0)",
         "0", "(0)", "0", "(0)"],
    ]


def test_a_broken_mart_fails_its_check_and_the_cli_exits_non_zero(
    tmp_path: Path, sample_work_file: Path
):
    config = write_config(tmp_path, news=SAMPLES / "news", prices=SAMPLES / "prices")
    warehouse = load_settings(config).work_path
    warehouse.parent.mkdir(parents=True)
    shutil.copy(sample_work_file, warehouse)  # a built work file of its own, to break
    assert newsimpact("check", "--config", str(config)).returncode == 0
    # A status outside the known set, as a bad model would make. (A duplicate grain fails its
    # unique test in `dbt build`: tests/test_dbt_unique_key.py.)
    with duckdb.connect(str(warehouse)) as connection:
        connection.execute(
            "update marts.fct_event_impact set status = 'delisted' where status = 'no_price_coverage'"
        )

    result = newsimpact("check", "--config", str(config))

    assert result.returncode == 1
    assert "FAILED (blocking) marts/fct_event_impact gx_fct_event_impact" in result.stdout
    assert "expect_column_values_to_be_in_set(column='status'" in result.stdout


def test_an_invalid_config_exits_2_naming_the_key_and_writes_nothing(tmp_path: Path):
    config = write_config(
        tmp_path, news=SAMPLES / "news", prices=SAMPLES / "prices",
        extra="[event_study]\nevent_windows = [[1, 0]]\n",
    )

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 2
    assert "event_study.event_windows[0]" in result.stderr and str(config) in result.stderr
    assert not (tmp_path / "newsimpact.duckdb").exists()


def test_a_bad_cron_exits_2_before_anything_is_written(tmp_path: Path):
    config = write_config(
        tmp_path, news=SAMPLES / "news", prices=SAMPLES / "prices",
        extra="[schedule]\ncron = '0 6 * *'\n",
    )
    settings_path = tmp_path / "newsimpact.duckdb"

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "schedule.cron" in result.stderr and str(config) in result.stderr
    assert "Traceback" not in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["newsimpact.toml"]
    assert not settings_path.exists() and not (tmp_path / ".newsimpact").exists()


def test_a_benchmark_without_prices_fails_the_run_naming_it_and_its_key(tmp_path: Path):
    config = write_config(
        tmp_path, news=SAMPLES / "news", prices=SAMPLES / "prices",
        extra="[event_study]\nbenchmark = 'NOSUCH'\n",
    )

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-3000:]
    assert "FAILED, nothing published" in result.stdout
    assert "FAILED (blocking) intermediate/int_prices__benchmark_returns benchmark_has_enough_returns" in result.stdout
    assert "benchmark 'NOSUCH' (config key event_study.benchmark) has 0 price bars" in result.stdout
    assert not load_settings(config).warehouse_path.exists()


def test_every_linked_security_has_impact_rows_and_the_summary_says_what_is_not_measured(
    tmp_path: Path,
):
    news = tmp_path / "news"
    shutil.copytree(SAMPLES / "news", news)
    (news / "900_gaps.txt").write_text(
        "---\nid: gaps\npublished_at: 2011-08-15T14:00:00Z\n---\n"
        "Nokia shares moved; Zyxcorp Holdings was mentioned.\n"
        "$NOK: $NOK is the ticker of Nokia, in the reference but without a price file.\n"
        "$ZZZQ: $ZZZQ is a ticker known neither to the reference nor to the price files.\n"
        "Zyxcorp Holdings: Zyxcorp Holdings is a company nobody lists.\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path / "run", news=news, prices=SAMPLES / "prices")
    warehouse = load_settings(config).warehouse_path

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    impact = query(
        warehouse,
        "select security_id, ticker, count(*), min(status), max(status) from marts.fct_event_impact "
        "where event_id = 'gaps' group by all order by 1",
    )
    windows = len(load_settings(config).event_study.event_windows)
    assert impact == [
        ("sec_nokia_adr", "NOK", windows, "no_price_coverage", "no_price_coverage"),
        ("tkr_zzzq", "ZZZQ", windows, "no_price_coverage", "no_price_coverage"),
    ]
    unresolved = query(
        warehouse, "select reason, subject_id, name from marts.mart_unresolved_mentions order by all"
    )
    assert ("security_without_prices", "tkr_zzzq", "ZZZQ") in unresolved
    assert ("security_without_prices", "sec_nokia_adr", "NOK") in unresolved
    assert ("company_without_security", "Zyxcorp Holdings") in [(r[0], r[2]) for r in unresolved]
    section = result.stdout.split("Not measured (marts.mart_unresolved_mentions):")[1]
    lines = [line.strip() for line in section.split("\n\n")[0].strip().splitlines()]
    assert len(lines) == 2
    # the sample news name Nokia and Motorola Mobility, listed in the reference but without prices
    assert lines[0] == "3 linked securities without prices: NOK (2), MMI (1), ZZZQ (1)"
    companies = sum(row[0] == "company_without_security" for row in unresolved)
    assert lines[1].startswith(f"{companies} companies named in the news without a security: ")
    assert lines[1].endswith(", ...") and lines[1].count("(") == 5


def test_a_document_from_the_future_is_quarantined_and_the_run_goes_on(tmp_path: Path):
    news = tmp_path / "news"
    news.mkdir()
    (news / "from_the_future.txt").write_text(
        "---\npublished_at: 2099-01-02T10:00:00Z\n---\nApple will report results.\n"
        "Apple: Apple Inc. is a U.S. technology company.\n",
        encoding="utf-8",
    )
    shutil.copy(SAMPLES / "news" / f"{SEED_DOCUMENT}.txt", news)
    config = write_config(tmp_path / "run", news=news, prices=SAMPLES / "prices")

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 0, result.stdout + result.stderr
    settings = load_settings(config)
    [(reason,)] = query(
        settings.warehouse_path,
        "select reason from audit.quarantine where file_path = 'from_the_future.txt'",
    )
    assert reason.startswith("published_at '2099-01-02T10:00:00Z' is outside [1970-01-01")


def test_a_failed_blocking_raw_check_stops_the_models_downstream(tmp_path: Path):
    # The readers quarantine whatever a raw check would reject; the raw checks guard the readers'
    # code. A row that got past them (here written straight into the work file, loaded "now")
    # must still stop the run.
    config = write_config(tmp_path / "run", news=SAMPLES / "news", prices=SAMPLES / "prices")
    settings = load_settings(config)
    settings.work_path.parent.mkdir(parents=True)
    with duckdb.connect(str(settings.work_path)) as con:
        ensure_schema(con)
        con.execute(
            "INSERT INTO raw.news_documents BY NAME SELECT 'from_the_future' AS document_id, "
            "'bypass' AS source_name, 'from_the_future.txt' AS file_path, "
            "TIMESTAMPTZ '2099-01-02 10:00:00+00' AS published_at, 'Apple will report.' AS body, "
            "'{}' AS front_matter, 0.0 AS sentiment, repeat('0', 64) AS content_hash, "
            "TIMESTAMPTZ '2099-01-01 00:00:00+00' AS ingested_at"
        )

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 1
    assert "FAILED, nothing published" in result.stdout
    assert "FAILED (blocking) raw/news_documents gx_raw_news_documents" in result.stdout
    assert "published_at" in result.stdout
    tables = query(
        settings.work_path,
        "select count(*) from information_schema.tables where table_schema = 'marts'",
    )
    assert tables == [(0,)]
    assert not settings.warehouse_path.exists()


def test_a_work_file_held_by_another_process_fails_the_run_with_a_clear_message(
    tmp_path: Path, sample_work_file: Path
):
    config = write_config(tmp_path, news=SAMPLES / "news", prices=SAMPLES / "prices")
    work = load_settings(config).work_path
    work.parent.mkdir(parents=True)
    shutil.copy(sample_work_file, work)
    holder = subprocess.Popen(  # someone who opened the private work file by hand, for writing
        [sys.executable, "-c", f"import duckdb, sys; c = duckdb.connect({str(work)!r}); "
         "print('open', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        result = newsimpact("run", "--config", str(config))
    finally:
        holder.communicate("", timeout=30)

    assert result.returncode == 1
    assert "is open in another process" in result.stdout
    assert f"PID {holder.pid}" in result.stdout


def test_every_published_table_and_column_is_described(sample_warehouse: Path):
    """BI tools show DuckDB comments: dbt's descriptions for marts, the DDL's for audit."""
    undescribed = query(
        sample_warehouse,
        "select schema_name || '.' || table_name from duckdb_tables() "
        "where coalesce(comment, '') = '' "
        "union all select schema_name || '.' || table_name || '.' || column_name "
        "from duckdb_columns() where coalesce(comment, '') = '' and schema_name <> 'main' "
        # DuckDB's own catalogs (information_schema, pg_catalog) are internal and undescribed.
        "and not internal",
    )

    assert undescribed == []


def test_a_work_file_let_go_within_the_wait_does_not_fail_the_step(tmp_path: Path):
    from orchestration.resources import _connect_waiting

    work = tmp_path / "work.duckdb"
    duckdb.connect(str(work)).close()
    holder = subprocess.Popen(  # lets go of the file after 1.5 s
        [sys.executable, "-c", f"import duckdb, time; c = duckdb.connect({str(work)!r}); "
         "print('open', flush=True); time.sleep(1.5); c.close()"],
        stdout=subprocess.PIPE, text=True,
    )
    assert holder.stdout.readline().strip() == "open"

    connection = _connect_waiting(
        work, read_only=False, serving=tmp_path / "serving.duckdb", duckdb_settings={}
    )

    connection.close()
    holder.wait(timeout=30)


def test_a_400_percent_day_is_flagged_not_fatal(tmp_path: Path):
    prices = tmp_path / "prices"
    shutil.copytree(SAMPLES / "prices", prices)
    (prices / "JUMP.csv").write_text(  # possible (a tiny stock, a takeover), if implausible
        "Date,Open,High,Low,Close,Volume\n2012-01-03,10,10,10,10,100\n2012-01-04,50,50,50,50,900\n",
        encoding="utf-8",
    )
    config = write_config(tmp_path / "run", news=SAMPLES / "news", prices=prices)

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 0, result.stdout[-3000:]
    assert "FAILED (warning) intermediate/int_prices__daily_returns gx_int_prices__daily_returns__outliers" in result.stdout
    assert "sec_jump" in result.stdout.lower() or "jump" in result.stdout.lower()
    assert query(load_settings(config).work_path,
                 "select count(*) from raw.prices_daily where ticker = 'JUMP'") == [(2,)]
