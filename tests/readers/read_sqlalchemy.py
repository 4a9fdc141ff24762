"""The published serving file as Superset sees it: SQLAlchemy + duckdb-engine. Prints JSON.

`python read_sqlalchemy.py FILE`, run by tests/test_bi_readers.py in a reader environment (see
make_envs.sh). Each way of asking for a read-only connection gets its own engine, disposed before
the next one: one process cannot hold the same file open with two different configurations.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import duckdb
import duckdb_engine
import sqlalchemy as sa

SCHEMAS = ("marts", "audit")


def read(url: str, connect_args: dict) -> dict:
    """Access mode, then per table: comment, column comments (reflected), count(*) through SQLAlchemy."""
    engine = sa.create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            access_mode = connection.execute(sa.text("select current_setting('access_mode')")).scalar()
        inspector = sa.inspect(engine)
        tables = {}
        for schema in SCHEMAS:
            for table in inspector.get_table_names(schema=schema):
                name = sa.table(table, schema=schema)
                with engine.connect() as connection:
                    count = connection.execute(sa.select(sa.func.count()).select_from(name)).scalar()
                tables[f"{schema}.{table}"] = {
                    "comment": inspector.get_table_comment(table, schema=schema)["text"],
                    "columns": {
                        column["name"]: column.get("comment")
                        for column in inspector.get_columns(table, schema=schema)
                    },
                    "count": count,
                }
        return {"access_mode": access_mode, "tables": tables}
    except Exception as error:  # reported per form, so one failing form does not hide the other
        return {"error": f"{type(error).__name__}: {error}"}
    finally:
        engine.dispose()


if __name__ == "__main__":
    path = Path(sys.argv[1]).resolve().as_posix()
    json.dump(
        {
            "versions": {
                "duckdb": duckdb.__version__,
                "duckdb_engine": duckdb_engine.__version__,
                "sqlalchemy": sa.__version__,
            },
            "forms": {
                # Superset's "Engine parameters" field: {"connect_args": {"read_only": true}}
                "connect_args": read(f"duckdb:///{path}", {"read_only": True}),
                # Everything in the SQLAlchemy URI field; duckdb-engine passes query keys as config.
                "uri": read(f"duckdb:///{path}?access_mode=read_only", {}),
            },
        },
        sys.stdout,
    )
