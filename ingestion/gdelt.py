"""GDELT GKG 2.1 15-minute files (source type `gdelt`): landed `.gkg.csv.zip` payloads -> news.

A payload is a zip holding one tab-separated member without a header, 27 columns in the order of
the GKG 2.1 codebook (`GKG_COLUMNS`). It is streamed `chunk_rows` lines at a time: a day of GKG
never sits in memory, only the records kept from it.

Each line is a record. One with the wrong number of columns, a bad DATE or no average tone is
quarantined (row_number = line number, record_key = GKGRECORDID). With `require_company`, a
well-formed record naming no gazetteer company among its organisations is filtered out: not a
record of the batch, only counted in `NewsBatch.filtered_records`. GDELT already typed these names
as organisations, so an ambiguous gazetteer name ("apple") needs no further corroboration here.

A kept record becomes a document:
- document_id = "gdelt-" + sha256(DocumentIdentifier)[:16] (the loader deduplicates by URL across
  sources); a URL read twice in the batch quarantines the later record;
- title = the <PAGE_TITLE> of V2ExtrasXML when GDELT gives one, else null; GDELT ships no text,
  so body is a one-line description of the record;
- sentiment = GDELT's average tone (first value of V1.5Tone, -100..100) / 100, clipped to
  [-1, 1]: GDELT's own tone, not VADER like the `documents` source.
Annotations: organisations (under their gazetteer entity_name when they match), persons, and
themes mapped through the taxonomy rows with match_kind 'gdelt' (an unmapped code is a theme of
its own), each once per document.

A payload that is not a readable zip (truncated, CRC error, not one member) is quarantined whole
and nothing read from it is kept: a payload is loaded whole or not at all.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path

import polars as pl

from ingestion import limits
from ingestion.extraction import Gazetteer
from ingestion.landing import LandedPayload, landed_payloads
from ingestion.names import company_name_key
from ingestion.news import ANNOTATION_SCHEMA, DOCUMENT_SCHEMA, NewsBatch
from ingestion.quarantine import (
    QUARANTINE_SCHEMA,
    QuarantineRecord,
    SourceFile,
    file_stats_frame,
    quarantine_frame,
    shown_expr,
    truncated,
)

GDELT_SOURCE_TYPE = "gdelt"
# Part of every payload's change key (with the gazetteer's version): bump it when parsing changes.
GDELT_PARSER_VERSION = "gdelt-1"

GKG_COLUMNS = (
    "GKGRECORDID",
    "DATE",
    "SourceCollectionIdentifier",
    "SourceCommonName",
    "DocumentIdentifier",
    "V1Counts",
    "V2.1Counts",
    "V1Themes",
    "V2EnhancedThemes",
    "V1Locations",
    "V2EnhancedLocations",
    "V1Persons",
    "V2EnhancedPersons",
    "V1Organizations",
    "V2EnhancedOrganizations",
    "V1.5Tone",
    "V2.1EnhancedDates",
    "V2GCAM",
    "V2.1SharingImage",
    "V2.1RelatedImages",
    "V2.1SocialImageEmbeds",
    "V2.1SocialVideoEmbeds",
    "V2.1Quotations",
    "V2.1AllNames",
    "V2.1Amounts",
    "V2.1TranslationInfo",
    "V2ExtrasXML",
)
# The comma-separated values of V1.5Tone, in codebook order.
TONE_FIELDS = (
    "tone",
    "positive_score",
    "negative_score",
    "polarity",
    "activity_reference_density",
    "self_group_reference_density",
    "word_count",
)
# The taxonomy frame the reader maps GDELT theme codes with (other match kinds are ignored).
TAXONOMY_SCHEMA: dict[str, pl.DataType] = {
    "theme_code": pl.String(),  # the theme annotation key: "Leadership_Change"
    "match_kind": pl.String(),  # 'gdelt' for rows matching GKG theme codes
    "pattern": pl.String(),  # an exact code ("TAX_FNCACT_CEO") or a prefix ending in '*'
    "description": pl.String(),  # the theme's description, used as the annotation's
}
# What a kept record carries out of its chunk (the bulky fields, V2GCAM and the like, stay behind).
KEPT_SCHEMA: dict[str, pl.DataType] = {
    "line_number": pl.Int32(),
    "file_path": pl.String(),
    "raw_value": pl.String(),
    "GKGRECORDID": pl.String(),
    "SourceCommonName": pl.String(),
    "DocumentIdentifier": pl.String(),
    "V1.5Tone": pl.String(),
    "published_at": pl.Datetime("us", "UTC"),
    "tone": pl.Float64(),
    "title": pl.String(),
    "all_names_count": pl.UInt32(),
    "organisations": pl.List(pl.String()),
    "matched_organisations": pl.List(pl.String()),
    "matched_names": pl.List(pl.String()),
    "persons": pl.List(pl.String()),
    "themes": pl.List(pl.String()),
}
REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "line_number": pl.Int32(),
    "file_path": pl.String(),
    "record_id": pl.String(),
    "reason": pl.String(),
    "raw_value": pl.String(),
}
GKG_DATE_PATTERN = r"^\d{14}$"
OFFSET_SUFFIX = r",-?\d+$"  # V2 enhanced fields are "name,charoffset"
PAGE_TITLE = r"<PAGE_TITLE>(.*?)</PAGE_TITLE>"
KIND_ORDER = {"organisation": 0, "person": 1, "theme": 2}


class GkgPayloadError(ValueError):
    """A payload that cannot be read whole: it is quarantined and nothing from it is kept."""


def read_gkg_payloads(
    source_root: Path,
    source_name: str,
    *,
    skip_hashes: Mapping[str, str] = {},
    known_documents: Mapping[str, str] = {},
    gazetteer: Gazetteer,
    taxonomy: pl.DataFrame,
    require_company: bool = True,
    now: datetime | None = None,
    chunk_rows: int = 20_000,
) -> NewsBatch:
    """Read every landed GKG payload of `source_root` whose sha256 is not `skip_hashes[rel_path]`.

    `known_documents` maps the document ids already loaded to their file_path: GDELT lists a URL
    again in later files, and such a record is quarantined naming the payload that loaded it (a
    payload read again keeps its own documents). Within the batch, the first record of a URL
    (payloads oldest fetch first, then line) wins the same way.
    """
    run_time = limits.utc_now(now)
    payloads = landed_payloads(source_root)
    skipped = tuple(p.rel_path for p in payloads if skip_hashes.get(p.rel_path) == p.sha256)
    to_read = [p for p in payloads if skip_hashes.get(p.rel_path) != p.sha256]
    names = _gazetteer_keys(gazetteer)

    kept_frames: list[pl.DataFrame] = []
    rejected_frames: list[pl.DataFrame] = []
    rejected_payloads: list[QuarantineRecord] = []
    filtered_records = 0
    for order, payload in enumerate(to_read):
        try:
            kept, rejected, filtered = _read_payload(
                payload, names, run_time, require_company, chunk_rows
            )
        except GkgPayloadError as error:
            rejected_payloads.append(QuarantineRecord(payload.rel_path, str(error), None))
            continue
        kept_frames.append(
            kept.with_columns(
                payload_order=pl.lit(order, pl.Int32), content_hash=pl.lit(payload.sha256)
            )
        )
        rejected_frames.append(rejected)
        filtered_records += filtered

    records = pl.concat(
        [
            pl.DataFrame(
                schema={**KEPT_SCHEMA, "payload_order": pl.Int32(), "content_hash": pl.String()}
            ),
            *kept_frames,
        ]
    )
    records, duplicates = _split_duplicate_urls(records, known_documents)
    quarantine = pl.concat(
        [
            quarantine_frame(
                rejected_payloads, source_type=GDELT_SOURCE_TYPE, source_name=source_name
            ),
            *(
                frame.select(
                    source_type=pl.lit(GDELT_SOURCE_TYPE),
                    source_name=pl.lit(source_name),
                    file_path="file_path",
                    row_number="line_number",
                    record_key="record_id",
                    reason="reason",
                    raw_value="raw_value",
                ).cast(QUARANTINE_SCHEMA)
                for frame in [*rejected_frames, duplicates]
            ),
        ]
    )
    read_counts = {payload.rel_path: 0 for payload in to_read}
    read_counts.update(records.group_by("file_path").len().iter_rows())
    read_counts.update(
        (path, read_counts.get(path, 0) + count)
        for path, count in quarantine.group_by("file_path").len().iter_rows()
    )
    return NewsBatch(
        source_name=source_name,
        documents=_documents(records, source_name),
        annotations=_annotations(records, taxonomy),
        quarantine=quarantine,
        files=file_stats_frame(
            [SourceFile(p.rel_path, b"", p.sha256) for p in to_read],
            source_type=GDELT_SOURCE_TYPE,
            source_name=source_name,
            read_counts=read_counts,
            quarantined_counts=dict(quarantine.group_by("file_path").len().iter_rows()),
        ),
        skipped_files=skipped,
        filtered_records=filtered_records,
    )


def _gazetteer_keys(gazetteer: Gazetteer) -> pl.DataFrame:
    return gazetteer.names.select("name_key", "entity_name").unique("name_key")


def _read_payload(
    payload: LandedPayload,
    names: pl.DataFrame,
    run_time: datetime,
    require_company: bool,
    chunk_rows: int,
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """(kept records, quarantined rows, filtered count) of one payload, or GkgPayloadError."""
    kept = [pl.DataFrame(schema=KEPT_SCHEMA)]
    rejected = [pl.DataFrame(schema=REJECTED_SCHEMA)]
    filtered = 0
    try:
        with payload.open() as stream, zipfile.ZipFile(stream) as archive:
            members = archive.infolist()
            if len(members) != 1:
                raise GkgPayloadError(
                    f"{payload.rel_path}: a GKG zip holds one file, this one holds {len(members)}"
                )
            with archive.open(members[0]) as member:
                for chunk in _line_chunks(member, chunk_rows):
                    checked = _check_records(_split_columns(chunk, payload.rel_path), run_time)
                    rejected.append(
                        checked.filter(pl.col("reason") != "").select(REJECTED_SCHEMA.keys())
                    )
                    valid = _with_organisations(checked.filter(pl.col("reason") == ""), names)
                    has_company = pl.col("matched_names").list.len() > 0
                    if require_company:
                        filtered += valid.filter(~has_company).height
                        valid = valid.filter(has_company)
                    kept.append(_kept_columns(valid))
    except (zipfile.BadZipFile, zlib.error, EOFError) as error:
        raise GkgPayloadError(f"{payload.rel_path}: truncated or corrupt zip: {error}") from None
    return pl.concat(kept), pl.concat(rejected), filtered


def _line_chunks(member: io.BufferedIOBase, chunk_rows: int) -> Iterator[pl.DataFrame]:
    """The member's lines, `chunk_rows` at a time, with their 1-based line numbers."""
    # GKG files mix encodings in practice: undecodable bytes become U+FFFD rather than failing.
    text = io.TextIOWrapper(member, encoding="utf-8", errors="replace", newline="\n")
    first_line = 1
    while lines := list(itertools.islice(text, chunk_rows)):
        yield pl.DataFrame(
            {
                "line_number": pl.int_range(first_line, first_line + len(lines), eager=True),
                "line": lines,
            },
            schema={"line_number": pl.Int32(), "line": pl.String()},
        )
        first_line += len(lines)


