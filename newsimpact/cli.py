"""`newsimpact run|check|dev --config PATH`: the pipeline, its checks, or the Dagster UI."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from newsimpact.config import ConfigError, Settings, load_settings

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="newsimpact", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    for name, help_text in (
        ("run", "ingest, build every model and run every check; prints a summary"),
        ("check", "run the Great Expectations suites on the warehouse as it is"),
        ("dev", "open the Dagster UI (dagster dev) on this config, bound to 127.0.0.1"),
    ):
        command = commands.add_parser(name, help=help_text)
        command.add_argument("--config", default="newsimpact.toml", type=Path,
                             help="TOML config (default: ./newsimpact.toml)")
        if name == "dev":
            command.add_argument("--port", default=3000, type=int)
        else:
            command.add_argument("--log-level", default="WARNING",
                                 choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                                 help="Dagster event log shown while running (default: WARNING)")
    args = parser.parse_args(argv)

    try:
        settings = load_settings(args.config)
    except ConfigError as error:
        print(f"newsimpact: config error: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "dev":
        return _dagster_dev(settings, args.port)
    from orchestration.definitions import PIPELINE_JOB, QUALITY_JOB  # Dagster imports are slow

    return _execute(settings, PIPELINE_JOB if args.command == "run" else QUALITY_JOB, args.log_level)


def _execute(settings: Settings, job_name: str, log_level: str) -> int:
    from newsimpact.summary import RunSummary, instance_for
    from orchestration.definitions import build_definitions

    job = build_definitions(settings).resolve_job_def(job_name)
    with instance_for(settings) as instance:
        result = job.execute_in_process(
            instance=instance,
            raise_on_error=False,
            run_config={"loggers": {"console": {"config": {"log_level": log_level}}}},
        )
    summary = RunSummary.collect(settings, result)
    print(summary.render())
    return EXIT_OK if summary.succeeded else EXIT_FAILED


def _dagster_dev(settings: Settings, port: int) -> int:
    from newsimpact.summary import prepare_dagster_home

    environment = {
        **os.environ,
        "DAGSTER_HOME": str(prepare_dagster_home(settings)),
        "NEWSIMPACT_CONFIG": str(settings.config_path),
    }
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "dev", "-m", "orchestration.definitions", "-h", "127.0.0.1", "-p", str(port)]
    return subprocess.call(command, env=environment)
