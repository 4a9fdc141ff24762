"""Run the declarative suites of :mod:`warehouse.quality.suites` with Great Expectations.

Each suite's SQL is run on the caller's DuckDB connection, the result is validated as a pandas
frame (GX 1.x has no DuckDB or Polars data source) in one ephemeral GX context per call, and,
when ``data_docs_dir`` is given, a GX Data Docs site is (re)built there once per call.

With ``data_docs_dir``, suites and validation results are also kept in
``<data_docs_dir>/_gx_store/`` so that successive calls (one per layer, one per run) add to the
same site: its index lists every validation, newest first, and each call renders only its own
pages.

Great Expectations is imported inside the functions only: importing it takes seconds.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from warehouse.quality.suites import Check, ParameterError, SuiteSpec, When, resolve_params

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pandas as pd

logger = logging.getLogger(__name__)

SITE_NAME = "newsimpact"
STORE_DIRNAME = "_gx_store"
KEEP_RUNS = 30  # validations of each suite kept in the Data Docs site
DATASOURCE_NAME = "warehouse"
MAX_EXAMPLES = 3
MAX_MESSAGE_CHARS = 600
_COLUMN_KWARGS = ("column", "column_list", "column_A", "column_B")
_HIDDEN_KWARGS = (*_COLUMN_KWARGS, "batch_id", "ignore_row_if", "row_condition", "condition_parser")


@dataclass
class SuiteOutcome:
    """What one suite found. ``failures`` are short human-readable messages, one per failed
    expectation (or one saying why the suite could not run)."""

    suite: str
    dataset: str
    layer: str
    severity: str
    success: bool
    evaluated_expectations: int
    successful_expectations: int
    failures: list[str] = field(default_factory=list)
    row_count: int | None = None  # rows in the validated frame; None when it could not be fetched
    error: str | None = None  # set when the suite could not run at all (missing table, bad params)
    data_docs_index: str | None = None  # path of the Data Docs index.html, when built

    @property
    def blocks(self) -> bool:
        """True when this outcome must stop the pipeline (a failed ``blocking`` suite)."""
        return self.severity == "blocking" and not self.success

    def summary(self) -> str:
        head = (
            f"{self.suite} [{self.severity}] on {self.dataset}: "
            f"{'passed' if self.success else 'FAILED'} "
            f"({self.successful_expectations}/{self.evaluated_expectations} expectations"
            + (f", {self.row_count} row{'s' if self.row_count != 1 else ''}" if self.row_count is not None else "")
            + ")"
        )
        return "\n".join([head, *(f"  - {f}" for f in self.failures)])


def run_suite(
    con: duckdb.DuckDBPyConnection,
    suite: SuiteSpec,
    *,
    params: Mapping[str, Any] | None = None,
    data_docs_dir: Path | str | None = None,
    run_name: str | None = None,
) -> SuiteOutcome:
    """Validate one suite; see :func:`run_suites`."""
    return run_suites(con, [suite], params=params, data_docs_dir=data_docs_dir, run_name=run_name)[0]


def run_suites(
    con: duckdb.DuckDBPyConnection,
    suites: Iterable[SuiteSpec],
    *,
    params: Mapping[str, Any] | None = None,
    data_docs_dir: Path | str | None = None,
    run_name: str | None = None,
) -> list[SuiteOutcome]:
    """Validate several suites in one GX context and build Data Docs once.

    ``params``: run-time values the suites refer to (``now``: the run time, default the current
    UTC time; ``event_windows``, ``min_estimation_returns``, ``daily_window_start``,
    ``daily_window_end``: the ``[event_study]`` config, defaults as in docs). ``run_name`` labels
    the run in Data Docs (e.g. the Dagster run id).

    Never raises for a data problem: a missing table or column, or a suite GX cannot evaluate,
    gives a failed outcome whose message says why. Outcomes are in the order of ``suites``.
    """
    suites = list(suites)
    docs_dir = Path(data_docs_dir) if data_docs_dir is not None else None
    outcomes: dict[str, SuiteOutcome] = {}
    frames: dict[str, pd.DataFrame] = {}

    try:
        resolved = resolve_params(params)
    except ParameterError as exc:
        return [_error_outcome(s, f"bad run-time parameters: {exc}") for s in suites]

    for suite in suites:
        try:
            sql = suite.render_query(resolved)
        except ParameterError as exc:
            outcomes[suite.name] = _error_outcome(suite, f"bad run-time parameters: {exc}")
            continue
        try:
            frames[suite.name] = _utc_naive(con.sql(sql).df())
        except Exception as exc:  # duckdb.Error and friends: report, do not crash
            outcomes[suite.name] = _error_outcome(suite, _query_error_message(suite, exc))

    if frames:
        outcomes.update(_validate(suites, frames, resolved, docs_dir, run_name))

    return [outcomes[s.name] for s in suites]


# --------------------------------------------------------------------------------------------
# GX


def _validate(
    suites: Sequence[SuiteSpec],
    frames: Mapping[str, pd.DataFrame],
    params: Mapping[str, Any],
    docs_dir: Path | None,
    run_name: str | None,
) -> dict[str, SuiteOutcome]:
    import great_expectations as gx
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    if docs_dir is not None:
        try:
            docs_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            logger.error("cannot create the Data Docs folder %s; validating without docs", docs_dir)
            docs_dir = None
    try:
        context = _make_context(docs_dir)
        datasource = context.data_sources.add_pandas(DATASOURCE_NAME)
    except Exception as exc:  # e.g. an unwritable Data Docs folder
        message = f"Great Expectations context could not be set up: {_first_line(exc)}"
        return {s.name: _error_outcome(s, message, len(frames[s.name])) for s in suites if s.name in frames}
    run_id = RunIdentifier(run_name=run_name, run_time=_dt.datetime.now(_dt.UTC))
    outcomes: dict[str, SuiteOutcome] = {}
    doc_ids: list[Any] = []

    for suite in suites:
        if suite.name not in frames:
            continue
        frame = frames[suite.name]
        try:
            gx_suite = context.suites.add_or_update(_build_suite(gx, suite, params))
            checks_by_id = _checks_by_id(gx_suite, suite)
            batch_definition = datasource.add_dataframe_asset(
                name=suite.name
            ).add_batch_definition_whole_dataframe("whole_frame")
            validation = context.validation_definitions.add(
                gx.ValidationDefinition(name=suite.name, data=batch_definition, suite=gx_suite)
            )
            result = validation.run(
                batch_parameters={"dataframe": frame},
                result_format={"result_format": "SUMMARY", "partial_unexpected_count": 20},
                run_id=run_id,
            )
        except ParameterError as exc:
            outcomes[suite.name] = _error_outcome(suite, f"bad run-time parameters: {exc}", len(frame))
            continue
        except Exception as exc:  # a GX error must not take the pipeline down with it
            outcomes[suite.name] = _error_outcome(
                suite, f"Great Expectations could not run {suite.name}: {_first_line(exc)}", len(frame)
            )
            continue

        outcomes[suite.name] = _outcome_from_result(suite, result, checks_by_id, frame)
        doc_ids.append(ExpectationSuiteIdentifier(name=suite.name))
        batch_id = _batch_id(result) or f"{DATASOURCE_NAME}-{suite.name}"
        doc_ids.append(
            ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
                run_id=run_id,
                batch_identifier=batch_id,
            )
        )

    if docs_dir is not None:
        _prune_history(docs_dir)
        index = _build_docs(context, doc_ids, docs_dir)
        for outcome in outcomes.values():
            outcome.data_docs_index = index
    return outcomes


def _make_context(docs_dir: Path | None):
    import great_expectations as gx
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    defaults = InMemoryStoreBackendDefaults(init_temp_docs_sites=False)
    sites: dict[str, Any] = {}
    if docs_dir is not None:
        store = docs_dir / STORE_DIRNAME
        for store_name, sub in (
            (defaults.expectations_store_name, "expectations"),
            (defaults.validation_results_store_name, "validations"),
        ):
            defaults.stores[store_name]["store_backend"] = {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str((store / sub).resolve()),
            }
        sites[SITE_NAME] = {
            "class_name": "SiteBuilder",
            "show_how_to_buttons": False,
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(docs_dir.resolve()),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        }
    config = DataContextConfig(
        store_backend_defaults=defaults,
        data_docs_sites=sites,
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    return gx.get_context(project_config=config, mode="ephemeral")


def _prune_history(docs_dir: Path) -> None:
    """Keep the newest `KEEP_RUNS` validations of each suite: the site grows with every run.

    Stored results live in `_gx_store/validations/<suite>/<run name>/<run time>/` and their pages
    in `validations/` under the same path; run times sort as they happened.
    """
    store = docs_dir / STORE_DIRNAME / "validations"
    for run_name_dir in store.glob("*/*/"):
        for old_run in sorted(path for path in run_name_dir.iterdir() if path.is_dir())[:-KEEP_RUNS]:
            relative = old_run.relative_to(store)
            shutil.rmtree(old_run)
            shutil.rmtree(docs_dir / "validations" / relative, ignore_errors=True)


def _build_docs(context, doc_ids: list[Any], docs_dir: Path) -> str | None:
    """Render this call's pages and the index; Data Docs trouble never fails the checks."""
    try:
        context.build_data_docs(site_names=[SITE_NAME], resource_identifiers=doc_ids or None)
    except Exception:
        logger.warning("incremental Data Docs build failed; rebuilding the site", exc_info=True)
        try:
            context.build_data_docs(site_names=[SITE_NAME])
        except Exception:
            logger.error("Data Docs could not be built in %s", docs_dir, exc_info=True)
            return None
    return str((docs_dir / "index.html").resolve())


