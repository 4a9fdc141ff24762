"""Great Expectations checks of the newsimpact warehouse, layer by layer.

    from warehouse.quality import suites_for, run_suites
    outcomes = run_suites(con, suites_for("raw_prices"), params={"now": run_time},
                          data_docs_dir=warehouse_dir / "data_docs")
    if any(o.blocks for o in outcomes): ...

Layers: ``raw_news`` (raw.news_documents, raw.news_annotations), ``raw_prices``
(raw.prices_daily), ``raw_calendar`` (raw.exchange_sessions), ``intermediate`` (dbt intermediate
models), ``marts`` (the public contract). Importing this package does not import Great
Expectations (it takes seconds); :func:`run_suites` does, when called.
"""

from __future__ import annotations

from warehouse.quality.runner import SuiteOutcome, run_suite, run_suites
from warehouse.quality.suites import (
    ALL_SUITES,
    DEFAULT_PARAMS,
    LAYERS,
    Check,
    Param,
    ParameterError,
    SuiteSpec,
    When,
    resolve_params,
)

#: Which suites check which layer, in the order they are best read.
REGISTRY: dict[str, tuple[SuiteSpec, ...]] = {
    layer: tuple(s for s in ALL_SUITES if s.layer == layer) for layer in LAYERS
}

SUITES_BY_NAME: dict[str, SuiteSpec] = {s.name: s for s in ALL_SUITES}


def suites_for(layer: str, *, severity: str | None = None) -> tuple[SuiteSpec, ...]:
    """The suites of one layer (optionally only ``blocking`` or ``warning`` ones)."""
    if layer not in REGISTRY:
        raise KeyError(f"unknown layer {layer!r}; layers: {', '.join(LAYERS)}")
    return tuple(s for s in REGISTRY[layer] if severity is None or s.severity == severity)


def get_suite(name: str) -> SuiteSpec:
    try:
        return SUITES_BY_NAME[name]
    except KeyError:
        raise KeyError(f"unknown suite {name!r}; suites: {', '.join(SUITES_BY_NAME)}") from None


__all__ = [
    "ALL_SUITES",
    "DEFAULT_PARAMS",
    "LAYERS",
    "REGISTRY",
    "SUITES_BY_NAME",
    "Check",
    "Param",
    "ParameterError",
    "SuiteOutcome",
    "SuiteSpec",
    "When",
    "get_suite",
    "resolve_params",
    "run_suite",
    "run_suites",
    "suites_for",
]
