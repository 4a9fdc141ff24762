"""The dbt macro `company_name_key` gives the key `ingestion.names.company_name_key` gives.

The macro is compiled by dbt itself (`dbt compile --inline`, so `adapter.dispatch` picks the
DuckDB implementation as in a run), once; its SQL then runs in DuckDB on every name.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from dbt.cli.main import dbtRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from ingestion.names import LEGAL_SUFFIXES, company_name_key
from newsimpact.config import EventStudyConfig
from orchestration.dbt.project import DBT_PROJECT_DIR

NAMES = [
    # SEC titles as written
    "NVIDIA CORP",
    "BANK OF AMERICA CORP /DE/",
    "QUALCOMM INC/DE",
    "COSTCO WHOLESALE CORP /NEW",
    "WELLS FARGO & COMPANY/MN",
    "JPMORGAN CHASE & CO",
    "MERCK & CO., INC.",
    "PROCTER & GAMBLE Co",
    "GOLDMAN SACHS GROUP INC",
    "PayPal Holdings, Inc.",
    "Spotify Technology S.A.",
    "Accenture plc",
    "Uber Technologies, Inc",
    "AT&T INC.",
    "BERKSHIRE HATHAWAY INC",
    "JOHNSON & JOHNSON",
    "MORGAN STANLEY",
    # names as the news writes them
    "Nvidia",
    "Nvidia Corporation",
    "Nvidia Corp.",
    "Meta Platforms, Inc.",
    "Facebook,  Inc.",
    "Alphabet Inc.",
    "Google LLC",
    "Nokia Oyj",
    "Nokia Corporation",
    "Motorola Mobility Holdings, Inc.",
    "Siemens AG",
    "Volkswagen Aktiengesellschaft",
    "Royal Philips N.V.",
    "Equinor ASA",
    "Ericsson AB",
    "Deutsche Bank Group Holding GmbH",
    "S&P 500 Index",
    "Standard & Poor's 500",
    "3M Company",
    # non-ASCII letters survive
    "Nestlé S.A.",
    "Nestlé SA",
    "L'Oréal S.A.",
    "Société Générale SA",
    "Zürich Insurance Group AG",
    "Ørsted A/S",
    "Toyota Motor Corp (トヨタ自動車)",
    # only legal-form words, leading or doubled legal words, odd spacing, empty
    "The Company",
    "Inc",
    "Holding Co",
    "Co Co",
    "  Apple   Inc  ",
    "snake_case__name Inc",
    "a_-b",
    "Ltd.",
    "",
    "   ",
]


@pytest.fixture(scope="module")
def key_sql(tmp_path_factory: pytest.TempPathFactory) -> str:
    """SQL selecting `company_name_key(name)` from a table `names` in `position` order, as dbt compiles it."""
    folder = tmp_path_factory.mktemp("name_keys")
    (folder / "profiles.yml").write_text(
        "newsimpact:\n  target: keys\n  outputs:\n    keys:\n      type: duckdb\n"
        f"      path: {json.dumps(str(folder / 'keys.duckdb'))}\n      threads: 1\n",
        encoding="utf-8",
    )
    result = dbtRunner().invoke(
        [
            "--quiet", "--log-path", str(folder / "logs"),
            "compile", "--inline",
            "select {{ company_name_key('name') }} as name_key from names order by position",
            "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir", str(folder),
            "--target-path", str(folder / "target"),
            "--vars", json.dumps(EventStudyConfig().dbt_vars()),
        ]
    )
    assert result.success, result.exception
    return result.result.results[0].node.compiled_code


def sql_keys(key_sql: str, names: list[str]) -> list[str]:
    with duckdb.connect() as connection:
        connection.execute("create table names (position integer, name varchar)")
        connection.executemany("insert into names values (?, ?)", list(enumerate(names)))
        return [key for (key,) in connection.sql(key_sql).fetchall()]


def test_the_macro_strips_the_legal_suffixes_python_strips(key_sql: str):
    assert "|".join(LEGAL_SUFFIXES) in key_sql


def test_sql_and_python_keys_agree_on_company_names(key_sql: str):
    assert sql_keys(key_sql, NAMES) == [company_name_key(name) for name in NAMES]


def test_the_keys_match_nvidia_whatever_it_is_called(key_sql: str):
    names = ["NVIDIA CORP", "Nvidia", "NVIDIA Corporation", "Nvidia Corp."]
    assert set(sql_keys(key_sql, names)) == {"nvidia"}


WORDS = st.sampled_from([*LEGAL_SUFFIXES, "nvidia", "Bank", "of", "AMERICA", "Nestlé", "Øresund", "3M", "x"])
SEPARATORS = st.sampled_from([" ", "  ", ", ", ".", "/", " /", "&", "-", "_", "__", "'", "\t", " (", ")"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(WORDS, SEPARATORS), max_size=6), st.sampled_from(["", " ", ".", "/DE/"]))
def test_sql_and_python_keys_agree_on_generated_names(key_sql: str, parts, ending: str):
    name = "".join(word + separator for word, separator in parts) + ending
    assert sql_keys(key_sql, [name]) == [company_name_key(name)]
