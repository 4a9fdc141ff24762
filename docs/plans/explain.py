"""EXPLAIN ANALYZE of the old and new query shapes of session alignment (int_events__aligned) and
event-window sums (fct_event_impact) at warehouse scale, on synthetic tables in an in-memory DuckDB,
and of the window overlaps (int_event_windows__overlaps), which keep their range join.

Prints a Markdown report (docs/sql-plans.md keeps one): per query its time, peak memory, join
operators and plan, and whether the old and new shapes return the same rows (EXCEPT ALL both ways).
The old window sums probe each security's whole series for every window (about 2.5 minutes at the
default scale on 2 cores); --old-events N runs them on the first N events only, and the new shape on
that subset too for the comparison, then on all events.

    .venv/bin/python docs/plans/explain.py > /tmp/plans.md                      # about 4 minutes
    .venv/bin/python docs/plans/explain.py --old-events 20000 > /tmp/plans.md   # under a minute
"""

import argparse
import json
import os
import platform
import tempfile
import time

import duckdb

WINDOWS = "(values (0, 0), (0, 1), (-1, 1), (-5, 5)) as w(window_start, window_end)"

# int_events__aligned before: every later session, then the first (default__first_session_closing_after).
ALIGN_OLD = """
select documents.document_id, min(sessions.session_index) as session_index
from documents
inner join sessions on sessions.close_at > documents.published_at
group by documents.document_id
"""

# int_events__aligned now, on DuckDB (duckdb__first_session_closing_after).
ALIGN_NEW = """
select documents.document_id, sessions.session_index
from documents
asof join sessions on sessions.close_at > documents.published_at
"""

# fct_event_impact's window sums (window_days), over the events of table {events}.
WINDOW_AGGREGATES = """
    count(*) filter (where d.has_bar) as n_bars,
    count(*) filter (where d."return" is not null and d.benchmark_return is not null) as n_return_days,
    product(1 + d."return" order by d.session_index) - 1 as raw_return,
    product(1 + d.benchmark_return order by d.session_index) - 1 as benchmark_return,
    sum(d."return" - d.benchmark_return order by d.session_index) as car_market_adjusted,
    sum((d."return" - (ew.alpha + ew.beta * d.benchmark_return)) order by d.session_index) as car,
    avg(d.volume order by d.session_index) as mean_window_volume
"""

EVENT_WINDOWS = f"""
with event_windows as (
    select e.*, w.window_start, w.window_end
    from {{events}} as e
    cross join {WINDOWS}
)
"""

# before: a session_index range over the security's whole series
WINDOWS_OLD = EVENT_WINDOWS + f"""
select ew.event_id, ew.security_id, ew.window_start, ew.window_end, {WINDOW_AGGREGATES}
from event_windows as ew
inner join daily as d
    on d.security_id = ew.security_id
    and d.session_index between ew.event_session_index + ew.window_start
                            and ew.event_session_index + ew.window_end
group by ew.event_id, ew.security_id, ew.window_start, ew.window_end
"""

# now: each window's relative days, then the exact (security, session) key
WINDOWS_NEW = EVENT_WINDOWS + f"""
, window_rel_days as (
    select w.window_start, w.window_end, r.rel_day
    from {WINDOWS}
    inner join (select cast(generate_series as integer) as rel_day from generate_series(-5, 5)) as r
        on r.rel_day between w.window_start and w.window_end
)
select ew.event_id, ew.security_id, ew.window_start, ew.window_end, {WINDOW_AGGREGATES}
from event_windows as ew
inner join window_rel_days as wr
    on wr.window_start = ew.window_start
    and wr.window_end = ew.window_end
inner join daily as d
    on d.security_id = ew.security_id
    and d.session_index = ew.event_session_index + wr.rel_day
group by ew.event_id, ew.security_id, ew.window_start, ew.window_end
"""


