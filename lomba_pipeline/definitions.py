"""The one Dagster code location: resources plus every domain's definitions."""

from __future__ import annotations

import importlib

import dagster as dg

from lomba_pipeline.catalog.ingestion.assets import CatalogSources
from lomba_pipeline.ig_ops.clock import IgClock
from lomba_pipeline.resources.ai import ai_resource_from_settings
from lomba_pipeline.resources.instagram import instagram_reader_from_settings
from lomba_pipeline.resources.instagram_ops import InstagramOpsResource
from lomba_pipeline.resources.object_store import object_store_from_settings
from lomba_pipeline.resources.outbound import outbound_from_settings
from lomba_pipeline.resources.postgres import postgres_from_settings
from lomba_pipeline.resources.whatsapp import whatsapp_from_settings
from lomba_pipeline.settings import Settings, get_settings


def build_resources(settings: Settings) -> dict:
    """Production wiring from settings; secrets stay ``EnvVar`` until a run starts."""
    return {
        "postgres": postgres_from_settings(settings),
        "object_store": object_store_from_settings(settings),
        "ai": ai_resource_from_settings(settings),
        "whatsapp": whatsapp_from_settings(settings),
        "ig_ops": InstagramOpsResource(
            api_base_url=settings.ig_api_base_url,
            request_delay_seconds=settings.ig_request_delay_seconds,
            graph_api_base_url=settings.ig_graph_api_base_url,
        ),
        "ig_clock": IgClock(),
        "instagram": instagram_reader_from_settings(settings),
        "catalog_sources": CatalogSources(path=str(settings.sources_file)),
        "outbound": outbound_from_settings(settings),
    }


# Each domain folder exposes ``defs`` (assets, jobs, schedules, sensors, checks) in its
# ``definitions`` module; add a domain here.
DOMAIN_MODULES: list[str] = [
    "lomba_pipeline.catalog.ingestion.definitions",
    "lomba_pipeline.catalog.extraction.definitions",
    "lomba_pipeline.catalog.review.definitions",
    "lomba_pipeline.ig_ops.definitions",
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
