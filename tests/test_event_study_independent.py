"""marts.fct_event_impact against an independent numpy implementation of the contract's event study.

The (event, security) pairs and the events' published_at come from the warehouse (linking is tested
elsewhere); everything else -- session alignment, returns over calendar sessions, OLS, sigma, AR/CAR,
car_t, raw and benchmark returns, the abnormal volume ratio and the status -- is recomputed from the
raw price CSVs and exchange_calendars by ``tests/event_study_reference.py``.

Fixtures (tests/conftest.py): ``sample_warehouse`` (path of the DuckDB file built from the samples,
opened read-only here) and ``sample_config`` (``.prices_dir``, ``.event_study``).

While developing, the same comparison runs standalone:
``.venv/bin/python tests/event_study_reference.py PATH/TO/warehouse.duckdb --prices samples/prices``.
"""

from __future__ import annotations

import pytest

try:  # tests/ as a package, or as a plain folder on sys.path (pytest's default rootdir import)
    from tests import event_study_reference as ref
except ImportError:
    import event_study_reference as ref

TOLERANCE = 1e-9


@pytest.fixture(scope="module")
def impact_rows(sample_warehouse, sample_config):
    cfg = ref.EventStudyConfig.from_any(sample_config.event_study)
    reference, warehouse = ref.run(sample_warehouse, sample_config.prices_dir, cfg)
    return cfg, reference, warehouse


@pytest.mark.slow
def test_row_sets_are_equal(impact_rows):
    cfg, reference, warehouse = impact_rows
    assert set(warehouse) == set(reference)
    windows = {(k[2], k[3]) for k in warehouse}
    assert windows == {tuple(w) for w in cfg.event_windows}


@pytest.mark.slow
def test_every_row_matches_the_reference(impact_rows):
    _, reference, warehouse = impact_rows
    problems = ref.compare(reference, warehouse, TOLERANCE)
    assert not problems, f"{len(problems)} differences:\n" + "\n".join(problems[:40])


@pytest.mark.slow
def test_sample_covers_the_key_statuses(impact_rows):
    _, reference, warehouse = impact_rows
    statuses = {row["status"] for row in warehouse.values()}
    assert {"ok", "no_timestamp", "no_price_coverage"} <= statuses, statuses
    assert statuses <= {"ok", "insufficient_history", "missing_prices", "no_timestamp", "no_price_coverage"}


@pytest.mark.slow
def test_ok_rows_carry_every_figure(impact_rows):
    _, _, warehouse = impact_rows
    for key, row in warehouse.items():
        if row["status"] == "ok":
            missing = [c for c in ("alpha", "beta", "sigma", "raw_return", "benchmark_return",
                                   "car_market_adjusted", "car") if row[c] is None]
            assert not missing, (key, missing)