# int_event_windows__overlaps, unchanged: a range join too, but among the events of a security, so it
# grows with events per security, not with the length of the series.
OVERLAPS = EVENT_WINDOWS.format(events="events") + """
select ew.event_id, ew.security_id, ew.window_start, ew.window_end, count(*) as overlapping_event_count
from event_windows as ew
inner join events as other
    on other.security_id = ew.security_id
    and other.event_id <> ew.event_id
    and other.event_session_index between ew.event_session_index - (ew.window_end - ew.window_start)
                                      and ew.event_session_index + (ew.window_end - ew.window_start)
group by ew.event_id, ew.security_id, ew.window_start, ew.window_end
"""


def build_tables(con: duckdb.DuckDBPyConnection, args: argparse.Namespace) -> None:
    """Weekday sessions from 2015 closing at 21:00Z in winter and 20:00Z in summer (XNYS in UTC),
    documents at random times from a day before the first close to a day after the last (so a few
    have no session, and 1 % have no time), dense daily returns with 1 % missing bars, and linked
    events at random sessions of random securities."""
    con.execute("select setseed(0.42)")
    con.execute(f"""
        create table sessions as
        select
            cast(row_number() over (order by day) - 1 as integer) as session_index,
            day as session_date,
            cast(day as timestamp) + case when month(day) between 4 and 10 then interval 20 hour
                                          else interval 21 hour end as close_at
        from (select cast(range as date) as day
              from range(date '2015-01-01', date '2030-01-01', interval 1 day))
        where dayofweek(day) between 1 and 5
        order by day
        limit {args.sessions}
    """)
    con.execute("alter table sessions alter close_at type timestamptz")
    con.execute(f"""
        create table documents as
        select
            'doc' || range as document_id,
            case when random() >= 0.01 then
                (select min(close_at) from sessions) - interval 1 day
                + to_seconds(cast(random() * (epoch((select max(close_at) from sessions))
                                              - epoch((select min(close_at) from sessions)) + 2 * 86400)
                                  as bigint))
            end as published_at
        from range({args.documents})
    """)
    con.execute(f"""
        create table daily as
        with bars as (
            select
                'SEC' || lpad(cast(s.range as varchar), 5, '0') as security_id,
                cast(d.range as integer) as session_index,
                random() >= 0.01 as has_bar
            from range({args.securities}) as s
            cross join range({args.sessions}) as d
        )
        select
            security_id,
            session_index,
            has_bar,
            case when has_bar then (random() - 0.5) * 0.04 end as "return",
            sin(session_index) * 0.01 as benchmark_return,
            case when has_bar then cast(random() * 1e6 as bigint) end as volume
        from bars
    """)
    con.execute(f"""
        create table events as
        select
            'ev' || range as event_id,
            'SEC' || lpad(cast(cast(floor(random() * {args.securities}) as integer) as varchar), 5, '0')
                as security_id,
            cast(floor(random() * {args.sessions}) as integer) as event_session_index,
            random() * 0.001 as alpha,
            0.5 + random() as beta
        from range({args.events})
    """)
    con.execute(f"create table old_events as select * from events order by event_id limit {args.old_events}")


UNSHOWN_OPERATORS = ("RESULT_COLLECTOR", "EXPLAIN_ANALYZE", "PROJECTION")


def operators(node: dict, depth: int = 0):
    """(depth, operator node) of the plan, top down, without the operators that only pass rows on."""
    shown = node["name"] not in UNSHOWN_OPERATORS
    if shown:
        yield depth, node
    for child in node.get("children", []):
        yield from operators(child, depth + shown)


def explain_analyze(con: duckdb.DuckDBPyConnection, table: str, sql: str) -> dict:
    """Runs CREATE TABLE table AS sql under EXPLAIN ANALYZE; returns the profile."""
    started = time.perf_counter()
    (_, plan), = con.execute(f"explain (analyze, format json) create table {table} as {sql}").fetchall()
    profile = json.loads(plan)
    profile["wall_seconds"] = time.perf_counter() - started
    return profile


