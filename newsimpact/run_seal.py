"""A run with nothing new returns before the pipeline starts (docs/incremental.md).

A `newsimpact run` that succeeds seals what it read and what it left: a digest of its inputs (the
config, newsimpact's code and the dbt project's, the installed packages, and every file under each
source's folder by path, size and modification time), listed before the run started, and a
digest of its outputs (the work file, the serving file and the report by size, modification time
and inode, and Dagster's run records), taken after it finished. The next run whose inputs and
outputs still match the seal would read the same files into the same warehouse: it says so and
returns, without starting Dagster, dbt or DuckDB, in about the time it takes to list the sources.

Anything else breaks the seal and the run goes through the pipeline, which decides what to
recompute: a new, changed or deleted file, another config, an upgrade, a rollback, any Dagster run
since (from the UI, a sensor or the schedule), a run that failed or is under way (a run removes the
seal before it starts), a source that failed to pull, or a file the ingestion still has to re-read.

`newsimpact serve`'s nightly schedule asks the same question (orchestration/nightly.py): it
skips the night while the seal holds, tags the run it starts with the inputs it listed, and a run
status sensor seals that run once Dagster records its success.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import json
import os
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from newsimpact.config import Settings

if TYPE_CHECKING:
    import polars as pl

SEAL_FILE = "run_seal.json"
# On a run the nightly schedule starts: the inputs digest it listed, for the seal after the run
SEAL_INPUTS_TAG = "newsimpact/seal_inputs"
# newsimpact's own packages: a reader, loader, check or asset changed is a changed input
_PACKAGES = ("newsimpact", "ingestion", "warehouse", "orchestration")


def inputs_digest(settings: Settings, listings: dict[Path, pl.DataFrame] | None = None) -> str:
    """sha256 over everything a run reads. List it before the run: a file that lands while the
    run is under way is then new to the next one. `listings` receives each source folder's
    listing, for the run's ingestion to take (`ingestion.quarantine.reuse_listings`)."""
    from ingestion.quarantine import list_folder
    from warehouse.incremental import DBT_PROJECT_DIR, project_code_files

    digest = hashlib.sha256()
    digest.update(repr(settings).encode())
    for path in [*code_files(), *project_code_files(DBT_PROJECT_DIR)]:
        digest.update(f"\0{path}\0".encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    packages = sorted(
        f"{dist.metadata['Name']}=={dist.version}" for dist in importlib.metadata.distributions()
    )
    digest.update("\0".join(packages).encode())
    for source in settings.all_sources:
        folder = settings.landing_dir / source.name if source.pulled else source.path
        digest.update(f"\0source {source.name} {folder}\0".encode())
        if folder.is_file():
            digest.update(repr(_stat(folder)).encode())
            continue
        listed = list_folder(folder, ("",))  # every file: a superset of what is read
        if listings is not None:
            listings[folder] = listed
        digest.update("\0".join(listed["file_path"]).encode())
        for column in ("file_size", "file_mtime_ns", "is_link"):
            digest.update(listed[column].to_numpy().tobytes())
    return digest.hexdigest()


def sealed_build(settings: Settings, inputs: str) -> str | None:
    """The build the last run served, if its seal holds for `inputs` and the outputs as they are."""
    seal = _seal_of_these_outputs(settings)
    return seal["build_id"] if seal.get("inputs") == inputs else None


def unchanged_message(build: str) -> str:
    """What a run or a schedule tick that the seal stops says."""
    return (f"nothing changed since the last run (sources, config, code): build {build} stays "
            "published")


def sealed_at(settings: Settings) -> datetime | None:
    """When the last run sealed, if its seal still holds for the outputs (inputs aside: listing
    them is a run's job)."""
    seal = _seal_of_these_outputs(settings)
    return datetime.fromisoformat(seal["sealed_at"]) if seal else None


def _seal_of_these_outputs(settings: Settings) -> dict:
    """The last seal if the outputs are still those it recorded, else {}."""
    try:
        seal = json.loads((settings.state_dir / SEAL_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    outputs = _outputs_digest(settings)
    return seal if outputs is not None and seal.get("outputs") == outputs else {}


def break_seal(settings: Settings) -> None:
    (settings.state_dir / SEAL_FILE).unlink(missing_ok=True)


def write_seal(settings: Settings, inputs: str) -> bool:
    """Seal a run that succeeded and served a build, unless the ingestion left files to re-read
    (the next run must read them). Returns whether it sealed; a file it cannot open (a reader
    holding it for writing) only costs the next run its shortcut."""
    import duckdb

    from warehouse.connection import connect
    from warehouse.publish import read_build_info

    try:
        served = read_build_info(settings.warehouse_path, settings.duckdb_settings)
        if served is None or not settings.report_path.exists():
            return False
        with connect(settings.work_path, settings.duckdb_settings, read_only=True) as connection:
            (to_reread,) = connection.execute(
                "SELECT count(*) FROM audit.ingested_files WHERE needs_reread"
            ).fetchone()
    except duckdb.Error:
        return False
    outputs = _outputs_digest(settings)
    if to_reread or outputs is None:
        return False
    seal = {
        "inputs": inputs,
        "outputs": outputs,
        "build_id": served["build_id"],
        "sealed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    partial = settings.state_dir / (SEAL_FILE + ".partial")
    partial.write_text(json.dumps(seal, indent=1) + "\n", encoding="utf-8")
    partial.replace(settings.state_dir / SEAL_FILE)
    return True


def _outputs_digest(settings: Settings) -> str | None:
    """None when Dagster's run records cannot be read: then no seal holds."""
    wal = settings.work_path.with_name(settings.work_path.name + ".wal")
    files = (settings.work_path, wal, settings.warehouse_path, settings.report_path)
    try:
        runs = _dagster_runs(settings.dagster_home / "history" / "runs.db")
    except sqlite3.Error:
        return None
    return hashlib.sha256(repr([[_stat(path) for path in files], runs]).encode()).hexdigest()


def _dagster_runs(database: Path) -> tuple | None:
    """How many runs Dagster has recorded and when one last changed: any run since the seal, even
    one killed before it touched the work file (it leaves a started run for the next pipeline run
    to fail). The runs, not the file: `newsimpact serve`'s daemon writes its heartbeats there."""
    if not database.exists():
        return None
    connection = sqlite3.connect(f"{database.resolve().as_uri()}?mode=ro", uri=True, timeout=5)
    try:
        return connection.execute(
            "SELECT count(*), max(id), max(update_timestamp) FROM runs"
        ).fetchone()
    finally:
        connection.close()


def _stat(path: Path) -> tuple[int, int, int] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return info.st_size, info.st_mtime_ns, info.st_ino


def code_files() -> list[Path]:
    """newsimpact's own code: the modules of its packages and the Great Expectations suites.
    Nothing else in their folders: the sample config's warehouse, its run state and Data Docs
    live in the `warehouse` package's folder of a clone."""
    from warehouse.quality.runner import SUITES_DIR

    files: list[Path] = []
    for package in _PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError(f"newsimpact's package {package!r} is not installed")
        for root in spec.submodule_search_locations:
            for folder, folders, names in os.walk(root):
                folders[:] = sorted(name for name in folders
                                    if name != "__pycache__" and not name.startswith("."))
                files += [Path(folder) / name for name in sorted(names) if name.endswith(".py")]
    return files + sorted(path for path in SUITES_DIR.rglob("*") if path.is_file())
