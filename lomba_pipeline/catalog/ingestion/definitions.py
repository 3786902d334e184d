"""Ingestion's Dagster definitions (added to the code location through ``DOMAIN_MODULES``)."""

import dagster as dg

from lomba_pipeline.catalog.ingestion.assets import ingestion_assets
from lomba_pipeline.catalog.ingestion.automation import (
    catalog_ig_schedule,
    catalog_web_schedule,
    ig_profile_job,
    manual_link_job,
    manual_link_sensor,
    poster_backlog_sensor,
    poster_job,
    web_ingest_job,
)

defs = dg.Definitions(
    assets=ingestion_assets,
    jobs=[web_ingest_job, ig_profile_job, manual_link_job, poster_job],
    schedules=[catalog_web_schedule, catalog_ig_schedule],
    sensors=[manual_link_sensor, poster_backlog_sensor],
)
