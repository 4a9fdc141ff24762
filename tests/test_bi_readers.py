"""The published serving file read the way BI tools read it: older DuckDB releases and Superset's
SQLAlchemy + duckdb-engine, each in its own virtual environment under .venv-readers/.

The environments are made before the tests by `bash tests/readers/make_envs.sh` (the Makefile's
`test` target runs it), from the pinned, hashed tests/readers/<name>.txt, so this test needs no
network. The project's own duckdb reads the same file through the same script for comparison.
"""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import duckdb
import pytest

from orchestration.dbt.project import table_grains
from tests.conftest import REPO_ROOT, SampleConfig
from tests.readers import read_duckdb
from warehouse.publish import BuildInfo, build_id_for, list_builds, publish, read_build_info

pytestmark = pytest.mark.slow

READERS = Path(__file__).resolve().parent / "readers"
ENVS = REPO_ROOT / ".venv-readers"
OLD_DUCKDB = ("duckdb-1.1", "duckdb-1.4")
SQLALCHEMY = ("superset", "sqlalchemy-2")
# Types whose values must come back equal, with at least one non-null value among the marts.
TYPED = ("DATE", "TIMESTAMP WITH TIME ZONE", "VARCHAR[]")


def pinned(env: str, package: str) -> str:
    """The version of `package` pinned in tests/readers/<env>.txt."""
    text = (READERS / f"{env}.txt").read_text(encoding="utf-8")
    return re.search(rf"^{re.escape(package)}==(\S+)", text, re.MULTILINE).group(1)


def run_reader(env: str, script: str, path: Path) -> subprocess.CompletedProcess[str]:
    python = ENVS / env / "bin" / "python"
    if not (ENVS / env / ".installed").exists() or not python.exists():
        pytest.fail(
            f"reader environment .venv-readers/{env} is missing: run `bash tests/readers/make_envs.sh` "
            "first (`make test` does)"
        )
    return subprocess.run(
        [str(python), str(READERS / script), str(path)], capture_output=True, text=True, timeout=600
    )


def read_with(env: str, script: str, path: Path) -> dict:
    """JSON printed by tests/readers/<script> run on `path` with the python of .venv-readers/<env>."""
    done = run_reader(env, script, path)
    if done.returncode != 0:
        hint = ""
        if "version number" in done.stderr:
            hint = (
                "\nThis reader's DuckDB cannot read the file's storage format: the serving file must "
                "be written with ATTACH ... (STORAGE_VERSION 'v1.0.0')."
            )
        pytest.fail(f"{env} could not read {path}:{hint}\n{done.stderr[-3000:]}")
    return json.loads(done.stdout)


def undocumented(read: dict) -> list[str]:
    """Marts tables and columns without a comment (or with an empty one) in a reader's output."""
    marts = {name: table for name, table in read["tables"].items() if name.startswith("marts.")}
    return [name for name, table in marts.items() if not table["comment"]] + [
        f"{name}.{column}"
        for name, table in marts.items()
        for column, _, comment in table["columns"]
        if not comment
    ]


@pytest.fixture(scope="module")
def expected(sample_warehouse: Path) -> dict:
    """The published file as the project's own duckdb reads it, through the same queries."""
    return read_duckdb.read(str(sample_warehouse))


def test_expected_file_is_documented(expected: dict) -> None:
    """What the readers are compared with: every marts table and column carries a comment."""
    marts = {name: table for name, table in expected["tables"].items() if name.startswith("marts.")}
    assert marts, "the published file has no marts tables"
    assert {name for name in expected["tables"] if name.startswith("audit.")} >= {
        "audit.quarantine",
        "audit.ingested_files",
    }
    assert undocumented(expected) == []
    types = {data_type for table in marts.values() for _, data_type, _ in table["columns"]}
    assert types >= set(TYPED)


