"""Jobs, the 6-hourly schedules and the manual-link sensor of ingestion.

The schedules start the scrapes; the one sensor detects work that starts outside Dagster
(links people submit, read from Postgres with a cursor). Everything downstream of the scrapes
(posters, extraction, review state) follows by automation conditions, not by sensors.
"""

import dagster as dg

from lomba_pipeline.catalog.ingestion.assets import manual_link_posts, web_listings
from lomba_pipeline.catalog.ingestion.service import latest_window_key
from lomba_pipeline.db.manual_links import links_after
from lomba_pipeline.partitions import TIMEZONE, manual_links, six_hourly
from lomba_pipeline.resources.instagram import InstagramReader
from lomba_pipeline.resources.postgres import PostgresResource

web_ingest_job = dg.define_asset_job(
    "web_ingest_job", selection=[web_listings], partitions_def=six_hourly
)
ig_profile_job = dg.define_asset_job("ig_profile_job", selection=["ig_profile_posts"])
manual_link_job = dg.define_asset_job("manual_link_job", selection=[manual_link_posts])


def ig_run_tags(profile: str) -> dict[str, str]:
    # dagster.yaml limits ig/account to one run per value: one run per profile at a time
    # "at most 10 attempts" is the gateway's own count: a failed run is not run again on top
    # (dagster.yaml's run_retries would otherwise double it)
    return {"ig/account": f"profile:{profile}", "lomba/source": "ig",
            "dagster/retry_on_asset_or_op_failure": "false"}


# Dagster schedules target one job, and the web and IG assets have different partition sets, so
# the 6-hourly tick is two schedules on the same cron: together they launch the web run and one
# run per IG profile for the window that just ended, in parallel through the run queue.
INGEST_CRON = "0 */6 * * *"


@dg.schedule(
    cron_schedule=INGEST_CRON,
    execution_timezone=TIMEZONE,
    job=web_ingest_job,
    name="catalog_web_schedule",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every 6 h (WIB): scrape the web catalogs for the window that just ended.",
)
def catalog_web_schedule(context: dg.ScheduleEvaluationContext):
    window = latest_window_key(context.scheduled_execution_time)
    return dg.RunRequest(
        run_key=f"web-{window}", partition_key=window, tags={"lomba/source": "web"}
    )


def build_catalog_ig_schedule(profiles: list[str]) -> dg.ScheduleDefinition:
    """One run per configured profile (tagged so dagster.yaml allows one at a time per profile)."""

    @dg.schedule(
        cron_schedule=INGEST_CRON,
        execution_timezone=TIMEZONE,
        job=ig_profile_job,
        name="catalog_ig_schedule",
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description="Every 6 h (WIB): one run per configured IG profile for the window.",
    )
    def catalog_ig_schedule(context: dg.ScheduleEvaluationContext, instagram: InstagramReader):
        window = latest_window_key(context.scheduled_execution_time)
        if not profiles:
            return dg.SkipReason("no Instagram profile is configured in the sources file")
        reason = instagram.not_configured_reason()
        if reason:
            return dg.SkipReason(reason)  # runs would only fail one by one with this message
        return [
            dg.RunRequest(
                run_key=f"ig-{profile}-{window}",
                partition_key=dg.MultiPartitionKey({"window": window, "profile": profile}),
                tags=ig_run_tags(profile),
            )
            for profile in profiles
        ]

    return catalog_ig_schedule


@dg.sensor(
    job=manual_link_job,
    minimum_interval_seconds=30,
    name="manual_link_sensor",
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def manual_link_sensor(context: dg.SensorEvaluationContext, postgres: PostgresResource):
    """New ``manual_links`` rows → dynamic partitions + one run per link; cursor = last row id."""
    last_id = int(context.cursor or 0)
    with postgres.connection() as conn:
        links = links_after(conn, last_id)
    if not links:
        return dg.SkipReason(f"no manual link after id {last_id}")
    existing = set(context.instance.get_dynamic_partitions(manual_links.name))
    new_keys = sorted({link.partition_key for link in links} - existing)
    runs = [
        dg.RunRequest(
            run_key=f"manual-{link.partition_key}",
            partition_key=link.partition_key,
            tags={"lomba/source": "manual"},
        )
        for link in links
    ]
    return dg.SensorResult(
        run_requests=runs,
        dynamic_partitions_requests=[manual_links.build_add_request(new_keys)] if new_keys else [],
        cursor=str(links[-1].id),
    )
