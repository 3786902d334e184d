"""The one Dagster code location: resources plus every domain's definitions.

``defs`` is built lazily (``@dg.definitions``): importing this module reads no setting and no
file; Dagster (or a test) calls ``defs()``, which reads the environment once through
``get_settings()`` and hands plain values and ``EnvVar``s to the resources built here. Nothing
below the entry points reads settings again.
"""

from __future__ import annotations

import importlib

import dagster as dg

from lomba_pipeline.catalog.conditions import catalog_automation_sensor
from lomba_pipeline.catalog.ingestion.assets import CatalogSources
from lomba_pipeline.catalog.sources.config import load_sources
from lomba_pipeline.ig_ops.clock import IgClock
from lomba_pipeline.resources.ai import ai_resource_from_settings
from lomba_pipeline.resources.instagram import instagram_reader_from_settings
from lomba_pipeline.resources.instagram_ops import InstagramOpsResource
from lomba_pipeline.resources.object_store import object_store_from_settings
from lomba_pipeline.resources.outbound import outbound_from_settings
from lomba_pipeline.resources.postgres import postgres_from_settings
from lomba_pipeline.resources.whatsapp import whatsapp_from_settings, whatsapp_targets_from_settings
from lomba_pipeline.secrets_box import encryption_key_from_settings
from lomba_pipeline.settings import Settings, get_settings


def build_resources(settings: Settings) -> dict:
    """Production wiring from settings; secrets stay ``EnvVar`` until a run starts."""
    encryption = encryption_key_from_settings(settings)
    return {
        "postgres": postgres_from_settings(settings),
        "object_store": object_store_from_settings(settings),
        "ai": ai_resource_from_settings(settings.ai, settings.extraction),
        "whatsapp": whatsapp_from_settings(settings),
        "whatsapp_targets": whatsapp_targets_from_settings(settings),
        "ig_ops": InstagramOpsResource(
            api_base_url=settings.instagram.api_base_url,
            request_delay_seconds=settings.instagram.request_delay_seconds,
            graph_api_base_url=settings.instagram.graph_api_base_url,
            encryption=encryption,
        ),
        "ig_clock": IgClock(),
        "instagram": instagram_reader_from_settings(settings, encryption),
        "catalog_sources": CatalogSources(path=str(settings.sources_file)),
        "outbound": outbound_from_settings(settings),
    }


# Each domain folder exposes ``defs`` in its ``definitions`` module (or ``build_defs(profiles)``
# when its shape depends on the sources file); add a domain here.
DOMAIN_MODULES: list[str] = [
    "lomba_pipeline.catalog.ingestion.definitions",
    "lomba_pipeline.catalog.extraction.definitions",
    "lomba_pipeline.catalog.review.definitions",
    "lomba_pipeline.catalog.reporting.definitions",
    "lomba_pipeline.ig_ops.definitions",
]


def domain_definitions(profiles: list[str]) -> list[dg.Definitions]:
    found = []
    for name in DOMAIN_MODULES:
        module = importlib.import_module(name)
        found.append(module.build_defs(profiles) if hasattr(module, "build_defs") else module.defs)
    return found


def build_definitions(settings: Settings | None = None) -> dg.Definitions:
    settings = settings or get_settings()
    # a broken sources file fails the load here, naming the file and the field
    profiles = load_sources(settings.sources_file).instagram.profiles
    return dg.Definitions.merge(
        *domain_definitions(profiles),
        dg.Definitions(sensors=[catalog_automation_sensor], resources=build_resources(settings)),
    )


@dg.definitions
def defs() -> dg.Definitions:
    return build_definitions()
