"""Entities, cashtags and themes read from plain text (`ingestion.extraction`).

`fixtures/labeled_feed_items.jsonl` holds hand-written headlines and summaries, each labelled by
reading it with the tickers of the gazetteer companies it truly mentions as companies
(companies outside the gazetteer have no ticker to find and are not labelled).
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from ingestion.sec import read_security_master_file
from ingestion.extraction import (
    GAZETTEER_SCHEMA,
    Gazetteer,
    build_gazetteer,
    extract_annotations,
    load_taxonomy,
)
from ingestion.news import ANNOTATION_SCHEMA

REPO_ROOT = Path(__file__).resolve().parents[2]
SEEDS = REPO_ROOT / "dbt_project" / "seeds"
LABELED_ITEMS = Path(__file__).parent / "fixtures" / "labeled_feed_items.jsonl"
MIN_PRECISION = 0.95
MIN_RECALL = 0.85
TAXONOMY_COLUMNS = ["theme_code", "match_kind", "pattern", "description"]


@pytest.fixture(scope="module")
def master() -> pl.DataFrame:
    return read_security_master_file(REPO_ROOT / "samples" / "sec" / "company_tickers_exchange.json")[0]


@pytest.fixture(scope="module")
def gazetteer(master: pl.DataFrame) -> Gazetteer:
    return build_gazetteer(SEEDS, master)


@pytest.fixture(scope="module")
def taxonomy() -> pl.DataFrame:
    return load_taxonomy(SEEDS / "ref_theme_taxonomy.csv")


def annotate(gazetteer: Gazetteer, taxonomy: pl.DataFrame, *texts: str) -> list[list[tuple]]:
    """The (kind, annotation_key) pairs of each text, in position order."""
    documents = pl.DataFrame(
        {
            "document_id": [f"d{i}" for i in range(len(texts))],
            "title": ["" for _ in texts],
            "body": list(texts),
        }
    )
    annotations = extract_annotations(documents, gazetteer, taxonomy)
    return [
        annotations.filter(pl.col("document_id") == f"d{i}")
        .sort("position")
        .select("kind", "annotation_key")
        .rows()
        for i in range(len(texts))
    ]


def entities(gazetteer: Gazetteer, *texts: str) -> list[set[str]]:
    no_themes = pl.DataFrame(schema=dict.fromkeys(TAXONOMY_COLUMNS, pl.String))
    return [
        {key for kind, key in rows if kind == "entity"}
        for rows in annotate(gazetteer, no_themes, *texts)
    ]


# the gazetteer -------------------------------------------------------------------------------


def test_gazetteer_names_seeds_and_the_sec_master(gazetteer: Gazetteer) -> None:
    names = {row["name_key"]: row for row in gazetteer.names.iter_rows(named=True)}
    assert gazetteer.names.schema == pl.Schema(GAZETTEER_SCHEMA)
    assert gazetteer.names["name_key"].is_unique().all()
    # a seed name keeps the seed's canonical name and current ticker (GOOGL listed first)
    assert names["google"] == {
        "name_key": "google", "entity_name": "Alphabet Inc.", "ticker": "GOOGL", "ambiguous": False
    }
    assert names["facebook"]["ticker"] == "META"
    assert names["microsoft"]["entity_name"] == "Microsoft Corporation"  # not "MICROSOFT CORP"
    # a master company: the SEC title, its first ticker, and the short name the news uses
    assert names["nvidia"]["entity_name"] == "NVIDIA CORP"
    assert names["berkshire hathaway"]["ticker"] == "BRK-B"
    assert names["amazon"]["entity_name"] == "AMAZON COM INC"
    assert names["bank of america"]["ticker"] == "BAC"
    # common words need corroboration
    assert names["apple"]["ambiguous"] and names["target"]["ambiguous"]
    assert not names["nvidia"]["ambiguous"] and not names["apple computer"]["ambiguous"]
    # the S&P 500 is no company
    assert "s p 500" not in names


def test_gazetteer_version_follows_its_content(master: pl.DataFrame) -> None:
    first, again = build_gazetteer(SEEDS, master), build_gazetteer(SEEDS, master)
    fewer = build_gazetteer(SEEDS, master.head(10))
    assert first.version == again.version != fewer.version
    assert len(first.version) == 64


# matching rules ------------------------------------------------------------------------------


def test_suffixes_and_forms_of_one_name_match(gazetteer: Gazetteer) -> None:
    assert entities(
        gazetteer,
        "Nvidia rallied.",
        "NVIDIA Corp. rallied.",
        "Nvidia Corporation rallied.",
        "NVIDIA CORP rallied.",
    ) == [{"NVIDIA CORP"}] * 4


def test_whole_words_only(gazetteer: Gazetteer) -> None:
    assert entities(gazetteer, "Nvidias and NvidiaX and Uberization and Googled.") == [set()]
    assert entities(gazetteer, "Coca-Cola and AT&T agreed a deal.") == [
        {"COCA COLA CO", "AT&T INC."}
    ]


def test_a_name_is_written_with_capitals(gazetteer: Gazetteer) -> None:
    assert entities(
        gazetteer,
        "shares of nvidia rose",
        "Shares of Nvidia rose",
        "A big blue whale.",  # not "Big Blue" (IBM)
        "Big blue whales swim by.",
        "Big Blue beat estimates.",
        "Bank of America lifted its dividend.",  # a joining word may be lower case
    ) == [
        set(),
        {"NVIDIA CORP"},
        set(),
        set(),
        {"International Business Machines Corporation"},
        {"BANK OF AMERICA CORP /DE/"},
    ]


def test_longest_match_wins(gazetteer: Gazetteer) -> None:
    # "Meta Platforms" (not the ambiguous "Meta") and "Ford Motor" (not "Ford")
    assert entities(gazetteer, "Meta Platforms met Ford Motor Co. officials.") == [
        {"Meta Platforms, Inc.", "FORD MOTOR CO"}
    ]
    # the shorter "Texas" or "Instruments" could never match on their own
    assert entities(gazetteer, "Texas Instruments beat estimates.") == [{"TEXAS INSTRUMENTS INC"}]


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("Apple unveiled a watch.", False),  # a common word, nothing corroborates it
        ("The apple harvest was poor.", False),
        ("Apple shares rose 3%.", True),  # a finance word in its sentence
        ("Apple unveiled a watch. Analysts liked it.", False),  # ... not in another sentence
        ("Apple unveiled a watch. $AAPL rose.", True),  # its cashtag anywhere
        ("Apple unveiled a watch (NASDAQ: AAPL).", True),  # its exchange ticker
        ("Apple unveiled a watch. Apple Computer fans cheered.", True),  # a plain name of it
        ("Apple Inc. unveiled a watch.", True),
        ("Target date funds grew.", False),
        ("Target (NYSE: TGT) cut prices.", True),
        ("A block of shares was sold.", False),
    ],
)
def test_an_ambiguous_name_needs_corroboration(
    gazetteer: Gazetteer, text: str, found: bool
) -> None:
    assert bool(entities(gazetteer, text)[0]) is found


def test_cashtags_are_ticker_annotations(gazetteer: Gazetteer, taxonomy: pl.DataFrame) -> None:
    (rows,) = annotate(
        gazetteer,
        taxonomy.head(0),
        "$NVDA and $brk.b rose, $NVDA again; it cost $15.6 billion, US$3; $AAPL.",
    )
    assert rows == [("ticker", "$NVDA"), ("ticker", "$BRK.B"), ("ticker", "$AAPL")]


def test_a_cashtag_and_its_company_name_are_both_kept(
    gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    (rows,) = annotate(gazetteer, taxonomy.head(0), "Nvidia ($NVDA) rose; NVIDIA Corp. said so.")
    assert rows == [("entity", "NVIDIA CORP"), ("ticker", "$NVDA")]


def test_themes_match_keywords_on_word_boundaries(
    gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    themes = [
        {key for kind, key in rows if kind == "theme"}
        for rows in annotate(
            gazetteer,
            taxonomy,
            "The company agreed to acquire a rival and will cut 8,000 jobs.",
            "A repurchased painting; the aim of the curator.",  # no 'purchase', no 'AI'
            "Its AI chips beat estimates; the board raised the dividend.",
        )
    ]
    assert themes[0] == {"Mergers_Acquisitions", "Layoffs"}
    assert themes[1] == set()
    assert {"Artificial_Intelligence", "Dividends_Buybacks"} <= themes[2]


def test_annotations_have_the_news_schema_and_positions(
    gazetteer: Gazetteer, taxonomy: pl.DataFrame
) -> None:
    documents = pl.DataFrame(
        {
            "document_id": ["b", "a"],
            "title": ["Microsoft agrees to acquire a rival", None],
            "body": ["Microsoft Corp. and $MSFT; Microsoft again.", "Nothing here."],
        }
    )
    annotations = extract_annotations(documents, gazetteer, taxonomy)
    assert annotations.schema == pl.Schema(ANNOTATION_SCHEMA)
    assert annotations.rows() == [
        ("b", 1, "entity", "Microsoft Corporation", "Microsoft Corporation"),
        ("b", 2, "ticker", "$MSFT", "Microsoft Corporation"),
        ("b", 3, "theme", "Mergers_Acquisitions", annotations["description"][2]),
    ]


def test_the_taxonomy_seed_is_well_formed(taxonomy: pl.DataFrame) -> None:
    assert taxonomy["theme_code"].n_unique() >= 20
    assert set(taxonomy["match_kind"]) == {"keyword", "gdelt"}
    assert not taxonomy.select("theme_code", "match_kind", "pattern").is_duplicated().any()
    assert taxonomy.filter(pl.col("match_kind") == "gdelt")["pattern"].str.contains(
        r"^[A-Z0-9_]+\*?$"
    ).all()
    # one description per theme
    assert taxonomy.group_by("theme_code").agg(pl.col("description").n_unique())[
        "description"
    ].max() == 1


# precision and recall ------------------------------------------------------------------------


def test_company_precision_and_recall_on_labelled_items(
    gazetteer: Gazetteer, master: pl.DataFrame, taxonomy: pl.DataFrame
) -> None:
    items = pl.read_ndjson(LABELED_ITEMS)
    assert items.height >= 60
    annotations = extract_annotations(
        items.select(document_id="id", title="title", body="summary"), gazetteer, taxonomy
    )
    company = _company_of_ticker(master)
    ticker_of_entity = dict(
        gazetteer.names.select("entity_name", "ticker").unique("entity_name").rows()
    )
    predicted: dict[str, set[str]] = {}
    rows = annotations.select("document_id", "kind", "annotation_key").rows()
    for document_id, kind, key in rows:
        ticker = key.removeprefix("$") if kind == "ticker" else ticker_of_entity.get(key)
        if kind != "theme" and ticker is not None:
            predicted.setdefault(document_id, set()).add(company.get(ticker, ticker))
    true_positives = false_positives = false_negatives = 0
    misses = []
    for item in items.iter_rows(named=True):
        truth = {company.get(ticker, ticker) for ticker in item["tickers"]}
        found = predicted.get(item["id"], set())
        true_positives += len(truth & found)
        false_positives += len(found - truth)
        false_negatives += len(truth - found)
        if found != truth:
            misses.append(f"{item['id']}: expected {sorted(truth)}, found {sorted(found)}")
    precision = true_positives / (true_positives + false_positives)
    recall = true_positives / (true_positives + false_negatives)
    print(
        f"\ncompany->ticker over {items.height} items: precision {precision:.4f} "
        f"({true_positives}/{true_positives + false_positives}), recall {recall:.4f} "
        f"({true_positives}/{true_positives + false_negatives})\n" + "\n".join(misses)
    )
    assert precision >= MIN_PRECISION
    assert recall >= MIN_RECALL


def _company_of_ticker(master: pl.DataFrame) -> dict[str, str]:
    """Every ticker -> one ticker of its company, so GOOG and GOOGL (or FB and META) are one."""
    securities = pl.read_csv(SEEDS / "ref_securities.csv", infer_schema=False)
    by_seed = securities.with_columns(company=pl.col("ticker").first().over("entity_id"))
    by_cik = master.with_columns(company=pl.col("ticker").first().over("cik"))
    company = dict(by_cik.select("ticker", "company").rows())
    company.update(by_seed.select("ticker", "company").rows())
    return company
