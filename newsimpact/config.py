"""The TOML configuration (`docs/inputs.md` §3) as frozen dataclasses.

The defaults live here and only here: dbt gets them through `EventStudyConfig.dbt_vars()`. A
config error names the file and the key, and is raised before anything is written.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import re
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

# Folder sources are read where they are; pulled sources are fetched into the landing zone first.
NEWS_SOURCE_TYPES = frozenset({"documents", "feed", "gdelt_gkg"})
PRICE_SOURCE_TYPES = frozenset({"csv", "yahoo", "stooq"})
SECURITY_SOURCE_TYPES = frozenset({"sec_company_tickers"})
# Pulled sources whose data is dated: they are partitioned by day (see `[pull] start_date`).
DATED_SOURCE_TYPES = frozenset({"gdelt_gkg", "yahoo", "stooq"})
# Keys each source type accepts besides `type` and `name`, and the defaults of its options.
SOURCE_KEYS: dict[str, frozenset[str]] = {
    "documents": frozenset({"path"}),
    "csv": frozenset({"path"}),
    "feed": frozenset({"urls", "headers_env"}),
    "gdelt_gkg": frozenset({"base_url", "require_company", "headers_env"}),
    "yahoo": frozenset({"base_url", "tickers", "overlap_days", "headers_env"}),
    "stooq": frozenset({"base_url", "tickers", "overlap_days", "headers_env"}),
    "sec_company_tickers": frozenset({"url", "path", "user_agent_env", "headers_env"}),
}
DEFAULT_BASE_URLS = {
    "gdelt_gkg": "http://data.gdeltproject.org/gdeltv2/",
    "yahoo": "https://query1.finance.yahoo.com",
    "stooq": "https://stooq.com",
    "sec_company_tickers": "https://www.sec.gov/files/company_tickers_exchange.json",
}
# SEC asks every client to name itself with a contact ("Sample Company admin@example.com").
DEFAULT_SEC_USER_AGENT_ENV = "NEWSIMPACT_SEC_USER_AGENT"
ENV_NAME_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# A ticker as the price files name it (after upper-casing): it is rendered into SQL, so no quotes.
TICKER_PATTERN = re.compile(r"^[A-Z0-9^][A-Z0-9.\-^=]{0,14}$")
# Bounds of any window, in sessions from day 0 (about 20 years): the calendar built around the
# data reaches this far, so a larger bound would overflow the dates it computes.
MAX_WINDOW_SESSIONS = 5000
SOURCE_NAME_PATTERN = re.compile(r"^[A-Za-z0-9._\[\]-]{1,60}$")  # also a landing folder name
DUCKDB_MAGIC = b"DUCK"  # at byte offset 8 of every DuckDB database file
# A DuckDB memory size as `SET memory_limit` takes it: "2GB", "512 MiB", "1.5GB".
MEMORY_SIZE_PATTERN = re.compile(r"^\d+(\.\d+)?\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)


class ConfigError(ValueError):
    """The configuration file is unreadable or breaks a rule; the message names file and key."""

    def __init__(self, config_path: Path, key: str, problem: str):
        super().__init__(f"{config_path}: [{key}] {problem}")
        self.config_path = config_path
        self.key = key


@dataclass(frozen=True)
class SourceConfig:
    name: str  # unique label, used in audit tables; `news[0]` unless the entry sets `name`
    type: str
    path: Path | None = None  # absolute: a folder (documents, csv) or a file (sec_company_tickers)
    url: str | None = None  # a pulled source's base URL (or the SEC file's URL)
    urls: tuple[str, ...] = ()  # feed URLs
    tickers: tuple[str, ...] = ()  # yahoo / stooq
    overlap_days: int = 5  # yahoo / stooq: sessions re-fetched before the last one stored
    require_company: bool = True  # gdelt_gkg: keep only records naming a known company
    # HTTP header -> name of the environment variable holding its value (secrets stay out of
    # the config, the logs and the warehouse)
    headers_env: tuple[tuple[str, str], ...] = ()

    @property
    def pulled(self) -> bool:
        """Fetched over HTTP into the landing zone (a `sec_company_tickers` file path is not)."""
        return self.path is None

    @property
    def dated(self) -> bool:
        return self.type in DATED_SOURCE_TYPES


@dataclass(frozen=True)
class PullConfig:
    """How pulled sources are fetched: partitions, politeness, retries."""

    start_date: date = date(2026, 1, 1)  # first daily partition of dated sources
    timeout_seconds: float = 30.0
    attempts: int = 4  # tries per request for transient failures (backoff with jitter)
    min_interval_seconds: float = 1.0  # per host
    step_retries: int = 2  # Dagster retries of a source's asset after it failed
    retry_delay_seconds: int = 60


@dataclass(frozen=True)
class EventStudyConfig:
    benchmark: str = "^GSPC"
    calendar: str = "XNYS"
    estimation_window: tuple[int, int] = (-250, -11)
    min_estimation_returns: int = 120
    event_windows: tuple[tuple[int, int], ...] = ((0, 0), (0, 1), (-1, 1), (-5, 5))
    # Relative days of fct_abnormal_return_daily (the data behind CAR plots).
    daily_window: tuple[int, int] = (-10, 10)
    # A story is novel for an entity when no earlier story named it within this many days.
    novelty_days: int = 7
    # A session is clustered when at least this many distinct securities have measured news.
    cluster_min_securities: int = 2

    def dbt_vars(self) -> dict[str, Any]:
        """The dbt project vars that carry this section (see dbt_project.yml)."""
        return {
            "benchmark_ticker": self.benchmark,
            "calendar_code": self.calendar,
            "estimation_window_start": self.estimation_window[0],
            "estimation_window_end": self.estimation_window[1],
            "min_estimation_returns": self.min_estimation_returns,
            "event_windows": [list(window) for window in self.event_windows],
            "daily_window_start": self.daily_window[0],
            "daily_window_end": self.daily_window[1],
            "novelty_days": self.novelty_days,
            "cluster_min_securities": self.cluster_min_securities,
        }

    def suite_parameters(self) -> dict[str, int]:
        """The Great Expectations suite parameters that carry this section."""
        return {
            "min_estimation_returns": self.min_estimation_returns,
            "daily_window_start": self.daily_window[0],
            "daily_window_end": self.daily_window[1],
        }

    @property
    def sessions_reach(self) -> tuple[int, int]:
        """How many sessions (before, after) any dated record the calendar must cover. The two
        sides differ: the estimation window reaches far back, only the windows' ends reach forward,
        and every session past the data is a row of each security's dense series that a night
        recomputes (`int_prices__daily_returns`)."""
        bounds = [
            *self.estimation_window,
            *(bound for window in self.event_windows for bound in window),
            *self.daily_window,
        ]
        return max(0, *(-bound for bound in bounds)), max(0, *bounds)


@dataclass(frozen=True)
class DuckDBConfig:
    """Resources of every DuckDB connection newsimpact opens, and of dbt's."""

    memory_limit: str = "2GB"
    threads: int = field(default_factory=lambda: os.cpu_count() or 1)
    temp_directory: Path | None = None  # where DuckDB spills; None: Settings.state_dir / duckdb_tmp


