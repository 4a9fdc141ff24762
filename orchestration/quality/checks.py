"""Great Expectations suites as Dagster asset checks: one multi-asset check per warehouse layer.

Every layer adds its validations to one Data Docs folder next to the warehouse
(`<warehouse>_data_docs/index.html`). Blocking suites stop the assets downstream of the one they
check, and make `newsimpact run` exit non-zero.
"""

from datetime import UTC, datetime

import dagster as dg

from orchestration.resources import NewsimpactResource
from warehouse.quality import LAYERS, Suite, SuiteOutcome, load_suites, run_suites, write_data_docs


def _asset_key(suite: Suite) -> dg.AssetKey:
    return dg.AssetKey(suite.dataset.split("."))


def _check_name(suite: Suite) -> str:
    return f"gx_{suite.name}"


def _check_result(suite: Suite, outcome: SuiteOutcome, data_docs_index: str) -> dg.AssetCheckResult:
    metadata = {
        "suite": suite.name,
        "layer": suite.layer,
        "evaluated_expectations": outcome.evaluated_expectations,
        "successful_expectations": outcome.successful_expectations,
        "rows_validated": outcome.row_count,
        "batches": outcome.batch_count,
        "data_docs": dg.MetadataValue.path(data_docs_index),
    }
    if outcome.failures:  # a suite that could not run has its error as the one failure
        metadata["failures"] = dg.MetadataValue.md("\n".join(f"- {f}" for f in outcome.failures))
    return dg.AssetCheckResult(
        asset_key=_asset_key(suite),
        check_name=_check_name(suite),
        passed=outcome.success,
        severity=(
            dg.AssetCheckSeverity.ERROR if suite.severity == "blocking" else dg.AssetCheckSeverity.WARN
        ),
        metadata=metadata,
        description=suite.description or None,
    )


def _layer_check(layer: str, suites: list[Suite]) -> dg.AssetChecksDefinition:
    specs = [
        dg.AssetCheckSpec(
            name=_check_name(suite),
            asset=_asset_key(suite),
            description=suite.description or f"Great Expectations suite {suite.name}",
            blocking=suite.severity == "blocking",
        )
        for suite in suites
    ]

    @dg.multi_asset_check(specs=specs, name=f"gx_{layer}", can_subset=False)
    def _run_layer(context: dg.AssetCheckExecutionContext, newsimpact: NewsimpactResource):
        current = newsimpact.settings()
        params = {"now": datetime.now(UTC), **current.event_study.suite_parameters()}
        if _this_run_loaded(context, suites):  # raw suites then check only the rows it loaded
            params["loaded_since"] = newsimpact.run_started_at()
        with newsimpact.connect(read_only=True) as connection:
            outcomes = run_suites(connection, suites, params)
        index = write_data_docs(current.data_docs_dir, outcomes, run_name=context.run.run_id)
        for suite, outcome in zip(suites, outcomes, strict=True):
            yield _check_result(suite, outcome, str(index))

    return _run_layer


def _this_run_loaded(context: dg.AssetCheckExecutionContext, suites: list[Suite]) -> bool:
    """Whether this run materialised every table the suites check (not so in a checks-only run)."""
    return all(
        (event := context.instance.get_latest_materialization_event(key)) is not None
        and event.run_id == context.run.run_id
        for key in {_asset_key(suite) for suite in suites}
    )


def build_quality_checks() -> list[dg.AssetChecksDefinition]:
    return [_layer_check(layer, suites) for layer in LAYERS if (suites := load_suites(layer))]
