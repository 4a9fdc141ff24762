"""The SEC security master (source type `sec`): company_tickers*.json -> raw.security_master rows.

Two SEC formats are accepted:
- company_tickers_exchange.json: `{"fields": ["cik", "name", "ticker", "exchange"], "data": [...]}`
- company_tickers.json: `{"0": {"cik_str": 320193, "ticker": "AAPL", "title": "Apple Inc."}, ...}`
  (no exchange: the column is null).

A record is one listed ticker. A row missing its CIK, ticker or name, with a CIK that is not a
positive number of at most 10 digits, or a ticker breaking `ingestion.limits.TICKER_PATTERN` is
quarantined; so are all rows of a ticker listed under different CIKs, and a repeat of a row
already read (the first is kept). SEC's share-class form ("BRK-B") is kept as written.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl

from ingestion import limits
from ingestion.quarantine import QUARANTINE_SCHEMA, shown_expr, truncated

SEC_SOURCE_TYPE = "sec"
# Part of every file's change key: bump it when parsing or validation changes.
SEC_PARSER_VERSION = "sec-1"

SECURITY_MASTER_SCHEMA: dict[str, pl.DataType] = {
    "cik": pl.String(),  # 10 digits, zero-padded
    "ticker": pl.String(),
    "company_name": pl.String(),
    "exchange": pl.String(),
}
# Each format's field -> the column it fills.
EXCHANGE_FORMAT_FIELDS = {
    "cik": "cik",
    "name": "company_name",
    "ticker": "ticker",
    "exchange": "exchange",
}
TICKERS_FORMAT_FIELDS = {"cik_str": "cik", "title": "company_name", "ticker": "ticker"}
CIK_DIGITS = 10


class SecFormatError(ValueError):
    """A body that is neither SEC format (an HTML error page, truncated JSON): nothing is read."""


def read_security_master(
    payload_bytes: bytes, *, file_path: str, source_name: str = SEC_SOURCE_TYPE
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(security master rows, quarantine rows) of one SEC company tickers file.

    Raises `SecFormatError` naming `file_path` when the body is not one of the two formats.
    """
    rows = _text_rows(_decoded(payload_bytes, file_path), file_path)
    checked = _check_duplicates(_check_rows(rows))
    master = checked.filter(pl.col("reason") == "").select(SECURITY_MASTER_SCHEMA.keys())
    quarantine = checked.filter(pl.col("reason") != "").select(
        source_type=pl.lit(SEC_SOURCE_TYPE),
        source_name=pl.lit(source_name),
        file_path=pl.lit(file_path),
        row_number="row_number",
        record_key=pl.coalesce(pl.col("ticker").replace("", None), "cik_text"),
        reason="reason",
        raw_value=truncated(pl.col("raw_value")),
    )
    return master.cast(SECURITY_MASTER_SCHEMA), quarantine.cast(QUARANTINE_SCHEMA)


