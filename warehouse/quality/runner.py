"""Validate the suite files of `warehouse/quality/suites/` with Great Expectations, in batches.

A suite's rows are streamed from DuckDB in batches of about `BATCH_ROWS` and each batch is validated as
a pandas frame (GX 1.x has no working DuckDB data source), so memory stays bounded whatever the
size of the warehouse. The results of the batches are summed into one `SuiteOutcome` per suite.

Great Expectations is imported inside the functions only: importing it takes seconds.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from newsimpact.config import EventStudyConfig

if TYPE_CHECKING:  # pragma: no cover
    import duckdb
    import pandas as pd

SUITES_DIR = Path(__file__).parent / "suites"
LAYERS = ("raw_news", "raw_prices", "raw_calendar", "intermediate", "marts")
BATCH_ROWS = 250_000
MAX_EXAMPLES = 3
MAX_MESSAGE_CHARS = 600
_UNSHOWN_KWARGS = ("batch_id", "row_condition", "condition_parser", "ignore_row_if")
ROW_WISE_EXPECTATIONS = (
    "expect_column_values_", "expect_column_pair_values_", "expect_multicolumn_values_"
)
# The rows a run loaded or rebuilt, by name, as conditions on the suite's rows (`tested`), for a
# suite's `loaded_rows`. The incremental tables' are their change tables' keys (docs/incremental.md),
# as the dbt tests' `changed_rows_condition` (dbt_project/macros/incremental/changed_rows_tests.sql).
LOADED_ROWS = {
    "ingested": "tested.ingested_at >= $loaded_since",
    # The earliest recomputed session stated first lets DuckDB skip the older row groups.
    "recomputed_sessions": (
        "tested.session_index >= (SELECT min(recompute_from_index) FROM intermediate.int_prices__changes)"
        " AND EXISTS (SELECT 1 FROM intermediate.int_prices__changes AS changes"
        " WHERE changes.security_id = tested.security_id"
        " AND tested.session_index >= changes.recompute_from_index)"
    ),
    "changed_events": (
        "EXISTS (SELECT 1 FROM intermediate.int_events__changes AS changes"
        " WHERE changes.event_id = tested.event_id AND changes.security_id = tested.security_id)"
    ),
}


@dataclass(frozen=True)
class Suite:
    """One suite file: a GX ExpectationSuite whose `meta` says what it validates and how.

    meta: `dataset` (schema.table), `layer`, `severity` (`blocking` or `warning`),
    `description`, `key` (columns naming a row in messages), `columns` (SELECT expressions,
    default every column) and `loaded_rows` (the rows a run loaded or rebuilt: a name in
    `LOADED_ROWS`, or a SQL condition on the rows, `tested`; without it, or in a checks-only run,
    every row is validated).
    """

    data: Mapping[str, Any]
    name: str
    dataset: str
    layer: str
    severity: str
    description: str
    key: tuple[str, ...]

    @classmethod
    def from_file(cls, path: Path) -> Suite:
        data = json.loads(path.read_text(encoding="utf-8"))
        meta = data["meta"]
        loaded_rows = meta.get("loaded_rows", "")
        if loaded_rows.isidentifier() and loaded_rows not in LOADED_ROWS:
            raise ValueError(
                f"{path}: loaded_rows {loaded_rows!r} is not one of {', '.join(LOADED_ROWS)}"
                " (or a SQL condition)"
            )
        return cls(
            data, data["name"], meta["dataset"], meta["layer"], meta["severity"],
            meta.get("description", ""), tuple(meta.get("key", ())),
        )

    def query(self, loaded_since: dt.datetime | None) -> str:
        meta = self.data["meta"]
        sql = f"SELECT {', '.join(meta.get('columns', ['*']))} FROM {self.dataset} AS tested"
        if loaded_since is not None and "loaded_rows" in meta:
            sql += f" WHERE {LOADED_ROWS.get(meta['loaded_rows'], meta['loaded_rows'])}"
        return sql

    @property
    def expectations(self) -> list[Mapping[str, Any]]:
        return self.data["expectations"]

    @property
    def row_wise(self) -> bool:
        """Whether every expectation is one GX evaluates row by row (`expect_column_values_*`,
        `expect_column_pair_values_*`, `expect_multicolumn_values_*`): such a suite holds over no
        rows, where a table-level one (a row count, a column set, an aggregate) may not."""
        return all(
            expectation["type"].startswith(ROW_WISE_EXPECTATIONS) for expectation in self.expectations
        )

    def gx_suite(self):
        import great_expectations as gx

        return gx.ExpectationSuite(**self.data)


@dataclass
class SuiteOutcome:
    """What one suite found over all its batches; `failures` are readable one-line messages."""

    suite: str
    dataset: str
    layer: str
    severity: str
    success: bool
    evaluated_expectations: int
    successful_expectations: int
    failures: list[str] = field(default_factory=list)
    row_count: int = 0
    batch_count: int = 0
    result: Any = None  # the GX result of the first failing batch (else the first): one docs page

    @property
    def blocks(self) -> bool:
        """True when this outcome must stop the pipeline (a failed `blocking` suite)."""
        return self.severity == "blocking" and not self.success


def load_suites(layer: str | None = None) -> list[Suite]:
    """The suite files, in layer order then by name (optionally those of one layer)."""
    suites = [Suite.from_file(path) for path in sorted(SUITES_DIR.rglob("*.json"))]
    suites.sort(key=lambda suite: (LAYERS.index(suite.layer), suite.name))
    return [suite for suite in suites if layer is None or suite.layer == layer]


def run_suites(
    con: duckdb.DuckDBPyConnection, suites: Iterable[Suite], params: Mapping[str, Any] | None = None
) -> list[SuiteOutcome]:
    """Validate each suite on its dataset's rows, batch by batch.

    `params` are GX suite parameters: `now` (default the current time), `min_estimation_returns`,
    `daily_window_start`, `daily_window_end` and `loaded_since` (raw suites then check only rows
    loaded since then). Never raises for a data problem: a missing table or a suite GX cannot
    evaluate gives a failed outcome saying why.
    """
    defaults = EventStudyConfig().suite_parameters()  # for a caller that passes no config
    values = {**defaults, "now": dt.datetime.now(dt.UTC), **(params or {})}
    datasource = _PandasDatasource()
    return [_run_suite(con, suite, datasource, values) for suite in suites]


class _PandasDatasource:
    """GX's pandas data source in an in-memory context, made on first use: importing GX takes
    seconds, which a run whose suites have no rows to validate (a night without input) skips."""

    def __init__(self) -> None:
        self._datasource = None

    def add_asset(self, name: str):
        if self._datasource is None:
            import great_expectations as gx

            from great_expectations.data_context.types.base import (
                DataContextConfig,
                InMemoryStoreBackendDefaults,
                ProgressBarsConfig,
            )

            config = DataContextConfig(  # no temporary docs site, no analytics, no progress bars
                store_backend_defaults=InMemoryStoreBackendDefaults(init_temp_docs_sites=False),
                analytics_enabled=False,
                progress_bars=ProgressBarsConfig(globally=False),
            )
            context = gx.get_context(project_config=config, mode="ephemeral")
            self._datasource = context.data_sources.add_pandas("warehouse")
        return self._datasource.add_dataframe_asset(name)


def _run_suite(
    con, suite: Suite, datasource: _PandasDatasource, params: Mapping[str, Any]
) -> SuiteOutcome:
    outcome = SuiteOutcome(suite.name, suite.dataset, suite.layer, suite.severity, True, 0, 0)
    # Frames hold timestamps as naive UTC (see _utc_naive_frame), so GX's parameters must too.
    gx_params = {name: _naive_utc(value) for name, value in params.items()}
    try:
        with closing(_batches(con, suite.query(params.get("loaded_since")), params)) as frames:
            first = next(frames)
            if first.empty and suite.row_wise:
                # each expectation holds over no rows (GX: 0 unexpected of 0): GX is not called
                expectations = len(suite.expectations)
                outcome.evaluated_expectations = outcome.successful_expectations = expectations
                return outcome
            frames_read = itertools.chain([first], frames)
            totals = _validate(suite, datasource, frames_read, gx_params, outcome)
    except Exception as error:  # a missing table, a bad suite file: report it, do not crash
        outcome.success = False
        outcome.failures = [_clip(f"{suite.name} could not run on {suite.dataset}: {_first_line(error)}")]
        return outcome

    failed = [total for total in totals.values() if not _succeeded(total)]
    outcome.evaluated_expectations = len(totals)
    outcome.successful_expectations = len(totals) - len(failed)
    outcome.success = not failed
    outcome.failures = [_failure_message(suite, total) for total in failed]
    return outcome


def _validate(
    suite: Suite, datasource: _PandasDatasource, frames: Iterable[pd.DataFrame],
    gx_params: Mapping[str, Any], outcome: SuiteOutcome,
) -> dict[int, dict[str, Any]]:
    """GX's results of each frame, summed per expectation; counts the rows and batches, and keeps
    the result of the first failing batch (else the first) in `outcome`."""
    gx_suite = suite.gx_suite()
    batch_definition = datasource.add_asset(suite.name).add_batch_definition_whole_dataframe("batch")
    totals: dict[int, dict[str, Any]] = {}
    for frame in frames:
        result = batch_definition.get_batch(batch_parameters={"dataframe": frame}).validate(
            gx_suite,
            expectation_parameters=gx_params,
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": MAX_EXAMPLES},
        )
        _add_batch(totals, suite, result, frame)
        outcome.row_count += len(frame)
        outcome.batch_count += 1
        if outcome.result is None or (outcome.result.success and not result.success):
            outcome.result = result
    return totals


def _batches(con, sql: str, params: Mapping[str, Any]) -> Iterator[pd.DataFrame]:
    """The query's rows as pandas frames of `BATCH_ROWS` rows or more (less than twice that; the
    last one fewer); at least one frame. DuckDB's record batches are gathered up to that size:
    GX's cost is mostly per frame."""
    import pyarrow as pa

    cursor = con.cursor()  # its own cursor: the stream stays open while GX runs
    try:
        used = {name: params[name] for name in params if f"${name}" in sql}
        reader = cursor.sql(sql, params=used).to_arrow_reader(BATCH_ROWS)  # streams, no full copy
        pending: list[pa.RecordBatch] = []
        rows, emitted = 0, False
        for record_batch in reader:
            pending.append(record_batch)
            rows += record_batch.num_rows
            if rows >= BATCH_ROWS:
                yield _frame(pa.Table.from_batches(pending, reader.schema))
                pending, rows, emitted = [], 0, True
        if rows or not emitted:  # no rows at all: the empty frame, so the suite still has a result
            yield _frame(pa.Table.from_batches(pending, reader.schema))
    finally:
        cursor.close()


