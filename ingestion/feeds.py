"""RSS and Atom feeds (source type `feed`): landed payloads -> raw.news_documents and
raw.news_annotations.

Each payload under a source's landing folder is one fetch of one feed. Every item read is one
record, loaded or quarantined; a payload that is no feed at all is one quarantined record. An
item's document id comes from its guid (else its link), so the same story fetched again, or
carried by two feeds with the same guid, is one document: the newest payload's version is kept,
and a version already loaded unchanged (`known_documents`) is no record of this batch.

Items carry no annotation lines: entities, cashtags and themes are read from their text
(`ingestion.extraction`).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import feedparser
import polars as pl

from ingestion import limits
from ingestion.extraction import Gazetteer, extract_annotations
from ingestion.landing import LandedPayload, landed_payloads
from ingestion.limits import shown
from ingestion.news import DOCUMENT_SCHEMA, NewsBatch, normalise_paragraphs, sentiment
from ingestion.quarantine import QuarantineRecord, SourceFile, file_stats_frame, quarantine_frame

FEED_SOURCE_TYPE = "feed"
# Part of every payload's change key: bump it when parsing or validation changes.
FEED_PARSER_VERSION = "feed-1"
DOCUMENT_ID_PREFIX = "feed-"
RAW_PREFIX_BYTES = 4096  # of a rejected payload, kept as its raw value
HTML_TYPES = ("text/html", "application/xhtml+xml")
# Tags that end a paragraph or a line of text when HTML becomes plain text.
BLOCK_TAGS = frozenset({
    "address", "article", "blockquote", "dd", "div", "dl", "dt", "figcaption", "figure",
    "footer", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p", "pre",
    "section", "table", "tr", "ul",
})
SKIPPED_TAGS = frozenset({"script", "style", "template", "noscript"})
WHITESPACE_RUN = re.compile(r"\s+")
DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)
ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)


class FeedError(ValueError):
    """A payload or item that cannot be loaded; `reason` is the sentence for `audit.quarantine`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class FeedItem:
    """One item as read: a documents row, or the reason it is quarantined."""

    payload_order: int  # newer payloads have higher numbers
    entry_number: int  # 1-based place in its payload
    rel_path: str
    document_id: str | None
    row: dict[str, Any] | None  # DOCUMENT_SCHEMA, when the item can be loaded
    problem: str | None
    raw_value: str


def read_feed_payloads(
    source_root: Path,
    source_name: str,
    *,
    skip_hashes: Mapping[str, str] = {},
    known_documents: Mapping[str, str] = {},
    gazetteer: Gazetteer,
    taxonomy: pl.DataFrame,
    now: datetime | None = None,
) -> NewsBatch:
    """Read the payloads of one feed source (`<landing>/<source_name>`) not yet loaded.

    A payload whose sha256 equals `skip_hashes[rel_path]` is skipped; an item whose content
    hash equals `known_documents[document_id]` is counted as unchanged, as is an older version
    of an item a newer payload of this batch carries too. `now` (default: the current time) is
    the run time no `published_at` may pass.
    """
    run_time = limits.utc_now(now)
    payloads = landed_payloads(source_root)
    to_read = [p for p in payloads if skip_hashes.get(p.rel_path) != p.sha256]
    rejected_payloads: list[QuarantineRecord] = []
    items: list[FeedItem] = []
    for order, payload in enumerate(to_read):
        try:
            entries, feed_info = _parse_payload(payload)
        except FeedError as error:
            rejected_payloads.append(
                QuarantineRecord(
                    payload.rel_path, error.reason, _payload_prefix(payload), record_key=payload.key
                )
            )
            continue
        items.extend(
            _read_item(entry, number, order, payload, feed_info, source_name, run_time)
            for number, entry in enumerate(entries, start=1)
        )
    records, unchanged = _current_records(items, known_documents)
    loaded = [item for item in records if item.problem is None]
    rejected = rejected_payloads + [
        QuarantineRecord(
            item.rel_path,
            item.problem,
            item.raw_value,
            row_number=item.entry_number,
            record_key=item.document_id,
        )
        for item in records
        if item.problem is not None
    ]
    documents = pl.DataFrame([item.row for item in loaded], schema=DOCUMENT_SCHEMA)
    read_counts = Counter([r.file_path for r in rejected_payloads] + [i.rel_path for i in records])
    return NewsBatch(
        source_name=source_name,
        documents=documents,
        annotations=extract_annotations(
            documents.select("document_id", "title", "body"), gazetteer, taxonomy
        ),
        quarantine=quarantine_frame(
            rejected, source_type=FEED_SOURCE_TYPE, source_name=source_name
        ),
        files=file_stats_frame(
            [SourceFile(p.rel_path, b"", p.sha256) for p in to_read],
            source_type=FEED_SOURCE_TYPE,
            source_name=source_name,
            read_counts=read_counts,
            quarantined_counts=Counter(record.file_path for record in rejected),
        ),
        skipped_files=tuple(
            p.rel_path for p in payloads if skip_hashes.get(p.rel_path) == p.sha256
        ),
        unchanged_documents=unchanged,
    )


