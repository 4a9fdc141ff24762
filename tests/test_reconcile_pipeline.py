"""End to end through `newsimpact run`: sources are reconciled with their folders, and session
indexes do not move when an old document arrives."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from newsimpact.config import load_settings
from tests.conftest import SAMPLES, newsimpact, query, write_config

pytestmark = pytest.mark.slow

OLD_DOCUMENT = """---
id: old-1975
published_at: 1975-03-03T15:00:00Z
title: A very old item
---
Microsoft is mentioned in a document dated 1975.
$MSFT: ticker of Microsoft.
"""


def test_deleted_inputs_leave_the_warehouse_and_an_old_document_moves_no_session_index(tmp_path: Path):
    news, prices = tmp_path / "inputs" / "news", tmp_path / "inputs" / "prices"
    shutil.copytree(SAMPLES / "news", news)
    shutil.copytree(SAMPLES / "prices", prices)
    config = write_config(tmp_path / "run", news=news, prices=prices)
    settings = load_settings(config)
    first = newsimpact("run", "--config", str(config))
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    [deleted] = [path for path in news.glob("035_*.txt")]
    deleted_id = "msft-2013-01-24-q2-fy2013-results"
    indexes_before = dict(
        query(settings.work_path, "select event_id, event_session_index from intermediate.int_events__aligned")
    )
    assert query(settings.warehouse_path, f"select count(*) from marts.fct_news_event where event_id = '{deleted_id}'") == [(1,)]
    ibm_rows = len((prices / "IBM.csv").read_text().splitlines()) - 1

    (prices / "IBM.csv").unlink()
    deleted.unlink()
    (news / "zzz_old.txt").write_text(OLD_DOCUMENT, encoding="utf-8")
    second = newsimpact("run", "--config", str(config))

    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert query(settings.work_path, "select count(*) from raw.prices_daily where ticker = 'IBM'") == [(0,)]
    # IBM's events remain (their documents do), but no impact is computed from deleted bars.
    assert query(
        settings.warehouse_path,
        "select distinct status, car from marts.fct_event_impact where ticker = 'IBM'",
    ) == [("no_price_coverage", None)]
    assert query(settings.warehouse_path, f"select count(*) from marts.fct_news_event where event_id = '{deleted_id}'") == [(0,)]
    assert query(
        settings.warehouse_path,
        "select count(*) from audit.ingested_files where file_path = 'IBM.csv' or file_path like '035_%'",
    ) == [(0,)]
    # The served counts no longer include the deleted files; the summary reports them removed.
    assert query(settings.warehouse_path, "select count(*) from audit.ingested_files where source_type = 'csv'") == [(5,)]
    this_run = second.stdout.split("Ingested by this run")[1].split("Checks:")[0]
    assert [line.split() for line in this_run.strip().splitlines()[1:]] == [
        ["news[0]", "1", "1", "0", "(0)", "35", "(0)", "1", "(1)"],
        ["prices[0]", "0", "0", "0", "(0)", "5", "(0)", "1", f"({ibm_rows})"],
    ]
    # An event decades older than the rest widened the calendar; no existing session index moved.
    indexes_after = dict(
        query(settings.work_path, "select event_id, event_session_index from intermediate.int_events__aligned")
    )
    assert indexes_after.pop("old-1975") is not None
    del indexes_before[deleted_id]
    assert indexes_after == indexes_before