@dataclass(frozen=True)
class ScheduleConfig:
    cron: str = "0 6 * * *"
    timezone: str = "UTC"


@dataclass(frozen=True)
class Settings:
    config_path: Path
    warehouse_path: Path  # the serving file BI tools open; only ever replaced whole, by publish
    news_sources: tuple[SourceConfig, ...]
    price_sources: tuple[SourceConfig, ...]
    security_sources: tuple[SourceConfig, ...] = ()
    pull: PullConfig = field(default_factory=PullConfig)
    event_study: EventStudyConfig = field(default_factory=EventStudyConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)
    duckdb: DuckDBConfig = field(default_factory=DuckDBConfig)
    keep_builds: int = 3  # published builds kept for `newsimpact rollback`
    config_sha256: str = ""  # of the file's bytes as read, recorded in each published build

    @property
    def state_dir(self) -> Path:
        """Run state kept next to the warehouse: work file, builds, Dagster instance, dbt, logs."""
        return self.warehouse_path.parent / f".{self.warehouse_path.stem}"

    @property
    def duckdb_settings(self) -> dict[str, str | int]:
        """The `[duckdb]` section as DuckDB settings: for `warehouse.connection` and dbt."""
        temp_directory = self.duckdb.temp_directory or self.state_dir / "duckdb_tmp"
        return {
            "memory_limit": self.duckdb.memory_limit,
            "threads": self.duckdb.threads,
            "temp_directory": str(temp_directory),
        }

    @property
    def work_path(self) -> Path:
        """The private DuckDB file every run builds and checks before anything is published."""
        return self.state_dir / "work.duckdb"

    @property
    def builds_dir(self) -> Path:
        """The last `keep_builds` published serving files, newest last by name."""
        return self.state_dir / "builds"

    @property
    def landing_dir(self) -> Path:
        """Every payload pulled, as received: `<source>/<partition>/...` (ingestion.landing)."""
        return self.state_dir / "landing"

    @property
    def all_sources(self) -> tuple[SourceConfig, ...]:
        return self.news_sources + self.price_sources + self.security_sources

    @property
    def pulled_sources(self) -> tuple[SourceConfig, ...]:
        return tuple(source for source in self.all_sources if source.pulled)

    @property
    def logs_dir(self) -> Path:
        return self.state_dir / "logs"

    @property
    def dagster_home(self) -> Path:
        return self.state_dir / "dagster"

    @property
    def dbt_profiles_dir(self) -> Path:
        return self.state_dir / "dbt"

    @property
    def data_docs_dir(self) -> Path:
        return self.warehouse_path.parent / f"{self.warehouse_path.stem}_data_docs"

    @property
    def report_path(self) -> Path:
        """The analyst's HTML report of the served build, next to the serving file."""
        return self.warehouse_path.parent / f"{self.warehouse_path.stem}_report.html"


