"""Great Expectations suites as Dagster asset checks: one multi-asset check per warehouse layer.

A layer's suites run in one GX context, so each layer gets one Data Docs site
(`<warehouse>_data_docs/<layer>/index.html`, linked from the top-level `index.html`). Blocking
suites stop the assets downstream of the one they check, and make `newsimpact run` exit non-zero.
"""


import html
from datetime import UTC, datetime
from pathlib import Path

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
    problems = ([outcome.error] if outcome.error else []) + outcome.failures
    if problems:
        metadata["failures"] = dg.MetadataValue.md("\n".join(f"- {p}" for p in problems))
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
        docs_dir = current.data_docs_dir / layer
        with newsimpact.connect(read_only=True) as connection:
            outcomes = run_suites(
                connection,
                suites,
                params={"now": datetime.now(UTC), **_study_params(current)},
                data_docs_dir=docs_dir,
                run_name=f"newsimpact {layer}",
            )
        _write_docs_index(current.data_docs_dir)
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


def _write_docs_index(docs_root: Path) -> None:
    """A landing page linking each layer's Data Docs site."""
    links = "".join(
        f'<li><a href="{html.escape(layer)}/index.html">{html.escape(layer)}</a></li>'
        for layer in LAYERS
        if (docs_root / layer / "index.html").exists()
    )
    docs_root.mkdir(parents=True, exist_ok=True)
    (docs_root / "index.html").write_text(
        "<!doctype html><meta charset='utf-8'><title>newsimpact data quality</title>"
        "<h1>newsimpact: Great Expectations Data Docs</h1>"
        f"<p>One site per warehouse layer, rewritten by every run.</p><ul>{links}</ul>",
        encoding="utf-8",
    )


def build_quality_checks() -> list[dg.AssetChecksDefinition]:
    return [_layer_check(layer, suites_for(layer)) for layer in LAYERS if suites_for(layer)]
