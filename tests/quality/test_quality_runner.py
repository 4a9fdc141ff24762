"""Runner behaviour: missing tables, parameters, Data Docs, lazy GX import, registry."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import warehouse.quality as quality
from warehouse.quality import (
    ALL_SUITES,
    LAYERS,
    REGISTRY,
    SuiteOutcome,
    get_suite,
    run_suite,
    run_suites,
    suites_for,
)

from quality_fixtures import PARAMS

REPO = Path(__file__).resolve().parents[2]


def test_missing_table_is_a_failed_outcome_not_a_crash(warehouse, tmp_path):
    warehouse.execute("DROP TABLE marts.fct_event_impact")
    outcomes = run_suites(
        warehouse,
        [get_suite("fct_event_impact"), get_suite("dim_theme"), get_suite("fct_event_impact_completeness")],
        params=PARAMS,
        data_docs_dir=tmp_path / "docs",
    )
    impact, theme, completeness = outcomes
    assert isinstance(impact, SuiteOutcome)
    assert not impact.success and impact.blocks and impact.evaluated_expectations == 0
    assert impact.error and "fct_event_impact" in impact.error and "missing" in impact.error
    assert impact.failures == [impact.error]
    assert not completeness.success and "fct_event_impact" in completeness.error
    assert theme.success  # the other suites still ran
    assert (tmp_path / "docs" / "index.html").is_file()


def test_missing_column_is_a_failed_outcome(warehouse):
    warehouse.execute("ALTER TABLE marts.dim_theme DROP COLUMN event_count")
    outcome = run_suite(warehouse, get_suite("dim_theme"), params=PARAMS)
    assert not outcome.success and "event_count" in outcome.error


def test_no_table_at_all_without_gx_work(tmp_path):
    import duckdb

    con = duckdb.connect(str(tmp_path / "empty.duckdb"))
    outcomes = run_suites(con, suites_for("marts"), params=PARAMS, data_docs_dir=None)
    assert outcomes and all(not o.success and o.error for o in outcomes)


def test_bad_parameters_are_reported(warehouse):
    outcome = run_suite(
        warehouse, get_suite("fct_event_impact_completeness"), params={"event_windows": [[1, 0]]}
    )
    assert not outcome.success and "event window" in outcome.error
    outcome = run_suite(warehouse, get_suite("raw_news_documents"), params={"now": "yesterday"})
    assert not outcome.success and "now" in outcome.error


def test_default_params_use_current_time(warehouse):
    # No params at all: `now` is the current time, windows the documented defaults.
    outcome = run_suite(warehouse, get_suite("raw_news_documents"))
    assert outcome.success, outcome.summary()


def test_data_docs_are_written_and_accumulate(warehouse, tmp_path):
    docs = tmp_path / "data_docs"
    first = run_suites(warehouse, suites_for("raw_prices"), params=PARAMS, data_docs_dir=docs)
    index = docs / "index.html"
    assert index.is_file()
    assert first[0].data_docs_index == str(index.resolve())
    assert "raw_prices_daily" in index.read_text()

    warehouse.execute("UPDATE marts.mart_theme_impact SET pct_positive = 2")
    second = run_suites(warehouse, suites_for("marts"), params=PARAMS, data_docs_dir=docs)
    assert not next(o for o in second if o.suite == "mart_theme_impact").success
    html = index.read_text()
    # The second call (another layer) keeps the first call's results browsable.
    assert "raw_prices_daily" in html and "mart_theme_impact" in html
    pages = list((docs / "validations").rglob("*.html"))
    assert {p.relative_to(docs / "validations").parts[0] for p in pages} >= {
        "raw_prices_daily",
        "mart_theme_impact",
    }
    assert (docs / "expectations" / "fct_event_impact.html").is_file()


def test_data_docs_keep_only_the_newest_runs(warehouse, tmp_path, monkeypatch):
    monkeypatch.setattr("warehouse.quality.runner.KEEP_RUNS", 2)
    docs = tmp_path / "data_docs"
    for _ in range(3):
        run_suite(warehouse, get_suite("raw_prices_daily"), params=PARAMS, data_docs_dir=docs)

    def run_folders(root: Path) -> list[str]:
        return sorted(p.name for p in root.glob("raw_prices_daily/*/*") if p.is_dir())

    stored = run_folders(docs / "_gx_store" / "validations")
    rendered = run_folders(docs / "validations")
    assert len(stored) == 2
    assert rendered == stored


def test_unusable_docs_folder_does_not_fail_the_checks(warehouse, tmp_path):
    not_a_folder = tmp_path / "docs"
    not_a_folder.write_text("a file, not a folder")
    outcome = run_suite(warehouse, get_suite("dim_theme"), params=PARAMS, data_docs_dir=not_a_folder)
    assert outcome.success and outcome.data_docs_index is None


def test_registry_covers_every_suite_once():
    assert set(REGISTRY) == set(LAYERS)
    listed = [s.name for layer in LAYERS for s in suites_for(layer)]
    assert sorted(listed) == sorted(s.name for s in ALL_SUITES)
    assert {s.name for s in suites_for("raw_prices")} == {"raw_prices_daily"}
    assert {s.name for s in suites_for("raw_news")} >= {"raw_news_documents", "raw_news_annotations"}
    assert {s.name for s in suites_for("intermediate")} >= {
        "int_prices__daily_returns",
        "int_events__linked_securities",
    }
    assert {s.name for s in suites_for("intermediate", severity="warning")} == {
        "int_prices__daily_returns__outliers"
    }
    assert all(s.severity == "blocking" for s in suites_for("marts"))
    with pytest.raises(KeyError, match="unknown layer"):
        suites_for("gold")


def test_importing_the_package_does_not_import_great_expectations():
    code = (
        "import sys, warehouse.quality as q; "
        "q.suites_for('marts'); q.get_suite('fct_event_impact').render_query(q.resolve_params()); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('great_expectations', 'pandas')]; "
        "print(bad); sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_dataset_is_one_warehouse_table(warehouse):
    tables = {
        f"{schema}.{name}"
        for schema, name in warehouse.sql(
            "SELECT table_schema, table_name FROM information_schema.tables"
        ).fetchall()
    }
    for suite in ALL_SUITES:
        assert suite.dataset in tables, suite.name
        assert suite.layer in LAYERS and suite.severity in ("blocking", "warning")


def test_public_api():
    for name in ("run_suite", "run_suites", "suites_for", "get_suite", "SuiteOutcome", "REGISTRY"):
        assert name in quality.__all__