def _frame(table) -> pd.DataFrame:
    return _utc_naive_frame(table.to_pandas(date_as_object=False))


def _add_batch(totals: dict[int, dict[str, Any]], suite: Suite, result, frame: pd.DataFrame) -> None:
    """Sum one batch's expectation results into `totals`, keyed by the expectation's position."""
    for position, expectation_result in enumerate(result.results):
        config = expectation_result.expectation_config
        total = totals.setdefault(
            position,
            {"config": config, "success": True, "unexpected": 0, "elements": 0, "missing": 0,
             "examples": [], "error": None},
        )
        res = expectation_result.result or {}
        total["success"] &= bool(expectation_result.success)
        total["unexpected"] += int(res.get("unexpected_count") or 0)
        total["elements"] += int(res.get("element_count") or 0)
        total["missing"] += int(res.get("missing_count") or 0)
        info = expectation_result.exception_info or {}
        if info.get("raised_exception") and total["error"] is None:
            total["error"] = _first_line(info.get("exception_message") or "")
        if not expectation_result.success and len(total["examples"]) < MAX_EXAMPLES:
            total["examples"] += _examples(suite, config, res, frame)[: MAX_EXAMPLES - len(total["examples"])]


def _succeeded(total: Mapping[str, Any]) -> bool:
    """All batches passed; with `mostly`, the share of unexpected rows over all batches decides."""
    mostly = total["config"].kwargs.get("mostly")
    if mostly is None or mostly >= 1 or total["error"]:
        return total["success"]
    return total["unexpected"] <= (1 - mostly) * (total["elements"] - total["missing"])


