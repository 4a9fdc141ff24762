"""How dbt nodes appear in Dagster: keys and groups follow the warehouse schemas."""

from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import DagsterDbtTranslator, DagsterDbtTranslatorSettings


class NewsimpactDbtTranslator(DagsterDbtTranslator):
    """Asset key = [schema, table] for models, seeds and sources alike.

    So the dbt source `raw.news_documents` is the very asset the ingestion step materialises, and
    a mart's key reads as the table a BI user queries (`marts/fct_event_impact`).
    """

    def __init__(self) -> None:
        super().__init__(settings=DagsterDbtTranslatorSettings(enable_asset_checks=True))

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        schema = dbt_resource_props["schema"]
        name = dbt_resource_props.get("identifier") or dbt_resource_props.get("alias") or dbt_resource_props["name"]
        return dg.AssetKey([schema, name])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        return dbt_resource_props["schema"]
