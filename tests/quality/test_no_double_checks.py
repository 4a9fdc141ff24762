"""Each check lives in one place: a constraint, a dbt test or a GX expectation, never two.

Reads the constraints and tests of the dbt manifest, the raw tables' DDL and the suite files, and
compares what each says about a (table, columns, kind): `not_null`, `unique` (a grain) or `set`.
"""

from __future__ import annotations

import json
from collections import defaultdict

import duckdb
import pytest

from orchestration.dbt.project import dbt_project
from warehouse.quality import load_suites
from warehouse.schema import ensure_schema

GX_KINDS = {
    "expect_column_values_to_not_be_null": "not_null",
    "expect_column_values_to_be_unique": "unique",
    "expect_compound_columns_to_be_unique": "unique",
    "expect_multicolumn_values_to_be_unique": "unique",
    "expect_select_column_values_to_be_unique_within_record": "unique",
    "expect_column_values_to_be_in_set": "set",
}
CONSTRAINT_KINDS = {"not_null": "not_null", "primary_key": "unique", "unique": "unique"}
TEST_KINDS = {"not_null": "not_null", "unique": "unique", "accepted_values": "set"}

Check = tuple[str, frozenset[str], str]  # (schema.table, columns, kind)


def _manifest_checks() -> tuple[set[Check], set[Check]]:
    manifest = json.loads(dbt_project().manifest_path.read_text(encoding="utf-8"))
    nodes = manifest["nodes"]
    constraints: set[Check] = set()
    tests: set[Check] = set()
    for node in nodes.values():
        table = f"{node['schema']}.{node['name']}"
        if node["resource_type"] == "model":
            for constraint in node.get("constraints", []):
                constraints |= _constraint_checks(table, constraint, constraint.get("columns", []))
            for name, column in node["columns"].items():
                for constraint in column.get("constraints", []):
                    constraints |= _constraint_checks(table, constraint, [name])
        elif node["resource_type"] == "test" and node.get("test_metadata"):
            kind = TEST_KINDS.get(node["test_metadata"]["name"])
            attached = nodes.get(node.get("attached_node") or "")
            # A model-level test names its column in kwargs; "(a, b)" is a grain, as a row.
            column = node.get("column_name") or node["test_metadata"]["kwargs"].get("column_name")
            if kind and attached and column:
                columns = column.strip("()").split(",")
                tests.add((f"{attached['schema']}.{attached['name']}", _columns(columns), kind))
    return constraints, tests


def _constraint_checks(table: str, constraint: dict, columns: list[str]) -> set[Check]:
    kind = CONSTRAINT_KINDS.get(constraint["type"])
    if kind is None:
        return set()
    checks = {(table, _columns(columns), kind)}
    if constraint["type"] == "primary_key":  # a primary key is NOT NULL too
        checks |= {(table, _columns([column]), "not_null") for column in columns}
    return checks


def _raw_constraints() -> set[Check]:
    with duckdb.connect() as con:
        ensure_schema(con)
        rows = con.sql(
            "select schema_name || '.' || table_name, constraint_column_names, constraint_type "
            "from duckdb_constraints() where constraint_type in ('NOT NULL', 'PRIMARY KEY', 'UNIQUE')"
        ).fetchall()
    checks: set[Check] = set()
    for table, columns, kind in rows:
        checks |= _constraint_checks(table, {"type": kind.lower().replace(" ", "_")}, columns)
    return checks


def _gx_checks() -> set[Check]:
    checks: set[Check] = set()
    for suite in load_suites():
        for expectation in suite.data["expectations"]:
            kind = GX_KINDS.get(expectation["type"])
            kwargs = expectation["kwargs"]
            if kind and not kwargs.get("row_condition"):  # a conditional not-null is GX's own
                columns = kwargs.get("column_list") or [kwargs["column"]]
                checks.add((suite.dataset, _columns(columns), kind))
    return checks


def _columns(columns) -> frozenset[str]:
    return frozenset(column.strip().strip('"') for column in columns)


@pytest.fixture(scope="module")
def checks() -> dict[str, set[Check]]:
    constraints, tests = _manifest_checks()
    return {"constraint": constraints | _raw_constraints(), "dbt test": tests, "GX": _gx_checks()}


def test_the_sources_are_read():
    constraints, tests = _manifest_checks()
    impact_grain = _columns(["event_id", "security_id", "window_start", "window_end"])
    assert ("marts.fct_event_impact", impact_grain, "unique") in tests
    assert ("marts.fct_event_impact", _columns(["status"]), "not_null") in constraints
    returns_grain = _columns(["security_id", "session_index"])
    assert ("intermediate.int_prices__daily_returns", returns_grain, "unique") in tests
    assert ("raw.prices_daily", _columns(["ticker", "session_date"]), "unique") in _raw_constraints()
    assert ("marts.dim_entity", _columns(["entity_type"]), "set") in _gx_checks()


def test_no_check_is_made_in_two_places(checks: dict[str, set[Check]]):
    places: dict[Check, list[str]] = defaultdict(list)
    for place, found in checks.items():
        for check in found:
            places[check].append(place)
    twice = sorted(
        (table, sorted(columns), kind, sorted(where))
        for (table, columns, kind), where in places.items()
        if len(where) > 1
    )
    assert twice == []


def test_gx_makes_no_cross_row_check(checks: dict[str, set[Check]]):
    assert [check for check in checks["GX"] if check[2] == "unique"] == []