def read_security_master_file(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """`read_security_master` of a file on disk (the bundled samples/sec snapshot)."""
    return read_security_master(path.read_bytes(), file_path=path.name)


def _decoded(payload_bytes: bytes, file_path: str) -> object:
    try:
        return json.loads(payload_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        start = payload_bytes[:40].decode("utf-8", errors="replace")
        raise SecFormatError(
            f"{file_path}: not SEC company tickers JSON ({error}); it starts with {start!r}"
        ) from None


def _text_rows(document: object, file_path: str) -> pl.DataFrame:
    """The file's rows as text columns cik_text, ticker_text, name_text, exchange_text."""
    if isinstance(document, dict) and isinstance(document.get("data"), list):
        fields = document.get("fields")
        if not isinstance(fields, list) or not {"cik", "name", "ticker"} <= set(fields):
            raise SecFormatError(
                f"{file_path}: company_tickers_exchange.json format without the fields cik, name "
                f"and ticker (fields: {fields!r})"
            )
        records = [
            dict(zip(fields, row)) if isinstance(row, list) and len(row) == len(fields) else {}
            for row in document["data"]
        ]
        # A row of the wrong shape keeps its place (and row number) with every field missing.
        shapes_ok = [bool(record) for record in records]
        names = EXCHANGE_FORMAT_FIELDS
        raw = [json.dumps(row) for row in document["data"]]
    elif isinstance(document, dict) and document and all(
        isinstance(value, dict) for value in document.values()
    ):
        records = list(document.values())
        shapes_ok = [True] * len(records)
        names = TICKERS_FORMAT_FIELDS
        raw = [json.dumps(record) for record in records]
    else:
        raise SecFormatError(
            f"{file_path}: neither company_tickers_exchange.json ({{'fields', 'data'}}) nor "
            "company_tickers.json ({'0': {'cik_str', 'ticker', 'title'}}) format"
        )
    columns = {
        f"{target}_text": pl.Series(
            [record.get(source) for record in records], dtype=pl.String(), strict=False
        )
        for source, target in names.items()
    }
    return pl.DataFrame(
        {
            "row_number": pl.int_range(1, len(records) + 1, eager=True).cast(pl.Int32),
            **columns,
            "shape_ok": pl.Series(shapes_ok, dtype=pl.Boolean()),
            "raw_value": pl.Series(raw, dtype=pl.String()),
        }
    ).with_columns(
        pl.lit(None, pl.String()).alias(name)
        for name in ("cik_text", "company_name_text", "ticker_text", "exchange_text")
        if name not in columns
    )


def _check_rows(rows: pl.DataFrame) -> pl.DataFrame:
    """Normalise the columns and add `reason`: '' for a loadable row, else every rule it breaks."""
    cik_text = pl.col("cik_text").str.strip_chars().fill_null("")
    ticker = pl.col("ticker_text").str.strip_chars().str.to_uppercase().fill_null("")
    name = pl.col("company_name_text").str.strip_chars().fill_null("")
    cik_ok = cik_text.str.contains(rf"^\d{{1,{CIK_DIGITS}}}$") & (
        cik_text.str.strip_chars("0") != ""
    )
    normalised = rows.with_columns(
        cik_text=cik_text,
        cik=pl.when(cik_ok).then(cik_text.str.zfill(CIK_DIGITS)),
        ticker=ticker,
        company_name=name,
        exchange=pl.col("exchange_text").str.strip_chars().replace("", None),
    )
    cik, ticker, name = pl.col("cik_text"), pl.col("ticker"), pl.col("company_name")
    violations = [
        pl.when(~pl.col("shape_ok")).then(pl.lit("not a row of the file's fields")),
        pl.when(pl.col("shape_ok") & (cik == "")).then(pl.lit("missing cik")),
        pl.when((cik != "") & pl.col("cik").is_null()).then(
            pl.format(
                f"cik {{}} is not a positive number of at most {CIK_DIGITS} digits",
                shown_expr(cik),
            )
        ),
        pl.when(pl.col("shape_ok") & (ticker == "")).then(pl.lit("missing ticker")),
        pl.when((ticker != "") & ~ticker.str.contains(limits.TICKER_PATTERN)).then(
            pl.format(
                f"ticker {{}} is not a ticker (ASCII A-Z, 0-9 and . - ^ =, at most "
                f"{limits.MAX_TICKER_CHARS} characters)",
                shown_expr(ticker),
            )
        ),
        pl.when(pl.col("shape_ok") & (name == "")).then(pl.lit("missing company name")),
    ]
    return normalised.with_columns(
        reason=pl.concat_str(violations, separator="; ", ignore_nulls=True)
    )


def _check_duplicates(rows: pl.DataFrame) -> pl.DataFrame:
    """A ticker under two CIKs quarantines all its rows; a repeat of a ticker keeps the first."""
    valid = rows.filter(pl.col("reason") == "")
    invalid = rows.filter(pl.col("reason") != "")
    ciks = pl.col("cik").unique().sort().str.join(", ").over("ticker")
    first_row = pl.col("row_number").first().over("ticker")
    flagged = valid.sort("row_number").with_columns(
        reason=pl.when(pl.col("cik").n_unique().over("ticker") > 1)
        .then(pl.format("ticker {} is listed under different CIKs: {}", "ticker", ciks))
        .when(pl.int_range(pl.len()).over("ticker") > 0)
        .then(pl.format("duplicate of ticker {} at row {}", "ticker", first_row))
        .otherwise(pl.lit(""))
    )
    return pl.concat([flagged, invalid]).sort("row_number")
