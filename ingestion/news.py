"""News documents (source type `documents`): `.txt` files -> raw.news_documents, raw.news_annotations.

File format (docs/inputs.md): an optional front matter between `---` lines, the body,
then one annotation per line (`KEY: description`).

Where the body ends: an annotation line is `KEY: description` with a short KEY (at most 80
characters and 8 words, not ending like a sentence). The annotation block is the longest run of
such lines at the END of the document (blank lines allowed). So a body line with a colon
("Cook said: we are ...") stays in the body as long as a body line follows it; only a body whose
very last line looks like an annotation is ambiguous, and is then read as an annotation.
"""

from __future__ import annotations

import json
import multiprocessing
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Literal

import polars as pl
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from ingestion import limits
from ingestion.limits import shown
from ingestion.quarantine import (
    DOCUMENTS_SOURCE_TYPE,
    FolderChunk,
    QuarantineRecord,
    SourceFile,
    file_stats_frame,
    list_source_files,
    problem_record,
    quarantine_frame,
)

DEFAULT_MAX_BYTES = limits.MAX_DOCUMENT_FILE_BYTES
MAX_KEY_CHARS = limits.MAX_ANNOTATION_KEY_CHARS
MAX_KEY_WORDS = 8

DOCUMENT_SCHEMA: dict[str, pl.DataType] = {
    "document_id": pl.String(),
    "source_name": pl.String(),
    "file_path": pl.String(),
    "published_at": pl.Datetime("us", "UTC"),
    "source": pl.String(),
    "url": pl.String(),
    "title": pl.String(),
    "body": pl.String(),
    "front_matter": pl.String(),  # JSON text; DuckDB stores it as JSON
    "sentiment": pl.Float64(),
    "content_hash": pl.String(),
}

ANNOTATION_SCHEMA: dict[str, pl.DataType] = {
    "document_id": pl.String(),
    "position": pl.Int32(),
    "kind": pl.String(),
    "annotation_key": pl.String(),
    "description": pl.String(),
}

AnnotationKind = Literal["entity", "ticker", "theme"]

FRONT_MATTER_DELIMITER = "---"
FRONT_MATTER_LINE = re.compile(r"(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)[ \t]*:(?P<value>(?:[ \t].*)?)")
# As in YAML, ' #' starts a comment in an unquoted value; a '#' inside a URL does not.
TRAILING_COMMENT = re.compile(r"\s+#.*$")
THEME_KEY = re.compile(r"[A-Za-z0-9_]*_[A-Za-z0-9_]*")
# A key may end with an abbreviation's dot ("Meta Platforms, Inc.", "U.S."), not a sentence's.
ABBREVIATION = re.compile(r"(?:[A-Z][a-z]{0,3}\.)|(?:[A-Za-z]\.){2,}")
CASHTAG = re.compile(limits.CASHTAG_PATTERN)
# Front-matter fields stored in their own columns, with their length limits.
FIELD_MAX_CHARS = {
    "source": limits.MAX_SOURCE_CHARS,
    "url": limits.MAX_URL_CHARS,
    "title": limits.MAX_TITLE_CHARS,
}


