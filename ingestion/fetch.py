"""Polite HTTP fetching into the landing zone: one GET per request, stored as received.

A fetch sends a descriptive User-Agent, starts at most one request per host per interval, asks
conditionally (If-None-Match / If-Modified-Since from the last payload of the same key), retries
transient failures with exponential backoff and jitter (stamina), honours Retry-After, caps the
body size and checks that the body looks like what was asked for before `land` stores it. Every
outcome is a `FetchOutcome`; nothing the server or the network does raises, so one bad URL
never stops a night. URLs are stored and printed with their secret query parameters redacted;
the caller's extra headers (API keys) are never stored or printed, nor sent on to another host
by a redirect.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Literal
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import httpx
import stamina

from ingestion.landing import LandedPayload, land, landed_payloads

REDACTED = "REDACTED"
TRANSIENT_STATUSES = frozenset({429, 500, 502, 503, 504})
RETRY_AFTER_STATUSES = frozenset({429, 503})
MISSING_STATUSES = frozenset({404, 410})
EXPECTED_NAMES = {"xml": "XML", "json": "JSON", "csv": "CSV", "zip": "ZIP", "text": "text"}
ZIP_MAGIC = b"PK\x03\x04"
_SECRET_PARAM = re.compile(r"key|token|secret|password", re.IGNORECASE)  # "apikey" has "key"
_PARTITION = re.compile(r"\d{4}-\d{2}-\d{2}")
_HTML_START = (b"<!doctype html", b"<html")
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
_SNIFF_BYTES = 64 * 1024  # where an HTML page's start and title are looked for
_TITLE_MAX_CHARS = 120
_SECRET_HEADERS = "newsimpact.secret_headers"  # request extension: (host, caller's header names)


@dataclass(frozen=True)
class FetchPolicy:
    """How politely and how persistently a source is fetched."""

    timeout_seconds: float = 30.0
    attempts: int = 4  # total tries for transient failures
    backoff_initial: float = 1.0  # exponential backoff with jitter between tries (stamina)
    backoff_max: float = 60.0
    max_retry_after: float = 300.0  # a Retry-After longer than this fails instead of waiting
    min_interval_seconds: float = 1.0  # per host: at most one request started per interval
    max_bytes: int = 200 * 1024 * 1024
    max_redirects: int = 5
    user_agent: str = (
        "newsimpact/0.1 (batch news and price warehouse; +https://github.com/newsimpact/newsimpact)"
    )


@dataclass(frozen=True)
class FetchRequest:
    """One payload to fetch, and where in the landing zone it goes."""

    source_name: str
    partition: str  # "YYYY-MM-DD"
    # What is asked for (a feed URL, a ticker, a GKG slot); the last payload of the same
    # (source_name, key) is the one a conditional GET and the unchanged-body check compare with.
    key: str
    url: str
    extension: str  # ".xml", ".json", ".csv", ".zip", ".txt"
    expect: str | None = None  # "xml" | "json" | "csv" | "zip" | "text" | None: a valid body
    conditional: bool = True  # send If-None-Match / If-Modified-Since from the last payload
    headers: Mapping[str, str] = field(default_factory=dict)  # extra headers, e.g. secrets

    def __post_init__(self) -> None:
        if self.expect is not None and self.expect not in EXPECTED_NAMES:
            raise ValueError(f"expect must be one of {sorted(EXPECTED_NAMES)} or None")
        # the partition is a folder name in the landing zone: nothing but a date
        if not _PARTITION.fullmatch(self.partition):
            raise ValueError(f"partition must be YYYY-MM-DD, not {self.partition!r}")


@dataclass(frozen=True)
class FetchOutcome:
    request: FetchRequest
    status: Literal["new", "unchanged", "missing", "failed"]
    payload: LandedPayload | None  # the landed one when "new"; the previous one when "unchanged"
    http_status: int | None
    attempts: int
    error: str | None = None  # one sentence naming the URL (secrets redacted) when "failed"


class _Transient(Exception):
    """An HTTP status worth retrying; `retry_after` is the server's own wait, if it gave one."""

    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(_http_status_text(response.status_code))
        self.http_status = response.status_code
        self.retry_after = retry_after


