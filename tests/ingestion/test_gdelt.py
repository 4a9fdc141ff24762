"""GDELT GKG 2.1 payloads: real zips of rows in the codebook's format, landed like the fetcher."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from ingestion.extraction import GAZETTEER_SCHEMA, Gazetteer
from ingestion.gdelt import (
    GDELT_SOURCE_TYPE,
    GKG_COLUMNS,
    TAXONOMY_SCHEMA,
    read_gkg_payloads,
)
from ingestion.landing import LandedPayload, land

NOW = datetime(2024, 1, 3, tzinfo=UTC)
SOURCE = "gdelt"

GAZETTEER = Gazetteer(
    names=pl.DataFrame(
        [
            ("apple", "Apple Inc.", "AAPL", True),
            ("microsoft", "MICROSOFT CORP", "MSFT", False),
            ("nvidia", "NVIDIA CORP", "NVDA", False),
        ],
        orient="row",
        schema=GAZETTEER_SCHEMA,
    ),
    version="test-gazetteer",
)
TAXONOMY = pl.DataFrame(
    [
        {"theme_code": "Leadership_Change", "match_kind": "gdelt", "pattern": "TAX_FNCACT_CEO",
         "description": "Changes of chief executives."},
        {"theme_code": "Stock_Market", "match_kind": "gdelt", "pattern": "ECON_STOCKMARKET",
         "description": "Stock market moves."},
        {"theme_code": "Earnings_Report", "match_kind": "gdelt", "pattern": "ECON_EARN*",
         "description": "Quarterly results."},
        {"theme_code": "Not_Gdelt", "match_kind": "keyword", "pattern": "TAX_FNCACT",
         "description": "A rule for another source."},
    ],
    schema=TAXONOMY_SCHEMA,
)


def gkg_row(
    record: str,
    url: str,
    *,
    date: str | None = None,
    source: str = "reuters.com",
    themes: tuple[str, ...] = ("ECON_STOCKMARKET",),
    persons: tuple[str, ...] = (),
    organisations: tuple[str, ...] = (),
    v1_organisations_only: bool = False,
    tone: str = "-1.85,2.1,3.95,6.05,21.3,0,812",
    title: str | None = None,
) -> str:
    """One GKG 2.1 line: 27 tab-separated fields, V2 fields as `name,charoffset`."""
    def enhanced(names: tuple[str, ...]) -> str:
        return ";".join(f"{name},{100 + 37 * i}" for i, name in enumerate(names))

    fields = {
        "GKGRECORDID": record,
        "DATE": date if date is not None else record.split("-")[0],
        "SourceCollectionIdentifier": "1",
        "SourceCommonName": source,
        "DocumentIdentifier": url,
        "V1Counts": "",
        "V2.1Counts": "",
        "V1Themes": "".join(f"{theme};" for theme in themes),
        "V2EnhancedThemes": "".join(f"{theme},{40 + i};" for i, theme in enumerate(themes)),
        "V1Locations": "1#United States#US#US#39.828175#-98.5795#US",
        "V2EnhancedLocations": "1#United States#US#US##39.828175#-98.5795#US#210",
        "V1Persons": ";".join(name.lower() for name in persons),
        "V2EnhancedPersons": enhanced(persons),
        "V1Organizations": ";".join(name.lower() for name in organisations),
        "V2EnhancedOrganizations": "" if v1_organisations_only else enhanced(organisations),
        "V1.5Tone": tone,
        "V2.1EnhancedDates": "",
        "V2GCAM": "wc:812,c1.1:3,c12.1:45,c12.10:61",
        "V2.1SharingImage": "https://static.example.com/share.jpg",
        "V2.1RelatedImages": "",
        "V2.1SocialImageEmbeds": "",
        "V2.1SocialVideoEmbeds": "",
        "V2.1Quotations": "",
        "V2.1AllNames": enhanced((*organisations, *persons)),
        "V2.1Amounts": "3,percent,400;",
        "V2.1TranslationInfo": "",
        "V2ExtrasXML": f"<PAGE_TITLE>{title}</PAGE_TITLE>" if title else "",
    }
    assert list(fields) == list(GKG_COLUMNS)
    return "\t".join(fields.values())


ROWS = [
    gkg_row(  # line 1: Apple, a CEO theme, a person
        "20240102143000-0", "https://www.reuters.com/technology/apple-ceo-2024-01-02/",
        themes=("ECON_STOCKMARKET", "TAX_FNCACT_CEO", "TAX_FNCACT", "ECON_STOCKMARKET"),
        persons=("Tim Cook",), organisations=("Apple Inc", "Nasdaq"),
        title="Apple names new operating chief",
    ),
    gkg_row(  # line 2: no company of the gazetteer
        "20240102143000-1", "https://www.bbc.co.uk/news/world-1",
        themes=("TERROR",), organisations=("United Nations",), source="bbc.co.uk",
    ),
    gkg_row(  # line 3: Microsoft and Nvidia, an earnings theme matched by prefix
        "20240102143000-2", "https://www.cnbc.com/2024/01/02/msft-nvda.html",
        themes=("ECON_EARNINGSREPORT", "WB_1234_ARTIFICIAL_INTELLIGENCE"),
        organisations=("Microsoft Corporation", "NVIDIA Corp"), persons=("Satya Nadella",),
        tone="4.2,5.1,0.9,6.0,19.2,0.4,530", source="cnbc.com",
    ),
    gkg_row(  # line 4: not about a company
        "20240102143000-3", "https://www.lemonde.fr/a", source="lemonde.fr",
        organisations=("Banque de France",),
    ),
    gkg_row(  # line 5: a bad DATE
        "20240102143000-4", "https://example.com/bad-date", date="2024-01-02 14:30",
        organisations=("Apple Inc",),
    ),
    # line 6: 20 columns only
    "\t".join(gkg_row("20240102143000-5", "https://example.com/short").split("\t")[:20]),
    gkg_row(  # line 7: V1 organisations only (lower case)
        "20240102143000-6", "https://www.wsj.com/apple-v1",
        organisations=("Apple Inc",), v1_organisations_only=True, source="wsj.com",
    ),
    gkg_row(  # line 8: nothing known
        "20240102143000-7", "https://example.org/weather", themes=("NATURAL_DISASTER",),
    ),
    gkg_row(  # line 9: an extreme tone is clipped
        "20240102143000-8", "https://example.net/nvidia-rally",
        organisations=("Nvidia",), tone="130.5,131,0.5,131.5,10,0,40",
    ),
    gkg_row(  # line 10: no company
        "20240102143000-9", "https://example.net/sports", organisations=("FIFA",),
    ),
    gkg_row(  # line 11: the future
        "20250102143000-10", "https://example.net/future", organisations=("Microsoft",),
    ),
]


def gkg_zip(rows: list[str], *, name: str = "20240102143000.gkg.csv") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, "".join(row + "\n" for row in rows).encode("utf-8"))
    return buffer.getvalue()


def land_gkg(
    root: Path, body: bytes, *, slot: str = "20240102143000", minute: int = 0
) -> LandedPayload:
    return land(
        root,
        source_name=SOURCE,
        partition=f"{slot[:4]}-{slot[4:6]}-{slot[6:8]}",
        key=slot,
        url=f"http://data.gdeltproject.org/gdeltv2/{slot}.gkg.csv.zip",
        status=200,
        body=body,
        etag=None,
        last_modified=None,
        content_type="application/zip",
        fetched_at=datetime(2024, 1, 2, 14, 45 + minute, tzinfo=UTC),
        extension=".gkg.csv.zip",
    )


def read(root: Path, **options) -> object:
    return read_gkg_payloads(
        root / SOURCE, SOURCE, gazetteer=GAZETTEER, taxonomy=TAXONOMY, now=NOW, **options
    )


def test_company_records_become_documents(tmp_path: Path) -> None:
    payload = land_gkg(tmp_path, gkg_zip(ROWS))
    batch = read(tmp_path)

    documents = batch.documents.sort("url")
    assert documents["url"].to_list() == [
        "https://example.net/nvidia-rally",
        "https://www.cnbc.com/2024/01/02/msft-nvda.html",
        "https://www.reuters.com/technology/apple-ceo-2024-01-02/",
        "https://www.wsj.com/apple-v1",
    ]
    apple = documents.row(2, named=True)
    url = "https://www.reuters.com/technology/apple-ceo-2024-01-02/"
    assert apple["document_id"] == "gdelt-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    assert apple["published_at"] == datetime(2024, 1, 2, 14, 30, tzinfo=UTC)
    assert apple["source"] == "reuters.com"
    assert apple["title"] == "Apple names new operating chief"
    assert apple["body"] == "GDELT GKG record 20240102143000-0 from reuters.com"
    assert apple["sentiment"] == pytest.approx(-0.0185)
    assert apple["file_path"] == payload.rel_path
    assert apple["content_hash"] == payload.sha256
    front_matter = json.loads(apple["front_matter"])
    assert front_matter["gkg_record_id"] == "20240102143000-0"
    assert front_matter["tone"] == "-1.85"
    assert front_matter["word_count"] == "812"
    assert front_matter["all_names_count"] == "3"
    assert documents.filter(pl.col("url").str.contains("nvidia"))["sentiment"].item() == 1.0
    assert documents["source_name"].unique().to_list() == [SOURCE]


def test_annotations_entities_and_mapped_themes(tmp_path: Path) -> None:
    land_gkg(tmp_path, gkg_zip(ROWS))
    batch = read(tmp_path)
    apple_id = batch.documents.filter(pl.col("url").str.contains("reuters"))["document_id"].item()
    apple = batch.annotations.filter(pl.col("document_id") == apple_id).sort("position")
    assert apple.select("position", "kind", "annotation_key").rows() == [
        (1, "entity", "Apple Inc."),
        (2, "entity", "Nasdaq"),
        (3, "entity", "Tim Cook"),
        (4, "theme", "Stock_Market"),  # ECON_STOCKMARKET twice: once
        (5, "theme", "Leadership_Change"),
        (6, "theme", "TAX_FNCACT"),  # unmapped for GDELT: its own theme
    ]
    descriptions = dict(apple.select("annotation_key", "description").iter_rows())
    assert descriptions["Apple Inc."].startswith("Apple Inc is a company")
    assert descriptions["Nasdaq"].startswith("Nasdaq is an organization")
    assert descriptions["Tim Cook"] == (
        "Tim Cook is a person named in GDELT GKG record 20240102143000-0 "
        "(his or her role is not given)"
    )
    assert descriptions["Leadership_Change"] == "Changes of chief executives."

    cnbc_id = batch.documents.filter(pl.col("url").str.contains("cnbc"))["document_id"].item()
    cnbc = batch.annotations.filter(pl.col("document_id") == cnbc_id).sort("position")
    assert cnbc["annotation_key"].to_list() == [
        "MICROSOFT CORP",
        "NVIDIA CORP",
        "Satya Nadella",
        "Earnings_Report",  # ECON_EARNINGSREPORT by the prefix ECON_EARN*
        "WB_1234_ARTIFICIAL_INTELLIGENCE",
    ]
    v1_id = batch.documents.filter(pl.col("url").str.contains("wsj"))["document_id"].item()
    v1 = batch.annotations.filter(pl.col("document_id") == v1_id)
    assert v1.filter(pl.col("kind") == "entity")["annotation_key"].to_list() == ["Apple Inc."]
    per_key = batch.annotations.group_by("document_id", "kind", "annotation_key").len()
    assert per_key["len"].max() == 1


def test_filtered_and_quarantined_counts_add_up(tmp_path: Path) -> None:
    payload = land_gkg(tmp_path, gkg_zip(ROWS))
    batch = read(tmp_path)

    quarantine = batch.quarantine.sort("row_number")
    assert quarantine.select("row_number", "record_key").rows() == [
        (5, "20240102143000-4"),
        (6, "20240102143000-5"),
        (11, "20250102143000-10"),
    ]
    reasons = quarantine["reason"].to_list()
    assert reasons[0] == "DATE '2024-01-02 14:30' is not YYYYMMDDHHMMSS"
    assert reasons[1] == "20 tab-separated fields, a GKG 2.1 record has 27"
    assert "outside [1970-01-01T00:00:00Z, the run time 2024-01-03T00:00:00Z]" in reasons[2]
    assert quarantine["source_type"].unique().to_list() == [GDELT_SOURCE_TYPE]
    assert quarantine["raw_value"][0].startswith("20240102143000-4\t2024-01-02 14:30\t1\t")

    assert batch.filtered_records == 4  # lines 2, 4, 8, 10
    files = batch.files.row(0, named=True)
    assert files["file_path"] == payload.rel_path
    assert files["content_hash"] == payload.sha256
    assert files["source_type"] == GDELT_SOURCE_TYPE
    assert (files["records_read"], files["records_loaded"]) == (7, 4)
    assert files["records_quarantined"] == 3
    assert files["records_read"] + batch.filtered_records == len(ROWS)

    everything = read(tmp_path, require_company=False)
    assert everything.filtered_records == 0
    assert everything.documents.height == 8
    assert everything.files["records_read"].item() == len(ROWS)


def test_truncated_zip_is_quarantined_whole(tmp_path: Path) -> None:
    good = land_gkg(tmp_path, gkg_zip(ROWS[:3]), slot="20240102141500")
    body = gkg_zip(ROWS)
    cut = land_gkg(tmp_path, body[: len(body) // 2], slot="20240102143000", minute=1)
    batch = read(tmp_path)

    assert set(batch.documents["file_path"]) == {good.rel_path}
    rejected = batch.quarantine.row(0, named=True)
    assert batch.quarantine.height == 1
    assert rejected["file_path"] == cut.rel_path
    assert rejected["row_number"] is None
    assert rejected["reason"].startswith(f"{cut.rel_path}: truncated or corrupt zip: ")
    counts = batch.files.filter(pl.col("file_path") == cut.rel_path).row(0, named=True)
    assert (counts["records_read"], counts["records_quarantined"]) == (1, 1)


def test_crc_error_discards_rows_already_parsed(tmp_path: Path) -> None:
    # A stored (uncompressed) member: one flipped bit in its last lines fails the CRC at the end.
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("x.gkg.csv", "".join(row + "\n" for row in ROWS))
    body = bytearray(buffer.getvalue())
    body[-400] ^= 0x01  # a byte of the last lines, inside the member's data
    land_gkg(tmp_path, bytes(body))
    batch = read(tmp_path, chunk_rows=2)
    assert batch.documents.is_empty()
    assert batch.quarantine.height == 1
    assert "truncated or corrupt zip" in batch.quarantine["reason"].item()


def test_streaming_in_small_chunks_gives_the_same_batch(tmp_path: Path) -> None:
    land_gkg(tmp_path, gkg_zip(ROWS))
    whole = read(tmp_path)
    chunked = read(tmp_path, chunk_rows=3)
    assert chunked.documents.sort("document_id").equals(whole.documents.sort("document_id"))
    assert chunked.annotations.sort("document_id", "position").equals(
        whole.annotations.sort("document_id", "position")
    )
    assert chunked.quarantine.sort("row_number").equals(whole.quarantine.sort("row_number"))
    assert chunked.files.equals(whole.files)
    assert chunked.filtered_records == whole.filtered_records


def test_unchanged_payload_is_skipped_and_repeated_urls_quarantined(tmp_path: Path) -> None:
    first = land_gkg(tmp_path, gkg_zip(ROWS[:1]), slot="20240102141500")
    again = land_gkg(
        tmp_path, gkg_zip([ROWS[0].replace("20240102143000-0", "20240102144500-0", 1)]),
        slot="20240102144500", minute=1,
    )
    batch = read(tmp_path, skip_hashes={first.rel_path: first.sha256})
    assert batch.skipped_files == (first.rel_path,)
    assert batch.documents.height == 1  # not known: the second payload's record is loaded

    loaded_id = batch.documents["document_id"].item()
    both = read(tmp_path, known_documents={loaded_id: first.rel_path})
    assert both.documents["file_path"].to_list() == [first.rel_path]
    assert both.quarantine["file_path"].to_list() == [again.rel_path]
    assert both.quarantine["reason"].item().startswith(f"duplicate document id {loaded_id}")
    assert both.files["records_read"].to_list() == [1, 1]


def test_a_url_twice_in_a_batch_keeps_the_first(tmp_path: Path) -> None:
    land_gkg(tmp_path, gkg_zip([ROWS[0], ROWS[0].replace("-0\t", "-99\t", 1)]))
    batch = read(tmp_path)
    assert batch.documents.height == 1
    assert batch.quarantine.select("row_number", "record_key").rows() == [(2, "20240102143000-99")]
    assert "already read from" in batch.quarantine["reason"].item()


def test_latin1_bytes_are_replaced_not_fatal(tmp_path: Path) -> None:
    row = gkg_row(
        "20240102143000-0", "https://www.lemonde.fr/apple", source="lemonde.fr",
        organisations=("Apple Inc",), persons=("Fran\u00e7ois Hollande",),
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("20240102143000.gkg.csv", (row + "\n").encode("latin-1"))
    land_gkg(tmp_path, buffer.getvalue())
    batch = read(tmp_path)
    assert batch.documents.height == 1
    assert "Fran\ufffdois Hollande" in batch.annotations["annotation_key"].to_list()
