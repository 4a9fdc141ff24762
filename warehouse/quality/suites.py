"""Declarative Great Expectations suites for the newsimpact warehouse.

Each :class:`SuiteSpec` says *what* is checked: the dataset, the SQL that fetches the frame from
the DuckDB warehouse, the expectations (GX expectation type + keyword arguments), and whether a
failure blocks the pipeline (``blocking``) or is only reported (``warning``). How the checks run
(GX context, Data Docs) lives in :mod:`warehouse.quality.runner`.

This module must stay importable without Great Expectations (GX takes seconds to import): it
only holds plain data. Run-time values (the run's ``now``, the configured event windows, ...) are
written as :class:`Param` placeholders and resolved from the ``params`` given to the runner.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Severity = Literal["blocking", "warning"]
Layer = Literal["raw_news", "raw_prices", "raw_calendar", "intermediate", "marts"]

SEVERITIES: tuple[str, ...] = ("blocking", "warning")
LAYERS: tuple[str, ...] = ("raw_news", "raw_prices", "raw_calendar", "intermediate", "marts")

#: Values used when the caller does not pass a parameter (the `[event_study]` defaults of
#: docs/inputs.md). ``now`` has no static default: it is the run's time, see :func:`resolve_params`.
DEFAULT_PARAMS: Mapping[str, Any] = {
    "event_windows": ((0, 0), (0, 1), (-1, 1), (-5, 5)),
    "min_estimation_returns": 120,
    "daily_window_start": -10,
    "daily_window_end": 10,
}

IMPACT_STATUSES: tuple[str, ...] = (
    "ok",
    "insufficient_history",
    "missing_prices",
    "no_timestamp",
    "no_price_coverage",
)
ENTITY_TYPES: tuple[str, ...] = ("company", "person", "organization", "other")
ANNOTATION_KINDS: tuple[str, ...] = ("entity", "ticker", "theme")


class ParameterError(ValueError):
    """A suite needs a run-time parameter that is missing or malformed."""


@dataclass(frozen=True)
class Param:
    """Placeholder for a run-time value, e.g. ``Param("now")``; resolved from the runner's params."""

    name: str


@dataclass(frozen=True)
class When:
    """Row condition: the expectation applies only to rows where ``column <op> value`` holds.

    ``op`` is ``"=="``, ``"!="``, ``"in"``, ``"not_null"`` or ``"null"``.
    """

    column: str
    op: Literal["==", "!=", "in", "not_null", "null"]
    value: Any = None

    def describe(self) -> str:
        if self.op == "not_null":
            return f"{self.column} is not null"
        if self.op == "null":
            return f"{self.column} is null"
        if self.op == "in":
            return f"{self.column} in {list(self.value)!r}"
        return f"{self.column} {self.op} {self.value!r}"


@dataclass(frozen=True)
class Check:
    """One expectation: a GX expectation type (snake case) and its keyword arguments."""

    expectation: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    when: When | None = None
    notes: str | None = None

    def resolved_kwargs(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return {k: _resolve(v, params) for k, v in self.kwargs.items()}

    def columns(self) -> tuple[str, ...]:
        """The column(s) the expectation is about, in the order a reader expects them."""
        kw = self.kwargs
        if "column" in kw:
            return (kw["column"],)
        if "column_list" in kw:
            return tuple(kw["column_list"])
        if "column_A" in kw:
            return (kw["column_A"], kw["column_B"])
        return ()


QueryFn = Callable[[Mapping[str, Any]], str]


@dataclass(frozen=True)
class SuiteSpec:
    """A GX suite over one dataset of the warehouse."""

    name: str
    dataset: str  # the one schema.table the suite is about (messages, registry, Dagster asset key)
    layer: Layer
    severity: Severity
    query: str | QueryFn  # SQL (or a function of the params returning SQL) fetching the frame
    expectations: tuple[Check, ...]
    description: str = ""
    key: tuple[str, ...] = ()  # columns naming a row in failure messages (default: first two)

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"suite {self.name}: severity must be one of {SEVERITIES}")
        if self.layer not in LAYERS:
            raise ValueError(f"suite {self.name}: layer must be one of {LAYERS}")
        if not self.expectations:
            raise ValueError(f"suite {self.name}: no expectations")
        if len(self.dataset.split(".")) != 2:
            raise ValueError(f"suite {self.name}: dataset must be schema.table, got {self.dataset!r}")

    def render_query(self, params: Mapping[str, Any]) -> str:
        return self.query(params) if callable(self.query) else self.query


