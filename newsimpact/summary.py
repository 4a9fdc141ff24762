"""The persistent Dagster instance of a warehouse, and the summary printed after a CLI run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from newsimpact.config import Settings

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

_DAGSTER_YAML = """\
# Written by newsimpact: the Dagster instance of this warehouse (runs of the CLI and of dagster dev).
telemetry:
  enabled: false
# One run at a time: DuckDB has a single writer, so the nightly run and a manual one must queue.
concurrency:
  runs:
    max_concurrent_runs: 1
"""


def prepare_dagster_home(settings: Settings) -> Path:
    settings.dagster_home.mkdir(parents=True, exist_ok=True)
    (settings.dagster_home / "dagster.yaml").write_text(_DAGSTER_YAML, encoding="utf-8")
    return settings.dagster_home


@contextmanager
def instance_for(settings: Settings) -> Iterator[dg.DagsterInstance]:
    """The instance `dagster dev` shows for this config, so CLI runs appear in the UI."""
    with dg.DagsterInstance.from_config(str(prepare_dagster_home(settings))) as instance:
        yield instance


@dataclass(frozen=True)
class SourceCounts:
    source_name: str
    source_type: str
    files: int
    read: int
    loaded: int
    quarantined: int


@dataclass(frozen=True)
class RunCounts:
    """What one run ingested from a source; files unchanged since the last load are skipped."""

    source_name: str
    read: int
    loaded: int
    quarantined: int
    skipped_files: int


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    blocking: bool
    description: str


@dataclass
class RunSummary:
    warehouse_path: Path
    data_docs: Path
    run_id: str
    run_succeeded: bool
    failed_steps: list[str]
    this_run: list[RunCounts] = field(default_factory=list)
    sources: list[SourceCounts] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    mart_rows: dict[str, int] = field(default_factory=dict)

    @classmethod
    def collect(cls, settings: Settings, result: dg.ExecuteInProcessResult) -> RunSummary:
        summary = cls(
            warehouse_path=settings.warehouse_path,
            data_docs=settings.data_docs_dir / "index.html",
            run_id=result.run_id,
            run_succeeded=result.success,
            failed_steps=sorted(
                f"{event.step_key}: {_user_error(event.step_failure_data.error)}"
                for event in result.get_step_failure_events()
            ),
            this_run=_run_counts(result),
            checks=[
                CheckOutcome(
                    asset="/".join(evaluation.asset_key.path),
                    check=evaluation.check_name,
                    passed=evaluation.passed,
                    blocking=evaluation.severity == dg.AssetCheckSeverity.ERROR,
                    description=_failure_text(evaluation),
                )
                for evaluation in result.get_asset_check_evaluations()
            ],
        )
        if settings.warehouse_path.exists():
            try:
                with duckdb.connect(str(settings.warehouse_path), read_only=True) as connection:
                    summary.sources = _source_counts(connection)
                    summary.mart_rows = _mart_rows(connection)
            except duckdb.IOException as error:  # held by a writer elsewhere: report the run anyway
                summary.failed_steps.append(f"reading the warehouse for this summary: {error}")
        return summary

    @property
    def failed_blocking_checks(self) -> list[CheckOutcome]:
        return [check for check in self.checks if check.blocking and not check.passed]

    @property
    def succeeded(self) -> bool:
        return self.run_succeeded and not self.failed_blocking_checks

    def render(self) -> str:
        lines = [f"newsimpact run {self.run_id}: {'succeeded' if self.succeeded else 'FAILED'}", ""]
        lines.append("Ingested by this run        read    loaded  quarantined  unchanged files")
        lines += [
            f"  {run.source_name:<22} {run.read:>6} {run.loaded:>9} {run.quarantined:>12} "
            f"{run.skipped_files:>16}"
            for run in self.this_run
        ]
        lines += ["", "In the warehouse           files      read    loaded  quarantined"]
        lines += [
            f"  {source.source_name:<12} {source.source_type:<10} {source.files:>5} "
            f"{source.read:>9} {source.loaded:>9} {source.quarantined:>12}"
            for source in self.sources
        ]
        passed = sum(check.passed for check in self.checks)
        suites = [check for check in self.checks if check.check.startswith("gx_")]
        lines += [
            "",
            f"Checks: {passed} passed, {len(self.checks) - passed} failed "
            f"(Great Expectations suites {sum(c.passed for c in suites)}/{len(suites)}, "
            f"dbt tests {passed - sum(c.passed for c in suites)}/{len(self.checks) - len(suites)})",
        ]
        for check in self.checks:
            if not check.passed:
                severity = "blocking" if check.blocking else "warning"
                lines.append(f"  FAILED ({severity}) {check.asset} {check.check}: {check.description}")
        if self.failed_steps:
            lines += ["", "Failed steps:"] + [f"  {failure}" for failure in self.failed_steps]
        lines += ["", "Marts                          rows"]
        lines += [f"  marts.{name:<24} {rows:>8}" for name, rows in self.mart_rows.items()]
        lines += ["", f"Warehouse: {self.warehouse_path}", f"Data Docs: {self.data_docs}"]
        return "\n".join(lines)


def _user_error(error: SerializableErrorInfo) -> str:
    """The first error in the chain that is not Dagster's own wrapper around it."""
    while error.cls_name and error.cls_name.startswith("Dagster") and error.cause is not None:
        error = error.cause
    return error.message.strip()


def _run_counts(result: dg.ExecuteInProcessResult) -> list[RunCounts]:
    """Per-source counts from the ingestion assets' materialization metadata."""
    counts = []
    for event in result.get_asset_materialization_events():
        materialization = event.step_materialization_data.materialization
        if materialization.asset_key.path[0] != "raw":
            continue
        sources = materialization.metadata.get("sources")
        if sources is None or materialization.asset_key.path[1] == "news_annotations":
            continue  # news_annotations repeats the news_documents counts
        counts += [RunCounts(name, **values) for name, values in sources.value.items()]
    return sorted(counts, key=lambda run: run.source_name)


def _failure_text(evaluation: dg.AssetCheckEvaluation) -> str:
    if evaluation.passed:
        return ""
    failures = evaluation.metadata.get("failures")
    if failures is not None:
        return str(failures.value)
    return evaluation.description or "failed"


def _source_counts(connection: duckdb.DuckDBPyConnection) -> list[SourceCounts]:
    if not _table_exists(connection, "audit", "ingested_files"):
        return []
    rows = connection.sql(
        """
        select source_name, source_type, count(*), sum(records_read), sum(records_loaded),
               sum(records_quarantined)
        from audit.ingested_files
        group by all
        order by source_type desc, source_name
        """
    ).fetchall()
    return [SourceCounts(*row) for row in rows]


def _mart_rows(connection: duckdb.DuckDBPyConnection) -> dict[str, int]:
    tables = connection.sql(
        "select table_name from information_schema.tables "
        "where table_schema = 'marts' order by table_name"
    ).fetchall()
    return {
        name: connection.sql(f'select count(*) from marts."{name}"').fetchall()[0][0]
        for (name,) in tables
    }


def _table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        connection.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )
