"""Peak memory of the event-study dbt Python models on a synthetic warehouse, in-memory vs bounded.

    .venv/bin/python tests/bench_event_study_memory.py [--events 20000] [--path /tmp/bench.duckdb]

Writes a DuckDB file with the models' inputs (`--events` events, one security each, 251 abnormal
returns per event: a 240-day estimation window and the window [-5, 5]; four event windows, 20
themes), then runs each step in a fresh process and prints its peak RSS (getrusage ru_maxrss):

* `scar`, `tests` in memory: the models before issue 8, every input read whole with `.pl()`;
* `scar`, `tests` bounded: the models' code (dbt_project/.../event_study/*.py) with a stand-in `dbt`.

DuckDB runs with 2 threads and a 1 GB memory limit; its buffers count in the RSS too.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import polars as pl

MODELS = Path(__file__).resolve().parents[1] / "dbt_project/models/intermediate/event_study"
WINDOWS = [(0, 0), (0, 1), (-1, 1), (-5, 5)]
REL_DAYS = np.r_[np.arange(-250, -10), np.arange(-5, 6)]
THEMES = 20


def connect(path: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(path)
    con.execute("set threads = 2; set memory_limit = '1GB'")
    return con


def write_inputs(path: str, events: int) -> None:
    rng = np.random.default_rng(8)
    event_ids = np.char.add("e", np.arange(events).astype(str))
    security_ids = np.char.add("s", rng.integers(0, 5000, events).astype(str))
    day0 = rng.integers(300, 2800, events)
    days = REL_DAYS.size
    abnormal_returns = pl.DataFrame({
        "event_id": np.repeat(event_ids, days),
        "security_id": np.repeat(security_ids, days),
        "rel_day": np.tile(REL_DAYS, events).astype(np.int32),
        "session_index": (day0[:, None] + REL_DAYS).ravel().astype(np.int32),
        "is_estimation_day": np.tile(REL_DAYS < -10, events),
        "benchmark_return": rng.normal(0.0003, 0.01, events * days),
        "abnormal_return": rng.normal(0, 0.02, events * days),
    })
    impact = pl.DataFrame({
        "event_id": np.repeat(event_ids, len(WINDOWS)),
        "security_id": np.repeat(security_ids, len(WINDOWS)),
        "window_start": np.tile([a for a, _ in WINDOWS], events).astype(np.int32),
        "window_end": np.tile([b for _, b in WINDOWS], events).astype(np.int32),
        "status": "ok",
        "event_session": np.repeat(np.datetime64("2010-01-01") + day0, len(WINDOWS)),
        "car": rng.normal(0, 0.03, events * len(WINDOWS)),
        "sigma": rng.uniform(0.01, 0.03, events * len(WINDOWS)),
    })
    themes = pl.DataFrame({"event_id": event_ids, "theme_id": rng.integers(0, THEMES, events).astype(str)})
    with connect(path) as con:
        con.register("abnormal_returns_input", abnormal_returns.to_arrow())
        con.register("impact_input", impact.to_arrow())
        con.register("themes_input", themes.to_arrow())
        con.execute("""
            create or replace table int_event_study__abnormal_returns as select * from abnormal_returns_input;
            create or replace table fct_event_impact as select * from impact_input;
            create or replace table bridge_event_theme as select * from themes_input;
            create or replace table dim_theme as
                select distinct theme_id, 'theme_' || theme_id as theme_code from themes_input;
            create or replace table int_event_windows__overlaps as
                select event_id, security_id, window_start, window_end, hash(event_id) % 10 = 0 as is_confounded
                from impact_input;
            create or replace table int_events__changes as
                select event_id, security_id, 'new' as change_kind from impact_input limit 0;
        """)


class StandIn:
    """The slice of dbt's Python-model object the two models use."""

    def __init__(self, con: duckdb.DuckDBPyConnection, settings: dict):
        self.con, self.settings, self.is_incremental = con, settings, False
        self.config = self

    def __call__(self, **_):
        pass

    def get(self, key):
        return self.settings[key]

    def ref(self, name):
        if name.startswith("int_theme_significance__"):  # the tests' SQL inputs, as views
            for view in ("observations", "rank_inputs", "inputs"):
                view = f"int_theme_significance__{view}"
                self.con.execute(f"create or replace view {view} as {render_sql(view)}")
        return self.con.table(name)


