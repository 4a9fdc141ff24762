"""Entities and themes of documents that carry no annotation lines (feed items, GKG records).

Contract (shared by the feed and GDELT readers): a `Gazetteer` lists every company name the
warehouse can link, keyed by `ingestion.names.company_name_key`.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

GAZETTEER_SCHEMA: dict[str, pl.DataType] = {
    "name_key": pl.String(),  # company_name_key(name): "nvidia"
    "entity_name": pl.String(),  # the name dbt resolves to the entity: "NVIDIA CORP"
    "ticker": pl.String(),  # its current ticker, null when unknown
    "ambiguous": pl.Boolean(),  # a common word too ("apple", "target"): needs corroboration
}


@dataclass(frozen=True)
class Gazetteer:
    names: pl.DataFrame  # GAZETTEER_SCHEMA, one row per name_key
    version: str  # sha256 of `names`: part of the change key of every reader that uses it
