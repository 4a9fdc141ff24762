"""A BI reader of the serving file, run as its own process by tests/test_serving.py.

    python tests/serving_reader.py SERVING_FILE poll|hold STOP_FILE

`poll` opens, queries and closes the file every 0.2 s (a dashboard refreshing); `hold` keeps one
read-only connection for its whole life and queries it every 0.2 s (a BI tool's pooled
connection). Each query reads `marts.build_info` and counts every table it lists: a build is
complete when the counts equal the ones recorded at publication. Prints "ready" once it has
read, and at the end one JSON object: the builds seen in order, errors, incomplete reads.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import duckdb


def read_build(connection: duckdb.DuckDBPyConnection) -> tuple[str, bool]:
    build_id, row_counts = connection.execute(
        "SELECT build_id, row_counts FROM marts.build_info"
    ).fetchall()[0]
    expected = json.loads(row_counts)
    actual = {
        table: connection.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
        for table in expected
    }
    return build_id, actual == expected


def main(path: str, mode: str, stop: Path) -> None:
    held = duckdb.connect(path, read_only=True) if mode == "hold" else None
    seen: list[str] = []
    errors: list[str] = []
    incomplete: list[str] = []
    queries = 0
    while not stop.exists():
        try:
            connection = held or duckdb.connect(path, read_only=True)
            try:
                build_id, complete = read_build(connection)
            finally:
                if held is None:
                    connection.close()
            queries += 1
            if not seen:
                print("ready", flush=True)
            if not seen or seen[-1] != build_id:
                seen.append(build_id)
            if not complete:
                incomplete.append(build_id)
        except duckdb.Error as error:
            errors.append(f"{type(error).__name__}: {error}")
        time.sleep(0.2)
    print(json.dumps({"seen": seen, "errors": errors, "incomplete": incomplete, "queries": queries}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
