"""When the incremental dbt models must be rebuilt from scratch (docs/incremental.md).

The incremental models recompute, each night, only what changed in the data (the securities whose
bars changed, the events whose links changed). What they cannot see is a change of what their
maths depends on: a config value (benchmark, calendar, windows, minimum history), the session
indexes (the calendar's first session), the models' own code (with the Python modules the Python
models import), or a build that stopped half way.
Any of these changes the build key, and a key that differs from the one the last complete build
recorded makes the next build a full refresh.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import duckdb

_STATE_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.dbt_build_state (build_key VARCHAR NOT NULL);
"""

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
# What the models' results depend on besides the data: their code and the project's settings.
_CODE_FOLDERS = ("models", "macros", "seeds")
_CODE_FILES = ("dbt_project.yml", "packages.yml")


def project_code_files(project_dir: Path) -> list[Path]:
    """The dbt project's code: its settings, models, macros and seeds."""
    paths = [project_dir / name for name in _CODE_FILES if (project_dir / name).is_file()]
    for folder in _CODE_FOLDERS:
        paths += sorted(p for p in (project_dir / folder).rglob("*") if p.is_file())
    return paths


def build_key(
    dbt_vars: Mapping[str, Any], calendar_start: object, project_dir: Path, library: Sequence[Path] = ()
) -> str:
    """sha256 over the vars, the calendar's first session, the dbt project's code and `library`, the
    Python modules its Python models import (their maths is the models' code too)."""
    digest = hashlib.sha256()
    digest.update(json.dumps(dict(dbt_vars), sort_keys=True, default=str).encode())
    digest.update(f"calendar from {calendar_start}".encode())
    digest.update(f"exchange_calendars {version('exchange_calendars')}".encode())
    for path in project_code_files(project_dir):
        digest.update(str(path.relative_to(project_dir)).encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    for path in library:
        digest.update(f"library {path.name}".encode())
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


# What a build reads besides its code and config: the files ingested (by content), the calendar
# and the security master. Raw rows change only through these.
_INPUTS_FINGERPRINT = """
SELECT
    (SELECT count(*) FROM audit.ingested_files),
    (SELECT bit_xor(hash(source_name, file_path, content_hash, records_loaded, records_quarantined,
                         parser_version, needs_reread)) FROM audit.ingested_files),
    (SELECT count(*) FROM raw.exchange_sessions),
    (SELECT bit_xor(hash(s)) FROM raw.exchange_sessions AS s),
    (SELECT count(*) FROM raw.security_master),
    (SELECT bit_xor(hash(m)) FROM raw.security_master AS m)
"""
_PUBLISHED_DDL = """
CREATE SCHEMA IF NOT EXISTS audit;
CREATE TABLE IF NOT EXISTS audit.published_inputs (inputs VARCHAR NOT NULL, build_id VARCHAR NOT NULL);
"""


def inputs_state(con: duckdb.DuckDBPyConnection, key: str, config_sha256: str) -> str:
    """sha256 over the build key, the config file and a fingerprint of every input the build
    reads: equal states give equal builds."""
    fingerprint = con.execute(_INPUTS_FINGERPRINT).fetchone()
    return hashlib.sha256(json.dumps([key, config_sha256, *map(str, fingerprint)]).encode()).hexdigest()


def record_published_inputs(con: duckdb.DuckDBPyConnection, inputs: str, build_id: str) -> None:
    """What the published build `build_id` was built from: a later run with the same inputs
    has nothing to build or publish."""
    con.execute(_PUBLISHED_DDL)
    con.execute("DELETE FROM audit.published_inputs")
    con.execute("INSERT INTO audit.published_inputs VALUES (?, ?)", [inputs, build_id])


def published_build_of(con: duckdb.DuckDBPyConnection, inputs: str) -> str | None:
    """The build id published from exactly these inputs, if the last publication was."""
    con.execute(_PUBLISHED_DDL)
    rows = con.execute("SELECT build_id FROM audit.published_inputs WHERE inputs = ?", [inputs]).fetchall()
    return rows[0][0] if rows else None