def load_settings(config_path: str | Path) -> Settings:
    path = Path(config_path).resolve()
    try:
        content = path.read_bytes()
        raw = tomllib.loads(content.decode("utf-8"))
    except (FileNotFoundError, IsADirectoryError):
        raise ConfigError(path, "-", "file not found") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(path, "-", f"not valid TOML: {error}") from None
    return dataclasses.replace(_parse(path, raw), config_sha256=hashlib.sha256(content).hexdigest())


def _parse(path: Path, raw: dict[str, Any]) -> Settings:
    reader = _Reader(path)
    reader.only_keys(
        raw, "", {"warehouse", "sources", "event_study", "schedule", "pull", "duckdb"}
    )

    warehouse = reader.table(raw, "warehouse")
    reader.only_keys(warehouse, "warehouse", {"path", "keep_builds"})
    warehouse_path = reader.resolve(
        reader.string(warehouse, "warehouse", "path", "warehouse/newsimpact.duckdb")
    )
    _check_warehouse_path(path, warehouse_path)
    keep_builds = reader.integer(warehouse, "warehouse", "keep_builds", Settings.keep_builds)
    if not 1 <= keep_builds <= 100:
        raise ConfigError(path, "warehouse.keep_builds", "must be between 1 and 100")

    sources = reader.table(raw, "sources")
    reader.only_keys(sources, "sources", {"news", "prices", "securities"})
    news = reader.sources(sources, "news", NEWS_SOURCE_TYPES, ("documents", "samples/news"))
    prices = reader.sources(sources, "prices", PRICE_SOURCE_TYPES, ("csv", "samples/prices"))
    securities = reader.sources(sources, "securities", SECURITY_SOURCE_TYPES, None)
    names = [source.name for source in news + prices + securities]
    if len(set(names)) != len(names):
        raise ConfigError(path, "sources", f"source names must be unique, got {names}")

    study = reader.table(raw, "event_study")
    reader.only_keys(
        study,
        "event_study",
        {"benchmark", "calendar", "estimation_window", "min_estimation_returns", "event_windows",
         "daily_window", "novelty_days", "cluster_min_securities"},
    )
    defaults = EventStudyConfig()
    estimation_window = reader.window(
        study, "event_study.estimation_window", "estimation_window", defaults.estimation_window
    )
    if estimation_window[1] >= 0:
        raise ConfigError(path, "event_study.estimation_window", "must end before day 0")
    _check_bounds(path, "event_study.estimation_window", estimation_window)
    min_returns = reader.integer(
        study, "event_study", "min_estimation_returns", defaults.min_estimation_returns
    )
    if not 3 <= min_returns <= estimation_window[1] - estimation_window[0] + 1:
        raise ConfigError(
            path,
            "event_study.min_estimation_returns",
            "must be at least 3 and at most the estimation window's length",
        )
    raw_windows = study.get("event_windows", [list(w) for w in defaults.event_windows])
    if not isinstance(raw_windows, list) or not raw_windows:
        raise ConfigError(path, "event_study.event_windows", "must be a non-empty list of [start, end]")
    event_windows = tuple(
        reader.window({"w": item}, f"event_study.event_windows[{index}]", "w", None)
        for index, item in enumerate(raw_windows)
    )
    for index, window in enumerate(event_windows):
        _check_bounds(path, f"event_study.event_windows[{index}]", window)
    if len(set(event_windows)) != len(event_windows):
        raise ConfigError(path, "event_study.event_windows", "windows must be distinct")
    if any(start <= estimation_window[1] for start, _ in event_windows):
        raise ConfigError(
            path, "event_study.event_windows", "windows must start after the estimation window"
        )
    daily_window = reader.window(
        study, "event_study.daily_window", "daily_window", defaults.daily_window
    )
    _check_bounds(path, "event_study.daily_window", daily_window)
    benchmark = reader.string(study, "event_study", "benchmark", defaults.benchmark).upper()
    if not TICKER_PATTERN.match(benchmark):
        raise ConfigError(
            path,
            "event_study.benchmark",
            f"not a ticker: {benchmark!r} (letters, digits and . - ^ =, at most 15 characters)",
        )
    novelty_days = reader.integer(study, "event_study", "novelty_days", defaults.novelty_days)
    if not 1 <= novelty_days <= 3650:
        raise ConfigError(path, "event_study.novelty_days", "must be between 1 and 3650 days")
    cluster_min_securities = reader.integer(
        study, "event_study", "cluster_min_securities", defaults.cluster_min_securities
    )
    if not 2 <= cluster_min_securities <= 10000:
        raise ConfigError(
            path, "event_study.cluster_min_securities", "must be between 2 and 10000 securities"
        )
    event_study = EventStudyConfig(
        benchmark=benchmark,
        calendar=reader.string(study, "event_study", "calendar", defaults.calendar).upper(),
        estimation_window=estimation_window,
        min_estimation_returns=min_returns,
        event_windows=event_windows,
        daily_window=daily_window,
        novelty_days=novelty_days,
        cluster_min_securities=cluster_min_securities,
    )
    _check_calendar(path, event_study.calendar)

    pull = _parse_pull(reader, reader.table(raw, "pull"))
    duckdb_config = _parse_duckdb(reader, reader.table(raw, "duckdb"))

    schedule = reader.table(raw, "schedule")
    reader.only_keys(schedule, "schedule", {"cron", "timezone"})
    cron = reader.string(schedule, "schedule", "cron", ScheduleConfig.cron)
    timezone = reader.string(schedule, "schedule", "timezone", ScheduleConfig.timezone)
    _check_schedule(path, cron, timezone)
    return Settings(
        config_path=path,
        warehouse_path=warehouse_path,
        news_sources=news,
        price_sources=prices,
        security_sources=securities,
        pull=pull,
        event_study=event_study,
        keep_builds=keep_builds,
        schedule=ScheduleConfig(cron=cron, timezone=timezone),
        duckdb=duckdb_config,
    )


