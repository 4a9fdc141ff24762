"""Run `newsimpact run` as a user would (a subprocess) and measure wall time and peak tree RSS.

The peak is the largest sum of VmRSS over the process and all its descendants, polled from /proc
(psutil is not a dependency of the project on Linux): dbt and Dagster start child processes, so
the parent's own RSS alone would understate the memory a machine needs.
"""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from newsimpact.timings import dbt_model_times

POLL_SECONDS = 0.05
TOP_MODELS = 8  # the slowest dbt models the report lists
# The warehouse's part that does what the floor does (read the price CSVs, sessions, returns, the
# rolling market model, news aligned to sessions and linked to securities, abnormal returns, CARs),
# compared with the floor's time (issue 8: within 3 times). Out of it: the checks, entity
# resolution, themes, tests, history and publication, which the floor does not do. The price
# ingestion counts whole (its quarantine and manifest too), as do the abnormal returns of every
# estimation day, which the floor never computes.
EVENT_STUDY_CORE_STEPS = ("raw__prices_daily", "raw__exchange_sessions")
EVENT_STUDY_CORE_MODELS = (
    "stg_calendar__sessions", "stg_prices__daily_bars", "stg_news__documents",
    "int_securities__ticker_periods", "int_prices__security_bars", "int_prices__benchmark_returns",
    "int_prices__changes", "int_prices__daily_returns", "int_market_model__rolling",
    "int_events__aligned", "int_events__linked_securities", "int_events__changes",
    "int_event_study__abnormal_returns", "fct_event_impact",
)


@dataclass
class RunMeasure:
    label: str
    wall_seconds: float
    peak_rss_bytes: int
    exit_code: int
    rows_in: int  # price rows + documents the run was given as new input
    steps: list[dict] = field(default_factory=list)  # last_run.json's steps
    dbt_seconds: float | None = None  # run_results.json's elapsed_time (the whole dbt build)
    total_seconds: float | None = None  # last_run.json's own total
    top_models: list[tuple[str, float]] = field(default_factory=list)  # dbt run_results.json
    core_seconds: float | None = None  # event_study_core_seconds; None when dbt did not run
    output_tail: str = ""
    stopped: str = ""  # why the bench stopped the run (over the memory limit), else empty

    @property
    def rows_per_second(self) -> float:
        return self.rows_in / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def seconds_by_step(self) -> dict[str, float]:
        """Each step's seconds, in the order the steps started; a pulled source's days, steps of
        one name, summed."""
        seconds: dict[str, float] = {}
        for step in self.steps:
            seconds[step["step"]] = seconds.get(step["step"], 0.0) + step["seconds"]
        return seconds


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                # the field after the parenthesised command name: state, then ppid
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def tree_rss(root_pid: int) -> int:
    """Current RSS of `root_pid` and every descendant, in bytes."""
    tree, total, stack = _children(), 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += _rss_bytes(pid)
        stack.extend(tree.get(pid, ()))
    return total


def run_cli(
    label: str, config: Path, state_dir: Path, rows_in: int, cwd: Path, max_rss_bytes: int
) -> RunMeasure:
    """`newsimpact run --offline --config config`, timed, its process tree's RSS polled.

    A tree over `max_rss_bytes` is stopped (its own process group): on a shared machine a run
    that outgrows its budget must not push other work into the OOM killer.
    """
    cli = Path(sys.executable).with_name("newsimpact")
    command = [str(cli), "run", "--offline", "--config", str(config)]
    last_run = state_dir / "last_run.json"
    last_run.unlink(missing_ok=True)
    peak = [0]
    start, started_at = time.perf_counter(), time.time()
    process = subprocess.Popen(
        command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )
    done = threading.Event()
    stopped = [""]

    def poll() -> None:
        while not done.is_set():
            rss = tree_rss(process.pid)
            peak[0] = max(peak[0], rss)
            if rss > max_rss_bytes and not stopped[0]:
                stopped[0] = f"stopped by the bench at {rss / 2**30:.1f} GB RSS (limit " \
                             f"{max_rss_bytes / 2**30:.1f} GB)"
                _stop_group(process)
            done.wait(POLL_SECONDS)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    output, _ = process.communicate()
    wall = time.perf_counter() - start
    done.set()
    poller.join()
    measure = RunMeasure(label, wall, peak[0], process.returncode, rows_in,
                         output_tail="\n".join(output.splitlines()[-40:]))
    measure.stopped = stopped[0]
    if last_run.exists():
        data = json.loads(last_run.read_text())
        measure.steps = list(data.get("steps", []))
        measure.total_seconds = data.get("total_seconds")
    results = state_dir / "dbt" / "target" / "run_results.json"
    if results.is_file() and results.stat().st_mtime >= started_at:  # else dbt did not run
        models, measure.dbt_seconds = dbt_model_times(results)
        measure.top_models = [(model.step, model.seconds) for model in models[:TOP_MODELS]]
        if measure.exit_code == 0:
            measure.core_seconds = event_study_core_seconds(
                measure.seconds_by_step(), {model.step: model.seconds for model in models}
            )
    return measure


def event_study_core_seconds(steps: dict[str, float], models: dict[str, float]) -> float:
    """Seconds of the run's event-study core: the EVENT_STUDY_CORE_STEPS' wall times plus the
    EVENT_STUDY_CORE_MODELS' dbt execution times. A part the run lacks raises ValueError (a
    renamed model must not shrink the core unnoticed)."""
    missing = [name for name in EVENT_STUDY_CORE_STEPS if name not in steps] + [
        name for name in EVENT_STUDY_CORE_MODELS if name not in models
    ]
    if missing:
        raise ValueError(f"the run has no timing for these parts of the event-study core: {missing}")
    return sum(steps[name] for name in EVENT_STUDY_CORE_STEPS) + sum(
        models[name] for name in EVENT_STUDY_CORE_MODELS
    )


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM the run's process group (it has its own session), SIGKILL what is left after 10 s."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(10)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