def _split_columns(chunk: pl.DataFrame, file_path: str) -> pl.DataFrame:
    """One column per GKG field (null when the line is short), plus the field count."""
    line = pl.col("line").str.strip_chars_end("\r\n")
    fields = line.str.split("\t")
    return (
        chunk.filter(line.str.strip_chars() != "")  # a blank line is not a record
        .with_columns(fields=fields)
        .select(
            "line_number",
            file_path=pl.lit(file_path),
            raw_value=truncated(line),
            field_count=pl.col("fields").list.len(),
            **{
                name: pl.col("fields").list.get(index, null_on_oob=True)
                for index, name in enumerate(GKG_COLUMNS)
            },
        )
    )


def _check_records(records: pl.DataFrame, run_time: datetime) -> pl.DataFrame:
    """Parse DATE and tone and add `reason`: '' for a loadable record, else every rule broken."""
    date_text = pl.col("DATE")
    tone_values = pl.col("V1.5Tone").str.split(",")
    parsed = records.with_columns(
        record_id=pl.col("GKGRECORDID"),
        published_at=pl.when(date_text.str.contains(GKG_DATE_PATTERN))
        .then(date_text.str.strptime(pl.Datetime("us"), "%Y%m%d%H%M%S", strict=False))
        .dt.replace_time_zone("UTC"),
        tone=tone_values.list.get(0, null_on_oob=True).cast(pl.Float64, strict=False),
        title=pl.col("V2ExtrasXML").str.extract(PAGE_TITLE, 1).str.strip_chars(),
    )
    expected = len(GKG_COLUMNS)
    well_formed = pl.col("field_count") == expected
    run_time_text = f"{run_time:%Y-%m-%dT%H:%M:%SZ}"
    violations = [
        pl.when(~well_formed).then(
            pl.format(f"{{}} tab-separated fields, a GKG 2.1 record has {expected}", "field_count")
        ),
        pl.when(well_formed & pl.col("published_at").is_null()).then(
            pl.format("DATE {} is not YYYYMMDDHHMMSS", shown_expr(date_text))
        ),
        pl.when(
            (pl.col("published_at") < limits.MIN_TIMESTAMP) | (pl.col("published_at") > run_time)
        ).then(
            pl.format(
                f"DATE {{}} is outside [{limits.MIN_TIMESTAMP:%Y-%m-%dT%H:%M:%SZ}, the run time "
                f"{run_time_text}]",
                date_text,
            )
        ),
        pl.when(well_formed & ~pl.col("tone").is_finite().fill_null(False)).then(
            pl.format("V1.5Tone {} has no average tone", shown_expr(pl.col("V1.5Tone")))
        ),
        pl.when(well_formed & (pl.col("DocumentIdentifier").str.strip_chars() == "")).then(
            pl.lit("no DocumentIdentifier (URL)")
        ),
        *(
            pl.when(pl.col(column).str.len_chars() > max_chars).then(
                pl.format(
                    f"{column} is {{}} characters, over the {max_chars:,}-character limit",
                    pl.col(column).str.len_chars(),
                )
            )
            for column, max_chars in (
                ("DocumentIdentifier", limits.MAX_URL_CHARS),
                ("SourceCommonName", limits.MAX_SOURCE_CHARS),
                ("title", limits.MAX_TITLE_CHARS),
            )
        ),
    ]
    return parsed.with_columns(
        reason=pl.concat_str(violations, separator="; ", ignore_nulls=True)
    )


