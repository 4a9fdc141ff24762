"""The Dagster definitions load as `dagster dev` loads them, and their graph is the one expected."""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
import pytest

from orchestration import definitions
from orchestration.nightly import NIGHTLY_SCHEDULE
from tests.conftest import REPO_ROOT

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.txt"


@pytest.fixture(scope="module")
def defs() -> dg.Definitions:
    """Loaded through the same lazy `defs` that `dagster dev -m orchestration.definitions` uses."""
    previous = os.environ.get("NEWSIMPACT_CONFIG")
    os.environ["NEWSIMPACT_CONFIG"] = str(REPO_ROOT / "newsimpact.toml")
    try:
        loaded = definitions.defs()
        loaded.resolve_all_job_defs()  # resolves selections: fails on a dangling check or asset
        return loaded
    finally:
        if previous is None:
            del os.environ["NEWSIMPACT_CONFIG"]
        else:
            os.environ["NEWSIMPACT_CONFIG"] = previous


def _describe(defs: dg.Definitions) -> str:
    graph = defs.resolve_asset_graph()
    lines = [f"asset {'/'.join(key.path)}" for key in sorted(graph.get_all_asset_keys())]
    lines += [
        f"check {'/'.join(key.asset_key.path)}:{key.name}"
        for key in sorted(graph.asset_check_keys, key=lambda k: ("/".join(k.asset_key.path), k.name))
        if key.name.startswith("gx_")  # dbt tests come and go with the models' YAML
    ]
    lines += [
        f"job {job.name}"
        for job in sorted(defs.resolve_all_job_defs(), key=lambda j: j.name)
        if not job.name.startswith("__")  # Dagster's implicit job of all assets
    ]
    lines += [
        f"schedule {s.name} {s.cron_schedule} {s.execution_timezone}" for s in defs.schedules or []
    ]
    lines += [f"sensor {s.name}" for s in sorted(defs.sensors or [], key=lambda s: s.name)]
    return "\n".join(lines) + "\n"


def test_the_graph_matches_the_snapshot(defs: dg.Definitions):
    """Update deliberately with `NEWSIMPACT_UPDATE_SNAPSHOTS=1 make test` after changing the graph."""
    described = _describe(defs)
    if os.environ.get("NEWSIMPACT_UPDATE_SNAPSHOTS"):
        SNAPSHOT.write_text(described, encoding="utf-8")
    assert described == SNAPSHOT.read_text(encoding="utf-8")


def test_dbt_sources_are_the_ingestion_assets(defs: dg.Definitions):
    graph = defs.resolve_asset_graph()
    staging = dg.AssetKey(["staging", "stg_news__documents"])

    assert dg.AssetKey(["raw", "news_documents"]) in graph.get(staging).parent_keys
    assert graph.get(dg.AssetKey(["raw", "news_documents"])).is_materializable


def test_dbt_tests_are_asset_checks(defs: dg.Definitions):
    checks = defs.resolve_asset_graph().asset_check_keys
    impact = [c.name for c in checks if c.asset_key == dg.AssetKey(["marts", "fct_event_impact"])]

    assert any(name.startswith("relationships_") for name in impact)
    assert "fct_event_impact_has_every_linked_window" in impact  # a singular test, mapped by its meta
    assert "gx_fct_event_impact" in impact


def test_one_job_runs_everything_one_step_at_a_time_every_night(defs: dg.Definitions):
    pipeline = defs.resolve_job_def(definitions.PIPELINE_JOB)
    schedule = defs.resolve_schedule_def(NIGHTLY_SCHEDULE)

    assert pipeline.executor_def is dg.in_process_executor  # DuckDB has a single writer
    assert set(pipeline.asset_layer.asset_graph.get_all_asset_keys()) == set(
        defs.resolve_asset_graph().get_all_asset_keys()
    )
    assert (schedule.cron_schedule, schedule.execution_timezone) == ("0 6 * * *", "UTC")
    assert schedule.job_name == definitions.PIPELINE_JOB


def test_the_report_is_written_from_the_published_file(defs: dg.Definitions):
    from orchestration.publish.assets import REPORT, SERVING

    report = defs.resolve_asset_graph().get(REPORT)

    assert report.parent_keys == {SERVING}  # after publish, so only from a build that passed
    assert report.group_name == "serving"
    pipeline = defs.resolve_job_def(definitions.PIPELINE_JOB)
    assert REPORT in pipeline.asset_layer.asset_graph.get_all_asset_keys()


def test_the_dbt_resource_knows_its_version_without_starting_dbt(defs: dg.Definitions):
    """dagster-dbt's own `dbt --version` and project load cost 4 s a run; the resource skips them.

    The names it overrides are dagster-dbt's: if an upgrade renames them, this fails instead of
    the cost coming back unseen."""
    import subprocess

    from dagster_dbt import DbtCliResource

    from orchestration.dbt.project import NewsimpactDbtCliResource

    assert {"_cli_version", "_initialize_dbt_core_adapter"} <= set(vars(DbtCliResource))
    resource = defs.resources["dbt"]
    assert isinstance(resource, NewsimpactDbtCliResource)
    printed = subprocess.run(
        [resource.dbt_executable, "--version"], capture_output=True, text=True, check=True
    ).stdout
    assert f"installed: {resource._cli_version}" in printed
    assert resource._initialize_dbt_core_adapter(["build"]) is None


def test_publish_sorts_each_mart_by_its_tested_grain(defs: dg.Definitions):  # noqa: ARG001
    """The grains come from the marts' `unique` tests in the manifest (`defs` parsed the project):
    every mart has one."""
    from orchestration.dbt.project import dbt_project, table_grains

    grains = table_grains(dbt_project().manifest_path)

    assert grains["marts.fct_abnormal_return_daily"] == ("event_id", "security_id", "rel_day")
    assert grains["marts.fct_security_price_daily"] == ("security_id", "session_date")
    marts = (REPO_ROOT / "dbt_project" / "models" / "marts").glob("*.sql")
    published = [table.removeprefix("marts.") for table in grains if table.startswith("marts.")]
    assert sorted(published) == sorted(path.stem for path in marts)


def test_a_grain_that_may_be_null_or_is_an_expression_orders_nothing(tmp_path: Path):
    """Unique allows many NULLs, which are no total order; an expression is no list of columns."""
    import json

    from orchestration.dbt.project import table_grains

    not_null = [{"type": "not_null"}]
    model = {"schema": "marts", "alias": "dim_entity", "columns": {
        "entity_id": {"constraints": not_null}, "security_id": {"constraints": []},
    }}

    def unique(column_name: str) -> dict:
        return {"attached_node": "model.p.dim_entity",
                "test_metadata": {"name": "unique", "kwargs": {"column_name": column_name}}}

    manifest = tmp_path / "manifest.json"
    tests = {"test.a": unique("security_id"), "test.b": unique("lower(entity_id)")}
    manifest.write_text(json.dumps({"nodes": {"model.p.dim_entity": model, **tests}}))
    assert table_grains(manifest) == {}
    tests["test.c"] = unique("(entity_id)")
    manifest.write_text(json.dumps({"nodes": {"model.p.dim_entity": model, **tests}}))
    assert table_grains(manifest) == {"marts.dim_entity": ("entity_id",)}
