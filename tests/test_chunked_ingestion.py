"""A first load of a large folder is read and loaded in chunks (orchestration/ingestion/assets.py
CHUNK_BYTES), in bounded memory. Loaded one file at a time, the samples with duplicates across
files give the raw and audit rows, and the marts, that one read of each folder gives."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pytest

import ingestion.quarantine
import orchestration.ingestion.assets
from newsimpact.cli import main
from newsimpact.config import load_settings
from tests.conftest import SAMPLES, query, snapshot, write_config

pytestmark = pytest.mark.slow

# every column but when a row was written
AUDIT = {
    "audit.quarantine": "source_name, file_path, row_number, record_key, reason, raw_value",
    "audit.ingested_files": "source_name, file_path, content_hash, records_read, records_loaded, "
                            "records_quarantined",
}


def _inputs(folder: Path) -> tuple[Path, Path]:
    news, prices = folder / "news", folder / "prices"
    shutil.copytree(SAMPLES / "news", news)
    shutil.copytree(SAMPLES / "prices", prices)
    first = sorted(news.glob("*.txt"))[0]
    shutil.copy(first, news / "zz_same_document_again.txt")  # a document id in two files
    ibm = (prices / "IBM.csv").read_text(encoding="utf-8").splitlines()
    (prices / "ZZ_IBM_AGAIN.csv").write_text(  # IBM's first bars again, under another file name
        "\n".join(ibm[:20]) + "\n", encoding="utf-8"
    )
    return news, prices


def _loaded(config: Path) -> tuple:
    settings = load_settings(config)
    raw = snapshot(settings.work_path, ("raw",), without=("ingested_at",))
    audit = {table: query(settings.work_path, f"select {columns} from {table} order by all")
             for table, columns in AUDIT.items()}
    return raw, audit, snapshot(settings.warehouse_path, without=("ingested_at",))


def test_a_folder_loaded_a_file_at_a_time_loads_what_one_read_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    news, prices = _inputs(tmp_path / "inputs")
    whole = write_config(tmp_path / "whole", news=news, prices=prices)
    listed, scandir = Counter(), os.scandir
    monkeypatch.setattr(ingestion.quarantine.os, "scandir",
                        lambda path: listed.update([str(path)]) or scandir(path))
    assert main(["run", "--config", str(whole)]) == 0
    # the run seal's listing of each folder is the one the ingestion reads: listed once a run
    assert (listed[str(news)], listed[str(prices)]) == (1, 1)

    monkeypatch.setattr(orchestration.ingestion.assets, "CHUNK_BYTES", 1)  # a chunk per file
    chunked = write_config(tmp_path / "chunked", news=news, prices=prices)
    assert main(["run", "--config", str(chunked)]) == 0

    raw, audit, marts = _loaded(chunked)
    assert audit["audit.quarantine"], "the duplicates are quarantined"
    assert (raw, audit, marts) == _loaded(whole)
