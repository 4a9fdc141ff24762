"""ingestion.fetch against a real HTTP server (pytest-httpserver), landing in tmp_path."""

from __future__ import annotations

import json
import logging
import socket
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from ingestion.fetch import (
    FetchOutcome,
    FetchPolicy,
    FetchRequest,
    Fetcher,
    fetch_all,
    parse_retry_after,
    redact_url,
)
from ingestion.landing import META_SUFFIX, landed_payloads

# Tiny backoff and no rate limit, so retries take milliseconds; tests that need them set others.
FAST = FetchPolicy(
    backoff_initial=0.01, backoff_max=0.05, min_interval_seconds=0.0, timeout_seconds=5.0
)
CSV = b"Ticker,Date,Close\nAAPL,2026-11-25,230.5\n"
ETAG = '"v1"'
LAST_MODIFIED = "Wed, 25 Nov 2026 10:00:00 GMT"
SECRET_HEADER = "hdr-s3cr3t-value"
SECRET_QUERY = "qry-s3cr3t-value"


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    return tmp_path / "landing"


def csv_request(httpserver: HTTPServer, path: str = "/prices.csv", **changes) -> FetchRequest:
    request = FetchRequest(
        source_name="prices",
        partition="2026-11-25",
        key="AAPL",
        url=httpserver.url_for(path),
        extension=".csv",
        expect="csv",
    )
    return replace(request, **changes)


def fetch(landing: Path, request: FetchRequest, policy: FetchPolicy = FAST, **kw) -> FetchOutcome:
    with Fetcher(landing, policy, **kw) as fetcher:
        return fetcher.fetch(request)


def landed(landing: Path, source_name: str = "prices") -> list:
    return landed_payloads(landing / source_name)


def sent_headers(httpserver: HTTPServer) -> list:
    return [request.headers for request, _ in httpserver.log]


def test_200_lands_payload_and_sidecar_with_metadata(httpserver: HTTPServer, landing: Path):
    fetched_at = datetime(2026, 11, 26, 1, 2, 3, 456789, tzinfo=UTC)
    httpserver.expect_request("/prices.csv").respond_with_data(
        CSV, content_type="text/csv", headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    )
    request = csv_request(httpserver)

    outcome = fetch(landing, request, now=lambda: fetched_at)

    assert (outcome.status, outcome.http_status, outcome.attempts, outcome.error) == (
        "new", 200, 1, None
    )
    payload = outcome.payload
    assert payload.read_bytes() == CSV
    assert (payload.source_name, payload.partition, payload.key) == ("prices", "2026-11-25", "AAPL")
    assert (payload.url, payload.status, payload.etag) == (request.url, 200, ETAG)
    assert payload.last_modified == LAST_MODIFIED
    assert payload.content_type.startswith("text/csv")
    assert payload.fetched_at == fetched_at
    assert payload.rel_path.startswith("2026-11-25/20261126T010203456789Z-AAPL-")
    assert payload.rel_path.endswith(".csv.gz")
    sidecar = json.loads(Path(str(payload.path) + META_SUFFIX).read_text())
    assert sidecar["etag"] == ETAG and sidecar["size"] == len(CSV)
    assert landed(landing) == [payload]


