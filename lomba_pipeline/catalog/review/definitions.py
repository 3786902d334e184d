"""Dagster definitions of the review domain."""

import dagster as dg

from lomba_pipeline.catalog.review.assets import reviewed_competitions
from lomba_pipeline.partitions import TIMEZONE

refresh_review_state = dg.define_asset_job(
    "refresh_review_state", selection=[reviewed_competitions]
)

review_state_schedule = dg.ScheduleDefinition(
    name="review_state_every_30_minutes",
    job=refresh_review_state,
    cron_schedule="*/30 * * * *",
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
)

defs = dg.Definitions(
    assets=[reviewed_competitions],
    jobs=[refresh_review_state],
    schedules=[review_state_schedule],
)
