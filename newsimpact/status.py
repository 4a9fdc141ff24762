"""`newsimpact status`: what BI users are served, what is kept, and how the last run went."""

from __future__ import annotations

from datetime import UTC, datetime

from newsimpact.config import Settings
from newsimpact.run_seal import sealed_at
from newsimpact.runs import instance_for
from newsimpact.summary import age
from warehouse.publish import list_builds, read_build_info


def render_status(settings: Settings) -> str:
    lines = [f"Serving file: {settings.warehouse_path}"]
    served = (
        read_build_info(settings.warehouse_path, settings.duckdb_settings)
        if settings.warehouse_path.exists()
        else None
    )
    if served is None:
        lines.append("  nothing published yet: run `newsimpact run`")
    else:
        lines += [
            f"  build {served['build_id']} (run {served['run_id']}), published {age(served['built_at'])}",
            f"  config {served['config_path']} (sha256 {str(served['config_sha256'])[:12]}), "
            f"benchmark {served['benchmark']}, calendar {served['calendar']}",
        ]
    builds = list_builds(settings.builds_dir)
    lines += ["", f"Kept builds ({len(builds)} of at most {settings.keep_builds}; "
              "`newsimpact rollback --to BUILD_ID` serves one):"]
    lines += [
        f"  {build.stem}{'  <- served' if served and build.stem == served['build_id'] else ''}"
        for build in reversed(builds)
    ]
    with instance_for(settings) as instance:
        records = instance.get_run_records(limit=1)
    if records:
        record = records[0]
        finished = record.end_time or record.start_time
        when = f", finished {age(datetime.fromtimestamp(finished, UTC))}" if finished else ""
        lines += ["", f"Last run: {record.dagster_run.run_id} {record.dagster_run.job_name} "
                  f"{record.dagster_run.status.value}{when}"]
    else:
        lines += ["", "Last run: none yet"]
    sealed = sealed_at(settings)
    if sealed is not None:
        lines.append(f"Sealed {age(sealed)}: a `newsimpact run` with nothing new since returns "
                     "at once (docs/incremental.md)")
    return "\n".join(lines)
