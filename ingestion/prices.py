"""Daily prices (source type `csv`): CSV / Stooq `.txt` files -> `raw.prices_daily`.

Files are read with every column as text; parsing and the row rules run as Polars expressions over
all files at once, so a rejected row is quarantined with every reason that applies to it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import polars as pl

from ingestion import limits
from ingestion.quarantine import (
    CSV_SOURCE_TYPE,
    FolderChunk,
    QUARANTINE_SCHEMA,
    QuarantineRecord,
    SourceFile,
    file_stats_frame,
    list_source_files,
    problem_record,
    quarantine_frame,
    shown_expr,
    truncated,
)

PRICE_FILE_SUFFIXES = (".csv", ".txt")
STOOQ_SUFFIX = ".US"

PRICE_SCHEMA: dict[str, pl.DataType] = {
    "ticker": pl.String(),
    "session_date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "adj_close": pl.Float64(),
    "volume": pl.Float64(),
    "source_name": pl.String(),
    "file_path": pl.String(),
    "row_number": pl.Int32(),
    # Not a raw.prices_daily column: the original line, kept so the loader can quarantine a
    # cross-file duplicate with its raw value.
    "raw_value": pl.String(),
}

# Header names compare ignoring case, spaces, punctuation: "Adj Close" == "adj_close" == "AdjClose".
COLUMN_ALIASES = {
    "ticker": "ticker",
    "symbol": "ticker",
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adjclose": "adj_close",
    "volume": "volume",
}
DISPLAY_NAMES = {
    "ticker": "Ticker",
    "date": "Date",
    "open": "Open",
    "high": "High",
    "low": "Low",
    "close": "Close",
    "adj_close": "Adj Close",
    "volume": "Volume",
}
REQUIRED_COLUMNS = ("date", "open", "high", "low", "close", "volume")
PRICE_COLUMNS = ("open", "high", "low", "close", "adj_close")
NUMBER_COLUMNS = (*PRICE_COLUMNS, "volume")
TEXT_COLUMNS = ("ticker", "date", *NUMBER_COLUMNS)
DATE_PATTERN = r"^\d{4}-\d{2}-\d{2}$"
KEY = ("ticker", "session_date")


# Part of every file's change key: bump it when parsing or validation changes, and every file
# is read again by the next run.
PARSER_VERSION = "prices-2"

@dataclass(frozen=True)
class PriceBatch:
    source_name: str
    prices: pl.DataFrame  # raw.prices_daily without ingested_at, plus raw_value
    quarantine: pl.DataFrame  # audit.quarantine without quarantined_at
    files: pl.DataFrame  # audit.ingested_files without ingested_at, one row per file read
    skipped_files: tuple[str, ...] = ()  # unchanged since the last load
    restat_files: tuple[tuple[str, int, int], ...] = ()  # of those, (path, size, mtime_ns) to record


class PriceFileError(ValueError):
    """A whole file that cannot be read as a price table."""


def read_price_files(
    root: Path,
    source_name: str,
    *,
    skip_hashes: Mapping[str, str] = {},
    skip_stats: pl.DataFrame | None = None,
    max_bytes: int = limits.MAX_PRICE_FILE_BYTES,
    now: datetime | None = None,
    chunk: FolderChunk | None = None,
) -> PriceBatch:
    """Read every `*.csv` / `*.txt` under `root` (or only those of `chunk`), skipping files
    whose (size, mtime_ns) is the one `skip_stats` records or whose hash is `skip_hashes[path]`.

    A record is a data row; a file that cannot be read at all (not UTF-8, no header, a required
    column missing, over `max_bytes`, a link out of the folder) counts as one record, quarantined
    with `row_number` null. A row breaking a rule of `ingestion.limits` is quarantined with every
    reason that applies (`now`, default the current time, is the run time no session date may
    pass). Duplicates of ticker+date inside the batch: identical rows keep the first (by path,
    row), conflicting rows are all quarantined.
    """
    run_date = limits.utc_now(now).date()
    listing = list_source_files(
        root, PRICE_FILE_SUFFIXES, skip_hashes, max_bytes=max_bytes, skip_stats=skip_stats,
        chunk=chunk,
    )
    row_frames: list[pl.DataFrame] = []
    rejected_files: list[QuarantineRecord] = []
    for file in listing.files:
        if (record := problem_record(file)) is not None:
            rejected_files.append(record)
            continue
        try:
            row_frames.append(_read_rows(file))
        except PriceFileError as error:
            raw_text = file.data.decode("utf-8", errors="replace")
            rejected_files.append(QuarantineRecord(file.rel_path, str(error), raw_text))

    rows = pl.concat(row_frames) if row_frames else _empty_text_rows()
    checked = _check_rows(rows.with_columns(source_name=pl.lit(source_name)), run_date)
    rejected_rows = checked.filter(pl.col("reason") != "").select(
        source_type=pl.lit(CSV_SOURCE_TYPE),
        source_name=pl.lit(source_name),
        file_path="file_path",
        row_number="row_number",
        record_key=pl.when(pl.col("ticker").ne("") & pl.col("session_date").is_not_null()).then(
            pl.format("{}@{}", "ticker", pl.col("session_date").dt.to_string("%Y-%m-%d"))
        ),
        reason="reason",
        raw_value="raw_value",
    )
    quarantine = pl.concat(
        [
            quarantine_frame(rejected_files, source_type=CSV_SOURCE_TYPE, source_name=source_name),
            rejected_rows.cast(QUARANTINE_SCHEMA),
        ]
    )

    read_counts = dict(rows.group_by("file_path").len().iter_rows())
    read_counts.update({record.file_path: 1 for record in rejected_files})
    return PriceBatch(
        source_name=source_name,
        prices=checked.filter(pl.col("reason") == "").select(PRICE_SCHEMA.keys()),
        quarantine=quarantine,
        files=file_stats_frame(
            listing.files,
            source_type=CSV_SOURCE_TYPE,
            source_name=source_name,
            read_counts=read_counts,
            quarantined_counts=dict(quarantine.group_by("file_path").len().iter_rows()),
        ),
        skipped_files=listing.skipped_files,
        restat_files=listing.restat_files,
    )


def ticker_from_file_stem(stem: str) -> str:
    """`AAPL.csv` -> AAPL, Stooq's `aapl.us.txt` -> AAPL."""
    return stem.upper().removesuffix(STOOQ_SUFFIX)


