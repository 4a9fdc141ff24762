"""Pulled sources end to end, against local stand-ins answering in each service's format
(tests/recorded/services.py), through the production path: the pull job, the landing zone, the
readers, the loaders, and (for the slow tests) dbt, the checks and publish.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from newsimpact.cli import main
from newsimpact.config import Settings, load_settings
from tests.conftest import query, snapshot
from tests.recorded.services import RecordedServices

SEC_CONTACT = "newsimpact tests ci@example.com"
TICKERS = ["^GSPC", "AAPL", "GOOG", "IBM", "MSFT"]
# When a document was first loaded, and the landing file it came from (named by its fetch time):
# the columns two histories of the same inputs differ in.
WITHOUT = ("ingested_at", "file_path")


@dataclass
class Site:
    folder: Path
    config: Path

    @property
    def settings(self) -> Settings:
        return load_settings(self.config)

    def cli(self, *args: str) -> int:
        return main([args[0], "--config", str(self.config), *args[1:]])

    def night(self, day: str) -> int:
        """What the nightly schedule does for `day`: pull that day's partition, then build."""
        return self.cli("backfill", "--from", day, "--to", day)

    def marts(self) -> dict:
        return snapshot(self.settings.warehouse_path, without=WITHOUT)

    def raw(self, sql: str) -> list[tuple]:
        return query(self.settings.work_path, sql)


def make_site(folder: Path, base_url: str, *, retries: int = 0) -> Site:
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "newsimpact.toml"
    tickers = ", ".join(f'"{ticker}"' for ticker in TICKERS)
    config.write_text(
        f"""
[warehouse]
path = "newsimpact.duckdb"

[[sources.news]]
type = "feed"
name = "feeds"
urls = ["{base_url}/feeds/markets.rss"]

[[sources.news]]
type = "gdelt_gkg"
name = "gdelt"
base_url = "{base_url}/gdeltv2/"

[[sources.prices]]
type = "yahoo"
name = "yahoo"
base_url = "{base_url}"
tickers = [{tickers}]

[[sources.securities]]
type = "sec_company_tickers"
name = "sec"
url = "{base_url}/files/company_tickers_exchange.json"

[pull]
start_date = 2012-10-01
timeout_seconds = 1.0
attempts = 2
min_interval_seconds = 0
step_retries = {retries}
retry_delay_seconds = 0
""",
        encoding="utf-8",
    )
    return Site(folder, config)


@pytest.fixture
def services(httpserver, monkeypatch) -> RecordedServices:
    monkeypatch.setenv("NEWSIMPACT_SEC_USER_AGENT", SEC_CONTACT)
    recorded = RecordedServices()
    recorded.install(httpserver)
    return recorded


def base_url(httpserver) -> str:
    return httpserver.url_for("").rstrip("/")


def requests_of(httpserver, since: int = 0) -> list:
    return [request for request, _response in httpserver.log[since:]]


@pytest.mark.slow
def test_two_nights_fetch_only_new_data_and_equal_one_run_over_both_days_and_a_replay(
    tmp_path, httpserver, services
):
    nightly = make_site(tmp_path / "nightly", base_url(httpserver))
    assert nightly.night("2012-10-18") == 0
    first_night = len(httpserver.log)
    services.night = 2
    assert nightly.night("2012-10-19") == 0
    second = requests_of(httpserver, first_night)

    # The second night asked only for what is new.
    by_path = {}
    for request in second:
        by_path.setdefault(request.path, []).append(request)
    feed = by_path["/feeds/markets.rss"][0]
    assert feed.headers.get("If-None-Match")  # a conditional GET
    sec = by_path["/files/company_tickers_exchange.json"][0]
    assert sec.headers.get("If-None-Match") and sec.headers.get("User-Agent") == SEC_CONTACT
    gkg_days = {path.rsplit("/", 1)[1][:8] for path in by_path if path.startswith("/gdeltv2/")}
    assert gkg_days == {"20121019"}  # night 1's slots are landed: never asked again
    charts = [request for request in second if request.path.startswith("/v8/finance/chart/")]
    assert len(charts) == len(TICKERS)
    for request in charts:  # from the last landed session minus the overlap, not the history
        start = datetime.fromtimestamp(int(request.args["period1"]), UTC).date()
        assert (datetime(2012, 10, 19, tzinfo=UTC).date() - start).days <= 10, request.url

    # The rewritten feed item (same guid, new text) replaced its old version.
    titles = [row[0] for row in nightly.raw(
        "select title from raw.news_documents where source_name = 'feeds' order by 1")]
    assert "IBM third-quarter revenue falls short; profit beats" in titles
    assert "IBM third-quarter revenue falls short" not in titles

    once = make_site(tmp_path / "once", base_url(httpserver))
    assert once.cli("backfill", "--from", "2012-10-18", "--to", "2012-10-19") == 0
    assert once.marts() == nightly.marts()

    # Replay: the landing zone alone, the network off.
    replay = make_site(tmp_path / "replay", "http://127.0.0.1:9")  # nothing listens there
    shutil.copytree(nightly.settings.landing_dir, replay.settings.landing_dir)
    before = len(httpserver.log)
    assert replay.cli("run", "--offline") == 0
    assert len(httpserver.log) == before
    assert replay.marts() == nightly.marts()

    # The pulled news reached the marts, linked to securities by the extracted entities.
    linked = query(nightly.settings.warehouse_path, """
        select distinct ticker from marts.fct_event_impact
        where event_id like 'feed-%' or event_id like 'gdelt-%'""")
    assert {"GOOG", "IBM", "MSFT"} <= {row[0] for row in linked}


