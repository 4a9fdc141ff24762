from datetime import UTC, datetime
from pathlib import Path

import pytest

from ingestion.news import DocumentError, annotation_kind, parse_document, read_documents
from tests.conftest import SAMPLES

SEED = SAMPLES / "news" / "000_d3b65a32a009eb2b.txt"  # the seed document, byte for byte


def write(root: Path, rel_path: str, content: str | bytes) -> None:
    path = root / rel_path
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)


GOOD = "Apple shipped a phone.\nApple: Apple Inc. makes phones.\n$AAPL: the ticker of Apple.\n"


def test_seed_document_is_parsed_exactly() -> None:
    text = SEED.read_text(encoding="utf-8")
    parsed = parse_document(text, file_stem=SEED.stem)

    assert parsed.document_id == "000_d3b65a32a009eb2b"
    assert parsed.published_at is None
    assert parsed.front_matter == {}
    assert parsed.body == text.splitlines()[0].strip()
    assert parsed.body.startswith("In a leaked audio from an all-hands meeting on April 30")
    assert "Zuckerberg argued that the performance of Meta’s skilled engineers" in parsed.body
    assert parsed.body.endswith("governance in this practice.")
    assert [(a.kind, a.key) for a in parsed.annotations] == [
        ("entity", "Meta"),
        ("ticker", "$META"),
        ("entity", "Mark Zuckerberg"),
        ("theme", "AI_Labor_Strategy"),
        ("theme", "Ethics_and_Privacy"),
        ("theme", "Industry_Competition"),
    ]
    assert parsed.annotations[1].description.startswith("$META is the stock ticker for Meta Platforms")


def test_seed_through_read_documents(tmp_path: Path) -> None:
    write(tmp_path, f"nested/{SEED.name}", SEED.read_bytes())
    batch = read_documents(tmp_path, "news")

    assert batch.quarantine.is_empty()
    [document] = batch.documents.to_dicts()
    assert document["document_id"] == SEED.stem
    assert document["file_path"] == f"nested/{SEED.name}"
    assert document["published_at"] is None
    assert document["front_matter"] == "{}"
    assert -1 <= document["sentiment"] <= 1
    assert batch.annotations["position"].to_list() == [1, 2, 3, 4, 5, 6]
    assert batch.annotations["kind"].to_list() == ["entity", "ticker", "entity", "theme", "theme", "theme"]


def test_colon_inside_body_does_not_end_the_body() -> None:
    text = (
        "Apple reported results on Thursday.\n"
        "Cook said: we are pleased with the quarter.\n"
        "Shares rose after hours.\n"
        "Apple: Apple Inc. is a maker of phones.\n"
        "Tim Cook: Chief executive of Apple.\n"
    )
    parsed = parse_document(text, file_stem="x")

    assert parsed.body == (
        "Apple reported results on Thursday.\n"
        "Cook said: we are pleased with the quarter.\n"
        "Shares rose after hours."
    )
    assert [a.key for a in parsed.annotations] == ["Apple", "Tim Cook"]


def test_annotation_key_rules() -> None:
    text = (
        "Body.\n"
        "Why did shares fall so hard today?: nobody knows\n"
        "Meta Platforms, Inc.: the company.\n"
        "U.S. Securities and Exchange Commission: the regulator.\n"
    )
    parsed = parse_document(text, file_stem="x")

    assert parsed.body == "Body.\nWhy did shares fall so hard today?: nobody knows"
    assert [a.key for a in parsed.annotations] == [
        "Meta Platforms, Inc.",
        "U.S. Securities and Exchange Commission",
    ]
    assert annotation_kind("$FB") == "ticker"
    assert annotation_kind("Earnings_Report") == "theme"
    assert annotation_kind("Mark Zuckerberg") == "entity"
    assert annotation_kind("Meta") == "entity"


def test_text_normalisation_keeps_paragraphs() -> None:
    text = "\ufeff  First \t line   here.\nsecond line\n\n\n Cafe\u0301 paragraph.  \n\nMeta:   the   company\n"
    parsed = parse_document(text, file_stem="x")

    assert parsed.body == "First line here.\nsecond line\n\nCafé paragraph."
    assert parsed.annotations[0].description == "the company"


def test_every_unicode_space_inside_a_line_collapses_to_one_space() -> None:
    # no-break, em and ideographic spaces and the unit separator \x1f: whitespace to regex `\s`
    text = "Apple\u00a0shipped \u2003 a\u3000phone\x1fto\tbuyers.\n"
    parsed = parse_document(text, file_stem="x")

    assert parsed.body == "Apple shipped a phone to buyers."


def test_front_matter_unknown_keys_offsets_quotes_and_comments() -> None:
    text = (
        "---\n"
        "id: fb-2012-q2   # a comment\n"
        "published_at: 2012-07-26T21:05:00+01:00\n"
        'title: "Facebook: first results"\n'
        "url: https://example.com/a#frag\n"
        "desk: tech\n"
        "---\n" + GOOD
    )
    parsed = parse_document(text, file_stem="ignored")

    assert parsed.document_id == "fb-2012-q2"
    assert parsed.published_at == datetime(2012, 7, 26, 20, 5, tzinfo=UTC)
    assert parsed.front_matter == {
        "id": "fb-2012-q2",
        "published_at": "2012-07-26T21:05:00+01:00",
        "title": "Facebook: first results",
        "url": "https://example.com/a#frag",
        "desk": "tech",
    }
    assert parsed.body == "Apple shipped a phone."