def test_same_body_again_is_unchanged_and_not_landed_twice(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/prices.csv").respond_with_data(CSV)  # no validators: no 304
    request = csv_request(httpserver)

    first = fetch(landing, request)
    second = fetch(landing, request)

    assert (first.status, second.status) == ("new", "unchanged")
    assert second.payload == first.payload
    assert landed(landing) == [first.payload]


def test_changed_body_lands_a_new_payload(httpserver: HTTPServer, landing: Path):
    httpserver.expect_oneshot_request("/prices.csv").respond_with_data(CSV)
    httpserver.expect_request("/prices.csv").respond_with_data(CSV + b"AAPL,2026-11-26,231\n")
    request = csv_request(httpserver)

    first = fetch(landing, request)
    second = fetch(landing, request)

    assert (first.status, second.status) == ("new", "new")
    assert landed(landing) == [first.payload, second.payload]


def test_conditional_get_sends_etag_and_304_is_unchanged(httpserver: HTTPServer, landing: Path):
    httpserver.expect_oneshot_request("/prices.csv").respond_with_data(
        CSV, headers={"ETag": ETAG}
    )
    httpserver.expect_request("/prices.csv", headers={"If-None-Match": ETAG}).respond_with_data(
        "", status=304
    )
    request = csv_request(httpserver)

    first = fetch(landing, request)
    second = fetch(landing, request)

    first_headers, second_headers = sent_headers(httpserver)
    assert "If-None-Match" not in first_headers
    assert second_headers["If-None-Match"] == ETAG
    assert "If-Modified-Since" not in second_headers
    assert (second.status, second.http_status, second.payload) == ("unchanged", 304, first.payload)
    assert landed(landing) == [first.payload]


def test_conditional_get_sends_last_modified(httpserver: HTTPServer, landing: Path):
    httpserver.expect_oneshot_request("/prices.csv").respond_with_data(
        CSV, headers={"Last-Modified": LAST_MODIFIED}
    )
    httpserver.expect_request(
        "/prices.csv", headers={"If-Modified-Since": LAST_MODIFIED}
    ).respond_with_data("", status=304)
    request = csv_request(httpserver)

    first = fetch(landing, request)
    second = fetch(landing, request)

    assert sent_headers(httpserver)[1]["If-Modified-Since"] == LAST_MODIFIED
    assert "If-None-Match" not in sent_headers(httpserver)[1]
    assert (second.status, second.payload) == ("unchanged", first.payload)


def test_conditional_false_and_other_keys_send_no_validators(
    httpserver: HTTPServer, landing: Path
):
    httpserver.expect_request("/prices.csv").respond_with_data(
        CSV, headers={"ETag": ETAG, "Last-Modified": LAST_MODIFIED}
    )
    fetch(landing, csv_request(httpserver))

    fetch(landing, csv_request(httpserver, conditional=False))
    fetch(landing, csv_request(httpserver, key="MSFT"))

    for headers in sent_headers(httpserver)[1:]:
        assert "If-None-Match" not in headers and "If-Modified-Since" not in headers


@pytest.mark.parametrize("status", [404, 410])
def test_404_and_410_are_missing_without_retry(
    httpserver: HTTPServer, landing: Path, status: int
):
    httpserver.expect_request("/slot.zip").respond_with_data("gone", status=status)

    outcome = fetch(landing, csv_request(httpserver, "/slot.zip"))

    assert (outcome.status, outcome.http_status, outcome.payload, outcome.error) == (
        "missing", status, None, None
    )
    assert len(httpserver.log) == 1
    assert landed(landing) == []


def test_500_is_retried_attempts_times_then_failed(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/prices.csv").respond_with_data("oops", status=500)
    request = csv_request(httpserver)

    outcome = fetch(landing, request)

    assert len(httpserver.log) == FAST.attempts == 4
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", 500, 4)
    assert outcome.error == f"GET {request.url}: HTTP 500 Internal Server Error after 4 attempts"
    assert landed(landing) == []


def test_transient_502_then_200_succeeds(httpserver: HTTPServer, landing: Path):
    httpserver.expect_oneshot_request("/prices.csv").respond_with_data("", status=502)
    httpserver.expect_request("/prices.csv").respond_with_data(CSV)

    outcome = fetch(landing, csv_request(httpserver))

    assert (outcome.status, outcome.attempts) == ("new", 2)
    assert outcome.payload.read_bytes() == CSV


def test_429_waits_retry_after_then_succeeds(httpserver: HTTPServer, landing: Path):
    httpserver.expect_oneshot_request("/prices.csv").respond_with_data(
        "slow down", status=429, headers={"Retry-After": "1"}
    )
    httpserver.expect_request("/prices.csv").respond_with_data(CSV)

    started = time.monotonic()
    outcome = fetch(landing, csv_request(httpserver))
    elapsed = time.monotonic() - started

    assert (outcome.status, outcome.attempts) == ("new", 2)
    assert elapsed >= 1.0  # the server's wait, not the 0.01 s backoff


def test_503_retry_after_above_the_cap_fails_at_once(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/prices.csv").respond_with_data(
        "", status=503, headers={"Retry-After": "600"}
    )

    outcome = fetch(landing, csv_request(httpserver))

    assert len(httpserver.log) == 1
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", 503, 1)
    assert "retry after 600 s, longer than the 300 s allowed" in outcome.error


def test_retry_after_as_http_date_is_read_against_now(httpserver: HTTPServer, landing: Path):
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    retry_at = format_datetime(now + timedelta(minutes=10), usegmt=True)
    httpserver.expect_request("/prices.csv").respond_with_data(
        "", status=429, headers={"Retry-After": retry_at}
    )

    outcome = fetch(landing, csv_request(httpserver), now=lambda: now)

    assert len(httpserver.log) == 1
    assert "retry after 600 s" in outcome.error


def test_parse_retry_after():
    now = datetime(2026, 11, 26, 1, 0, tzinfo=UTC)
    assert parse_retry_after("120", now) == 120.0
    assert parse_retry_after("Thu, 26 Nov 2026 01:00:30 GMT", now) == 30.0
    assert parse_retry_after("Thu, 26 Nov 2026 00:59:00 GMT", now) == 0.0  # already past
    assert parse_retry_after("soon", now) is None
    assert parse_retry_after(None, now) is None


def test_other_4xx_fails_at_once(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/prices.csv").respond_with_data("no", status=403)
    request = csv_request(httpserver)

    outcome = fetch(landing, request)

    assert len(httpserver.log) == 1
    assert outcome.error == f"GET {request.url}: HTTP 403 Forbidden"
    assert (outcome.status, outcome.http_status, outcome.attempts) == ("failed", 403, 1)


def test_timeout_is_retried_then_failed(httpserver: HTTPServer, landing: Path):
    def too_slow(_: Request) -> Response:
        time.sleep(0.7)
        return Response(CSV)

    httpserver.expect_request("/prices.csv").respond_with_handler(too_slow)
    request = csv_request(httpserver)
    policy = replace(FAST, timeout_seconds=0.5, attempts=2)

    started = time.monotonic()
    outcome = fetch(landing, request, policy)

    assert time.monotonic() - started < 3
    assert (outcome.status, outcome.attempts, outcome.http_status) == ("failed", 2, None)
    assert outcome.error == f"GET {request.url}: timed out after 0.5 s (2 attempts)"
    assert landed(landing) == []


def test_connection_refused_is_retried_then_failed(landing: Path):
    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    request = FetchRequest("prices", "2026-11-25", "AAPL", f"http://127.0.0.1:{port}/x", ".csv")

    outcome = fetch(landing, request, replace(FAST, attempts=3))

    assert (outcome.status, outcome.attempts, outcome.http_status) == ("failed", 3, None)
    assert outcome.error.startswith(f"GET {request.url}: ConnectError: ")
    assert outcome.error.endswith(" after 3 attempts")


def test_unsendable_header_fails_at_once_without_quoting_it(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/prices.csv").respond_with_data(CSV)
    request = csv_request(httpserver, headers={"X-Api-Key": SECRET_HEADER + "\n"})  # from env

    outcome = fetch(landing, request)

    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert outcome.error.endswith(": the request could not be sent: a header value is invalid")
    assert SECRET_HEADER not in outcome.error
    assert httpserver.log == []


def test_redirects_are_followed(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/old.csv").respond_with_data(
        "", status=301, headers={"Location": "/new.csv"}
    )
    httpserver.expect_request("/new.csv").respond_with_data(CSV)
    request = csv_request(httpserver, "/old.csv")

    outcome = fetch(landing, request)

    assert outcome.status == "new"
    assert outcome.payload.read_bytes() == CSV
    assert outcome.payload.url == request.url  # what was asked for


def test_redirect_loop_fails_without_retry(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/a").respond_with_data("", status=302, headers={"Location": "/b"})
    httpserver.expect_request("/b").respond_with_data("", status=302, headers={"Location": "/a"})
    request = csv_request(httpserver, "/a")

    outcome = fetch(landing, request)

    assert outcome.error == f"GET {request.url}: too many redirects (more than 5)"
    assert (outcome.status, outcome.attempts) == ("failed", 1)
    assert len(httpserver.log) == 6  # the request and its 5 allowed redirects, once


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<h1>Sign in</h1><title>Sign in &amp; continue</title>", "text/html; charset=utf-8"),
        (b"\n  <!DOCTYPE HTML><html><title>Sign in &amp; continue</title>", "text/csv"),
        (b"\xef\xbb\xbf<HTML lang=en><head><title>\n Sign in &amp;\n continue</title>", None),
    ],
)
def test_html_page_where_csv_expected_fails_and_is_not_landed(
    httpserver: HTTPServer, landing: Path, body: bytes, content_type: str | None
):
    httpserver.expect_request("/prices.csv").respond_with_data(body, content_type=content_type)

    outcome = fetch(landing, csv_request(httpserver))

    assert outcome.status == "failed" and outcome.http_status == 200
    assert outcome.error.endswith(": expected CSV, got an HTML page: Sign in & continue")
    assert landed(landing) == []
    assert not any(landing.rglob("*.gz"))


@pytest.mark.parametrize(
    ("expect", "body", "problem"),
    [
        ("json", b'{"data": [1, 2', "expected JSON, the body does not parse"),
        ("json", b"<html><body>Error</body></html>", "expected JSON, got an HTML page"),
        ("zip", b"not a zip at all", "expected ZIP, the body does not start with b'PK\\x03\\x04'"),
        ("xml", b"<!doctype html><title>Oops</title>", "expected XML, got an HTML page: Oops"),
        ("text", b"<html>captive portal</html>", "expected text, got an HTML page"),
    ],
)
def test_body_not_what_was_expected_fails_and_is_not_landed(
    httpserver: HTTPServer, landing: Path, expect: str, body: bytes, problem: str
):
    httpserver.expect_request("/payload").respond_with_data(body, content_type="text/plain")

    outcome = fetch(landing, csv_request(httpserver, "/payload", expect=expect))

    assert outcome.status == "failed"
    assert problem in outcome.error
    assert landed(landing) == []


@pytest.mark.parametrize(
    ("expect", "extension", "body"),
    [
        ("json", ".json", b'{"data": [1, 2]}'),
        ("zip", ".zip", b"PK\x03\x04 truncated: the parser finds out"),
        ("xml", ".xml", b'<?xml version="1.0"?><rss><channel/></rss>'),
        ("text", ".txt", b"150383 abc http://data.gdeltproject.org/gdeltv2/x.gkg.csv.zip\n"),
        (None, ".txt", b"<html>anything goes without an expectation</html>"),
    ],
)
def test_expected_bodies_are_landed_as_received(
    httpserver: HTTPServer, landing: Path, expect: str | None, extension: str, body: bytes
):
    httpserver.expect_request("/payload").respond_with_data(body)
    request = csv_request(httpserver, "/payload", expect=expect, extension=extension)

    outcome = fetch(landing, request)

    assert outcome.status == "new"
    assert outcome.payload.read_bytes() == body
    assert outcome.payload.stored_gzip == (extension != ".zip")


def test_body_over_max_bytes_fails_and_is_not_landed(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/prices.csv").respond_with_data(b"x" * 1001)
    policy = replace(FAST, max_bytes=1000)

    outcome = fetch(landing, csv_request(httpserver, expect=None), policy)

    assert outcome.status == "failed"
    assert outcome.error.endswith(": body larger than 1,000 bytes")
    assert landed(landing) == []


def test_body_of_exactly_max_bytes_is_landed(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/prices.csv").respond_with_data(b"x" * 1000)

    outcome = fetch(landing, csv_request(httpserver), replace(FAST, max_bytes=1000))

    assert outcome.status == "new" and outcome.payload.size == 1000


class FakeClock:
    """A monotonic clock that only moves when slept on (or advanced by the test)."""

    def __init__(self) -> None:
        self.time = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.time

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.time += seconds


def test_requests_to_one_host_start_min_interval_apart(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/a").respond_with_data("a")
    clock = FakeClock()
    policy = replace(FAST, min_interval_seconds=10.0)
    request = csv_request(httpserver, "/a", expect=None)

    with Fetcher(landing, policy, clock=clock, sleep=clock.sleep) as fetcher:
        fetcher.fetch(request)
        fetcher.fetch(request)
        fetcher.fetch(request)
        assert clock.sleeps == [10.0, 10.0]
        clock.time += 4.0  # time spent elsewhere counts towards the interval
        fetcher.fetch(request)
        assert clock.sleeps == [10.0, 10.0, 6.0]
        other_host = f"http://127.0.0.1:{httpserver.port}/a"  # url_for says localhost
        assert fetcher.fetch(replace(request, url=other_host)).status == "unchanged"
        assert clock.sleeps == [10.0, 10.0, 6.0]  # another host has its own interval

    assert len(httpserver.log) == 5


def test_rate_limit_in_real_time(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/a").respond_with_data("a")
    request = csv_request(httpserver, "/a", expect=None)

    started = time.monotonic()
    with Fetcher(landing, replace(FAST, min_interval_seconds=0.2)) as fetcher:
        outcomes = fetch_all(fetcher, [request, request])
    elapsed = time.monotonic() - started

    assert [outcome.status for outcome in outcomes] == ["new", "unchanged"]
    assert elapsed >= 0.2


def test_every_request_has_the_descriptive_user_agent(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/old").respond_with_data("", status=302, headers={"Location": "/"})
    httpserver.expect_request("/").respond_with_data("ok")

    fetch(landing, csv_request(httpserver, "/old", expect=None))

    user_agents = [headers["User-Agent"] for headers in sent_headers(httpserver)]
    assert user_agents == [FetchPolicy().user_agent] * 2
    assert user_agents[0].startswith("newsimpact/")


def test_secrets_never_stored_printed_or_logged(
    httpserver: HTTPServer,
    landing: Path,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
):
    caplog.set_level(logging.DEBUG)
    httpserver.expect_request("/ok").respond_with_data(CSV)
    httpserver.expect_request("/denied").respond_with_data("no", status=403)
    httpserver.expect_request("/down").respond_with_data("", status=500)
    secret = {"headers": {"X-Api-Key": SECRET_HEADER}}
    query = f"?apikey={SECRET_QUERY}&day=2026-11-25"
    policy = replace(FAST, attempts=2)

    with Fetcher(landing, policy) as fetcher:
        outcomes = fetch_all(
            fetcher,
            [
                csv_request(httpserver, "/ok" + query, **secret),
                csv_request(httpserver, "/denied" + query, **secret),
                csv_request(httpserver, "/down" + query, **secret),
            ],
        )

    # the secrets were really sent
    assert all(request.headers["X-Api-Key"] == SECRET_HEADER for request, _ in httpserver.log)
    assert all(request.args["apikey"] == SECRET_QUERY for request, _ in httpserver.log)
    assert [outcome.status for outcome in outcomes] == ["new", "failed", "failed"]
    assert outcomes[0].payload.url == httpserver.url_for("/ok") + "?apikey=REDACTED&day=2026-11-25"
    assert outcomes[1].error.startswith(f"GET {httpserver.url_for('/denied')}?apikey=REDACTED&")
    sidecars = " ".join(path.read_text() for path in landing.rglob("*" + META_SUFFIX))
    # our side's logs (httpx, httpcore, stamina), not the test server's (werkzeug)
    logged = [r.getMessage() for r in caplog.records if not r.name.startswith("werkzeug")]
    assert any("apikey=REDACTED" in message for message in logged)  # httpx logs every URL
    retries_logged = capsys.readouterr().out  # stamina logs its retries through structlog
    assert "retry_scheduled" in retries_logged + " ".join(logged)
    printed = " ".join([*(outcome.error for outcome in outcomes[1:]), *logged, retries_logged])
    assert "apikey=REDACTED" in sidecars and "apikey=REDACTED" in printed
    for text in (sidecars, printed):
        assert SECRET_HEADER not in text and SECRET_QUERY not in text


def test_secret_headers_do_not_follow_a_redirect_to_another_host(
    httpserver: HTTPServer, landing: Path
):
    elsewhere = f"http://127.0.0.1:{httpserver.port}/cdn"  # url_for says localhost
    httpserver.expect_request("/same").respond_with_data("", 302, {"Location": "/api"})
    httpserver.expect_request("/api").respond_with_data("", 302, {"Location": elsewhere})
    httpserver.expect_request("/cdn").respond_with_data(CSV)
    request = csv_request(httpserver, "/same", headers={"X-Api-Key": SECRET_HEADER})

    outcome = fetch(landing, request)

    assert outcome.status == "new"
    keys = [(request.path, request.headers.get("X-Api-Key")) for request, _ in httpserver.log]
    assert keys == [("/same", SECRET_HEADER), ("/api", SECRET_HEADER), ("/cdn", None)]


def test_redact_url():
    assert redact_url("https://api.example/q?symbol=AAPL&apikey=abc") == (
        "https://api.example/q?symbol=AAPL&apikey=REDACTED"
    )
    assert redact_url("https://u:pw@h/x?Access_Token=1&client_SECRET=2&password=3&q=a+b%5E") == (
        "https://u:REDACTED@h/x?Access_Token=REDACTED&client_SECRET=REDACTED&password=REDACTED"
        "&q=a+b%5E"
    )
    assert redact_url("http://data.gdeltproject.org/gdeltv2/lastupdate.txt") == (
        "http://data.gdeltproject.org/gdeltv2/lastupdate.txt"
    )


def test_fetch_all_keeps_the_order(httpserver: HTTPServer, landing: Path):
    httpserver.expect_request("/here").respond_with_data("here")
    httpserver.expect_request("/gone").respond_with_data("", status=404)
    requests = [
        csv_request(httpserver, "/gone", key="gone", expect=None),
        csv_request(httpserver, "/here", key="here", expect=None),
    ]

    with Fetcher(landing, FAST) as fetcher:
        outcomes = fetch_all(fetcher, requests)

    assert [(o.request, o.status) for o in outcomes] == list(zip(requests, ["missing", "new"]))


def test_unknown_expect_and_a_partition_that_is_not_a_date_are_refused():
    with pytest.raises(ValueError, match="expect must be one of"):
        FetchRequest("s", "2026-11-25", "k", "http://h/", ".txt", expect="yaml")
    with pytest.raises(ValueError, match="partition must be YYYY-MM-DD"):
        FetchRequest("s", "../../etc", "k", "http://h/", ".txt")
