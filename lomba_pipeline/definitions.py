"""The one Dagster code location: resources plus every domain's definitions."""

from __future__ import annotations

import importlib

import dagster as dg

from lomba_pipeline.catalog.ingestion.assets import CatalogSources
from lomba_pipeline.resources.instagram import instagram_reader_from_settings
from lomba_pipeline.resources.object_store import object_store_from_settings
from lomba_pipeline.resources.postgres import postgres_from_settings
from lomba_pipeline.settings import Settings, get_settings


def build_resources(settings: Settings) -> dict:
    """Production wiring from settings; secrets stay ``EnvVar`` until a run starts."""
    return {
        "postgres": postgres_from_settings(settings),
        "object_store": object_store_from_settings(settings),
        "instagram": instagram_reader_from_settings(settings),
        "catalog_sources": CatalogSources(path=str(settings.sources_file)),
    }


# Each domain folder exposes ``defs`` (assets, jobs, schedules, sensors, checks) in its
# ``definitions`` module; add a domain here.
DOMAIN_MODULES: list[str] = [
    "lomba_pipeline.catalog.ingestion.definitions",
]


def domain_definitions() -> list[dg.Definitions]:
    return [importlib.import_module(name).defs for name in DOMAIN_MODULES]


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    return dg.Definitions.merge(
        *domain_definitions(),
        dg.Definitions(resources=build_resources(settings)),
    )


defs = build_definitions()
