"""`python -m newsimpact.bench`: generate, build, run the nights, compare, check, report.

Every figure in the report is measured by this run; nothing is carried over or typed in.
"""

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from newsimpact.bench import compare, recovery
from newsimpact.bench.generate import (
    BENCHMARK,
    ESTIMATION_WINDOW,
    EVENT_WINDOWS,
    INJECTED,
    MIN_ESTIMATION_RETURNS,
    SCALES,
    Scale,
    generate,
)
from newsimpact.bench.measure import RunMeasure, run_cli
from newsimpact.bench.report import machine_info, write_markdown


@dataclass
class BenchResult:
    scale_name: str
    scale: Scale
    seed: int
    generate_seconds: float
    runs: list[RunMeasure]
    comparison: dict | None  # None when a run failed: nothing to compare
    recovery_rows: list[dict]
    null_rejections: tuple[int, int]
    machine: dict
    universe: dict


def run_bench(root: Path, scale: Scale, scale_name: str, seed: int, markdown: Path | None,
              log=print, max_rss_gb: float = 12.0) -> BenchResult:
    """The whole benchmark in `root`; writes `markdown` when given, and root/bench-results.json.

    The first failed run (or one stopped over `max_rss_gb`) ends the series: the report then
    shows what was measured up to it, and RuntimeError is raised after writing it."""
    root = root.resolve()
    started = time.perf_counter()
    universe = generate(root, scale, seed)
    generate_seconds = time.perf_counter() - started
    log(f"generated {scale_name}: {scale.tickers} tickers x {len(universe.sessions)} sessions, "
        f"{universe.base_docs + sum(universe.night_docs)} documents in {generate_seconds:.1f} s")
    state_dir = universe.warehouse.parent / f".{universe.warehouse.stem}"

    limit = int(max_rss_gb * 2**30)
    runs = [_run(log, "full build", universe, state_dir,
                 universe.base_rows + universe.base_docs, limit)]
    for k, (prices, docs) in enumerate(
        zip(universe.night_price_files, universe.night_doc_dirs, strict=True), start=1
    ):
        if runs[-1].exit_code != 0:
            break
        (root / "prices" / "days").mkdir(exist_ok=True)
        shutil.move(prices, root / "prices" / "days" / prices.name)
        if docs.exists():
            shutil.move(docs, root / "news" / f"night_{k:03d}")
        rows = universe.night_rows[k - 1] + universe.night_docs[k - 1]
        runs.append(_run(log, f"night {k}", universe, state_dir, rows, limit))
    if scale.nights >= 1 and runs[-1].exit_code == 0:
        runs.append(_run(log, "no-input night", universe, state_dir, 0, limit))
    failed = [run for run in runs if run.exit_code != 0]
    comparison, recovery_rows, nulls = None, [], (0, 0)
    if not failed:
        comparison = _compare(root, universe.warehouse, log)
        recovery_rows = recovery.theme_recovery(
            universe.warehouse, INJECTED, root / "reference" / "events.parquet"
        ).to_dicts()
        nulls = recovery.null_rejection_rate(universe.warehouse, INJECTED)
    result = BenchResult(
        scale_name=scale_name, scale=scale, seed=seed, generate_seconds=generate_seconds,
        runs=runs, comparison=comparison, recovery_rows=recovery_rows,
        null_rejections=nulls, machine=machine_info(),
        universe={
            "sessions": len(universe.sessions), "first_session": str(universe.sessions[0]),
            "last_session": str(universe.sessions[-1]), "build_sessions": universe.build_sessions,
            "base_price_rows": universe.base_rows, "base_documents": universe.base_docs,
            "night_documents": universe.night_docs, "root": str(root),
        },
    )
    (root / "bench-results.json").write_text(json.dumps(asdict(result), indent=1, default=str))
    if markdown is not None:
        write_markdown(markdown, result)
        log(f"report: {markdown}")
    if failed:
        run = failed[0]
        raise RuntimeError(f"{run.label} failed: {run.stopped or f'exit {run.exit_code}'}\n"
                           f"{run.output_tail}")
    return result


def _run(log, label: str, universe, state_dir: Path, rows: int, limit: int) -> RunMeasure:
    measure = run_cli(label, universe.config, state_dir, rows, universe.root, limit)
    log(f"{label}: exit {measure.exit_code}{' ' + measure.stopped if measure.stopped else ''}, "
        f"{measure.wall_seconds:.1f} s, "
        f"peak RSS {measure.peak_rss_bytes / 2**30:.2f} GB, {measure.rows_per_second:,.1f} rows/s")
    return measure


def _compare(root: Path, warehouse: Path, log) -> dict:
    reference = root / "reference"
    args = (root / "prices", reference / "events.parquet", reference / "sessions.parquet",
            BENCHMARK, EVENT_WINDOWS, ESTIMATION_WINDOW, MIN_ESTIMATION_RETURNS)
    wh, wh_seconds = compare.timed(compare.warehouse_cars, warehouse)
    floor, floor_seconds = compare.timed(compare.floor_cars, *args)
    peer, peer_seconds = compare.timed(compare.peer_cars, *args)
    result = {
        "warehouse_rows": wh.height, "floor_rows": floor.height, "peer_rows": peer.height,
        "warehouse_read_seconds": wh_seconds,
        "floor_seconds": floor_seconds, "peer_seconds": peer_seconds,
        "warehouse_vs_floor": compare.agreement(wh, floor),
        "warehouse_vs_peer": compare.agreement(wh, peer),
        "floor_vs_peer": compare.agreement(floor, peer),
    }
    log(f"floor {floor_seconds:.1f} s, peer {peer_seconds:.1f} s; max |dCAR| warehouse-floor "
        f"{result['warehouse_vs_floor']['max_abs_delta']}, warehouse-peer "
        f"{result['warehouse_vs_peer']['max_abs_delta']}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m newsimpact.bench", description=__doc__)
    parser.add_argument("--scale", default="small", choices=sorted(SCALES))
    parser.add_argument("--tickers", type=int)
    parser.add_argument("--years", type=int)
    parser.add_argument("--docs", type=int)
    parser.add_argument("--nights", type=int, help="nights after the build, the last one empty")
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--dir", type=Path, help="bench folder (default: bench-data/<scale>)")
    parser.add_argument("--max-rss-gb", type=float, default=12.0,
                        help="stop a run whose process tree grows past this (shared machines)")
    parser.add_argument("--markdown", type=Path, default=Path("docs/performance.md"),
                        help="report to (re)write; '-' for none")
    args = parser.parse_args(argv)
    scale = SCALES[args.scale]
    overrides = {k: getattr(args, k) for k in ("tickers", "years", "docs", "nights")
                 if getattr(args, k) is not None}
    scale = replace(scale, **overrides)
    name = args.scale if not overrides else f"{args.scale} (custom)"
    root = args.dir or Path("bench-data") / args.scale
    markdown = None if str(args.markdown) == "-" else args.markdown
    try:
        run_bench(root, scale, name, args.seed, markdown, max_rss_gb=args.max_rss_gb)
    except RuntimeError as error:
        print(f"bench: {error}", file=sys.stderr)
        return 1
    return 0
