"""Dagster definitions of the nightly catalog report."""

import dagster as dg

from lomba_pipeline.catalog.reporting.assets import (
    catalog_report_job,
    catalog_report_schedule,
    nightly_catalog_report,
    usual_sources_yielded,
)

defs = dg.Definitions(
    assets=[nightly_catalog_report],
    asset_checks=[usual_sources_yielded],
    jobs=[catalog_report_job],
    schedules=[catalog_report_schedule],
)