def pull_and_ingest(site: Site, day: str) -> tuple[dg.ExecuteInProcessResult, dg.ExecuteInProcessResult]:
    """The pull job for `day`, then the ingestion assets alone (no dbt): what a night does up to
    the raw tables."""
    from newsimpact.runs import instance_for
    from orchestration.definitions import PULL_JOB, build_definitions

    settings = site.settings
    definitions = build_definitions(settings)
    raw = dg.AssetSelection.groups("raw")
    with instance_for(settings) as instance:
        pulled = definitions.resolve_job_def(PULL_JOB).execute_in_process(
            instance=instance, partition_key=day, raise_on_error=False
        )
        ingested = definitions.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance,
            asset_selection=list(raw.resolve(definitions.resolve_asset_graph())),
            raise_on_error=False,
        )
    return pulled, ingested


def failed_steps(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """step -> its error, as the run summary shows it (the cause a retry policy wraps)."""
    from newsimpact.summary import _user_error

    return {
        event.step_key: _user_error(event.step_failure_data.error)
        for event in result.get_step_failure_events()
    }


def raw_counts(site: Site) -> dict[str, int]:
    return dict(site.raw("""
        select source_name, count(*) from raw.news_documents group by 1
        union all select source_name, count(*) from raw.prices_daily group by 1
        union all select source_name, count(*) from raw.security_master group by 1"""))


# path of the failing request, the kind of failure, the failed landing step (None when the
# payload is fetched and then quarantined), what the error or quarantine reason says
FAILURES = [
    ("/feeds/markets.rss", "500", "landing__feeds", "HTTP 500"),
    ("/feeds/markets.rss", "slow", "landing__feeds", "timed out"),
    ("/feeds/markets.rss", "redirect_loop", "landing__feeds", "redirect"),
    ("/feeds/markets.rss", "malformed_xml", None, "not an RSS/Atom feed"),
    ("/feeds/markets.rss", "bomb", None, "entit"),
    ("/gdeltv2/20121019001500.gkg.csv.zip", "truncated_zip", None, "zip"),
    ("/v8/finance/chart/IBM", "html", "landing__yahoo", "HTML page"),
    ("/files/company_tickers_exchange.json", "html", "landing__sec", "HTML page"),
]


@pytest.mark.parametrize(("path", "kind", "failed_step", "says"), FAILURES,
                         ids=[f"{kind}-{path.split('/')[-1]}" for path, kind, _, _ in FAILURES])
def test_a_failing_source_ends_in_a_clear_error_or_quarantine_and_loses_nothing(
    tmp_path, httpserver, services, path, kind, failed_step, says
):
    site = make_site(tmp_path / "site", base_url(httpserver))
    pulled, ingested = pull_and_ingest(site, "2012-10-18")
    assert pulled.success and ingested.success, failed_steps(pulled) | failed_steps(ingested)
    before = raw_counts(site)
    assert set(before) == {"feeds", "gdelt", "yahoo", "sec"} and all(before.values())

    services.night = 2
    services.fail(path, kind)
    pulled, ingested = pull_and_ingest(site, "2012-10-19")
    assert ingested.success, failed_steps(ingested)  # the other sources load whatever happened
    failures = failed_steps(pulled)
    after = raw_counts(site)
    if failed_step is not None:
        assert list(failures) == [failed_step]
        assert says in failures[failed_step]
        assert path.split("?")[0] in failures[failed_step]  # names the URL
    else:
        assert failures == {}
        reasons = [row[0] for row in site.raw(
            "select reason from audit.quarantine where quarantined_at = "
            "(select max(quarantined_at) from audit.quarantine)")]
        assert any(says in reason for reason in reasons), reasons
    for source, rows in before.items():  # nothing already loaded is lost
        assert after[source] >= rows, (source, before, after)
    # the tickers that did not fail moved on by a session
    assert site.raw("select max(session_date) from raw.prices_daily where ticker = 'AAPL'") == [
        (datetime(2012, 10, 19).date(),)
    ]
    read, loaded, quarantined = site.raw(
        "select sum(records_read), sum(records_loaded), sum(records_quarantined) "
        "from audit.ingested_files")[0]
    assert read == loaded + quarantined


def test_429_with_retry_after_is_waited_for_and_304_is_unchanged(tmp_path, httpserver, services):
    site = make_site(tmp_path / "site", base_url(httpserver))
    pulled, _ = pull_and_ingest(site, "2012-10-18")
    assert pulled.success
    services.fail("/feeds/markets.rss", "429")
    # the stand-in answers 429 for ever: two attempts, one Retry-After wait of 1 s between them
    started = datetime.now(UTC)
    pulled, _ = pull_and_ingest(site, "2012-10-19")
    assert (datetime.now(UTC) - started).total_seconds() >= 1
    assert "429" in failed_steps(pulled)["landing__feeds"]
    services.failures.clear()
    since = len(httpserver.log)
    pulled, _ = pull_and_ingest(site, "2012-10-19")
    assert pulled.success
    sec = [response for request, response in httpserver.log[since:]
           if request.path == "/files/company_tickers_exchange.json"]
    assert [response.status_code for response in sec] == [304]


@pytest.mark.slow
def test_a_failed_source_is_named_in_the_summary_and_the_rest_is_published(
    tmp_path, httpserver, services, capsys
):
    site = make_site(tmp_path / "site", base_url(httpserver))
    assert site.night("2012-10-18") == 0
    services.night = 2
    services.fail("/feeds/markets.rss", "500")
    capsys.readouterr()
    assert site.night("2012-10-19") == 3  # published, but a source is stale
    output = capsys.readouterr().out
    assert "succeeded, published build" in output
    assert "FAILED feeds: " in output and "HTTP 500" in output
    assert "feeds is stale since its last successful pull" in output
    for source in ("feeds", "gdelt", "yahoo", "sec"):  # per-source counts of the pull
        assert f"  {source} " in output.split("Pulled by this run")[1].split("Ingested")[0]
    # the new day of the other sources is in the published marts
    assert query(site.settings.warehouse_path,
                 "select count(*) from marts.fct_news_event where event_id like 'gdelt-%' "
                 "and published_at >= '2012-10-19'")[0][0] == 1


@pytest.mark.slow
def test_a_five_day_backfill_through_the_cli_equals_one_through_dagsters_partition_api(
    tmp_path, httpserver, services
):
    services.night = 2
    cli = make_site(tmp_path / "cli", base_url(httpserver))
    assert cli.cli("backfill", "--from", "2012-10-15", "--to", "2012-10-19") == 0

    from newsimpact.runs import instance_for
    from orchestration.definitions import PIPELINE_JOB, PULL_JOB, build_definitions

    api = make_site(tmp_path / "api", base_url(httpserver))
    definitions = build_definitions(api.settings)
    with instance_for(api.settings) as instance:
        # one run over the partition range, as the UI's "single run" backfill launches it
        pulled = definitions.resolve_job_def(PULL_JOB).execute_in_process(
            instance=instance,
            tags={
                "dagster/asset_partition_range_start": "2012-10-15",
                "dagster/asset_partition_range_end": "2012-10-19",
            },
        )
        built = definitions.resolve_job_def(PIPELINE_JOB).execute_in_process(instance=instance)
    assert pulled.success and built.success
    gkg_days = {
        request.path.rsplit("/", 1)[1][:8]
        for request, _ in httpserver.log if request.path.startswith("/gdeltv2/")
    }
    assert gkg_days == {f"201210{day}" for day in range(15, 20)}
    assert api.marts() == cli.marts()
    assert query(api.settings.warehouse_path,
                 "select count(*) from marts.fct_news_event where event_id like 'gdelt-%'")[0][0] == 3


def test_a_split_refetches_the_full_history_and_replaces_the_series_whole(
    tmp_path, httpserver, services
):
    site = make_site(tmp_path / "site", base_url(httpserver))
    pulled, ingested = pull_and_ingest(site, "2012-10-18")
    assert pulled.success and ingested.success
    before = dict(site.raw(
        "select session_date, adj_close from raw.prices_daily where ticker = 'AAPL'"))
    services.readjusted = {"AAPL"}  # the provider now halves AAPL's whole adjusted history
    since = len(httpserver.log)
    pulled, ingested = pull_and_ingest(site, "2012-10-19")
    assert pulled.success and ingested.success
    starts = [
        datetime.fromtimestamp(int(request.args["period1"]), UTC).date()
        for request, _ in httpserver.log[since:] if request.path == "/v8/finance/chart/AAPL"
    ]
    assert len(starts) == 2 and starts[1] < starts[0]  # incremental, then the full history again
    after = dict(site.raw(
        "select session_date, adj_close from raw.prices_daily where ticker = 'AAPL'"))
    assert set(before) < set(after)
    # every stored session carries the new adjustment: never a mix of old and new
    assert all(abs(after[day] - before[day] * 0.5) < 1e-9 for day in before)
    others = site.raw("select count(*) from raw.prices_daily where ticker = 'MSFT' "
                      "and session_date = '2012-10-19'")
    assert others == [(1,)]


def test_the_schedule_pulls_the_last_complete_day_and_the_sensors_start_the_build(
    tmp_path, httpserver, services
):
    from newsimpact.runs import instance_for
    from orchestration.definitions import PIPELINE_JOB, build_definitions
    from orchestration.nightly import NIGHTLY_SCHEDULE

    site = make_site(tmp_path / "site", base_url(httpserver))
    documents = tmp_path / "dropped"
    documents.mkdir()
    with site.config.open("a") as config:
        config.write(f'\n[[sources.news]]\ntype = "documents"\nname = "dropped"\npath = "{documents}"\n')
    definitions = build_definitions(site.settings)

    schedule = definitions.resolve_schedule_def(NIGHTLY_SCHEDULE)
    moment = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)
    with dg.build_schedule_context(
        scheduled_execution_time=moment, repository_def=definitions.get_repository_def()
    ) as context:
        (request,) = schedule.evaluate_tick(context).run_requests
    assert request.partition_key == "2026-11-25"

    with instance_for(site.settings) as instance:
        after_pull = definitions.resolve_sensor_def("newsimpact_build_after_pull")
        context = dg.build_sensor_context(instance=instance, definitions=definitions)
        assert not after_pull.evaluate_tick(context).run_requests  # no pull run yet
        pull_and_ingest(site, "2012-10-18")
        result = after_pull.evaluate_tick(dg.build_sensor_context(instance=instance, definitions=definitions))
        assert [r.job_name or PIPELINE_JOB for r in result.run_requests] == [PIPELINE_JOB]
        cursor = result.cursor
        again = after_pull.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=cursor, definitions=definitions))
        assert not again.run_requests  # one build per pull run

    dropped = definitions.resolve_sensor_def("newsimpact_documents_dropped")
    first = dropped.evaluate_tick(dg.build_sensor_context(definitions=definitions))
    assert not first.run_requests  # the folder as it is now is the starting point
    quiet = dropped.evaluate_tick(dg.build_sensor_context(cursor=first.cursor, definitions=definitions))
    assert not quiet.run_requests
    (documents / "new.txt").write_text("---\ntitle: x\n---\nApple said so.\n", encoding="utf-8")
    woken = dropped.evaluate_tick(dg.build_sensor_context(cursor=first.cursor, definitions=definitions))
    assert len(woken.run_requests) == 1
