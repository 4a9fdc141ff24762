"""What the incremental per-group dbt Python models of the theme tests share
(int_theme_significance__rank_sums and int_theme_significance__tests)."""

from collections.abc import Callable, Sequence

import polars as pl


def build_missing_groups(
    dbt, session, inputs, observations, group_by: Sequence[str], table: str,
    compute: Callable[[str], pl.DataFrame], order_by: Sequence[str] = (),
):
    """The model's new rows: `compute(table)` for the groups of `inputs` (one row per group and its
    input_fingerprint) that the model's table lacks, with their `observations` in the temporary
    table `table` (a table, not a view: the statistics read them several times), dropped after.
    Each row gets its group's input_fingerprint; rows sorted by `group_by` then `order_by`. An
    incremental run whose pre-hook kept every group computes nothing. `inputs` and `observations`
    are the model's `dbt.ref(...)` relations: dbt finds a model's refs in its own file only."""
    group_by = list(group_by)
    group_key = ", ".join(group_by)
    missing = inputs
    if dbt.is_incremental:
        kept = session.sql(f"select distinct {group_key} from {dbt.this}")
        missing = missing.join(kept, group_key, how="anti")
    to_compute = missing.pl()
    if dbt.is_incremental and to_compute.is_empty():
        return session.sql(f"select * from {dbt.this} limit 0")
    to_read = observations.join(missing.select(group_key), group_key, how="semi")
    session.execute(f"create temp table {table} as {to_read.sql_query()}")
    try:
        rows = compute(table)
    finally:
        session.execute(f"drop table {table}")
    # A relation on this connection, as in int_event_study__scar.
    return session.from_arrow(
        rows.join(to_compute, on=group_by, how="left").sort([*group_by, *order_by]).to_arrow()
    )
