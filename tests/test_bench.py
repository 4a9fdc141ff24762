"""The benchmark end to end at a tiny scale: real CLI runs, floor and peer agree, effects found."""

import math
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from newsimpact.bench.generate import INJECTED, Scale, generate
from newsimpact.bench.measure import (
    EVENT_STUDY_CORE_MODELS,
    EVENT_STUDY_CORE_STEPS,
    event_study_core_seconds,
)
from newsimpact.bench.report import MARKER, SECTIONS, write_markdown
from newsimpact.bench.run import run_bench

TINY = Scale(tickers=15, years=2, docs=300, nights=2)  # one night of data, then an empty one


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench")
    markdown = root / "performance.md"
    markdown.write_text("# Hand-written intro\n\nKept.\n\n" + MARKER + "\n\nold figures\n")
    result = run_bench(root / "data", TINY, "tiny", 7, markdown, log=lambda *_: None)
    return result, markdown


def test_warehouse_floor_and_peer_agree_on_every_key(bench):
    comparison = bench[0].comparison
    for pair in ("warehouse_vs_floor", "warehouse_vs_peer", "floor_vs_peer"):
        agreement = comparison[pair]
        assert agreement["common"] > 100, pair
        assert agreement["only_left"] == 0 and agreement["only_right"] == 0, (pair, agreement)
        assert agreement["max_abs_delta"] < 1e-9, (pair, agreement)


def test_injected_effects_are_recovered_with_their_sign(bench):
    rows = {row["theme_code"]: row for row in bench[0].recovery_rows}
    for theme, effect in INJECTED.items():
        assert rows[theme]["n_events"] > 10
        assert math.copysign(1, rows[theme]["caar"]) == math.copysign(1, effect), rows[theme]
    assert len(rows) > len(INJECTED)  # the themes without effect are in the mart too


def test_runs_are_measured_and_the_nights_ran(bench):
    result = bench[0]
    assert [run.label for run in result.runs] == ["full build", "night 1", "no-input night"]
    assert all(run.exit_code == 0 for run in result.runs)
    assert all(run.wall_seconds > 0 and run.peak_rss_bytes > 0 for run in result.runs)
    assert result.runs[0].rows_in > 0 and result.runs[-1].rows_in == 0
    assert result.runs[0].top_models and all(s >= 0 for _, s in result.runs[0].top_models)
    assert all(run.steps and all(step["seconds"] >= 0 for step in run.steps) for run in result.runs)
    assert result.comparison["floor_seconds"] > 0 and result.comparison["peer_seconds"] > 0


def test_the_event_study_core_is_its_steps_and_models_of_the_full_build(bench):
    full_build, no_input = bench[0].runs[0], bench[0].runs[-1]
    steps = {step["step"]: step["seconds"] for step in full_build.steps}
    assert set(EVENT_STUDY_CORE_STEPS) < set(steps)
    # the core is a part of the build: more than its steps alone, less than the whole run
    assert sum(steps[name] for name in EVENT_STUDY_CORE_STEPS) < full_build.core_seconds
    assert full_build.core_seconds < full_build.wall_seconds
    assert no_input.core_seconds is None  # dbt did not run
    row = f"| warehouse event-study core (full build) | {full_build.core_seconds:.1f} |"
    assert row in bench[1].read_text()


def test_a_core_part_missing_from_the_run_is_named():
    steps = dict.fromkeys(EVENT_STUDY_CORE_STEPS, 1.0)
    models = dict.fromkeys(EVENT_STUDY_CORE_MODELS, 0.5) | {"int_entities__mentions": 9.0}
    assert event_study_core_seconds(steps, models) == pytest.approx(
        len(EVENT_STUDY_CORE_STEPS) + 0.5 * len(EVENT_STUDY_CORE_MODELS)
    )
    del models["int_market_model__rolling"]
    with pytest.raises(ValueError, match="int_market_model__rolling"):
        event_study_core_seconds(steps, models)