def _parse_pull(reader: _Reader, pull: dict[str, Any]) -> PullConfig:
    defaults = PullConfig()
    reader.only_keys(pull, "pull", {field.name for field in dataclasses.fields(PullConfig)})
    start = pull.get("start_date", defaults.start_date)
    if not isinstance(start, date) or isinstance(start, datetime):
        raise reader.fail("pull.start_date", "must be a date (YYYY-MM-DD, unquoted)")
    numbers = {}
    for name, low, high in (
        ("timeout_seconds", 0.1, 600), ("attempts", 1, 20), ("min_interval_seconds", 0, 3600),
        ("step_retries", 0, 10), ("retry_delay_seconds", 0, 3600),
    ):
        value = pull.get(name, getattr(defaults, name))
        if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
            raise reader.fail(f"pull.{name}", f"must be a number from {low} to {high}")
        if isinstance(getattr(defaults, name), int) and not isinstance(value, int):
            raise reader.fail(f"pull.{name}", "must be an integer")
        numbers[name] = value
    return PullConfig(start_date=start, **numbers)


def _parse_duckdb(reader: _Reader, section: dict[str, Any]) -> DuckDBConfig:
    defaults = DuckDBConfig()
    reader.only_keys(section, "duckdb", {"memory_limit", "threads", "temp_directory"})
    memory_limit = reader.string(section, "duckdb", "memory_limit", defaults.memory_limit)
    if not MEMORY_SIZE_PATTERN.match(memory_limit):
        raise reader.fail(
            "duckdb.memory_limit",
            f"not a memory size: {memory_limit!r} (a number and a unit: B, KB, MB, GB, TB, KiB, "
            "MiB, GiB, TiB, e.g. \"2GB\")",
        )
    threads = reader.integer(section, "duckdb", "threads", defaults.threads)
    if not 1 <= threads <= 1024:
        raise reader.fail("duckdb.threads", "must be between 1 and 1024")
    temp_directory = None
    if "temp_directory" in section:
        temp_directory = reader.resolve(reader.string(section, "duckdb", "temp_directory", ""))
        if temp_directory.exists() and not temp_directory.is_dir():
            raise reader.fail("duckdb.temp_directory", f"is a file, not a folder: {temp_directory}")
    return DuckDBConfig(memory_limit=memory_limit, threads=threads, temp_directory=temp_directory)