def _resolve(value: Any, params: Mapping[str, Any]) -> Any:
    if isinstance(value, Param):
        if value.name not in params or params[value.name] is None:
            raise ParameterError(f"missing run-time parameter {value.name!r}")
        return params[value.name]
    if isinstance(value, list | tuple):
        return type(value)(_resolve(v, params) for v in value)
    return value


def resolve_params(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Defaults, overridden by ``params``; ``now`` defaults to the current UTC time.

    ``now`` may be a naive datetime (taken as UTC) or an aware one; it is returned aware in UTC.
    """
    merged: dict[str, Any] = dict(DEFAULT_PARAMS)
    merged.update({k: v for k, v in (params or {}).items() if v is not None})
    now = merged.get("now") or _dt.datetime.now(_dt.UTC)
    if isinstance(now, _dt.date) and not isinstance(now, _dt.datetime):
        now = _dt.datetime.combine(now, _dt.time.max)
    if not isinstance(now, _dt.datetime):
        raise ParameterError(f"parameter 'now' must be a datetime, got {now!r}")
    merged["now"] = now.replace(tzinfo=_dt.UTC) if now.tzinfo is None else now.astimezone(_dt.UTC)
    merged["event_windows"] = _event_windows(merged["event_windows"])
    for key in ("min_estimation_returns", "daily_window_start", "daily_window_end"):
        try:
            merged[key] = int(merged[key])
        except (TypeError, ValueError):
            raise ParameterError(f"parameter {key!r} must be an integer, got {merged[key]!r}") from None
    return merged


def _event_windows(value: Any) -> tuple[tuple[int, int], ...]:
    windows = []
    try:
        for w in value:
            start, end = w
            if isinstance(start, bool) or isinstance(end, bool):
                raise TypeError
            if int(start) != start or int(end) != end:
                raise TypeError
            if start > end:
                raise ParameterError(f"event window {list(w)!r}: start is after end")
            windows.append((int(start), int(end)))
    except ParameterError:
        raise
    except (TypeError, ValueError):
        raise ParameterError(
            f"parameter 'event_windows' must be a list of [start, end] integer pairs, got {value!r}"
        ) from None
    return tuple(windows)


# --------------------------------------------------------------------------------------------
# Small constructors that keep the suite definitions readable.


def not_null(column: str, *, when: When | None = None, notes: str | None = None) -> Check:
    return Check("expect_column_values_to_not_be_null", {"column": column}, when, notes)


def is_null(column: str, *, when: When | None = None, notes: str | None = None) -> Check:
    return Check("expect_column_values_to_be_null", {"column": column}, when, notes)


def unique(column: str, *, notes: str | None = None) -> Check:
    """Unique among non-null values (combine with :func:`not_null` for a key)."""
    return Check("expect_column_values_to_be_unique", {"column": column}, notes=notes)


def compound_unique(*columns: str, notes: str | None = None) -> Check:
    return Check("expect_compound_columns_to_be_unique", {"column_list": list(columns)}, notes=notes)


def between(
    column: str,
    min_value: Any = None,
    max_value: Any = None,
    *,
    strict_min: bool = False,
    strict_max: bool = False,
    mostly: float | None = None,
    when: When | None = None,
    notes: str | None = None,
) -> Check:
    kwargs: dict[str, Any] = {"column": column}
    if min_value is not None:
        kwargs["min_value"] = min_value
    if max_value is not None:
        kwargs["max_value"] = max_value
    if strict_min:
        kwargs["strict_min"] = True
    if strict_max:
        kwargs["strict_max"] = True
    if mostly is not None:
        kwargs["mostly"] = mostly
    return Check("expect_column_values_to_be_between", kwargs, when, notes)


def positive(column: str, *, notes: str | None = None) -> Check:
    return between(column, min_value=0, strict_min=True, notes=notes)


def non_negative(column: str, *, notes: str | None = None) -> Check:
    return between(column, min_value=0, notes=notes)


def in_set(column: str, values: tuple[Any, ...] | list[Any], *, notes: str | None = None) -> Check:
    return Check("expect_column_values_to_be_in_set", {"column": column, "value_set": list(values)}, notes=notes)


def matches(column: str, regex: str, *, notes: str | None = None) -> Check:
    return Check("expect_column_values_to_match_regex", {"column": column, "regex": regex}, notes=notes)


def a_at_least_b(a: str, b: str, *, strict: bool = False, notes: str | None = None) -> Check:
    """Row-wise ``a >= b`` (``a > b`` when strict); rows where either value is null are skipped."""
    return Check(
        "expect_column_pair_values_a_to_be_greater_than_b",
        {"column_A": a, "column_B": b, "or_equal": not strict, "ignore_row_if": "either_value_is_missing"},
        notes=notes,
    )


def no_rows(*, notes: str | None = None) -> Check:
    """For violation queries: the query returns the offending rows, so expect none."""
    return Check("expect_table_row_count_to_equal", {"value": 0}, notes=notes)


# --------------------------------------------------------------------------------------------
# Raw layer


RAW_NEWS_DOCUMENTS = SuiteSpec(
    name="raw_news_documents",
    key=("document_id",),
    dataset="raw.news_documents",
    layer="raw_news",
    severity="blocking",
    description="One row per document; parsed body, hash and sentiment are well-formed.",
    # length(body) instead of body: the check needs presence, not megabytes of text.
    query="""
        SELECT document_id, source_name, file_path, published_at, length(trim(body)) AS body_chars,
               sentiment, content_hash, ingested_at
        FROM raw.news_documents
    """,
    expectations=(
        not_null("document_id"),
        unique("document_id"),
        not_null("body_chars", notes="The body must be present (a file without body is quarantined)."),
        between("body_chars", min_value=1, notes="The body must not be empty."),
        not_null("content_hash"),
        matches("content_hash", r"^[0-9a-f]{64}$", notes="sha256 hex digest of the file bytes."),
        not_null("sentiment"),
        between("sentiment", -1, 1, notes="VADER compound score."),
        between("published_at", max_value=Param("now"), notes="No news from the future (run time)."),
        not_null("source_name"),
        not_null("file_path"),
        not_null("ingested_at"),
    ),
)

RAW_NEWS_ANNOTATIONS = SuiteSpec(
    name="raw_news_annotations",
    key=("document_id", "position"),
    dataset="raw.news_annotations",
    layer="raw_news",
    severity="blocking",
    description="One row per annotation line, PK (document_id, position).",
    query="SELECT document_id, position, kind, annotation_key, description FROM raw.news_annotations",
    expectations=(
        not_null("document_id"),
        not_null("position"),
        compound_unique("document_id", "position"),
        between("position", min_value=1, notes="1-based order in the document."),
        not_null("kind"),
        in_set("kind", ANNOTATION_KINDS),
        not_null("annotation_key"),
    ),
)

RAW_NEWS_ANNOTATIONS_INTEGRITY = SuiteSpec(
    name="raw_news_annotations__integrity",
    dataset="raw.news_annotations",
    layer="raw_news",
    severity="blocking",
    description="Annotations belong to a loaded document, and ticker annotations are cashtags.",
    query="""
        SELECT a.document_id, a.position, a.kind, a.annotation_key,
               'no document ' || a.document_id || ' in raw.news_documents' AS problem
        FROM raw.news_annotations a
        WHERE NOT EXISTS (SELECT 1 FROM raw.news_documents d WHERE d.document_id = a.document_id)
        UNION ALL
        SELECT a.document_id, a.position, a.kind, a.annotation_key,
               'ticker annotation without a leading $' AS problem
        FROM raw.news_annotations a
        WHERE a.kind = 'ticker' AND NOT starts_with(a.annotation_key, '$')
        ORDER BY 1, 2
    """,
    expectations=(no_rows(notes="Each row returned is an orphan or a malformed ticker annotation."),),
)

RAW_PRICES_DAILY = SuiteSpec(
    name="raw_prices_daily",
    key=("ticker", "session_date"),
    dataset="raw.prices_daily",
    layer="raw_prices",
    severity="blocking",
    description="One bar per (ticker, session_date); OHLC consistent, prices positive.",
    query="""
        SELECT ticker, session_date, open, high, low, close, adj_close, volume
        FROM raw.prices_daily
    """,
    expectations=(
        not_null("ticker"),
        not_null("session_date"),
        compound_unique("ticker", "session_date"),
        matches("ticker", r"^[^a-z\s]+$", notes="Upper case, no whitespace."),
        *(not_null(c) for c in ("open", "high", "low", "close", "adj_close", "volume")),
        *(positive(c) for c in ("open", "high", "low", "close", "adj_close")),
        non_negative("volume"),
        a_at_least_b("high", "low", notes="Low <= High."),
        a_at_least_b("high", "open", notes="Open <= High."),
        a_at_least_b("high", "close", notes="Close <= High."),
        a_at_least_b("open", "low", notes="Low <= Open."),
        a_at_least_b("close", "low", notes="Low <= Close."),
    ),
)

RAW_EXCHANGE_SESSIONS = SuiteSpec(
    name="raw_exchange_sessions",
    key=("calendar_code", "session_date"),
    dataset="raw.exchange_sessions",
    layer="raw_calendar",
    severity="blocking",
    description="One row per calendar session; session_index is a 0-based consecutive sequence.",
    query="""
        SELECT calendar_code, session_date, session_index, open_at, close_at
        FROM raw.exchange_sessions
    """,
    expectations=(
        not_null("calendar_code"),
        not_null("session_date"),
        not_null("session_index"),
        compound_unique("calendar_code", "session_date"),
        compound_unique("calendar_code", "session_index"),
        non_negative("session_index"),
        not_null("open_at"),
        not_null("close_at"),
        a_at_least_b("close_at", "open_at", strict=True, notes="A session closes after it opens."),
    ),
)

RAW_EXCHANGE_SESSIONS_SEQUENCE = SuiteSpec(
    name="raw_exchange_sessions__sequence",
    dataset="raw.exchange_sessions",
    layer="raw_calendar",
    severity="blocking",
    description="session_index follows session_date without gaps (relative days count on it).",
    query="""
        SELECT calendar_code, session_date, session_index, expected_index
        FROM (
            SELECT calendar_code, session_date, session_index,
                   CAST(row_number() OVER (PARTITION BY calendar_code ORDER BY session_date) - 1
                        AS BIGINT) AS expected_index
            FROM raw.exchange_sessions
        )
        WHERE session_index IS DISTINCT FROM expected_index
        ORDER BY calendar_code, session_date
    """,
    expectations=(no_rows(notes="Each row returned is a session whose index is out of sequence."),),
)

# --------------------------------------------------------------------------------------------
# Intermediate layer

INT_PRICES_DAILY_RETURNS = SuiteSpec(
    name="int_prices__daily_returns",
    key=("security_id", "session_date"),
    dataset="intermediate.int_prices__daily_returns",
    layer="intermediate",
    severity="blocking",
    description="One row per (security, session); returns within sane bounds.",
    query="""
        SELECT security_id, session_date, session_index, has_bar, adj_close, volume,
               "return", benchmark_return
        FROM intermediate.int_prices__daily_returns
    """,
    expectations=(
        not_null("security_id"),
        not_null("session_date"),
        not_null("session_index"),
        compound_unique("security_id", "session_index"),
        compound_unique("security_id", "session_date"),
        positive("adj_close"),
        non_negative("volume"),
        between("return", -0.9, 3, mostly=1.0, notes="Beyond these a price is almost surely wrong."),
        between("benchmark_return", -0.9, 3, mostly=1.0),
        is_null("return", when=When("has_bar", "==", False), notes="No bar, no return (no bridging)."),
    ),
)

INT_PRICES_DAILY_RETURNS_OUTLIERS = SuiteSpec(
    name="int_prices__daily_returns__outliers",
    key=("security_id", "session_date"),
    dataset="intermediate.int_prices__daily_returns",
    layer="intermediate",
    severity="warning",
    description="Daily moves beyond +/-50% are rare: many of them suggest unadjusted splits.",
    query='SELECT security_id, session_date, "return" FROM intermediate.int_prices__daily_returns',
    expectations=(between("return", -0.5, 0.5, mostly=0.999),),
)

INT_EVENTS_LINKED_SECURITIES = SuiteSpec(
    name="int_events__linked_securities",
    key=("event_id", "security_id"),
    dataset="intermediate.int_events__linked_securities",
    layer="intermediate",
    severity="blocking",
    description="One row per (event, linked security); timed events have a session.",
    query="""
        SELECT event_id, entity_id, security_id, ticker, via_ticker, event_session,
               event_session_index, published_at
        FROM intermediate.int_events__linked_securities
    """,
    expectations=(
        not_null("event_id"),
        not_null("security_id"),
        not_null("ticker"),
        compound_unique("event_id", "security_id"),
        not_null("event_session", when=When("published_at", "not_null")),
        not_null("event_session_index", when=When("event_session", "not_null")),
        is_null("event_session", when=When("published_at", "null")),
    ),
)

# --------------------------------------------------------------------------------------------
# Marts (the public contract, docs: shared/spec/warehouse-contract.md)

FCT_NEWS_EVENT = SuiteSpec(
    name="fct_news_event",
    key=("event_id",),
    dataset="marts.fct_news_event",
    layer="marts",
    severity="blocking",
    description="One row per news document.",
    query="""
        SELECT event_id, published_at, event_session, sentiment, entity_count, theme_count
        FROM marts.fct_news_event
    """,
    expectations=(
        not_null("event_id"),
        unique("event_id"),
        not_null("sentiment"),
        between("sentiment", -1, 1),
        between("published_at", max_value=Param("now")),
        not_null("event_session", when=When("published_at", "not_null")),
        is_null("event_session", when=When("published_at", "null")),
        non_negative("entity_count"),
        non_negative("theme_count"),
    ),
)

DIM_ENTITY = SuiteSpec(
    name="dim_entity",
    key=("entity_id",),
    dataset="marts.dim_entity",
    layer="marts",
    severity="blocking",
    description="One row per real-world entity; one entity per security.",
    query="""
        SELECT entity_id, entity_name, entity_type, security_id, mention_count,
               first_seen_at, last_seen_at
        FROM marts.dim_entity
    """,
    expectations=(
        not_null("entity_id"),
        unique("entity_id"),
        not_null("entity_name"),
        not_null("entity_type"),
        in_set("entity_type", ENTITY_TYPES),
        unique("security_id", notes="One company is one entity: a security belongs to one entity."),
        non_negative("mention_count"),
        a_at_least_b("last_seen_at", "first_seen_at"),
    ),
)

DIM_SECURITY = SuiteSpec(
    name="dim_security",
    key=("security_id", "valid_from"),
    dataset="marts.dim_security",
    layer="marts",
    severity="blocking",
    description="One row per security and ticker period.",
    query="SELECT security_id, ticker, valid_from, valid_to FROM marts.dim_security",
    expectations=(
        not_null("security_id"),
        not_null("ticker"),
        not_null("valid_from"),
        compound_unique("security_id", "valid_from"),
        a_at_least_b("valid_to", "valid_from"),
    ),
)

DIM_SECURITY_PERIODS = SuiteSpec(
    name="dim_security__periods",
    dataset="marts.dim_security",
    layer="marts",
    severity="blocking",
    description="At any date a ticker names one security and a security has one ticker.",
    query="""
        WITH p AS (
            SELECT security_id, ticker, valid_from,
                   coalesce(valid_to, DATE '9999-12-31') AS valid_until
            FROM marts.dim_security
        )
        SELECT 'ticker on two securities at once' AS problem, a.ticker,
               a.security_id AS security_id_a, b.security_id AS security_id_b,
               a.valid_from AS valid_from_a, b.valid_from AS valid_from_b
        FROM p a JOIN p b
          ON a.ticker = b.ticker AND a.security_id < b.security_id
         AND a.valid_from < b.valid_until AND b.valid_from < a.valid_until
        UNION ALL
        SELECT 'security with overlapping ticker periods', a.ticker || '/' || b.ticker,
               a.security_id, b.security_id, a.valid_from, b.valid_from
        FROM p a JOIN p b
          ON a.security_id = b.security_id AND a.valid_from < b.valid_from
         AND b.valid_from < a.valid_until
        ORDER BY 1, 2
    """,
    expectations=(no_rows(notes="Each row returned is a pair of overlapping periods."),),
)

BRIDGE_EVENT_ENTITY = SuiteSpec(
    name="bridge_event_entity",
    key=("event_id", "entity_id"),
    dataset="marts.bridge_event_entity",
    layer="marts",
    severity="blocking",
    description="One row per (event, entity).",
    query="SELECT event_id, entity_id, via_ticker FROM marts.bridge_event_entity",
    expectations=(
        not_null("event_id"),
        not_null("entity_id"),
        compound_unique("event_id", "entity_id"),
        not_null("via_ticker"),
    ),
)

BRIDGE_EVENT_THEME = SuiteSpec(
    name="bridge_event_theme",
    key=("event_id", "theme_id"),
    dataset="marts.bridge_event_theme",
    layer="marts",
    severity="blocking",
    description="One row per (event, theme).",
    query="SELECT event_id, theme_id FROM marts.bridge_event_theme",
    expectations=(
        not_null("event_id"),
        not_null("theme_id"),
        compound_unique("event_id", "theme_id"),
    ),
)

DIM_THEME = SuiteSpec(
    name="dim_theme",
    key=("theme_id",),
    dataset="marts.dim_theme",
    layer="marts",
    severity="blocking",
    description="One row per theme.",
    query="SELECT theme_id, theme_code, event_count FROM marts.dim_theme",
    expectations=(
        not_null("theme_id"),
        unique("theme_id"),
        not_null("theme_code"),
        unique("theme_code"),
        non_negative("event_count"),
    ),
)

MARTS_REFERENTIAL_INTEGRITY = SuiteSpec(
    name="marts__referential_integrity",
    # Attached to the main referrer (a check's dataset is always one real schema.table, as
    # Dagster maps it to an asset key); the query covers every bridge and fact.
    dataset="marts.bridge_event_entity",
    key=("reference", "key"),
    layer="marts",
    severity="blocking",
    description="Bridges and facts point at existing events, entities, themes and securities.",
    query="""
        SELECT 'bridge_event_entity.event_id' AS reference, event_id AS key
        FROM marts.bridge_event_entity b
        WHERE NOT EXISTS (SELECT 1 FROM marts.fct_news_event e WHERE e.event_id = b.event_id)
        UNION ALL
        SELECT 'bridge_event_entity.entity_id', entity_id
        FROM marts.bridge_event_entity b
        WHERE NOT EXISTS (SELECT 1 FROM marts.dim_entity e WHERE e.entity_id = b.entity_id)
        UNION ALL
        SELECT 'bridge_event_theme.event_id', event_id
        FROM marts.bridge_event_theme b
        WHERE NOT EXISTS (SELECT 1 FROM marts.fct_news_event e WHERE e.event_id = b.event_id)
        UNION ALL
        SELECT 'bridge_event_theme.theme_id', theme_id
        FROM marts.bridge_event_theme b
        WHERE NOT EXISTS (SELECT 1 FROM marts.dim_theme t WHERE t.theme_id = b.theme_id)
        UNION ALL
        SELECT 'fct_event_impact.event_id', event_id
        FROM marts.fct_event_impact f
        WHERE NOT EXISTS (SELECT 1 FROM marts.fct_news_event e WHERE e.event_id = f.event_id)
        UNION ALL
        SELECT 'fct_event_impact.security_id', security_id
        FROM marts.fct_event_impact f
        WHERE NOT EXISTS (SELECT 1 FROM marts.dim_security s WHERE s.security_id = f.security_id)
        UNION ALL
        SELECT 'dim_entity.security_id', security_id
        FROM marts.dim_entity d
        WHERE d.security_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM marts.dim_security s WHERE s.security_id = d.security_id)
        ORDER BY 1, 2
    """,
    expectations=(no_rows(notes="Each row returned is a dangling reference."),),
)

_RETURN_FIGURES = ("raw_return", "benchmark_return", "car_market_adjusted")

FCT_EVENT_IMPACT = SuiteSpec(
    name="fct_event_impact",
    key=("event_id", "security_id", "window_start", "window_end"),
    dataset="marts.fct_event_impact",
    layer="marts",
    severity="blocking",
    description="One row per (event, security, window); status explains every row.",
    query="""
        SELECT event_id, entity_id, security_id, ticker, event_session, window_start, window_end,
               status, estimation_returns, alpha, beta, sigma, raw_return, benchmark_return,
               car_market_adjusted, car, car_t, abnormal_volume_ratio
        FROM marts.fct_event_impact
    """,
    expectations=(
        *(not_null(c) for c in ("event_id", "security_id", "window_start", "window_end", "status")),
        compound_unique("event_id", "security_id", "window_start", "window_end"),
        in_set("status", IMPACT_STATUSES),
        a_at_least_b("window_end", "window_start", notes="window_start <= window_end."),
        *(
            not_null(c, when=When("status", "==", "ok"))
            for c in ("car", "alpha", "beta", "sigma", *_RETURN_FIGURES)
        ),
        between(
            "estimation_returns",
            min_value=Param("min_estimation_returns"),
            when=When("status", "==", "ok"),
            notes="An estimated model needs min_estimation_returns returns.",
        ),
        *(not_null(c, when=When("status", "==", "insufficient_history")) for c in _RETURN_FIGURES),
        *(is_null(c, when=When("status", "==", "missing_prices")) for c in ("car", *_RETURN_FIGURES)),
        is_null("event_session", when=When("status", "==", "no_timestamp")),
        non_negative("estimation_returns"),
        non_negative("sigma"),
        non_negative("abnormal_volume_ratio"),
    ),
)


def _windows_values(params: Mapping[str, Any]) -> str:
    windows = _event_windows(params.get("event_windows", DEFAULT_PARAMS["event_windows"]))
    if not windows:
        return "SELECT NULL::INTEGER AS window_start, NULL::INTEGER AS window_end WHERE false"
    rows = ", ".join(f"({int(s)}, {int(e)})" for s, e in windows)
    return f"SELECT * FROM (VALUES {rows}) AS w(window_start, window_end)"


def _impact_completeness_query(params: Mapping[str, Any]) -> str:
    return f"""
        WITH windows AS ({_windows_values(params)}),
        expected AS (
            SELECT DISTINCT l.event_id, l.security_id, w.window_start, w.window_end
            FROM intermediate.int_events__linked_securities l CROSS JOIN windows w
        )
        SELECT 'missing' AS problem, x.event_id, x.security_id, x.window_start, x.window_end
        FROM expected x
        WHERE NOT EXISTS (
            SELECT 1 FROM marts.fct_event_impact f
            WHERE f.event_id = x.event_id AND f.security_id = x.security_id
              AND f.window_start = x.window_start AND f.window_end = x.window_end)
        UNION ALL
        SELECT 'unexpected', f.event_id, f.security_id, f.window_start, f.window_end
        FROM marts.fct_event_impact f
        WHERE NOT EXISTS (
            SELECT 1 FROM expected x
            WHERE f.event_id = x.event_id AND f.security_id = x.security_id
              AND f.window_start = x.window_start AND f.window_end = x.window_end)
        ORDER BY 1, 2, 3, 4, 5
    """


FCT_EVENT_IMPACT_COMPLETENESS = SuiteSpec(
    name="fct_event_impact_completeness",
    dataset="marts.fct_event_impact",
    layer="marts",
    severity="blocking",
    description=(
        "Every (linked event, security, configured window) has a row, and no other row exists: "
        "nothing is dropped silently."
    ),
    query=_impact_completeness_query,
    expectations=(
        no_rows(
            notes="'missing': a linked (event, security, window) without a row in fct_event_impact; "
            "'unexpected': a row for an unlinked pair or an unconfigured window."
        ),
    ),
)

FCT_ABNORMAL_RETURN_DAILY = SuiteSpec(
    name="fct_abnormal_return_daily",
    key=("event_id", "security_id", "rel_day"),
    dataset="marts.fct_abnormal_return_daily",
    layer="marts",
    severity="blocking",
    description="One row per (event, security, relative day).",
    query="""
        SELECT event_id, security_id, ticker, rel_day, session, "return", benchmark_return,
               abnormal_return
        FROM marts.fct_abnormal_return_daily
    """,
    expectations=(
        not_null("event_id"),
        not_null("security_id"),
        not_null("rel_day"),
        compound_unique("event_id", "security_id", "rel_day"),
        between("rel_day", Param("daily_window_start"), Param("daily_window_end")),
    ),
)

MART_THEME_IMPACT = SuiteSpec(
    name="mart_theme_impact",
    key=("theme_id", "window_start", "window_end"),
    dataset="marts.mart_theme_impact",
    layer="marts",
    severity="blocking",
    description="One row per (theme, window).",
    query="""
        SELECT theme_id, theme_code, window_start, window_end, n_events, caar, caar_t,
               pct_positive, mean_raw_return
        FROM marts.mart_theme_impact
    """,
    expectations=(
        not_null("theme_id"),
        not_null("window_start"),
        not_null("window_end"),
        compound_unique("theme_id", "window_start", "window_end"),
        a_at_least_b("window_end", "window_start"),
        non_negative("n_events"),
        between("pct_positive", 0, 1),
    ),
)

MART_ENTITY_DAILY = SuiteSpec(
    name="mart_entity_daily",
    key=("entity_id", "session"),
    dataset="marts.mart_entity_daily",
    layer="marts",
    severity="blocking",
    description="One row per (entity, session) with activity.",
    query="""
        SELECT entity_id, session, mention_count, avg_sentiment, ticker, close, "return",
               abnormal_return
        FROM marts.mart_entity_daily
    """,
    expectations=(
        not_null("entity_id"),
        not_null("session"),
        compound_unique("entity_id", "session"),
        between("mention_count", min_value=1, notes="Rows exist only for sessions with activity."),
        between("avg_sentiment", -1, 1),
        positive("close"),
    ),
)

ALL_SUITES: tuple[SuiteSpec, ...] = (
    RAW_NEWS_DOCUMENTS,
    RAW_NEWS_ANNOTATIONS,
    RAW_NEWS_ANNOTATIONS_INTEGRITY,
    RAW_PRICES_DAILY,
    RAW_EXCHANGE_SESSIONS,
    RAW_EXCHANGE_SESSIONS_SEQUENCE,
    INT_PRICES_DAILY_RETURNS,
    INT_PRICES_DAILY_RETURNS_OUTLIERS,
    INT_EVENTS_LINKED_SECURITIES,
    FCT_NEWS_EVENT,
    DIM_ENTITY,
    DIM_SECURITY,
    DIM_SECURITY_PERIODS,
    BRIDGE_EVENT_ENTITY,
    BRIDGE_EVENT_THEME,
    DIM_THEME,
    MARTS_REFERENTIAL_INTEGRITY,
    FCT_EVENT_IMPACT,
    FCT_EVENT_IMPACT_COMPLETENESS,
    FCT_ABNORMAL_RETURN_DAILY,
    MART_THEME_IMPACT,
    MART_ENTITY_DAILY,
)

assert len({s.name for s in ALL_SUITES}) == len(ALL_SUITES), "suite names must be unique"
