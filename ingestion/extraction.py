"""Entities and themes of documents that carry no annotation lines (feed items, GKG records).

Contract (shared by the feed and GDELT readers): a `Gazetteer` lists every company name the
warehouse can link, keyed by `ingestion.names.company_name_key`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from ingestion.names import LEGAL_SUFFIXES, company_name_key
from ingestion.news import ANNOTATION_SCHEMA

GAZETTEER_SCHEMA: dict[str, pl.DataType] = {
    "name_key": pl.String(),  # company_name_key(name): "nvidia"
    "entity_name": pl.String(),  # the name dbt resolves to the entity: "NVIDIA CORP"
    "ticker": pl.String(),  # its current ticker, null when unknown
    "ambiguous": pl.Boolean(),  # a common word too ("apple", "target"): needs corroboration
}


@dataclass(frozen=True)
class Gazetteer:
    names: pl.DataFrame  # GAZETTEER_SCHEMA, one row per name_key
    version: str  # sha256 of `names`: part of the change key of every reader that uses it


# Single-word names that are also common English words (or places, people, units): such a name
# is an entity only when the same document corroborates it (see `extract_annotations`).
AMBIGUOUS_WORDS = frozenset({
    "abbott", "adobe", "alphabet", "amazon", "apple", "block", "chevron", "coin", "delta",
    "ford", "gap", "general", "intel", "lilly", "meta", "micron", "oracle", "shell", "snap",
    "square", "target", "tesla", "united", "visa",
})
# Trailing words of SEC company titles that the news leaves out: "AMAZON COM INC" is "Amazon",
# "CISCO SYSTEMS" is "Cisco". The title itself stays a name too.
SEC_TITLE_TRAILING_WORDS = frozenset({
    "com", "communications", "global", "laboratories", "mobil", "motor", "systems", "technologies",
    "technology", "wholesale",
})
# An SEC title's state of incorporation or reorganisation marker: "BANK OF AMERICA CORP /DE/".
SEC_STATE_MARKER = re.compile(r"\s*/[A-Za-z]{2,3}/?\s*$")
MAX_NAME_TOKENS = 6
# Lower-case words a company name may contain after its first word.
NAME_JOINING_WORDS = frozenset({"and", "de", "of", "the"})
# Words that put a capitalised common word in a business sentence ("Apple shares rose").
FINANCE_CONTEXT = (
    r"(?i)\b(?:shares?|stocks?|shareholders?|investors?|analysts?|earnings|revenues?|sales|"
    r"profits?|quarterly|quarter|fiscal|dividends?|CEO|CFO|chief executive|Inc|Corp|Ltd|plc|"
    r"Nasdaq|NYSE|Dow|S&P|market value|market cap|valuation|IPO|acquisitions?|acquires?|"
    r"merger|deal|company|companies|retailer|chipmaker|automaker|carmaker|lender|bank|insurer|"
    r"brand|customers|stores|guidance|outlook|forecast|layoffs?|rival|competitors?|antitrust|"
    r"lawsuit|sued|regulators?)\b"
)
# "$NVDA", "$brk.b": a cashtag starts with a letter (so "$15.6 billion" is none) and ends
# before a sentence's full stop.
CASHTAG_IN_TEXT = r"(?:^|[^\w$])(\$[A-Za-z][A-Za-z0-9]{0,9}(?:[.\-][A-Za-z0-9]{1,4})?)\b"
# "(NASDAQ: AAPL)", "(NYSE:TGT)", "(Nasdaq Global Select: NVDA)"
EXCHANGE_TICKER = (
    r"(?i:nasdaq|nyse)(?:[A-Za-z ]{0,12})?:\s*([A-Z][A-Z0-9]{0,9}(?:[.\-][A-Z0-9]{1,4})?)\b"
)
# Sentence ends: a full stop (! ?) then space and a capital or quote, or a line break.
SENTENCE_END = r"([.!?])\s+([\p{Lu}\"'“‘(])"
SENTENCE_BREAK = "\u2029"
TOKEN = r"[\p{L}\p{M}\p{N}]+"
POSSESSIVE = r"([\p{L}\p{N}])['’]s\b"
# `company_name_key`'s trailing legal-form words, for keys computed in Polars
SUFFIX_RUN = r"(?:\s+(?:" + "|".join(LEGAL_SUFFIXES) + r"))+$"
# "Spotify Technology S.A.": a dotted legal form is one word
DOTTED_LEGAL_FORM = re.compile(r"\b(\w)\.(\w)\.?\s*$")


def build_gazetteer(seeds_dir: Path, master: pl.DataFrame) -> Gazetteer:
    """Every linkable company name: curated seeds first, then the SEC master (cik, ticker,
    company_name, exchange). A name key found in both keeps the seed's entity."""
    entities = pl.read_csv(seeds_dir / "ref_entities.csv", infer_schema=False)
    aliases = pl.read_csv(seeds_dir / "ref_entity_aliases.csv", infer_schema=False)
    securities = pl.read_csv(seeds_dir / "ref_securities.csv", infer_schema=False)
    companies = entities.filter(pl.col("entity_type") == "company").select(
        "entity_id", "entity_name"
    )
    # the current ticker: an open period, the first listed (GOOGL before GOOG)
    current_tickers = (
        securities.filter(pl.col("valid_to").is_null())
        .group_by("entity_id", maintain_order=True)
        .agg(pl.col("ticker").first())
    )
    seed_names = pl.concat(
        [
            companies.select("entity_id", name=pl.col("entity_name")),
            aliases.select("entity_id", name=pl.col("alias")),
            securities.select("entity_id", name=pl.col("company_name")),
        ]
    ).join(companies, on="entity_id").join(current_tickers, on="entity_id", how="left")
    master_companies = (
        master.group_by("cik", maintain_order=True)
        .agg(pl.col("company_name").first(), pl.col("ticker").first())
    )
    master_names = pl.concat(
        [
            master_companies.select(
                name=pl.col("company_name"), entity_name="company_name", ticker="ticker"
            ),
            master_companies.select(
                name=pl.col("company_name").map_elements(_sec_short_name, return_dtype=pl.String),
                entity_name="company_name",
                ticker="ticker",
            ),
        ]
    )
    names = (
        pl.concat(
            [
                seed_names.select("name", "entity_name", "ticker", priority=pl.lit(0)),
                master_names.select("name", "entity_name", "ticker", priority=pl.lit(1)),
            ]
        )
        .with_columns(
            name_key=pl.col("name").map_elements(company_name_key, return_dtype=pl.String)
        )
        .filter(pl.col("name_key") != "")
        .with_row_index("order")
        .sort("priority", "order")
        .unique("name_key", keep="first", maintain_order=True)
        .select(
            "name_key",
            "entity_name",
            "ticker",
            ambiguous=pl.col("name_key").is_in(list(AMBIGUOUS_WORDS)),
        )
        .sort("name_key")
        .cast(GAZETTEER_SCHEMA)
    )
    version = hashlib.sha256(names.write_csv().encode()).hexdigest()
    return Gazetteer(names, version)