def _name_list(enhanced: str, v1: str) -> pl.Expr:
    """Names of a V2 enhanced field ("Name,offset;..."), else of its V1 field ("name;...")."""
    v2_names = pl.col(enhanced).str.split(";").list.eval(
        pl.element().str.replace(OFFSET_SUFFIX, "").str.strip_chars()
    )
    v1_names = pl.col(v1).str.split(";").list.eval(pl.element().str.strip_chars())
    chosen = pl.when(pl.col(enhanced).str.strip_chars() != "").then(v2_names).otherwise(v1_names)
    non_empty = chosen.list.eval(pl.element().filter(pl.element() != ""))
    return non_empty.list.unique(maintain_order=True)


def _with_organisations(records: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """Add `organisations` (as written) and `matched_names` (gazetteer entity names) per record."""
    with_lists = records.with_columns(
        organisations=_name_list("V2EnhancedOrganizations", "V1Organizations")
    )
    exploded = with_lists.select("line_number", organisation="organisations").explode(
        "organisation"
    ).drop_nulls("organisation")
    distinct = exploded.get_column("organisation").unique()
    # One Python key function shared with dbt's macro (tests/ingestion/test_names.py): applied
    # once per distinct name of the chunk, not per record.
    keys = pl.DataFrame(
        {"organisation": distinct, "name_key": [company_name_key(name) for name in distinct]},
        schema={"organisation": pl.String(), "name_key": pl.String()},
    )
    matched = (
        exploded.join(keys, on="organisation")
        .join(names, on="name_key")
        .group_by("line_number")
        .agg(
            matched_organisations=pl.col("organisation"),
            matched_names=pl.col("entity_name"),
        )
    )
    return with_lists.join(matched, on="line_number", how="left").with_columns(
        pl.col("matched_organisations", "matched_names").fill_null(pl.lit([], pl.List(pl.String)))
    )


def _kept_columns(records: pl.DataFrame) -> pl.DataFrame:
    all_names = pl.col("V2.1AllNames").str.split(";").list.eval(
        pl.element().filter(pl.element().str.strip_chars() != "")
    )
    return records.with_columns(
        all_names_count=all_names.list.len(),
        persons=_name_list("V2EnhancedPersons", "V1Persons"),
        themes=_name_list("V2EnhancedThemes", "V1Themes"),
    ).select(KEPT_SCHEMA.keys())


def _document_id(url: pl.Expr) -> pl.Expr:
    return pl.lit("gdelt-") + url.map_batches(_sha256_prefixes, return_dtype=pl.String())


def _sha256_prefixes(urls: pl.Series) -> pl.Series:
    # Polars has no sha256: hashlib over the batch's URLs (kept records only, a few per chunk).
    return pl.Series(
        [hashlib.sha256(url.encode()).hexdigest()[:16] for url in urls], dtype=pl.String()
    )


def _split_duplicate_urls(
    records: pl.DataFrame, known_documents: Mapping[str, str]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(first record of each document id, the others quarantined naming where it was read)."""
    known = pl.DataFrame(
        {"document_id": list(known_documents), "known_path": list(known_documents.values())},
        schema={"document_id": pl.String(), "known_path": pl.String()},
    )
    ordered = (
        records.with_columns(document_id=_document_id(pl.col("DocumentIdentifier")))
        .sort("payload_order", "line_number")
        .join(known, on="document_id", how="left", maintain_order="left")
    )
    is_first = pl.int_range(pl.len()).over("document_id") == 0
    url = shown_expr(pl.col("DocumentIdentifier"))
    flagged = ordered.with_columns(
        reason=pl.when(pl.col("known_path") != pl.col("file_path"))
        .then(
            pl.format(
                "duplicate document id {}: URL {} already loaded from {}",
                "document_id",
                url,
                "known_path",
            )
        )
        .when(~is_first)
        .then(
            pl.format(
                "duplicate document id {}: URL {} already read from {} line {}",
                "document_id",
                url,
                pl.col("file_path").first().over("document_id"),
                pl.col("line_number").first().over("document_id"),
            )
        )
        .otherwise(pl.lit(""))
    )
    duplicates = flagged.filter(pl.col("reason") != "").select(
        "line_number", "file_path", "reason", "raw_value", record_id="GKGRECORDID"
    )
    return flagged.filter(pl.col("reason") == "").drop("reason", "known_path"), duplicates


def _documents(records: pl.DataFrame, source_name: str) -> pl.DataFrame:
    tone = pl.col("V1.5Tone").str.split(",")
    front_matter = pl.struct(
        gkg_record_id="GKGRECORDID",
        **{
            field: tone.list.get(index, null_on_oob=True)
            for index, field in enumerate(TONE_FIELDS)
        },
        all_names_count=pl.col("all_names_count").cast(pl.String),
    ).struct.json_encode()
    return records.select(
        "document_id",
        source_name=pl.lit(source_name),
        file_path="file_path",
        published_at="published_at",
        source="SourceCommonName",
        url="DocumentIdentifier",
        title="title",
        body=pl.format("GDELT GKG record {} from {}", "GKGRECORDID", "SourceCommonName"),
        front_matter=front_matter,
        sentiment=(pl.col("tone") / 100).clip(-1.0, 1.0),
        content_hash="content_hash",
    ).cast(DOCUMENT_SCHEMA)


def _annotations(records: pl.DataFrame, taxonomy: pl.DataFrame) -> pl.DataFrame:
    """Organisations, persons, then themes of each document, each (kind, key) once."""
    described_by = pl.format(" named in GDELT GKG record {}", "GKGRECORDID")
    lists = records.select(
        "document_id",
        "GKGRECORDID",
        "matched_organisations",
        "matched_names",
        "organisations",
        "persons",
        "themes",
    )
    matches = lists.select(
        "document_id", "GKGRECORDID", name="matched_organisations", entity_name="matched_names"
    ).explode("name", "entity_name")
    organisations = (
        lists.select("document_id", "GKGRECORDID", name="organisations")
        .explode("name")
        .drop_nulls("name")
        .join(matches, on=["document_id", "GKGRECORDID", "name"], how="left")
        .select(
            "document_id",
            group=pl.lit(KIND_ORDER["organisation"]),
            kind=pl.lit("entity"),
            annotation_key=pl.coalesce("entity_name", "name"),
            description=pl.when(pl.col("entity_name").is_not_null())
            .then(pl.format("{} is a company", "name") + described_by)
            .otherwise(pl.format("{} is an organization", "name") + described_by),
        )
    )
    persons = (
        lists.select("document_id", "GKGRECORDID", name="persons")
        .explode("name")
        .drop_nulls("name")
        .select(
            "document_id",
            group=pl.lit(KIND_ORDER["person"]),
            kind=pl.lit("entity"),
            annotation_key="name",
            # "his or her" lets dbt's infer_entity_type (keywords, no 'person') type a person.
            description=pl.format("{} is a person", "name")
            + described_by
            + pl.lit(" (his or her role is not given)"),
        )
    )
    codes = (
        lists.select("document_id", "GKGRECORDID", code="themes")
        .explode("code")
        .drop_nulls("code")
        .with_row_index("code_order")
    )
    themes = _mapped_themes(codes, taxonomy).select(
        "document_id",
        group=pl.lit(KIND_ORDER["theme"]),
        kind=pl.lit("theme"),
        annotation_key="theme",
        description="description",
    )
    annotations = pl.concat([organisations, persons, themes]).with_row_index("order")
    return (
        annotations.sort("document_id", "group", "order")
        .unique(["document_id", "kind", "annotation_key"], keep="first", maintain_order=True)
        .select(
            "document_id",
            position=pl.int_range(1, pl.len() + 1).over("document_id"),
            kind="kind",
            annotation_key="annotation_key",
            description="description",
        )
        .cast(ANNOTATION_SCHEMA)
    )


def _mapped_themes(codes: pl.DataFrame, taxonomy: pl.DataFrame) -> pl.DataFrame:
    """Each GKG theme code -> the taxonomy themes whose pattern matches it, else itself."""
    rules = taxonomy.filter(pl.col("match_kind") == "gdelt").select(
        "pattern",
        theme="theme_code",
        description=pl.col("description")
        if "description" in taxonomy.columns
        else pl.format("Theme {} (GDELT themes {})", "theme_code", "pattern"),
    )
    is_prefix = pl.col("pattern").str.ends_with("*")
    exact = codes.join(rules.filter(~is_prefix), left_on="code", right_on="pattern")
    prefixes = rules.filter(is_prefix).with_columns(prefix=pl.col("pattern").str.strip_suffix("*"))
    by_prefix = (
        codes.join(prefixes, how="cross")
        .filter(pl.col("code").str.starts_with(pl.col("prefix")))
        .drop("prefix", "pattern")
    )
    mapped = pl.concat([exact, by_prefix], how="diagonal")
    unmapped = codes.join(
        mapped.select("document_id", "code"), on=["document_id", "code"], how="anti"
    )
    own = unmapped.with_columns(
        theme="code", description=pl.format("GDELT GKG theme {}", "code")
    )
    return pl.concat([mapped, own], how="diagonal").sort("code_order")
