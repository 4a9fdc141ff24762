"""Every example query of docs/warehouse.md returns figures on the samples, read-only, as a BI user
would run it: rows, and no row or figure column that is all NULL."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from tests.conftest import REPO_ROOT

pytestmark = pytest.mark.slow

DOC = REPO_ROOT / "docs" / "warehouse.md"
NUMERIC_TYPES = re.compile(
    r"^(U?(TINYINT|SMALLINT|INTEGER|BIGINT|HUGEINT)|FLOAT|DOUBLE|DECIMAL(\(\d+,\s*\d+\))?)$"
)


def example_statements() -> list[str]:
    """Each statement of each ```sql block, in the order of the page."""
    blocks = re.findall(r"^```sql\n(.*?)^```", DOC.read_text(encoding="utf-8"), re.M | re.S)
    return [
        statement.query
        for block in blocks
        for statement in duckdb.extract_statements(block)
    ]


def test_the_page_has_examples_for_the_novelty_and_clustering_marts():
    sql = "\n".join(example_statements())

    for mart in ("fct_event_novelty", "fct_event_theme_novelty", "mart_session_clustering"):
        assert f"marts.{mart}" in sql, mart


@pytest.mark.parametrize("statement", example_statements(), ids=lambda sql: sql.split("\n")[0][:60])
def test_every_example_query_returns_figures(sample_warehouse: Path, statement: str):
    with duckdb.connect(str(sample_warehouse), read_only=True) as connection:
        relation = connection.sql(statement)
        names, types, rows = relation.columns, [str(t) for t in relation.types], relation.fetchall()

    numeric = [i for i, column_type in enumerate(types) if NUMERIC_TYPES.match(column_type)]
    assert rows, "no rows"
    assert numeric, f"no numeric column among {list(zip(names, types))}"
    assert [row for row in rows if all(row[i] is None for i in numeric)] == []
    assert [names[i] for i in numeric if all(row[i] is None for row in rows)] == []