def _read_rows(file: SourceFile) -> pl.DataFrame:
    """The data rows as text under canonical column names, plus file_path, row_number, raw_value."""
    try:
        text = file.data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PriceFileError(
            f"not valid UTF-8: byte 0x{file.data[error.start]:02x} at offset {error.start}"
        ) from None
    if not text.removeprefix("\ufeff").strip():
        raise PriceFileError("empty file: a header row is required")
    try:  # the checked bytes, not the text: polars would encode it back first
        table = pl.read_csv(
            file.data.removeprefix(codecs.BOM_UTF8), infer_schema=False, empty_string_is_null=False
        ).fill_null("")
    except pl.exceptions.PolarsError as error:
        raise PriceFileError(f"unreadable CSV: {error}".splitlines()[0]) from None

    columns = _canonical_columns(table.columns)
    missing = [DISPLAY_NAMES[name] for name in REQUIRED_COLUMNS if name not in columns]
    if missing:
        raise PriceFileError(f"missing required column(s): {', '.join(missing)}")

    sizes = {name: pl.col(name).str.len_bytes() for name in table.columns}
    longest_row = table.select(pl.sum_horizontal(sizes.values()).max()).item() or 0
    longest_raw_value = longest_row + len(table.columns) - 1  # in bytes: no fewer than characters
    if b"\0" not in file.data and longest_raw_value <= limits.RAW_VALUE_MAX_CHARS:
        # Nothing `truncated` would cut or replace (most files): the plain join, 3 times faster.
        raw_value = pl.concat_str(table.columns, separator=",")
    else:  # each cell cut first, so an over-long cell is never copied whole
        original = [
            pl.col(name).str.slice(0, limits.RAW_VALUE_MAX_CHARS + 1) for name in table.columns
        ]
        raw_value = truncated(pl.concat_str(original, separator=","))
    too_long = {name: size > limits.MAX_PRICE_CELL_BYTES for name, size in sizes.items()}

    def cell(name: str) -> pl.Expr:
        # An over-long cell is null from here on: only its size is reported, nothing parses it.
        return pl.when(~too_long[name]).then(pl.col(name).str.strip_chars())

    return (
        table.with_row_index("row_number", offset=1)
        # A blank line is not a record (a cell over the size limit is never blank).
        .filter(
            ~pl.all_horizontal(
                ~too_long[name] & (pl.col(name).str.strip_chars() == "") for name in table.columns
            )
        )
        .select(
            ticker=cell(columns["ticker"]).str.to_uppercase()
            if "ticker" in columns
            else pl.lit(ticker_from_file_stem(file.stem)),
            date=cell(columns["date"]),
            **{name: cell(columns.get(name, columns["close"])) for name in NUMBER_COLUMNS},
            file_path=pl.lit(file.rel_path),
            row_number=pl.col("row_number").cast(pl.Int32),
            raw_value=raw_value,
            size_reason=pl.concat_str(
                [
                    pl.when(too_long[name]).then(
                        pl.format(
                            f"column {index} ({limits.shown(name)}): cell is {{}} bytes, over the "
                            f"{limits.MAX_PRICE_CELL_BYTES}-byte limit",
                            sizes[name],
                        )
                    )
                    for index, name in enumerate(table.columns, start=1)
                ],
                separator="; ",
                ignore_nulls=True,
            ),
        )
    )