def feed_document_id(identity: str) -> str:
    """The document id of an item whose guid (else link) is `identity`."""
    return DOCUMENT_ID_PREFIX + hashlib.sha256(identity.encode()).hexdigest()[:16]


def html_to_text(html: str) -> str:
    """Plain text of an HTML fragment: tags dropped, script and style content dropped, entities
    decoded, one blank line between paragraphs. Nothing is fetched and nothing runs."""
    parser = _TextParser()
    parser.feed(html)
    parser.close()
    return normalise_paragraphs("".join(parser.parts).splitlines())


def _parse_payload(payload: LandedPayload) -> tuple[list[Any], dict[str, Any]]:
    """The entries of a payload and what the items take from the feed; raises `FeedError`."""
    if payload.size > limits.MAX_FEED_PAYLOAD_BYTES:
        raise FeedError(
            f"payload is {payload.size:,} bytes, over the {limits.MAX_FEED_PAYLOAD_BYTES:,}-byte "
            "limit"
        )
    data = payload.read_bytes()
    if _declares_entities(data):
        # feedparser's own parsers do not expand them, but nothing in a feed needs them: an
        # entity declaration is an expansion bomb or an external-entity read until proven not
        raise FeedError(
            "not an RSS/Atom feed: its DOCTYPE declares XML entities (entity expansion is "
            "never allowed): not parsed"
        )
    parsed = feedparser.parse(data)
    # feedparser recovers what it can from broken XML: a payload with entries is read
    if parsed.bozo and not parsed.entries:
        cause = parsed.bozo_exception
        raise FeedError(f"not an RSS/Atom feed: {type(cause).__name__}: {cause}")
    if not parsed.get("version"):
        raise FeedError("not an RSS/Atom feed: no rss, feed or RDF element (an HTML page?)")
    feed = parsed.feed
    return parsed.entries, {
        "feed_url": payload.url,
        "feed_title": _one_line(_plain(feed.get("title"), feed.get("title_detail"))),
    }


def _declares_entities(data: bytes) -> bool:
    """Whether the document's DOCTYPE (its internal subset, up to the first ']>') declares an
    entity."""
    doctype = DOCTYPE.search(data)
    if doctype is None:
        return False
    end = data.find(b"]>", doctype.end())
    subset = data[doctype.end() : len(data) if end == -1 else end]
    return ENTITY_DECLARATION.search(subset) is not None


def _read_item(
    entry: Any,
    number: int,
    order: int,
    payload: LandedPayload,
    feed_info: dict[str, Any],
    source_name: str,
    now: datetime,
) -> FeedItem:
    guid = _clean(entry.get("id"))
    link = _clean(entry.get("link"))
    identity = guid or link
    document_id = feed_document_id(identity) if identity else None
    title = _one_line(_plain(entry.get("title"), entry.get("title_detail")))
    body = _body(entry)
    published_at = _published_at(entry)
    raw_value = json.dumps(
        {
            "id": guid,
            "link": link,
            "title": title,
            "published": entry.get("published") or entry.get("updated"),
            "body": body,
        },
        ensure_ascii=False,
    )
    try:
        _check_item(identity, title, body, link, feed_info["feed_title"], published_at, now)
    except FeedError as error:
        return FeedItem(order, number, payload.rel_path, document_id, None, error.reason, raw_value)
    front_matter = {
        "guid": guid,
        "feed_url": feed_info["feed_url"],
        "feed_title": feed_info["feed_title"],
        "authors": [a["name"] for a in entry.get("authors", []) if a.get("name")],
        "tags": [t["term"] for t in entry.get("tags", []) if t.get("term")],
    }
    row = {
        "document_id": document_id,
        "source_name": source_name,
        "file_path": payload.rel_path,
        "published_at": published_at,
        "source": feed_info["feed_title"],
        "url": link,
        "title": title,
        "body": body,
        "front_matter": json.dumps(front_matter, ensure_ascii=False),
        "sentiment": sentiment(body or title or ""),
        "content_hash": _content_hash(title, body, published_at),
    }
    return FeedItem(order, number, payload.rel_path, document_id, row, None, raw_value)