def test_markdown_keeps_the_intro_and_has_every_section(bench):
    text = bench[1].read_text()
    assert text.startswith("# Hand-written intro\n\nKept.\n")
    assert "old figures" not in text and text.count(MARKER) == 1
    for section in SECTIONS:
        assert f"\n{section}\n" in text, section
    assert "| full build |" in text and "| no-input night |" in text


def test_generation_is_deterministic(tmp_path):
    scale = Scale(tickers=3, years=2, docs=20, nights=2)
    first, second = generate(tmp_path / "a", scale, 1), generate(tmp_path / "b", scale, 1)
    files = sorted(p.relative_to(first.root) for p in first.root.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second.root) for p in second.root.rglob("*") if p.is_file())
    for rel in files:
        if rel.suffix != ".parquet":
            assert (first.root / rel).read_bytes() == (second.root / rel).read_bytes(), rel
    events = pl.read_parquet(first.root / "reference" / "events.parquet")
    assert events.height == 20 and events["event_id"].is_unique().all()
    assert generate(tmp_path / "c", scale, 2).tickers == first.tickers
    assert pl.read_parquet(tmp_path / "c" / "reference" / "events.parquet")["published_at"].to_list() \
        != events["published_at"].to_list()


def test_a_run_over_the_memory_limit_is_stopped(tmp_path):
    from newsimpact.bench.measure import run_cli

    universe = generate(tmp_path / "data", Scale(tickers=3, years=2, docs=20, nights=1), 1)
    state_dir = universe.warehouse.parent / f".{universe.warehouse.stem}"
    measure = run_cli("capped", universe.config, state_dir, 1, universe.root, 50 * 2**20)
    assert measure.stopped.startswith("stopped by the bench at")
    assert measure.exit_code != 0 and measure.peak_rss_bytes > 50 * 2**20
    assert measure.wall_seconds < 60
    assert not universe.warehouse.exists()  # nothing was published


def test_the_expected_day0_return_is_the_effect_minus_the_fit_of_the_window_effects(tmp_path):
    """Recomputed from the written files alone: the benchmark's returns from its bars, each event's
    session from its publication time and the calendar, the effects from INJECTED, and one least
    squares fit per event of the effects injected into its estimation window."""
    from newsimpact.bench.generate import ESTIMATION_WINDOW

    universe = generate(tmp_path / "data", Scale(tickers=4, years=2, docs=400, nights=3), 3)
    bars = pl.concat([
        pl.read_csv(path, columns=["Ticker", "Date", "Close"])
        for path in sorted(universe.root.glob("**/*.csv"))
    ])
    benchmark = bars.filter(pl.col("Ticker") == "^GSPC").sort("Date")["Close"].to_numpy()
    rm = np.r_[0.0, benchmark[1:] / benchmark[:-1] - 1]
    close_at = pl.read_parquet(universe.root / "reference" / "sessions.parquet")["close_at"]
    events = pl.read_parquet(universe.root / "reference" / "events.parquet")
    # published before its session's close and after the previous one's
    session = np.searchsorted(close_at.dt.epoch("us").to_numpy(), events["published_at"].dt.epoch("us").to_numpy())
    column = {ticker: k for k, ticker in enumerate(universe.tickers)}
    ticker = np.array([column[t] for t in events["ticker"]])
    effect = np.array([INJECTED.get(theme, 0.0) for theme in events["theme"]])
    injected = np.zeros((rm.size, len(universe.tickers)))
    injected[session, ticker] = effect

    expected = []
    for s, k, e in zip(session, ticker, effect, strict=True):
        days = np.arange(max(s + ESTIMATION_WINDOW[0], 1), s + ESTIMATION_WINDOW[1] + 1)
        (alpha, beta), *_ = np.linalg.lstsq(np.column_stack([np.ones(days.size), rm[days]]), injected[days, k], rcond=None)
        expected.append(e - alpha - beta * rm[s])
    assert np.allclose(events["expected_day0_ar"].to_numpy(), expected, rtol=0, atol=1e-9)
    # the other events in the windows do move it: it is not the injected effect itself
    assert np.abs(events["expected_day0_ar"].to_numpy() - effect).max() > 1e-4
