"""What the incremental per-group dbt Python models of the theme tests share
(int_theme_significance__rank_sums and int_theme_significance__tests)."""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager


@contextmanager
def groups_to_compute(
    dbt, session, inputs, observations, group_by: Sequence[str], table: str
) -> Iterator:
    """The groups of `inputs` (one row per group and its input_fingerprint) that the model's table
    lacks, as a polars frame, with their `observations` in the temporary table `table` (a table,
    not a view: the statistics read them several times), dropped on exit. None when an incremental
    run has nothing to compute: the pre-hook kept every group. `inputs` and `observations` are the
    model's `dbt.ref(...)` relations: dbt finds a model's refs in its own file only."""
    group_key = ", ".join(group_by)
    missing = inputs
    if dbt.is_incremental:
        kept = session.sql(f"select distinct {group_key} from {dbt.this}")
        missing = missing.join(kept, group_key, how="anti")
    to_compute = missing.pl()
    if dbt.is_incremental and to_compute.is_empty():
        yield None
        return
    to_read = observations.join(missing.select(group_key), group_key, how="semi")
    session.execute(f"create temp table {table} as {to_read.sql_query()}")
    try:
        yield to_compute
    finally:
        session.execute(f"drop table {table}")