def _check_bounds(path: Path, key: str, window: tuple[int, int]) -> None:
    if any(abs(bound) > MAX_WINDOW_SESSIONS for bound in window):
        raise ConfigError(
            path, key, f"bounds must be within ±{MAX_WINDOW_SESSIONS} sessions of day 0, got {list(window)}"
        )


def _check_warehouse_path(path: Path, warehouse: Path) -> None:
    """The serving file's folder must be writable (run state lives beside it), and the path must
    be a DuckDB file or nothing yet: never a folder or someone else's file."""
    key = "warehouse.path"
    if warehouse.is_dir():
        raise ConfigError(path, key, f"is a folder, not a DuckDB file: {warehouse}")
    if warehouse.exists() or warehouse.is_symlink():
        try:
            with warehouse.open("rb") as file:
                header = file.read(12)
        except OSError as error:
            raise ConfigError(path, key, f"cannot read {warehouse}: {error.strerror}") from None
        if header[8:12] != DUCKDB_MAGIC:
            raise ConfigError(path, key, f"exists and is not a DuckDB file: {warehouse}")
    state = warehouse.parent / f".{warehouse.stem}"  # Settings.state_dir
    if state.exists() and not state.is_dir():
        raise ConfigError(path, key, f"run state goes in {state}, which is a file, not a folder")
    # the nearest existing ancestor must be a writable folder: the parent is created from it
    folder = warehouse.parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir():
        raise ConfigError(path, key, f"{folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(path, key, f"folder not writable: {folder}")


def _check_schedule(path: Path, cron: str, timezone: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from dagster._utils.schedules import is_valid_cron_string

    if not is_valid_cron_string(cron):
        raise ConfigError(path, "schedule.cron", f"not a valid cron expression: {cron!r}")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # "America" is a folder of zones
        raise ConfigError(path, "schedule.timezone", f"unknown time zone {timezone!r}") from None


def _check_calendar(path: Path, code: str) -> None:
    import exchange_calendars  # heavy import, only needed to validate the name

    if code not in exchange_calendars.get_calendar_names(include_aliases=True):
        raise ConfigError(path, "event_study.calendar", f"unknown exchange calendar {code!r}")


class _Reader:
    """Typed access to the parsed TOML that names file and key in every error."""

    def __init__(self, path: Path):
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(self.path, key, problem)

    def only_keys(self, table: dict[str, Any], where: str, allowed: set[str]) -> None:
        unknown = sorted(set(table) - allowed)
        if unknown:
            key = f"{where}.{unknown[0]}" if where else unknown[0]
            raise self.fail(key, f"unknown key; allowed: {', '.join(sorted(allowed))}")

    def table(self, raw: dict[str, Any], key: str) -> dict[str, Any]:
        value = raw.get(key, {})
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table")
        return value

    def string(self, table: dict[str, Any], where: str, key: str, default: str) -> str:
        value = table.get(key, default)
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"{where}.{key}", "must be a non-empty string")
        return value.strip()

    def integer(self, table: dict[str, Any], where: str, key: str, default: int) -> int:
        value = table.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(f"{where}.{key}", "must be an integer")
        return value

    def window(
        self, table: dict[str, Any], full_key: str, key: str, default: tuple[int, int] | None
    ) -> tuple[int, int]:
        value = table.get(key, default)
        if (
            not isinstance(value, (list, tuple))
            or len(value) != 2
            or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
            or value[0] > value[1]
        ):
            raise self.fail(full_key, "must be [start, end] with integers start <= end")
        return (value[0], value[1])

    def resolve(self, relative: str) -> Path:
        return (self.path.parent / relative).resolve()

    def sources(
        self,
        sources: dict[str, Any],
        kind: str,
        allowed_types: frozenset[str],
        default: tuple[str, str] | None,
    ) -> tuple[SourceConfig, ...]:
        fallback = [] if default is None else [{"type": default[0], "path": default[1]}]
        entries = sources.get(kind, fallback)
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise self.fail(f"sources.{kind}", "must be an array of tables ([[sources.%s]])" % kind)
        return tuple(
            self.source(entry, f"sources.{kind}[{index}]", f"{kind}[{index}]", allowed_types)
            for index, entry in enumerate(entries)
        )

    def source(
        self, entry: dict[str, Any], where: str, default_name: str, allowed_types: frozenset[str]
    ) -> SourceConfig:
        source_type = self.string(entry, where, "type", "")
        if source_type not in allowed_types:
            raise self.fail(
                f"{where}.type",
                f"unknown source type {source_type!r}; supported: {', '.join(sorted(allowed_types))}",
            )
        self.only_keys(entry, where, {"type", "name", *SOURCE_KEYS[source_type]})
        name = self.string(entry, where, "name", default_name)
        if not SOURCE_NAME_PATTERN.match(name):
            raise self.fail(f"{where}.name", f"{name!r}: letters, digits and . _ - [ ] only, at most 60")
        options: dict[str, Any] = {"name": name, "type": source_type}
        if source_type in ("documents", "csv"):
            folder = self.resolve(self.string(entry, where, "path", ""))
            if not folder.is_dir():
                raise self.fail(f"{where}.path", f"folder not found: {folder}")
            options["path"] = folder
        elif source_type == "sec_company_tickers" and "path" in entry:
            if "url" in entry:
                raise self.fail(f"{where}.path", "give either path (a local file) or url, not both")
            file = self.resolve(self.string(entry, where, "path", ""))
            if not file.is_file():
                raise self.fail(f"{where}.path", f"file not found: {file}")
            options["path"] = file
        elif source_type == "feed":
            urls = entry.get("urls")
            if not isinstance(urls, list) or not urls:
                raise self.fail(f"{where}.urls", "must be a non-empty list of http(s) URLs")
            options["urls"] = tuple(
                self.http_url(url, f"{where}.urls[{index}]") for index, url in enumerate(urls)
            )
        else:
            key = "url" if source_type == "sec_company_tickers" else "base_url"
            options["url"] = self.http_url(
                entry.get(key, DEFAULT_BASE_URLS[source_type]), f"{where}.{key}"
            )
        if source_type in ("yahoo", "stooq"):
            tickers = entry.get("tickers")
            if not isinstance(tickers, list) or not tickers or not all(
                isinstance(t, str) and TICKER_PATTERN.match(t.upper()) for t in tickers
            ):
                raise self.fail(f"{where}.tickers", "must be a non-empty list of tickers")
            options["tickers"] = tuple(dict.fromkeys(t.upper() for t in tickers))
            options["overlap_days"] = self.integer(entry, where, "overlap_days", 5)
            if not 0 <= options["overlap_days"] <= 60:
                raise self.fail(f"{where}.overlap_days", "must be between 0 and 60")
        if source_type == "gdelt_gkg":
            require = entry.get("require_company", True)
            if not isinstance(require, bool):
                raise self.fail(f"{where}.require_company", "must be true or false")
            options["require_company"] = require
        headers = dict(self.headers_env(entry.get("headers_env", {}), f"{where}.headers_env"))
        if source_type == "sec_company_tickers" and "path" not in options:
            variable = entry.get("user_agent_env", DEFAULT_SEC_USER_AGENT_ENV)
            headers["User-Agent"] = self.env_name(variable, f"{where}.user_agent_env")
        options["headers_env"] = tuple(sorted(headers.items()))
        return SourceConfig(**options)

    def http_url(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not re.match(r"^https?://[^\s/]+", value):
            raise self.fail(key, f"not an http(s) URL: {value!r}")
        return value

    def env_name(self, value: Any, key: str) -> str:
        if not isinstance(value, str) or not ENV_NAME_PATTERN.match(value):
            raise self.fail(key, "must name an environment variable (letters, digits, _)")
        return value

    def headers_env(self, value: Any, key: str) -> list[tuple[str, str]]:
        """`{ "X-Api-Key" = "PROVIDER_API_KEY" }`: header names and the variables holding them."""
        if not isinstance(value, dict):
            raise self.fail(key, "must be a table of header name = environment variable name")
        for header, variable in value.items():
            if not re.match(r"^[A-Za-z0-9-]{1,64}$", header):
                raise self.fail(key, f"not an HTTP header name: {header!r}")
            self.env_name(variable, f"{key}.{header}")
        return sorted(value.items())