def test_published_at_with_z_is_utc() -> None:
    parsed = parse_document("---\npublished_at: 2012-07-26T20:05:00Z\n---\n" + GOOD, file_stem="x")
    assert parsed.published_at == datetime(2012, 7, 26, 20, 5, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty document"),
        ("  \n\n", "empty document"),
        ("Apple: Apple Inc.\n$AAPL: ticker\n", "no body: every line reads as an annotation"),
        # a one-line story is ambiguous: the reason says why it has no body, and how to give it one
        ("Breaking news: Apple beats estimates\n", "needs a second line"),
        ("---\nid: a\n---\n", "no body: the document has no text after its front matter"),
        ("---\nid: a\n" + GOOD, "no closing '---'"),
        ("---\njust words\n---\n" + GOOD, "line 2 'just words' is not 'key: value'"),
        ("---\nid: a\nid: b\n---\n" + GOOD, "repeats key 'id'"),
        ('---\ntitle: "open\n---\n' + GOOD, "unterminated quoted value"),
        ("---\npublished_at: 2012-07-26T20:05:00\n---\n" + GOOD, "'2012-07-26T20:05:00' has no time zone"),
        ("---\npublished_at: last Tuesday\n---\n" + GOOD, "'last Tuesday' is not an ISO 8601"),
    ],
)
def test_document_errors(text: str, reason: str) -> None:
    with pytest.raises(DocumentError) as error:
        parse_document(text, file_stem="x")
    assert reason in error.value.reason


def test_every_file_level_reason_is_quarantined(tmp_path: Path) -> None:
    write(tmp_path, "a_good.txt", GOOD)
    write(tmp_path, "b_latin1.txt", "Caf\xe9 news.\n".encode("latin-1"))
    write(tmp_path, "c_empty.txt", b"")
    write(tmp_path, "d_no_body.txt", "Apple: Apple Inc.\n")
    write(tmp_path, "e_front_matter.txt", "---\nid x\n---\n" + GOOD)
    write(tmp_path, "f_naive.txt", "---\nid: f-doc\npublished_at: 2012-07-26 20:05\n---\n" + GOOD)
    write(tmp_path, "g_large.txt", "Big news. " * 30 + "\nApple: Apple Inc.\n")
    write(tmp_path, "h_duplicate.txt", "---\nid: a_good\n---\n" + GOOD)
    write(tmp_path, "notes.md", "not a document")

    batch = read_documents(tmp_path, "news", max_bytes=200)

    reasons = dict(zip(batch.quarantine["file_path"], batch.quarantine["reason"], strict=True))
    assert batch.documents["document_id"].to_list() == ["a_good"]
    assert reasons["b_latin1.txt"] == "not valid UTF-8: byte 0xe9 at offset 3"
    assert reasons["c_empty.txt"].startswith("empty document")
    assert reasons["d_no_body.txt"].startswith("no body")
    assert reasons["e_front_matter.txt"].startswith("malformed front matter")
    assert "'2012-07-26 20:05' has no time zone" in reasons["f_naive.txt"]
    assert reasons["g_large.txt"] == "file is 319 bytes, over the 200-byte limit"
    assert reasons["h_duplicate.txt"] == "duplicate document id 'a_good': already read from a_good.txt"
    assert len(reasons) == 7

    record_keys = dict(zip(batch.quarantine["file_path"], batch.quarantine["record_key"], strict=True))
    assert record_keys["f_naive.txt"] == "f-doc"
    assert record_keys["b_latin1.txt"] is None
    assert set(batch.quarantine["source_type"]) == {"documents"}
    assert batch.quarantine["row_number"].null_count() == 7
    assert "Caf\ufffd news." in batch.quarantine.filter(file_path="b_latin1.txt")["raw_value"][0]

    files = batch.files
    assert files.height == 8
    assert (files["records_read"] == files["records_loaded"] + files["records_quarantined"]).all()
    assert files["records_loaded"].sum() == batch.documents.height
    assert files["records_quarantined"].sum() == batch.quarantine.height


def test_unchanged_files_are_skipped(tmp_path: Path) -> None:
    write(tmp_path, "a.txt", GOOD)
    write(tmp_path, "b.txt", GOOD.replace("phone", "tablet"))
    first = read_documents(tmp_path, "news")
    hashes = dict(zip(first.files["file_path"], first.files["content_hash"], strict=True))

    write(tmp_path, "b.txt", GOOD.replace("phone", "watch"))
    second = read_documents(tmp_path, "news", skip_hashes=hashes)

    assert second.skipped_files == ("a.txt",)
    assert second.files["file_path"].to_list() == ["b.txt"]
    assert second.documents["body"].to_list() == ["Apple shipped a watch."]


def test_parsing_in_worker_processes_gives_the_serial_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ingestion.news

    for number in range(30):
        write(tmp_path, f"doc_{number:02}.txt", f"Story {number}. Apple sold more.\n" + GOOD)
    write(tmp_path, "dup_a.txt", "---\nid: same\n---\nFirst.\n")
    write(tmp_path, "dup_b.txt", "---\nid: same\n---\nSecond.\n")
    write(tmp_path, "broken.txt", b"\xff\xfe")
    write(tmp_path, "future.txt", "---\npublished_at: 2999-01-01T00:00:00Z\n---\nLater.\n")
    now = datetime(2026, 11, 25, tzinfo=UTC)
    serial = read_documents(tmp_path, "news", now=now)
    monkeypatch.setattr(ingestion.news, "PARALLEL_MIN_FILES", 10)
    monkeypatch.setattr(ingestion.news, "FILES_PER_TASK", 7)  # chunks end mid-way, unevenly

    parallel = read_documents(tmp_path, "news", now=now, workers=2)

    assert serial.documents.height == 31 and serial.quarantine.height == 3
    for frame in ("documents", "annotations", "quarantine", "files"):
        assert getattr(parallel, frame).equals(getattr(serial, frame)), frame
