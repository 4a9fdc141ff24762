"""The security master end to end: SEC's companies become entities and securities, and a company
is one entity whatever the news calls it ("Nvidia", "NVIDIA Corporation", `$NVDA`).

The bundled SEC snapshot is written into the work file's `raw.security_master` before the run, as
its loader would leave it; the run builds everything else from the samples.
"""

from __future__ import annotations

import csv
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pytest

from newsimpact.config import load_settings
from tests.conftest import REPO_ROOT, SAMPLES, newsimpact, query, write_config
from warehouse.schema import ensure_schema

pytestmark = pytest.mark.slow

NVIDIA = "ent_cik_1045810"
NVIDIA_DOCUMENTS = {
    "nvidia-ticker": (
        "---\nid: nvidia-ticker\npublished_at: 2012-11-08T21:30:00Z\ntitle: Nvidia beats\n---\n"
        "Nvidia reported record quarterly revenue from its graphics processors.\n"
        "Nvidia: Nvidia is a U.S. maker of graphics processors.\n"
        "$NVDA: $NVDA is the stock ticker of Nvidia on Nasdaq.\n"
        "Earnings_Report: A company reported its quarterly results.\n"
    ),
    "nvidia-name": (
        "---\nid: nvidia-name\npublished_at: 2013-02-13T21:30:00Z\ntitle: NVIDIA Corporation results\n---\n"
        "NVIDIA Corporation said its Tegra processors would power more tablets.\n"
        "NVIDIA Corporation: NVIDIA Corporation is a chipmaker based in Santa Clara, California.\n"
        "Earnings_Report: A company reported its quarterly results.\n"
    ),
}


def master_rows() -> list[tuple[str, str, str, str]]:
    """(cik, ticker, company_name, exchange) of the bundled SEC snapshot, CIKs zero-padded."""
    snapshot = json.loads((SAMPLES / "sec" / "company_tickers_exchange.json").read_text("utf-8"))
    fields = snapshot["fields"]
    records = [dict(zip(fields, row)) for row in snapshot["data"]]
    return [(f"{r['cik']:010d}", r["ticker"], r["name"], r["exchange"]) for r in records]


def seeded_tickers() -> set[str]:
    seeds = REPO_ROOT / "dbt_project" / "seeds" / "ref_securities.csv"
    with seeds.open(encoding="utf-8", newline="") as file:
        return {row["ticker"] for row in csv.DictReader(file)}


@pytest.fixture(scope="module")
def master_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(serving file, work file) of a sample run with the security master and two Nvidia documents."""
    folder = tmp_path_factory.mktemp("security_master")
    news = folder / "news"
    shutil.copytree(SAMPLES / "news", news)
    for document_id, text in NVIDIA_DOCUMENTS.items():
        (news / f"950_{document_id}.txt").write_text(text, encoding="utf-8")
    config = write_config(folder / "run", news=news, prices=SAMPLES / "prices")
    settings = load_settings(config)
    settings.work_path.parent.mkdir(parents=True, exist_ok=True)
    with duckdb.connect(str(settings.work_path)) as connection:
        ensure_schema(connection)
        connection.executemany(
            "insert into raw.security_master values ('sec', ?, ?, ?, ?, 'company_tickers_exchange.json', ?)",
            [(*row, datetime(2026, 11, 25, 6, tzinfo=timezone.utc)) for row in master_rows()],
        )

    result = newsimpact("run", "--config", str(config))

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return settings.warehouse_path, settings.work_path


def test_nvidia_is_one_entity_with_one_security(master_run: tuple[Path, Path]):
    warehouse, _ = master_run

    entities = query(
        warehouse,
        "select entity_id, entity_name, entity_type, security_id, current_ticker, cik "
        "from marts.dim_entity where entity_name ilike '%nvidia%' or current_ticker = 'NVDA'",
    )
    securities = query(
        warehouse, f"select security_id, ticker, exchange from marts.dim_security where entity_id = '{NVIDIA}'"
    )

    assert entities == [
        (NVIDIA, "NVIDIA CORP", "company", "sec_cik_1045810_nvda", "NVDA", "0001045810")
    ]
    assert securities == [("sec_cik_1045810_nvda", "NVDA", "NASDAQ")]


def test_every_nvidia_mention_is_linked_to_it(master_run: tuple[Path, Path]):
    warehouse, work = master_run

    mentions = query(
        work,
        "select document_id, annotation_key, entity_id, resolved_by from intermediate.int_entities__mentions "
        "where document_id like 'nvidia-%' order by document_id, position",
    )
    bridged = query(
        warehouse,
        "select event_id, entity_id, via_ticker from marts.bridge_event_entity "
        "where event_id like 'nvidia-%' order by all",
    )
    impact = query(
        warehouse,
        "select distinct event_id, entity_id, security_id, ticker from marts.fct_event_impact "
        "where event_id like 'nvidia-%' order by all",
    )

    assert mentions == [
        ("nvidia-name", "NVIDIA Corporation", NVIDIA, "alias_master_title"),
        ("nvidia-ticker", "Nvidia", NVIDIA, "alias_master_title"),
        ("nvidia-ticker", "$NVDA", NVIDIA, "ticker_period"),
    ]
    assert bridged == [("nvidia-name", NVIDIA, False), ("nvidia-ticker", NVIDIA, True)]
    assert impact == [
        ("nvidia-name", NVIDIA, "sec_cik_1045810_nvda", "NVDA"),
        ("nvidia-ticker", NVIDIA, "sec_cik_1045810_nvda", "NVDA"),
    ]


def test_dim_entity_lists_the_master_companies_the_seeds_do_not_cover(master_run: tuple[Path, Path]):
    warehouse, _ = master_run
    rows = master_rows()
    covered_ciks = {cik for cik, ticker, _, _ in rows if ticker in seeded_tickers()}
    expected = {
        (f"ent_cik_{int(cik)}", name, cik) for cik, _, name, _ in rows if cik not in covered_ciks
    }

    listed = set(
        query(warehouse, "select entity_id, entity_name, cik from marts.dim_entity where entity_id like 'ent_cik_%'")
    )
    seed_ciks = dict(
        query(warehouse, "select entity_id, cik from marts.dim_entity where entity_id in ('ent_alphabet', 'ent_nokia')")
    )
    master_securities = query(
        warehouse,
        "select count(*), count(distinct ticker) from marts.dim_security where security_id like 'sec_cik_%'",
    )

    assert len(expected) == 60  # 66 companies (68 tickers) minus 6 the seeds cover
    assert listed == expected
    assert seed_ciks == {"ent_alphabet": "0001652044", "ent_nokia": "0000924613"}
    # one security per master ticker the seeds do not know (BRK-A and BRK-B for Berkshire)
    assert master_securities == [(len(rows) - 7, len(rows) - 7)]


def test_a_company_the_news_names_now_has_a_security(master_run: tuple[Path, Path]):
    warehouse, _ = master_run

    unresolved = query(warehouse, "select reason, name from marts.mart_unresolved_mentions order by all")
    morgan_stanley = query(
        warehouse, "select entity_id, security_id from marts.dim_entity where entity_name = 'MORGAN STANLEY'"
    )

    assert ("company_without_security", "Morgan Stanley") not in unresolved
    assert morgan_stanley == [("ent_cik_895421", "sec_cik_895421_ms")]