class DocumentError(ValueError):
    """A document that cannot be loaded; `reason` is the sentence for `audit.quarantine`."""

    def __init__(self, reason: str, document_id: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.document_id = document_id


# Part of every file's change key: bump it when parsing or validation changes, and every file
# is read again by the next run.
PARSER_VERSION = "news-2"

@dataclass(frozen=True)
class Annotation:
    kind: AnnotationKind
    key: str
    description: str


@dataclass(frozen=True)
class ParsedDocument:
    document_id: str
    published_at: datetime | None  # UTC
    front_matter: dict[str, str | None]  # every key as written, unknown keys included
    body: str
    annotations: tuple[Annotation, ...]


@dataclass(frozen=True)
class NewsBatch:
    source_name: str
    documents: pl.DataFrame  # raw.news_documents without ingested_at
    annotations: pl.DataFrame  # raw.news_annotations
    quarantine: pl.DataFrame  # audit.quarantine without quarantined_at
    files: pl.DataFrame  # audit.ingested_files without ingested_at, one row per file read
    skipped_files: tuple[str, ...] = ()  # unchanged since the last load
    restat_files: tuple[tuple[str, int, int], ...] = ()  # of those, (path, size, mtime_ns) to record
    filtered_records: int = 0  # read but not about a known company (GDELT): not records of the batch
    unchanged_documents: int = 0  # read again but already loaded as they are: not records


def read_documents(
    root: Path,
    source_name: str,
    *,
    skip_hashes: Mapping[str, str] = {},
    skip_stats: pl.DataFrame | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
    now: datetime | None = None,
    workers: int = 1,
    chunk: FolderChunk | None = None,
) -> NewsBatch:
    """Read every `*.txt` under `root` (or only those of `chunk`); files whose (size,
    mtime_ns) is the one `skip_stats` records for their path, or else whose hash equals
    `skip_hashes[path]`, are skipped.

    With `workers` > 1 and at least `PARALLEL_MIN_FILES` files to read, documents are parsed by
    that many processes; the batch is the same as a serial read's.

    Each file read is one record: loaded as a document or quarantined with the reason (see
    `ingestion.limits`; `now`, default the current time, is the run time no `published_at` may
    pass). A document id already read from an earlier path (paths sorted) quarantines the later
    file. A bad annotation line quarantines its whole document: `audit.ingested_files` counts
    documents, so a document cannot be both loaded and quarantined.
    """
    run_time = limits.utc_now(now)
    listing = list_source_files(
        root, [".txt"], skip_hashes, max_bytes=max_bytes, skip_stats=skip_stats, chunk=chunk
    )
    documents: list[dict[str, object]] = []
    annotations: list[dict[str, object]] = []
    rejected: list[QuarantineRecord] = []
    first_path_by_id: dict[str, str] = {}
    outcomes = _read_files(listing.files, run_time, source_name, workers)
    # In path order, serially: the first path holding a document id keeps it.
    for file, outcome in zip(listing.files, outcomes, strict=True):
        if isinstance(outcome, QuarantineRecord):
            rejected.append(outcome)
            continue
        document, document_annotations = outcome
        document_id = str(document["document_id"])
        first_path = first_path_by_id.setdefault(document_id, file.rel_path)
        if first_path != file.rel_path:
            rejected.append(
                QuarantineRecord(
                    file.rel_path,
                    f"duplicate document id {document_id!r}: already read from {first_path}",
                    _raw_text(file.data),
                    record_key=document_id,
                )
            )
            continue
        documents.append(document)
        annotations.extend(document_annotations)

    quarantined_counts = {record.file_path: 1 for record in rejected}
    return NewsBatch(
        source_name=source_name,
        documents=pl.DataFrame(documents, schema=DOCUMENT_SCHEMA),
        annotations=pl.DataFrame(annotations, schema=ANNOTATION_SCHEMA),
        quarantine=quarantine_frame(
            rejected, source_type=DOCUMENTS_SOURCE_TYPE, source_name=source_name
        ),
        files=file_stats_frame(
            listing.files,
            source_type=DOCUMENTS_SOURCE_TYPE,
            source_name=source_name,
            read_counts={file.rel_path: 1 for file in listing.files},
            quarantined_counts=quarantined_counts,
        ),
        skipped_files=listing.skipped_files,
        restat_files=listing.restat_files,
    )


# A file's document row and annotation rows, or its quarantine record.
FileOutcome = tuple[dict[str, object], list[dict[str, object]]] | QuarantineRecord
# Below this many files a process pool costs more than it saves: starting workers takes about
# 0.8 s (each imports Polars and VADER), a document parses in about 0.35 ms.
PARALLEL_MIN_FILES = 5000
FILES_PER_TASK = 500


def _read_files(
    files: Sequence[SourceFile], now: datetime, source_name: str, workers: int
) -> list[FileOutcome]:
    if workers <= 1 or len(files) < PARALLEL_MIN_FILES:
        return _read_chunk(files, now, source_name)
    chunks = [files[start:start + FILES_PER_TASK] for start in range(0, len(files), FILES_PER_TASK)]
    # spawn, not fork: the parent is a threaded Dagster process.
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        results = pool.map(
            _read_chunk, chunks, [now] * len(chunks), [source_name] * len(chunks)
        )
        return [outcome for chunk in results for outcome in chunk]


def _read_chunk(files: Sequence[SourceFile], now: datetime, source_name: str) -> list[FileOutcome]:
    return [_read_file(file, now, source_name) for file in files]


def _read_file(file: SourceFile, now: datetime, source_name: str) -> FileOutcome:
    if (record := problem_record(file)) is not None:
        return record
    try:
        parsed = _parse_file(file, now)
    except DocumentError as error:
        return QuarantineRecord(
            file.rel_path, error.reason, _raw_text(file.data), record_key=error.document_id
        )
    annotations = [
        {
            "document_id": parsed.document_id,
            "position": position,
            "kind": annotation.kind,
            "annotation_key": annotation.key,
            "description": annotation.description,
        }
        for position, annotation in enumerate(parsed.annotations, start=1)
    ]
    return _document_row(parsed, file, source_name), annotations


def parse_document(
    text: str, *, file_stem: str, now: datetime | None = None
) -> ParsedDocument:
    """Parse one decoded document; raises `DocumentError` when it cannot be loaded."""
    run_time = limits.utc_now(now)
    text = unicodedata.normalize("NFC", text.removeprefix("\ufeff"))
    if (nul := text.find("\0")) != -1:
        raise DocumentError(f"NUL byte at character {nul}: a document is text")
    lines = text.splitlines()
    if not text.strip():
        raise DocumentError("empty document: the file has no text")
    front_matter, content_lines = _split_front_matter(lines)
    document_id = front_matter.get("id") or file_stem
    if len(document_id) > limits.MAX_DOCUMENT_ID_CHARS:
        raise DocumentError(
            f"document id {shown(document_id)} is {len(document_id):,} characters, over the "
            f"{limits.MAX_DOCUMENT_ID_CHARS:,}-character limit"
        )
    published_at = _parse_published_at(front_matter.get("published_at"), document_id, run_time)
    for field, max_chars in FIELD_MAX_CHARS.items():
        _check_length(field, front_matter.get(field), max_chars, document_id)
    body_lines, annotations = _split_body(content_lines)
    body = normalise_paragraphs(body_lines)
    if not body:
        raise DocumentError(
            "no body: every line reads as an annotation ('KEY: description'), so none is left "
            "for the body; a story of one line that starts like 'Apple: ...' needs a second line"
            if annotations else "no body: the document has no text after its front matter",
            document_id,
        )
    _check_length("body", body, limits.MAX_BODY_CHARS, document_id)
    _check_annotations(annotations, document_id)
    return ParsedDocument(document_id, published_at, front_matter, body, annotations)


def annotation_kind(key: str) -> AnnotationKind:
    if key.startswith("$"):
        return "ticker"
    if THEME_KEY.fullmatch(key):
        return "theme"
    return "entity"


def _check_length(field: str, value: str | None, max_chars: int, document_id: str) -> None:
    if value is not None and len(value) > max_chars:
        raise DocumentError(
            f"{field} {shown(value)} is {len(value):,} characters, over the "
            f"{max_chars:,}-character limit",
            document_id,
        )


def _check_annotations(annotations: tuple[Annotation, ...], document_id: str) -> None:
    """Every annotation line must be loadable, or the whole document is quarantined."""
    whole = "the whole document is quarantined"
    if len(annotations) > limits.MAX_ANNOTATIONS_PER_DOCUMENT:
        raise DocumentError(
            f"{len(annotations):,} annotation lines, over the "
            f"{limits.MAX_ANNOTATIONS_PER_DOCUMENT:,}-annotation limit: {whole}",
            document_id,
        )
    for position, annotation in enumerate(annotations, start=1):
        if annotation.kind == "ticker" and CASHTAG.fullmatch(annotation.key) is None:
            raise DocumentError(
                f"annotation {position}: cashtag {shown(annotation.key)} is not '$' + a ticker "
                f"(ASCII letters, digits and . - ^ =, at most {limits.MAX_TICKER_CHARS} "
                f"characters): {whole}",
                document_id,
            )
        if len(annotation.description) > limits.MAX_ANNOTATION_DESCRIPTION_CHARS:
            raise DocumentError(
                f"annotation {position}: description {shown(annotation.description)} is "
                f"{len(annotation.description):,} characters, over the "
                f"{limits.MAX_ANNOTATION_DESCRIPTION_CHARS:,}-character limit: {whole}",
                document_id,
            )


def _parse_file(file: SourceFile, now: datetime) -> ParsedDocument:
    """A file within the size limit (`list_source_files` checked it) as a parsed document."""
    try:
        text = file.data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DocumentError(
            f"not valid UTF-8: byte 0x{file.data[error.start]:02x} at offset {error.start}"
        ) from None
    return parse_document(text, file_stem=file.stem, now=now)


def _split_front_matter(lines: list[str]) -> tuple[dict[str, str | None], list[str]]:
    if not lines or lines[0].strip() != FRONT_MATTER_DELIMITER:
        return {}, lines
    closing = next(
        (i for i in range(1, len(lines)) if lines[i].strip() == FRONT_MATTER_DELIMITER), None
    )
    if closing is None:
        raise DocumentError("malformed front matter: no closing '---' line")
    fields: dict[str, str | None] = {}
    for line_number, line in enumerate(lines[1:closing], start=2):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        match = FRONT_MATTER_LINE.fullmatch(stripped)
        if match is None:
            raise DocumentError(
                f"malformed front matter: line {line_number} {stripped!r} is not 'key: value'"
            )
        key = match["key"]
        if key in fields:
            raise DocumentError(f"malformed front matter: line {line_number} repeats key {key!r}")
        fields[key] = _front_matter_value(match["value"], line_number)
    return fields, lines[closing + 1 :]


def _front_matter_value(raw: str, line_number: int) -> str | None:
    value = raw.strip()
    if value[:1] in ('"', "'"):
        closing = value.find(value[0], 1)
        rest = value[closing + 1 :].strip() if closing != -1 else ""
        if closing == -1 or (rest and not rest.startswith("#")):
            raise DocumentError(
                f"malformed front matter: line {line_number} has an unterminated quoted value"
            )
        return value[1:closing]
    return TRAILING_COMMENT.sub("", value) or None


def _parse_published_at(value: str | None, document_id: str, now: datetime) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise DocumentError(
            f"published_at {value!r} is not an ISO 8601 timestamp", document_id
        ) from None
    if parsed.tzinfo is None:
        raise DocumentError(
            f"published_at {value!r} has no time zone: add Z or an offset such as +01:00",
            document_id,
        )
    parsed = parsed.astimezone(UTC)
    if not limits.MIN_TIMESTAMP <= parsed <= now:
        raise DocumentError(
            f"published_at {value!r} is outside [{limits.MIN_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ}, "
            f"the run time {now:%Y-%m-%dT%H:%M:%SZ}]",
            document_id,
        )
    return parsed


def _split_body(lines: list[str]) -> tuple[list[str], tuple[Annotation, ...]]:
    """Body lines and the annotations of the trailing annotation block (see module docstring)."""
    block_start = len(lines)
    for index in range(len(lines) - 1, -1, -1):
        if not lines[index].strip():
            continue
        if _parse_annotation(lines[index]) is None:
            break
        block_start = index
    annotations = tuple(
        annotation
        for line in lines[block_start:]
        if (annotation := _parse_annotation(line)) is not None
    )
    return lines[:block_start], annotations


def _parse_annotation(line: str) -> Annotation | None:
    key, separator, description = _collapse_whitespace(line).partition(": ")
    key, description = key.strip(), description.strip()
    if not separator or not description or not _looks_like_key(key):
        return None
    return Annotation(annotation_kind(key), key, description)


def _looks_like_key(key: str) -> bool:
    words = key.split()
    if not words or len(key) > MAX_KEY_CHARS or len(words) > MAX_KEY_WORDS:
        return False
    if key.endswith(("!", "?")):
        return False
    return not key.endswith(".") or ABBREVIATION.fullmatch(words[-1]) is not None


def normalise_paragraphs(lines: Iterable[str]) -> str:
    """Collapse whitespace inside lines; keep line breaks and one blank line between paragraphs."""
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        cleaned = _collapse_whitespace(line)
        if cleaned:
            paragraphs[-1].append(cleaned)
        elif paragraphs[-1]:
            paragraphs.append([])
    return "\n\n".join("\n".join(paragraph) for paragraph in paragraphs if paragraph)


def _collapse_whitespace(line: str) -> str:
    # str.split() splits on the characters `\s` matches, seven times faster than re.sub.
    return " ".join(line.split())


def _document_row(parsed: ParsedDocument, file: SourceFile, source_name: str) -> dict[str, object]:
    return {
        "document_id": parsed.document_id,
        "source_name": source_name,
        "file_path": file.rel_path,
        "published_at": parsed.published_at,
        "source": parsed.front_matter.get("source"),
        "url": parsed.front_matter.get("url"),
        "title": parsed.front_matter.get("title"),
        "body": parsed.body,
        "front_matter": json.dumps(parsed.front_matter, ensure_ascii=False),
        "sentiment": sentiment(parsed.body),
        "content_hash": file.content_hash,
    }


def sentiment(text: str) -> float:
    """VADER's compound score of `text`, from -1 (negative) to 1 (positive)."""
    return _sentiment_analyzer().polarity_scores(text)["compound"]


@cache
def _sentiment_analyzer() -> SentimentIntensityAnalyzer:
    # Building the analyzer loads VADER's lexicon from disk: do it once per process.
    return SentimentIntensityAnalyzer()


def _raw_text(data: bytes) -> str:
    return data.decode("utf-8", errors="replace")
