"""The summary printed after `newsimpact run` and `newsimpact check`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import duckdb

from newsimpact.config import Settings
from newsimpact.progress import step_label
from newsimpact.timings import RunTimings
from orchestration.publish.assets import SERVING, UNCHANGED_BUILD
from warehouse.connection import connect
from warehouse.publish import read_build_info

DBT_STEP = "newsimpact_dbt_assets"  # the dbt build's step: its slowest models are listed under it

if TYPE_CHECKING:
    from dagster._utils.error import SerializableErrorInfo

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
    removed_files: int = 0  # no longer in the source folder: their rows were deleted
    removed_records: int = 0
    source_type: str = ""
    duplicates: int = 0  # of `quarantined`: already loaded from another file or source
    unchanged_records: int = 0  # pulled items seen again unchanged: not records
    filtered_records: int = 0  # GKG records naming no company of the security master


@dataclass(frozen=True)
class PullCounts:
    """What one pull run fetched for a source (summed over the run's day partitions)."""

    source_name: str
    fetched: int
    new: int
    unchanged: int
    missing: int
    failed: int
    errors: tuple[str, ...] = ()
    last_success: datetime | None = None  # newest payload in the landing zone


@dataclass(frozen=True)
class CheckOutcome:
    asset: str
    check: str
    passed: bool
    blocking: bool
    description: str


@dataclass
class RunSummary:
    command: str
    warehouse_path: Path
    data_docs: Path
    logs_dir: Path
    run_id: str
    run_succeeded: bool
    failed_steps: list[str]
    published_build: str | None  # the build this run published, if it did
    unchanged_build: str | None = None  # the served build, when no input changed since it
    this_run: list[RunCounts] = field(default_factory=list)
    pulled: list[PullCounts] = field(default_factory=list)
    checks: list[CheckOutcome] = field(default_factory=list)
    served: dict[str, object] | None = None  # marts.build_info of the serving file
    sources: list[SourceCounts] = field(default_factory=list)  # its audit.ingested_files
    mart_rows: dict[str, int] = field(default_factory=dict)  # its marts, from build_info
    unresolved: list[str] = field(default_factory=list)  # from its marts.mart_unresolved_mentions
    report: Path | None = None  # the analyst's HTML report of the served build, once written
    timings: RunTimings | None = None  # time by step, from the runs' event logs

    @classmethod
    def collect(
        cls,
        settings: Settings,
        result: dg.ExecuteInProcessResult,
        *,
        publishes: bool,
        pulls: list[dg.ExecuteInProcessResult] = (),
        timings: RunTimings | None = None,
    ) -> RunSummary:
        published = [
            materialization.metadata["build_id"].value
            for event in result.get_asset_materialization_events()
            if (materialization := event.step_materialization_data.materialization).asset_key
            == SERVING
        ]
        unchanged = [
            str(event.asset_observation_data.asset_observation.metadata[UNCHANGED_BUILD].value)
            for event in result.get_asset_observation_events()
            if UNCHANGED_BUILD in event.asset_observation_data.asset_observation.metadata
        ]
        summary = cls(
            command="run" if publishes else "check",
            warehouse_path=settings.warehouse_path,
            data_docs=settings.data_docs_dir / "index.html",
            logs_dir=settings.logs_dir,
            run_id=result.run_id,
            run_succeeded=result.success,
            failed_steps=sorted(
                f"{event.step_key}: {_user_error(event.step_failure_data.error)}"
                for event in result.get_step_failure_events()
                # A failed blocking check is reported once, with its findings, under Checks.
                if event.step_failure_data.error.cls_name != "DagsterAssetCheckFailedError"
            ),
            published_build=published[0] if published else None,
            unchanged_build=unchanged[0] if unchanged else None,
            report=settings.report_path if settings.report_path.exists() else None,
            this_run=_run_counts(result),
            pulled=_pull_counts(settings, pulls),
            timings=timings,
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
        if (publishes and summary.succeeded and summary.published_build is None
                and summary.unchanged_build is None):
            summary.failed_steps.append("publish: the run ended without publishing a build")
        if settings.warehouse_path.exists():  # what BI users see now: only ever replaced whole
            serving, duckdb_settings = settings.warehouse_path, settings.duckdb_settings
            summary.served = read_build_info(serving, duckdb_settings)
            with connect(serving, duckdb_settings, read_only=True) as connection:
                summary.sources = _source_counts(connection)
                summary.unresolved = _unresolved(connection)
            if summary.served is not None:
                summary.mart_rows = {
                    name: rows
                    for name, rows in json.loads(str(summary.served["row_counts"])).items()
                    if name.startswith("marts.")
                }
        return summary

    @property
    def failed_blocking_checks(self) -> list[CheckOutcome]:
        return [check for check in self.checks if check.blocking and not check.passed]

    @property
    def failed_sources(self) -> list[PullCounts]:
        return [pull for pull in self.pulled if pull.failed]

    @property
    def succeeded(self) -> bool:
        return self.run_succeeded and not self.failed_blocking_checks and not self.failed_steps

    def render(self) -> str:
        lines = ["", f"newsimpact {self.command} {self.run_id}: {self._headline()}"]
        if self.command == "run" and not self.succeeded:
            lines.append(f"  {self._served_line('BI users still see')}")
        if self.pulled:
            lines += ["", "Pulled by this run          fetched       new  unchanged  missing  failed"]
            lines += [
                f"  {pull.source_name:<22} {pull.fetched:>9} {pull.new:>9} {pull.unchanged:>10} "
                f"{pull.missing:>8} {pull.failed:>7}"
                for pull in self.pulled
            ]
            for pull in self.failed_sources:
                stale = (f"stale since its last successful pull, {age(pull.last_success)}"
                         if pull.last_success else "nothing pulled from it yet")
                lines.append(f"  FAILED {pull.source_name}: {pull.errors[0] if pull.errors else ''}")
                lines.append(f"    {pull.source_name} is {stale}; the other sources were "
                             "built and published")
        if self.this_run:
            lines += [
                "",
                "Ingested by this run        read    loaded  quarantined (duplicate)"
                "  unchanged files (records)  removed files (records)",
            ]
            lines += [
                f"  {run.source_name:<22} {run.read:>6} {run.loaded:>9} {run.quarantined:>12} "
                f"{'(' + str(run.duplicates) + ')':>11} {run.skipped_files:>16} "
                f"{'(' + str(run.unchanged_records) + ')':>10} {run.removed_files:>14} "
                f"({run.removed_records})"
                + (f"  {run.filtered_records} GKG records named no known company"
                   if run.filtered_records else "")
                for run in self.this_run
            ]
            lines += [
                f"  WARNING {run.source_name}: none of the {run.read} records this run read was "
                f"loaded, and {run.quarantined - run.duplicates} were quarantined for a problem "
                "(audit.quarantine says which): has the source's format changed?"
                for run in self.this_run
                if run.read and not run.loaded and run.quarantined > run.duplicates
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
        if self.timings is not None:
            lines += ["", self._render_timings(self.timings)]
        if self.served is not None:
            lines += ["", f"Served: {self._served_line('build')}"]
            lines += ["  source       type       files      read    loaded  quarantined"]
            lines += [
                f"  {source.source_name:<12} {source.source_type:<10} {source.files:>5} "
                f"{source.read:>9} {source.loaded:>9} {source.quarantined:>12}"
                for source in self.sources
            ]
            lines += [f"  {name:<32} {rows:>8} rows" for name, rows in self.mart_rows.items()]
            if self.unresolved:
                lines += ["  Not measured (marts.mart_unresolved_mentions):"]
                lines += [f"    {line}" for line in self.unresolved]
        lines += [
            "",
            f"Warehouse (BI, read-only): {self.warehouse_path}",
            f"Logs: {self.logs_dir}    Data Docs: {self.data_docs}",
        ]
        if self.report is not None:
            lines.append(f"Report (HTML, opens offline): {self.report}")
        return "\n".join(lines)

    @staticmethod
    def _render_timings(timings: RunTimings) -> str:
        lines = [f"{'Time by step':<48}{'seconds':>9}"]
        for step in timings.steps:
            lines.append(f"  {step_label(step.step):<46}{step.seconds:>9.1f}")
            if step.step == DBT_STEP:
                lines += [
                    f"    {'model ' + model.step:<44}{model.seconds:>9.1f}"
                    for model in timings.slowest_models
                ]
        lines.append(f"  {'total':<46}{timings.total_seconds:>9.1f}")
        return "\n".join(lines)

    def _headline(self) -> str:
        if not self.succeeded:
            if self.command == "run" and self.published_build:  # a step after publish failed
                return f"FAILED after publishing build {self.published_build}"
            return "FAILED, nothing published" if self.command == "run" else "FAILED"
        if self.command == "run" and self.unchanged_build:
            return f"succeeded, no input changed: build {self.unchanged_build} stays published"
        if self.command == "run":
            return f"succeeded, published build {self.published_build}"
        return "succeeded"

    def _served_line(self, prefix: str) -> str:
        if self.served is None:
            return f"no build is published yet ({self.warehouse_path} does not exist)"
        built_at = self.served["built_at"]
        return f"{prefix} {self.served['build_id']}, published {age(built_at)}"


def age(moment: datetime) -> str:
    minutes = int((datetime.now(UTC) - moment).total_seconds() // 60)
    ago = f"{minutes} min ago" if minutes < 120 else f"{minutes // 60} h ago"
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC, {ago}"


def _user_error(error: SerializableErrorInfo) -> str:
    """The first error in the chain that is not Dagster's own wrapper around it (a step that
    exhausted its retry policy wraps its last error too)."""
    while error.cause is not None and (
        (error.cls_name or "").startswith("Dagster") or error.message.startswith("Exceeded max_retries")
    ):
        error = error.cause
    return error.message.strip().removeprefix("dagster._core.definitions.events.Failure: ")


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


def _pull_counts(
    settings: Settings, pulls: list[dg.ExecuteInProcessResult]
) -> list[PullCounts]:
    """Per pulled source, summed over the pull runs: from each landing asset's success or
    failure metadata (a failed asset reports its counts in its dg.Failure)."""
    from ingestion.landing import landed_payloads
    from orchestration.pull.assets import landing_key

    sources_by_step = {
        landing_key(source.name).to_python_identifier(): source.name
        for source in settings.pulled_sources
    }
    totals: dict[str, dict[str, int]] = {}
    errors: dict[str, list[str]] = {}
    for result in pulls:
        for event in result.all_events:
            if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
                observation = event.asset_observation_data.asset_observation
                name = sources_by_step.get(observation.asset_key.to_python_identifier())
                if name is None:
                    continue
                counts = totals.setdefault(name, {})
                for key in ("fetched", "new", "unchanged", "missing", "failed"):
                    value = observation.metadata.get(key)
                    counts[key] = counts.get(key, 0) + (int(value.value) if value else 0)
            elif event.is_step_failure and event.step_key in sources_by_step:
                name = sources_by_step[event.step_key]
                errors.setdefault(name, []).append(_user_error(event.step_failure_data.error))
                if name not in totals:  # failed before fetching anything (a missing secret)
                    totals[name] = {"failed": 1}
    summaries = []
    for source in settings.pulled_sources:
        if source.name not in totals:
            continue
        payloads = landed_payloads(settings.landing_dir / source.name)
        summaries.append(PullCounts(
            source.name,
            **{key: totals[source.name].get(key, 0)
               for key in ("fetched", "new", "unchanged", "missing", "failed")},
            errors=tuple(errors.get(source.name, ())),
            last_success=max((p.fetched_at for p in payloads), default=None),
        ))
    return summaries


def _failure_text(evaluation: dg.AssetCheckEvaluation) -> str:
    if evaluation.passed:
        return ""
    failures = evaluation.metadata.get("failures")
    if failures is not None:  # a markdown list, one failed expectation per item
        return "; ".join(line.removeprefix("- ") for line in str(failures.value).splitlines())
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


def _unresolved(connection: duckdb.DuckDBPyConnection, first: int = 5) -> list[str]:
    """One line per kind of gap: how many, and the first few names by number of events."""
    if not _table_exists(connection, "marts", "mart_unresolved_mentions"):
        return []
    labels = {
        "security_without_prices": "linked securities without prices",
        "company_without_security": "companies named in the news without a security",
    }
    rows = connection.execute(
        """
        select reason, count(*),
               list(coalesce(name, subject_id) || ' (' || event_count || ')'
                    order by event_count desc, name)[1:?]
        from marts.mart_unresolved_mentions
        group by reason
        order by reason desc
        """,
        [first],
    ).fetchall()
    return [
        f"{count} {labels.get(reason, reason)}: {', '.join(names)}{', ...' if count > first else ''}"
        for reason, count, names in rows
    ]


def _table_exists(connection: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    return bool(
        connection.execute(
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        ).fetchall()[0][0]
    )
