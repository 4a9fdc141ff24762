"""RSS/Atom payloads from the landing zone -> a NewsBatch (`ingestion.feeds`)."""

from __future__ import annotations

import json
import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import feedparser
import polars as pl
import pytest

from ingestion.extraction import Gazetteer, build_gazetteer, load_taxonomy
from ingestion.sec import read_security_master_file
from tests.recorded.services import BILLION_LAUGHS as RECORDED_BOMB
from ingestion.feeds import (
    FEED_SOURCE_TYPE,
    feed_document_id,
    html_to_text,
    read_feed_payloads,
)
from ingestion.landing import LandedPayload, land
from ingestion.news import ANNOTATION_SCHEMA, DOCUMENT_SCHEMA, NewsBatch
from ingestion.quarantine import FILE_STATS_SCHEMA, QUARANTINE_SCHEMA

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = REPO_ROOT / "dbt_project" / "seeds"
FIXTURES = Path(__file__).parent / "fixtures" / "feeds"
SOURCE = "wire"
NOW = datetime(2024, 11, 22, tzinfo=UTC)
NVDA_ID = feed_document_id("mkt-2024-11-20-nvda-results")

BILLION_LAUGHS = RECORDED_BOMB.encode()  # the same bomb the pipeline test serves


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    master = read_security_master_file(REPO_ROOT / "samples" / "sec" / "company_tickers_exchange.json")[0]
    return build_gazetteer(SEEDS, master)


@pytest.fixture(scope="module")
def taxonomy() -> pl.DataFrame:
    return load_taxonomy(SEEDS / "ref_theme_taxonomy.csv")


def land_feed(
    root: Path, body: bytes, minute: int, key: str = "https://x.example/rss"
) -> LandedPayload:
    return land(
        root,
        source_name=SOURCE,
        partition="2024-11-21",
        key=key,
        url=key,
        status=200,
        body=body,
        etag=None,
        last_modified=None,
        content_type="application/rss+xml",
        fetched_at=datetime(2024, 11, 21, 9, minute, tzinfo=UTC),
        extension=".xml",
    )


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def rss(*items: str, title: str = "Example Markets News") -> bytes:
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{title}</title>'
        + "".join(f"<item>{item}</item>" for item in items)
        + "</channel></rss>"
    ).encode()


def read(root: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame, **options) -> NewsBatch:
    return read_feed_payloads(
        root / SOURCE, SOURCE, gazetteer=gazetteer, taxonomy=taxonomy, now=NOW, **options
    )


def assert_counts_add_up(batch: NewsBatch) -> None:
    files = batch.files
    assert (files["records_read"] == files["records_loaded"] + files["records_quarantined"]).all()
    assert files["records_loaded"].sum() == batch.documents.height
    assert files["records_quarantined"].sum() == batch.quarantine.height


