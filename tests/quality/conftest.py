"""Fixtures for the quality tests (data lives in quality_fixtures.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from quality_fixtures import build_clean_warehouse


@pytest.fixture
def warehouse(tmp_path: Path):
    con = build_clean_warehouse(tmp_path / "newsimpact.duckdb")
    yield con
    con.close()