def _expectation(check: Check, params: Mapping[str, Any]):
    from great_expectations.expectations.registry import get_expectation_impl

    cls = get_expectation_impl(check.expectation)
    kwargs = {k: _utc_naive_value(v) for k, v in check.resolved_kwargs(params).items()}
    if check.when is not None:
        kwargs["row_condition"] = _condition(check.when)
    if check.notes:
        kwargs["notes"] = check.notes
    return cls(**kwargs)


def _condition(when: When):
    from great_expectations.expectations.row_conditions import Column

    col = Column(when.column)
    match when.op:
        case "==":
            return col == when.value
        case "!=":
            return col != when.value
        case "in":
            return col.is_in(list(when.value))
        case "not_null":
            return col.is_not_null()
        case "null":
            return col.is_null()
    raise ValueError(f"unknown row condition operator {when.op!r}")


def _build_suite(gx_module, suite: SuiteSpec, params: Mapping[str, Any]):
    return gx_module.ExpectationSuite(
        name=suite.name,
        expectations=[_expectation(check, params) for check in suite.expectations],
        meta={
            "dataset": suite.dataset,
            "layer": suite.layer,
            "severity": suite.severity,
            "notes": f"{suite.description} Severity: {suite.severity}. Dataset: {suite.dataset}.",
        },
    )