def _examples(suite: Suite, config, res: Mapping[str, Any], frame: pd.DataFrame) -> list[str]:
    """Offending rows named by the suite's key columns and the checked column(s)."""
    columns = [c for c in dict.fromkeys([*suite.key, *_columns(config)]) if c in frame.columns]
    indexes = [i for i in res.get("partial_unexpected_index_list") or [] if i in frame.index]
    return [_format_row(row) for row in frame.loc[indexes, columns].to_dict("records")]


def _columns(config) -> list[str]:
    kwargs = config.kwargs
    return [kwargs[k] for k in ("column", "column_A", "column_B") if k in kwargs]


def _failure_message(suite: Suite, total: Mapping[str, Any]) -> str:
    config = total["config"]
    shown = {k: v for k, v in config.kwargs.items() if k not in _UNSHOWN_KWARGS}
    text = f"{suite.name}: {config.type}({', '.join(f'{k}={_format(v)}' for k, v in shown.items())})"
    if config.kwargs.get("row_condition"):
        text += f" where {_condition(config.kwargs['row_condition'])}"
    if total["error"]:
        return _clip(f"{text}: could not be evaluated: {total['error']}")
    count = total["unexpected"]
    text += f": {count} unexpected row{'s' if count != 1 else ''} of {total['elements']}"
    if total["examples"]:
        text += ", e.g. " + "; ".join(total["examples"])
    return _clip(text)


