"""The project's `unique` test on a composite key (macros/unique_key_test.sql groups by a hash of
the key, then by the key itself) passes on the built rows and fails on a duplicated one, with one
failure per repeated key, as dbt's own test would."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb

from tests.conftest import SampleConfig, dbt

ABNORMAL_RETURNS = "intermediate.int_event_study__abnormal_returns"
SELECT_UNIQUE = "test_name:unique,int_event_study__abnormal_returns"


def _run_unique_test(work: Path, folder: Path, sample_config: SampleConfig) -> dict:
    done = dbt(work, folder, sample_config.event_study.dbt_vars(), "test", "--select", SELECT_UNIQUE)
    results = json.loads((folder / "target" / "run_results.json").read_text(encoding="utf-8"))
    [result] = results["results"]
    return {"returncode": done.returncode, "status": result["status"], "failures": result["failures"]}


def test_composite_unique_test_fails_on_each_repeated_key(
    sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path
):
    work = tmp_path / "work.duckdb"
    shutil.copy(sample_work_file, work)
    assert _run_unique_test(work, tmp_path / "clean", sample_config) == {
        "returncode": 0, "status": "pass", "failures": 0,
    }

    with duckdb.connect(str(work)) as connection:
        rows = connection.execute(f"select count(*) from {ABNORMAL_RETURNS}").fetchone()[0]
        # Two keys repeated (one of them three times), and a row that differs from a kept one only
        # in rel_day, which is a new key and no failure.
        connection.execute(
            f"""
            insert into {ABNORMAL_RETURNS}
            select * from (select * from {ABNORMAL_RETURNS} order by all limit 1);
            insert into {ABNORMAL_RETURNS}
            select * from (select * from {ABNORMAL_RETURNS} order by all desc limit 1);
            insert into {ABNORMAL_RETURNS}
            select * from (select * from {ABNORMAL_RETURNS} order by all desc limit 1);
            insert into {ABNORMAL_RETURNS}
            select * replace (rel_day + 100000 as rel_day)
            from (select * from {ABNORMAL_RETURNS} order by all limit 1);
            """
        )
        assert connection.execute(f"select count(*) from {ABNORMAL_RETURNS}").fetchone()[0] == rows + 4

    assert _run_unique_test(work, tmp_path / "duplicated", sample_config) == {
        "returncode": 1, "status": "fail", "failures": 2,
    }
