"""What a DuckDB client reads from the published serving file: `python read_duckdb.py FILE` prints JSON.

Run by tests/test_bi_readers.py with an older duckdb release (its own virtual environment, see
make_envs.sh) and imported by that test to read the same file with the project's own duckdb, so
both sides go through exactly the same queries. Only the standard library and duckdb: the reader
environments hold nothing else. Keep it to SQL that DuckDB 1.0 already has.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import math
import sys

import duckdb

SCHEMAS = ("marts", "audit")


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def plain(value: object) -> object:
    """A value as JSON can carry it unchanged: dates as ISO text, NaN and decimals as text."""
    if isinstance(value, list):
        return [plain(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (decimal.Decimal, bytes)) or not isinstance(
        value, (str, int, float, bool, type(None))
    ):
        return str(value)
    return value


def read(path: str) -> dict:
    """Tables of `marts` and `audit`: comments, columns (type, comment), row count, every row."""
    connection = duckdb.connect(str(path), read_only=True)
    try:
        tables = connection.execute(
            "select schema_name, table_name, comment from duckdb_tables() "
            "where database_name = current_database() and schema_name in (?, ?) order by 1, 2",
            list(SCHEMAS),
        ).fetchall()
        result = {}
        for schema, table, comment in tables:
            columns = connection.execute(
                "select column_name, data_type, comment from duckdb_columns() "
                "where database_name = current_database() and schema_name = ? and table_name = ? "
                "order by column_index",
                [schema, table],
            ).fetchall()
            # TIMESTAMPTZ as epoch microseconds: the stored instant, whatever the reader's time zone
            # (and without the pytz that old releases need to make Python datetimes of it).
            select = ", ".join(
                f"epoch_us({quote(name)})" if data_type == "TIMESTAMP WITH TIME ZONE" else quote(name)
                for name, data_type, _ in columns
            )
            name = f"{quote(schema)}.{quote(table)}"
            (count,) = connection.execute(f"select count(*) from {name}").fetchone()
            rows = connection.execute(f"select {select} from {name} order by all").fetchall()
            result[f"{schema}.{table}"] = {
                "comment": comment,
                "columns": [list(column) for column in columns],
                "count": count,
                "rows": [[plain(value) for value in row] for row in rows],
            }
        return {"duckdb_version": duckdb.__version__, "tables": result}
    finally:
        connection.close()


if __name__ == "__main__":
    json.dump(read(sys.argv[1]), sys.stdout)