def _condition(condition: Any) -> str:
    """A GX row condition as the reader would write it, e.g. `status == 'ok'`."""
    data = condition if isinstance(condition, Mapping) else condition.model_dump(mode="json")
    column = data.get("column", {}).get("name", "?")
    if data.get("type") == "nullity":
        return f"{column} is {'null' if data.get('is_null') else 'not null'}"
    if data.get("type") == "comparison":
        return f"{column} {data.get('operator')} {_format(data.get('parameter'))}"
    return str(condition)


def _format_row(row: Mapping[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={_format(v)}" for k, v in row.items()) + ")"


def _format(value: Any) -> str:
    import pandas as pd

    if isinstance(value, Mapping) and "$PARAMETER" in value:
        return f"${value['$PARAMETER']}"
    if value is None or (not isinstance(value, list | tuple | dict) and pd.isna(value)):
        return "null"
    if isinstance(value, dt.datetime):  # pd.Timestamp included
        midnight = (value.hour, value.minute, value.second, value.microsecond) == (0, 0, 0, 0)
        return value.date().isoformat() if midnight else value.isoformat()  # a DATE read as midnight
    if isinstance(value, str):
        return repr(value if len(value) <= 60 else value[:57] + "...")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))  # GX stores bounds as floats: show "min_value=0", not "0.0"
    return str(value.item() if hasattr(value, "item") else value)


def _utc_naive_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """TIMESTAMPTZ columns as naive UTC: GX compares naive datetimes reliably. Dates and
    timestamps in nanoseconds: GX compares only those column-wise, and others with a Python call
    per row (a DATE arrives in milliseconds: 12.6 M price rows took 80 s, 7 of each 10 seconds)."""
    import pandas as pd

    for column in frame.columns:
        if isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            frame[column] = frame[column].dt.tz_convert("UTC").dt.tz_localize(None)
        if pd.api.types.is_datetime64_dtype(frame[column].dtype):
            try:
                frame[column] = frame[column].astype("datetime64[ns]")
            except (OverflowError, pd.errors.OutOfBoundsDatetime):
                pass  # beyond 1677-2262: GX then compares row by row, as before
    return frame


def _naive_utc(value: Any) -> Any:
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        return value.astimezone(dt.UTC).replace(tzinfo=None)
    return value


def _first_line(error: Any) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE_CHARS else text[: MAX_MESSAGE_CHARS - 3] + "..."