def _checks_by_id(gx_suite, suite: SuiteSpec) -> dict[str, Check]:
    """Map the saved suite's expectation ids to our checks (GX keeps the declared order)."""
    saved = list(gx_suite.expectations)
    if len(saved) != len(suite.expectations):
        return {}
    return {str(e.id): c for e, c in zip(saved, suite.expectations, strict=True) if e.id}


def _batch_id(result) -> str | None:
    for er in result.results:
        batch_id = (er.expectation_config.kwargs or {}).get("batch_id")
        if batch_id:
            return str(batch_id)
    return None


def _utc_naive(frame: pd.DataFrame) -> pd.DataFrame:
    """TIMESTAMPTZ columns as naive UTC: GX compares naive datetimes reliably (tz-aware ones go
    through a pandas path that is deprecated), and a TIMESTAMP column compares the same way."""
    import pandas as pd

    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
    return frame


def _utc_naive_value(value: Any) -> Any:
    if isinstance(value, _dt.datetime) and value.tzinfo is not None:
        return value.astimezone(_dt.UTC).replace(tzinfo=None)
    return value


# --------------------------------------------------------------------------------------------
# Outcomes and messages


def _error_outcome(suite: SuiteSpec, message: str, row_count: int | None = None) -> SuiteOutcome:
    return SuiteOutcome(
        suite=suite.name,
        dataset=suite.dataset,
        layer=suite.layer,
        severity=suite.severity,
        success=False,
        evaluated_expectations=0,
        successful_expectations=0,
        failures=[message],
        row_count=row_count,
        error=message,
    )


