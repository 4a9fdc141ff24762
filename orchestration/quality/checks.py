"""Great Expectations suites as Dagster asset checks: one multi-asset check per warehouse layer.

A layer's suites run in one GX context; every layer adds its results to one Data Docs site next
to the warehouse (`<warehouse>_data_docs/index.html`). Blocking suites stop the assets downstream
of the one they check, and make `newsimpact run` exit non-zero.
"""


from datetime import UTC, datetime

import dagster as dg

from newsimpact.config import Settings
from orchestration.resources import NewsimpactResource
from warehouse.quality import LAYERS, SuiteOutcome, SuiteSpec, run_suites, suites_for


def _asset_key(suite: SuiteSpec) -> dg.AssetKey:
    return dg.AssetKey(suite.dataset.split("."))


def _check_name(suite: SuiteSpec) -> str:
    return f"gx_{suite.name}"


def _check_result(suite: SuiteSpec, outcome: SuiteOutcome) -> dg.AssetCheckResult:
    metadata = {
        "suite": suite.name,
        "layer": suite.layer,
        "evaluated_expectations": outcome.evaluated_expectations,
        "successful_expectations": outcome.successful_expectations,
        "rows_validated": outcome.row_count if outcome.row_count is not None else -1,
    }
    if outcome.failures:  # a suite that could not run has its error as the one failure
        metadata["failures"] = dg.MetadataValue.md("\n".join(f"- {f}" for f in outcome.failures))
    if outcome.data_docs_index:
        metadata["data_docs"] = dg.MetadataValue.path(outcome.data_docs_index)
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


def _layer_check(layer: str, suites: tuple[SuiteSpec, ...]) -> dg.AssetChecksDefinition:
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
    def _run_layer(newsimpact: NewsimpactResource):
        current = newsimpact.settings()
        with newsimpact.connect(read_only=True) as connection:
            outcomes = run_suites(
                connection,
                suites,
                params={"now": datetime.now(UTC), **_study_params(current)},
                data_docs_dir=current.data_docs_dir,
                run_name=f"newsimpact {layer}",
            )
        by_name = {outcome.suite: outcome for outcome in outcomes}
        for suite in suites:
            yield _check_result(suite, by_name[suite.name])

    return _run_layer


def _study_params(settings: Settings) -> dict[str, object]:
    study = settings.event_study
    return {
        "event_windows": study.event_windows,
        "min_estimation_returns": study.min_estimation_returns,
        "daily_window_start": study.daily_window[0],
        "daily_window_end": study.daily_window[1],
    }


def build_quality_checks() -> list[dg.AssetChecksDefinition]:
    return [_layer_check(layer, suites_for(layer)) for layer in LAYERS if suites_for(layer)]
