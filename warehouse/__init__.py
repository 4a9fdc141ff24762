"""DuckDB access: raw/audit DDL (`schema`) and idempotent loaders of reader output (`loaders`)."""
