"""Dagster definitions of newsimpact: one folder per integration (ingestion, dbt, quality)."""
