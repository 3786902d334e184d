"""Partition definitions shared by the domains.

Every time-based definition starts at the same recent ``PARTITIONS_START`` (mixed starts split
single-run backfills into odd chunks) and is anchored in Asia/Jakarta (WIB, UTC+7, no DST).
"""

from __future__ import annotations

import hashlib
from zoneinfo import ZoneInfo

import dagster as dg

TIMEZONE = "Asia/Jakarta"
PARTITIONS_START = "2026-11-01-00:00"
WINDOW_FORMAT = "%Y-%m-%d-%H:%M"

# The catalog scrape cadence: 00:00, 06:00, 12:00, 18:00 WIB.
six_hourly = dg.TimeWindowPartitionsDefinition(
    cron_schedule="0 */6 * * *",
    start=PARTITIONS_START,
    fmt=WINDOW_FORMAT,
    timezone=TIMEZONE,
)

# One Jakarta calendar day, for the nightly reports (21:00 WIB). end_offset=1: today's partition
# exists before midnight, so the 21:00 run can report the day that is ending.
daily_reports = dg.DailyPartitionsDefinition(
    start_date=PARTITIONS_START[:10], timezone=TIMEZONE, end_offset=1
)



def daily_report_schedule(job, name: str, run_key_prefix: str) -> dg.ScheduleDefinition:
    """21:00 WIB: one run of ``job`` for the day that is ending (the nightly reports)."""

    @dg.schedule(cron_schedule="0 21 * * *", job=job, execution_timezone=TIMEZONE,
                 default_status=dg.DefaultScheduleStatus.RUNNING, name=name)
    def _nightly(context: dg.ScheduleEvaluationContext):
        day = context.scheduled_execution_time.astimezone(ZoneInfo(TIMEZONE)).strftime("%Y-%m-%d")
        return dg.RunRequest(partition_key=day, run_key=f"{run_key_prefix}:{day}")

    return _nightly


# The Instagram accounts this project operates (lanes A, B, C).
OPERATED_ACCOUNTS = [f"ig_{i:03d}" for i in range(1, 11)]
operated_accounts = dg.StaticPartitionsDefinition(OPERATED_ACCOUNTS)

# Instagram links people submit by hand. Keys are a short hash of the canonical URL: URLs may
# hold characters Dagster forbids or mishandles in keys; the URL itself lives in Postgres.
manual_links = dg.DynamicPartitionsDefinition(name="manual_links")


def link_partition_key(canonical_url: str) -> str:
    return hashlib.sha1(canonical_url.encode()).hexdigest()[:16]