@pytest.fixture(scope="module")
def patched_warehouse(
    sample_config: SampleConfig, sample_warehouse: Path, dbt_manifest: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    """A build patched from the samples' published one, as a night writes it: the work file with
    one event's abnormal returns gone and one document's title changed."""
    settings = sample_config.settings
    folder = tmp_path_factory.mktemp("patched")
    work = shutil.copyfile(settings.work_path, folder / "work.duckdb")
    base = list_builds(settings.builds_dir)[-1]
    shutil.copyfile(base, (folder / "builds").mkdir() or folder / "builds" / base.name)
    with duckdb.connect(str(work)) as connection:
        connection.execute("""
            DELETE FROM marts.fct_abnormal_return_daily
            WHERE event_id = (SELECT min(event_id) FROM marts.fct_abnormal_return_daily);
            UPDATE marts.fct_news_event SET title = title || ' (corrected)'
            WHERE event_id = (SELECT max(event_id) FROM marts.fct_news_event);
        """)
    served = read_build_info(base)
    built_at = served["built_at"] + timedelta(hours=1)
    info = dataclasses.replace(
        BuildInfo(**{field.name: served[field.name] for field in dataclasses.fields(BuildInfo)}),
        build_id=build_id_for("patched-run", built_at), run_id="patched-run", built_at=built_at,
    )
    publication = publish(work, folder / "serving.duckdb", folder / "builds", info, keep=3,
                          grains=table_grains(dbt_manifest))
    assert publication.patched_from == base.stem
    return folder / "serving.duckdb"


@pytest.mark.parametrize("patched", [False, True], ids=["published", "patched"])
@pytest.mark.parametrize("env", OLD_DUCKDB)
def test_old_duckdb_reads_the_published_file(
    env: str, patched: bool, request: pytest.FixtureRequest, sample_warehouse: Path, expected: dict
) -> None:
    """The samples' build, written whole, and a build patched from it (DuckDB 2.x writes into the
    v1.0.0 copy: both must stay readable)."""
    path = request.getfixturevalue("patched_warehouse") if patched else sample_warehouse
    if patched:
        expected = read_duckdb.read(str(path))
    got = read_with(env, "read_duckdb.py", path)

    assert got["duckdb_version"] == pinned(env, "duckdb") != duckdb.__version__
    assert {name: table["count"] for name, table in got["tables"].items()} == {
        name: table["count"] for name, table in expected["tables"].items()
    }
    assert undocumented(got) == []
    for name, table in expected["tables"].items():
        # Table and column comments (duckdb_tables(), duckdb_columns()), names and types.
        assert got["tables"][name]["comment"] == table["comment"], name
        assert got["tables"][name]["columns"] == table["columns"], name
        assert got["tables"][name]["rows"] == table["rows"], f"{name}: rows differ"

    # The typed values compared above include non-null DATE, TIMESTAMPTZ and VARCHAR[] values.
    seen = set()
    for name, table in got["tables"].items():
        for index, (_, data_type, _) in enumerate(table["columns"]):
            if name.startswith("marts.") and data_type in TYPED and any(row[index] is not None for row in table["rows"]):
                seen.add(data_type)
    assert seen == set(TYPED)


@pytest.mark.parametrize("env", SQLALCHEMY)
def test_sqlalchemy_duckdb_engine_reads_the_published_file(
    env: str, sample_warehouse: Path, expected: dict
) -> None:
    got = read_with(env, "read_sqlalchemy.py", sample_warehouse)

    assert got["versions"] == {
        "duckdb": pinned(env, "duckdb"),
        "duckdb_engine": pinned(env, "duckdb-engine"),
        "sqlalchemy": pinned(env, "sqlalchemy"),
    }
    want = {
        name: {
            "comment": table["comment"],
            "columns": {column: comment for column, _, comment in table["columns"]},
            "count": table["count"],
        }
        for name, table in expected["tables"].items()
    }
    for form, result in got["forms"].items():
        assert "error" not in result, f"{form}: {result.get('error')}"
        assert result["access_mode"] == "read_only", form
        assert result["tables"] == want, form


def test_old_duckdb_cannot_read_default_storage(tmp_path: Path) -> None:
    """The reader environment really is an old release: DuckDB 2's default storage is refused by it,
    and the same table written with STORAGE_VERSION 'v1.0.0' is read."""
    with duckdb.connect() as connection:
        for name, options in (("v2", ""), ("v1", "(STORAGE_VERSION 'v1.0.0')")):
            connection.execute(f"attach '{tmp_path / name}.duckdb' as {name} {options}")
            connection.execute(f"create schema {name}.marts")
            connection.execute(f"create table {name}.marts.t as select 1 as i")
            connection.execute(f"detach {name}")

    refused = run_reader("duckdb-1.1", "read_duckdb.py", tmp_path / "v2.duckdb")
    assert refused.returncode != 0
    assert "version number" in refused.stderr, refused.stderr

    read = read_with("duckdb-1.1", "read_duckdb.py", tmp_path / "v1.duckdb")
    assert read["tables"]["marts.t"]["rows"] == [[1]]
