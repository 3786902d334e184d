"""When extraction runs in Dagster: as soon as scraped items are ready (posters settled)."""

import dagster as dg

from lomba_pipeline.catalog.extraction.assets import competitions, extracted_fields
from lomba_pipeline.catalog.extraction.store import newest_ready_item_id
from lomba_pipeline.resources.postgres import PostgresResource

extraction_job = dg.define_asset_job(
    "extraction_job", selection=[extracted_fields, competitions],
    description="Drain the extraction queue and refresh the catalog's fill-rate report.",
)


@dg.sensor(
    job=extraction_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def extraction_queue_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    """New items ready for extraction → one extraction run (cursor = newest item id seen).

    Items re-queued by a later scrape (incomplete records) have old ids; the 6-hourly
    ``extraction_retry_schedule`` picks those and failed ones up.
    """
    with postgres.connection() as conn:
        newest = newest_ready_item_id(conn)
    if newest is None or newest <= int(context.cursor or 0):
        return dg.SkipReason("no new item ready for extraction")
    return dg.SensorResult(
        run_requests=[dg.RunRequest(run_key=f"extract-upto-{newest}")], cursor=str(newest)
    )


# Items whose provider failed, and incomplete ones seen again, are retried once per window,
# an hour after the scrape so the scrape's own items went first.
extraction_retry_schedule = dg.ScheduleDefinition(
    name="extraction_retry_schedule",
    job=extraction_job,
    cron_schedule="0 1,7,13,19 * * *",
    execution_timezone="Asia/Jakarta",
    default_status=dg.DefaultScheduleStatus.RUNNING,
)