def _check_item(
    identity: str | None,
    title: str | None,
    body: str,
    link: str | None,
    feed_title: str | None,
    published_at: datetime | None,
    now: datetime,
) -> None:
    if identity is None:
        raise FeedError("no guid and no link: the item cannot be identified")
    if not title and not body:
        raise FeedError("no title and no body: the item has no text")
    for field, value, max_chars in (
        ("guid or link", identity, limits.MAX_URL_CHARS),
        ("title", title, limits.MAX_TITLE_CHARS),
        ("body", body, limits.MAX_BODY_CHARS),
        ("link", link, limits.MAX_URL_CHARS),
        ("feed title", feed_title, limits.MAX_SOURCE_CHARS),
    ):
        if value is not None and len(value) > max_chars:
            raise FeedError(
                f"{field} {shown(value)} is {len(value):,} characters, over the "
                f"{max_chars:,}-character limit"
            )
    if published_at is not None and not limits.MIN_TIMESTAMP <= published_at <= now:
        raise FeedError(
            f"published_at {published_at:%Y-%m-%dT%H:%M:%SZ} is outside "
            f"[{limits.MIN_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ}, the run time {now:%Y-%m-%dT%H:%M:%SZ}]"
        )


def _current_records(
    items: list[FeedItem], known_documents: Mapping[str, str]
) -> tuple[list[FeedItem], int]:
    """The items that are records of this batch, and how many are not (unchanged: already
    loaded as they are, or superseded by a newer payload's version in this batch).

    Of the items sharing a document id, the newest payload's wins (the first in that payload)."""
    newest: dict[str, FeedItem] = {}
    for item in sorted(items, key=lambda i: (-i.payload_order, i.entry_number)):
        if item.document_id is not None:
            newest.setdefault(item.document_id, item)
    records = [
        item
        for item in items
        if item.document_id is None
        or (
            newest[item.document_id] is item
            and not (
                item.row is not None
                and known_documents.get(item.document_id) == item.row["content_hash"]
            )
        )
    ]
    return records, len(items) - len(records)


def _body(entry: Any) -> str:
    """Plain text of the item's content (its first HTML or text part), else its summary."""
    for content in entry.get("content", []):
        if content.get("value"):
            return _plain(content["value"], content)
    return _plain(entry.get("summary"), entry.get("summary_detail"))


def _plain(value: str | None, detail: Mapping[str, Any] | None) -> str:
    if not value:
        return ""
    if detail is not None and detail.get("type") not in HTML_TYPES:
        return normalise_paragraphs(value.splitlines())
    return html_to_text(value)


def _one_line(text: str) -> str | None:
    return " ".join(text.split()) or None


def _published_at(entry: Any) -> datetime | None:
    # feedparser gives both as UTC struct_time
    parsed = entry.get("published_parsed") or entry.get("updated_parsed")
    return None if parsed is None else datetime(*parsed[:6], tzinfo=UTC)


def _content_hash(title: str | None, body: str, published_at: datetime | None) -> str:
    published = "" if published_at is None else published_at.isoformat()
    return hashlib.sha256("\0".join([title or "", body, published]).encode()).hexdigest()


def _clean(value: str | None) -> str | None:
    return value.strip() or None if value else None


def _payload_prefix(payload: LandedPayload) -> str:
    with payload.open() as stream:
        return stream.read(RAW_PREFIX_BYTES).decode("utf-8", errors="replace")


class _TextParser(HTMLParser):
    """Collects the text of an HTML fragment; block tags become paragraph breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in SKIPPED_TAGS:
            self.skipping += 1
        elif tag == "br":
            self.parts.append("\n")
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in SKIPPED_TAGS:
            self.skipping = max(0, self.skipping - 1)
        elif tag in BLOCK_TAGS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self.skipping:
            # a line break inside a paragraph is a space, as a browser shows it
            self.parts.append(WHITESPACE_RUN.sub(" ", data))