def load_taxonomy(path: Path) -> pl.DataFrame:
    """The theme taxonomy seed (theme_code, match_kind, pattern, description)."""
    taxonomy = pl.read_csv(path, infer_schema=False)
    unknown = set(taxonomy["match_kind"].unique()) - {"keyword", "gdelt"}
    if unknown:
        raise ValueError(f"{path}: unknown match_kind {sorted(unknown)}: keyword or gdelt")
    return taxonomy.select("theme_code", "match_kind", "pattern", "description")


def extract_annotations(
    documents: pl.DataFrame, gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> pl.DataFrame:
    """Annotations (ANNOTATION_SCHEMA) of documents (document_id, title, body) read from text.

    Per document: the entities matched by name (key = the gazetteer's entity_name), then the
    cashtags ("$NVDA"), each in order of first mention, then the themes in taxonomy order.
    """
    text = documents.select(
        "document_id",
        text=pl.concat_str(
            pl.col("title").fill_null(""), pl.col("body").fill_null(""), separator="\n"
        ).str.normalize("NFKC"),
    )
    cashtags = _cashtags(text)
    entities = _entities(text, gazetteer, cashtags)
    entity_of_ticker = gazetteer.names.unique("ticker", keep="first", maintain_order=True)
    tickers = cashtags.join(
        entity_of_ticker.select("ticker", "entity_name"), on="ticker", how="left"
    ).select(
        "document_id",
        "offset",
        kind=pl.lit("ticker"),
        annotation_key=pl.col("annotation_key"),
        description=pl.coalesce("entity_name", "annotation_key"),
    )
    themes = _themes(text, taxonomy)
    annotations = (
        pl.concat([entities, tickers, themes])
        .with_columns(
            kind_order=pl.col("kind").replace_strict(
                {"entity": 0, "ticker": 1, "theme": 2}, return_dtype=pl.Int32
            )
        )
        .sort("document_id", "kind_order", "offset")
        .unique(["document_id", "kind", "annotation_key"], keep="first", maintain_order=True)
        .with_columns(position=pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("document_id"))
    )
    return annotations.select(ANNOTATION_SCHEMA.keys()).cast(ANNOTATION_SCHEMA)


def _sec_short_name(title: str) -> str:
    """The name the news uses for an SEC title, as a key: no state marker, no trailing
    descriptor words ("COSTCO WHOLESALE CORP /NEW" -> "costco")."""
    title = DOTTED_LEGAL_FORM.sub(r"\1\2", SEC_STATE_MARKER.sub("", title))
    words = company_name_key(title).split()
    while len(words) > 1 and words[-1] in SEC_TITLE_TRAILING_WORDS:
        words.pop()
    return " ".join(words)


def _cashtags(text: pl.DataFrame) -> pl.DataFrame:
    """One row per cashtag: document_id, offset (a rank of its place in the text), ticker,
    annotation_key ("$NVDA")."""
    return (
        text.select(
            "document_id",
            tag=pl.col("text").str.extract_all(CASHTAG_IN_TEXT).list.eval(
                pl.element().str.extract(CASHTAG_IN_TEXT, 1)
            ),
        )
        .explode("tag")
        .drop_nulls("tag")
        .with_columns(
            offset=pl.int_range(pl.len()).over("document_id"),
            ticker=pl.col("tag").str.slice(1).str.to_uppercase(),
        )
        .select("document_id", "offset", "ticker", annotation_key="$" + pl.col("ticker"))
    )


def _entities(text: pl.DataFrame, gazetteer: Gazetteer, cashtags: pl.DataFrame) -> pl.DataFrame:
    tokens = _tokens(text)
    matches = _longest_matches(_candidates(tokens, gazetteer.names))
    exchange_tickers = text.select(
        "document_id",
        ticker=pl.col("text").str.extract_all(EXCHANGE_TICKER).list.eval(
            pl.element().str.extract(EXCHANGE_TICKER, 1)
        ),
    ).explode("ticker")
    written_tickers = pl.concat(
        [cashtags.select("document_id", "ticker"), exchange_tickers.drop_nulls("ticker")]
    ).unique()
    corroborated = (
        matches.join(
            written_tickers.with_columns(ticker_written=pl.lit(True)),
            on=["document_id", "ticker"],
            how="left",
        )
        .with_columns(
            named_plainly=(~pl.col("ambiguous")).any().over("document_id", "entity_name"),
        )
        .filter(
            ~pl.col("ambiguous")
            | pl.col("ticker_written").fill_null(False)
            | pl.col("named_plainly")
            | pl.col("finance_sentence")
        )
    )
    return corroborated.select(
        "document_id",
        "offset",
        kind=pl.lit("entity"),
        annotation_key="entity_name",
        description="entity_name",
    )


def _tokens(text: pl.DataFrame) -> pl.DataFrame:
    """One row per word: document_id, sentence, offset (its place in the document), token
    (as written), finance_sentence (the sentence has a finance context word)."""
    sentences = (
        text.select(
            "document_id",
            sentence_text=pl.col("text")
            .str.replace_all(SENTENCE_END, "$1" + SENTENCE_BREAK + "$2")
            .str.replace_all("\n", SENTENCE_BREAK, literal=True)
            .str.split(SENTENCE_BREAK),
        )
        .explode("sentence_text")
        .with_columns(sentence=pl.int_range(pl.len()).over("document_id"))
    )
    return (
        sentences.select(
            "document_id",
            "sentence",
            finance_sentence=pl.col("sentence_text").str.contains(FINANCE_CONTEXT),
            # "Alphabet's Google": the possessive is no part of the name
            token=pl.col("sentence_text").str.replace_all(POSSESSIVE, "$1").str.extract_all(TOKEN),
        )
        .explode("token")
        .drop_nulls("token")
        .with_columns(offset=pl.int_range(pl.len()).over("document_id"))
    )


def _candidates(tokens: pl.DataFrame, names: pl.DataFrame) -> pl.DataFrame:
    """Every run of 1..MAX_NAME_TOKENS words in one sentence whose company name key is a
    gazetteer name, written as a name: it starts with a capital and its other words do too,
    but for joining words ("Bank of America"; never "Big blue whale" for "Big Blue")."""
    lowered = pl.col("token").str.to_lowercase()
    first_letter = pl.col("token").str.slice(0, 1)
    capitalised = first_letter == first_letter.str.to_uppercase()
    tokens = tokens.with_columns(
        capitalised=capitalised, name_word=capitalised | lowered.is_in(list(NAME_JOINING_WORDS))
    )
    runs = []
    for length in range(1, MAX_NAME_TOKENS + 1):
        words = pl.concat_str(
            [lowered.shift(-k).over("document_id", "sentence") for k in range(length)],
            separator=" ",
        )
        written_as_name = pl.all_horizontal(
            pl.col("capitalised"),
            *[
                pl.col("name_word").shift(-k).over("document_id", "sentence")
                for k in range(1, length)
            ],
        )
        runs.append(
            tokens.select(
                "document_id",
                "offset",
                "finance_sentence",
                length=pl.lit(length, dtype=pl.Int32),
                words=words,
                written_as_name=written_as_name,
            ).filter(pl.col("words").is_not_null() & pl.col("written_as_name"))
        )
    stripped = pl.col("words").str.replace(SUFFIX_RUN, "").str.strip_chars()
    return (
        pl.concat(runs)
        .with_columns(name_key=pl.when(stripped == "").then("words").otherwise(stripped))
        .join(names, on="name_key")
    )


def _longest_matches(candidates: pl.DataFrame) -> pl.DataFrame:
    """Candidates not overlapped by a longer one (or an equally long one that starts earlier)."""
    spans = candidates.select(
        "document_id", "offset", "length", end=pl.col("offset") + pl.col("length")
    )
    beaten = (
        spans.join(spans, on="document_id", suffix="_other")
        .filter(
            (pl.col("offset_other") < pl.col("end"))
            & (pl.col("offset") < pl.col("end_other"))
            & (
                (pl.col("length_other") > pl.col("length"))
                | (
                    (pl.col("length_other") == pl.col("length"))
                    & (pl.col("offset_other") < pl.col("offset"))
                )
            )
        )
        .select("document_id", "offset", "length")
        .unique()
    )
    return candidates.join(beaten, on=["document_id", "offset", "length"], how="anti")


def _themes(text: pl.DataFrame, taxonomy: pl.DataFrame) -> pl.DataFrame:
    keywords = taxonomy.filter(pl.col("match_kind") == "keyword").with_row_index("offset")
    matched = [
        text.filter(pl.col("text").str.contains(rf"(?i)\b(?:{row['pattern']})\b")).select(
            "document_id",
            offset=pl.lit(row["offset"], dtype=pl.Int64),
            kind=pl.lit("theme"),
            annotation_key=pl.lit(row["theme_code"]),
            description=pl.lit(row["description"]),
        )
        for row in keywords.iter_rows(named=True)
    ]
    return pl.concat(matched) if matched else _empty_annotations()


def _empty_annotations() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            "document_id": pl.String(),
            "offset": pl.Int64(),
            "kind": pl.String(),
            "annotation_key": pl.String(),
            "description": pl.String(),
        }
    )
