"""When the incremental dbt models must be rebuilt from scratch (docs/incremental.md).

The incremental models recompute, each night, only what changed in the data (the securities whose
bars changed, the events whose links changed). What they cannot see is a change of what their
maths depends on: a config value (benchmark, calendar, windows, minimum history), the session
indexes (the calendar's first session), the models' own code, or a build that stopped half way.
Any of these changes the build key, and a key that differs from the one the last complete build
recorded makes the next build a full refresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb

_STATE_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.dbt_build_state (build_key VARCHAR NOT NULL);
"""

# What the models' results depend on besides the data: their code and the project's settings.
_CODE_FOLDERS = ("models", "macros", "seeds")
_CODE_FILES = ("dbt_project.yml", "packages.yml")


def build_key(dbt_vars: Mapping[str, Any], calendar_start: object, project_dir: Path) -> str:
    """sha256 over the vars, the calendar's first session and the dbt project's code."""
    digest = hashlib.sha256()
    digest.update(json.dumps(dict(dbt_vars), sort_keys=True, default=str).encode())
    digest.update(f"calendar from {calendar_start}".encode())
    digest.update(f"exchange_calendars {version('exchange_calendars')}".encode())
    paths = [project_dir / name for name in _CODE_FILES if (project_dir / name).is_file()]
    for folder in _CODE_FOLDERS:
        paths += sorted(p for p in (project_dir / folder).rglob("*") if p.is_file())
    for path in paths:
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def calendar_start(con: duckdb.DuckDBPyConnection, calendar_code: str) -> object:
    """The first session of the calendar in the work file: session indexes count from it."""
    return con.execute(
        "SELECT min(session_date) FROM raw.exchange_sessions WHERE calendar_code = ?",
        [calendar_code],
    ).fetchone()[0]


def take_build_key(con: duckdb.DuckDBPyConnection) -> str | None:
    """The key the last complete build recorded, removed: a build that does not finish leaves
    none, so the one after it is a full refresh."""
    con.execute(_STATE_DDL)
    rows = con.execute("SELECT build_key FROM audit.dbt_build_state").fetchall()
    con.execute("DELETE FROM audit.dbt_build_state")
    return rows[0][0] if len(rows) == 1 else None


def record_build_key(con: duckdb.DuckDBPyConnection, key: str) -> None:
    con.execute(_STATE_DDL)
    con.execute("DELETE FROM audit.dbt_build_state")
    con.execute("INSERT INTO audit.dbt_build_state VALUES (?)", [key])
