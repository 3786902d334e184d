"""Ingestion's Dagster definitions (added to the code location through ``DOMAIN_MODULES``)."""

import dagster as dg

from lomba_pipeline.catalog.ingestion.assets import ingestion_assets
from lomba_pipeline.catalog.ingestion.automation import (
    build_catalog_ig_schedule,
    catalog_web_schedule,
    ig_profile_job,
    manual_link_job,
    manual_link_sensor,
    web_ingest_job,
)


def build_defs(profiles: list[str]) -> dg.Definitions:
    """The scrapes over the IG profiles of the sources file the code location was loaded with."""
    return dg.Definitions(
        assets=ingestion_assets(profiles),
        jobs=[web_ingest_job, ig_profile_job, manual_link_job],
        schedules=[catalog_web_schedule, build_catalog_ig_schedule(profiles)],
        sensors=[manual_link_sensor],
    )
