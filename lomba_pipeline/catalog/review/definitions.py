"""Dagster definitions of the review domain."""

import dagster as dg

from lomba_pipeline.catalog.review.assets import reviewed_competitions
from lomba_pipeline.catalog.review.whatsapp_jobs import (
    whatsapp_catch_up_job,
    whatsapp_catch_up_schedule,
)

defs = dg.Definitions(
    assets=[reviewed_competitions],
    jobs=[whatsapp_catch_up_job],
    schedules=[whatsapp_catch_up_schedule],
)