def _query_error_message(suite: SuiteSpec, exc: Exception) -> str:
    kind = type(exc).__name__
    text = _first_line(exc)
    if kind == "CatalogException":
        return f"{suite.name}: cannot read {suite.dataset}: a table or view is missing ({text})"
    if kind == "BinderException":
        return f"{suite.name}: cannot read {suite.dataset}: a column is missing or mistyped ({text})"
    return f"{suite.name}: query on {suite.dataset} failed ({kind}: {text})"


def _outcome_from_result(
    suite: SuiteSpec, result, checks_by_id: Mapping[str, Check], frame: pd.DataFrame
) -> SuiteOutcome:
    order = {id(c): i for i, c in enumerate(suite.expectations)}
    failed: list[tuple[int, str]] = []
    for er in result.results:
        if er.success:
            continue
        check = checks_by_id.get(str(er.expectation_config.id)) if er.expectation_config else None
        if check is None:
            check = _match_check(suite, er)
        failed.append((order.get(id(check), len(order)), _failure_message(suite, check, er, frame)))
    failed.sort(key=lambda t: t[0])
    stats = result.statistics or {}
    return SuiteOutcome(
        suite=suite.name,
        dataset=suite.dataset,
        layer=suite.layer,
        severity=suite.severity,
        success=bool(result.success),
        evaluated_expectations=int(stats.get("evaluated_expectations", len(result.results))),
        successful_expectations=int(stats.get("successful_expectations", 0)),
        failures=[m for _, m in failed],
        row_count=len(frame),
    )


def _match_check(suite: SuiteSpec, er) -> Check:
    """Fallback when ids do not match: same expectation type and columns."""
    cfg = er.expectation_config
    kwargs = dict(cfg.kwargs or {})
    for check in suite.expectations:
        if check.expectation != cfg.type:
            continue
        if all(kwargs.get(k) == v or isinstance(v, tuple | list) and list(v) == kwargs.get(k)
               for k, v in check.kwargs.items() if k in _COLUMN_KWARGS):
            return check
    return Check(cfg.type, {k: v for k, v in kwargs.items() if k != "batch_id"})


def _signature(check: Check, er) -> str:
    kwargs = dict(er.expectation_config.kwargs or {}) if er.expectation_config else dict(check.kwargs)
    parts = list(check.columns())
    ordered = [k for k in check.kwargs if k in kwargs] + [k for k in kwargs if k not in check.kwargs]
    for key in ordered:
        value = kwargs[key]
        if key in _HIDDEN_KWARGS or value is None or key in ("notes", "meta", "description"):
            continue
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # GX stores bounds as floats: show "min_value=0", not "0.0"
        parts.append(f"{key}={_fmt(value)}")
    sig = f"{check.expectation}({', '.join(parts)})"
    if check.when is not None:
        sig += f" where {check.when.describe()}"
    return sig