def _canonical_columns(header: list[str]) -> dict[str, str]:
    """Canonical name -> the file's header name, for the columns newsimpact knows."""
    found: dict[str, str] = {}
    for name in header:
        canonical = COLUMN_ALIASES.get(re.sub(r"[^a-z0-9]", "", name.lower()))
        if canonical is None:
            continue
        if canonical in found:
            raise PriceFileError(
                f"columns {found[canonical]!r} and {name!r} both give the "
                f"{DISPLAY_NAMES[canonical]}"
            )
        found[canonical] = name
    return found


def _empty_text_rows() -> pl.DataFrame:
    return pl.DataFrame(
        schema={
            **{name: pl.String() for name in TEXT_COLUMNS},
            "file_path": pl.String(),
            "row_number": pl.Int32(),
            "raw_value": pl.String(),
            "size_reason": pl.String(),
        }
    )


def _check_rows(rows: pl.DataFrame, run_date: date) -> pl.DataFrame:
    """Parse the text columns and add `reason`: '' for a loadable row, else every rule it breaks."""
    parsed = rows.rename({name: f"{name}_text" for name in TEXT_COLUMNS}).with_columns(
        ticker=pl.col("ticker_text"),
        session_date=pl.when(pl.col("date_text").str.contains(DATE_PATTERN)).then(
            pl.col("date_text").str.strptime(pl.Date, "%Y-%m-%d", strict=False)
        ),
        **{name: _finite_number(f"{name}_text") for name in NUMBER_COLUMNS},
    )
    with_row_reasons = parsed.with_columns(
        reason=pl.concat_str(_row_rule_violations(run_date), separator="; ", ignore_nulls=True)
    )
    return _check_duplicates(with_row_reasons)


def _finite_number(text_column: str) -> pl.Expr:
    number = pl.col(text_column).cast(pl.Float64, strict=False)
    return pl.when(number.is_finite()).then(number)


