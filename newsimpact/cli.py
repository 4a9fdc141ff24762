"""`newsimpact run|check|status|rollback|report|serve|dev|dbt-vars --config PATH`."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

from newsimpact.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_STALE = 0, 1, 2, 3
DEFINITIONS_MODULE = "orchestration.definitions"
_COMMANDS = {
    "run": "pull the latest day of every pulled source, then ingest, build and check everything "
    "in the work file, then publish the serving file",
    "backfill": "pull the days --from..--to of every dated source (and the undated ones), then "
    "build and publish once",
    "check": "run the Great Expectations suites on the work file as it is",
    "status": "show the published build, its age, the kept builds and the last run's outcome",
    "rollback": "serve the previously published build again (or the one given with --to)",
    "report": "write the analyst's HTML report (offline, self-contained) of the served build",
    "serve": "run the Dagster daemon (the nightly schedule) and UI on 127.0.0.1, quietly",
    "dev": "open the Dagster UI in development mode (dagster dev), bound to 127.0.0.1",
    "dbt-vars": "print the dbt vars of this config, for running dbt by hand",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="newsimpact", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in _COMMANDS.items():
        command = commands.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--config", default="newsimpact.toml", type=Path,
                             help="TOML config (default: ./newsimpact.toml)")
        if name in ("run", "check", "backfill"):
            command.add_argument("--verbose", action="store_true",
                                 help="print dbt's log and Dagster's events instead of progress")
        if name == "run":
            command.add_argument("--offline", action="store_true",
                                 help="pull nothing: build from what the landing zone holds")
        if name in ("run", "backfill"):
            command.add_argument("--full-refresh", action="store_true",
                                 help="rebuild every incremental model from scratch")
        if name == "backfill":
            command.add_argument("--from", dest="first", required=True, type=_day,
                                 metavar="YYYY-MM-DD")
            command.add_argument("--to", dest="last", required=True, type=_day,
                                 metavar="YYYY-MM-DD")
        if name in ("serve", "dev"):
            command.add_argument("--port", default=3000, type=int)
        if name == "rollback":
            command.add_argument("--to", metavar="BUILD_ID",
                                 help="a kept build (see `newsimpact status`)")
        if name == "report":
            command.add_argument("--output", type=Path,
                                 help="where to write it (default: next to the serving file, "
                                 "<name>_report.html)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"newsimpact: config error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    match args.command:
        case "run":
            days = None if args.offline else "latest"
            return _execute(settings, "run", args.verbose, days, args.full_refresh)
        case "check":
            return _execute(settings, "check", args.verbose, None)
        case "backfill":
            if args.first > args.last:
                print("newsimpact backfill: --from is after --to", file=sys.stderr)
                return EXIT_CONFIG
            return _execute(settings, "run", args.verbose, (args.first, args.last), args.full_refresh)
        case "status":
            from newsimpact.status import render_status

            print(render_status(settings))
            return EXIT_OK
        case "rollback":
            return _rollback(settings, args.to)
        case "report":
            return _report(settings, args.output)
        case "serve" | "dev":
            return _dagster(settings, args.command, args.port)
        case "dbt-vars":
            print(json.dumps(settings.event_study.dbt_vars()))
            return EXIT_OK
    raise AssertionError(args.command)


def _execute(
    settings: Settings,
    command: str,
    verbose: bool,
    days: str | tuple[date, date] | None,
    full_refresh: bool = False,
) -> int:
    """Pull (`days`: "latest", a (first, last) range, or None for nothing), then build.

    Exit 0: published, or nothing changed since the last run (`newsimpact.run_seal`); 1: nothing
    published (a gate or step failed); 3: published, but a source failed to pull (its data is
    stale; the summary says which)."""
    from newsimpact import run_seal

    seals = command == "run"
    pulls_due = days is not None and bool(settings.pulled_sources)
    inputs = None
    listings = {}  # the sources' listings the seal takes: the ingestion does not list them again
    if seals and not pulls_due:  # after a pull, the pipeline decides what changed
        started = time.perf_counter()
        inputs = run_seal.inputs_digest(settings, listings)
        if not full_refresh and (build := run_seal.sealed_build(settings, inputs)):
            return _unchanged(settings, build, time.perf_counter() - started)
    run_seal.break_seal(settings)

    from ingestion.quarantine import reuse_listings
    from newsimpact.runs import instance_for, prune_logs
    from newsimpact.summary import RunSummary
    from newsimpact.timings import collect_timings, write_last_run
    from orchestration.dbt.assets import FULL_REFRESH_TAG
    from orchestration.dbt.project import prepare_dbt_project
    from orchestration.definitions import PIPELINE_JOB, PULL_JOB, QUALITY_JOB, build_definitions
    from orchestration.pull.assets import partition_keys

    prepare_dbt_project()
    definitions = build_definitions(settings, verbose=verbose)
    job = definitions.resolve_job_def(PIPELINE_JOB if command == "run" else QUALITY_JOB)
    loggers = {"console": {"config": {"log_level": "INFO"}}} if verbose else {"progress": {}}
    run_config = {"loggers": loggers}
    pulls = []
    with instance_for(settings) as instance:
        print(f"newsimpact {command}: {settings.config_path}", flush=True)
        if days is not None and settings.pulled_sources:
            pull_job = definitions.resolve_job_def(PULL_JOB)
            for key in partition_keys(settings, days):
                pulls.append(pull_job.execute_in_process(
                    instance=instance, raise_on_error=False, run_config=run_config,
                    partition_key=key,
                ))
        if seals and inputs is None:
            inputs = run_seal.inputs_digest(settings, listings)
        _import_in_background("great_expectations")  # for the first checks, after the ingestion
        with reuse_listings(listings):
            result = job.execute_in_process(
                instance=instance, raise_on_error=False, run_config=run_config,
                tags={FULL_REFRESH_TAG: "true"} if full_refresh else None,
            )
        timings = collect_timings(
            instance, [run.run_id for run in [*pulls, result]], settings
        )
    prune_logs(settings)
    summary = RunSummary.collect(
        settings, result, publishes=command == "run", pulls=pulls, timings=timings
    )
    write_last_run(
        settings.state_dir / "last_run.json", result.run_id,
        "succeeded" if summary.succeeded else "failed", timings,
    )
    print(summary.render())
    if not summary.succeeded:
        return EXIT_FAILED
    if summary.failed_sources:
        return EXIT_STALE
    if seals:
        run_seal.write_seal(settings, inputs)
    return EXIT_OK


def _import_in_background(module: str) -> None:
    """Import `module` on a daemon thread. The first steps spend most of their time in DuckDB and
    Polars, which release the GIL, so an import of a few seconds (Great Expectations: about 2 s)
    overlaps them. A step that imports the module meanwhile waits for this import (Python's
    module lock); an import that fails here is left to fail again there, with its error."""

    def import_module() -> None:
        try:
            importlib.import_module(module)
        except Exception:  # noqa: BLE001 - reported by the step that needs the module
            pass

    threading.Thread(target=import_module, name="import-in-background", daemon=True).start()


def _unchanged(settings: Settings, build: str, seconds: float) -> int:
    """A run whose inputs and outputs are those the last run sealed: nothing to do."""
    from newsimpact.run_seal import unchanged_message
    from newsimpact.timings import RunTimings, StepTime, write_last_run

    print(f"newsimpact run: {settings.config_path}\n{unchanged_message(build)} "
          f"(checked in {seconds:.1f} s; --full-refresh rebuilds anyway)")
    write_last_run(
        settings.state_dir / "last_run.json", None, "unchanged",
        RunTimings((StepTime("unchanged_check", round(seconds, 3)),), round(seconds, 3)),
    )
    return EXIT_OK


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from None


def _rollback(settings: Settings, to: str | None) -> int:
    from newsimpact.runs import RunInProgressError, run_lock
    from warehouse.publish import RollbackError, rollback

    try:
        with run_lock(settings, "rollback"):
            build = rollback(
                settings.warehouse_path, settings.builds_dir, to, settings.duckdb_settings
            )
    except (RollbackError, RunInProgressError) as error:
        print(f"newsimpact rollback: {error}", file=sys.stderr)
        return EXIT_FAILED
    print(f"Serving build {build.stem} at {settings.warehouse_path}")
    return EXIT_OK


def _report(settings: Settings, output: Path | None) -> int:
    from warehouse.report import write_report

    if not settings.warehouse_path.exists():
        print(f"newsimpact report: no build is published yet ({settings.warehouse_path} does not "
              "exist): run `newsimpact run` first", file=sys.stderr)
        return EXIT_FAILED
    report = write_report(
        settings.warehouse_path, output or settings.report_path,
        duckdb_settings=settings.duckdb_settings,
    )
    print(f"Report: {report}")
    return EXIT_OK


def _dagster(settings: Settings, command: str, port: int) -> int:
    """`serve`: one code server, the daemon (schedules) and the webserver as quiet children;
    `dev`: dagster dev."""
    from newsimpact.runs import RunInProgressError, fail_stale_runs, instance_for, run_lock
    from orchestration.dbt.project import prepare_dbt_project

    if command == "serve":  # `dagster dev` prepares the dbt project itself (prepare_if_dev)
        prepare_dbt_project()
    with instance_for(settings) as instance:
        try:  # runs left STARTED by a killed process would keep the queue from launching any
            with run_lock(settings, "serve"):
                fail_stale_runs(instance)
        except RunInProgressError:
            pass  # a live run holds the lock; its own start already cleaned up
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(settings.dagster_home),
        "NEWSIMPACT_CONFIG": str(settings.config_path),
    }
    binaries = Path(sys.executable).parent
    address = ["-h", "127.0.0.1", "-p", str(port)]
    if command == "dev":
        return subprocess.call([str(binaries / "dagster"), "dev", "-m", DEFINITIONS_MODULE,
                                *address], env=environment)
    signal.signal(signal.SIGTERM, _interrupt)  # a service manager's stop: stop every child
    children: list[subprocess.Popen] = []
    try:
        # One code server for the daemon and the UI: left to itself the daemon starts a fresh
        # one every minute (its workspace reload), importing the whole project each time.
        code_port = _free_local_port()
        children.append(subprocess.Popen(
            [str(binaries / "dagster"), "api", "grpc", "-m", DEFINITIONS_MODULE,
             "-h", "127.0.0.1", "-p", str(code_port), "--location-name", DEFINITIONS_MODULE,
             "--log-level", "warning"], env=environment))
        _wait_until_listening(code_port, children[0])
        workspace = settings.state_dir / "workspace.yaml"
        workspace.write_text(json.dumps({"load_from": [{"grpc_server": {
            "host": "127.0.0.1", "port": code_port, "location_name": DEFINITIONS_MODULE}}]}),
            encoding="utf-8")  # JSON is YAML
        children.append(subprocess.Popen(
            [str(binaries / "dagster-daemon"), "run", "-w", str(workspace),
             "--log-level", "warning"], env=environment))
        children.append(subprocess.Popen(
            [str(binaries / "dagster-webserver"), "-w", str(workspace), *address,
             "--log-level", "warning"], env=environment))
        print(f"newsimpact serve: UI on http://127.0.0.1:{port}, nightly schedule "
              f"'{settings.schedule.cron}' ({settings.schedule.timezone}); Ctrl-C stops both.",
              flush=True)
        while all(child.poll() is None for child in children):
            time.sleep(1)
        print("newsimpact serve: a child process stopped; stopping the others.", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        return EXIT_OK
    finally:  # the daemon and the UI first, then the code server they use
        for child in reversed(children):
            if child.poll() is None:
                child.terminate()
            try:
                child.wait(timeout=60)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait()


def _free_local_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_until_listening(port: int, server: subprocess.Popen, timeout: float = 300) -> None:
    """The code server binds its port only once it has loaded the definitions."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"newsimpact serve: the code server exited with {server.returncode} "
                             f"while loading {DEFINITIONS_MODULE}")
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    raise SystemExit(f"newsimpact serve: the code server did not listen within {timeout:.0f} s")


def _interrupt(_signal: int, _frame: object) -> None:
    raise KeyboardInterrupt