def render_sql(name: str) -> str:
    """A SQL model with its few Jinja calls (config, ref, fingerprints, date_trunc) written out."""
    sql = (MODELS / f"{name}.sql").read_text()
    sql = re.sub(r"\{\{ config\(.*?\) \}\}", "", sql)
    sql = re.sub(r"\{\{ ref\('(\w+)'\) \}\}", r"\1", sql)
    sql = re.sub(r"\{\{ dbt\.date_trunc\('(\w+)', '([\w.]+)'\) \}\}", r"date_trunc('\1', \2)", sql)
    sql = re.sub(r"\{\{ newsimpact\.combine_fingerprints\('(\w+)'\) \}\}", r"bit_xor(\1)", sql)
    return re.sub(r"\{\{ newsimpact\.set_fingerprint\(\[(.*?)\]\) \}\}",
                  lambda m: f"bit_xor(hash({m.group(1).replace(chr(39), '')}))", sql)


def run_model(name: str, con: duckdb.DuckDBPyConnection) -> pl.DataFrame:
    spec = importlib.util.spec_from_file_location(name, MODELS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    settings = {"batch_rows": 1_000_000, "kp_correlation_sample_size": 1000}
    return module.model(StandIn(con, settings), con)


def step(name: str, path: str) -> None:
    from newsimpact.event_study_tests import event_study_tests, standardised_cars

    con = connect(path)
    started = time.perf_counter()
    if name == "scar in memory":
        result = standardised_cars(
            con.table("fct_event_impact").filter("status = 'ok'").pl(),
            con.table("int_event_study__abnormal_returns").pl(),
        )
    elif name == "scar bounded":
        result = run_model("int_event_study__scar", con).pl()  # the model returns a relation
        con.register("scar_result", result.to_arrow())
        con.execute("create or replace table int_event_study__scar as select * from scar_result")
    elif name == "tests in memory":
        cars = con.table("fct_event_impact").filter("status = 'ok'").pl()
        themes = con.table("bridge_event_theme").pl().join(con.table("dim_theme").pl(), on="theme_id")
        confounded = con.table("int_event_windows__overlaps").filter("is_confounded").pl()
        keys = ["event_id", "security_id", "window_start", "window_end"]
        themed = cars.join(themes.select("event_id", "theme_code"), on="event_id")
        observations = pl.concat([
            themed.with_columns(event_filter=pl.lit("all")),
            themed.join(confounded.select(keys), on=keys, how="anti").with_columns(event_filter=pl.lit("unconfounded")),
        ])
        result = event_study_tests(
            observations, con.table("int_event_study__abnormal_returns").pl(),
            ["theme_code", "window_start", "window_end", "event_filter"],
        )
    elif name == "tests bounded":
        sums = run_model("int_theme_significance__rank_sums", con).pl()  # a relation too
        con.register("rank_sums_result", sums.to_arrow())
        con.execute("create or replace table int_theme_significance__rank_sums as select * from rank_sums_result")
        result = run_model("int_theme_significance__tests", con).pl()
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {name:<16} peak RSS {peak_mb:7.0f} MB  {seconds:6.1f} s  {result.height} rows", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--path", default="/tmp/bench_event_study_memory.duckdb")
    parser.add_argument("--step")
    args = parser.parse_args()
    if args.step:
        step(args.step, args.path)
        return
    Path(args.path).unlink(missing_ok=True)
    write_inputs(args.path, args.events)
    print(f"{args.events} events x {REL_DAYS.size} abnormal returns = {args.events * REL_DAYS.size} rows")
    # the bounded scar step writes int_event_study__scar, which the bounded tests step reads
    for name in ("scar in memory", "scar bounded", "tests in memory", "tests bounded"):
        subprocess.run([sys.executable, __file__, "--path", args.path, "--step", name], check=True)


if __name__ == "__main__":
    main()
