"""One Dagster asset per pulled source: fetch what is new into the landing zone.

Dated sources (GDELT, prices) are partitioned by day; a run fills the days of its partition
range. Each asset has its own retry policy and fails alone: the ingestion and dbt assets are in
another job (`newsimpact_pipeline`), which runs after the pull job whatever its outcome, on what
the landing zone holds.
"""

import os
import re
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import dagster as dg

from ingestion.fetch import FetchOutcome, FetchPolicy, Fetcher, fetch_all
from ingestion.landing import landed_payloads
from ingestion.pull_requests import plan_requests, price_request
from newsimpact.config import Settings, SourceConfig
from orchestration.resources import NewsimpactResource


def landing_key(source_name: str) -> dg.AssetKey:
    """`landing/<source name>`, with the characters Dagster names refuse ([ ] . -) as `_`."""
    return dg.AssetKey(["landing", re.sub(r"[^A-Za-z0-9_]", "_", source_name)])


def daily_partitions(settings: Settings) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=settings.pull.start_date.isoformat())


def fetch_policy(settings: Settings) -> FetchPolicy:
    pull = settings.pull
    return FetchPolicy(
        timeout_seconds=pull.timeout_seconds,
        attempts=pull.attempts,
        min_interval_seconds=pull.min_interval_seconds,
    )


def partition_keys(settings: Settings, days: str | tuple[date, date]) -> list[str]:
    """The day partitions of a CLI run: "latest" (the last complete day) or a range."""
    partitions = daily_partitions(settings)
    if days == "latest":
        last = partitions.get_last_partition_key()
        return [last] if last is not None else []
    first, last = days
    keys = partitions.get_partition_keys()
    wanted = [key for key in keys if first.isoformat() <= key <= last.isoformat()]
    if not wanted:
        raise ValueError(
            f"no day partition between {first} and {last}: partitions run from "
            f"[pull] start_date {settings.pull.start_date} to yesterday"
        )
    return wanted


class MissingSecretError(ValueError):
    pass


def secret_headers(source: SourceConfig) -> dict[str, str]:
    """The source's headers, read from the environment now (never stored or logged)."""
    headers = {}
    for header, variable in source.headers_env:
        value = os.environ.get(variable)
        if not value:
            raise MissingSecretError(
                f"{source.name}: set the environment variable {variable} (sent as the {header} "
                "header; it is never written to the config, the logs or the warehouse)"
            )
        headers[header] = value
    return headers


def pull_source(
    settings: Settings, source: SourceConfig, partitions: list[date], now: datetime
) -> list[FetchOutcome]:
    """Fetch one source's requests for `partitions` into the landing zone."""
    root = settings.landing_dir / source.name
    requests = plan_requests(
        source, partitions=partitions, now=now, landed=landed_payloads(root),
        headers=secret_headers(source),
    )
    with Fetcher(settings.landing_dir, fetch_policy(settings)) as fetcher:
        outcomes = fetch_all(fetcher, requests)
        if source.type in ("yahoo", "stooq"):
            outcomes += _refetch_readjusted(settings, source, fetcher, outcomes, partitions)
    return outcomes


def _refetch_readjusted(
    settings: Settings,
    source: SourceConfig,
    fetcher: Fetcher,
    outcomes: list[FetchOutcome],
    partitions: list[date],
) -> list[FetchOutcome]:
    """A split or dividend re-adjusts a ticker's past: when the overlap of an incremental fetch
    disagrees with what was landed before, fetch the full history again, which then replaces the
    ticker's whole series (ingestion.price_api)."""
    from ingestion.price_api import readjusted_tickers
    from ingestion.pull_requests import HISTORY_DAYS

    new = [outcome.payload for outcome in outcomes if outcome.status == "new" and outcome.payload]
    if not new:
        return []
    landed = landed_payloads(settings.landing_dir / source.name)
    history_start = partitions[0] - timedelta(days=HISTORY_DAYS)
    return fetch_all(fetcher, [
        price_request(source, ticker, min(first, history_start), partitions[-1],
                      secret_headers(source))
        for ticker, first in readjusted_tickers(landed, new, provider=source.type).items()
    ])


def outcome_counts(outcomes: list[FetchOutcome]) -> dict[str, int]:
    counts = Counter(outcome.status for outcome in outcomes)
    return {
        "fetched": len(outcomes),
        "new": counts["new"],
        "unchanged": counts["unchanged"],
        "missing": counts["missing"],
        "failed": counts["failed"],
    }


def build_pull_asset(settings: Settings, source: SourceConfig) -> dg.AssetsDefinition:
    pull = settings.pull

    @dg.asset(
        key=landing_key(source.name),
        group_name="landing",
        kinds={"http"},
        partitions_def=daily_partitions(settings) if source.dated else None,
        retry_policy=dg.RetryPolicy(
            max_retries=pull.step_retries,
            delay=pull.retry_delay_seconds,
            backoff=dg.Backoff.EXPONENTIAL,
            jitter=dg.Jitter.PLUS_MINUS,
        ),
        description=f"{source.type} payloads of source {source.name!r}, as received "
        "(warehouse/.newsimpact/landing/).",
    )
    def pulled(context: dg.AssetExecutionContext, newsimpact: NewsimpactResource):
        settings = newsimpact.settings()
        now = datetime.now(UTC)
        partitions = (
            [date.fromisoformat(key) for key in context.partition_keys]
            if source.dated else [now.date()]
        )
        try:
            outcomes = pull_source(settings, source, partitions, now)
        except MissingSecretError as error:
            raise dg.Failure(str(error), allow_retries=False) from None
        counts = outcome_counts(outcomes)
        failures = [outcome.error for outcome in outcomes if outcome.status == "failed"]
        metadata = {**counts, "errors": dg.MetadataValue.json(failures[:20])}
        # the counts of every attempt, failed or not, for the run summary
        context.log_event(dg.AssetObservation(asset_key=landing_key(source.name), metadata=metadata))
        for outcome in outcomes:
            if outcome.status == "failed":
                context.log.warning(f"{source.name}: {outcome.error}")
        if failures:
            # what did land stays landed; the retry asks again only for what is missing
            raise dg.Failure(
                f"{source.name}: {len(failures)} of {len(outcomes)} requests failed; first: "
                f"{failures[0]}",
                metadata=metadata,
            )
        return dg.MaterializeResult(metadata=metadata)

    return pulled