def test_items_become_documents_with_their_annotations(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    rss_payload = land_feed(tmp_path, fixture("markets_rss.xml"), 0)
    atom_payload = land_feed(
        tmp_path, fixture("companies_atom.xml"), 1, "https://wire.example.org/atom.xml"
    )
    batch = read(tmp_path, gazetteer, taxonomy)

    assert batch.documents.schema == pl.Schema(DOCUMENT_SCHEMA)
    assert batch.annotations.schema == pl.Schema(ANNOTATION_SCHEMA)
    assert batch.quarantine.schema == pl.Schema(QUARANTINE_SCHEMA)
    assert batch.files.schema == pl.Schema(FILE_STATS_SCHEMA)
    assert batch.documents.height == 5 and batch.quarantine.is_empty()
    assert_counts_add_up(batch)
    files = batch.files.select("source_type", "file_path", "content_hash", "records_read")
    assert files.rows() == [
        ("feed", rss_payload.rel_path, rss_payload.sha256, 3),
        ("feed", atom_payload.rel_path, atom_payload.sha256, 2),
    ]

    nvda = batch.documents.row(by_predicate=pl.col("document_id") == NVDA_ID, named=True)
    assert nvda["source_name"] == SOURCE and nvda["file_path"] == rss_payload.rel_path
    assert nvda["published_at"] == datetime(2024, 11, 20, 21, 25, tzinfo=UTC)
    assert nvda["source"] == "Example Markets News"
    assert nvda["url"] == "https://markets.example.com/news/nvidia-q3-fy2025-results-20241120"
    assert nvda["title"] == "Nvidia Corporation revenue tops estimates as AI chip demand surges"
    # HTML stripped, entities decoded, paragraphs kept, no script text
    assert nvda["body"] == (
        "SANTA CLARA, Calif. \u2014 Nvidia reported third-quarter revenue of $35.1 billion, up 94% "
        "from a year ago, beating analysts' estimates.\n\n"
        "Shares of the chipmaker ($NVDA) slipped 2% in after-hours trading."
    )
    assert json.loads(nvda["front_matter"]) == {
        "guid": "mkt-2024-11-20-nvda-results",
        "feed_url": "https://x.example/rss",
        "feed_title": "Example Markets News",
        "authors": ["Jane Doe"],
        "tags": ["Earnings", "Technology"],
    }
    assert -1 <= nvda["sentiment"] <= 1
    assert len(nvda["content_hash"]) == 64

    msft_id = feed_document_id("tag:wire.example.org,2024-11-21:msft-studio")
    atom = batch.documents.row(by_predicate=pl.col("document_id") == msft_id, named=True)
    assert atom["title"] == "Microsoft agrees to acquire a gaming studio & expands AI push"
    assert atom["published_at"] == datetime(2024, 11, 21, 6, 15, tzinfo=UTC)  # +01:00 -> UTC
    assert atom["body"] == (
        "Microsoft Corp. said on Thursday it agreed to acquire an independent game studio.\n\n"
        "The deal is part of its AI and cloud push."
    )

    annotations = {
        (document_id, kind, key)
        for document_id, kind, key in batch.annotations.select(
            "document_id", "kind", "annotation_key"
        ).rows()
    }
    assert {
        (NVDA_ID, "entity", "NVIDIA CORP"),
        (NVDA_ID, "ticker", "$NVDA"),
        (NVDA_ID, "theme", "Earnings_Report"),
        (feed_document_id("mkt-2024-11-20-tgt-forecast"), "entity", "TARGET CORP"),
        (atom["document_id"], "entity", "Microsoft Corporation"),
        (atom["document_id"], "theme", "Mergers_Acquisitions"),
    } <= annotations
    harvest = feed_document_id("mkt-2024-11-20-apple-harvest")
    assert not any(id_ == harvest and kind == "entity" for id_, kind, _ in annotations)


def test_the_same_guid_in_two_payloads_is_one_document_the_newest(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    item = "<guid>story-1</guid><title>{}</title><pubDate>Wed, 20 Nov 2024 10:00:00 GMT</pubDate>"
    older = land_feed(tmp_path, rss(item.format("Nvidia rises")), 0, "https://a.example/rss")
    newer = land_feed(tmp_path, rss(item.format("Nvidia rises 5%")), 1, "https://b.example/rss")
    batch = read(tmp_path, gazetteer, taxonomy)

    assert batch.documents.select("document_id", "title", "file_path").rows() == [
        (feed_document_id("story-1"), "Nvidia rises 5%", newer.rel_path)
    ]
    assert batch.unchanged_documents == 1
    counts = {row["file_path"]: row["records_read"] for row in batch.files.iter_rows(named=True)}
    assert counts == {older.rel_path: 0, newer.rel_path: 1}
    assert_counts_add_up(batch)


def test_items_loaded_unchanged_are_skipped_and_changed_ones_are_new_versions(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    land_feed(tmp_path, fixture("markets_rss.xml"), 0)
    first = read(tmp_path, gazetteer, taxonomy)
    known = dict(first.documents.select("document_id", "content_hash").rows())

    # the next fetch: one story's text changed, the others are as loaded
    changed = fixture("markets_rss.xml").replace(b"beating analysts'", b"well above analysts'")
    land_feed(tmp_path, changed, 30)
    again = read(
        tmp_path,
        gazetteer,
        taxonomy,
        skip_hashes=dict(first.files.select("file_path", "content_hash").rows()),
        known_documents=known,
    )
    assert again.skipped_files == tuple(first.files["file_path"])
    assert again.documents["document_id"].to_list() == [NVDA_ID]
    assert "well above analysts'" in again.documents["body"][0]
    assert again.documents["content_hash"][0] != known[NVDA_ID]
    assert again.unchanged_documents == 2
    assert again.annotations["document_id"].unique().to_list() == [NVDA_ID]
    assert_counts_add_up(again)


@pytest.mark.parametrize(
    ("body", "reason_start"),
    [
        (
            b'<?xml version="1.0"?><rss version="2.0"><channel><title>Cut off',
            "not an RSS/Atom feed: SAXParseException: ",
        ),
        (
            b"<!DOCTYPE html><html><head><title>Sign in</title></head><body><p>Log in</p>"
            b"</body></html>",
            "not an RSS/Atom feed: no rss, feed or RDF element",
        ),
        (b"", "not an RSS/Atom feed: "),
    ],
    ids=["malformed-xml", "html-page", "empty"],
)
def test_a_payload_that_is_no_feed_is_quarantined_whole(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame, body: bytes, reason_start: str
) -> None:
    payload = land_feed(tmp_path, body, 0)
    batch = read(tmp_path, gazetteer, taxonomy)

    assert batch.documents.is_empty() and batch.annotations.is_empty()
    (record,) = batch.quarantine.iter_rows(named=True)
    assert record["source_type"] == FEED_SOURCE_TYPE
    assert record["file_path"] == payload.rel_path
    assert record["reason"].startswith(reason_start)
    assert record["record_key"] == "https://x.example/rss"
    assert batch.files.select("records_read", "records_loaded", "records_quarantined").rows() == [
        (1, 0, 1)
    ]


def test_a_billion_laughs_payload_is_quarantined_quickly_without_expansion(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    land_feed(tmp_path, BILLION_LAUGHS, 0)
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    batch = read(tmp_path, gazetteer, taxonomy)
    elapsed = time.perf_counter() - started
    grown_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - peak_before

    assert elapsed < 2
    assert grown_kib < 100 * 1024  # a full expansion is 3 GB
    assert batch.documents.is_empty()
    (record,) = batch.quarantine.iter_rows(named=True)
    assert "declares XML entities" in record["reason"]
    assert "lol" * 100 not in record["raw_value"]


def test_feedparser_itself_does_not_expand_declared_entities() -> None:
    # why the reader may rely on feedparser for every other payload: the bomb stays unexpanded
    started = time.perf_counter()
    parsed = feedparser.parse(BILLION_LAUGHS)
    assert time.perf_counter() - started < 2
    assert all(len(entry.get("title", "")) < 100 for entry in parsed.entries)
    assert len(parsed.feed.get("title", "")) < 100


@pytest.mark.parametrize(
    ("item", "reason"),
    [
        ("<title>Nvidia shares rise</title><description>Up 3%.</description>",
         "no guid and no link: the item cannot be identified"),
        ("<guid>empty-1</guid><title> </title><description> </description>",
         "no title and no body: the item has no text"),
        ("<guid>future-1</guid><title>Tomorrow's news</title>"
         "<pubDate>Sat, 23 Nov 2024 10:00:00 GMT</pubDate>",
         "published_at 2024-11-23T10:00:00Z is outside [1970-01-01T00:00:00Z, the run time "
         "2024-11-22T00:00:00Z]"),
        (f"<guid>long-1</guid><title>{'A' * 1001}</title>", "title 'AAAA"),
    ],
    ids=["no-identity", "no-text", "future", "title-too-long"],
)
def test_an_item_that_cannot_be_loaded_is_quarantined(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame, item: str, reason: str
) -> None:
    good = "<guid>good-1</guid><title>Apple Inc. shares rise</title>"
    payload = land_feed(tmp_path, rss(good, item), 0)
    batch = read(tmp_path, gazetteer, taxonomy)

    assert batch.documents["document_id"].to_list() == [feed_document_id("good-1")]
    (record,) = batch.quarantine.iter_rows(named=True)
    assert record["source_type"] == FEED_SOURCE_TYPE
    assert record["file_path"] == payload.rel_path and record["row_number"] == 2
    assert record["reason"].startswith(reason)
    assert record["raw_value"]
    assert batch.files.select("records_read", "records_loaded", "records_quarantined").rows() == [
        (2, 1, 1)
    ]


def test_an_item_without_guid_is_identified_by_its_link(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    land_feed(tmp_path, rss("<link>https://x.example/a</link><title>Nvidia rises</title>"), 0)
    batch = read(tmp_path, gazetteer, taxonomy)
    assert batch.documents["document_id"].to_list() == [feed_document_id("https://x.example/a")]
    assert json.loads(batch.documents["front_matter"][0])["guid"] is None


def test_counts_add_up_over_a_mixed_batch(
    tmp_path: Path, gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    land_feed(tmp_path, fixture("markets_rss.xml"), 0)
    land_feed(tmp_path, BILLION_LAUGHS, 1, "https://bomb.example/rss")
    mixed = rss("<title>no id</title>", "<guid>ok</guid><title>Fine</title>")
    land_feed(tmp_path, mixed, 2, "https://c.example/rss")
    batch = read(tmp_path, gazetteer, taxonomy)

    assert_counts_add_up(batch)
    assert batch.files["records_read"].to_list() == [3, 1, 2]
    assert batch.files["records_quarantined"].to_list() == [0, 1, 1]
    assert (batch.quarantine["source_type"] == FEED_SOURCE_TYPE).all()


def test_html_to_text_keeps_paragraphs_and_drops_scripts() -> None:
    html = (
        "<div><h2>Title</h2><p>First &amp; <b>bold</b>\n line.</p>"
        "<script>document.write('x')</script><style>p {color: red}</style>"
        "<ul><li>one</li><li>two</li></ul>line<br>break</div>"
    )
    assert html_to_text(html) == "Title\n\nFirst & bold line.\n\none\n\ntwo\n\nline\nbreak"