class _Failed(Exception):
    """A failure that retrying cannot fix; the message is the reason, without the URL."""

    def __init__(self, reason: str, http_status: int | None) -> None:
        super().__init__(reason)
        self.http_status = http_status


class Fetcher:
    """Fetches `FetchRequest`s into `landing_root` over one HTTP client (use it as a context
    manager). `clock` and `sleep` pace the per-host rate limit; `now` stamps payloads and reads
    Retry-After dates."""

    def __init__(
        self,
        landing_root: Path,
        policy: FetchPolicy = FetchPolicy(),
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.landing_root = landing_root
        self.policy = policy
        self._clock = clock
        self._sleep = sleep
        self._now = now
        self._last_start: dict[str, float] = {}
        # source -> key -> newest landed payload: listed once per source, kept current by _store
        self._newest: dict[str, dict[str, LandedPayload]] = {}
        self._client = httpx.Client(
            headers={"User-Agent": policy.user_agent},
            timeout=httpx.Timeout(policy.timeout_seconds),
            follow_redirects=True,
            max_redirects=policy.max_redirects,
            # called for every request sent, retries and redirect hops included
            event_hooks={"request": [self._wait_for_host, _keep_secret_headers_on_host]},
        )

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def fetch(self, request: FetchRequest) -> FetchOutcome:
        """GET `request.url` (retrying transient failures) and land the body if it is new.
        Only a 200 is landed; 304 is "unchanged", 404/410 "missing", anything else "failed"."""
        previous = self._previous_payload(request)
        attempts = 0
        try:
            for attempt in stamina.retry_context(
                on=self._retry_wait,
                attempts=self.policy.attempts,
                timeout=None,  # bounded by attempts; a total timeout would cut Retry-After waits
                wait_initial=self.policy.backoff_initial,
                wait_max=self.policy.backoff_max,
                wait_jitter=self.policy.backoff_initial,  # jitter scales with the backoff
            ):
                with attempt:
                    attempts = attempt.num
                    return self._attempt(request, previous, attempts)
        except _Transient as error:
            reason = f"{error} after {_count(attempts)}"
            return _failed(request, reason, error.http_status, attempts)
        except _Failed as error:
            return _failed(request, str(error), error.http_status, attempts)
        except httpx.TooManyRedirects:
            reason = f"too many redirects (more than {self.policy.max_redirects})"
            return _failed(request, reason, None, attempts)
        except httpx.TimeoutException:
            reason = f"timed out after {self.policy.timeout_seconds} s ({_count(attempts)})"
            return _failed(request, reason, None, attempts)
        except httpx.LocalProtocolError:
            # h11's message quotes the offending header value, which may be a secret
            reason = "the request could not be sent: a header value is invalid"
            return _failed(request, reason, None, attempts)
        except httpx.HTTPError as error:
            reason = f"{type(error).__name__}: {error} after {_count(attempts)}"
            return _failed(request, reason, None, attempts)
        raise AssertionError("stamina.retry_context ended without an outcome")

    def _attempt(
        self, request: FetchRequest, previous: LandedPayload | None, attempts: int
    ) -> FetchOutcome:
        headers = {**_conditional_headers(request, previous), **request.headers}
        secret_headers = (httpx.URL(request.url).host, tuple(request.headers))
        with self._client.stream(
            "GET", request.url, headers=headers, extensions={_SECRET_HEADERS: secret_headers}
        ) as response:
            status = response.status_code
            if status == 200:
                fetched_at = self._now()
                body = _read_capped(response, self.policy.max_bytes)
                return self._store(request, previous, response, body, fetched_at, attempts)
            if status == 304 and previous is not None:
                return FetchOutcome(request, "unchanged", previous, status, attempts)
            if status in MISSING_STATUSES:
                return FetchOutcome(request, "missing", None, status, attempts)
            if status in TRANSIENT_STATUSES:
                raise _Transient(response, self._retry_after(response))
            raise _Failed(_http_status_text(status), status)

    def _store(
        self,
        request: FetchRequest,
        previous: LandedPayload | None,
        response: httpx.Response,
        body: bytes,
        fetched_at: datetime,
        attempts: int,
    ) -> FetchOutcome:
        content_type = response.headers.get("content-type")
        problem = body_problem(body, content_type, request.expect)
        if problem is not None:
            raise _Failed(problem, response.status_code)
        if previous is not None and previous.sha256 == hashlib.sha256(body).hexdigest():
            return FetchOutcome(request, "unchanged", previous, response.status_code, attempts)
        payload = land(
            self.landing_root,
            source_name=request.source_name,
            partition=request.partition,
            key=request.key,
            url=redact_url(request.url),
            status=response.status_code,
            body=body,
            etag=response.headers.get("etag"),
            last_modified=response.headers.get("last-modified"),
            content_type=content_type,
            fetched_at=fetched_at,
            extension=request.extension,
        )
        self._newest_by_key(request.source_name)[request.key] = payload
        return FetchOutcome(request, "new", payload, response.status_code, attempts)

    def _previous_payload(self, request: FetchRequest) -> LandedPayload | None:
        return self._newest_by_key(request.source_name).get(request.key)

    def _newest_by_key(self, source_name: str) -> dict[str, LandedPayload]:
        if source_name not in self._newest:  # listed oldest fetch first: the newest one stays
            landed = landed_payloads(self.landing_root / source_name)
            self._newest[source_name] = {payload.key: payload for payload in landed}
        return self._newest[source_name]

    def _retry_after(self, response: httpx.Response) -> float | None:
        """The server's Retry-After in seconds (429/503 only); over the cap fails at once."""
        if response.status_code not in RETRY_AFTER_STATUSES:
            return None
        seconds = parse_retry_after(response.headers.get("retry-after"), self._now())
        if seconds is not None and seconds > self.policy.max_retry_after:
            raise _Failed(
                f"{_http_status_text(response.status_code)} asks to retry after "
                f"{seconds:g} s, longer than the {self.policy.max_retry_after:g} s allowed",
                response.status_code,
            )
        return seconds

    def _retry_wait(self, error: Exception) -> bool | float:
        """stamina's hook: whether to retry, or the server's own wait (Retry-After) in seconds."""
        if isinstance(error, _Transient):
            return True if error.retry_after is None else error.retry_after
        # a request that cannot be sent (bad scheme, invalid header) fails the same way again
        unsendable = (httpx.UnsupportedProtocol, httpx.LocalProtocolError)
        return isinstance(error, httpx.TransportError) and not isinstance(error, unsendable)

    def _wait_for_host(self, request: httpx.Request) -> None:
        """At most one request started per host per `min_interval_seconds`."""
        host = request.url.host
        last_start = self._last_start.get(host)
        if last_start is not None:
            wait = last_start + self.policy.min_interval_seconds - self._clock()
            if wait > 0:
                self._sleep(wait)
        self._last_start[host] = self._clock()


def _keep_secret_headers_on_host(request: httpx.Request) -> None:
    """The caller's extra headers (API keys) are for the requested host only: httpx would send
    them on to wherever a redirect points (it strips only Authorization)."""
    host, names = request.extensions.get(_SECRET_HEADERS, (request.url.host, ()))
    if request.url.host != host:
        for name in names:
            request.headers.pop(name, None)


def fetch_all(fetcher: Fetcher, requests: Iterable[FetchRequest]) -> list[FetchOutcome]:
    """Each request in turn (the per-host rate limit paces them), outcomes in the same order."""
    return [fetcher.fetch(request) for request in requests]


def redact_url(url: str) -> str:
    """`url` with the values of secret-looking query parameters (key, token, secret, password)
    and any userinfo password replaced by REDACTED; everything else is kept as written."""
    parts = urlsplit(url)
    netloc = parts.netloc
    if parts.password is not None:
        userinfo, _, host = netloc.rpartition("@")
        netloc = f"{userinfo.split(':', 1)[0]}:{REDACTED}@{host}"
    query = "&".join(_redacted_parameter(parameter) for parameter in parts.query.split("&"))
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _redacted_parameter(parameter: str) -> str:
    name, equals, _ = parameter.partition("=")
    if equals and _SECRET_PARAM.search(unquote_plus(name)):
        return f"{name}={REDACTED}"
    return parameter


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Retry-After as seconds from `now`: delay-seconds or an HTTP-date; None if absent or
    unreadable (then the usual backoff applies)."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP-date is GMT
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def body_problem(body: bytes, content_type: str | None, expect: str | None) -> str | None:
    """Why `body` is not what `expect` asked for, or None. An HTML page (a login wall, an error
    page served with 200) is never a valid body; a truncated ZIP is left to its parser."""
    if expect is None:
        return None
    expected = EXPECTED_NAMES[expect]
    if _is_html(body, content_type):
        title = _html_title(body)
        return f"expected {expected}, got an HTML page" + (f": {title}" if title else "")
    if expect == "json":
        try:
            json.loads(body)
        except ValueError as error:  # UnicodeDecodeError is a ValueError too
            return f"expected JSON, the body does not parse: {error}"
    if expect == "zip" and not body.startswith(ZIP_MAGIC):
        return f"expected ZIP, the body does not start with {ZIP_MAGIC!r}: {body[:8]!r}"
    return None


def _is_html(body: bytes, content_type: str | None) -> bool:
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    start = body[:_SNIFF_BYTES].removeprefix(b"\xef\xbb\xbf").lstrip().lower()
    return media_type == "text/html" or start.startswith(_HTML_START)


def _html_title(body: bytes) -> str:
    match = _TITLE.search(body[:_SNIFF_BYTES])
    if match is None:
        return ""
    title = " ".join(html.unescape(match.group(1).decode("utf-8", "replace")).split())
    return title if len(title) <= _TITLE_MAX_CHARS else title[:_TITLE_MAX_CHARS] + "…"


def _read_capped(response: httpx.Response, max_bytes: int) -> bytes:
    """The (decoded) body, streamed, failing as soon as it passes `max_bytes`."""
    body = bytearray()
    for chunk in response.iter_bytes():
        body += chunk
        if len(body) > max_bytes:
            raise _Failed(f"body larger than {max_bytes:,} bytes", response.status_code)
    return bytes(body)


def _conditional_headers(request: FetchRequest, previous: LandedPayload | None) -> dict[str, str]:
    if not request.conditional or previous is None:
        return {}
    headers = {}
    if previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    return headers


def _failed(
    request: FetchRequest, reason: str, http_status: int | None, attempts: int
) -> FetchOutcome:
    error = f"GET {redact_url(request.url)}: {reason}"
    return FetchOutcome(request, "failed", None, http_status, attempts, error)


def _http_status_text(status: int) -> str:
    # the standard phrase: servers send their own ("INTERNAL SERVER ERROR") or none (HTTP/2)
    return f"HTTP {status} {httpx.codes.get_reason_phrase(status)}".rstrip()


def _count(attempts: int) -> str:
    return f"{attempts} attempt" if attempts == 1 else f"{attempts} attempts"


def _redact_logged_urls(record: logging.LogRecord) -> bool:
    """httpx logs every request's URL at INFO: log it with its secrets redacted."""
    if isinstance(record.args, tuple):
        record.args = tuple(
            redact_url(str(arg)) if isinstance(arg, httpx.URL) else arg for arg in record.args
        )
    return True


logging.getLogger("httpx").addFilter(_redact_logged_urls)
