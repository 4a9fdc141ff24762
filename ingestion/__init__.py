"""Pure readers: source files in, Polars frames shaped like the raw and audit tables out.

Nothing here touches DuckDB or Dagster; `warehouse.loaders` merges the frames into the warehouse.
"""
