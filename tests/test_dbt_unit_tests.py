"""The dbt unit tests (`unit_tests:` in the model YAMLs) check the models' code, not the data, so
the nightly build leaves them out; they run here, against a copy of the sample work file (dbt
reads the column types of each model's inputs from it)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from orchestration.dbt.project import DBT_PROJECT_DIR
from tests.conftest import SampleConfig


def test_every_dbt_unit_test_passes(sample_work_file: Path, sample_config: SampleConfig, tmp_path: Path):
    work = tmp_path / "work.duckdb"
    shutil.copy(sample_work_file, work)
    (tmp_path / "profiles.yml").write_text(
        "newsimpact:\n  target: t\n  outputs:\n    t:\n"
        f"      type: duckdb\n      path: {json.dumps(str(work))}\n      threads: 1\n",
        encoding="utf-8",
    )
    done = subprocess.run(
        [str(Path(sys.executable).parent / "dbt"), "test", "--select", "test_type:unit",
         "--profiles-dir", str(tmp_path), "--target-path", str(tmp_path / "target"),
         "--vars", json.dumps(sample_config.event_study.dbt_vars())],
        cwd=DBT_PROJECT_DIR, capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stdout[-4000:]
    results = json.loads((tmp_path / "target" / "run_results.json").read_text(encoding="utf-8"))
    assert len(results["results"]) >= 40  # every unit test ran, none was skipped
    assert {result["status"] for result in results["results"]} == {"pass"}