def _failure_message(suite: SuiteSpec, check: Check, er, frame: pd.DataFrame) -> str:
    sig = _signature(check, er)
    info = er.exception_info or {}
    if info.get("raised_exception"):
        msg = f"{sig}: could not be evaluated: {_first_line(info.get('exception_message') or '')}"
        return _clip(msg)
    res = er.result or {}
    if "unexpected_count" in res and res.get("unexpected_count") is not None:
        n = int(res["unexpected_count"])
        total = res.get("element_count")
        msg = f"{sig}: {n} unexpected row{'s' if n != 1 else ''}"
        if total is not None:
            msg += f" of {total}"
        mostly = check.kwargs.get("mostly")
        if mostly is not None and res.get("unexpected_percent") is not None:
            pct = res.get("unexpected_percent_nonmissing", res["unexpected_percent"])
            msg += f" ({float(pct):.3g}% of non-null values; mostly={mostly} allows {100 * (1 - mostly):.3g}%)"
        examples = _example_rows(suite, check, res, frame)
        if examples:
            msg += f", e.g. {examples}"
        return _clip(msg)
    if "observed_value" in res:
        observed = res["observed_value"]
        if check.expectation == "expect_table_row_count_to_equal":
            msg = f"{sig}: {observed} row{'s' if observed != 1 else ''} returned"
            if len(frame):
                msg += ", e.g. " + "; ".join(_fmt_row(r) for r in frame.head(MAX_EXAMPLES).to_dict("records"))
            return _clip(msg)
        return _clip(f"{sig}: observed {_fmt(observed)}")
    return _clip(f"{sig}: failed ({_fmt(res)})")


def _example_rows(
    suite: SuiteSpec, check: Check, res: Mapping[str, Any], frame: pd.DataFrame
) -> str:
    """Offending rows, shown by their leading (key) columns and the checked columns."""
    indexes = res.get("partial_unexpected_index_list")
    if indexes and len(frame):
        columns: list[str] = []
        for c in (*(suite.key or frame.columns[:2]), *check.columns(), *((check.when.column,) if check.when else ())):
            if c in frame.columns and c not in columns:
                columns.append(c)
        if isinstance(indexes[0], dict):  # some GX versions return {column: value, ...}
            rows = indexes
        else:
            valid = [i for i in indexes if i in frame.index]
            rows = frame.loc[valid, columns].to_dict("records")
        seen: list[str] = []
        for row in rows:
            text = _fmt_row(row)
            if text not in seen:
                seen.append(text)
            if len(seen) == MAX_EXAMPLES:
                break
        return "; ".join(seen)
    values = res.get("partial_unexpected_list") or []
    shown: list[str] = []
    for v in values:
        text = _fmt_row(v) if isinstance(v, dict) else _fmt(v)
        if text not in shown:
            shown.append(text)
        if len(shown) == MAX_EXAMPLES:
            break
    return ", ".join(shown)


def _fmt_row(row: Mapping[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={_fmt(v)}" for k, v in row.items()) + ")"


def _fmt(value: Any) -> str:
    if value is None:
        return "null"
    if hasattr(value, "isoformat"):
        try:
            import pandas as pd

            if value is pd.NaT:
                return "null"
        except ImportError:  # pragma: no cover
            pass
        if (
            getattr(value, "tzinfo", 0) is None
            and hasattr(value, "hour")
            and (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)
        ):
            return value.date().isoformat()  # a DATE column read back as a midnight timestamp
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, list | tuple | dict | str):
        try:
            value = value.item()
        except (ValueError, TypeError):
            pass
        if hasattr(value, "isoformat"):
            return _fmt(value)
    if isinstance(value, float):
        return "null" if math.isnan(value) else repr(value)
    if isinstance(value, list | tuple):
        inner = ", ".join(_fmt(v) for v in list(value)[:8])
        more = ", ..." if len(value) > 8 else ""
        return f"[{inner}{more}]" if isinstance(value, list) else f"({inner}{more})"
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    return str(value)


def _first_line(exc: Any) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."
