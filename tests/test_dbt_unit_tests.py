"""The dbt unit tests (`unit_tests:` in the model YAMLs) check the models' code, not the data, so
the nightly build leaves them out; they run here, against a copy of the sample work file (dbt
reads the column types of each model's inputs from it)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from tests.conftest import SampleConfig, dbt


def test_every_dbt_unit_test_passes(sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path):
    work = tmp_path / "work.duckdb"
    shutil.copy(sample_work_file, work)
    done = dbt(work, tmp_path, sample_config.event_study.dbt_vars(), "test", "--select", "test_type:unit")
    assert done.returncode == 0, done.stdout[-4000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text(encoding="utf-8"))
    assert len(results["results"]) >= 40  # every unit test ran, none was skipped
    assert {result["status"] for result in results["results"]} == {"pass"}