def report(name: str, profile: dict) -> str:
    """A section: the join operators, times, and the plan without projections (rows, seconds per operator)."""
    lines = []
    for depth, node in operators(profile["operator"][0]):
        info = node.get("extra_info", {})
        detail = "; ".join(f"{key}: {info[key]}" for key in ("Join Type", "Conditions", "Groups", "Table")
                           if key in info)
        lines.append(f"{'  ' * depth + node['name']:<30} {node['intermediate_rows']:>13,} rows "
                     f"{node['timing']:8.2f} s  {detail}")
    joins = sorted({node["name"] for _, node in operators(profile["operator"][0]) if "JOIN" in node["name"]})
    peak_mib = profile["system"]["peak_buffer_memory"] / 2**20
    header = (f"### {name}\n\njoin operators: {', '.join(joins)}; wall {profile['wall_seconds']:.2f} s, "
              f"CPU {profile['query']['cpu_time']:.2f} s, peak buffer memory {peak_mib:,.0f} MiB\n")
    return header + "\n```\n" + "\n".join(lines) + "\n```\n"


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            return next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def differing_rows(con: duckdb.DuckDBPyConnection, left: str, right: str) -> tuple[int, int]:
    count = "select count(*) from (select * from {} except all select * from {})"
    return (con.execute(count.format(left, right)).fetchone()[0],
            con.execute(count.format(right, left)).fetchone()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=2520, help="sessions of the calendar (10 years)")
    parser.add_argument("--documents", type=int, default=500_000)
    parser.add_argument("--securities", type=int, default=5_000)
    parser.add_argument("--events", type=int, default=500_000, help="(event, linked security) rows")
    parser.add_argument("--old-events", type=int, help="events the old window sums run on (default: all)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory-limit", default="4GB")
    args = parser.parse_args()
    args.old_events = args.events if args.old_events is None else min(args.old_events, args.events)

    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    con.execute(f"set threads = {args.threads}")
    con.execute(f"set memory_limit = '{args.memory_limit}'")
    con.execute(f"set temp_directory = '{tempfile.mkdtemp(prefix='newsimpact-plans-')}'")
    started = time.perf_counter()
    build_tables(con, args)
    build_seconds = time.perf_counter() - started

    sections = []
    profile = explain_analyze(con, "aligned_old", ALIGN_OLD)
    sections.append(report(f"Alignment, old: inequality join + min ({args.documents:,} documents)", profile))
    profile = explain_analyze(con, "aligned_new", ALIGN_NEW)
    sections.append(report(f"Alignment, new: ASOF join ({args.documents:,} documents)", profile))
    aligned_diff = differing_rows(con, "aligned_old", "aligned_new")

    profile = explain_analyze(con, "windows_old", WINDOWS_OLD.format(events="old_events"))
    sections.append(report(f"Window sums, old: session range ({args.old_events:,} events x 4 windows)", profile))
    if args.old_events < args.events:
        profile = explain_analyze(con, "windows_new_subset", WINDOWS_NEW.format(events="old_events"))
        sections.append(report(f"Window sums, new: exact keys ({args.old_events:,} events x 4 windows)", profile))
    profile = explain_analyze(con, "windows_new", WINDOWS_NEW.format(events="events"))
    sections.append(report(f"Window sums, new: exact keys ({args.events:,} events x 4 windows)", profile))
    profile = explain_analyze(con, "window_overlaps", OVERLAPS)
    sections.append(report(f"Window overlaps, unchanged ({args.events:,} events x 4 windows)", profile))
    windows_diff = differing_rows(
        con, "windows_old", "windows_new_subset" if args.old_events < args.events else "windows_new")

    counts = {table: con.execute(f"select count(*) from {table}").fetchone()[0]
              for table in ("sessions", "documents", "daily", "events", "aligned_new", "windows_new")}
    print(f"Machine: {cpu_model()}, {os.cpu_count()} CPUs visible, "
          f"DuckDB {duckdb.__version__}, threads {args.threads}, memory_limit {args.memory_limit}; "
          f"synthetic tables built in {build_seconds:.1f} s.\n")
    print("Rows: " + ", ".join(f"{table} {count:,}" for table, count in counts.items()) + "\n")
    print(f"Same rows, old vs new (EXCEPT ALL old-new / new-old): alignment {aligned_diff}, "
          f"window sums on {args.old_events:,} events {windows_diff}\n")
    print("\n".join(sections))


if __name__ == "__main__":
    main()