def _row_rule_violations(run_date: date) -> list[pl.Expr]:
    """One expression per rule: a sentence when the row breaks it, else null."""
    ticker = pl.col("ticker")
    date_text = pl.col("date_text")
    violations = [
        pl.when(pl.col("size_reason") != "").then(pl.col("size_reason")),
        pl.when(ticker == "").then(pl.lit("missing Ticker")),
        pl.when((ticker != "") & ~ticker.str.contains(limits.TICKER_PATTERN)).then(
            pl.format(
                f"Ticker {{}} is not a ticker (ASCII A-Z, 0-9 and . - ^ =, at most "
                f"{limits.MAX_TICKER_CHARS} characters)",
                shown_expr(ticker),
            )
        ),
        _unparseable("date", "session_date"),
        pl.when(
            (pl.col("session_date") < limits.MIN_DATE) | (pl.col("session_date") > run_date)
        ).then(
            pl.format(
                f"Date {{}} is outside [{limits.MIN_DATE}, the run date {run_date}]", date_text
            )
        ),
        *(_unparseable(name, name) for name in NUMBER_COLUMNS),
        *(
            pl.when(pl.col(name) <= 0).then(
                pl.format(f"non-positive {DISPLAY_NAMES[name]} {{}}", f"{name}_text")
            )
            for name in PRICE_COLUMNS
        ),
        pl.when(pl.col("volume") < 0).then(pl.format("negative Volume {}", "volume_text")),
        pl.when(pl.col("low") > pl.col("high")).then(
            pl.format("Low {} > High {}", "low_text", "high_text")
        ),
    ]
    in_range = pl.col("low") <= pl.col("high")
    for name in ("open", "close"):
        outside = (pl.col(name) < pl.col("low")) | (pl.col(name) > pl.col("high"))
        violations.append(
            pl.when(in_range & outside).then(
                pl.format(
                    f"{DISPLAY_NAMES[name]} {{}} outside [Low {{}}, High {{}}]",
                    f"{name}_text",
                    "low_text",
                    "high_text",
                )
            )
        )
    return violations


def _unparseable(name: str, parsed_column: str) -> pl.Expr:
    text = pl.col(f"{name}_text")
    return (
        pl.when(text == "")
        .then(pl.lit(f"missing {DISPLAY_NAMES[name]}"))
        .when(pl.col(parsed_column).is_null())
        .then(pl.format(f"unparseable {DISPLAY_NAMES[name]} '{{}}'", text))
    )


def _check_duplicates(rows: pl.DataFrame) -> pl.DataFrame:
    """Flag repeated ticker+date among the otherwise valid rows (first = lowest path, row)."""
    key = list(KEY)
    valid = rows.filter(pl.col("reason") == "")
    invalid = rows.filter(pl.col("reason") != "")
    # the windows below only over the repeated keys (most batches have none), in path, row order
    repeated = pl.struct(key).is_duplicated()
    unique, valid = valid.filter(~repeated), valid.filter(repeated).sort("file_path", "row_number")
    is_first = pl.int_range(pl.len()).over(key) == 0
    first_path = pl.col("file_path").first().over(key)
    first_row = pl.col("row_number").first().over(key)
    # The first row names the second; every other row names the first.
    second_path = pl.col("file_path").shift(-1).over(key)
    second_row = pl.col("row_number").shift(-1).over(key)
    other_path = pl.when(is_first).then(second_path).otherwise(first_path)
    other_row = pl.when(is_first).then(second_row).otherwise(first_row)
    versions = pl.struct(NUMBER_COLUMNS).n_unique().over(key)
    flagged = valid.with_columns(
        reason=pl.when(versions > 1)
        .then(
            pl.format("conflicting duplicate ticker+date (also in {} row {})", other_path, other_row)
        )
        .when(~is_first)
        .then(pl.format("duplicate of {} row {}", first_path, first_row))
        .otherwise(pl.lit(""))
    )
    return pl.concat([unique, flagged]).sort("file_path", "row_number").vstack(invalid)
